//! How PEs and jobs end: [`PeStatus`], [`JobEnd`] (with the launcher's exit code and message) and
//! [`JobOutcome`].

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::signals::signal_name;

/// How one PE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeStatus {
    /// It exited with this status.
    Exited(i32),
    /// It was killed by this signal.
    Signaled(i32),
}

impl PeStatus {
    /// Whether it exited with status 0.
    pub fn success(self) -> bool {
        self == PeStatus::Exited(0)
    }

    /// The shell convention: the exit status, or 128 + the signal number.
    pub fn exit_code(self) -> i32 {
        match self {
            PeStatus::Exited(code) => code,
            PeStatus::Signaled(sig) => 128 + sig,
        }
    }

    pub(crate) fn from_exit_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => PeStatus::Exited(code),
            (None, Some(sig)) => PeStatus::Signaled(sig),
            // Neither a code nor a signal: only a stopped or continued child, which `wait` does not report.
            (None, None) => PeStatus::Exited(status.into_raw()),
        }
    }
}

impl fmt::Display for PeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            PeStatus::Exited(code) => write!(f, "exited with status {code}"),
            PeStatus::Signaled(sig) => match signal_name(sig) {
                Some(name) => write!(f, "was killed by signal {sig} ({name})"),
                None => write!(f, "was killed by signal {sig}"),
            },
        }
    }
}

/// Why a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JobEnd {
    /// Every PE exited with status 0.
    Success,
    /// This PE failed first; the `others_running` PEs still alive then were terminated.
    PeFailed {
        /// The PE's rank.
        pe: u32,
        /// How it ended.
        status: PeStatus,
        /// How many other PEs were still running (and were terminated).
        others_running: u32,
    },
    /// The job's timeout expired; `running` PEs were terminated.
    TimedOut {
        /// The timeout.
        after: Duration,
        /// PEs still running at that moment.
        running: u32,
    },
    /// The launcher received this signal (see [`install_signal_handlers`](crate::install_signal_handlers)).
    Interrupted {
        /// The signal number.
        signal: i32,
        /// PEs still running at that moment.
        running: u32,
    },
    /// A PE could not be started; the PEs already started were terminated.
    LaunchFailed {
        /// The rank that failed to start.
        pe: u32,
        /// The program.
        program: OsString,
        /// The error's kind (`NotFound` gives exit code 127).
        kind: io::ErrorKind,
        /// The error's message.
        message: String,
    },
}

impl JobEnd {
    /// The launcher's exit code: 0, the failed PE's code (128 + signal for a signal death), 124 for a
    /// timeout, 128 + signal for an interrupt, 127 for a program not found and 126 for one that cannot run.
    pub fn exit_code(&self) -> i32 {
        match self {
            JobEnd::Success => 0,
            JobEnd::PeFailed { status, .. } => status.exit_code(),
            JobEnd::TimedOut { .. } => 124,
            JobEnd::Interrupted { signal, .. } => 128 + signal,
            JobEnd::LaunchFailed { kind: io::ErrorKind::NotFound, .. } => 127,
            JobEnd::LaunchFailed { .. } => 126,
        }
    }
}

fn pes(n: u32) -> &'static str {
    if n == 1 {
        "PE"
    } else {
        "PEs"
    }
}

impl fmt::Display for JobEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobEnd::Success => f.write_str("all PEs exited with status 0"),
            JobEnd::PeFailed { pe, status, others_running: 0 } => write!(f, "PE {pe} {status}"),
            JobEnd::PeFailed { pe, status, others_running: n } => {
                write!(f, "PE {pe} {status}; terminating the other {n} {}", pes(*n))
            }
            JobEnd::TimedOut { after, running } => {
                write!(f, "job timed out after {} s; terminating {running} {}", after.as_secs_f64(), pes(*running))
            }
            JobEnd::Interrupted { signal, running } => {
                let name = signal_name(*signal).unwrap_or("a signal");
                write!(f, "received {name}; terminating {running} {}", pes(*running))
            }
            JobEnd::LaunchFailed { pe, program, message, .. } => {
                write!(f, "cannot start {program:?} for PE {pe}: {message}")
            }
        }
    }
}

/// The result of [`run_job`](crate::run_job).
#[derive(Debug, Clone)]
pub struct JobOutcome {
    /// Why the job ended.
    pub end: JobEnd,
    /// How each PE ended (`None`: never started).
    pub statuses: Vec<Option<PeStatus>>,
    /// The store port the PEs were given (`SHMEM_MASTER_PORT`).
    pub port: u16,
    /// The job's shared-memory prefix (`SHMEM_SHM_PREFIX`).
    pub shm_prefix: String,
    /// How many leftover shared-memory objects the cleanup removed.
    pub removed_segments: usize,
}

impl JobOutcome {
    /// The launcher's exit code (see [`JobEnd::exit_code`]).
    pub fn exit_code(&self) -> i32 {
        self.end.exit_code()
    }

    /// The PE whose failure ended the job, if one did.
    pub fn failed_pe(&self) -> Option<u32> {
        match self.end {
            JobEnd::PeFailed { pe, .. } => Some(pe),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_codes() {
        let end = JobEnd::PeFailed { pe: 3, status: PeStatus::Exited(7), others_running: 3 };
        assert_eq!(end.to_string(), "PE 3 exited with status 7; terminating the other 3 PEs");
        assert_eq!(end.exit_code(), 7);
        let end = JobEnd::PeFailed { pe: 1, status: PeStatus::Signaled(9), others_running: 0 };
        assert_eq!(end.to_string(), "PE 1 was killed by signal 9 (SIGKILL)");
        assert_eq!(end.exit_code(), 137);
        assert_eq!(JobEnd::TimedOut { after: Duration::from_secs(2), running: 1 }.exit_code(), 124);
        assert_eq!(JobEnd::Interrupted { signal: libc::SIGINT, running: 2 }.exit_code(), 130);
        let launch = |kind| JobEnd::LaunchFailed { pe: 0, program: "p".into(), kind, message: String::new() };
        assert_eq!(launch(io::ErrorKind::NotFound).exit_code(), 127);
        assert_eq!(launch(io::ErrorKind::PermissionDenied).exit_code(), 126);
    }
}
