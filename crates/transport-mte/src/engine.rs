//! [`MteEngine`]: the calling thread copies straight into and out of the peer's mapped segment.

use crate::config::ChunkConfig;
use crate::copy::{copy_streaming, CopyConfig};
use shmem_core::engine::{
    AtomicOp, AtomicWidth, BuildEngine, Capabilities, Completion, DataOpEngine, Get, Put, SignalOp,
};
use shmem_core::engine_setup::EngineSetup;
use shmem_core::heap::NodeSegments;
use shmem_core::{Error, HeapOffset, OpEngineType, Pe, Result};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// The same-node load/store engine.
#[derive(Debug)]
pub struct MteEngine {
    node: Arc<NodeSegments>,
    chunk: AtomicUsize,
    copy: CopyConfig,
}

impl MteEngine {
    /// An engine over the node's mapped segments, with the default copy settings.
    pub fn new(node: Arc<NodeSegments>) -> MteEngine {
        Self::with_copy(node, CopyConfig::default())
    }

    /// An engine over the node's mapped segments with the given copy settings (see [`CopyConfig`]).
    pub fn with_copy(node: Arc<NodeSegments>, copy: CopyConfig) -> MteEngine {
        MteEngine { node, chunk: AtomicUsize::new(ChunkConfig::default().size as usize), copy }
    }

    /// Applies `mte_set_ub_params`: later copies are split into chunks of `cfg.size` bytes.
    pub fn set_chunk(&self, cfg: ChunkConfig) {
        self.chunk.store(cfg.size as usize, Ordering::Relaxed);
    }

    #[inline]
    fn peer_span(&self, pe: Pe, off: HeapOffset, len: usize) -> Result<*mut u8> {
        let seg = self.node.peer(pe).ok_or_else(|| {
            Error::NotSupported(format!("{pe} is not on this node: the MTE engine reaches only same-node PEs"))
        })?;
        Ok(seg.span(off.0, len as u64)?.as_ptr())
    }

    /// Copies with memmove semantics, in chunks when the ranges do not overlap; copies of at least the
    /// streaming threshold use streaming stores (see `copy`).
    ///
    /// # Safety
    /// `src` readable and `dst` writable for `len` bytes.
    #[inline]
    unsafe fn copy(&self, dst: *mut u8, src: *const u8, len: usize) {
        let chunk = self.chunk.load(Ordering::Relaxed).max(1);
        let overlap =
            (src as usize) < (dst as usize).wrapping_add(len) && (dst as usize) < (src as usize).wrapping_add(len);
        if len <= chunk || overlap {
            // SAFETY: caller guarantees both ranges; `copy` tolerates overlap.
            unsafe { std::ptr::copy(src, dst, len) };
            return;
        }
        let streams = self.copy.streams(len);
        let mut done = 0;
        while done < len {
            let n = chunk.min(len - done);
            // SAFETY: done + n <= len, ranges valid by the caller's contract and disjoint (checked above).
            unsafe {
                if streams {
                    copy_streaming(dst.add(done), src.add(done), n);
                } else {
                    std::ptr::copy_nonoverlapping(src.add(done), dst.add(done), n);
                }
            }
            done += n;
        }
    }

    #[inline]
    fn word64(&self, pe: Pe, at: HeapOffset) -> Result<&AtomicU64> {
        let p = self.peer_span(pe, at, 8)?;
        debug_assert!((p as usize).is_multiple_of(8), "facade checks alignment");
        // SAFETY: p is an aligned, in-bounds word of a mapping that lives as long as &self; words used by
        // atomics are only accessed atomically by the runtime.
        Ok(unsafe { AtomicU64::from_ptr(p.cast()) })
    }
}

impl BuildEngine for MteEngine {
    /// Copy settings from `SHMEM_MTE_STREAM_MIN` (see [`CopyConfig::from_env`]).
    fn build(setup: &EngineSetup<'_>) -> Result<MteEngine> {
        Ok(MteEngine::with_copy(setup.heap.clone(), CopyConfig::from_lookup(setup.settings.lookup())?))
    }
}

impl DataOpEngine for MteEngine {
    fn kind(&self) -> OpEngineType {
        OpEngineType::MTE
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            direct_pointers: true,
            asynchronous_nbi: false,
            remote_writes_wake: true,
            cpu_coherent_atomics: true,
        }
    }

    fn reaches(&self, pe: Pe) -> bool {
        self.node.peer(pe).is_some()
    }

    /// Both modes copy before returning: the calling thread is the engine, so a deferred put is complete too.
    #[inline]
    unsafe fn put(&self, op: Put, _mode: Completion) -> Result<()> {
        let Put { pe, dst, src, len, signal } = op;
        let d = self.peer_span(pe, dst, len)?;
        let Some(sig) = signal else {
            // SAFETY: d..d+len is inside the peer's mapping (span checked); src is the caller's contract.
            unsafe { self.copy(d, src, len) };
            // A plain put skips the full fence before the wake check (see shmem_core::wake): a sleeper that
            // registers at this instant re-checks within its bounded sleep.
            self.node.wake(pe, dst, len as u64);
            return Ok(());
        };
        let w = self.word64(pe, sig.at)?;
        // SAFETY: as above.
        unsafe { self.copy(d, src, len) };
        // The SeqCst RMW is also a release: the data stores above are visible before the new signal value to
        // any waiter that loads the signal with acquire ordering.
        match sig.op {
            SignalOp::Set => w.swap(sig.value, Ordering::SeqCst),
            SignalOp::Add => w.fetch_add(sig.value, Ordering::SeqCst),
        };
        // One wake check covering data and signal: a waiter may watch either.
        let lo = dst.0.min(sig.at.0);
        let hi = (dst.0 + len as u64).max(sig.at.0 + 8);
        self.node.wake(pe, HeapOffset(lo), hi - lo);
        Ok(())
    }

    #[inline]
    unsafe fn get(&self, op: Get, _mode: Completion) -> Result<()> {
        let s = self.peer_span(op.pe, op.src, op.len)?;
        // SAFETY: s..s+len is inside the peer's mapping; dst is the caller's contract.
        unsafe { self.copy(op.dst, s, op.len) };
        Ok(())
    }

    #[inline]
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        self.node.atomic(pe, at, width, op)
    }

    #[inline]
    fn fence(&self) -> Result<()> {
        fence(Ordering::SeqCst);
        Ok(())
    }

    #[inline]
    fn quiet(&self) -> Result<()> {
        fence(Ordering::SeqCst);
        Ok(())
    }

    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        self.node.ptr(pe, off, 0)
    }
}
