//! Core of the SHMEM runtime: the error type and its numeric codes, initialization attributes, the
//! [`DataOpEngine`](engine::DataOpEngine) trait every transport implements, the symmetric heap (shared-memory
//! segments, layout, deterministic allocator) and the launch-environment resolver.
//!
//! This crate knows no transport and starts no thread; it is the vocabulary the other crates share.
//!
//! # Design choices
//! - **One error enum** ([`Error`]) whose variants map one-to-one onto the numeric codes of the API.
//! - **Offsets, not addresses.** Remote memory is named by [`HeapOffset`] inside a PE's segment; a symmetric
//!   address is translated to a peer by its offset, never by assuming equal virtual addresses.
//! - **Validation happens above.** Engines trust that the facade checked PE ranges and bounds; they report
//!   only what no caller can foresee (peer gone, timeout, socket failure).

#![deny(missing_docs)]

pub mod attr;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod copy;
pub mod engine;
pub mod engine_setup;
pub mod error;
pub mod heap;
pub mod launch_env;
pub mod liveness;
pub mod settings;
pub mod type_table;
pub mod types;
pub mod wake;

pub use attr::{InitAttr, InitStatus, JobSecret, OpEngineType, OptionalAttr, StoreUrl, TeamConfig};
pub use error::{Error, Result};
pub use settings::Settings;
pub use types::{HeapOffset, Pe};
