//! The engine enum over the compiled transports and the per-peer routing table.
//!
//! Static dispatch: `Engine` is a plain enum with one variant per compiled transport (cargo features), and the
//! `dispatch!` macro expands each trait method into a `match` (crossbeam-channel's flavor style). The routing
//! table stores, per world PE, the index of the engine that reaches it.

use shmem_core::engine::{
    AtomicOp, AtomicWidth, BuildEngine, Capabilities, Completion, DataOpEngine, DomainId, Get, Put,
};
use shmem_core::engine_setup::EngineSetup;
use shmem_core::{Error, HeapOffset, OpEngineType, Pe, Result};
use std::ptr::NonNull;

/// The one table of compiled engines. Each row: cargo feature, enum variant, stored type (built through
/// [`BuildEngine`]), the engine's flag. Adding an engine is a crate implementing `DataOpEngine` and
/// `BuildEngine`, a feature, and a row here; the enum, its dispatch, the compiled-engine list and the builder
/// all come from the table.
macro_rules! engine_table {
    ($($feature:literal => $variant:ident($ty:ty), $flag:ident;)+) => {
        #[cfg(not(any($(feature = $feature),+)))]
        compile_error!(concat!("enable at least one engine feature of the `shmem` crate:" $(, " `", $feature, "`")+));

        /// One compiled engine.
        #[derive(Debug)]
        #[non_exhaustive]
        pub(crate) enum Engine {
            $(
                #[doc = concat!("The ", stringify!($flag), " engine (feature `", $feature, "`).")]
                #[cfg(feature = $feature)]
                $variant($ty),
            )+
        }

        /// Expands `$body` once per compiled variant with `$e` bound to the engine.
        macro_rules! dispatch {
            ($self:ident, $e:ident => $body:expr) => {
                match $self {
                    $(
                        #[cfg(feature = $feature)]
                        Engine::$variant($e) => $body,
                    )+
                }
            };
        }

        /// The engines this build has, in flag order.
        pub(crate) fn compiled() -> OpEngineType {
            let mut set = OpEngineType::empty();
            $(
                #[cfg(feature = $feature)]
                {
                    set |= OpEngineType::$flag;
                }
            )+
            set
        }

        /// Builds the engine of one flag, if this build has it.
        fn build_one(flag: OpEngineType, setup: &EngineSetup<'_>) -> Option<Result<Engine>> {
            $(
                #[cfg(feature = $feature)]
                if flag == OpEngineType::$flag {
                    return Some(<$ty as BuildEngine>::build(setup).map(Engine::$variant));
                }
            )+
            let _ = (flag, setup);
            None
        }
    };
}

