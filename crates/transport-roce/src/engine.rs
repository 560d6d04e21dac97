//! [`RoceEngine`]: one PE's device context, its registered heap, and one RC queue pair per PE of the job.

use crate::config::RoceConfig;
use crate::verbs::{self, Context, Cq, GidInfo, Local, Mr, Path, Pd, Qp, Remote, Staging, VerbsError, Work};
use crate::wire::ConnRecord;
use shmem_core::engine::{
    AtomicOp, AtomicWidth, BuildEngine, Capabilities, Completion, DataOpEngine, Get, Put, SignalOp,
};
use shmem_core::engine_setup::{EngineSetup, EngineTimeouts};
use shmem_core::heap::NodeSegments;
use shmem_core::{Error, HeapOffset, OpEngineType, Pe, Result};
use std::collections::VecDeque;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Work requests in flight per queue pair (and the depth of its send queue and completion queue).
const DEPTH: usize = 64;
/// How long a peer given up on waits for the device to flush its outstanding requests (see `Peer::give_up`).
const DRAIN_FOR: Duration = Duration::from_millis(200);
/// Bytes of one bounce slot: user memory outside the heap is copied through slots of this size.
const SLOT: usize = 64 << 10;
/// Bounce slots per peer (allocated and registered on the first transfer to that peer that needs them).
const SLOTS: usize = 16;

/// The RoCE engine of one PE. Fields drop in order: queue pairs and their buffers, then the heap's
/// registration, the protection domain, the device context, and last this engine's handle on the heap's
/// mappings (the registration must be gone before the segments may be unmapped).
#[derive(Debug)]
pub struct RoceEngine {
    me: Pe,
    /// `peers[pe]`: the queue pair to `pe` (for this PE too: a loopback connection, so that every atomic on a
    /// word goes through the device and stays atomic with the others').
    peers: Vec<Mutex<Peer>>,
    /// This PE's heap, registered once for local access and remote read, write and atomics.
    heap_mr: Mr,
    heap_base: u64,
    heap_len: u64,
    /// Largest message the port carries; transfers are split at `max_msg` (zero-copy) or a slot (bounced).
    max_msg: usize,
    timeouts: EngineTimeouts,
    device: String,
    pd: Pd,
    /// Closed after every object made from it.
    _ctx: Context,
    /// This node's mappings (for `peer_ptr` of this PE's own heap). Dropped last: when this is the last handle,
    /// the segments are unmapped, which must not happen while the heap is still registered.
    node: Arc<NodeSegments>,
}

/// A work request posted and not yet completed.
#[derive(Debug)]
struct Pending {
    seq: u64,
    /// The bounce slot it uses, freed on completion.
    slot: Option<usize>,
    /// For a bounced READ: where the slot's bytes go when it completes.
    copy_out: Option<(*mut u8, usize)>,
    /// A READ or an atomic: what `IBV_SEND_FENCE` orders later requests behind.
    rd_atomic: bool,
}

/// The connection to one PE and the bookkeeping of its work requests (one lock per peer: posting and polling
/// a queue pair happen under it).
#[derive(Debug)]
struct Peer {
    pe: Pe,
    qp: Qp,
    cq: Cq,
    remote_base: u64,
    rkey: u32,
    /// Bounce slots, made on first need.
    staging: Option<Staging>,
    free: Vec<usize>,
    /// In posting order; an RC send queue completes in that order.
    pending: VecDeque<Pending>,
    next_seq: u64,
    /// `fence` was called: the next request waits for earlier reads and atomics (`IBV_SEND_FENCE`).
    fence_next: bool,
    /// READs and atomics among `pending`.
    rd_atomic_pending: usize,
    /// At most this many of them at a time.
    rd_atomic_cap: usize,
    /// The first failure of this connection: every later operation reports it.
    failed: Option<String>,
}

// SAFETY: the raw pointers in `pending` are the callers' get destinations, which the engine contract keeps
// valid and untouched until the next quiet; they are only written under the peer's lock.
unsafe impl Send for Peer {}

fn verbs_err(device: &str, e: VerbsError) -> Error {
    Error::smem(format!("ROCE engine on {device}: {}", e.call), e.source)
}

/// The path MTU of a connection between ports whose active MTUs are `mine` and `theirs` (verbs codes, 1 = 256 B
/// ... 5 = 4096 B, which grow with the size): the smaller.
fn agreed_mtu(mine: u32, theirs: u32) -> u32 {
    mine.min(theirs)
}

