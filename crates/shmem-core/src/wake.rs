//! Sleeping on and waking the shared wake line of a PE's segment (Linux futex on shared memory).
//!
//! Each PE's sync area has a wake line (see [`crate::heap::HeapLayout::wake_seq`]): a 32-bit sequence word
//! sleepers wait on, a 32-bit count of sleepers, and the range of heap offsets `[lo, hi)` they watch. A
//! waiter that has spun long enough registers (count, then range), re-checks its condition, and sleeps on
//! the sequence word. A writer that changed bytes `[off, off+len)` of that PE checks the count and, when
//! someone sleeps and the written bytes overlap the watched range, bumps the sequence and wakes them all.
//! Writes elsewhere (a bulk put into a buffer nobody waits on) cost one load of the count and no system call.
//!
//! Ordering: the writer's update (a SeqCst read-modify-write for signals and atomics) precedes its SeqCst
//! loads of the count and range; the waiter's SeqCst registration precedes a SeqCst fence and then its re-check
//! (whatever orderings the re-check's loads use). So either the
//! writer sees the registration and wakes, or the waiter's re-check sees the update (Dekker). Plain puts skip
//! the full fence for speed and so may miss a sleeper registering at that very instant.
//!
//! Accepted race: when the last sleeper leaves it resets the range, and a thread of the same PE registering
//! at that instant may lose its widening (the leaver then widens the range to everything if it sees a new
//! sleeper, but a write in between is missed). Both misses are bounded: sleeps are slices of a few
//! milliseconds ([`wait`] takes a timeout) after which the waiter re-checks.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The wake line of one PE, as atomics over its (mapped) sync area.
#[derive(Debug, Clone, Copy)]
pub struct WakeLine<'a> {
    /// Futex word sleepers wait on; bumped by every wake.
    pub seq: &'a AtomicU32,
    /// Number of registered sleepers.
    pub sleepers: &'a AtomicU32,
    /// Lowest heap offset a sleeper watches.
    pub lo: &'a AtomicU64,
    /// One past the highest heap offset a sleeper watches.
    pub hi: &'a AtomicU64,
}

impl WakeLine<'_> {
    /// Called by a writer after changing bytes `off..off+len` of this PE: wakes the sleepers if any watch
    /// those bytes.
    #[inline]
    pub fn wake_if_watching(&self, off: u64, len: u64) {
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            self.wake_slow(off, len);
        }
    }

    #[cold]
    fn wake_slow(&self, off: u64, len: u64) {
        let (lo, hi) = (self.lo.load(Ordering::SeqCst), self.hi.load(Ordering::SeqCst));
        if off < hi && lo < off.saturating_add(len.max(1)) {
            self.seq.fetch_add(1, Ordering::SeqCst);
            wake_all(self.seq);
        }
    }

    /// Registers a sleeper watching `lo..hi` and returns the sequence value to sleep on. The caller must
    /// re-check its condition after this and before sleeping, then call [`WakeLine::unregister`].
    pub fn register(&self, lo: u64, hi: u64) -> u32 {
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        self.lo.fetch_min(lo, Ordering::SeqCst);
        self.hi.fetch_max(hi, Ordering::SeqCst);
        self.seq.load(Ordering::SeqCst)
    }

    /// Ends a registration; the last sleeper resets the watched range.
    pub fn unregister(&self) {
        if self.sleepers.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.lo.store(u64::MAX, Ordering::SeqCst);
            self.hi.store(0, Ordering::SeqCst);
            if self.sleepers.load(Ordering::SeqCst) != 0 {
                // Someone registered meanwhile and its range may be lost: watch everything until the next reset.
                self.lo.store(0, Ordering::SeqCst);
                self.hi.store(u64::MAX, Ordering::SeqCst);
            }
        }
    }
}

/// Wakes all processes sleeping on `word`.
pub fn wake_all(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only reads the address as a key; `word` is a valid, aligned 32-bit word. Not
    // FUTEX_PRIVATE: sleepers live in other processes mapping the same shared segment.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX, std::ptr::null::<libc::timespec>());
    }
}

/// Sleeps while `word == expected`, at most `timeout`. Returns on wake, timeout, signal or value change.
pub fn wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid aligned 32-bit word and `ts` a valid relative timeout that outlives the call.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, &ts as *const libc::timespec);
    }
}
