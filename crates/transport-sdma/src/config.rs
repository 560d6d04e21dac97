//! The SDMA engine's tunables: how many channels, how deep their rings, when a transfer is split, how long
//! an idle channel spins before it sleeps.

use shmem_core::launch_env::parse_size;
use shmem_core::{Error, Result};
use std::time::Duration;

/// Environment variable: number of channels (worker threads), `1..=64`; unset, empty or `auto` picks
/// [`SdmaConfig::default_channels`].
pub const CHANNELS_VAR: &str = "SHMEM_SDMA_CHANNELS";
/// Environment variable: transfers of at least this many bytes are split across channels (`262144`, `256K`,
/// `1M`; at least 4 KiB).
pub const SPLIT_BYTES_VAR: &str = "SHMEM_SDMA_SPLIT_BYTES";

/// Most channels an engine may have.
pub const MAX_CHANNELS: usize = 64;
/// Most channels the default policy picks: beyond this the memory bus, not the copy threads, is the limit.
pub const DEFAULT_MAX_CHANNELS: usize = 4;
/// Default split threshold: 256 KiB, where one copy thread stops being limited by its issue overhead.
pub const DEFAULT_SPLIT_BYTES: usize = 256 << 10;
/// Smallest split threshold accepted.
pub const MIN_SPLIT_BYTES: usize = 4 << 10;
/// Default descriptors per channel ring.
pub const DEFAULT_RING_CAPACITY: usize = 1024;
/// Largest ring accepted.
pub const MAX_RING_CAPACITY: usize = 1 << 16;
/// Default time an idle channel keeps polling its ring before it sleeps.
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(100);
/// Longest idle spin accepted.
pub const MAX_IDLE_SPIN: Duration = Duration::from_millis(10);

/// How an [`SdmaEngine`](crate::SdmaEngine) is built. Plain data; [`SdmaConfig::validate`] checks it (and
/// [`SdmaEngine::new`](crate::SdmaEngine::new) calls it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdmaConfig {
    /// Channels, i.e. worker threads, each with its own ring: `1..=64`.
    pub channels: usize,
    /// Descriptors each ring holds (a power of two in `2..=65536`). A full ring makes issuers wait.
    pub ring_capacity: usize,
    /// Transfers of at least this many bytes are split into one piece per channel (at least 4 KiB).
    pub split_bytes: usize,
    /// How long an idle channel polls before it sleeps (at most 10 ms; zero sleeps at once).
    pub idle_spin: Duration,
}

impl Default for SdmaConfig {
    fn default() -> Self {
        SdmaConfig {
            channels: Self::default_channels(),
            ring_capacity: DEFAULT_RING_CAPACITY,
            split_bytes: DEFAULT_SPLIT_BYTES,
            idle_spin: DEFAULT_IDLE_SPIN,
        }
    }
}