/// The error init reports where this host has no usable verbs device.
fn no_device(why: String) -> Error {
    Error::NotSupported(format!(
        "engine ROCE needs an RDMA verbs device (RoCE or InfiniBand NIC, or soft-RoCE `rdma link add rxe0 type rxe \
         netdev <if>`), and {why}; choose another data_op_engine_type (TCP 0x10 reaches other nodes)"
    ))
}

/// The device, port and GID this PE uses.
struct Chosen {
    ctx: Context,
    device: String,
    port: u8,
    info: verbs::PortInfo,
    gid: Option<GidInfo>,
}

fn choose(cfg: &RoceConfig) -> Result<Chosen> {
    let list = verbs::devices().map_err(|e| {
        no_device(format!(
            "this host has no RDMA support ({}: {}{})",
            e.call,
            e.source,
            if e.source.raw_os_error() == Some(libc::ENOSYS) { ", the kernel has no RDMA subsystem" } else { "" }
        ))
    })?;
    if list.is_empty() {
        return Err(no_device("this host has no verbs device (ibv_get_device_list found none)".into()));
    }
    let candidates: Vec<_> = match &cfg.device {
        Some(name) => {
            let d = list.iter().find(|d| &d.name == name).ok_or_else(|| {
                let names: Vec<&str> = list.iter().map(|d| d.name.as_str()).collect();
                Error::invalid(format!(
                    "{}={name:?} names no verbs device of this host (devices: {})",
                    crate::config::DEVICE_VAR,
                    names.join(", ")
                ))
            })?;
            vec![d.clone()]
        }
        None => list,
    };
    let mut seen = Vec::new();
    for dev in &candidates {
        let ctx = match Context::open(dev) {
            Ok(c) => c,
            Err(e) => {
                seen.push(format!("{}: {e}", dev.name));
                continue;
            }
        };
        let ports: Vec<u8> = match cfg.port {
            Some(p) => vec![p],
            None => (1..=ctx.port_count().map_err(|e| verbs_err(&dev.name, e))?).collect(),
        };
        for port in ports {
            let info = ctx.port(port).map_err(|e| verbs_err(&dev.name, e))?;
            if !info.active {
                seen.push(format!("{} port {port}: not active", dev.name));
                continue;
            }
            let gids = ctx.gids(port, info.gid_table_len).map_err(|e| verbs_err(&dev.name, e))?;
            let gid = match cfg.gid_index {
                Some(i) => Some(*gids.iter().find(|g| g.index == u32::from(i)).ok_or_else(|| {
                    Error::invalid(format!(
                        "{}={i}: port {port} of {} has no valid GID at that index (valid: {:?})",
                        crate::config::GID_INDEX_VAR,
                        dev.name,
                        gids.iter().map(|g| g.index).collect::<Vec<_>>()
                    ))
                })?),
                // RoCE needs a GID: prefer RoCE v2 over IPv4 (routable, what soft-RoCE on an IPv4 netdev
                // offers), then any RoCE v2, then the first. InfiniBand addresses by LID.
                None if info.ethernet => {
                    let v4 = |g: &&GidInfo| g.roce_v2 && g.gid[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
                    Some(
                        *gids
                            .iter()
                            .find(v4)
                            .or_else(|| gids.iter().find(|g| g.roce_v2))
                            .or(gids.first())
                            .ok_or_else(|| no_device(format!("port {port} of {} has no GID", dev.name)))?,
                    )
                }
                None => None,
            };
            return Ok(Chosen { ctx, device: dev.name.clone(), port, info, gid });
        }
    }
    Err(no_device(format!("no device has an active port ({})", seen.join("; "))))
}

/// A packet sequence number that differs between runs (24 bits).
fn initial_psn(me: Pe) -> u32 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    (nanos ^ std::process::id().rotate_left(8) ^ me.0.wrapping_mul(0x9E37_79B9)) & 0xFF_FFFF
}

