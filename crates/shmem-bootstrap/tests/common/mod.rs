//! Helpers shared by the integration tests: stores on 127.0.0.1 with a free port, bounded waits.

#![allow(dead_code)]

use shmem_bootstrap::{StoreClient, StoreConfig, StoreServer, TlsConfig};
use shmem_core::attr::StoreUrl;
use std::time::Duration;

/// A URL on the loopback interface; port 0 lets the server pick a free port.
pub(crate) fn url(port: u16) -> StoreUrl {
    StoreUrl { host: "127.0.0.1".into(), port, ipv6: false }
}

/// A configuration with short timeouts, so that a failing test ends quickly.
pub(crate) fn config(port: u16, token: &str, tls: Option<TlsConfig>) -> StoreConfig {
    StoreConfig {
        url: url(port),
        token: token.into(),
        tls,
        connect_timeout: Duration::from_secs(5),
        op_timeout: Duration::from_secs(10),
    }
}

/// Starts a plain store on a free port; returns it with the configuration clients should use.
pub(crate) fn start() -> (StoreServer, StoreConfig) {
    start_with(None)
}

/// Starts a store (TLS when given) on a free port.
pub(crate) fn start_with(tls: Option<TlsConfig>) -> (StoreServer, StoreConfig) {
    let server = StoreServer::start(&config(0, "job-token", tls.clone())).expect("store starts");
    let cfg = config(server.local_addr().port(), "job-token", tls);
    (server, cfg)
}

/// Connects a client for `rank`. A rank joins once, so while the store has not yet seen the close of this
/// rank's previous client (dropped a moment ago by the test), the store refuses it: retry briefly then.
pub(crate) fn client(cfg: &StoreConfig, rank: u32) -> StoreClient {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match StoreClient::connect(cfg, rank) {
            Ok(c) => return c,
            Err(e)
                if (e.to_string().contains("already joined") || e.to_string().contains("already serves"))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("client {rank} connects: {e}"),
        }
    }
}
