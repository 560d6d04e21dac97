//! The launcher's own signal handling: SIGINT, SIGTERM and SIGHUP are recorded, not acted on, so that the
//! supervision loop can forward them to the PEs and clean up before it exits.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};

/// The last signal received and not yet taken (0: none). An atomic store is async-signal-safe.
static PENDING: AtomicI32 = AtomicI32::new(0);

/// The signals [`install_signal_handlers`] catches.
pub const FORWARDED_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn record(sig: libc::c_int) {
    PENDING.store(sig, Ordering::SeqCst);
}

/// Makes SIGINT, SIGTERM and SIGHUP end the running job gracefully instead of killing this process.
///
/// Once installed, [`run_job`](crate::run_job) notices such a signal within a few milliseconds, sends
/// SIGTERM to every PE, SIGKILL after the grace period, removes the job's shared-memory segments, and
/// reports [`JobEnd::Interrupted`](crate::JobEnd::Interrupted) (exit code 128 + signal). A second signal
/// during the grace period skips the rest of it. The handlers stay installed for the life of the process;
/// the `shmemrun` binary installs them, a library caller decides for itself.
///
/// # Errors
/// Whatever `sigaction(2)` reports.
pub fn install_signal_handlers() -> io::Result<()> {
    for sig in FORWARDED_SIGNALS {
        // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags) that is filled in below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action` is fully initialized and `record` only performs an atomic store, which is
        // async-signal-safe; passing a null old-action pointer is allowed.
        let rc = unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Takes the signal received since the last call, if any.
pub(crate) fn take_pending() -> Option<libc::c_int> {
    match PENDING.swap(0, Ordering::SeqCst) {
        0 => None,
        sig => Some(sig),
    }
}

/// The conventional name of a signal (`SIGKILL`), when it is a common one.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    const NAMES: [(libc::c_int, &str); 19] = [
        (libc::SIGHUP, "SIGHUP"),
        (libc::SIGINT, "SIGINT"),
        (libc::SIGQUIT, "SIGQUIT"),
        (libc::SIGILL, "SIGILL"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        (libc::SIGBUS, "SIGBUS"),
        (libc::SIGFPE, "SIGFPE"),
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGSEGV, "SIGSEGV"),
        (libc::SIGUSR2, "SIGUSR2"),
        (libc::SIGPIPE, "SIGPIPE"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGTERM, "SIGTERM"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGSYS, "SIGSYS"),
        (libc::SIGSTOP, "SIGSTOP"),
    ];
    NAMES.iter().find(|(n, _)| *n == sig).map(|(_, name)| *name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(15), Some("SIGTERM"));
        assert_eq!(signal_name(1000), None);
    }
}
