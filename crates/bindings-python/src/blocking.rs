//! Blocking without holding the GIL, interruptible by Ctrl-C.
//!
//! A wait is a loop of the runtime's limited waits, each at most [`SLICE`] long, with the GIL released; the
//! runtime spins briefly and then sleeps on the PE's wake word, so a waiting PE burns no CPU and wakes as soon
//! as a peer writes. Between slices Python's signal handlers run, so that Ctrl-C (KeyboardInterrupt) ends a
//! wait within one slice. All slices of one wait share one watchdog clock ([`WaitClock`]), so the runtime's
//! stuck-wait warning (`SHMEM_WAIT_WARN_SECS`) measures the whole wait, not one slice.
//!
//! # Keeping the GIL for calls that do not wait
//! Releasing the GIL and taking it back costs every call a mutex round trip and a condition-variable signal
//! (30-40 ns, also in a single-threaded program), which is a large part of a small collective that completes at
//! once: a broadcast member whose root has already posted, a 2-PE reduction whose peer has already arrived.
//! [`detached_when_blocking`] therefore runs such a call holding the GIL and releases it only where the call
//! would block: the runtime's waits call the thread's "about to block" hook (`shmem_sync::hook`) once their
//! first poll and `shmem_sync::hook::HOLD_POLLS` more (a few microseconds at most) found nothing, and a call
//! that could block in an engine instead (copy or network engines) calls it before it starts. Holding the GIL
//! across a real wait could deadlock a multi-threaded PE (this thread waits for a peer PE that waits for another
//! thread of this PE, which needs the GIL), so the GIL is held at most for the call's own bounded work: callers
//! use it only for calls whose work before their first wait is small ([`HOLD_MAX_BYTES`] of data at most).
//!
//! Broadcasts and reductions use it, and (f)collects and contiguous alltoalls whose whole `dest` is at most
//! [`HOLD_MAX_BYTES`]. Measured on the latter (`benches/python/coll_call_cost.py`, 1-PE job, 8-byte float64,
//! mean of 3 alternated runs, session 9): `fcollect` 263 -> 227 ns, `collect` 261 -> 224, `alltoall` 368 -> 324;
//! the typed `aclshmem_double_*` forms 31-42 ns less too.

use crate::error::ResultExt;
use pyo3::prelude::*;
use shmem::waits::{WaitClock, WaitLimit};
use std::time::Duration;

/// Most bytes a collective may move with the GIL held (see the module documentation): per member for a broadcast
/// or reduction, the whole `dest` (every member's block) for an fcollect, collect or alltoall. The copies of a call
/// this small take about a microsecond at most; a larger one releases the GIL before it starts. A reduction that
/// folds more than 16 KiB in all (a large team) calls the hook before its fold.
pub(crate) const HOLD_MAX_BYTES: usize = 4096;

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

/// Runs a runtime call holding the GIL until the call is about to block, and releases the GIL from there to the
/// end of the call (see the module documentation). `f` must not block for long anywhere but in the runtime's
/// waits or in calls that run the hook first, and it may not touch Python objects (it may run without the GIL).
/// Unlike `Python::detach`, the hook releases the GIL behind pyo3's back (pyo3 still counts this thread as
/// attached), so `Send` is not enough: a `Py<T>` or `PyBuffer` moved into `f` is `Send`, and dropping it at the
/// end of `f` would decrement or release without the GIL while another thread runs Python. `Copy` keeps every
/// owner of a Python object out of `f` (the calls capture addresses, counts and codes only).
pub(crate) fn detached_when_blocking<R: Send>(
    _py: Python<'_>,
    f: impl FnOnce() -> shmem::Result<R> + Send + Copy,
) -> PyResult<R> {
    /// The thread state saved when the hook released the GIL; taken back when the call ends, also by a panic
    /// (which pyo3 turns into an exception, and that needs the GIL).
    struct Reattach(*mut pyo3::ffi::PyThreadState);
    impl Drop for Reattach {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: `self.0` is the state `PyEval_SaveThread` returned on this thread, which has not taken
                // the GIL back since: restoring it re-attaches this thread, as `Python::detach` does on return.
                unsafe { pyo3::ffi::PyEval_RestoreThread(self.0) };
            }
        }
    }
    let mut saved = Reattach(std::ptr::null_mut());
    let r = shmem_sync::hook::with_block_hook(
        &mut || {
            // SAFETY: this thread holds the GIL (the `_py` token proves it) and still does: the hook runs at most
            // once per call. Until `Reattach` restores the state, nothing on this thread touches Python: `f` is
            // runtime code only.
            saved.0 = unsafe { pyo3::ffi::PyEval_SaveThread() };
        },
        f,
    );
    drop(saved);
    r.py()
}