engine_table! {
    "mte" => Mte(transport_mte::MteEngine), MTE;
    "sdma" => Sdma(Box<transport_sdma::SdmaEngine>), SDMA;
    "roce" => Roce(Box<transport_roce::RoceEngine>), ROCE;
    "tcp" => Tcp(Box<transport_tcp::TcpEngine>), TCP;
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
    #[inline]
    unsafe fn put(&self, op: Put, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.put(op, mode) })
    }
    #[inline]
    unsafe fn get(&self, op: Get, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.get(op, mode) })
    }
    #[inline]
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        dispatch!(self, e => e.atomic(pe, at, width, op))
    }
    #[inline]
    fn fence(&self) -> Result<()> {
        dispatch!(self, e => e.fence())
    }
    #[inline]
    fn quiet(&self) -> Result<()> {
        dispatch!(self, e => e.quiet())
    }
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        dispatch!(self, e => e.peer_ptr(pe, off))
    }
    fn open_domain(&self, d: DomainId) -> Result<()> {
        dispatch!(self, e => e.open_domain(d))
    }
    fn close_domain(&self, d: DomainId) {
        dispatch!(self, e => e.close_domain(d))
    }
    unsafe fn put_in(&self, d: DomainId, op: Put, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.put_in(d, op, mode) })
    }
    unsafe fn get_in(&self, d: DomainId, op: Get, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        dispatch!(self, e => unsafe { e.get_in(d, op, mode) })
    }
    fn fence_in(&self, d: DomainId) -> Result<()> {
        dispatch!(self, e => e.fence_in(d))
    }
    fn quiet_in(&self, d: DomainId) -> Result<()> {
        dispatch!(self, e => e.quiet_in(d))
    }
    fn progress(&self) -> bool {
        dispatch!(self, e => e.progress())
    }
    fn needs_progress(&self) -> bool {
        dispatch!(self, e => e.needs_progress())
    }
    fn progress_release(&self) {
        dispatch!(self, e => e.progress_release())
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
    /// `atomics[pe]` indexes `engines`: the engine for atomics and signalled puts to `pe` (the primary, unless an
    /// engine whose atomics are not coherent with CPU atomics reaches `pe`: then that one, for every such PE).
    atomics: Vec<u8>,
    /// `fence_quiets[i]`: engine `i` carries puts to some PE whose atomics and signals go through another
    /// engine, so an engine-local fence cannot order them; `fence` completes its puts instead (see
    /// [`Router::fence`]).
    fence_quiets: Vec<bool>,
    policy: BulkPolicy,
    /// Every engine works with the calling CPU alone: its operations are loads, stores, copies and atomics on
    /// mapped memory that complete before the call returns (no asynchronous transfers, no software progress,
    /// no NIC atomics). Then a runtime call blocks only in the waits of `shmem_sync`, which call the "about to
    /// block" hook first (see `shmem_sync::hook` and [`Router::before_engine_block`]).
    cpu_only: bool,
    /// The engines' capabilities together and whether one needs a driving thread, fixed when the router is
    /// made: every wait context asks (twice per barrier), and folding them again cost each small collective.
    caps: Capabilities,
    driven: bool,
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
    pub(crate) fn from_settings(settings: &shmem_core::Settings) -> Result<BulkPolicy> {
        let read = |name: &str, default: usize| -> Result<usize> {
            match settings.get(name) {
                None => Ok(default),
                Some(v) if v.trim().eq_ignore_ascii_case("off") => Ok(usize::MAX),
                Some(v) => shmem_core::launch_env::parse_size(v).map(|s| s as usize).map_err(|_| {
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
            // A network engine reaches every PE; on a job whose PEs an earlier engine reaches already (one
            // node), it simply stands by. An engine that serves nobody although it cannot reach everybody is a
            // mistake worth an error.
            let reaches_all = (0..n_pes).all(|pe| e.reaches(Pe(pe)));
            if served + bulk_served == 0 && !reaches_all {
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
        // NIC atomics (RDMA) are not atomic together with CPU atomics on the same word: when such an engine is
        // enabled, every atomic and signal update it can carry goes through it, same-node PEs included.
        let nic = engines.iter().position(|e| !e.capabilities().cpu_coherent_atomics);
        let atomics: Vec<u8> = (0..n_pes)
            .map(|pe| match nic {
                Some(i) if engines[i].reaches(Pe(pe)) => i as u8,
                _ => route[pe as usize],
            })
            .collect();
        if let Some(i) = nic {
            tracing::info!("atomics and signal updates go through {:?} (its atomics are the NIC's)", engines[i].kind());
        }
        if bulk.iter().any(|&b| b != NO_BULK) {
            tracing::info!(
                "same-node policy, transfers that go to SDMA: nbi {}, blocking {}",
                size_or_off(policy.nbi_min),
                size_or_off(policy.blocking_min)
            );
        }
        let fence_quiets = (0..engines.len())
            .map(|i| {
                (0..n_pes as usize).any(|pe| {
                    let carries_puts = route[pe] as usize == i || bulk[pe] as usize == i;
                    carries_puts && atomics[pe] as usize != i
                })
            })
            .collect();
        let cpu_only = engines.iter().all(|e| {
            let c = e.capabilities();
            c.direct_pointers && c.cpu_coherent_atomics && !c.asynchronous_nbi && !e.needs_progress()
        });
        let caps = Capabilities::all_of(engines.iter().map(|e| e.capabilities()));
        let driven = engines.iter().any(|e| e.needs_progress());
        Ok(Router { engines, route, bulk, atomics, fence_quiets, policy, cpu_only, caps, driven })
    }

    /// The engine that reaches `pe` (checked by the caller to be in range): the one for atomics and small
    /// transfers.
    #[inline]
    pub(crate) fn to(&self, pe: Pe) -> &Engine {
        &self.engines[self.route[pe.index()] as usize]
    }

    /// Calls this thread's "about to block" hook (`shmem_sync::hook`) unless every engine works with the
    /// calling CPU alone: a runtime call that may block in an engine (a network round trip, a quiet waiting for
    /// a copy engine) and not only in the waits of `shmem_sync` calls this first, so that a caller holding the
    /// GIL gives it up before anything can take long.
    #[inline]
    pub(crate) fn before_engine_block(&self) {
        if !self.cpu_only {
            shmem_sync::hook::before_block();
        }
    }

    /// The engine for atomics on `pe`'s words and for puts with a signal to `pe`.
    #[inline]
    pub(crate) fn for_atomic(&self, pe: Pe) -> &Engine {
        &self.engines[self.atomics[pe.index()] as usize]
    }

    /// The engine for a put: a signalled put goes where the signal word's other updates go.
    #[inline]
    fn for_put(&self, op: &Put, mode: Completion) -> &Engine {
        if op.signal.is_some() {
            self.for_atomic(op.pe)
        } else {
            self.for_op(op.pe, op.len, mode == Completion::Deferred)
        }
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
    #[inline]
    pub(crate) fn all(&self) -> &[Engine] {
        &self.engines
    }
}

/// The router is itself an engine: every operation goes to the engine that reaches its PE (data transfers
/// through [`Router::for_op`], so the bulk policy applies to them too); `fence` and `quiet` go to all.
/// Collective algorithms (barriers) take it, so they work with any mix of engines.
impl DataOpEngine for Router {
    fn kind(&self) -> OpEngineType {
        self.engines.iter().fold(OpEngineType::empty(), |k, e| k | e.kind())
    }
    #[inline]
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    fn reaches(&self, pe: Pe) -> bool {
        pe.index() < self.route.len()
    }
    #[inline]
    unsafe fn put(&self, op: Put, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.for_put(&op, mode).put(op, mode) }
    }
    #[inline]
    unsafe fn get(&self, op: Get, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.for_op(op.pe, op.len, mode == Completion::Deferred).get(op, mode) }
    }
    #[inline]
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        self.for_atomic(pe).atomic(pe, at, width, op)
    }
    /// Orders every earlier put before every later put, AMO and signal to the same PE. An engine's own fence
    /// orders only its own stream, so an engine whose puts' target PE gets its atomics and signals through
    /// another engine completes its puts instead (SDMA's fence already is a quiet; MTE's puts are complete on
    /// return, its quiet a memory fence).
    #[inline]
    fn fence(&self) -> Result<()> {
        self.engines.iter().zip(&self.fence_quiets).try_for_each(|(e, &q)| if q { e.quiet() } else { e.fence() })
    }
    /// Every engine's quiet runs even after one failed (the first error is returned): a caller given the error
    /// may reuse buffers that another engine's transfers still use.
    #[inline]
    fn quiet(&self) -> Result<()> {
        let mut first = Ok(());
        for e in &self.engines {
            let r = e.quiet();
            first = first.and(r);
        }
        first
    }
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        self.to(pe).peer_ptr(pe, off)
    }
    /// Opens `d` on every engine; when one fails, closes it again on those that opened it.
    fn open_domain(&self, d: DomainId) -> Result<()> {
        for (i, e) in self.engines.iter().enumerate() {
            if let Err(err) = e.open_domain(d) {
                self.engines[..i].iter().for_each(|e| e.close_domain(d));
                return Err(err);
            }
        }
        Ok(())
    }
    fn close_domain(&self, d: DomainId) {
        self.engines.iter().for_each(|e| e.close_domain(d))
    }
    unsafe fn put_in(&self, d: DomainId, op: Put, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.for_put(&op, mode).put_in(d, op, mode) }
    }
    unsafe fn get_in(&self, d: DomainId, op: Get, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.for_op(op.pe, op.len, mode == Completion::Deferred).get_in(d, op, mode) }
    }
    fn fence_in(&self, d: DomainId) -> Result<()> {
        // As `fence`, within the domain.
        self.engines
            .iter()
            .zip(&self.fence_quiets)
            .try_for_each(|(e, &q)| if q { e.quiet_in(d) } else { e.fence_in(d) })
    }
    fn quiet_in(&self, d: DomainId) -> Result<()> {
        self.engines.iter().try_for_each(|e| e.quiet_in(d))
    }
    /// Lends the waiting thread to every engine (each one that has nothing to do returns at once).
    fn progress(&self) -> bool {
        self.engines.iter().fold(false, |did, e| e.progress() | did)
    }
    #[inline]
    fn needs_progress(&self) -> bool {
        self.driven
    }
    fn progress_release(&self) {
        self.engines.iter().for_each(|e| e.progress_release())
    }
}

