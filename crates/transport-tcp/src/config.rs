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

/// The default of [`SPIN_VAR`]: off. Spinning saves a sleep and wake-up per request only where the spinning
/// thread has a core of its own; on an oversubscribed machine it takes the core from the very thread it waits
/// for (measured on the shared 2-core machine: 8 B put + quiet 8 us without, 110 us with a 20 us spin). Set
/// e.g. `SHMEM_TCP_SPIN_US=20` on nodes with a core to spare per PE.
pub const DEFAULT_SPIN: Duration = Duration::ZERO;

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
    match settings.get(SPIN_VAR) {
        None => Ok(DEFAULT_SPIN),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(us) if Duration::from_micros(us) <= MAX_SPIN => Ok(Duration::from_micros(us)),
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
