//! Blocking without holding the GIL, interruptible by Ctrl-C.
//!
//! A wait is a loop of non-blocking probes (the runtime's `test` calls). It spins briefly with the GIL held
//! (the cheapest way to catch a signal that is already on its way), then probes in slices of at most
//! [`SLICE`] with the GIL released, backing off from spinning to yielding to short sleeps, and between slices
//! runs Python's signal handlers, so that Ctrl-C (KeyboardInterrupt) ends a wait within one slice.

use crate::error::ResultExt;
use pyo3::prelude::*;
use std::time::{Duration, Instant};

/// Longest time between two checks for Python signals.
const SLICE: Duration = Duration::from_millis(20);
/// Probes made with the GIL held before releasing it.
const SPINS_ATTACHED: u32 = 64;
/// Probes spun (detached) before yielding.
const SPINS: u32 = 2_000;
/// Yields before sleeping.
const YIELDS: u32 = 200;
/// Longest sleep between two probes.
const MAX_SLEEP: Duration = Duration::from_micros(500);

/// Spin, then yield, then sleep with a growing interval (crossbeam's Backoff, with a sleep stage).
#[derive(Debug, Default)]
struct Backoff {
    step: u32,
    sleep: Duration,
}

impl Backoff {
    fn snooze(&mut self) {
        self.step = self.step.saturating_add(1);
        if self.step <= SPINS {
            std::hint::spin_loop();
        } else if self.step <= SPINS + YIELDS {
            std::thread::yield_now();
        } else {
            self.sleep = (self.sleep * 2).clamp(Duration::from_micros(10), MAX_SLEEP);
            std::thread::sleep(self.sleep);
        }
    }
}

/// Runs `probe` until it returns `Some`, releasing the GIL while waiting and raising KeyboardInterrupt (or
/// whatever a signal handler raises) between slices. Errors of the probe end the wait.
pub(crate) fn block_on<R: Send>(
    py: Python<'_>,
    mut probe: impl FnMut() -> shmem::Result<Option<R>> + Send,
) -> PyResult<R> {
    for _ in 0..SPINS_ATTACHED {
        if let Some(r) = probe().py()? {
            return Ok(r);
        }
        std::hint::spin_loop();
    }
    let mut backoff = Backoff::default();
    loop {
        let got = py.detach(|| {
            let deadline = Instant::now() + SLICE;
            loop {
                if let Some(r) = probe()? {
                    return Ok(Some(r));
                }
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                backoff.snooze();
            }
        });
        if let Some(r) = got.py()? {
            return Ok(r);
        }
        py.check_signals()?;
    }
}

/// Runs a blocking runtime call (barrier, collective allocation, init) with the GIL released.
pub(crate) fn detached<R: Send>(py: Python<'_>, f: impl FnOnce() -> shmem::Result<R> + Send) -> PyResult<R> {
    py.detach(f).py()
}