impl BuildEngine for RoceEngine {
    /// Opens the device, registers the heap, creates one queue pair per PE, trades connection records with
    /// every PE through the set-up's exchange and connects the queue pairs.
    ///
    /// # Errors
    /// `NotSupported` where this host has no verbs device (the kernel answers ENOSYS, or the list is empty, or
    /// no port is active); `InvalidParam` for a bad `SHMEM_ROCE_*` knob; `Smem` naming the verb that failed;
    /// the exchange's `Timeout` naming PEs that never published.
    fn build(setup: &EngineSetup<'_>) -> Result<RoceEngine> {
        let cfg = RoceConfig::from_lookup(setup.settings.lookup())?;
        let Chosen { ctx, device, port, info, gid } = choose(&cfg)?;
        let err = |e: VerbsError| verbs_err(&device, e);
        let pd = Pd::alloc(&ctx).map_err(err)?;
        let seg = setup.heap.local();
        // SAFETY: the segment stays mapped for the engine's life (the facade drops engines before heaps), and
        // it is shared memory peers write by design.
        let heap_mr = unsafe { Mr::register(&pd, seg.base().as_ptr(), seg.len()) }.map_err(err)?;
        let psn = initial_psn(setup.me);
        let mut qps = Vec::with_capacity(setup.n_pes as usize);
        for _ in 0..setup.n_pes {
            let cq = Cq::create(&ctx, DEPTH as i32 + 1).map_err(err)?;
            let qp = Qp::create(&pd, &cq, DEPTH as u32, port).map_err(err)?;
            qps.push((qp, cq));
        }
        let mine = ConnRecord {
            lid: info.lid,
            gid: gid.map(|g| g.gid).unwrap_or_default(),
            rkey: heap_mr.rkey(),
            base: seg.base().as_ptr() as u64,
            len: seg.len() as u64,
            psn,
            qpn: qps.iter().map(|(qp, _)| qp.num()).collect(),
            mtu: info.mtu,
        };
        let records = match setup.exchange {
            Some(x) => x
                .allgather("roce/conn", &mine.encode(), setup.timeouts.init)?
                .iter()
                .enumerate()
                .map(|(pe, raw)| ConnRecord::decode(pe as u32, setup.n_pes, raw))
                .collect::<Result<Vec<_>>>()?,
            None if setup.n_pes == 1 => vec![mine.clone()],
            None => return Err(Error::invalid("the ROCE engine needs the bootstrap store to find the other PEs")),
        };
        let mut peers = Vec::with_capacity(qps.len());
        for (pe, ((qp, cq), rec)) in qps.into_iter().zip(&records).enumerate() {
            // Both ends' ports must carry the connection's packets: the smaller of the two MTUs (a path MTU above
            // the peer's makes its port drop every full-size packet, and large transfers then fail).
            let path = Path { port, mtu: agreed_mtu(info.mtu, rec.mtu), gid_index: gid.map(|g| g.index as u8), psn };
            let remote = Remote { qpn: rec.qpn[setup.me.index()], psn: rec.psn, lid: rec.lid, gid: rec.gid };
            qp.connect(path, remote)
                .map_err(|e| Error::Inner(format!("ROCE engine on {device}: connecting to PE {pe}: {e}")))?;
            peers.push(Mutex::new(Peer {
                pe: Pe(pe as u32),
                qp,
                cq,
                remote_base: rec.base,
                rkey: rec.rkey,
                staging: None,
                free: Vec::new(),
                pending: VecDeque::new(),
                next_seq: 0,
                fence_next: false,
                rd_atomic_pending: 0,
                rd_atomic_cap: cfg.rd_atomic.map_or(RD_ATOMIC_DEFAULT, usize::from),
                failed: None,
            }));
        }
        tracing::debug!(
            "PE {}: ROCE engine on {device} port {port}, gid index {:?}, {} queue pairs",
            setup.me.0,
            gid.map(|g| g.index),
            peers.len()
        );
        Ok(RoceEngine {
            me: setup.me,
            node: setup.heap.clone(),
            peers,
            heap_base: seg.base().as_ptr() as u64,
            heap_len: seg.len() as u64,
            heap_mr,
            max_msg: (info.max_msg_sz as usize).clamp(4096, 1 << 30),
            timeouts: setup.timeouts,
            device,
            pd,
            _ctx: ctx,
        })
    }
}

/// What a blocking caller waits for.
enum Until {
    /// Every request up to and including this sequence number.
    Seq(u64),
    /// A free slot and a free send-queue entry (and, for a READ or atomic, fewer than [`RD_ATOMIC_CAP`] of those
    /// outstanding).
    Room { need_slot: bool, rd_atomic: bool },
}

