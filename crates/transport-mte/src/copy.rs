//! The MTE engine's copy routine: `memcpy` for copies that fit in the cache, streaming (non-temporal) stores
//! for larger ones.
//!
//! # Why not only `memcpy`
//! glibc switches to streaming stores only above its `x86_non_temporal_threshold`, 3/4 of the shared cache it
//! detects. Virtual machines often report the host's whole L3 (480 MiB on the machine this was measured on,
//! giving a 181 MiB threshold), so a 64 MiB put went through `rep movsb`: every destination line is first read
//! for ownership and later written back, three memory transfers per line. Measured in CPU time, interleaved,
//! on that machine: 64 MiB `memcpy` 6.1-8.7 GB/s, streaming 8.4-10.8 GB/s; at 16-32 MiB, where source and
//! destination still fit the cache, `memcpy` is 5-10 % faster. Streaming therefore starts at
//! [`DEFAULT_STREAM_MIN`], tunable with `SHMEM_MTE_STREAM_MIN`.
//!
//! Streaming stores are weakly ordered: the routine ends with `sfence`, so a later signal or release store
//! (put-with-signal, the wake word, quiet) cannot become visible before the data.

use shmem_core::launch_env::parse_size;
use shmem_core::{Error, Result};

/// Copies of at least this many bytes use streaming stores (a copy this large no longer fits the cache
/// together with its source on the machines measured).
pub const DEFAULT_STREAM_MIN: usize = 40 << 20;

/// Environment variable overriding [`DEFAULT_STREAM_MIN`] (bytes, with an optional K/M/G unit; `0` never
/// streams).
pub const STREAM_MIN_VAR: &str = "SHMEM_MTE_STREAM_MIN";

/// The copy settings of the MTE engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyConfig {
    /// Copies of at least this many bytes use streaming stores; 0 disables them.
    pub stream_min: usize,
}

impl Default for CopyConfig {
    fn default() -> Self {
        CopyConfig { stream_min: DEFAULT_STREAM_MIN }
    }
}

impl CopyConfig {
    /// Reads `SHMEM_MTE_STREAM_MIN`; unset or empty gives the default.
    ///
    /// # Errors
    /// INVALID_PARAM for a value that is not a size.
    pub fn from_env() -> Result<CopyConfig> {
        Self::from_lookup(shmem_core::Settings::from_env().lookup())
    }

    /// Like [`CopyConfig::from_env`], reading variables through `get` (tests pass a map).
    ///
    /// # Errors
    /// As [`CopyConfig::from_env`].
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<CopyConfig> {
        let mut cfg = CopyConfig::default();
        if let Some(v) = get(STREAM_MIN_VAR).filter(|v| !v.trim().is_empty()) {
            let n = parse_size(&v).map_err(|e| Error::invalid(format!("{STREAM_MIN_VAR}: {e}")))?;
            cfg.stream_min = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(cfg)
    }

    /// Whether a copy of `len` bytes streams.
    #[inline]
    pub fn streams(&self, len: usize) -> bool {
        self.stream_min != 0 && len >= self.stream_min
    }
}

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

    #[test]
    fn threshold_from_the_environment() {
        let get = |v: &'static str| move |k: &str| (k == STREAM_MIN_VAR).then(|| v.to_string());
        assert_eq!(CopyConfig::from_lookup(|_| None).unwrap(), CopyConfig::default());
        assert_eq!(CopyConfig::from_lookup(get("8M")).unwrap().stream_min, 8 << 20);
        assert!(!CopyConfig::from_lookup(get("0")).unwrap().streams(usize::MAX));
        assert!(CopyConfig::default().streams(64 << 20) && !CopyConfig::default().streams(32 << 20));
        assert_eq!(CopyConfig::from_lookup(get("lots")).unwrap_err().code(), -1);
    }
}
