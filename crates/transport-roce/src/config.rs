//! Which device, port and GID the engine uses (environment knobs, read once at set-up).

use shmem_core::{Error, Result};

/// Picks the verbs device by name (`mlx5_0`, `rxe0`); default: the first device with an active port.
pub const DEVICE_VAR: &str = "SHMEM_ROCE_DEVICE";
/// Picks the port (1-based); default: the device's first active port.
pub const PORT_VAR: &str = "SHMEM_ROCE_PORT";
/// Picks the GID table index; default: the first RoCE v2 GID of an IPv4 address, else the first RoCE v2 GID,
/// else index 0 (InfiniBand).
pub const GID_INDEX_VAR: &str = "SHMEM_ROCE_GID_INDEX";

/// READs and atomics kept in flight per queue pair (1 to 8; default 1, see the engine's notes on soft-RoCE).
pub const RD_ATOMIC_VAR: &str = "SHMEM_ROCE_RD_ATOMIC";

/// The engine's settings, as read from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoceConfig {
    /// `SHMEM_ROCE_DEVICE`.
    pub device: Option<String>,
    /// `SHMEM_ROCE_PORT`.
    pub port: Option<u8>,
    /// `SHMEM_ROCE_GID_INDEX`.
    pub gid_index: Option<u8>,
    /// `SHMEM_ROCE_RD_ATOMIC`.
    pub rd_atomic: Option<u8>,
}

impl RoceConfig {
    /// Reads the knobs.
    ///
    /// # Errors
    /// `InvalidParam` naming the variable when a number does not parse or is out of range, or a device name is
    /// empty.
    pub fn from_env() -> Result<RoceConfig> {
        Self::from_lookup(shmem_core::Settings::from_env().lookup())
    }

    /// Reads the knobs through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<RoceConfig> {
        let device = match get(DEVICE_VAR) {
            Some(v) if v.trim().is_empty() => {
                return Err(Error::invalid(format!("{DEVICE_VAR} is empty: name a verbs device (see `ibv_devices`)")))
            }
            Some(v) => Some(v.trim().to_string()),
            None => None,
        };
        let number = |name: &str, min: u8| -> Result<Option<u8>> {
            match get(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u8>() {
                    Ok(n) if n >= min => Ok(Some(n)),
                    _ => Err(Error::invalid(format!("{name}={v:?} must be an integer from {min} to 255"))),
                },
            }
        };
        let rd_atomic = match number(RD_ATOMIC_VAR, 1)? {
            Some(n) if n > 8 => {
                return Err(Error::invalid(format!("{RD_ATOMIC_VAR}={n} must be from 1 to 8 (the queue pair's limit)")))
            }
            other => other,
        };
        Ok(RoceConfig { device, port: number(PORT_VAR, 1)?, gid_index: number(GID_INDEX_VAR, 0)?, rd_atomic })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<RoceConfig> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        RoceConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(read(&[]).unwrap(), RoceConfig::default());
        let c = read(&[(DEVICE_VAR, " rxe0 "), (PORT_VAR, "1"), (GID_INDEX_VAR, "3"), (RD_ATOMIC_VAR, "8")]).unwrap();
        assert_eq!(
            c,
            RoceConfig { device: Some("rxe0".into()), port: Some(1), gid_index: Some(3), rd_atomic: Some(8) }
        );
    }

    #[test]
    fn bad_values_are_invalid_param_naming_the_variable() {
        for (k, v) in [
            (PORT_VAR, "0"),
            (PORT_VAR, "x"),
            (GID_INDEX_VAR, "-1"),
            (GID_INDEX_VAR, "300"),
            (DEVICE_VAR, " "),
            (RD_ATOMIC_VAR, "0"),
            (RD_ATOMIC_VAR, "9"),
        ] {
            let e = read(&[(k, v)]).unwrap_err();
            assert_eq!(e.code(), shmem_core::error::code::INVALID_PARAM, "{k}={v}");
            assert!(e.to_string().contains(k), "{e}");
        }
    }
}
