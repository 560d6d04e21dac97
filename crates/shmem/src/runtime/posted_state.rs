//! A team's state of the posted broadcast on this PE (sequence number, flow-control cache), kept with the team
//! in the runtime's table. The protocol that uses it is `crate::collectives::posted`; this file is below it so
//! that the runtime does not import the collectives (`tests/module_dag.rs`).

use std::sync::atomic::AtomicU64;

/// Bytes of a root's payload ring: payloads above `collectives::posted::ENTRY_INLINE`, up to the 4 KiB inline
/// limit, each in whole lines of [`RING_LINE`] bytes.
pub(crate) const PAYLOAD_RING_BYTES: usize = 8192;
/// Bytes of one line of the payload ring (the unit of its flow control).
pub(crate) const RING_LINE: usize = 64;
/// Lines of the payload ring.
pub(crate) const RING_LINES: usize = PAYLOAD_RING_BYTES / RING_LINE;

/// This PE's side of one team's posted broadcasts (per team instance: a re-created slot starts afresh).
///
/// Plain atomics, not a lock: OpenSHMEM lets one thread at a time make a team's collectives, so nothing else
/// touches these during a call (a program that broke the rule would get wrong answers, as with any collective,
/// but no undefined behaviour). Measured: the lock was two of a small call's few atomic read-modify-writes.
#[derive(Debug)]
pub(crate) struct Posted {
    /// The sequence number of this PE's next broadcast on the team.
    pub(crate) seq: AtomicU64,
    /// A lower bound of every member's done count (the root's cache: flow control reads no peer while the
    /// needed count is below it).
    pub(crate) min_done: AtomicU64,
    /// Where this PE, as a root, places its next payload in its payload ring (bytes, growing; the ring offset is
    /// this modulo [`PAYLOAD_RING_BYTES`]).
    pub(crate) ring_pos: AtomicU64,
    /// Per line of the payload ring, the done count every member must reach before it is written again (`s + 1`
    /// of the last call whose payload used it; 0: never used).
    pub(crate) line_free_at: Box<[AtomicU64]>,
    /// Whether every member's heap is mapped here (asked once: the members never change).
    pub(crate) mapped: std::sync::OnceLock<bool>,
    /// Set when a call ended by a timeout or a job failure: this PE's sequence may then be out of step with its
    /// peers' (a member that gave up counts the call, a root that gave up may not), and a direct entry may still
    /// name a `source` its root has since reused, so a later call could pair with the wrong post and return
    /// wrong data. Every later posted broadcast on the team fails instead (and so do its barriers).
    pub(crate) poisoned: std::sync::atomic::AtomicBool,
}

impl Default for Posted {
    fn default() -> Self {
        Posted {
            seq: AtomicU64::new(0),
            min_done: AtomicU64::new(0),
            ring_pos: AtomicU64::new(0),
            line_free_at: (0..RING_LINES).map(|_| AtomicU64::new(0)).collect(),
            mapped: std::sync::OnceLock::new(),
            poisoned: std::sync::atomic::AtomicBool::new(false),
        }
    }
}
