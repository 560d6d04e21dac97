//! [`SdmaEngine`]: puts and gets become descriptors on channel rings; worker threads do the copies.
//!
//! # How a put travels
//! The calling thread checks that the peer is mapped here (the facade has checked the range: the trait's
//! contract; debug builds assert it), splits a transfer of at least `split_bytes` into one page-aligned piece per channel, and pushes
//! each piece as a [`Descriptor`] onto a channel's ring. Small transfers go to a "hot" channel while its
//! backlog is under 64 KiB (its worker is awake, the others may sleep), then to the least loaded one, which
//! becomes hot; the pieces of a split transfer go to consecutive channels. The issuer kicks the channel's
//! worker if it sleeps and returns: that is all an `_nbi` call does. The worker resolves the heap offset
//! against the node's mappings again (bounds-checked), copies, wakes the peer's sleepers, and counts the
//! descriptor done. A put-with-signal carries an [`OpState`] shared by its pieces; the worker that executes
//! the last piece applies the signal (SeqCst atomic on the peer's word) and wakes the peer, so a waiter that
//! sees the signal sees all the data.
//!
//! Blocking transfers issued while nothing is in flight skip the rings when no channel could do better than
//! the waiting caller: below 64 KiB, and whenever the transfer would not be split across several channels
//! (with one channel, always). `_nbi` transfers always go to the channels.
//!
//! # What quiet waits for
//! Each channel executes its ring in order and publishes how many descriptors it has finished. `quiet` reads
//! every ring's claimed position and waits until each channel's finished count reaches it: everything this PE
//! pushed before `quiet` (from any thread) is then complete, signals included. Blocking calls wait only for
//! their own [`OpState`] (and, as in any FIFO queue, for what was ahead of their pieces on the same rings).
//! `fence` is `quiet`: with several channels, per-target order needs waiting for earlier puts anyway, and a
//! quiet is a valid (stronger) fence.
//!
//! # Completion domains (contexts)
//! Each open [`DomainId`] gets an engine of its own over the same mappings: one channel (one worker thread,
//! parked while idle), its own completion counters and error slot. A context's `_nbi` transfer thus never
//! queues behind another context's on a FIFO ring, and `quiet_in(d)` waits only for `d`'s channel. The plain
//! `quiet` completes the default channels and every open domain. Domains are opened and closed by the facade's
//! context calls, so a job without contexts starts no extra thread.
//!
//! # What stays mapped
//! The engine and its workers hold an `Arc` of the node's mappings; the workers are joined when the engine
//! drops, after draining their rings, so no copy outlives the engine.

use crate::config::SdmaConfig;
use crate::error::SdmaError;
use crate::op::{Descriptor, Dir, OpState, Signal};
use crate::ring::ring;
use crate::worker::{self, Channel, Shared};
use crossbeam_utils::CachePadded;
use shmem_core::engine::{
    AtomicOp, AtomicWidth, BuildEngine, Capabilities, Completion, DataOpEngine, DomainId, Get, Put,
};
use shmem_core::engine_setup::EngineSetup;
use shmem_core::heap::NodeSegments;
use shmem_core::{HeapOffset, OpEngineType, Pe, Result};
use std::collections::HashMap;
use std::fmt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

/// Pieces of a split transfer start on page boundaries (relative to the transfer's start).
const PIECE_ALIGN: usize = 4096;
/// Backlog (bytes plus a charge per descriptor) below which the hot channel takes more work.
const HOT_BACKLOG: usize = 64 << 10;
/// Blocking transfers below this size run on the calling thread when no descriptor is in flight: handing
/// them to a worker would cost a wake-up and a completion wait (microseconds, and far worse when the PEs
/// occupy every core) for a copy of well under a microsecond, and the caller waits for it anyway.
const INLINE_BELOW: usize = 64 << 10;

