//! The engine enum over the compiled transports and the per-peer routing table.
//!
//! Static dispatch: `Engine` is a plain enum with one variant per compiled transport (cargo features), and the
//! `dispatch!` macro expands each trait method into a `match` (crossbeam-channel's flavor style). The routing
//! table stores, per world PE, the index of the engine that reaches it.

use shmem_core::engine::{AtomicOp, AtomicWidth, Capabilities, DataOpEngine, SignalOp};
use shmem_core::{Error, HeapOffset, OpEngineType, Pe, Result};
use std::ptr::NonNull;

#[cfg(not(any(feature = "mte", feature = "sdma")))]
compile_error!("enable at least one engine feature of the `shmem` crate (`mte`, `sdma`)");

/// One compiled engine.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum Engine {
    /// Same-node load/store.
    #[cfg(feature = "mte")]
    Mte(transport_mte::MteEngine),
    /// Same-node asynchronous copy engine.
    #[cfg(feature = "sdma")]
    Sdma(Box<transport_sdma::SdmaEngine>),
}

macro_rules! dispatch {
    ($self:ident, $e:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "mte")]
            Engine::Mte($e) => $body,
            #[cfg(feature = "sdma")]
            Engine::Sdma($e) => $body,
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
///
/// Per PE there is a primary engine (the first enabled one, in flag order, that reaches it) and, when SDMA is
/// enabled beside a synchronous engine that reaches the same PE, a bulk engine: data transfers of at least
/// [`BulkPolicy`]'s sizes go to the copy engine, everything else (and every atomic) to the primary.
#[derive(Debug)]
pub(crate) struct Router {
    engines: Vec<Engine>,
    /// `route[pe]` indexes `engines`.
    route: Vec<u8>,
    /// `bulk[pe]` indexes `engines`, or is [`NO_BULK`].
    bulk: Vec<u8>,
    policy: BulkPolicy,
}

const NO_BULK: u8 = u8::MAX;

fn size_or_off(bytes: usize) -> String {
    if bytes == usize::MAX {
        "never".to_string()
    } else {
        format!(">= {bytes} B")
    }
}

/// When a transfer goes to the asynchronous copy engine rather than the primary (with MTE|SDMA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BulkPolicy {
    /// `_nbi` transfers of at least this many bytes (`SHMEM_SDMA_NBI_MIN`, default 64 KiB).
    pub(crate) nbi_min: usize,
    /// Blocking transfers of at least this many bytes (`SHMEM_SDMA_BLOCKING_MIN`, default off).
    pub(crate) blocking_min: usize,
}

impl BulkPolicy {
    /// Reads `SHMEM_SDMA_NBI_MIN` and `SHMEM_SDMA_BLOCKING_MIN` (sizes like `64K`, or `off`).
    pub(crate) fn from_env() -> Result<BulkPolicy> {
        let read = |name: &str, default: usize| -> Result<usize> {
            match std::env::var(name) {
                Err(_) => Ok(default),
                Ok(v) if v.trim().eq_ignore_ascii_case("off") => Ok(usize::MAX),
                Ok(v) => shmem_core::launch_env::parse_size(&v).map(|s| s as usize).map_err(|_| {
                    Error::invalid(format!("{name}={v:?} must be a size in bytes (e.g. 64K, 4M) or `off`"))
                }),
            }
        };
        Ok(BulkPolicy {
            nbi_min: read("SHMEM_SDMA_NBI_MIN", 64 << 10)?,
            blocking_min: read("SHMEM_SDMA_BLOCKING_MIN", usize::MAX)?,
        })
    }
}

