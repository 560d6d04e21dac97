//! How PEs find each other: a small TCP key-value store served by PE 0, with every PE (0 included) a client.
//!
//! The store carries only control-plane traffic (heap segment names, barriers at init/finalize, job events);
//! data never goes through it.
//!
//! # Protocol
//! Frames are length-prefixed (see [`wire`]) with a hard size bound ([`wire::MAX_FRAME`]); every connection opens
//! with a handshake in which both sides prove the job's secret (see [`secret`]) without sending it (HMAC over
//! each other's fresh nonces; a client sends nothing more to a listener that cannot), and the client names its
//! rank, which the store checks (a rank joins once; see [`server`]). A malformed or
//! oversized frame closes that connection with a logged reason; the server never crashes on input.
//!
//! # Operations
//! set, get (blocking until the key exists, bounded by a timeout), add (atomic counter), compare-and-swap,
//! append, delete; `barrier` and `allgather` are built on top. A *watch* connection per PE receives job events
//! (global exit, a PE lost without finalize, the store going away).
//!
//! # TLS
//! With a [`TlsConfig`], server and clients use TLS 1.3 and authenticate each other (see [`tls`]).
//!
//! # Quick start
//! ```no_run
//! use shmem_bootstrap::{StoreClient, StoreConfig, StoreServer};
//! use shmem_core::attr::StoreUrl;
//! use std::time::Duration;
//!
//! let url = StoreUrl::parse("tcp://127.0.0.1:29600")?;
//! let cfg = StoreConfig {
//!     token: "a secret every PE of the job knows".into(),
//!     url,
//!     tls: None,
//!     connect_timeout: Duration::from_secs(120),
//!     op_timeout: Duration::from_secs(120),
//! };
//! let server = StoreServer::start(&cfg)?; // PE 0 only
//! let client = StoreClient::connect(&cfg, 0)?;
//! client.set("segment/0", b"shm-name")?;
//! client.barrier("init", 1, cfg.op_timeout)?;
//! server.shutdown();
//! # Ok::<(), shmem_core::Error>(())
//! ```
//!
//! # Design choices
//! - **Blocking sockets and plain threads** (no async runtime): the store is control plane only, a job has at
//!   most a few hundred PEs per store, and straight-line code is easier to get right (see [`server`]).
//! - **Waits are parked at the store**, bounded by the timeout each request carries, so a blocked `get` or
//!   barrier never holds up other clients; the store knows who arrived and names the missing ranks.
//! - **Hostile input is an error, not a crash**: every frame is bounded and decoded without panicking.
//!
//! # Thread safety
//! [`StoreClient`] is `Send + Sync`; concurrent calls are serialized on its one connection. A rank has one
//! client connection at a time (the store refuses a second one).
//!
//! # Resource cleanup
//! [`StoreServer`] and [`Watch`] stop their threads and close their sockets on drop.

#![deny(missing_docs)]

pub mod client;
mod conn;
pub mod secret;
pub mod server;
mod store;
pub mod tls;
pub mod wire;

pub use client::{is_wrong_secret, JobEvent, StoreClient, Watch};
pub use secret::{resolve_job_secret, ResolvedSecret, SecretSource};
pub use server::{StoreLimits, StoreServer};
pub use tls::TlsConfig;

use shmem_core::attr::StoreUrl;
use std::time::Duration;

/// Everything a store server or client needs to know.
#[derive(Clone)]
pub struct StoreConfig {
    /// Where the server listens / clients connect.
    pub url: StoreUrl,
    /// Per-job secret presented in every handshake (see [`secret::resolve_job_secret`]); never logged.
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
