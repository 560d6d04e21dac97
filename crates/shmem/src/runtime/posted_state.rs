//! A team's state of the posted broadcast on this PE (sequence number, flow-control cache), kept with the team
//! in the runtime's table. The protocol that uses it is `crate::collectives::posted`; this file is below it so
//! that the runtime does not import the collectives (`tests/module_dag.rs`).

use std::sync::atomic::{AtomicU64, AtomicUsize};

/// Big buffers of a root's block (payloads above `collectives::posted::ENTRY_INLINE`, up to the 4 KiB inline
/// limit).
pub(crate) const BIG_BUFS: usize = 2;

/// This PE's side of one team's posted broadcasts (per team instance: a re-created slot starts afresh).
///
/// Plain atomics, not a lock: OpenSHMEM lets one thread at a time make a team's collectives, so nothing else
/// touches these during a call (a program that broke the rule would get wrong answers, as with any collective,
/// but no undefined behaviour). Measured: the lock was two of a small call's few atomic read-modify-writes.
#[derive(Debug, Default)]
pub(crate) struct Posted {
    /// The sequence number of this PE's next broadcast on the team.
    pub(crate) seq: AtomicU64,
    /// A lower bound of every member's done count (the root's cache: flow control reads no peer while the
    /// needed count is below it).
    pub(crate) min_done: AtomicU64,
    /// The big buffer this PE uses next as a root.
    pub(crate) big_next: AtomicUsize,
    /// Per big buffer, the done count every member must reach before it is written again (`s + 1` of the last
    /// call that used it; 0: never used).
    pub(crate) big_free_at: [AtomicU64; BIG_BUFS],
    /// Whether every member's heap is mapped here (asked once: the members never change).
    pub(crate) mapped: std::sync::OnceLock<bool>,
    /// Set when a call ended by a timeout or a job failure: this PE's sequence may then be out of step with its
    /// peers' (a member that gave up counts the call, a root that gave up may not), and a direct entry may still
    /// name a `source` its root has since reused, so a later call could pair with the wrong post and return
    /// wrong data. Every later posted broadcast on the team fails instead (and so do its barriers).
    pub(crate) poisoned: std::sync::atomic::AtomicBool,
}
