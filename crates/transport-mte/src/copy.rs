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

pub use shmem_core::copy::copy_streaming;

#[cfg(test)]
mod tests {
    use super::*;

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
