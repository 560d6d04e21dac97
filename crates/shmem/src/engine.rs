//! The engine enum over the compiled transports and the per-peer routing table.
//!
//! Static dispatch: `Engine` is a plain enum with one variant per compiled transport (cargo features), and the
//! `dispatch!` macro expands each trait method into a `match` (crossbeam-channel's flavor style). The routing
//! table stores, per world PE, the index of the engine that reaches it.

use shmem_core::engine::{AtomicOp, AtomicWidth, Capabilities, DataOpEngine, SignalOp};
use shmem_core::{Error, HeapOffset, OpEngineType, Pe, Result};
use std::ptr::NonNull;

#[cfg(not(any(feature = "mte")))]
compile_error!("enable at least one engine feature of the `shmem` crate (e.g. `mte`)");

/// One compiled engine.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum Engine {
    /// Same-node load/store.
    #[cfg(feature = "mte")]
    Mte(transport_mte::MteEngine),
}

macro_rules! dispatch {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "mte")]
            Engine::Mte($e) => $body,
        }
    };
}

impl DataOpEngine for Engine {
    fn kind(&self) -> OpEngineType {
        dispatch!(self, e => e.kind())
    }
    fn capabilities(&self) -> Capabilities {
        dispatch!(self, e => e.capabilities())
    }
    fn reaches(&self, pe: Pe) -> bool {
        dispatch!(self, e => e.reaches(pe))
    }
    unsafe fn put(&self, pe: Pe, dst: HeapOffset, src: *const u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.put(pe, dst, src, len) })
    }
    unsafe fn get(&self, pe: Pe, src: HeapOffset, dst: *mut u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.get(pe, src, dst, len) })
    }
    unsafe fn put_nbi(&self, pe: Pe, dst: HeapOffset, src: *const u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.put_nbi(pe, dst, src, len) })
    }
    unsafe fn get_nbi(&self, pe: Pe, src: HeapOffset, dst: *mut u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.get_nbi(pe, src, dst, len) })
    }
    #[allow(clippy::too_many_arguments)]
    unsafe fn put_signal(
        &self,
        pe: Pe,
        dst: HeapOffset,
        src: *const u8,
        len: usize,
        sig: HeapOffset,
        value: u64,
        op: SignalOp,
    ) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.put_signal(pe, dst, src, len, sig, value, op) })
    }
    #[allow(clippy::too_many_arguments)]
    unsafe fn put_signal_nbi(
        &self,
        pe: Pe,
        dst: HeapOffset,
        src: *const u8,
        len: usize,
        sig: HeapOffset,
        value: u64,
        op: SignalOp,
    ) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.put_signal_nbi(pe, dst, src, len, sig, value, op) })
    }
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        dispatch!(self, e => e.atomic(pe, at, width, op))
    }
    fn fence(&self) -> Result<()> {
        dispatch!(self, e => e.fence())
    }
    fn quiet(&self) -> Result<()> {
        dispatch!(self, e => e.quiet())
    }
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        dispatch!(self, e => e.peer_ptr(pe, off))
    }
}

/// Engines enabled for this job and, per world PE, which of them carries its traffic.
#[derive(Debug)]
pub(crate) struct Router {
    engines: Vec<Engine>,
    /// `route[pe]` indexes `engines`.
    route: Vec<u8>,
}

impl Router {
    /// Picks, for every PE, the first engine of `engines` (in the order given) that reaches it.
    ///
    /// # Errors
    /// `InvalidParam` naming the first PE that no enabled engine reaches.
    pub(crate) fn new(engines: Vec<Engine>, n_pes: u32, enabled: OpEngineType) -> Result<Router> {
        let mut route = Vec::with_capacity(n_pes as usize);
        for pe in (0..n_pes).map(Pe) {
            let i = engines.iter().position(|e| e.reaches(pe)).ok_or_else(|| {
                Error::invalid(format!(
                    "{pe} is not reachable by any enabled engine ({enabled:?}): MTE and SDMA reach only PEs on this \
                     node; enable an engine that reaches other nodes (TCP 0x10 or ROCE 0x4)"
                ))
            })?;
            route.push(i as u8);
        }
        for e in &engines {
            tracing::info!(
                "data-op engine {:?} serves {} PEs",
                e.kind(),
                route.iter().filter(|&&i| engines[i as usize].kind() == e.kind()).count()
            );
        }
        Ok(Router { engines, route })
    }

    /// The engine that reaches `pe` (checked by the caller to be in range).
    #[inline]
    pub(crate) fn to(&self, pe: Pe) -> &Engine {
        &self.engines[self.route[pe.index()] as usize]
    }

    /// Every enabled engine (for `fence`/`quiet`).
    pub(crate) fn all(&self) -> &[Engine] {
        &self.engines
    }
}

/// The router is itself an engine: every operation goes to the engine that reaches its PE; `fence` and `quiet`
/// go to all. Collective algorithms (barriers) take it, so they work with any mix of engines.
impl DataOpEngine for Router {
    fn kind(&self) -> OpEngineType {
        self.engines.iter().fold(OpEngineType::empty(), |k, e| k | e.kind())
    }
    fn capabilities(&self) -> Capabilities {
        let all = self.engines.iter().map(|e| e.capabilities());
        all.fold(Capabilities { direct_pointers: true, asynchronous_nbi: true }, |a, c| Capabilities {
            direct_pointers: a.direct_pointers && c.direct_pointers,
            asynchronous_nbi: a.asynchronous_nbi && c.asynchronous_nbi,
        })
    }
    fn reaches(&self, pe: Pe) -> bool {
        pe.index() < self.route.len()
    }
    unsafe fn put(&self, pe: Pe, dst: HeapOffset, src: *const u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.to(pe).put(pe, dst, src, len) }
    }
    unsafe fn get(&self, pe: Pe, src: HeapOffset, dst: *mut u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.to(pe).get(pe, src, dst, len) }
    }
    unsafe fn put_signal(
        &self,
        pe: Pe,
        dst: HeapOffset,
        src: *const u8,
        len: usize,
        sig: HeapOffset,
        value: u64,
        op: SignalOp,
    ) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.to(pe).put_signal(pe, dst, src, len, sig, value, op) }
    }
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        self.to(pe).atomic(pe, at, width, op)
    }
    fn fence(&self) -> Result<()> {
        self.engines.iter().try_for_each(|e| e.fence())
    }
    fn quiet(&self) -> Result<()> {
        self.engines.iter().try_for_each(|e| e.quiet())
    }
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        self.to(pe).peer_ptr(pe, off)
    }
}

/// Builds the engines of `enabled` that this build has, over the node's mappings.
pub(crate) fn build_engines(
    enabled: OpEngineType,
    node: &std::sync::Arc<shmem_core::heap::NodeSegments>,
) -> Result<Vec<Engine>> {
    let mut out = Vec::new();
    for flag in enabled.iter() {
        match flag {
            #[cfg(feature = "mte")]
            OpEngineType::MTE => out.push(Engine::Mte(transport_mte::MteEngine::new(node.clone()))),
            other => {
                return Err(Error::NotSupported(format!(
                    "engine {other:?} is not compiled into this build of shmem (compiled: {}); rebuild with its cargo \
                     feature or choose another data_op_engine_type",
                    compiled_engines()
                )))
            }
        }
    }
    let _ = node;
    Ok(out)
}

/// Names of the engines this build has.
pub fn compiled_engines() -> &'static str {
    if cfg!(feature = "mte") {
        "MTE"
    } else {
        "none"
    }
}
