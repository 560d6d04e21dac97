//! Sleeping on and waking the shared wake line of a PE's segment (Linux futex on shared memory).
//!
//! Each PE's sync area has a wake line (see [`crate::heap::HeapLayout::wake_seq`]): a 32-bit sequence word sleepers
//! wait on, a 32-bit count of sleepers, the range of heap offsets `[lo, hi)` they watch, and a 32-bit count of the
//! sleepers no wake has reached yet (a hint for the waits' foreign-load check, see [`WakeLine::sleep`]). A waiter that
//! has spun long enough registers (reads the sequence, then adds itself to the count and the range), re-checks its
//! condition, and sleeps on the sequence value it read. A writer that changed bytes `[off, off+len)` of that PE checks
//! the count and, when someone sleeps and the written bytes overlap the watched range, bumps the sequence and wakes
//! them all. Writes elsewhere (a bulk put into a buffer nobody waits on) cost one load of the count and no system call.
//!
//! Ordering: the writer's update (a SeqCst read-modify-write for signals and atomics) precedes its SeqCst
//! loads of the count and range; the waiter's SeqCst registration precedes a SeqCst fence and then its re-check
//! (whatever orderings the re-check's loads use). So either the
//! writer sees the registration and wakes, or the waiter's re-check sees the update (Dekker). Plain puts skip
//! the full fence for speed and so may miss a sleeper registering at that very instant.
//!
//! A wake resets the range before it bumps the sequence: every sleeper registered so far wakes (or finds the
//! sequence moved, having read it before registering) and registers again if it still waits, so the range is
//! that of the waits still open, not the union of every wait since the line was last idle.
//!
//! Accepted race: when the last sleeper leaves it resets the range, and a sleeper (of any PE) registering at
//! that instant may lose its widening (the leaver then widens the range to everything if it sees a new
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
    /// Number of sleepers asleep in [`WakeLine::sleep`] that no wake has reached yet: a wake sets it to zero at
    /// once, while `sleepers` keeps a woken sleeper until it gets a core and leaves. Best effort (see `sleep`).
    pub asleep: &'a AtomicU32,
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
            // Every sleeper of this line wakes below (or finds the sequence moved and does not sleep), and one
            // that still has to wait registers again: so the range starts afresh here. Without this reset it
            // only ever grew while the sleepers overlapped (a woken PE waiting for a core still counts as
            // one), and writes to words nobody watched any more woke everyone: an 8-PE broadcast loop on
            // 2 cores woke its members three times per call instead of once. Reset before the bump: a
            // sleeper whose registration it erases read the sequence before the bump (see `register`).
            self.lo.store(u64::MAX, Ordering::SeqCst);
            self.hi.store(0, Ordering::SeqCst);
            self.seq.fetch_add(1, Ordering::SeqCst);
            // After the bump: a sleeper that counts itself in from here on finds the sequence moved and counts
            // itself out (see `sleep`).
            self.asleep.store(0, Ordering::SeqCst);
            wake_all(self.seq);
        }
    }

    /// Sleeps on the sequence value `seq` that [`WakeLine::register`] returned, at most `timeout`, counted in
    /// `asleep` while no wake has reached it.
    ///
    /// Why the count: a woken sleeper is runnable at once but leaves `sleepers` only when it gets a core, and
    /// on a node whose PEs outnumber the cores that can be much later. The waits' foreign-load check subtracts
    /// the node's sleepers from its runnable PEs: counted from `sleepers`, it found 1 to 6 "foreign" runnable
    /// threads with none there (8 PEs on 2 cores), took them for another process's load, and slept at once
    /// for holds of 10 ms to 1 s, paying a futex wake per call (8 B sum 70-80 µs instead of 13-20).
    ///
    /// The count is a hint, never a condition of correctness: a wake sets it to zero after bumping the
    /// sequence; a sleeper that registered before that bump but counts itself in after it sees the moved
    /// sequence and counts itself out, as does one that timed out (nobody zeroed it). The races left only make
    /// it smaller, never negative (saturating), until the next wake resets it: a decrement after a wake's reset
    /// (a sleeper that registered after the bump, counted itself in before the reset and timed out later)
    /// takes another sleeper's place. It can be too large only while a waker is between its bump and its reset.
    pub fn sleep(&self, seq: u32, timeout: Duration) {
        let out = || {
            let _ = self.asleep.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        };
        self.asleep.fetch_add(1, Ordering::SeqCst);
        if self.seq.load(Ordering::SeqCst) != seq {
            out();
            return;
        }
        wait(self.seq, seq, timeout);
        if self.seq.load(Ordering::SeqCst) == seq {
            out();
        }
    }

    /// Registers a sleeper watching `lo..hi` and returns the sequence value to sleep on. The caller must
    /// re-check its condition after this and before sleeping, then call [`WakeLine::unregister`].
    pub fn register(&self, lo: u64, hi: u64) -> u32 {
        // The sequence first: a waker that resets the range after this registration widened it bumps the
        // sequence after that reset, so the sleep on the value read here returns at once and the caller
        // registers again.
        let seq = self.seq.load(Ordering::SeqCst);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        self.lo.fetch_min(lo, Ordering::SeqCst);
        self.hi.fetch_max(hi, Ordering::SeqCst);
        seq
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A wake line over local atomics, reset as a fresh segment's is (no sleeper, empty range).
    struct Line {
        seq: AtomicU32,
        sleepers: AtomicU32,
        asleep: AtomicU32,
        lo: AtomicU64,
        hi: AtomicU64,
    }

    impl Line {
        fn new() -> Line {
            Line {
                seq: AtomicU32::new(0),
                sleepers: AtomicU32::new(0),
                asleep: AtomicU32::new(0),
                lo: AtomicU64::new(u64::MAX),
                hi: AtomicU64::new(0),
            }
        }

        fn line(&self) -> WakeLine<'_> {
            WakeLine { seq: &self.seq, sleepers: &self.sleepers, asleep: &self.asleep, lo: &self.lo, hi: &self.hi }
        }
    }

    /// A write wakes only when it overlaps a watched range, and a wake starts the range afresh: a sleeper that
    /// registers again afterwards is not woken by a write to what only an earlier (woken) sleeper watched, even
    /// while the sleepers overlap (the count never drops to zero).
    #[test]
    fn a_wake_resets_the_range_to_the_waits_still_open() {
        let l = Line::new();
        let line = l.line();
        // Sleeper A watches 0..8, sleeper B 100..108.
        let a = line.register(0, 8);
        let b = line.register(100, 108);
        assert_eq!((a, b), (0, 0));
        line.wake_if_watching(300, 8);
        assert_eq!(l.seq.load(Ordering::SeqCst), 0, "nobody watches 300..308");
        line.wake_if_watching(0, 8);
        assert_eq!(l.seq.load(Ordering::SeqCst), 1, "A's word was written");
        assert_eq!((l.lo.load(Ordering::SeqCst), l.hi.load(Ordering::SeqCst)), (u64::MAX, 0));
        // Both woke; A's wait is over (it leaves), B still waits and registers again before A has left.
        let b2 = line.register(100, 108);
        assert_eq!(b2, 1);
        line.unregister();
        line.wake_if_watching(0, 8);
        assert_eq!(l.seq.load(Ordering::SeqCst), 1, "A no longer waits: a write to its word wakes nobody");
        line.wake_if_watching(104, 4);
        assert_eq!(l.seq.load(Ordering::SeqCst), 2, "B's word was written");
    }

    /// `register` returns the sequence read before it widened the range: a wake that erased the registration
    /// (its reset came after the widening) bumped the sequence after that reset, so a sleep on the returned
    /// value does not block.
    #[test]
    fn a_registration_erased_by_a_wake_sleeps_on_a_stale_sequence() {
        let l = Line::new();
        let line = l.line();
        line.register(0, 8);
        let s = line.register(200, 208);
        line.wake_if_watching(0, 8);
        assert_ne!(l.seq.load(Ordering::SeqCst), s);
        // Returns at once (the value differs), not after the timeout.
        let t = std::time::Instant::now();
        wait(&l.seq, s, Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
        // The same through `sleep`: it returns at once and leaves nobody counted asleep.
        line.sleep(s, Duration::from_secs(5));
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(l.asleep.load(Ordering::SeqCst), 0);
    }

    /// `asleep` counts a sleeper while it sleeps, drops to zero the moment a wake reaches it (while the sleeper
    /// is still registered, as a woken PE waiting for a core is), stays at zero when that sleeper runs, and
    /// comes back to zero after a sleep that timed out.
    #[test]
    fn asleep_counts_only_sleepers_no_wake_has_reached() {
        let l = std::sync::Arc::new(Line::new());
        // A sleep that times out counts itself out.
        let s = l.line().register(0, 8);
        l.line().sleep(s, Duration::from_millis(5));
        l.line().unregister();
        assert_eq!(l.asleep.load(Ordering::SeqCst), 0, "after a timeout");
        let sleeper = {
            let l = l.clone();
            std::thread::spawn(move || {
                let s = l.line().register(0, 8);
                l.line().sleep(s, Duration::from_secs(20));
                l.line().unregister();
            })
        };
        let t = std::time::Instant::now();
        while l.asleep.load(Ordering::SeqCst) == 0 {
            assert!(t.elapsed() < Duration::from_secs(10), "the sleeper never counted itself asleep");
            std::thread::yield_now();
        }
        assert_eq!(l.asleep.load(Ordering::SeqCst), 1);
        l.line().wake_if_watching(4, 4);
        assert_eq!(l.asleep.load(Ordering::SeqCst), 0, "zero as soon as the wake is issued");
        sleeper.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "woken, not timed out");
        assert_eq!((l.asleep.load(Ordering::SeqCst), l.sleepers.load(Ordering::SeqCst)), (0, 0));
    }
}