/// Fails early, before any PE talks to another, when `enabled` names an engine this build lacks.
pub(crate) fn check_compiled(enabled: OpEngineType) -> Result<()> {
    let missing = enabled - compiled();
    if !missing.is_empty() {
        return Err(not_compiled(missing));
    }
    Ok(())
}

fn not_compiled(missing: OpEngineType) -> Error {
    Error::NotSupported(format!(
        "engine {missing:?} is not compiled into this build of shmem (compiled: {}); rebuild with its cargo \
         feature or choose another data_op_engine_type",
        compiled_engines()
    ))
}

/// Builds the engines of `enabled` that this build has, in flag order, from the job's set-up.
pub(crate) fn build_engines(enabled: OpEngineType, setup: &EngineSetup<'_>) -> Result<Vec<Engine>> {
    enabled.iter().map(|flag| build_one(flag, setup).unwrap_or_else(|| Err(not_compiled(flag)))).collect()
}

/// Names of the engines this build has (`"MTE, SDMA"`).
pub fn compiled_engines() -> String {
    let names: Vec<&str> = compiled().iter_names().map(|(name, _)| name).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The conformance suite through the router with both same-node engines (MTE for small transfers and
/// atomics, SDMA for bulk), and the router's own promise: `_nbi` reaches the asynchronous engine.
#[cfg(all(test, feature = "mte", feature = "sdma"))]
mod router_tests {
    use super::*;
    use shmem_core::conformance::Testbed;

    /// Bulk transfers from 64 KiB on (both modes, so the blocking path through SDMA is covered too).
    fn build(setup: &EngineSetup<'_>) -> Result<Router> {
        let both = OpEngineType::MTE | OpEngineType::SDMA;
        let policy = BulkPolicy { nbi_min: 64 << 10, blocking_min: 1 << 20 };
        Router::new(build_engines(both, setup)?, setup.n_pes, both, policy)
    }

    // Without `same_node_only`: a router refuses, at build, a job where some PE is unreachable.
    shmem_core::conformance_tests!(build);

    #[test]
    fn fence_completes_the_copy_engines_puts_because_atomics_go_through_mte() {
        let bed = Testbed::new(2, build);
        let r = &bed.engines[0];
        let kinds: Vec<_> = r.engines.iter().map(|e| e.kind()).collect();
        assert_eq!(kinds, [OpEngineType::MTE, OpEngineType::SDMA]);
        // MTE carries the small puts and every atomic: its own fence orders them. SDMA's bulk puts must complete.
        assert_eq!(r.fence_quiets, [false, true]);
    }

    #[test]
    fn nbi_through_the_router_is_asynchronous_on_the_copy_engine() {
        let bed = Testbed::new(2, build);
        let r = &bed.engines[0];
        const PIECE: usize = 1 << 20;
        assert_eq!(r.for_op(Pe(1), PIECE, true).kind(), OpEngineType::SDMA, "bulk nbi goes to SDMA");
        assert_eq!(r.for_op(Pe(1), 8, true).kind(), OpEngineType::MTE, "small nbi stays on MTE");
        let data: Vec<u8> = (0..8 * PIECE).map(|i| (i % 251) as u8).collect();
        for i in 0..8 {
            let put = Put {
                pe: Pe(1),
                dst: HeapOffset((i * PIECE) as u64),
                src: data[i * PIECE..].as_ptr(),
                len: PIECE,
                signal: None,
            };
            // SAFETY: data lives until the quiet below.
            unsafe { r.put(put, Completion::Deferred) }.unwrap();
        }
        // Eight 1 MiB copies queued by eight calls: had the router made them blocking (as it once did, by not
        // forwarding put_nbi), nothing would be in flight now.
        let Engine::Sdma(sdma) = r.for_op(Pe(1), PIECE, true) else { panic!("not SDMA") };
        assert!(sdma.in_flight() > 0, "the router's nbi puts completed before returning: not asynchronous");
        r.quiet().unwrap();
        assert_eq!(sdma.in_flight(), 0);
        assert!(bed.local_bytes(1, 0, data.len()) == data, "data after quiet");
    }
}
