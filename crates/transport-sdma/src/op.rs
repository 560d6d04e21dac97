//! What travels through the rings: descriptors, and the completion record that the pieces of one operation
//! share.

use crate::error::SdmaError;
use shmem_core::engine::SignalOp;
use shmem_core::{HeapOffset, Pe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Which way a descriptor copies, with the local end of the copy.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dir {
    /// Local memory at `src` into the peer's segment.
    Put {
        /// First byte of the local source.
        src: *const u8,
    },
    /// The peer's segment into local memory at `dst`.
    Get {
        /// First byte of the local destination.
        dst: *mut u8,
    },
}

/// One piece of work for a channel: copy `len` bytes between local memory and `pe`'s segment at `off`.
///
/// The remote end is an offset, resolved (and bounds-checked) against the node's mappings when the worker
/// executes it; the local end is the caller's pointer, valid until completion by the contract of the call
/// that issued it (see the crate docs, "Memory safety").
#[derive(Debug)]
pub(crate) struct Descriptor {
    /// Direction and local end.
    pub(crate) dir: Dir,
    /// The peer.
    pub(crate) pe: Pe,
    /// Offset of the remote end in the peer's segment.
    pub(crate) off: HeapOffset,
    /// Bytes to copy (0 for the lone piece of a signal-only put).
    pub(crate) len: usize,
    /// How many of the following channels (this one's index + 1, + 2, ... modulo the count) the worker kicks
    /// before copying: they hold the other pieces of a split transfer, pushed before this one.
    pub(crate) kick_next: usize,
    /// The operation this piece belongs to, when someone waits for it individually or a signal follows it;
    /// `None` for plain `_nbi` transfers, which only `quiet` waits for.
    pub(crate) op: Option<Arc<OpState>>,
}

/// What one descriptor weighs in a channel's backlog: its bytes plus a fixed charge for the descriptor itself,
/// so that a queue of tiny descriptors also counts as work.
pub(crate) fn cost(len: usize) -> usize {
    len.saturating_add(256)
}

// SAFETY: the only non-Send field is the local pointer in `dir`. The issuing call's contract keeps the memory
// behind it valid and untouched by the caller until the descriptor completes (blocking calls wait for it;
// `_nbi` callers may not touch it until `quiet` returns), so the worker thread may access it meanwhile.
unsafe impl Send for Descriptor {}

/// The signal update that follows the data of a put-with-signal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Signal {
    /// Offset of the 64-bit signal word in the peer's segment (8-aligned).
    pub(crate) off: HeapOffset,
    /// The operand.
    pub(crate) value: u64,
    /// Set or add.
    pub(crate) op: SignalOp,
}

/// Completion record of one operation whose pieces may run on several channels.
#[derive(Debug)]
pub(crate) struct OpState {
    /// The peer (the signal's target).
    pub(crate) pe: Pe,
    /// Pieces not yet executed. Starts at the number of pieces; the worker that takes it to zero finishes the
    /// operation (applies the signal, then sets `done`). Decremented with AcqRel so that the finishing worker
    /// has acquired every other piece's copy before it signals.
    remaining: AtomicUsize,
    /// Applied once every piece's data is in place, unless a piece failed.
    pub(crate) signal: Option<Signal>,
    /// Whether a caller waits for this operation and takes its error (blocking calls); otherwise errors go
    /// to the engine's slot and surface at the next `quiet`.
    pub(crate) blocking: bool,
    /// The first error of any piece or of the signal. Read by the finisher and the waiter only.
    error: Mutex<Option<SdmaError>>,
    /// Set with Release after everything (data, signal) is complete; the waiter loads it with Acquire.
    done: AtomicBool,
}

impl OpState {
    /// A record for an operation of `pieces` pieces (at least one).
    pub(crate) fn new(pe: Pe, pieces: usize, signal: Option<Signal>, blocking: bool) -> OpState {
        debug_assert!(pieces >= 1);
        OpState {
            pe,
            remaining: AtomicUsize::new(pieces),
            signal,
            blocking,
            error: Mutex::new(None),
            done: AtomicBool::new(false),
        }
    }

    /// Records `e` unless an earlier error is recorded.
    pub(crate) fn fail(&self, e: SdmaError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
    }

    /// Marks one piece executed; true for the piece that completes the operation's data.
    pub(crate) fn piece_done(&self) -> bool {
        // AcqRel: Release publishes this piece's copy (and any error it recorded) to the finisher; Acquire
        // makes the finisher see every other piece's, so its signal store orders after all the data.
        self.remaining.fetch_sub(1, Ordering::AcqRel) == 1
    }

    /// Whether a piece (or the signal) failed. Only meaningful for the finisher.
    pub(crate) fn failed(&self) -> bool {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Removes the recorded error.
    pub(crate) fn take_error(&self) -> Option<SdmaError> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Publishes completion (called once, by the finisher, after the signal).
    pub(crate) fn finish(&self) {
        // Release: the waiter that sees `true` sees the data, the signal and the error slot.
        self.done.store(true, Ordering::Release);
    }

    /// Whether the operation completed.
    pub(crate) fn is_done(&self) -> bool {
        // Acquire: pairs with `finish`.
        self.done.load(Ordering::Acquire)
    }
}