impl SdmaConfig {
    /// The default channel count on this machine: [`SdmaConfig::channels_for_cores`] of the cores this
    /// process may use.
    pub fn default_channels() -> usize {
        Self::channels_for_cores(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The channel-count policy: one core is left to the PE's own thread (which issues the work and
    /// computes meanwhile), the rest copy, at least one and at most [`DEFAULT_MAX_CHANNELS`].
    pub fn channels_for_cores(cores: usize) -> usize {
        cores.saturating_sub(1).clamp(1, DEFAULT_MAX_CHANNELS)
    }

    /// The defaults, overridden by [`CHANNELS_VAR`] and [`SPLIT_BYTES_VAR`] where set.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the variable when a value is malformed or out of range.
    pub fn from_env() -> Result<SdmaConfig> {
        Self::from_lookup(shmem_core::Settings::from_env().lookup())
    }

    /// Like [`SdmaConfig::from_env`], reading variables through `get` (tests pass a map).
    ///
    /// # Errors
    /// As [`SdmaConfig::from_env`].
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<SdmaConfig> {
        let mut cfg = SdmaConfig::default();
        if let Some(v) = get(CHANNELS_VAR).filter(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("auto")) {
            cfg.channels = v.trim().parse::<usize>().map_err(|_| {
                Error::invalid(format!(
                    "{CHANNELS_VAR}={v:?} is not a channel count: use an integer in 1..={MAX_CHANNELS}, or unset it \
                     for the default ({} on this machine)",
                    Self::default_channels()
                ))
            })?;
            if !(1..=MAX_CHANNELS).contains(&cfg.channels) {
                return Err(Error::invalid(format!(
                    "{CHANNELS_VAR}={v} is out of range: use 1..={MAX_CHANNELS} channels"
                )));
            }
        }
        if let Some(v) = get(SPLIT_BYTES_VAR).filter(|v| !v.trim().is_empty()) {
            let bytes = parse_size(&v).map_err(|e| Error::invalid(format!("{SPLIT_BYTES_VAR}: {e}")))?;
            cfg.split_bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
            if cfg.split_bytes < MIN_SPLIT_BYTES {
                return Err(Error::invalid(format!(
                    "{SPLIT_BYTES_VAR}={v} is below the minimum of {MIN_SPLIT_BYTES} B (4K)"
                )));
            }
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the field, its value and the accepted range.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_CHANNELS).contains(&self.channels) {
            return Err(Error::invalid(format!(
                "sdma channels = {} is out of range: use 1..={MAX_CHANNELS} ({CHANNELS_VAR})",
                self.channels
            )));
        }
        if !(2..=MAX_RING_CAPACITY).contains(&self.ring_capacity) || !self.ring_capacity.is_power_of_two() {
            return Err(Error::invalid(format!(
                "sdma ring_capacity = {} must be a power of two in 2..={MAX_RING_CAPACITY}",
                self.ring_capacity
            )));
        }
        if self.split_bytes < MIN_SPLIT_BYTES {
            return Err(Error::invalid(format!(
                "sdma split_bytes = {} is below the minimum of {MIN_SPLIT_BYTES} B ({SPLIT_BYTES_VAR})",
                self.split_bytes
            )));
        }
        if self.idle_spin > MAX_IDLE_SPIN {
            return Err(Error::invalid(format!(
                "sdma idle_spin = {:?} is longer than the maximum of {MAX_IDLE_SPIN:?}",
                self.idle_spin
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<SdmaConfig> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        SdmaConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn channel_policy() {
        assert_eq!(SdmaConfig::channels_for_cores(0), 1);
        assert_eq!(SdmaConfig::channels_for_cores(1), 1);
        assert_eq!(SdmaConfig::channels_for_cores(2), 1);
        assert_eq!(SdmaConfig::channels_for_cores(3), 2);
        assert_eq!(SdmaConfig::channels_for_cores(64), DEFAULT_MAX_CHANNELS);
        assert!(SdmaConfig::default().validate().is_ok());
    }

    #[test]
    fn from_env_values() {
        assert_eq!(env(&[]).unwrap(), SdmaConfig::default());
        assert_eq!(env(&[(CHANNELS_VAR, "auto")]).unwrap().channels, SdmaConfig::default_channels());
        assert_eq!(env(&[(CHANNELS_VAR, " 3 ")]).unwrap().channels, 3);
        assert_eq!(env(&[(SPLIT_BYTES_VAR, "1M")]).unwrap().split_bytes, 1 << 20);
        for (k, v) in [
            (CHANNELS_VAR, "0"),
            (CHANNELS_VAR, "65"),
            (CHANNELS_VAR, "-1"),
            (CHANNELS_VAR, "two"),
            (SPLIT_BYTES_VAR, "1K"),
            (SPLIT_BYTES_VAR, "lots"),
        ] {
            let e = env(&[(k, v)]).unwrap_err();
            assert_eq!(e.code(), shmem_core::error::code::INVALID_PARAM, "{k}={v}");
            assert!(e.to_string().contains(k), "{e}");
        }
    }

    #[test]
    fn validate_ranges() {
        let ok = SdmaConfig { channels: 2, ring_capacity: 8, split_bytes: 4096, idle_spin: Duration::ZERO };
        assert!(ok.validate().is_ok());
        for bad in [
            SdmaConfig { channels: 0, ..ok },
            SdmaConfig { channels: 65, ..ok },
            SdmaConfig { ring_capacity: 1, ..ok },
            SdmaConfig { ring_capacity: 12, ..ok },
            SdmaConfig { ring_capacity: 1 << 17, ..ok },
            SdmaConfig { split_bytes: 100, ..ok },
            SdmaConfig { idle_spin: Duration::from_secs(1), ..ok },
        ] {
            assert_eq!(bad.validate().unwrap_err().code(), -1, "{bad:?}");
        }
    }
}
