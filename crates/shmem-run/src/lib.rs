//! `shmemrun`, the launcher of SHMEM jobs on one machine, as a library.
//!
//! `shmemrun -n 4 -- ./my_program args` starts four PEs (processes) of `my_program`, gives each its launch
//! environment, prefixes their output with the rank, ends the job when one PE fails and exits with that
//! PE's status, and removes the job's shared-memory objects afterwards, even when a PE was killed.
//!
//! # Quick start
//! ```no_run
//! use shmem_run::{run_job, JobSpec};
//!
//! let mut spec = JobSpec::new(4, "./my_program");
//! spec.args = vec!["--iterations".into(), "10".into()];
//! spec.timeout = Some(std::time::Duration::from_secs(60));
//! let outcome = run_job(&spec)?;
//! std::process::exit(outcome.exit_code());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Several nodes
//! One shmemrun per node, torchrun-style: `--nnodes M --node-rank R --master-addr NODE0 --master-port PORT
//! -n N` starts global ranks `R*N .. R*N+N-1` here; node 0's first PE serves the store at `NODE0:PORT`. The
//! job's secret must be the same on every node, so it comes from the user (`SHMEM_JOB_TOKEN` in shmemrun's
//! environment, or `--job-token-file`); a multi-node shmemrun without one refuses to start (exit 2). Each
//! node's PEs also get `SHMEM_NODE_ID=node-R` and `SHMEM_DATA_OP_ENGINE=MTE|TCP` unless the user set them
//! ([`node_env`]). Teardown is per node as on one node; a PE that dies on one node makes the PEs of the other
//! nodes fail through the store's job events (their waits and barriers end with an error naming it), so their
//! shmemruns tear down too.
//!
//! # Launch environment
//! Every PE gets `SHMEM_PE`, `SHMEM_N_PES` (the whole job), `SHMEM_LOCAL_PE`, `SHMEM_LOCAL_N_PES` (this node), `SHMEM_MASTER_ADDR`,
//! `SHMEM_MASTER_PORT`, `SHMEM_JOB_TOKEN` (32 random hex digits on one node, the user's on several; the same on every PE), `SHMEM_SHM_PREFIX`
//! (`shmem-<launcher pid>-<6 hex digits>`), optionally `SHMEM_SYMMETRIC_SIZE`, and torchrun's `RANK`,
//! `WORLD_SIZE`, `LOCAL_RANK`, `LOCAL_WORLD_SIZE`, `GROUP_RANK` (several nodes), `MASTER_ADDR` and `MASTER_PORT` (the store port minus
//! 11, so that both resolver paths of `shmem_core::launch_env` agree). See [`pe_env`].
//!
//! # Design choices
//! - **One process group per PE.** A teardown signals whole groups, so a PE's own children die with it; a
//!   successful job ends with one too, so that nothing a PE left in the background outlives `shmemrun`.
//!   On Linux each PE also dies (SIGKILL) if the launcher does.
//! - **Polling, not SIGCHLD.** The PEs are polled every 5 ms; the launcher's SIGINT/SIGTERM/SIGHUP handlers
//!   only record the signal ([`install_signal_handlers`]), and the polling loop acts on it.
//! - **One output thread.** All PE pipes are `poll`ed by one thread that writes whole, prefixed lines.
//! - **Cleanup by prefix.** The runtime unlinks its segments itself; the launcher removes whatever still
//!   starts with the job's prefix in `/dev/shm` (a PE killed with SIGKILL never unlinks).
//!
//! # Exit codes
//! 0 when every PE succeeds; the first failed PE's status (128 + signal for a signal death); 124 for
//! `--timeout`; 128 + signal when the launcher is interrupted (130, 143); 127 when the program is not found
//! and 126 when it cannot run; 2 for bad options.

#![deny(missing_docs)]

mod cleanup;
mod job;
mod options;
mod output;
mod signals;
mod status;
mod supervise;

pub use cleanup::{remove_shm_segments, SHM_DIR};
pub use job::{free_port, node_env, pe_env, random_hex, run_job, JobSpec, MIN_PORT, MIN_TOKEN_LEN, RESERVED_VARS};
pub use options::Cli;
pub use output::{LinePrefixer, MAX_LINE_BYTES};
pub use signals::{install_signal_handlers, signal_name, FORWARDED_SIGNALS};
pub use status::{JobEnd, JobOutcome, PeStatus};
