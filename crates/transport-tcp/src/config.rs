//! Where the TCP engine listens, and how long its threads spin before they sleep.

use shmem_core::{Error, Result, Settings};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Name of the variable that picks the address the engine listens on and advertises.
pub const ADDR_VAR: &str = "SHMEM_TCP_ADDR";

/// Name of the variable that sets how long (microseconds) the progress thread keeps polling its sockets
/// without sleeping after it served a request, and how long an initiator polls for a reply before it sleeps in
/// `recv`. 0 turns spinning off.
pub const SPIN_VAR: &str = "SHMEM_TCP_SPIN_US";

/// The default of [`SPIN_VAR`] where the job's PEs on this machine outnumber its cores: off. Spinning saves a
/// sleep and wake-up per request only where the spinning thread has a core of its own; on an oversubscribed
/// machine it takes the core from the very thread it waits for (measured on the shared 2-core machine: 8 B put +
/// quiet 8 us without, 110 us with a 20 us spin, in an older design).
pub const DEFAULT_SPIN: Duration = Duration::ZERO;

/// The default of [`SPIN_VAR`] where the job's PEs on this machine do not outnumber its cores (see
/// [`auto_spin`]). A reply that the peer sends within it is read without a sleep and a wake-up: on an idle VM a
/// wake-up of an idle vCPU alone cost 20-30 us (measured, 2 PEs on 2 cores, `shmem-bench` TCP rows: 8 B get
/// 10.6 -> 7.0-8.1 us, fetch-add 33 -> 7.0 us with a 50 us spin; the raw spinning ping-pong's round trip 6.2 us).
pub const AUTO_SPIN: Duration = Duration::from_micros(50);

/// The spin when [`SPIN_VAR`] is not set: [`AUTO_SPIN`] when the job's PEs on this machine (`pes_here`, counted
/// by the kernel's boot id, else by listening address) fit its `cores`, else [`DEFAULT_SPIN`] (off).
pub fn auto_spin(pes_here: usize, cores: usize) -> Duration {
    if pes_here <= cores {
        AUTO_SPIN
    } else {
        DEFAULT_SPIN
    }
}

/// The longest spin [`SPIN_VAR`] accepts.
pub const MAX_SPIN: Duration = Duration::from_millis(10);

/// The spin of [`SPIN_VAR`] in the process environment, or [`DEFAULT_SPIN`] (see [`spin_from`]).
///
/// # Errors
/// `InvalidParam` naming the variable.
pub fn spin_from_env() -> Result<Duration> {
    spin_from(&Settings::from_env())
}

/// The spin of [`SPIN_VAR`] in `settings`, or [`DEFAULT_SPIN`]; a malformed or too large value is refused.
///
/// # Errors
/// `InvalidParam` naming the variable.
pub fn spin_from(settings: &Settings) -> Result<Duration> {
    Ok(spin_setting(settings)?.unwrap_or(DEFAULT_SPIN))
}

/// The spin [`SPIN_VAR`] sets in `settings`, `None` when it is not set (the engine then picks [`auto_spin`]).
///
/// # Errors
/// `InvalidParam` naming the variable (malformed, or above [`MAX_SPIN`]).
pub fn spin_setting(settings: &Settings) -> Result<Option<Duration>> {
    match settings.get(SPIN_VAR) {
        None => Ok(None),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(us) if Duration::from_micros(us) <= MAX_SPIN => Ok(Some(Duration::from_micros(us))),
            _ => Err(Error::invalid(format!(
                "{SPIN_VAR}={v:?} must be a number of microseconds from 0 to {}",
                MAX_SPIN.as_micros()
            ))),
        },
    }
}

/// The engine's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// The address the progress thread listens on (port chosen by the system) and the other PEs connect to.
    pub listen_ip: IpAddr,
}

impl TcpConfig {
    /// `SHMEM_TCP_ADDR` if set, else `local_ip` (the address on the route to the store), else loopback.
    ///
    /// # Errors
    /// `InvalidParam` when `SHMEM_TCP_ADDR` is not an IP address, or is unspecified (`0.0.0.0`, `::`): the
    /// others could not connect to it.
    pub fn from_env(local_ip: Option<IpAddr>) -> Result<TcpConfig> {
        Self::from_settings(&Settings::from_env(), local_ip)
    }

    /// Like [`TcpConfig::from_env`], reading `settings` (the snapshot the runtime took at init).
    ///
    /// # Errors
    /// As [`TcpConfig::from_env`].
    pub fn from_settings(settings: &Settings, local_ip: Option<IpAddr>) -> Result<TcpConfig> {
        let listen_ip = match settings.get(ADDR_VAR) {
            Some(v) => {
                let ip: IpAddr = v.trim().parse().map_err(|_| {
                    Error::invalid(format!("{ADDR_VAR}={v:?} is not an IP address (e.g. 10.0.0.5 or fe80::1)"))
                })?;
                if ip.is_unspecified() {
                    return Err(Error::invalid(format!(
                        "{ADDR_VAR}={v:?} is unspecified: give an address the other nodes can connect to"
                    )));
                }
                ip
            }
            None => local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        };
        Ok(TcpConfig { listen_ip })
    }
}

#[cfg(test)]
mod spin_tests {
    use super::*;

    fn settings(v: Option<&str>) -> Settings {
        Settings::from_pairs(v.map(|v| (SPIN_VAR, v)))
    }

    #[test]
    fn the_spin_is_automatic_only_when_the_variable_is_unset() {
        assert_eq!(spin_setting(&settings(None)).unwrap(), None);
        assert_eq!(spin_setting(&settings(Some("0"))).unwrap(), Some(Duration::ZERO));
        assert_eq!(spin_setting(&settings(Some(" 20 "))).unwrap(), Some(Duration::from_micros(20)));
        assert_eq!(spin_setting(&settings(Some("10000"))).unwrap(), Some(MAX_SPIN));
        for bad in ["10001", "-1", "1e3", "fast", "", "18446744073709551616"] {
            assert_eq!(spin_setting(&settings(Some(bad))).unwrap_err().code(), -1, "{bad:?}");
        }
        assert_eq!(spin_from(&settings(None)).unwrap(), DEFAULT_SPIN);
    }

    #[test]
    fn the_automatic_spin_is_on_only_while_the_pes_here_fit_the_cores() {
        assert_eq!(auto_spin(1, 2), AUTO_SPIN);
        assert_eq!(auto_spin(2, 2), AUTO_SPIN);
        assert_eq!(auto_spin(3, 2), Duration::ZERO);
        assert_eq!(auto_spin(8, 2), Duration::ZERO);
        assert_eq!(auto_spin(64, 64), AUTO_SPIN);
    }
}
