//! How issuers wait for workers: spin, snooze, then sleep on a futex until a worker reports a completion.
//!
//! [`Completions`] is an event count. A waiter checks its condition while backing off (crossbeam's
//! `Backoff`: spin, then yield, for [`SNOOZE`] at most); when the backoff is exhausted it registers as a
//! sleeper, reads the epoch, re-checks, and sleeps on the epoch word. A worker that published a completion checks the sleeper count
//! and, when someone sleeps, bumps the epoch and wakes them all.
//!
//! Ordering (Dekker): the waiter's increment of `sleepers` is followed by a SeqCst fence and then its
//! re-check; the worker's publication of the completion is followed by a SeqCst fence and then its load of
//! `sleepers`. The two fences are ordered in the single total order, so either the worker sees the sleeper
//! (and wakes it) or the waiter's re-check sees the completion. An epoch bump between the waiter's read of the
//! epoch and its futex call makes the futex return at once (the value differs). Sleeps are still bounded
//! ([`MAX_SLEEP`]) so that a wake lost to a bug costs a millisecond, not a hang.

use crossbeam_utils::Backoff;
use shmem_core::wake;
use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Longest single futex sleep of a waiter before it re-checks on its own.
pub(crate) const MAX_SLEEP: Duration = Duration::from_millis(1);
/// How long a waiter keeps yielding after its spin before it sleeps: most small operations complete within
/// it, and a yield costs another thread nothing, whereas a futex sleep and wake cost several microseconds.
pub(crate) const SNOOZE: Duration = Duration::from_micros(200);

/// The engine's completion event count (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct Completions {
    /// Bumped by a notifier that saw sleepers; the futex word waiters sleep on.
    epoch: AtomicU32,
    /// Waiters registered to sleep. Notifiers skip the wake (a syscall) while it is zero.
    sleepers: AtomicU32,
}

impl Completions {
    /// Wakes sleeping waiters, if any. Call after publishing a completion.
    pub(crate) fn notify(&self) {
        // SeqCst fence: orders the caller's publication (its store of a done counter or flag) before the load
        // of `sleepers`; see the module docs.
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.wake_all();
        }
    }

    /// Wakes every sleeping waiter unconditionally (shutdown, a dead channel).
    pub(crate) fn wake_all(&self) {
        // Release: a waiter that reads the new epoch (Acquire) sees what the caller published before this
        // call, so its re-check cannot miss the completion that the bump announces.
        self.epoch.fetch_add(1, Ordering::Release);
        wake::wake_all(&self.epoch);
    }

    /// Returns the first `Some` that `ready` gives, spinning, yielding, then sleeping between checks.
    /// `ready` must load what it checks with at least Acquire ordering.
    pub(crate) fn wait_until<R>(&self, mut ready: impl FnMut() -> Option<R>) -> R {
        let backoff = Backoff::new();
        let mut since: Option<Instant> = None;
        loop {
            if let Some(r) = ready() {
                return r;
            }
            if backoff.is_completed() {
                // Keep yielding until SNOOZE has passed since the spin ended.
                if since.get_or_insert_with(Instant::now).elapsed() >= SNOOZE {
                    break;
                }
            }
            backoff.snooze();
        }
        loop {
            self.sleepers.fetch_add(1, Ordering::Relaxed);
            // SeqCst fence: the registration above is ordered before the re-check below (module docs).
            fence(Ordering::SeqCst);
            // Acquire: pairs with the Release bump in `wake_all` (see there).
            let epoch = self.epoch.load(Ordering::Acquire);
            let r = ready();
            if r.is_none() {
                wake::wait(&self.epoch, epoch, MAX_SLEEP);
            }
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            if let Some(r) = r.or_else(&mut ready) {
                return r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn waiter_wakes_on_notify() {
        let c = Completions::default();
        let flag = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                flag.store(true, Ordering::Release);
                c.notify();
            });
            let t = Instant::now();
            c.wait_until(|| flag.load(Ordering::Acquire).then_some(()));
            assert!(t.elapsed() >= Duration::from_millis(25));
        });
    }
}