/// READs and atomics this engine keeps outstanding per queue pair unless `SHMEM_ROCE_RD_ATOMIC` says otherwise:
/// one. Soft-RoCE (Linux 6.1 rxe) stalled for good, with no completion and no error, when several PEs each kept
/// 4 fetch-adds in flight to one target (the pe test `signal_add_sums` on 4 PEs); with one it never did. A
/// hardware NIC can take the queue pair's `max_rd_atomic` (8): set `SHMEM_ROCE_RD_ATOMIC=8` there.
const RD_ATOMIC_DEFAULT: usize = 1;

impl Peer {
    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(msg) => Err(Error::Inner(msg.clone())),
            None => Ok(()),
        }
    }

    /// Reaps completions until `until` holds, for at most `timeout`.
    fn wait(&mut self, until: Until, timeout: Duration, device: &str) -> Result<()> {
        let start = Instant::now();
        let mut done = Vec::with_capacity(16);
        let mut spins = 0u32;
        loop {
            let satisfied = match until {
                Until::Seq(s) => match self.pending.front() {
                    None => true,
                    Some(p) => p.seq > s,
                },
                Until::Room { need_slot, rd_atomic } => {
                    self.pending.len() < DEPTH
                        && (!need_slot || !self.free.is_empty())
                        && (!rd_atomic || self.rd_atomic_pending < self.rd_atomic_cap)
                }
            };
            if satisfied {
                return Ok(());
            }
            self.check()?;
            done.clear();
            let n = match self.cq.poll(&mut done, 16) {
                Ok(n) => n,
                Err(e) => {
                    // Requests may still be pending (a bounced get's chunks hold the caller's destination): the
                    // peer is failed for good, so that no later call polls again and copies into a buffer the
                    // caller, given this error, has reused.
                    let err = verbs_err(device, e);
                    self.give_up(format!("polling the completions of {} failed: {err}", self.pe), device);
                    return Err(err);
                }
            };
            for d in &done {
                self.complete(d, device);
            }
            if n > 0 {
                spins = 0;
                continue;
            }
            if start.elapsed() >= timeout {
                let msg = format!(
                    "ROCE engine on {device}: no completion from {} within {timeout:?} ({} requests outstanding)",
                    self.pe,
                    self.pending.len()
                );
                self.give_up(msg, device);
                return Err(Error::Timeout {
                    what: format!("RDMA completions from {}", self.pe),
                    waited: timeout,
                    missing_pes: vec![self.pe.0],
                });
            }
            spins += 1;
            if spins > 64 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Fails this peer for good with `msg` (unless it failed already) while requests may still be outstanding:
    /// its queue pair goes to the error state, so the device writes nothing more for them (a zero-copy get's
    /// READ would otherwise still land in the caller's destination after the caller got the error).
    ///
    /// The device owns a request's buffers until its completion is polled, also after the error transition (a
    /// completion being processed at that moment may still write): the flushed completions are reaped here, for
    /// at most [`DRAIN_FOR`], without copying anything out. Slots whose completion did not come are never reused
    /// (the peer is failed for good).
    fn give_up(&mut self, msg: String, device: &str) {
        self.failed.get_or_insert(msg);
        if let Err(e) = self.qp.set_error() {
            tracing::error!(
                "ROCE engine on {device}: could not stop the requests to {} still outstanding: {}",
                self.pe,
                verbs_err(device, e)
            );
            return;
        }
        let start = Instant::now();
        let mut done = Vec::with_capacity(16);
        while !self.pending.is_empty() && start.elapsed() < DRAIN_FOR {
            done.clear();
            match self.cq.poll(&mut done, 16) {
                Ok(0) => std::thread::yield_now(),
                Ok(_) => {
                    for _ in &done {
                        // Retired without its copy-out: the caller was told this request failed.
                        if let Some(p) = self.pending.pop_front() {
                            self.rd_atomic_pending -= usize::from(p.rd_atomic);
                        }
                    }
                }
                Err(_) => break,
            }
        }
        if !self.pending.is_empty() {
            tracing::error!(
                "ROCE engine on {device}: {} requests to {} were not flushed within {DRAIN_FOR:?} after the engine \
                 gave up on it; their buffers stay with the device",
                self.pending.len(),
                self.pe
            );
        }
    }

    /// Retires the oldest pending request with completion `d`.
    fn complete(&mut self, d: &verbs::Done, device: &str) {
        let Some(p) = self.pending.pop_front() else { return };
        debug_assert_eq!(p.seq, d.wr_id, "RC completions arrive in posting order");
        if p.rd_atomic {
            self.rd_atomic_pending -= 1;
        }
        if d.status != 0 {
            if self.failed.is_none() {
                self.failed = Some(format!(
                    "ROCE engine on {device}: an RDMA operation on {} failed with {} (vendor error {:#x}); the PE \
                     exited, crashed or is unreachable",
                    self.pe,
                    verbs::status_name(d.status),
                    d.vendor_err
                ));
            }
        } else if let (Some(slot), Some((dst, len))) = (p.slot, p.copy_out) {
            let src = self.staging.as_ref().expect("slots exist when used").at(slot * SLOT);
            // SAFETY: the READ into the slot completed; dst..dst+len is the caller's get destination, valid and
            // untouched until this completion by the engine contract; the two never overlap.
            unsafe { std::ptr::copy_nonoverlapping(src, dst, len) };
        }
        if let Some(slot) = p.slot {
            self.free.push(slot);
        }
    }

    /// Posts `work` as the next request; waits for room first.
    fn post(
        &mut self,
        work: Work,
        slot: Option<usize>,
        copy_out: Option<(*mut u8, usize)>,
        device: &str,
    ) -> Result<u64> {
        let seq = self.next_seq;
        // IBV_SEND_FENCE orders a request only behind earlier READs and atomics (WRITEs on an RC queue pair
        // execute in order anyway), so it is set only when one is outstanding. Besides saving a stall, this
        // keeps clear of soft-RoCE (Linux 6.1 rxe), whose requester stopped for good on a fenced atomic queued
        // behind WRITEs (the conformance signal test hung without this).
        let fence = std::mem::take(&mut self.fence_next) && self.rd_atomic_pending > 0;
        let rd_atomic = !matches!(work, Work::Write { .. });
        // SAFETY: every local range the engine posts lies in the registered heap (checked by `local_range`) or a
        // registered slot this request owns until its completion; the callers' buffers outlive it by contract.
        if let Err(e) = unsafe { self.qp.post(seq, work, fence) } {
            // Requests posted before this one (earlier chunks of the same get) are still outstanding.
            let msg = format!("ROCE engine on {device}: posting to {}: {e}", self.pe);
            self.give_up(msg.clone(), device);
            return Err(Error::Inner(msg));
        }
        self.next_seq += 1;
        self.rd_atomic_pending += usize::from(rd_atomic);
        self.pending.push_back(Pending { seq, slot, copy_out, rd_atomic });
        Ok(seq)
    }

    /// A free bounce slot (making the slots on first use), waiting for one if all are in flight.
    fn slot(&mut self, pd: &Pd, rd_atomic: bool, timeout: Duration, device: &str) -> Result<usize> {
        if self.staging.is_none() {
            self.staging = Some(Staging::new(pd, SLOT * SLOTS).map_err(|e| verbs_err(device, e))?);
            self.free = (0..SLOTS).rev().collect();
        }
        self.wait(Until::Room { need_slot: true, rd_atomic }, timeout, device)?;
        Ok(self.free.pop().expect("wait found a free slot"))
    }

    fn slot_local(&self, slot: usize, len: usize) -> Local {
        let s = self.staging.as_ref().expect("slots exist");
        Local { addr: s.at(slot * SLOT) as u64, len: len as u32, lkey: s.lkey() }
    }
}

impl RoceEngine {
    fn peer(&self, pe: Pe) -> Result<MutexGuard<'_, Peer>> {
        let m = self
            .peers
            .get(pe.index())
            .ok_or_else(|| Error::invalid(format!("{pe} is outside this job of {} PEs", self.peers.len())))?;
        Ok(m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether the queue pair to `pe` is in the error state (the engine stops it when it gives up on `pe`, so that
    /// the device writes nothing more for requests it no longer waits for). For tests.
    #[cfg(feature = "device-tests")]
    #[doc(hidden)]
    pub fn queue_pair_stopped(&self, pe: Pe) -> Result<bool> {
        self.peer(pe)?.qp.in_error_state().map_err(|e| verbs_err(&self.device, e))
    }

    /// Puts the queue pair to `pe` in the error state without failing anything on this side: from now on this
    /// PE's device drops what `pe` sends it, so `pe`'s requests go unanswered. For tests that need a peer that
    /// never answers.
    #[cfg(feature = "device-tests")]
    #[doc(hidden)]
    pub fn stop_queue_pair_for_tests(&self, pe: Pe) -> Result<()> {
        self.peer(pe)?.qp.set_error().map_err(|e| verbs_err(&self.device, e))
    }

    /// `Some(local)` when `addr..addr+len` lies in this PE's registered heap (no bounce copy needed).
    fn heap_local(&self, addr: *const u8, len: usize) -> Option<Local> {
        let a = addr as u64;
        (a >= self.heap_base && a.checked_add(len as u64)? <= self.heap_base + self.heap_len).then(|| Local {
            addr: a,
            len: len as u32,
            lkey: self.heap_mr.lkey(),
        })
    }

    /// An atomic on the 8-byte word at `at` (8-aligned), returning the old value.
    fn atomic64(&self, p: &mut Peer, at: u64, work: impl FnOnce(Local, u64, u32) -> Work) -> Result<u64> {
        if p.fence_next {
            // After a fence an atomic must not be seen before the earlier puts to this PE: IBV_SEND_FENCE orders
            // nothing behind WRITEs, and soft-RoCE let an atomic overtake WRITEs of its queue pair (see the
            // signal of `put`). Wait for what is outstanding first; without a fence, nothing is owed.
            if let Some(last) = p.pending.back().map(|w| w.seq) {
                p.wait(Until::Seq(last), self.timeouts.control, &self.device)?;
            }
        }
        let slot = p.slot(&self.pd, true, self.timeouts.control, &self.device)?;
        let local = p.slot_local(slot, 8);
        let w = work(local, p.remote_base + at, p.rkey);
        let seq = p.post(w, Some(slot), None, &self.device)?;
        p.wait(Until::Seq(seq), self.timeouts.control, &self.device)?;
        p.check()?;
        // SAFETY: the atomic completed into the slot, 8-aligned (slots are 64 KiB aligned in a page-aligned map);
        // the slot is free again but nobody else posts to it while this PE holds the peer's lock.
        Ok(unsafe { std::ptr::read_volatile(local.addr as *const u64) })
    }

    /// Applies `f` to the 64-bit word at `word` by a compare-and-swap loop; returns the word's old value.
    fn cas_loop(&self, p: &mut Peer, word: u64, f: impl Fn(u64) -> u64) -> Result<u64> {
        // Read the word (fetch-add of 0), then swap in f(old) until no other writer came between.
        let mut old = self.atomic64(p, word, |local, remote, rkey| Work::FetchAdd { local, remote, rkey, add: 0 })?;
        loop {
            let new = f(old);
            let seen = self.atomic64(p, word, |local, remote, rkey| Work::CompareSwap {
                local,
                remote,
                rkey,
                cond: old,
                swap: new,
            })?;
            if seen == old {
                return Ok(old);
            }
            old = seen;
        }
    }

    fn atomic_locked(&self, p: &mut Peer, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        match width {
            AtomicWidth::W64 => match op {
                AtomicOp::Fetch => {
                    self.atomic64(p, at.0, |local, remote, rkey| Work::FetchAdd { local, remote, rkey, add: 0 })
                }
                AtomicOp::FetchAdd(v) => {
                    self.atomic64(p, at.0, |local, remote, rkey| Work::FetchAdd { local, remote, rkey, add: v })
                }
                AtomicOp::CompareSwap { cond, value } => self.atomic64(p, at.0, |local, remote, rkey| {
                    Work::CompareSwap { local, remote, rkey, cond, swap: value }
                }),
                AtomicOp::Swap(v) => self.cas_loop(p, at.0, |_| v),
                AtomicOp::FetchAnd(v) => self.cas_loop(p, at.0, |o| o & v),
                AtomicOp::FetchOr(v) => self.cas_loop(p, at.0, |o| o | v),
                AtomicOp::FetchXor(v) => self.cas_loop(p, at.0, |o| o ^ v),
            },
            AtomicWidth::W32 => {
                // Verbs atomics are 64-bit only: operate on the aligned 8-byte word that holds the 4 bytes, by a
                // CAS loop that changes only this half (little-endian: offset 4 is the upper half).
                let word = at.0 & !7;
                let shift = (at.0 & 4) * 8;
                let mask = 0xFFFF_FFFFu64 << shift;
                let half = |w: u64| (w >> shift) & 0xFFFF_FFFF;
                let put = |w: u64, v: u64| (w & !mask) | ((v & 0xFFFF_FFFF) << shift);
                let old = match op {
                    AtomicOp::Fetch => {
                        self.atomic64(p, word, |local, remote, rkey| Work::FetchAdd { local, remote, rkey, add: 0 })?
                    }
                    AtomicOp::CompareSwap { cond, value } => {
                        // Succeeds only if the half equals cond; retried only when the other half changed.
                        let mut old = self.atomic64(p, word, |local, remote, rkey| Work::FetchAdd {
                            local,
                            remote,
                            rkey,
                            add: 0,
                        })?;
                        loop {
                            if half(old) != cond & 0xFFFF_FFFF {
                                break old;
                            }
                            let seen = self.atomic64(p, word, |local, remote, rkey| Work::CompareSwap {
                                local,
                                remote,
                                rkey,
                                cond: old,
                                swap: put(old, value),
                            })?;
                            if seen == old {
                                break old;
                            }
                            old = seen;
                        }
                    }
                    AtomicOp::Swap(v) => self.cas_loop(p, word, |w| put(w, v))?,
                    AtomicOp::FetchAdd(v) => self.cas_loop(p, word, |w| put(w, half(w).wrapping_add(v)))?,
                    AtomicOp::FetchAnd(v) => self.cas_loop(p, word, |w| put(w, half(w) & v))?,
                    AtomicOp::FetchOr(v) => self.cas_loop(p, word, |w| put(w, half(w) | v))?,
                    AtomicOp::FetchXor(v) => self.cas_loop(p, word, |w| put(w, half(w) ^ v))?,
                };
                Ok(half(old))
            }
        }
    }

    /// The name of the device in use (`rxe0`, `mlx5_0`).
    pub fn device(&self) -> &str {
        &self.device
    }
}

impl DataOpEngine for RoceEngine {
    fn kind(&self) -> OpEngineType {
        OpEngineType::ROCE
    }

    /// Deferred operations return once posted; the NIC writes without the target's CPU, so nothing wakes a
    /// sleeping waiter there: its waits poll in short slices instead.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            direct_pointers: false,
            asynchronous_nbi: true,
            remote_writes_wake: false,
            cpu_coherent_atomics: false,
        }
    }

    fn reaches(&self, pe: Pe) -> bool {
        pe.index() < self.peers.len()
    }

    /// RDMA WRITEs of at most the port's message size (or a bounce slot, for memory outside the heap); a
    /// signal follows once the WRITEs completed: SET by a compare-and-swap loop, ADD by a fetch-and-add, so the
    /// signal is atomic with every other AMO on its word and lands after the data.
    unsafe fn put(&self, op: Put, mode: Completion) -> Result<()> {
        let Put { pe, dst, src, len, signal } = op;
        let mut p = self.peer(pe)?;
        p.check()?;
        let (timeout, device) = (self.timeouts.control, self.device.as_str());
        let zero_copy = self.heap_local(src, len).is_some();
        let chunk = if zero_copy { self.max_msg } else { SLOT };
        let mut last = None;
        let mut last_write = None;
        let mut done = 0usize;
        while done < len {
            let n = chunk.min(len - done);
            // SAFETY: src..src+len is readable by the caller's contract; done + n <= len.
            let from = unsafe { src.add(done) };
            let remote = p.remote_base + dst.0 + done as u64;
            let rkey = p.rkey;
            if zero_copy {
                p.wait(Until::Room { need_slot: false, rd_atomic: false }, timeout, device)?;
                let local = self.heap_local(from, n).expect("inside the heap");
                last = Some(p.post(Work::Write { local, remote, rkey }, None, None, device)?);
                last_write = last;
            } else {
                let slot = p.slot(&self.pd, false, timeout, device)?;
                let local = p.slot_local(slot, n);
                // SAFETY: `from..from+n` is the caller's readable source; the slot holds SLOT >= n bytes and is
                // owned by this request until its completion.
                unsafe { std::ptr::copy_nonoverlapping(from, local.addr as *mut u8, n) };
                last_write = Some(p.post(Work::Write { local, remote, rkey }, Some(slot), None, device)?);
            }
            done += n;
        }
        if let Some(s) = signal {
            // The signal is posted only once the NIC has completed the data WRITEs (acknowledged by the target:
            // the bytes are in its memory), so data-before-signal holds whatever a NIC does with queue-pair order
            // (the fence flag orders nothing behind WRITEs). It costs one completion wait per put-with-signal.
            // The soft-RoCE failure that led here ("signal 14335 over data of 14080") was a torn read in the
            // test, not this order: its consumer read message s while message s + 1 was landing in the same
            // buffer (0x37FF and 0x3800 mixed into 0x3700; see the pe scenario `signal_after_data`).
            if let Some(w) = last_write {
                p.wait(Until::Seq(w), timeout, device)?;
            }
            p.fence_next = true;
            match s.op {
                SignalOp::Add => {
                    let slot = p.slot(&self.pd, true, timeout, device)?;
                    let local = p.slot_local(slot, 8);
                    let remote = p.remote_base + s.at.0;
                    let w = Work::FetchAdd { local, remote, rkey: p.rkey, add: s.value };
                    last = Some(p.post(w, Some(slot), None, device)?);
                }
                SignalOp::Set => {
                    self.cas_loop(&mut p, s.at.0, |_| s.value)?;
                }
            }
        }
        // A bounced put's source may be reused at once (its bytes are in the slots); a zero-copy blocking put
        // waits until the NIC has read the heap bytes.
        if let (Completion::Blocking, Some(seq)) = (mode, last) {
            if zero_copy {
                p.wait(Until::Seq(seq), timeout, device)?;
            }
        }
        p.check()
    }

    /// RDMA READs into the heap directly or through bounce slots, copied out as each completes.
    unsafe fn get(&self, op: Get, mode: Completion) -> Result<()> {
        let Get { pe, src, dst, len } = op;
        let mut p = self.peer(pe)?;
        p.check()?;
        let (timeout, device) = (self.timeouts.control, self.device.as_str());
        let zero_copy = self.heap_local(dst, len).is_some();
        let chunk = if zero_copy { self.max_msg } else { SLOT };
        let mut last = None;
        let mut done = 0usize;
        while done < len {
            let n = chunk.min(len - done);
            // SAFETY: dst..dst+len is writable by the caller's contract; done + n <= len.
            let to = unsafe { dst.add(done) };
            let remote = p.remote_base + src.0 + done as u64;
            let rkey = p.rkey;
            last = Some(if zero_copy {
                p.wait(Until::Room { need_slot: false, rd_atomic: true }, timeout, device)?;
                let local = self.heap_local(to, n).expect("inside the heap");
                p.post(Work::Read { local, remote, rkey }, None, None, device)?
            } else {
                let slot = p.slot(&self.pd, true, timeout, device)?;
                let local = p.slot_local(slot, n);
                p.post(Work::Read { local, remote, rkey }, Some(slot), Some((to, n)), device)?
            });
            done += n;
        }
        if let (Completion::Blocking, Some(seq)) = (mode, last) {
            p.wait(Until::Seq(seq), timeout, device)?;
        }
        p.check()
    }

    /// 64-bit fetch-add and compare-swap are the device's own atomics; fetch is a fetch-add of 0; swap, and,
    /// or, xor and every 32-bit operation are compare-and-swap loops on the aligned 64-bit word.
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        let mut p = self.peer(pe)?;
        p.check()?;
        self.atomic_locked(&mut p, at, width, op)
    }

    /// The next request to every PE waits for the earlier reads and atomics (`IBV_SEND_FENCE`); writes on one
    /// RC queue pair are executed in order already.
    fn fence(&self) -> Result<()> {
        for m in &self.peers {
            m.lock().unwrap_or_else(|e| e.into_inner()).fence_next = true;
        }
        Ok(())
    }

    /// Polls every queue pair until all its requests completed; reports the first failure.
    fn quiet(&self) -> Result<()> {
        let mut first = Ok(());
        for m in &self.peers {
            let mut p = m.lock().unwrap_or_else(|e| e.into_inner());
            if p.pending.is_empty() && p.failed.is_none() {
                continue;
            }
            let last = p.next_seq.wrapping_sub(1);
            let r = p.wait(Until::Seq(last), self.timeouts.control, &self.device).and_then(|_| p.check());
            if first.is_ok() {
                first = r;
            }
        }
        first
    }

    /// This PE's own heap is mapped here (as with every engine); other PEs' heaps never are.
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        (pe == self.me).then(|| self.node.ptr(pe, off, 0)).flatten()
    }
}

impl RoceEngine {
    /// This PE.
    pub fn me(&self) -> Pe {
        self.me
    }
}

#[cfg(test)]
mod tests {
    use super::agreed_mtu;

    #[test]
    fn a_connection_uses_the_smaller_mtu_of_its_two_ports() {
        // Verbs codes: 3 = 1024 B (a RoCE port on a 1500-byte Ethernet link), 5 = 4096 B (jumbo frames).
        assert_eq!(agreed_mtu(5, 3), 3);
        assert_eq!(agreed_mtu(3, 5), 3);
        assert_eq!(agreed_mtu(4, 4), 4);
    }
}
