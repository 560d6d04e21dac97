//! Large copies with streaming (non-temporal) stores: a broadcast's copy of many megabytes into a destination that
//! nobody reads during the call.
//!
//! A plain `memcpy` reads every destination line before it writes it (the cache's write-allocate) and later writes
//! it back: three memory transfers per line, where streaming stores make two. glibc switches to streaming stores
//! only above a threshold derived from the last-level cache's size, which a VM may report as hundreds of
//! megabytes (480 MiB on the development VM), so that it never does here. Measured on that VM (one process,
//! `memcpy` against SSE2 streaming stores, us per MiB): 64 MiB 148-176 against 107-120, 16 MiB 116-120 against
//! 75, 8 MiB 76-90 against 82-88 (no gain: the destinations still fit the cache), 1 MiB 46 against 47.

/// Smallest copy made with streaming stores (below it the destination fits the caches, see the module docs).
pub(crate) const STREAM_MIN: usize = 16 << 20;

/// Copies `len` bytes from `src` to `dst` (not overlapping); from [`STREAM_MIN`] bytes on x86_64 with streaming
/// stores, so that the destination's lines are not read first (they leave the caches: for data the caller does not
/// read right after).
///
/// # Safety
/// As [`std::ptr::copy_nonoverlapping`]: `src` valid for `len` bytes of reads, `dst` for `len` bytes of writes,
/// the two ranges apart.
pub(crate) unsafe fn copy_large(dst: *mut u8, src: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    if len >= STREAM_MIN {
        // SAFETY: the caller's contract.
        unsafe { stream_x86_64(dst, src, len) };
        return;
    }
    // SAFETY: the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
}

/// [`copy_large`] with SSE2 streaming stores (every x86_64 processor has SSE2): the head up to the first 64-byte
/// boundary of `dst` and the tail are copied plainly, the lines between with four 16-byte streaming stores each,
/// then a store fence, so that the streamed data is ordered before the caller's later stores (a done word).
#[cfg(target_arch = "x86_64")]
unsafe fn stream_x86_64(dst: *mut u8, src: *const u8, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let head = dst.align_offset(64).min(len);
    // SAFETY: every access is inside `dst..dst+len` or `src..src+len`, which the caller vouches
    // for; the streaming stores go to 16-byte aligned addresses (`dst + head` is 64-byte aligned).
    unsafe {
        std::ptr::copy_nonoverlapping(src, dst, head);
        let mut i = head;
        while i + 64 <= len {
            let s = src.add(i).cast::<__m128i>();
            let d = dst.add(i).cast::<__m128i>();
            let (a, b, c, e) =
                (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)), _mm_loadu_si128(s.add(2)), _mm_loadu_si128(s.add(3)));
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
            i += 64;
        }
        std::ptr::copy_nonoverlapping(src.add(i), dst.add(i), len - i);
        // Streaming stores are weakly ordered: fence them before whatever the caller publishes next.
        _mm_sfence();
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
