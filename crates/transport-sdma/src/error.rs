//! The engine's private error, converted into [`shmem_core::Error`] at the trait boundary.

use shmem_core::{HeapOffset, Pe};

/// What can go wrong inside the SDMA engine.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SdmaError {
    /// The peer's segment is not mapped here: it is on another node.
    #[error("{pe} is not on this node: the SDMA engine reaches only same-node PEs")]
    NotOnNode {
        /// The unreachable PE.
        pe: Pe,
    },
    /// A range does not fit in the peer's segment (the facade should have caught it).
    #[error("{what} range {off}..+{len} B is outside the {seg_len} B segment of {pe}")]
    OutOfBounds {
        /// "data" or "signal".
        what: &'static str,
        /// The peer.
        pe: Pe,
        /// Start of the range.
        off: HeapOffset,
        /// Bytes of the range.
        len: u64,
        /// Bytes of the peer's segment.
        seg_len: usize,
    },
    /// A worker thread ended abnormally; work queued to it can never complete.
    #[error("sdma channel {channel} stopped (its worker thread panicked); drop the engine and create a new one")]
    ChannelDead {
        /// The channel.
        channel: usize,
    },
    /// Starting a worker thread failed.
    #[error("starting sdma channel {channel} failed: {source}; use fewer channels ({var})")]
    Spawn {
        /// The channel.
        channel: usize,
        /// The environment variable that sets the channel count.
        var: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl From<SdmaError> for shmem_core::Error {
    fn from(e: SdmaError) -> Self {
        match e {
            SdmaError::NotOnNode { .. } => shmem_core::Error::NotSupported(e.to_string()),
            SdmaError::OutOfBounds { .. } => shmem_core::Error::invalid(e.to_string()),
            SdmaError::ChannelDead { .. } | SdmaError::Spawn { .. } => shmem_core::Error::Inner(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let pe = Pe(3);
        let cases: [(SdmaError, i32); 3] = [
            (SdmaError::NotOnNode { pe }, -100),
            (SdmaError::OutOfBounds { what: "data", pe, off: HeapOffset(16), len: 8, seg_len: 8 }, -1),
            (SdmaError::ChannelDead { channel: 1 }, -4),
        ];
        for (e, code) in cases {
            let msg = e.to_string();
            let e: shmem_core::Error = e.into();
            assert_eq!(e.code(), code, "{msg}");
            assert!(e.to_string().contains(&msg));
        }
    }
}