/// The same-node asynchronous copy engine: `channels` worker threads, each fed by a bounded lock-free ring.
///
/// Dropping it drains every ring (queued work completes) and joins the workers.
pub struct SdmaEngine {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    cfg: SdmaConfig,
    /// The "hot" channel: small transfers go there while its backlog is below [`HOT_BACKLOG`], so that a
    /// stream of small operations keeps one worker busy instead of waking them all. A hint (Relaxed).
    hot: CachePadded<AtomicUsize>,
    /// The open completion domains, each an engine of one channel over the same mappings (module docs).
    domains: RwLock<HashMap<DomainId, Arc<SdmaEngine>>>,
}

impl fmt::Debug for SdmaEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdmaEngine")
            .field("me", &self.shared.node.me())
            .field("cfg", &self.cfg)
            .field("in_flight", &self.in_flight())
            .finish()
    }
}

impl SdmaEngine {
    /// Starts an engine over the node's mapped segments: one worker thread per channel.
    ///
    /// # Errors
    /// [`shmem_core::Error::InvalidParam`] when `cfg` is out of range ([`SdmaConfig::validate`]);
    /// [`shmem_core::Error::Inner`] when a worker thread cannot be started (those already started are
    /// stopped and joined).
    pub fn new(node: Arc<NodeSegments>, cfg: SdmaConfig) -> Result<SdmaEngine> {
        cfg.validate()?;
        let me = node.me();
        let (channels, receivers): (Vec<_>, Vec<_>) = (0..cfg.channels)
            .map(|_| {
                let (tx, rx) = ring(cfg.ring_capacity);
                (Channel::new(tx), rx)
            })
            .unzip();
        let shared = Arc::new(Shared::new(node, channels.into_boxed_slice(), cfg.idle_spin));
        let mut engine = SdmaEngine {
            shared,
            workers: Vec::with_capacity(cfg.channels),
            cfg,
            hot: CachePadded::default(),
            domains: RwLock::default(),
        };
        for (index, rx) in receivers.into_iter().enumerate() {
            let shared = engine.shared.clone();
            let handle = std::thread::Builder::new()
                .name(format!("sdma{}.{index}", me.0))
                .spawn(move || worker::run(shared, index, rx))
                // On error `engine` drops here: its Drop stops and joins the workers started so far.
                .map_err(|source| SdmaError::Spawn { channel: index, var: crate::config::CHANNELS_VAR, source })?;
            // The thread is set before any descriptor can be pushed (the engine is not returned yet); unpark on
            // a channel without a thread is a no-op, and the worker would not be parked then anyway.
            let _ = engine.shared.channels[index].thread.set(handle.thread().clone());
            engine.workers.push(handle);
        }
        tracing::debug!("sdma engine of {me}: {} channel(s), split at {} B", cfg.channels, cfg.split_bytes);
        Ok(engine)
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &SdmaConfig {
        &self.cfg
    }

    /// Descriptors pushed but not yet executed, over all channels (a snapshot; zero after `quiet` when no
    /// other thread issues).
    pub fn in_flight(&self) -> u64 {
        self.shared.channels.iter().map(|ch| ch.ring.claimed().saturating_sub(ch.done())).sum()
    }

    /// The engine of an open domain; `None` for [`DomainId::DEFAULT`] (and for a domain never opened, which the
    /// facade does not pass: its operations then run on the default channels, a valid, stronger completion).
    fn domain(&self, d: DomainId) -> Option<Arc<SdmaEngine>> {
        if d == DomainId::DEFAULT {
            return None;
        }
        self.domains.read().unwrap_or_else(|e| e.into_inner()).get(&d).cloned()
    }

    /// Descriptors of domain `d` pushed but not yet executed (a snapshot; 0 for a domain that is not open).
    /// Tests use it to see that one domain's `quiet` left another's transfer in flight.
    pub fn domain_in_flight(&self, d: DomainId) -> u64 {
        match self.domain(d) {
            Some(e) => e.in_flight(),
            None if d == DomainId::DEFAULT => self.in_flight(),
            None => 0,
        }
    }

    /// The pieces a transfer of `len` bytes is split into: (piece length, number of pieces).
    fn split(&self, len: usize) -> (usize, usize) {
        let n = self.shared.channels.len();
        if n == 1 || len < self.cfg.split_bytes {
            return (len, 1);
        }
        let piece = len.div_ceil(n).next_multiple_of(PIECE_ALIGN);
        (piece, len.div_ceil(piece))
    }

    /// Validates and enqueues a transfer. Returns the operation's record when it has one (blocking calls and
    /// signals), `None` for a plain `_nbi` transfer or an empty one.
    ///
    /// The caller guarantees the local range for as long as the transfer can run (see the trait methods).
    fn issue(
        &self,
        dir: Dir,
        pe: Pe,
        off: HeapOffset,
        len: usize,
        signal: Option<Signal>,
        blocking: bool,
    ) -> Result<Option<Arc<OpState>>, SdmaError> {
        worker::check_target(&self.shared.node, pe, off, len as u64, signal.map(|s| s.off))?;
        if let Some(channel) = self.shared.dead_channel() {
            return Err(SdmaError::ChannelDead { channel });
        }
        if len == 0 && signal.is_none() {
            return Ok(None);
        }
        let (piece, pieces) = self.split(len);
        let op = (blocking || signal.is_some()).then(|| Arc::new(OpState::new(pe, pieces, signal, blocking)));
        let n = self.shared.channels.len();
        let first = self.pick();
        // Pieces go to consecutive channels (`pieces <= n`, so each to a different one), pushed last to first.
        // Only the first channel is kicked here; its descriptor tells its worker to kick the others. That is
        // one wake-up system call on the issue path at most, and when the first worker pops its piece the
        // others are already pushed (the reverse order), so the kicks it sends cannot come too early.
        for i in (0..pieces).rev() {
            let start = i * piece;
            let plen = piece.min(len - start);
            // wrapping_add: plain address arithmetic inside the caller's range (start < len); nothing is
            // dereferenced here.
            let dir = match dir {
                Dir::Put { src } => Dir::Put { src: src.wrapping_add(start) },
                Dir::Get { dst } => Dir::Get { dst: dst.wrapping_add(start) },
            };
            let kick_next = if i == 0 { pieces - 1 } else { 0 };
            let d = Descriptor { dir, pe, off: off.plus(start as u64), len: plen, kick_next, op: op.clone() };
            if let Err(e) = self.push((first + i) % n, d) {
                // The pieces already pushed lost their kicker: wake every channel so that they run.
                self.shared.channels.iter().for_each(Channel::kick);
                return Err(e);
            }
        }
        self.shared.channels[first].kick();
        Ok(op)
    }

    /// The channel for the next transfer (or its first piece): the hot one while its backlog is small,
    /// else the least loaded, which becomes hot. Small operations thus stay on a worker that is awake, and
    /// a stream of medium ones spreads over the channels.
    fn pick(&self) -> usize {
        let channels = &self.shared.channels;
        if channels.len() == 1 {
            return 0;
        }
        // Relaxed: `hot` and the backlogs are hints; no data is published through them.
        let hot = self.hot.load(Ordering::Relaxed) % channels.len();
        if channels[hot].backlog() < HOT_BACKLOG {
            return hot;
        }
        let (best, _) = channels.iter().enumerate().min_by_key(|(_, ch)| ch.backlog()).unwrap_or((hot, &channels[hot]));
        self.hot.store(best, Ordering::Relaxed);
        best
    }

    /// Pushes onto channel `index`, waiting while its ring is full. The caller kicks the channel afterwards.
    fn push(&self, index: usize, mut d: Descriptor) -> Result<(), SdmaError> {
        let ch = &self.shared.channels[index];
        ch.charge(d.len);
        loop {
            match ch.ring.push(d) {
                Ok(_) => return Ok(()),
                Err(back) => {
                    d = back;
                    ch.kick();
                    if ch.is_dead() {
                        ch.discharge(d.len);
                        return Err(SdmaError::ChannelDead { channel: index });
                    }
                    self.shared.completions.wait_until(|| (!ch.ring.is_full() || ch.is_dead()).then_some(()));
                }
            }
        }
    }

    /// Issues a transfer and waits for its own completion. On an idle engine the caller copies by itself when
    /// no channel could do better: small transfers (see [`INLINE_BELOW`]), and any transfer that would not be
    /// split across several channels. A lone worker copies no faster than the waiting caller, and it reads data
    /// the caller just wrote from another core's cache (measured: 0.87x memcpy at 1-4 MiB through the worker,
    /// 1.0x on the caller). `_nbi` transfers always go to the channels: overlap is their point.
    fn blocking(&self, dir: Dir, pe: Pe, off: HeapOffset, len: usize, signal: Option<Signal>) -> Result<()> {
        let splits = self.split(len).1 > 1;
        if (len < INLINE_BELOW || !splits) && self.in_flight() == 0 {
            worker::check_target(&self.shared.node, pe, off, len as u64, signal.map(|s| s.off))?;
            let d = Descriptor { dir, pe, off, len, kick_next: 0, op: None };
            self.shared.copy(&d)?;
            if let Some(s) = signal {
                self.shared.signal(pe, s)?;
            }
            return Ok(());
        }
        let op = match self.issue(dir, pe, off, len, signal, true) {
            Ok(Some(op)) => op,
            Ok(None) => return Ok(()),
            Err(e @ SdmaError::ChannelDead { .. }) => {
                // Some pieces may be queued on live channels: they read or write the caller's buffer, so wait
                // for them before the caller gets it back.
                let _ = self.shared.wait_channels();
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let finished = self.shared.completions.wait_until(|| {
            if op.is_done() {
                Some(true)
            } else {
                self.shared.dead_channel().map(|_| false)
            }
        });
        if !finished {
            // A piece sits on a dead channel; wait for the live ones (see above), then report.
            self.shared.wait_channels()?;
        }
        match op.take_error() {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

impl Drop for SdmaEngine {
    fn drop(&mut self) {
        // Release: pairs with the workers' Acquire load: every descriptor pushed before this store is visible
        // to their last look at the rings, so they drain it before they exit.
        self.shared.shutdown.store(true, Ordering::Release);
        for ch in self.shared.channels.iter() {
            // Unconditional: `park` keeps the token, so a worker about to park returns at once.
            ch.unpark();
        }
        for (index, handle) in self.workers.drain(..).enumerate() {
            if handle.join().is_err() {
                tracing::error!("sdma channel {index} panicked; its queued work did not run");
            }
        }
        if let Some(e) = self.shared.take_error() {
            tracing::warn!("sdma: work drained at engine drop failed: {e}");
        }
    }
}

impl BuildEngine for SdmaEngine {
    /// Channels and their sizes come from `SHMEM_SDMA_*` (see [`SdmaConfig::from_env`]).
    fn build(setup: &EngineSetup<'_>) -> Result<SdmaEngine> {
        let cfg = SdmaConfig::from_lookup(setup.settings.lookup())?;
        tracing::info!("SDMA copy engine: {} channels", cfg.channels);
        SdmaEngine::new(setup.heap.clone(), cfg)
    }
}

impl DataOpEngine for SdmaEngine {
    fn kind(&self) -> OpEngineType {
        OpEngineType::SDMA
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            direct_pointers: true,
            asynchronous_nbi: true,
            remote_writes_wake: true,
            cpu_coherent_atomics: true,
        }
    }

    fn reaches(&self, pe: Pe) -> bool {
        self.shared.node.peer(pe).is_some()
    }

    unsafe fn put(&self, op: Put, mode: Completion) -> Result<()> {
        let Put { pe, dst, src, len, signal } = op;
        let signal = signal.map(|s| Signal { off: s.at, value: s.value, op: s.op });
        match mode {
            // The source is borrowed only until this call returns, and it returns after the copy completed.
            Completion::Blocking => self.blocking(Dir::Put { src }, pe, dst, len, signal),
            // The caller keeps `src` valid and unmodified until the next quiet (the trait's contract), which
            // waits for this descriptor.
            Completion::Deferred => {
                self.issue(Dir::Put { src }, pe, dst, len, signal, false)?;
                Ok(())
            }
        }
    }

    unsafe fn get(&self, op: Get, mode: Completion) -> Result<()> {
        let Get { pe, src, dst, len } = op;
        match mode {
            Completion::Blocking => self.blocking(Dir::Get { dst }, pe, src, len, None),
            Completion::Deferred => {
                self.issue(Dir::Get { dst }, pe, src, len, None, false)?;
                Ok(())
            }
        }
    }

    /// Done by the calling thread, not queued: an atomic is one instruction on a coherent mapping, the caller
    /// needs its result at once, and a round trip through a ring would only add latency. Atomicity holds
    /// whichever thread executes it. Like any operation, it is not ordered after earlier `_nbi` puts unless a
    /// `fence` or `quiet` separates them.
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        self.shared.node.atomic(pe, at, width, op)
    }

    /// Waits like [`DataOpEngine::quiet`] (see the module docs for why).
    fn fence(&self) -> Result<()> {
        self.quiet()
    }

    /// Completes the default channels, then every open domain. Every wait runs even after an error (the first
    /// is returned): a caller given the error may free or reuse buffers that queued copies still read or write.
    fn quiet(&self) -> Result<()> {
        let mut first: Option<shmem_core::Error> = self.shared.wait_channels().err().map(Into::into);
        // (A deferred error stays for the next quiet when this one already has an error to report.)
        if first.is_none() {
            first = self.shared.take_error().map(Into::into);
        }
        let domains: Vec<Arc<SdmaEngine>> =
            self.domains.read().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        for d in &domains {
            if let Err(e) = d.quiet() {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Starts the domain's one-channel engine (a parked worker thread until the domain's first transfer).
    fn open_domain(&self, d: DomainId) -> Result<()> {
        if d == DomainId::DEFAULT {
            return Ok(());
        }
        let engine = SdmaEngine::new(self.shared.node.clone(), SdmaConfig { channels: 1, ..self.cfg })?;
        self.domains.write().unwrap_or_else(|e| e.into_inner()).insert(d, Arc::new(engine));
        Ok(())
    }

    /// Drops the domain's engine: its worker drains what is queued and is joined (once the last in-progress
    /// call on the domain returned its reference).
    fn close_domain(&self, d: DomainId) {
        let gone = self.domains.write().unwrap_or_else(|e| e.into_inner()).remove(&d);
        drop(gone);
    }

    unsafe fn put_in(&self, d: DomainId, op: Put, mode: Completion) -> Result<()> {
        match self.domain(d) {
            // SAFETY: forwarded contract; the domain's quiet_in (or quiet) completes it.
            Some(e) => unsafe { e.put(op, mode) },
            // SAFETY: forwarded contract.
            None => unsafe { self.put(op, mode) },
        }
    }

    unsafe fn get_in(&self, d: DomainId, op: Get, mode: Completion) -> Result<()> {
        match self.domain(d) {
            // SAFETY: forwarded contract.
            Some(e) => unsafe { e.get(op, mode) },
            // SAFETY: forwarded contract.
            None => unsafe { self.get(op, mode) },
        }
    }

    fn fence_in(&self, d: DomainId) -> Result<()> {
        self.quiet_in(d)
    }

    /// Waits for the domain's own channel only.
    fn quiet_in(&self, d: DomainId) -> Result<()> {
        match self.domain(d) {
            Some(e) => e.quiet(),
            None => self.quiet(),
        }
    }

    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        self.shared.node.ptr(pe, off, 0)
    }
}