impl Router {
    /// Picks, for every PE, the first engine of `engines` (in the order given) that reaches it.
    ///
    /// # Errors
    /// `InvalidParam` naming the first PE that no enabled engine reaches.
    pub(crate) fn new(engines: Vec<Engine>, n_pes: u32, enabled: OpEngineType, policy: BulkPolicy) -> Result<Router> {
        let mut route = Vec::with_capacity(n_pes as usize);
        let mut bulk = Vec::with_capacity(n_pes as usize);
        for pe in (0..n_pes).map(Pe) {
            let i = engines.iter().position(|e| e.reaches(pe)).ok_or_else(|| {
                Error::invalid(format!(
                    "{pe} is not reachable by any enabled engine ({enabled:?}): MTE and SDMA reach only PEs on this \
                     node; enable an engine that reaches other nodes (TCP 0x10 or ROCE 0x4)"
                ))
            })?;
            route.push(i as u8);
            let copy = engines.iter().position(|e| e.kind() == OpEngineType::SDMA && e.reaches(pe));
            bulk.push(match copy {
                Some(c) if c != i => c as u8,
                _ => NO_BULK,
            });
        }
        for (i, e) in engines.iter().enumerate() {
            let served = route.iter().filter(|&&r| r as usize == i).count();
            let bulk_served = bulk.iter().filter(|&&b| b as usize == i).count();
            if served + bulk_served == 0 {
                return Err(Error::invalid(format!(
                    "engine {:?} is enabled but reaches no PE of this job; remove it from data_op_engine_type",
                    e.kind()
                )));
            }
            tracing::info!(
                "data-op engine {:?}: primary for {served} PEs, bulk transfers for {bulk_served} PEs",
                e.kind()
            );
        }
        if bulk.iter().any(|&b| b != NO_BULK) {
            tracing::info!(
                "same-node policy, transfers that go to SDMA: nbi {}, blocking {}",
                size_or_off(policy.nbi_min),
                size_or_off(policy.blocking_min)
            );
        }
        Ok(Router { engines, route, bulk, policy })
    }

    /// The engine that reaches `pe` (checked by the caller to be in range): the one for atomics and small
    /// transfers.
    #[inline]
    pub(crate) fn to(&self, pe: Pe) -> &Engine {
        &self.engines[self.route[pe.index()] as usize]
    }

    /// The engine for a transfer of `len` bytes to or from `pe`, blocking or not (see [`BulkPolicy`]).
    #[inline]
    pub(crate) fn for_op(&self, pe: Pe, len: usize, nbi: bool) -> &Engine {
        let b = self.bulk[pe.index()];
        let min = if nbi { self.policy.nbi_min } else { self.policy.blocking_min };
        if b != NO_BULK && len >= min {
            &self.engines[b as usize]
        } else {
            self.to(pe)
        }
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

/// Fails early, before any PE talks to another, when `enabled` names an engine this build lacks.
pub(crate) fn check_compiled(enabled: OpEngineType) -> Result<()> {
    let mut compiled = OpEngineType::empty();
    if cfg!(feature = "mte") {
        compiled |= OpEngineType::MTE;
    }
    if cfg!(feature = "sdma") {
        compiled |= OpEngineType::SDMA;
    }
    let missing = enabled - compiled;
    if !missing.is_empty() {
        return Err(Error::NotSupported(format!(
            "engine {missing:?} is not compiled into this build of shmem (compiled: {}); rebuild with its cargo \
             feature or choose another data_op_engine_type",
            compiled_engines()
        )));
    }
    Ok(())
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
            OpEngineType::MTE => {
                let copy = transport_mte::CopyConfig::from_env()?;
                out.push(Engine::Mte(transport_mte::MteEngine::with_copy(node.clone(), copy)))
            }
            #[cfg(feature = "sdma")]
            OpEngineType::SDMA => {
                let cfg = transport_sdma::SdmaConfig::from_env()?;
                tracing::info!("SDMA copy engine: {} channels", cfg.channels);
                out.push(Engine::Sdma(Box::new(transport_sdma::SdmaEngine::new(node.clone(), cfg)?)))
            }
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
    match (cfg!(feature = "mte"), cfg!(feature = "sdma")) {
        (true, true) => "MTE, SDMA",
        (true, false) => "MTE",
        (false, true) => "SDMA",
        (false, false) => "none",
    }
}
