//! The engine conformance suite: one set of cases that every [`DataOpEngine`] must pass, whatever its
//! transport (feature `conformance`).
//!
//! A [`Testbed`] is a job of several PEs inside one test process: every PE has its own real shared-memory
//! segment, and every PE maps all the others itself (at addresses of its own, as another process would), so an
//! engine that wrongly uses one PE's addresses for another's fails here as it would across processes. Each PE
//! runs in a thread of its own (several threads where a case wants contention). Connection data is traded
//! through an in-process [`KeyExchange`], so remote engines set up as they do in a real job.
//!
//! A transport crate runs the whole suite with one line in a test file:
//! `shmem_core::conformance_tests!(MyEngine::build);`

use crate::engine::{AtomicOp, AtomicWidth, Completion, DataOpEngine, DomainId, Get, Put, SignalOp, SignalUpdate};
use crate::engine_setup::{EngineSetup, EngineTimeouts, KeyExchange};
use crate::heap::{HeapLayout, NodeSegments, Segment};
use crate::types::{HeapOffset, Pe};
use crate::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Heap bytes per PE in a testbed: room for the largest transfer case and its guard bytes.
pub const TESTBED_HEAP: u64 = 8 << 20;
/// The job secret of every testbed (network engines check it on every connection).
pub const TESTBED_SECRET: &[u8] = b"conformance-testbed-secret";
/// Bound of every wait in the suite: a broken engine fails the case instead of hanging the test run.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(30);

/// An in-process [`KeyExchange`]: the contributions of each key meet in a map.
#[derive(Debug, Default)]
pub struct LocalExchange {
    n: usize,
    slots: Mutex<HashMap<String, Vec<Option<Vec<u8>>>>>,
    changed: Condvar,
}

/// One PE's handle on a shared [`LocalExchange`].
#[derive(Debug, Clone)]
pub struct PeExchange {
    shared: Arc<LocalExchange>,
    me: Pe,
}

