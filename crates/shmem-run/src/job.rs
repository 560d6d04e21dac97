//! A job: what to start ([`JobSpec`]) and [`run_job`], which starts the
//! PEs with their launch environment, supervises them and cleans up.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use shmem_core::launch_env::{vars, TORCHRUN_PORT_OFFSET};

use crate::cleanup::{remove_shm_segments, SHM_DIR};
use crate::output::{OutputPump, Sink};
use crate::status::{JobEnd, JobOutcome};
use crate::supervise::Supervisor;

/// The lowest store port accepted: both it and torchrun's `MASTER_PORT` (11 below) must be above 1024.
pub const MIN_PORT: u16 = 1025 + TORCHRUN_PORT_OFFSET;

/// What to launch and how. Build it with [`JobSpec::new`] and adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JobSpec {
    /// Number of PEs (processes) to start on this machine (torchrun's `--nproc-per-node`): every node of a
    /// multi-node job starts this many, so the job has `n_pes * nnodes` PEs.
    pub n_pes: u32,
    /// Number of nodes (one launcher per node), 1 for a job on this machine only.
    pub nnodes: u32,
    /// This launcher's node, `0..nnodes`: its PEs are the global ranks `node_rank * n_pes ..` and node 0's
    /// first PE serves the store.
    pub node_rank: u32,
    /// A file holding the job's secret (shared by every node's launcher); see [`JobSpec::job_token`].
    pub job_token_file: Option<PathBuf>,
    /// The program each PE runs (looked up in `PATH` when it has no `/`).
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Address of the bootstrap store (PE 0 serves it) as the PEs should reach it.
    pub host: String,
    /// Store port; `None` picks a free one with [`free_port`].
    pub port: Option<u16>,
    /// Prefix every output line with `[rank] ` (otherwise the PEs share the launcher's stdout and stderr).
    pub prefix_output: bool,
    /// End the whole job after this long ([`JobEnd::TimedOut`]).
    pub timeout: Option<Duration>,
    /// Time between SIGTERM and SIGKILL when the job is torn down (also after a success, for what the PEs
    /// left running in their process groups); also how long output is still copied after the PEs have ended
    /// (a PE's leftover child may hold its pipe open).
    pub grace: Duration,
    /// Extra environment for every PE (applied before the launcher's own variables).
    pub extra_env: Vec<(OsString, OsString)>,
    /// Symmetric heap size per PE in bytes, passed as `SHMEM_SYMMETRIC_SIZE`.
    pub mem_size: Option<u64>,
    /// Directory scanned for leftover shared-memory objects (normally `/dev/shm`).
    pub shm_dir: PathBuf,
}

/// The variable that names the job's secret in the launcher's own environment (and in each PE's).
const TOKEN_VAR: &str = vars::JOB_TOKEN;

/// The shortest job secret a launcher accepts from the user (a secret anyone can guess protects nothing).
pub const MIN_TOKEN_LEN: usize = 16;

impl JobSpec {
    /// `n_pes` copies of `program` with no arguments, on 127.0.0.1, a free port, prefixed output, no timeout
    /// and a 500 ms grace period.
    pub fn new(n_pes: u32, program: impl Into<OsString>) -> Self {
        Self {
            n_pes,
            nnodes: 1,
            node_rank: 0,
            job_token_file: None,
            program: program.into(),
            args: Vec::new(),
            host: Ipv4Addr::LOCALHOST.to_string(),
            port: None,
            prefix_output: true,
            timeout: None,
            grace: Duration::from_millis(500),
            extra_env: Vec::new(),
            mem_size: None,
            shm_dir: PathBuf::from(SHM_DIR),
        }
    }
}

impl JobSpec {
    /// Number of PEs in the whole job: `n_pes` on each of the `nnodes` nodes.
    pub fn world_size(&self) -> u64 {
        u64::from(self.n_pes) * u64::from(self.nnodes)
    }

    /// Global rank of this node's PE `local`.
    pub fn global_rank(&self, local: u32) -> u32 {
        self.node_rank * self.n_pes + local
    }

