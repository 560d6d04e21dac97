//! The MTE engine's tunable: the chunk size of its copies (`mte_set_ub_params`).

use shmem_core::{Error, Result};

/// Default copy chunk: large enough that chunking costs nothing measurable.
pub const DEFAULT_CHUNK_BYTES: usize = 16 << 20;

/// The staging-window parameters of `mte_set_ub_params(offset, size, event)`. On the host the window is the
/// chunk a copy is split into; `offset` and `event` are validated and kept for the device API's sake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkConfig {
    /// Start offset of the staging window (kept; must be a multiple of 32).
    pub offset: u64,
    /// Chunk size in bytes: at least 32, a multiple of 32, at most 1 GiB.
    pub size: u64,
    /// Synchronization event id (kept; 0..=65535).
    pub event: u32,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig { offset: 0, size: DEFAULT_CHUNK_BYTES as u64, event: 0 }
    }
}

impl ChunkConfig {
    /// Validates raw `mte_set_ub_params` values.
    pub fn new(offset: i64, size: i64, event: i64) -> Result<ChunkConfig> {
        if offset < 0 || offset % 32 != 0 {
            return Err(Error::invalid(format!("mte ub offset {offset} must be a non-negative multiple of 32")));
        }
        if !(32..=(1 << 30)).contains(&size) || size % 32 != 0 {
            return Err(Error::invalid(format!("mte ub size {size} must be a multiple of 32 in 32..=1 GiB")));
        }
        if !(0..=65535).contains(&event) {
            return Err(Error::invalid(format!("mte event id {event} must be in 0..=65535")));
        }
        Ok(ChunkConfig { offset: offset as u64, size: size as u64, event: event as u32 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(ChunkConfig::new(0, 4096, 0).is_ok());
        for (o, s, e) in
            [(-32, 4096, 0), (1, 4096, 0), (0, 0, 0), (0, 33, 0), (0, 1 << 31, 0), (0, 64, -1), (0, 64, 70000)]
        {
            assert_eq!(ChunkConfig::new(o, s, e).unwrap_err().code(), -1, "{o} {s} {e}");
        }
    }
}
