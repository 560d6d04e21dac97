//! The MTE engine: same-node peers, reached by direct loads and stores of the calling thread into the
//! peer's mapped segment. The lowest-latency path of the runtime.
//!
//! # How a put travels
//! The facade resolves the symmetric address to a heap offset and checks it; [`MteEngine`] adds the offset to
//! the peer's mapping base and copies (`memmove` semantics, in chunks of the configured size; streaming stores
//! for copies too large for the cache, see [`CopyConfig`]). Then it wakes
//! the peer's sleepers if any are registered. A put-with-signal updates the signal word with a sequentially
//! consistent atomic *after* the copy, so a waiter that observes the signal (with acquire ordering) observes
//! the data. Atomics are real atomic instructions on the shared mapping.
//!
//! # fence and quiet
//! Both are full memory fences: every store issued before them is globally visible before any store after.
//!
//! # What stays mapped
//! The engine holds an `Arc` of the node's mappings; they are unmapped when the runtime and the engine are
//! both gone.

#![deny(missing_docs)]

mod config;
mod copy;
mod engine;

pub use config::{ChunkConfig, DEFAULT_CHUNK_BYTES};
pub use copy::{copy_streaming, CopyConfig, DEFAULT_STREAM_MIN, STREAM_MIN_VAR};
pub use engine::MteEngine;