    /// Checks the node layout: at least one PE, `node_rank < nnodes`, a job of at most 2^31 - 1 PEs (the
    /// runtime's rank type), and a fixed store port for a multi-node job (every node must name the same one).
    ///
    /// # Errors
    /// `InvalidInput` with a message saying what to change.
    pub fn validate(&self) -> io::Result<()> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.n_pes == 0 {
            return bad("a job needs at least one PE".into());
        }
        if self.nnodes == 0 || self.node_rank >= self.nnodes {
            return bad(format!("--node-rank {} must be below --nnodes {}", self.node_rank, self.nnodes));
        }
        if self.world_size() > i32::MAX as u64 {
            return bad(format!("{} nodes x {} PEs is more PEs than a job can have", self.nnodes, self.n_pes));
        }
        if self.nnodes > 1 && self.port.is_none() {
            return bad(format!(
                "a job of {} nodes needs --master-port PORT (the same on every node): the launchers cannot \
                 agree on a free port by themselves",
                self.nnodes
            ));
        }
        Ok(())
    }

    /// The job's secret, the same on every node: the first line of [`JobSpec::job_token_file`]; else, on one
    /// node, a fresh random one (as before multi-node launching: a `SHMEM_JOB_TOKEN` that this launcher
    /// inherited, e.g. from an enclosing job, is not reused); else, on several nodes, `SHMEM_JOB_TOKEN` from
    /// the launcher's environment. A multi-node job without a user-given secret is refused: a random one drawn
    /// here would differ on every node, and a job with none would let anyone who reaches the store join or end
    /// it.
    ///
    /// # Errors
    /// `InvalidInput` naming the ways to give a secret, a secret shorter than [`MIN_TOKEN_LEN`] or with
    /// whitespace inside, or a token file that others may read; the file's own read error.
    pub fn job_token(&self) -> io::Result<String> {
        let bad = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        let from_env = || std::env::var(TOKEN_VAR).ok().filter(|t| !t.is_empty());
        let (token, from) = match (&self.job_token_file, self.nnodes == 1) {
            (Some(path), _) => (read_token_file(path)?, format!("--job-token-file {}", path.display())),
            (None, true) => return random_hex(16),
            (None, false) => match from_env() {
                Some(t) => (t, TOKEN_VAR.to_owned()),
                None => {
                    return bad(format!(
                        "a job of {} nodes needs a secret shared by every node's shmemrun, so that only this job's \
                     PEs can reach its store and progress threads: set {TOKEN_VAR} to the same random value in \
                     the environment of every shmemrun (e.g. `export {TOKEN_VAR}=$(openssl rand -hex 16)`), or \
                     pass --job-token-file FILE (a file only you can read) to each",
                        self.nnodes
                    ))
                }
            },
        };
        if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
            return bad(format!(
                "the job secret from {from} must be at least {MIN_TOKEN_LEN} characters without spaces \
                 (e.g. `openssl rand -hex 16`)"
            ));
        }
        Ok(token)
    }
}

