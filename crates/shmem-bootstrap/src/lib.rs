//! How PEs find each other: a small TCP key-value store served by PE 0, with every PE (0 included) a client.
//!
//! The store carries only control-plane traffic (heap segment names, barriers at init/finalize, job events);
//! data never goes through it.
//!
//! # Protocol
//! Frames are length-prefixed (see [`wire`]) with a hard size bound ([`wire::MAX_FRAME`]); the first frame of
//! every connection is a handshake carrying the per-job token, which must match the server's. A malformed or
//! oversized frame closes that connection with a logged reason; the server never crashes on input.
//!
//! # Operations
//! set, get (blocking until the key exists, bounded by a timeout), add (atomic counter), compare-and-swap,
//! append, delete; `barrier` and `allgather` are built on top. A *watch* connection per PE receives job events
//! (global exit, a PE lost without finalize, the store going away).
//!
//! # TLS
//! With a [`TlsConfig`], server and clients use TLS 1.3 and authenticate each other (see [`tls`]).

pub mod client;
pub mod server;
pub mod tls;
pub mod wire;

pub use client::{JobEvent, StoreClient, Watch};
pub use server::StoreServer;
pub use tls::TlsConfig;

use shmem_core::attr::StoreUrl;
use std::time::Duration;

/// Everything a store server or client needs to know.
#[derive(Clone)]
pub struct StoreConfig {
    /// Where the server listens / clients connect.
    pub url: StoreUrl,
    /// Per-job secret presented in every handshake.
    pub token: String,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<TlsConfig>,
    /// How long clients keep retrying to connect (the job's `shm_init_timeout`).
    pub connect_timeout: Duration,
    /// Default bound of every blocking operation (the job's `control_operation_timeout`).
    pub op_timeout: Duration,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("tls", &self.tls.is_some())
            .field("connect_timeout", &self.connect_timeout)
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

/// Derives a job token from the store URL when the launcher provided none (so that two jobs on different
/// ports never talk to each other by mistake). It is not a secret; use the launcher's token or TLS for that.
pub fn default_token(url: &StoreUrl) -> String {
    format!("shmem-job@{url}")
}
