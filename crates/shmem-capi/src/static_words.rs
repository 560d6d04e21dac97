//! Atomics and waits on words of the global/static region (see [`crate::statics`]), for the AMO, wait, signal
//! and lock families.
//!
//! A static word of a same-node peer is mapped into this process (the statics' [`crate::statics::peer_word`]),
//! so an AMO on it is one CPU atomic of the word's width (`SeqCst`), the same instructions the same-node
//! engines use on the heap: heap and static words are atomic alike. A wait on a static word polls it with
//! `Acquire` loads and a bounded backoff (spin, then yield, then sleeps growing to [`MAX_SLEEP`]), since no
//! engine's write wakes a sleeper on a static word. Every [`PROBE_EVERY`] of waiting, the wait asks the facade
//! whether the job failed (a zero-length wait on the heap, which returns the job-failure error the facade's
//! own waits return); on one node the launcher also tears the job down when a PE dies, so a wait on a static
//! word never hangs silently.

use shmem::AtomicOp;
use shmem_core::{Error, Result};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest sleep between two polls of a static word.
const MAX_SLEEP: Duration = Duration::from_millis(1);
/// Busy polls before the wait starts yielding.
const SPINS: u32 = 2000;
/// Yields before the wait starts sleeping.
const YIELDS: u32 = 200;
/// How often a long wait asks the facade whether the job failed.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// `op` on the `width`-byte (4 or 8) word at `p`; the old value, zero-extended.
///
/// # Safety
/// `p` is a mapped, writable word aligned to `width` (what [`crate::statics::peer_word`] returns).
pub(crate) unsafe fn cpu_atomic(p: *mut u8, width: usize, op: AtomicOp) -> u64 {
    const O: Ordering = Ordering::SeqCst;
    macro_rules! run {
        ($a:expr, $t:ty) => {{
            let a = $a;
            let v = |x: u64| x as $t;
            (match op {
                AtomicOp::Fetch => a.load(O),
                AtomicOp::Swap(x) => a.swap(v(x), O),
                AtomicOp::CompareSwap { cond, value } => {
                    a.compare_exchange(v(cond), v(value), O, O).unwrap_or_else(|old| old)
                }
                AtomicOp::FetchAdd(x) => a.fetch_add(v(x), O),
                AtomicOp::FetchAnd(x) => a.fetch_and(v(x), O),
                AtomicOp::FetchOr(x) => a.fetch_or(v(x), O),
                AtomicOp::FetchXor(x) => a.fetch_xor(v(x), O),
            }) as u64
        }};
    }
    if width == 4 {
        // SAFETY: the caller's contract: a live, 4-aligned, writable word.
        run!(unsafe { AtomicU32::from_ptr(p.cast()) }, u32)
    } else {
        // SAFETY: the caller's contract: a live, 8-aligned, writable word.
        run!(unsafe { AtomicU64::from_ptr(p.cast()) }, u64)
    }
}

/// Loads the `width`-byte (1, 2, 4 or 8) word at `p` with `Acquire`, zero-extended.
///
/// # Safety
/// `p` is a mapped word aligned to `width`.
pub(crate) unsafe fn load(p: *const u8, width: usize) -> u64 {
    use std::sync::atomic::{AtomicU16, AtomicU8};
    const A: Ordering = Ordering::Acquire;
    // SAFETY: the caller's contract: a live word aligned to its width (atomics only read it here).
    unsafe {
        match width {
            1 => u64::from(AtomicU8::from_ptr(p.cast_mut()).load(A)),
            2 => u64::from(AtomicU16::from_ptr(p.cast_mut().cast()).load(A)),
            4 => u64::from(AtomicU32::from_ptr(p.cast_mut().cast()).load(A)),
            _ => AtomicU64::from_ptr(p.cast_mut().cast()).load(A),
        }
    }
}

/// `Err` with the facade's reason once the job failed (a PE died, the store went away), else `Ok`.
fn job_failed() -> Result<()> {
    let (base, size) = shmem::api::heap_range()?;
    if size < 8 {
        return Ok(());
    }
    // A condition that never holds (u64 < 0) and no time: the facade's wait loop checks the job's health
    // once before it reports its (expected) timeout.
    match shmem::waits::wait_until_timeout::<u64>(base, 4, 0, Duration::ZERO) {
        Err(Error::Timeout { .. }) | Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Polls `ready` until it returns `Some`, with the backoff of this module; `Err` when the job failed.
pub(crate) fn wait_for<R>(mut ready: impl FnMut() -> Option<R>) -> Result<R> {
    for _ in 0..SPINS {
        if let Some(r) = ready() {
            return Ok(r);
        }
        std::hint::spin_loop();
    }
    for _ in 0..YIELDS {
        if let Some(r) = ready() {
            return Ok(r);
        }
        std::thread::yield_now();
    }
    let mut sleep = Duration::from_micros(10);
    let mut probed = Instant::now();
    loop {
        if let Some(r) = ready() {
            return Ok(r);
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(MAX_SLEEP);
        if probed.elapsed() >= PROBE_EVERY {
            job_failed()?;
            probed = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_atomics_have_the_facade_results() {
        let mut w = 5u64;
        let p = (&mut w as *mut u64).cast::<u8>();
        // SAFETY: `w` is a live, aligned u64 for every call below.
        unsafe {
            assert_eq!(cpu_atomic(p, 8, AtomicOp::FetchAdd(3)), 5);
            assert_eq!(cpu_atomic(p, 8, AtomicOp::CompareSwap { cond: 7, value: 1 }), 8);
            assert_eq!(cpu_atomic(p, 8, AtomicOp::CompareSwap { cond: 8, value: 1 }), 8);
            assert_eq!(cpu_atomic(p, 8, AtomicOp::FetchOr(6)), 1);
            assert_eq!(cpu_atomic(p, 8, AtomicOp::FetchXor(2)), 7);
            assert_eq!(cpu_atomic(p, 8, AtomicOp::FetchAnd(4)), 5);
            assert_eq!(cpu_atomic(p, 8, AtomicOp::Swap(u64::MAX)), 4);
            assert_eq!(cpu_atomic(p, 8, AtomicOp::Fetch), u64::MAX);
            assert_eq!(load(p, 8), u64::MAX);
        }
        let mut h = [0u32; 2];
        let p = h.as_mut_ptr().cast::<u8>();
        // SAFETY: `h[0]` is a live, aligned u32.
        unsafe {
            assert_eq!(cpu_atomic(p, 4, AtomicOp::FetchAdd(u64::from(u32::MAX))), 0);
            assert_eq!(cpu_atomic(p, 4, AtomicOp::FetchAdd(2)), u64::from(u32::MAX));
        }
        assert_eq!(h, [1, 0], "a 32-bit add wraps in its own word");
        assert_eq!(wait_for(|| Some(3)).unwrap(), 3);
    }
}