/// The first line of a token file that only its owner can read (like an ssh key).
fn read_token_file(path: &std::path::Path) -> io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let named = |e: io::Error| io::Error::new(e.kind(), format!("--job-token-file {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(named)?;
    if meta.mode() & 0o077 != 0 {
        let msg = format!(
            "--job-token-file {} may be read by other users (mode {:o}): `chmod 600` it",
            path.display(),
            meta.mode() & 0o777
        );
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    let text = std::fs::read_to_string(path).map_err(named)?;
    Ok(text.lines().next().unwrap_or("").trim().to_owned())
}

/// Picks a free TCP port on 127.0.0.1 that is at least [`MIN_PORT`] (the kernel's choice, re-drawn if low).
///
/// The port is free when this returns; another process may still take it before PE 0 binds it.
///
/// # Errors
/// Whatever binding reports, or `AddrNotAvailable` when the kernel keeps handing out low ports.
pub fn free_port() -> io::Result<u16> {
    for _ in 0..32 {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port();
        if port >= MIN_PORT {
            return Ok(port);
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrNotAvailable, format!("no free TCP port at or above {MIN_PORT}")))
}

/// `n_bytes` random bytes from `/dev/urandom`, as lowercase hex (`2 * n_bytes` characters).
///
/// # Errors
/// Whatever opening or reading `/dev/urandom` reports.
pub fn random_hex(n_bytes: usize) -> io::Result<String> {
    let mut bytes = vec![0u8; n_bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The variables shmemrun sets for each PE (so `-x` may not set them).
pub const RESERVED_VARS: [&str; 14] = [
    vars::PE,
    vars::N_PES,
    vars::LOCAL_PE,
    vars::LOCAL_N_PES,
    vars::MASTER_ADDR,
    vars::MASTER_PORT,
    vars::JOB_TOKEN,
    vars::SHM_PREFIX,
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
];

/// The launch environment of this node's PE `local` (its global rank is [`JobSpec::global_rank`]):
/// `(name, value)` pairs, shmemrun's and torchrun's variables.
pub fn pe_env(spec: &JobSpec, local: u32, port: u16, token: &str, shm_prefix: &str) -> Vec<(&'static str, String)> {
    let (n, host) = (spec.world_size().to_string(), spec.host.clone());
    let (pe, per_node) = (spec.global_rank(local).to_string(), spec.n_pes.to_string());
    let mut env = vec![
        (vars::PE, pe.clone()),
        (vars::N_PES, n.clone()),
        (vars::LOCAL_PE, local.to_string()),
        (vars::LOCAL_N_PES, per_node.clone()),
        (vars::MASTER_ADDR, host.clone()),
        (vars::MASTER_PORT, port.to_string()),
        (vars::JOB_TOKEN, token.to_owned()),
        (vars::SHM_PREFIX, shm_prefix.to_owned()),
        ("RANK", pe),
        ("WORLD_SIZE", n),
        ("LOCAL_RANK", local.to_string()),
        ("LOCAL_WORLD_SIZE", per_node),
        ("MASTER_ADDR", host),
        ("MASTER_PORT", (port - TORCHRUN_PORT_OFFSET).to_string()),
    ];
    if spec.nnodes > 1 {
        env.push(("GROUP_RANK", spec.node_rank.to_string()));
    }
    if let Some(size) = spec.mem_size {
        env.push((vars::SYMMETRIC_SIZE, size.to_string()));
    }
    env
}

/// What a multi-node job adds for every PE of this node unless the user set it (in shmemrun's environment or
/// with `-x`): `SHMEM_NODE_ID=node-<rank>` (distinct nodes even when two node ranks share a host, e.g. in
/// tests; PEs of one launcher always share a host) and `SHMEM_DATA_OP_ENGINE=MTE|TCP` (the default engine set,
/// MTE alone, reaches no other node).
pub fn node_env(spec: &JobSpec) -> Vec<(&'static str, String)> {
    if spec.nnodes <= 1 {
        return Vec::new();
    }
    let user_set = |name: &str| std::env::var_os(name).is_some() || spec.extra_env.iter().any(|(k, _)| k == name);
    let mut env = Vec::new();
    if !user_set(vars::NODE_ID) {
        env.push((vars::NODE_ID, format!("node-{}", spec.node_rank)));
    }
    if !user_set(vars::DATA_OP_ENGINE) {
        env.push((vars::DATA_OP_ENGINE, "MTE|TCP".to_owned()));
    }
    env
}

/// Runs a job to its end: starts `spec.n_pes` PEs, copies their output, tears the job down when one PE fails,
/// the timeout expires or the launcher is interrupted, and removes the job's shared-memory objects.
///
/// Each PE runs in its own process group (a teardown signals the whole group, so a PE's children go too; a
/// job whose PEs all succeed is torn down the same way, which only reaches what they left running),
/// with stdin from `/dev/null`, and on Linux dies with SIGKILL if the launcher thread dies first. The line
/// naming a failed PE is printed to stderr as soon as the failure is seen.
///
/// # Errors
/// `InvalidInput` for zero PEs or a port below [`MIN_PORT`]; otherwise only failures of the launcher itself
/// (no port, no `/dev/urandom`, no thread, a panic while supervising the PEs: the job is still torn down and
/// its shared memory removed first). A PE that fails or cannot start is an `Ok` outcome.
pub fn run_job(spec: &JobSpec) -> io::Result<JobOutcome> {
    spec.validate()?;
    let port = match spec.port {
        Some(p) if p < MIN_PORT => {
            let msg = format!("store port {p} is too low: it and port - {TORCHRUN_PORT_OFFSET} must exceed 1024");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        Some(p) => p,
        None => free_port()?,
    };
    let token = spec.job_token()?;
    let shm_prefix = format!("shmem-{}-{}", std::process::id(), random_hex(3)?);
    let pump = if spec.prefix_output { Some(OutputPump::start(spec.grace)?) } else { None };
    let mut supervisor = Supervisor::new(spec.n_pes, spec.global_rank(0), spec.grace);
    let node_env = node_env(spec);
    if spec.nnodes > 1 {
        tracing::debug!(node = spec.node_rank, nnodes = spec.nnodes, first_pe = spec.global_rank(0), "multi-node job");
    }
    let mut launch_failure = None;
    for pe in 0..spec.n_pes {
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args).stdin(Stdio::null()).process_group(0);
        cmd.envs(spec.extra_env.iter().map(|(k, v)| (k, v)));
        cmd.envs(node_env.iter().map(|(k, v)| (k, v)));
        cmd.envs(pe_env(spec, pe, port, &token, &shm_prefix));
        if pump.is_some() {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        die_with_launcher(&mut cmd);
        match cmd.spawn() {
            Ok(mut child) => {
                let rank = spec.global_rank(pe);
                tracing::debug!(pe = rank, pid = child.id(), "started PE");
                if let Some(pump) = &pump {
                    if let Some(out) = child.stdout.take() {
                        pump.add(rank, out.into(), Sink::Stdout);
                    }
                    if let Some(err) = child.stderr.take() {
                        pump.add(rank, err.into(), Sink::Stderr);
                    }
                }
                supervisor.push(child);
            }
            Err(e) => {
                let (program, kind, message) = (spec.program.clone(), e.kind(), e.to_string());
                launch_failure = Some(JobEnd::LaunchFailed { pe: spec.global_rank(pe), program, kind, message });
                break;
            }
        }
    }
    // A panic in the supervision (a bug) still reaches the teardown and cleanup below instead of leaving the
    // PEs to PDEATHSIG and the job's shared memory behind; it becomes the launcher's error.
    let result = catch_unwind(AssertUnwindSafe(|| match launch_failure {
        Some(end) => {
            // Write errors (a closed pipe, a hung-up terminal) are ignored: the teardown matters more.
            let _ = writeln!(io::stderr(), "shmemrun: {end}");
            supervisor.terminate().map(|()| end)
        }
        None => supervisor.run(spec.timeout),
    }))
    .unwrap_or_else(|_| Err(io::Error::other("the supervision of the PEs panicked; the job was torn down")));
    if result.is_err() {
        // Best effort: the launcher itself failed; do not leave PEs behind. The first error is returned.
        let _ = supervisor.terminate();
    }
    if let Some(pump) = pump {
        pump.finish();
    }
    let removed_segments = remove_shm_segments(&spec.shm_dir, &shm_prefix).unwrap_or_else(|e| {
        tracing::warn!(dir = %spec.shm_dir.display(), error = %e, "cannot scan for leftover shared memory");
        0
    });
    Ok(JobOutcome { end: result?, statuses: supervisor.into_statuses(), port, shm_prefix, removed_segments })
}

/// Asks the kernel to SIGKILL the PE when the launcher thread that started it dies (Linux only).
fn die_with_launcher(cmd: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        let launcher = std::process::id();
        // SAFETY: the closure runs in the child between fork and exec and only makes the async-signal-safe
        // calls prctl and getppid; it allocates nothing and touches no lock.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The launcher may have died before prctl took effect.
                if libc::getppid() as u32 != launcher {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = cmd;
}
