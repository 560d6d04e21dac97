//! Where the TCP engine listens.

use shmem_core::{Error, Result};
use std::net::{IpAddr, Ipv4Addr};

/// Name of the variable that picks the address the engine listens on and advertises.
pub const ADDR_VAR: &str = "SHMEM_TCP_ADDR";

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
        let listen_ip = match std::env::var(ADDR_VAR) {
            Ok(v) => {
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
            Err(_) => local_ip.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        };
        Ok(TcpConfig { listen_ip })
    }
}
