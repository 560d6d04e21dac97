//! Copies with streaming (non-temporal) stores, for the engines and the collectives alike: a copy of many
//! megabytes whose destination nobody reads right after.
//!
//! A plain `memcpy` reads every destination line before it writes it (the cache's write-allocate) and later
//! writes it back: three memory transfers per line, where streaming stores make two. glibc switches to them
//! only above 3/4 of the shared cache it detects, and virtual machines often report the host's whole L3 (480 MiB
//! on the development VM), so that it never does there. The callers choose the size from which they stream
//! (`transport_mte`'s puts, the collectives' broadcasts), from their own measurements.

/// Copies `len` bytes with streaming stores (plain copies for the unaligned head and the tail), then fences.
///
/// # Safety
/// `src` must be readable and `dst` writable for `len` bytes, and the two ranges must not overlap.
#[cfg(target_arch = "x86_64")]
pub unsafe fn copy_streaming(dst: *mut u8, src: *const u8, len: usize) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_sfence, _mm_stream_si128};
    let head = dst.align_offset(64).min(len);
    let body = (len - head) & !63;
    // SAFETY: head <= len; both ranges are valid for len bytes and disjoint (the caller's contract).
    unsafe { std::ptr::copy_nonoverlapping(src, dst, head) };
    let mut at = head;
    while at < head + body {
        // SAFETY: at + 64 <= head + body <= len, so the 64 bytes read and written are inside both ranges;
        // dst + at is 64-byte aligned (head aligned it and `at` advances by 64), as `_mm_stream_si128` needs
        // 16; the loads are unaligned loads. SSE2 is part of the x86_64 baseline.
        unsafe {
            let s = src.add(at) as *const __m128i;
            let d = dst.add(at) as *mut __m128i;
            let (a, b, c, e) =
                (_mm_loadu_si128(s), _mm_loadu_si128(s.add(1)), _mm_loadu_si128(s.add(2)), _mm_loadu_si128(s.add(3)));
            _mm_stream_si128(d, a);
            _mm_stream_si128(d.add(1), b);
            _mm_stream_si128(d.add(2), c);
            _mm_stream_si128(d.add(3), e);
        }
        at += 64;
    }
    // SAFETY: orders the streaming stores before every later store (SSE, baseline on x86_64).
    unsafe { _mm_sfence() };
    // SAFETY: at <= len; the tail lies inside both ranges.
    unsafe { std::ptr::copy_nonoverlapping(src.add(at), dst.add(at), len - at) };
}

/// Copies `len` bytes (no streaming stores on this architecture).
///
/// # Safety
/// `src` must be readable and `dst` writable for `len` bytes, and the two ranges must not overlap.
#[cfg(not(target_arch = "x86_64"))]
pub unsafe fn copy_streaming(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller's contract.
    unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_copy_is_exact_at_every_alignment() {
        let src: Vec<u8> = (0..70_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        for (so, doff, len) in [(0, 0, 0), (1, 0, 63), (0, 3, 64), (5, 17, 65), (16, 0, 4097), (7, 60, 69_000)] {
            let mut dst = vec![0xA5u8; 70_100];
            // SAFETY: both ranges are inside their vectors (so + len <= 70_000, doff + len <= 70_100).
            unsafe { copy_streaming(dst.as_mut_ptr().add(doff), src.as_ptr().add(so), len) };
            assert_eq!(&dst[doff..doff + len], &src[so..so + len], "{so} {doff} {len}");
            assert!(dst[..doff].iter().chain(&dst[doff + len..]).all(|&b| b == 0xA5), "{so} {doff} {len}");
        }
    }
}
