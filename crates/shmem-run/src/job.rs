//! A job: what to start ([`JobSpec`]) and [`run_job`], which starts the
//! PEs with their launch environment, supervises them and cleans up.

use std::ffi::OsString;
use std::io::{self, Read};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
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
    /// Number of PEs (processes) to start, all on this machine.
    pub n_pes: u32,
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
    /// Time between SIGTERM and SIGKILL when the job is torn down; also how long output is still copied
    /// after the PEs have ended (a PE's leftover child may hold its pipe open).
    pub grace: Duration,
    /// Extra environment for every PE (applied before the launcher's own variables).
    pub extra_env: Vec<(OsString, OsString)>,
    /// Symmetric heap size per PE in bytes, passed as `SHMEM_SYMMETRIC_SIZE`.
    pub mem_size: Option<u64>,
    /// Directory scanned for leftover shared-memory objects (normally `/dev/shm`).
    pub shm_dir: PathBuf,
}

impl JobSpec {
    /// `n_pes` copies of `program` with no arguments, on 127.0.0.1, a free port, prefixed output, no timeout
    /// and a 500 ms grace period.
    pub fn new(n_pes: u32, program: impl Into<OsString>) -> Self {
        Self {
            n_pes,
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

/// The launch environment of one PE: `(name, value)` pairs, shmemrun's and torchrun's variables.
pub fn pe_env(spec: &JobSpec, pe: u32, port: u16, token: &str, shm_prefix: &str) -> Vec<(&'static str, String)> {
    let (n, host) = (spec.n_pes.to_string(), spec.host.clone());
    let mut env = vec![
        (vars::PE, pe.to_string()),
        (vars::N_PES, n.clone()),
        (vars::LOCAL_PE, pe.to_string()),
        (vars::LOCAL_N_PES, n.clone()),
        (vars::MASTER_ADDR, host.clone()),
        (vars::MASTER_PORT, port.to_string()),
        (vars::JOB_TOKEN, token.to_owned()),
        (vars::SHM_PREFIX, shm_prefix.to_owned()),
        ("RANK", pe.to_string()),
        ("WORLD_SIZE", n.clone()),
        ("LOCAL_RANK", pe.to_string()),
        ("LOCAL_WORLD_SIZE", n),
        ("MASTER_ADDR", host),
        ("MASTER_PORT", (port - TORCHRUN_PORT_OFFSET).to_string()),
    ];
    if let Some(size) = spec.mem_size {
        env.push((vars::SYMMETRIC_SIZE, size.to_string()));
    }
    env
}

/// Runs a job to its end: starts `spec.n_pes` PEs, copies their output, tears the job down when one PE fails,
/// the timeout expires or the launcher is interrupted, and removes the job's shared-memory objects.
///
/// Each PE runs in its own process group (a teardown signals the whole group, so a PE's children go too),
/// with stdin from `/dev/null`, and on Linux dies with SIGKILL if the launcher thread dies first. The line
/// naming a failed PE is printed to stderr as soon as the failure is seen.
///
/// # Errors
/// `InvalidInput` for zero PEs or a port below [`MIN_PORT`]; otherwise only failures of the launcher itself
/// (no port, no `/dev/urandom`, no thread). A PE that fails or cannot start is an `Ok` outcome.
pub fn run_job(spec: &JobSpec) -> io::Result<JobOutcome> {
    if spec.n_pes == 0 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a job needs at least one PE"));
    }
    let port = match spec.port {
        Some(p) if p < MIN_PORT => {
            let msg = format!("store port {p} is too low: it and port - {TORCHRUN_PORT_OFFSET} must exceed 1024");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        Some(p) => p,
        None => free_port()?,
    };
    let token = random_hex(16)?;
    let shm_prefix = format!("shmem-{}-{}", std::process::id(), random_hex(3)?);
    let pump = if spec.prefix_output { Some(OutputPump::start(spec.grace)?) } else { None };
    let mut supervisor = Supervisor::new(spec.n_pes, spec.grace);
    let mut launch_failure = None;
    for pe in 0..spec.n_pes {
        let mut cmd = Command::new(&spec.program);
        cmd.args(&spec.args).stdin(Stdio::null()).process_group(0);
        cmd.envs(spec.extra_env.iter().map(|(k, v)| (k, v)));
        cmd.envs(pe_env(spec, pe, port, &token, &shm_prefix));
        if pump.is_some() {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        die_with_launcher(&mut cmd);
        match cmd.spawn() {
            Ok(mut child) => {
                tracing::debug!(pe, pid = child.id(), "started PE");
                if let Some(pump) = &pump {
                    if let Some(out) = child.stdout.take() {
                        pump.add(pe, out.into(), Sink::Stdout);
                    }
                    if let Some(err) = child.stderr.take() {
                        pump.add(pe, err.into(), Sink::Stderr);
                    }
                }
                supervisor.push(child);
            }
            Err(e) => {
                let (program, kind, message) = (spec.program.clone(), e.kind(), e.to_string());
                launch_failure = Some(JobEnd::LaunchFailed { pe, program, kind, message });
                break;
            }
        }
    }
    let result = match launch_failure {
        Some(end) => {
            eprintln!("shmemrun: {end}");
            supervisor.terminate().map(|()| end)
        }
        None => supervisor.run(spec.timeout),
    };
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
