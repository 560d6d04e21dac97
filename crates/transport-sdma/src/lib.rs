#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod config;
mod engine;
mod error;
mod op;
mod ring;
mod wait;
mod worker;

pub use config::{
    SdmaConfig, CHANNELS_VAR, DEFAULT_IDLE_SPIN, DEFAULT_MAX_CHANNELS, DEFAULT_RING_CAPACITY, DEFAULT_SPLIT_BYTES,
    MAX_CHANNELS, MAX_IDLE_SPIN, MAX_RING_CAPACITY, MIN_SPLIT_BYTES, SPLIT_BYTES_VAR,
};
pub use engine::SdmaEngine;
