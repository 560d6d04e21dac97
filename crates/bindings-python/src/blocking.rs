//! Blocking without holding the GIL, interruptible by Ctrl-C.
//!
//! A wait is a loop of the runtime's limited waits, each at most [`SLICE`] long, with the GIL released; the
//! runtime spins briefly and then sleeps on the PE's wake word, so a waiting PE burns no CPU and wakes as soon
//! as a peer writes. Between slices Python's signal handlers run, so that Ctrl-C (KeyboardInterrupt) ends a
//! wait within one slice. All slices of one wait share one watchdog clock ([`WaitClock`]), so the runtime's
//! stuck-wait warning (`SHMEM_WAIT_WARN_SECS`) measures the whole wait, not one slice.

use crate::error::ResultExt;
use pyo3::prelude::*;
use shmem::waits::{WaitClock, WaitLimit};
use std::time::Duration;

/// Longest time between two checks for Python signals.
pub(crate) const SLICE: Duration = Duration::from_millis(20);
/// Runs `wait(slice)` — a runtime wait limited to `slice`, `Ok(None)` when the slice ran out — until it
/// returns a value, with the GIL released, running Python's signal handlers between slices. The runtime
/// sleeps on the PE's wake word inside each slice, so a waiting PE burns no CPU and wakes as soon as a peer
/// writes what it waits for. Every slice carries the same watchdog clock, started here.
pub(crate) fn wait_in_slices<R: Send>(
    py: Python<'_>,
    wait: impl for<'c> Fn(WaitLimit<'c>) -> shmem::Result<Option<R>> + Sync,
) -> PyResult<R> {
    let clock = WaitClock::new();
    loop {
        if let Some(r) = py.detach(|| wait(WaitLimit::slice(SLICE, &clock))).py()? {
            return Ok(r);
        }
        py.check_signals()?;
    }
}

/// Runs a blocking runtime call (barrier, collective allocation, init) with the GIL released.
pub(crate) fn detached<R: Send>(py: Python<'_>, f: impl FnOnce() -> shmem::Result<R> + Send) -> PyResult<R> {
    py.detach(f).py()
}
