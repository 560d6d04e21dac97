//! Large broadcast copies with streaming stores (`shmem_core::copy`): a broadcast's copy of many megabytes into a
//! destination that nobody reads during the call.
//!
//! The threshold is lower than the MTE engine's (40 MiB for one put): a broadcast writes as many destinations as
//! members, so its working set leaves the caches sooner. Measured on the 2-core VM (one process, `memcpy` against
//! streaming stores into rotating destinations, µs per MiB): 64 MiB into 2 148-176 against 107-120, 16 MiB into 4
//! 116-120 against 75, 8 MiB into 4 84-90 against 88 (no gain), 1 MiB into 8 46 against 47. A 64 MiB broadcast to
//! 8 PEs went from 36 to 28-29 ms, 16 MiB from 6.8-8.2 to 4.0 ms; 2 PEs at 16 MiB stayed within the noise.

/// Smallest broadcast copy made with streaming stores (below it the destinations fit the caches, see the module
/// docs).
pub(crate) const STREAM_MIN: usize = 16 << 20;

/// Copies `len` bytes from `src` to `dst` (not overlapping); from [`STREAM_MIN`] bytes with streaming stores, so
/// that the destination's lines are not read first (they leave the caches: for data the caller does not read
/// right after). The copy is fenced: later stores (a done word) are ordered after it.
///
/// # Safety
/// As [`std::ptr::copy_nonoverlapping`]: `src` valid for `len` bytes of reads, `dst` for `len` bytes of writes,
/// the two ranges apart.
pub(crate) unsafe fn copy_large(dst: *mut u8, src: *const u8, len: usize) {
    if len >= STREAM_MIN {
        // SAFETY: the caller's contract.
        unsafe { shmem_core::copy::copy_streaming(dst, src, len) };
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_copies_are_exact_at_any_alignment() {
        let len = STREAM_MIN + 4097;
        let src: Vec<u8> = (0..len + 64).map(|i| (i * 7 + i / 251) as u8).collect();
        for (so, doff) in [(0, 0), (3, 0), (0, 5), (13, 61)] {
            let mut dst = vec![0xEEu8; len + 128];
            // SAFETY: both ranges are inside their vectors and apart.
            unsafe { copy_large(dst.as_mut_ptr().add(doff), src.as_ptr().add(so), len) };
            assert!(dst[..doff].iter().all(|&b| b == 0xEE), "before the copy ({so}, {doff})");
            assert!(dst[doff..doff + len] == src[so..so + len], "the copy ({so}, {doff})");
            assert!(dst[doff + len..].iter().all(|&b| b == 0xEE), "after the copy ({so}, {doff})");
        }
    }
}