impl KeyExchange for PeExchange {
    fn allgather(&self, key: &str, mine: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>> {
        let x = &self.shared;
        let deadline = Instant::now() + timeout;
        let mut slots = x.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(key.to_string()).or_insert_with(|| vec![None; x.n])[self.me.index()] = Some(mine.to_vec());
        x.changed.notify_all();
        loop {
            let all = &slots[key];
            if all.iter().all(Option::is_some) {
                return Ok(all.iter().map(|v| v.clone().unwrap_or_default()).collect());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let missing_pes = (0..x.n as u32).filter(|&i| all[i as usize].is_none()).collect();
                return Err(Error::Timeout { what: format!("allgather {key:?}"), waited: timeout, missing_pes });
            }
            slots = x.changed.wait_timeout(slots, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// A job of several PEs in this process, each with its own mappings and its own engine.
#[derive(Debug)]
pub struct Testbed<E> {
    /// `nodes[pe]`: that PE's view (its own segment and its mappings of the others on its node).
    pub nodes: Vec<Arc<NodeSegments>>,
    /// `engines[pe]`: that PE's engine.
    pub engines: Vec<E>,
    /// `node_of[pe]`: the node index of each PE.
    pub node_of: Vec<u32>,
}

impl<E: DataOpEngine> Testbed<E> {
    /// `n` PEs all on one node, engines built by `build` (in parallel, one thread per PE, so that engines that
    /// exchange connection data meet).
    pub fn new(n: u32, build: impl Fn(&EngineSetup<'_>) -> Result<E> + Sync) -> Testbed<E> {
        Self::on_nodes(vec![0; n as usize], build)
    }

    /// PEs placed on nodes by `node_of` (PEs of one node map each other's segments).
    pub fn on_nodes(node_of: Vec<u32>, build: impl Fn(&EngineSetup<'_>) -> Result<E> + Sync) -> Testbed<E> {
        static NONCE: AtomicU64 = AtomicU64::new(0);
        let n = node_of.len();
        let layout = HeapLayout::new(TESTBED_HEAP);
        let len = layout.segment_len() as usize;
        let tag = format!("{}-{}", std::process::id(), NONCE.fetch_add(1, Ordering::Relaxed));
        let names: Vec<String> = (0..n).map(|pe| format!("/shmem-conformance-{tag}-{pe}")).collect();
        let mut own: Vec<Option<Segment>> =
            names.iter().map(|name| Some(Segment::create(name, len).expect("create a test segment"))).collect();
        let mut nodes = Vec::with_capacity(n);
        for me in 0..n {
            let segs = (0..n)
                .map(|pe| {
                    if pe == me {
                        own[me].take()
                    } else if node_of[pe] == node_of[me] {
                        Some(Segment::open(&names[pe], len).expect("map a peer's test segment"))
                    } else {
                        None
                    }
                })
                .collect();
            let node = NodeSegments::new(layout, Pe(me as u32), segs);
            node.wake_line(Pe(me as u32)).lo.store(u64::MAX, Ordering::SeqCst);
            nodes.push(node);
        }
        // Every view exists: the names can go (nothing leaks even if a case panics).
        for node in &mut nodes {
            node.unlink_all();
        }
        let nodes: Vec<Arc<NodeSegments>> = nodes.into_iter().map(Arc::new).collect();
        let shared = Arc::new(LocalExchange { n, ..Default::default() });
        // The engines under test see this process's SHMEM_* variables, as a runtime's engines would.
        let settings = crate::Settings::from_env();
        let engines = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|me| {
                    let (nodes, node_of, build, shared, settings) =
                        (&nodes, &node_of, &build, shared.clone(), &settings);
                    s.spawn(move || {
                        let exchange = PeExchange { shared, me: Pe(me as u32) };
                        let setup = EngineSetup {
                            me: Pe(me as u32),
                            n_pes: n as u32,
                            node_of,
                            heap: &nodes[me],
                            exchange: Some(&exchange),
                            timeouts: EngineTimeouts { init: CASE_TIMEOUT, control: CASE_TIMEOUT },
                            job_secret: TESTBED_SECRET,
                            local_ip: Some(std::net::Ipv4Addr::LOCALHOST.into()),
                            settings,
                        };
                        build(&setup).expect("build the engine under test")
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("engine build panicked")).collect()
        });
        Testbed { nodes, engines, node_of }
    }

    /// Number of PEs.
    pub fn n(&self) -> u32 {
        self.engines.len() as u32
    }

    /// `pe`'s own heap bytes at `off..off+len`, read through its own mapping.
    pub fn local_bytes(&self, pe: u32, off: u64, len: usize) -> Vec<u8> {
        let p = self.nodes[pe as usize].ptr(Pe(pe), HeapOffset(off), len as u64).expect("in the heap");
        // SAFETY: the span is inside pe's own mapping (checked by ptr); reading bytes races only with writers
        // the case has completed (quiet) before it reads.
        unsafe { std::slice::from_raw_parts(p.as_ptr(), len).to_vec() }
    }

    /// Writes `bytes` into `pe`'s own heap at `off` through its own mapping.
    pub fn set_local_bytes(&self, pe: u32, off: u64, bytes: &[u8]) {
        let p = self.nodes[pe as usize].ptr(Pe(pe), HeapOffset(off), bytes.len() as u64).expect("in the heap");
        // SAFETY: in pe's own mapping; cases write only regions no engine operation is touching.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr(), bytes.len()) };
    }

    /// `pe`'s own 64-bit word at `off`.
    pub fn word(&self, pe: u32, off: u64) -> &AtomicU64 {
        self.nodes[pe as usize].word64(Pe(pe), HeapOffset(off))
    }
}

/// A byte pattern that differs per case, size and position.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Transfer sizes covering every size class: empty, sub-word, word, cache line, page, multi-channel bulk.
pub const SIZES: &[usize] = &[0, 1, 7, 8, 63, 64, 4095, 4096, (64 << 10) + 3, (1 << 20) + 5, 4 << 20];

/// Put and get at every size class, both completion modes, between every pair of PEs that reach each other;
/// the bytes arrive exactly and the guard bytes on both sides of the target range stay untouched.
pub fn put_get_sizes<E: DataOpEngine>(bed: &Testbed<E>) {
    const GUARD: usize = 64;
    let dst_off = 4096u64;
    for &len in SIZES {
        for from in 0..bed.n() {
            for to in (0..bed.n()).filter(|&to| bed.engines[from as usize].reaches(Pe(to))) {
                for mode in [Completion::Blocking, Completion::Deferred] {
                    let e = &bed.engines[from as usize];
                    let seed = (len as u64) << 16 | u64::from(from) << 8 | u64::from(to) << 1 | (mode as u64);
                    let data = pattern(seed, len);
                    let guard = vec![0xA5u8; len + 2 * GUARD];
                    bed.set_local_bytes(to, dst_off - GUARD as u64, &guard);
                    let op = Put { pe: Pe(to), dst: HeapOffset(dst_off), src: data.as_ptr(), len, signal: None };
                    // SAFETY: data lives until after quiet.
                    unsafe { e.put(op, mode) }.expect("put");
                    e.quiet().expect("quiet");
                    let got = bed.local_bytes(to, dst_off - GUARD as u64, len + 2 * GUARD);
                    assert!(got[..GUARD].iter().all(|&b| b == 0xA5), "put {len} B {from}->{to} {mode:?}: wrote before");
                    assert!(got[GUARD + len..].iter().all(|&b| b == 0xA5), "put {len} B {from}->{to}: wrote after");
                    assert!(got[GUARD..GUARD + len] == data[..], "put {len} B {from}->{to} {mode:?}: wrong bytes");

                    let mut back = vec![0u8; len + 2 * GUARD];
                    let op = Get { pe: Pe(to), src: HeapOffset(dst_off), dst: back[GUARD..].as_mut_ptr(), len };
                    // SAFETY: back outlives the quiet below and is not touched before it.
                    unsafe { e.get(op, mode) }.expect("get");
                    e.quiet().expect("quiet");
                    assert!(back[..GUARD].iter().all(|&b| b == 0) && back[GUARD + len..].iter().all(|&b| b == 0));
                    assert!(back[GUARD..GUARD + len] == data[..], "get {len} B {from}<-{to} {mode:?}: wrong bytes");
                }
            }
        }
    }
}

/// Put-with-signal: a waiter that sees the signal sees the whole data (SET and ADD, both modes), round after
/// round, while the sender runs ahead as far as the protocol lets it.
pub fn signal_after_data<E: DataOpEngine>(bed: &Testbed<E>) {
    const ROUNDS: u64 = 200;
    const LEN: usize = 256 << 10;
    let (data_off, sig_off, ack_off) = (1u64 << 20, 64u64, 128u64);
    for (op, mode) in [
        (SignalOp::Set, Completion::Blocking),
        (SignalOp::Add, Completion::Blocking),
        (SignalOp::Set, Completion::Deferred),
        (SignalOp::Add, Completion::Deferred),
    ] {
        bed.word(1, sig_off).store(0, Ordering::SeqCst);
        bed.word(0, ack_off).store(0, Ordering::SeqCst);
        std::thread::scope(|s| {
            s.spawn(|| {
                let e = &bed.engines[0];
                for round in 1..=ROUNDS {
                    let data = vec![round as u8; LEN];
                    let value = if op == SignalOp::Set { round } else { 1 };
                    let signal = Some(SignalUpdate { at: HeapOffset(sig_off), value, op });
                    let put = Put { pe: Pe(1), dst: HeapOffset(data_off), src: data.as_ptr(), len: LEN, signal };
                    // SAFETY: data lives until the quiet below.
                    unsafe { e.put(put, mode) }.expect("put with signal");
                    e.quiet().expect("quiet");
                    // The receiver acknowledges each round before the next overwrites the data.
                    wait_word(bed.word(0, ack_off), round, "ack");
                }
            });
            s.spawn(|| {
                let e = &bed.engines[1];
                for round in 1..=ROUNDS {
                    wait_word(bed.word(1, sig_off), round, "signal");
                    let got = bed.local_bytes(1, data_off, LEN);
                    assert!(got.iter().all(|&b| b == round as u8), "{op:?} {mode:?} round {round}: data behind signal");
                    e.atomic(Pe(0), HeapOffset(ack_off), AtomicWidth::W64, AtomicOp::FetchAdd(1)).expect("ack");
                }
            });
        });
    }
}

fn wait_word(w: &AtomicU64, at_least: u64, what: &str) {
    let deadline = Instant::now() + CASE_TIMEOUT;
    while w.load(Ordering::Acquire) < at_least {
        assert!(Instant::now() < deadline, "{what} never reached {at_least}: the engine lost an update");
        std::thread::yield_now();
    }
}

/// `fence` orders puts to a PE: a reader that sees the put after the fence sees the one before it.
pub fn fence_orders_puts<E: DataOpEngine>(bed: &Testbed<E>) {
    const ROUNDS: u64 = 2000;
    let (x_off, y_off) = (256u64, 4096u64 + 256);
    for mode in [Completion::Blocking, Completion::Deferred] {
        bed.word(1, x_off).store(0, Ordering::SeqCst);
        bed.word(1, y_off).store(0, Ordering::SeqCst);
        std::thread::scope(|s| {
            s.spawn(|| {
                let e = &bed.engines[0];
                let vals: Vec<u64> = (0..=ROUNDS).collect();
                for i in 1..=ROUNDS {
                    let v = &vals[i as usize] as *const u64 as *const u8;
                    for off in [x_off, y_off] {
                        let put = Put { pe: Pe(1), dst: HeapOffset(off), src: v, len: 8, signal: None };
                        // SAFETY: vals lives until the quiet below.
                        unsafe { e.put(put, mode) }.expect("put");
                        if off == x_off {
                            e.fence().expect("fence");
                        }
                    }
                }
                e.quiet().expect("quiet");
            });
            s.spawn(|| {
                let (x, y) = (bed.word(1, x_off), bed.word(1, y_off));
                let deadline = Instant::now() + CASE_TIMEOUT;
                loop {
                    let seen_y = y.load(Ordering::Acquire);
                    let seen_x = x.load(Ordering::Acquire);
                    assert!(seen_x >= seen_y, "{mode:?}: saw y = {seen_y} before x = {seen_x}: fence did not order");
                    if seen_y == ROUNDS {
                        break;
                    }
                    assert!(Instant::now() < deadline, "puts never completed");
                }
            });
        });
    }
}

/// `quiet` completes deferred puts and gets: the data is in place when it returns, for large transfers too.
pub fn quiet_completes<E: DataOpEngine>(bed: &Testbed<E>) {
    const LEN: usize = 4 << 20;
    let e = &bed.engines[0];
    let to = bed.n() - 1;
    for round in 0..4u64 {
        let data = pattern(round + 77, LEN);
        let put = Put { pe: Pe(to), dst: HeapOffset(0), src: data.as_ptr(), len: LEN, signal: None };
        // SAFETY: data lives until quiet.
        unsafe { e.put(put, Completion::Deferred) }.expect("put nbi");
        e.quiet().expect("quiet");
        assert!(bed.local_bytes(to, 0, LEN) == data, "round {round}: quiet returned before the put completed");
        let mut back = vec![0u8; LEN];
        let get = Get { pe: Pe(to), src: HeapOffset(0), dst: back.as_mut_ptr(), len: LEN };
        // SAFETY: back is untouched until quiet.
        unsafe { e.get(get, Completion::Deferred) }.expect("get nbi");
        e.quiet().expect("quiet");
        assert!(back == data, "round {round}: quiet returned before the get completed");
    }
}

/// Completion domains (contexts): `quiet_in(d)` completes `d`'s deferred puts, gets and signals (whatever it
/// does with other domains'), `quiet` completes every domain's, and closing a domain leaves the engine usable.
pub fn domains_complete_their_own<E: DataOpEngine>(bed: &Testbed<E>) {
    const LEN: usize = 2 << 20;
    let e = &bed.engines[0];
    let to = bed.n() - 1;
    let (d1, d2) = (DomainId(1), DomainId(2));
    e.open_domain(d1).expect("open domain 1");
    e.open_domain(d2).expect("open domain 2");
    let sig_at = (3 * LEN) as u64;
    for round in 0..3u64 {
        let (a, b) = (pattern(round + 101, LEN), pattern(round + 202, LEN));
        let put_a = Put { pe: Pe(to), dst: HeapOffset(0), src: a.as_ptr(), len: LEN, signal: None };
        let signal = Some(SignalUpdate { at: HeapOffset(sig_at), value: 1, op: SignalOp::Add });
        let put_b = Put { pe: Pe(to), dst: HeapOffset(LEN as u64), src: b.as_ptr(), len: LEN, signal };
        // SAFETY: a and b live until the quiets below.
        unsafe { e.put_in(d1, put_a, Completion::Deferred) }.expect("put in domain 1");
        // SAFETY: as above.
        unsafe { e.put_in(d2, put_b, Completion::Deferred) }.expect("put in domain 2");
        e.quiet_in(d2).expect("quiet domain 2");
        assert!(bed.local_bytes(to, LEN as u64, LEN) == b, "round {round}: quiet_in(d2) before d2's put completed");
        assert_eq!(bed.word(to, sig_at).load(Ordering::Acquire), round + 1, "round {round}: d2's signal");
        e.quiet_in(d1).expect("quiet domain 1");
        assert!(bed.local_bytes(to, 0, LEN) == a, "round {round}: quiet_in(d1) before d1's put completed");
        let mut back = vec![0u8; LEN];
        let get = Get { pe: Pe(to), src: HeapOffset(LEN as u64), dst: back.as_mut_ptr(), len: LEN };
        // SAFETY: back is untouched until the quiet.
        unsafe { e.get_in(d1, get, Completion::Deferred) }.expect("get in domain 1");
        e.fence_in(d1).expect("fence domain 1");
        e.quiet_in(d1).expect("quiet domain 1");
        assert!(back == b, "round {round}: quiet_in(d1) before d1's get completed");
        // The plain quiet completes a domain's traffic too.
        let c = pattern(round + 303, LEN);
        let put_c = Put { pe: Pe(to), dst: HeapOffset(2 * LEN as u64), src: c.as_ptr(), len: LEN, signal: None };
        // SAFETY: c lives until the quiet.
        unsafe { e.put_in(d2, put_c, Completion::Deferred) }.expect("put in domain 2");
        e.quiet().expect("quiet");
        assert!(bed.local_bytes(to, 2 * LEN as u64, LEN) == c, "round {round}: quiet skipped domain 2");
    }
    e.close_domain(d1);
    e.close_domain(d2);
    let z = pattern(404, 4096);
    let put = Put { pe: Pe(to), dst: HeapOffset(0), src: z.as_ptr(), len: z.len(), signal: None };
    // SAFETY: z lives until the quiet.
    unsafe { e.put(put, Completion::Deferred) }.expect("put after closing the domains");
    e.quiet().expect("quiet");
    assert!(bed.local_bytes(to, 0, z.len()) == z, "plain put after the domains closed");
}

/// Every AMO, 32 and 64 bits, exact under contention: every PE runs several threads that hammer words on one
/// target; totals, bit sets and swap chains come out exact.
pub fn atomics_exact_under_contention<E: DataOpEngine>(bed: &Testbed<E>) {
    const THREADS: u64 = 2;
    const ITERS: u64 = 2000;
    let target = Pe(bed.n() - 1);
    let (add64, add32, cas64, bits64, swap64) = (512u64, 520u64, 528u64, 536u64, 544u64);
    for off in [add64, cas64, bits64, swap64] {
        bed.word(target.0, off).store(0, Ordering::SeqCst);
    }
    bed.word(target.0, add32).store(0, Ordering::SeqCst); // and its upper neighbour (524..528) stays 0
    let workers = u64::from(bed.n()) * THREADS;
    let swapped_out = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for pe in 0..bed.n() {
            for t in 0..THREADS {
                let (e, swapped_out) = (&bed.engines[pe as usize], &swapped_out);
                s.spawn(move || {
                    let id = u64::from(pe) * THREADS + t;
                    let mut mine = Vec::new();
                    for i in 0..ITERS {
                        e.atomic(target, HeapOffset(add64), AtomicWidth::W64, AtomicOp::FetchAdd(3)).unwrap();
                        e.atomic(target, HeapOffset(add32), AtomicWidth::W32, AtomicOp::FetchAdd(1)).unwrap();
                        loop {
                            let cur = e.atomic(target, HeapOffset(cas64), AtomicWidth::W64, AtomicOp::Fetch).unwrap();
                            let op = AtomicOp::CompareSwap { cond: cur, value: cur + 1 };
                            if e.atomic(target, HeapOffset(cas64), AtomicWidth::W64, op).unwrap() == cur {
                                break;
                            }
                        }
                        let bit = 1u64 << (id % 64);
                        e.atomic(target, HeapOffset(bits64), AtomicWidth::W64, AtomicOp::FetchXor(bit)).unwrap();
                        // A unique token per (worker, i); the chain of swaps loses none.
                        let token = (id << 32) | (i + 1);
                        mine.push(
                            e.atomic(target, HeapOffset(swap64), AtomicWidth::W64, AtomicOp::Swap(token)).unwrap(),
                        );
                    }
                    swapped_out.lock().unwrap().extend(mine);
                });
            }
        }
    });
    let n = workers * ITERS;
    let e = &bed.engines[0];
    let fetch = |off, w| e.atomic(target, HeapOffset(off), w, AtomicOp::Fetch).unwrap();
    assert_eq!(fetch(add64, AtomicWidth::W64), 3 * n, "fetch_add 64 lost updates");
    assert_eq!(fetch(add32, AtomicWidth::W32), n & 0xFFFF_FFFF, "fetch_add 32 lost updates");
    assert_eq!(bed.word(target.0, add32).load(Ordering::SeqCst) >> 32, 0, "a 32-bit AMO touched the next word");
    assert_eq!(fetch(cas64, AtomicWidth::W64), n, "compare_swap increments lost");
    // Each worker flipped its bit ITERS (even) times.
    assert_eq!(fetch(bits64, AtomicWidth::W64), 0, "fetch_xor lost a flip");
    // Swaps: every token but the last one written came out exactly once, plus the initial 0.
    let mut out = swapped_out.into_inner().unwrap();
    out.push(fetch(swap64, AtomicWidth::W64));
    out.sort_unstable();
    let mut want: Vec<u64> = (0..workers).flat_map(|id| (1..=ITERS).map(move |i| (id << 32) | i)).collect();
    want.push(0);
    want.sort_unstable();
    assert!(out == want, "swap chain lost or duplicated a value");

    // and/or and the returned previous values, single-threaded and exact.
    let w = HeapOffset(bits64);
    assert_eq!(e.atomic(target, w, AtomicWidth::W64, AtomicOp::FetchOr(0xF0)).unwrap(), 0);
    assert_eq!(e.atomic(target, w, AtomicWidth::W64, AtomicOp::FetchAnd(0x3C)).unwrap(), 0xF0);
    assert_eq!(e.atomic(target, w, AtomicWidth::W64, AtomicOp::FetchXor(0xFF)).unwrap(), 0x30);
    assert_eq!(e.atomic(target, w, AtomicWidth::W64, AtomicOp::Fetch).unwrap(), 0xCF);
    let cas_fail = AtomicOp::CompareSwap { cond: 1, value: 99 };
    assert_eq!(e.atomic(target, w, AtomicWidth::W64, cas_fail).unwrap(), 0xCF, "failed CAS returns the old value");
    assert_eq!(e.atomic(target, w, AtomicWidth::W64, AtomicOp::Fetch).unwrap(), 0xCF, "failed CAS wrote");
}

/// A PE the engine does not reach is reported by `reaches`, and operations aimed at it are errors, never a
/// crash or a write somewhere else. Needs a testbed with PEs on two nodes ([`Testbed::on_nodes`]).
pub fn unreachable_peers_are_errors<E: DataOpEngine>(bed: &Testbed<E>) {
    for from in 0..bed.n() {
        for to in 0..bed.n() {
            let e = &bed.engines[from as usize];
            let same = bed.node_of[from as usize] == bed.node_of[to as usize];
            if same || e.reaches(Pe(to)) {
                continue;
            }
            let data = [7u8; 16];
            let put = Put { pe: Pe(to), dst: HeapOffset(0), src: data.as_ptr(), len: 16, signal: None };
            // SAFETY: data outlives the call (and the quiet).
            assert!(unsafe { e.put(put, Completion::Blocking) }.is_err(), "put to unreachable {to} succeeded");
            let mut back = [0u8; 16];
            let get = Get { pe: Pe(to), src: HeapOffset(0), dst: back.as_mut_ptr(), len: 16 };
            // SAFETY: back outlives the call.
            assert!(unsafe { e.get(get, Completion::Blocking) }.is_err(), "get from unreachable {to} succeeded");
            let amo = e.atomic(Pe(to), HeapOffset(0), AtomicWidth::W64, AtomicOp::FetchAdd(1));
            assert!(amo.is_err(), "atomic on unreachable {to} succeeded");
            assert!(e.peer_ptr(Pe(to), HeapOffset(0)).is_none());
            assert_eq!(bed.local_bytes(to, 0, 16), vec![0u8; 16], "an unreachable PE's heap was written");
        }
    }
}

/// Expands to one `#[test]` per conformance case for the engine that `$build` (a
/// `Fn(&EngineSetup) -> Result<E>`) makes. Same-node engines pass `same_node_only` to also check that PEs on
/// another node are refused.
#[macro_export]
macro_rules! conformance_tests {
    ($build:expr $(, $same_node_only:ident)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            use $crate::conformance::{self as c, Testbed};

            #[test]
            fn put_get_every_size_both_modes() {
                c::put_get_sizes(&Testbed::new(3, $build));
            }
            #[test]
            fn signal_after_data() {
                c::signal_after_data(&Testbed::new(2, $build));
            }
            #[test]
            fn fence_orders_puts() {
                c::fence_orders_puts(&Testbed::new(2, $build));
            }
            #[test]
            fn quiet_completes() {
                c::quiet_completes(&Testbed::new(2, $build));
            }
            #[test]
            fn domains_complete_their_own() {
                c::domains_complete_their_own(&Testbed::new(2, $build));
            }
            #[test]
            fn atomics_exact_under_contention() {
                c::atomics_exact_under_contention(&Testbed::new(3, $build));
            }
            $(
            #[test]
            fn unreachable_peers_are_errors() {
                let _ = stringify!($same_node_only);
                c::unreachable_peers_are_errors(&Testbed::on_nodes(vec![0, 0, 1], $build));
            }
            )?
        }
    };
}
