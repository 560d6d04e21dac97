//! Sleeping on and waking the shared wake word of a PE's segment (Linux futex on shared memory).
//!
//! Each PE's sync area has a wake line: a 32-bit sequence word and a 32-bit count of sleepers (see
//! [`crate::heap::HeapLayout::wake_seq`]). A waiter that has spun long enough registers as a sleeper, re-checks
//! its condition, and sleeps on the sequence word; a writer that changed a word on that PE checks the count
//! and, when someone sleeps, bumps the sequence and wakes them all. They re-check and sleep again if their
//! own condition still does not hold.
//!
//! Ordering: the writer's update (a SeqCst read-modify-write for signals and atomics) precedes its SeqCst
//! load of the count; the waiter's SeqCst increment of the count precedes its SeqCst re-check. So either the
//! writer sees the sleeper and wakes it, or the waiter's re-check sees the update (Dekker). Plain puts skip the
//! full fence for speed and so may miss a sleeper that registered at that very instant; sleeps are therefore
//! bounded ([`wait`] takes a timeout) and the waiter re-checks at least every few milliseconds.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Wakes every sleeper of the wake line whose sequence word is `seq` and count word is `sleepers`, if any.
pub fn wake_if_sleeping(seq: &AtomicU32, sleepers: &AtomicU32) {
    if sleepers.load(Ordering::SeqCst) != 0 {
        seq.fetch_add(1, Ordering::SeqCst);
        wake_all(seq);
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
