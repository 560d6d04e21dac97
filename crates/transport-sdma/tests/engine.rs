//! Correctness of the SDMA engine on real shared memory: exact placement at every size, signals after data,
//! quiet, drop with work in flight, errors, atomics, configuration.

mod common;

use common::{pattern, Job};
use shmem_core::engine::{AtomicOp, AtomicWidth, Completion, DataOpEngine, Get, Put, SignalOp, SignalUpdate};
use shmem_core::error::code;
use shmem_core::{HeapOffset, OpEngineType, Pe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use transport_sdma::{SdmaConfig, SdmaEngine};

const GUARD: usize = 64;
const GUARD_BYTE: u8 = 0xEE;

/// Sizes to try: every size up to 300, then powers of two and their neighbours up to 8 MiB.
fn sizes() -> Vec<usize> {
    let mut v: Vec<usize> = (0..=300).collect();
    let mut p = 512;
    while p <= 8 << 20 {
        v.extend([p - 1, p, p + 1]);
        p *= 2;
    }
    v.retain(|&s| s <= 8 << 20);
    v
}

/// Puts then gets every size at unaligned offsets; data lands byte-exact and the guards around it stay.
fn put_get_every_size(channels: usize, split: usize) {
    let heap = (8 << 20) + 4 * GUARD as u64 + 4096;
    let job = Job::new(0, &[1], heap);
    let e = job.engine(channels, split);
    let peer = Pe(1);
    for (i, &len) in sizes().iter().enumerate() {
        let skew = (i % 7) + 1;
        let off = (GUARD + skew) as u64;
        let data = pattern(i as u64 + 1, len);
        // Guards on the peer around the target range.
        job.write(peer, off - GUARD as u64, &vec![GUARD_BYTE; len + 2 * GUARD]);
        // The source sits at an unaligned address too.
        let mut src = vec![0u8; len + 8];
        src[skew..skew + len].copy_from_slice(&data);
        let nbi = i % 2 == 0;
        // SAFETY: `src` outlives the call and, for the nbi form, the quiet below.
        unsafe {
            if nbi {
                e.put(
                    Put { pe: peer, dst: HeapOffset(off), src: src.as_ptr().add(skew), len, signal: None },
                    Completion::Deferred,
                )
                .unwrap();
                e.quiet().unwrap();
            } else {
                e.put(
                    Put { pe: peer, dst: HeapOffset(off), src: src.as_ptr().add(skew), len, signal: None },
                    Completion::Blocking,
                )
                .unwrap();
            }
        }
        let landed = job.read(peer, off - GUARD as u64, len + 2 * GUARD);
        assert!(landed[..GUARD].iter().all(|&b| b == GUARD_BYTE), "guard before, len {len}");
        assert!(landed[GUARD + len..].iter().all(|&b| b == GUARD_BYTE), "guard after, len {len}");
        assert!(landed[GUARD..GUARD + len] == data[..], "put of {len} B at +{off} (channels {channels})");

        // Get it back into a guarded local buffer, with the other form (blocking after nbi and vice versa).
        let mut dst = vec![GUARD_BYTE; len + 2 * GUARD];
        // SAFETY: `dst` outlives the call and is untouched until the quiet below.
        unsafe {
            let p = dst.as_mut_ptr().add(GUARD);
            if nbi {
                e.get(Get { pe: peer, src: HeapOffset(off), dst: p, len }, Completion::Blocking).unwrap();
            } else {
                e.get(Get { pe: peer, src: HeapOffset(off), dst: p, len }, Completion::Deferred).unwrap();
                e.quiet().unwrap();
            }
        }
        assert!(dst[..GUARD].iter().all(|&b| b == GUARD_BYTE), "local guard before, len {len}");
        assert!(dst[GUARD + len..].iter().all(|&b| b == GUARD_BYTE), "local guard after, len {len}");
        assert!(dst[GUARD..GUARD + len] == data[..], "get of {len} B (channels {channels})");
    }
    assert_eq!(e.in_flight(), 0);
}

#[test]
fn put_get_every_size_one_channel() {
    put_get_every_size(1, 256 << 10);
}

#[test]
fn put_get_every_size_split_across_three_channels() {
    // A small split threshold makes most sizes above 4 KiB travel as three pieces.
    put_get_every_size(3, 4096);
}

/// A reader polls the signal word as the peer would and checks the data the moment it sees a new value.
fn signal_after_data(op: SignalOp, nbi: bool) {
    const ITERS: u64 = 200;
    let max = 1 << 20;
    let job = Job::new(0, &[1], 2 << 20);
    let e = job.engine(3, 16 << 10);
    let peer = Pe(1);
    let (data_off, sig_off, ack_off) = (0u64, (max + 4096) as u64, (max + 8192) as u64);
    job.word(peer, sig_off).store(0, Ordering::SeqCst);
    job.word(peer, ack_off).store(0, Ordering::SeqCst);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let sig = job.word(peer, sig_off);
            let ack = job.word(peer, ack_off);
            for k in 1..=ITERS {
                let want = match op {
                    SignalOp::Set => k * 1000,
                    SignalOp::Add => k,
                };
                let deadline = Instant::now() + Duration::from_secs(10);
                // Acquire: a signal seen here must come with all of its data.
                while sig.load(Ordering::Acquire) != want {
                    assert!(Instant::now() < deadline, "signal {want} never came");
                    std::hint::spin_loop();
                }
                let len = iter_len(k, max);
                let got = job.read(peer, data_off, len);
                let bad = got.iter().position(|&b| b != k as u8);
                assert_eq!(bad, None, "iteration {k}: signal visible before byte {bad:?} of {len} B of data");
                ack.store(k, Ordering::Release);
            }
        });
        let ack = job.word(peer, ack_off);
        for k in 1..=ITERS {
            let len = iter_len(k, max);
            let src = vec![k as u8; len];
            let value = match op {
                SignalOp::Set => k * 1000,
                SignalOp::Add => 1,
            };
            // SAFETY: `src` lives until the quiet (nbi) or the return (blocking).
            unsafe {
                if nbi {
                    e.put(
                        Put {
                            pe: peer,
                            dst: HeapOffset(data_off),
                            src: src.as_ptr(),
                            len,
                            signal: Some(SignalUpdate { at: HeapOffset(sig_off), value, op }),
                        },
                        Completion::Deferred,
                    )
                    .unwrap();
                    e.quiet().unwrap();
                } else {
                    e.put(
                        Put {
                            pe: peer,
                            dst: HeapOffset(data_off),
                            src: src.as_ptr(),
                            len,
                            signal: Some(SignalUpdate { at: HeapOffset(sig_off), value, op }),
                        },
                        Completion::Blocking,
                    )
                    .unwrap();
                }
            }
            let deadline = Instant::now() + Duration::from_secs(10);
            while ack.load(Ordering::Acquire) != k {
                assert!(Instant::now() < deadline, "reader stuck at iteration {k}");
                std::thread::yield_now();
            }
        }
        reader.join().unwrap();
    });
}

/// Data sizes of the signal tests: from empty to 1 MiB (several pieces), varying every iteration.
fn iter_len(k: u64, max: usize) -> usize {
    match k % 4 {
        0 => 0,
        1 => (k as usize * 37) % 4096 + 1,
        2 => max - (k as usize * 4099) % (max / 2),
        _ => max,
    }
}

#[test]
fn put_signal_set_nbi_never_before_data() {
    signal_after_data(SignalOp::Set, true);
}

#[test]
fn put_signal_add_blocking_never_before_data() {
    signal_after_data(SignalOp::Add, false);
}

/// Many signalling puts in flight at once, some split over channels: after quiet every add has landed once
/// and every block of data is in place.
#[test]
fn many_signal_puts_in_flight() {
    const N: u64 = 400;
    let job = Job::new(0, &[1], 8 << 20);
    let e = job.engine(3, 16 << 10);
    let sig = 7 << 20;
    let srcs: Vec<Vec<u8>> =
        (0..N).map(|i| pattern(i, if i % 40 == 0 { 64 << 10 } else { (i as usize * 13) % 2000 })).collect();
    let mut at = 0u64;
    let mut placed = Vec::new();
    for src in &srcs {
        // SAFETY: `srcs` outlives the quiet below.
        unsafe {
            e.put(
                Put {
                    pe: Pe(1),
                    dst: HeapOffset(at),
                    src: src.as_ptr(),
                    len: src.len(),
                    signal: Some(SignalUpdate { at: HeapOffset(sig), value: 1, op: SignalOp::Add }),
                },
                Completion::Deferred,
            )
            .unwrap()
        };
        placed.push(at);
        at += src.len() as u64 + 8;
    }
    e.quiet().unwrap();
    assert_eq!(job.word(Pe(1), sig).load(Ordering::Acquire), N);
    for (src, &at) in srcs.iter().zip(&placed) {
        assert!(job.read(Pe(1), at, src.len()) == *src, "block at +{at}");
    }
}

#[test]
fn quiet_waits_for_a_64_mib_put() {
    let len = 64 << 20;
    let job = Job::new(0, &[1], len as u64);
    let e = job.engine(2, 256 << 10);
    let peer = Pe(1);
    let src = pattern(64, len);
    let t = Instant::now();
    // SAFETY: `src` is untouched until after the quiet.
    unsafe {
        e.put(Put { pe: peer, dst: HeapOffset(0), src: src.as_ptr(), len, signal: None }, Completion::Deferred).unwrap()
    };
    let issued = t.elapsed();
    let pending = e.in_flight();
    e.quiet().unwrap();
    let done = t.elapsed();
    println!(
        "64 MiB put_nbi: issue {issued:?}, {pending} descriptor(s) in flight after issue, complete after {done:?}"
    );
    assert_eq!(e.in_flight(), 0);
    assert!(job.read(peer, 0, len) == src, "64 MiB put incomplete after quiet");

    let mut back = vec![0u8; len];
    // SAFETY: `back` is untouched until after the quiet.
    unsafe { e.get(Get { pe: peer, src: HeapOffset(0), dst: back.as_mut_ptr(), len }, Completion::Deferred).unwrap() };
    e.quiet().unwrap();
    assert!(back == src, "64 MiB get incomplete after quiet");
}

#[test]
fn drop_with_work_in_flight_completes_and_does_not_hang() {
    let big = 32 << 20;
    let job = Job::new(0, &[1], (2 * big) as u64);
    let peer = Pe(1);
    let src = pattern(7, big);
    let small: Vec<Vec<u8>> = (0..2000).map(|i| vec![(i % 251) as u8; 512]).collect();
    let e = job.engine(2, 256 << 10);
    // SAFETY: every source outlives the engine (dropped below), whose drop completes the work.
    unsafe {
        e.put(Put { pe: peer, dst: HeapOffset(0), src: src.as_ptr(), len: big, signal: None }, Completion::Deferred)
            .unwrap();
        for (i, s) in small.iter().enumerate() {
            e.put(
                Put { pe: peer, dst: HeapOffset((big + i * 512) as u64), src: s.as_ptr(), len: s.len(), signal: None },
                Completion::Deferred,
            )
            .unwrap();
        }
    }
    let t = Instant::now();
    drop(e);
    let took = t.elapsed();
    println!("drop with {} MiB + 2000 puts in flight took {took:?}", big >> 20);
    assert!(took < Duration::from_secs(10), "drop took {took:?}");
    assert!(job.read(peer, 0, big) == src, "drop did not drain the big put");
    for (i, s) in small.iter().enumerate() {
        assert_eq!(job.read(peer, (big + i * 512) as u64, 512), *s, "small put {i}");
    }

    // Dropping idle and freshly started engines is prompt too.
    for channels in [1, 4] {
        let t = Instant::now();
        drop(job.engine(channels, 256 << 10));
        let e = job.engine(channels, 256 << 10);
        std::thread::sleep(Duration::from_millis(5)); // let the workers park
        drop(e);
        assert!(t.elapsed() < Duration::from_secs(2), "idle drop took {:?}", t.elapsed());
    }
}

#[test]
fn unreachable_peers_are_errors_at_issue() {
    // PE 1 is off this node; PE 2 is on it. Reach is the one thing only the engine knows: a real check.
    let job = Job::new(0, &[2], 1 << 16);
    let e = job.engine(2, 256 << 10);
    let buf = [0u8; 64];
    let mut out = [0u8; 64];
    // SAFETY: the buffers outlive every call (all fail or are blocking).
    unsafe {
        let err = e
            .put(Put { pe: Pe(1), dst: HeapOffset(0), src: buf.as_ptr(), len: 8, signal: None }, Completion::Deferred)
            .unwrap_err();
        assert_eq!(err.code(), code::NOT_SUPPORTED, "{err}");
        assert!(err.to_string().contains("PE 1"), "{err}");
        let err = e
            .get(Get { pe: Pe(9), src: HeapOffset(0), dst: out.as_mut_ptr(), len: 8 }, Completion::Blocking)
            .unwrap_err();
        assert_eq!(err.code(), code::NOT_SUPPORTED, "{err}");
        let seg_len = job.node.layout().segment_len();
        // Zero-length operations are fine anywhere in bounds, even at the very end.
        e.put(
            Put { pe: Pe(2), dst: HeapOffset(seg_len), src: buf.as_ptr(), len: 0, signal: None },
            Completion::Blocking,
        )
        .unwrap();
        e.put(
            Put { pe: Pe(2), dst: HeapOffset(seg_len), src: buf.as_ptr(), len: 0, signal: None },
            Completion::Deferred,
        )
        .unwrap();
    }
    // Atomics are safe methods: their bounds and alignment stay real checks (see NodeSegments::atomic).
    let err = e.atomic(Pe(2), HeapOffset(4), AtomicWidth::W64, AtomicOp::Fetch).unwrap_err();
    assert_eq!(err.code(), code::INVALID_PARAM, "{err}");
    // Nothing failed asynchronously.
    e.quiet().unwrap();
    e.fence().unwrap();
}

/// Ranges outside the segment break the trait's contract (the facade checks them once). A release build
/// still never writes outside the mapping: the address is bounds-checked where it is formed, and the error
/// comes back at issue (blocking) or at the next quiet (deferred).
#[cfg(not(debug_assertions))]
#[test]
fn out_of_contract_ranges_never_write_outside_the_segment() {
    let job = Job::new(0, &[2], 1 << 16);
    let e = job.engine(2, 256 << 10);
    let buf = [7u8; 64];
    let mut out = [0u8; 64];
    let seg_len = job.node.layout().segment_len();
    // SAFETY: the buffers outlive every call (blocking, or completed by the quiet below).
    unsafe {
        let err = e
            .put(
                Put { pe: Pe(2), dst: HeapOffset(seg_len - 4), src: buf.as_ptr(), len: 8, signal: None },
                Completion::Blocking,
            )
            .unwrap_err();
        assert_eq!(err.code(), code::INVALID_PARAM, "{err}");
        let r =
            e.get(Get { pe: Pe(2), src: HeapOffset(u64::MAX), dst: out.as_mut_ptr(), len: 2 }, Completion::Deferred);
        let err = r.and_then(|()| e.quiet()).unwrap_err();
        assert_eq!(err.code(), code::INVALID_PARAM, "{err}");
    }
    assert_eq!(out, [0u8; 64], "a refused get wrote the destination");
    e.quiet().unwrap();
}

/// In debug builds the engine asserts the facade's part of the contract at issue.
#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "the facade checks the signal word")]
fn debug_builds_assert_the_contract() {
    let job = Job::new(0, &[2], 1 << 16);
    let e = job.engine(2, 256 << 10);
    let buf = [0u8; 8];
    let signal = Some(SignalUpdate { at: HeapOffset(12), value: 1, op: SignalOp::Set });
    // SAFETY: the call panics before any copy.
    let _ = unsafe {
        e.put(Put { pe: Pe(2), dst: HeapOffset(0), src: buf.as_ptr(), len: 8, signal }, Completion::Deferred)
    };
}

#[test]
fn identity_atomics_and_pointers() {
    let job = Job::new(0, &[1], 1 << 16);
    let e = job.engine(2, 256 << 10);
    assert_eq!(e.kind(), OpEngineType::SDMA);
    let caps = e.capabilities();
    assert!(caps.asynchronous_nbi && caps.direct_pointers);
    assert!(e.reaches(Pe(0)) && e.reaches(Pe(1)) && !e.reaches(Pe(2)));
    assert!(e.peer_ptr(Pe(1), HeapOffset(64)).is_some());
    assert!(e.peer_ptr(Pe(2), HeapOffset(64)).is_none());
    assert!(format!("{e:?}").contains("SdmaEngine"));

    let w = HeapOffset(128);
    assert_eq!(e.atomic(Pe(1), w, AtomicWidth::W64, AtomicOp::Swap(5)).unwrap(), 0);
    assert_eq!(e.atomic(Pe(1), w, AtomicWidth::W64, AtomicOp::FetchAdd(u64::MAX)).unwrap(), 5);
    assert_eq!(e.atomic(Pe(1), w, AtomicWidth::W64, AtomicOp::CompareSwap { cond: 4, value: 9 }).unwrap(), 4);
    assert_eq!(e.atomic(Pe(1), w, AtomicWidth::W64, AtomicOp::FetchOr(6)).unwrap(), 9);
    assert_eq!(e.atomic(Pe(1), w, AtomicWidth::W64, AtomicOp::FetchAnd(12)).unwrap(), 15);
    assert_eq!(e.atomic(Pe(1), w, AtomicWidth::W64, AtomicOp::FetchXor(1)).unwrap(), 12);
    assert_eq!(job.word(Pe(1), 128).load(Ordering::SeqCst), 13);
    let w32 = HeapOffset(256 + 4);
    assert_eq!(e.atomic(Pe(1), w32, AtomicWidth::W32, AtomicOp::FetchAdd(u64::MAX)).unwrap(), 0);
    assert_eq!(e.atomic(Pe(1), w32, AtomicWidth::W32, AtomicOp::Fetch).unwrap(), u32::MAX as u64);
    assert_eq!(job.word(Pe(1), 256).load(Ordering::SeqCst), (u32::MAX as u64) << 32, "upper half only");

    // Concurrent atomic adds from several threads through one engine are not lost.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    e.atomic(Pe(1), HeapOffset(512), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
                }
            });
        }
    });
    assert_eq!(job.word(Pe(1), 512).load(Ordering::SeqCst), 4000);

    // A put to this PE itself with overlapping ranges behaves like memmove.
    let data = pattern(3, 4096);
    job.write(Pe(0), 0, &data);
    let own = e.peer_ptr(Pe(0), HeapOffset(0)).unwrap();
    // SAFETY: the source is 4096 in-bounds bytes of the own mapping; the blocking put returns after the copy.
    unsafe {
        e.put(Put { pe: Pe(0), dst: HeapOffset(100), src: own.as_ptr(), len: 4096, signal: None }, Completion::Blocking)
            .unwrap()
    };
    assert_eq!(job.read(Pe(0), 100, 4096), data);
}

#[test]
fn bad_channel_configs_are_invalid_param() {
    let job = Job::new(0, &[1], 1 << 16);
    let ok = SdmaConfig::default();
    for bad in [
        SdmaConfig { channels: 0, ..ok },
        SdmaConfig { channels: 1000, ..ok },
        SdmaConfig { ring_capacity: 100, ..ok },
        SdmaConfig { split_bytes: 1, ..ok },
    ] {
        let err = SdmaEngine::new(job.node.clone(), bad).unwrap_err();
        assert_eq!(err.code(), code::INVALID_PARAM, "{bad:?}: {err}");
    }
    let err = SdmaConfig::from_lookup(|k| (k == transport_sdma::CHANNELS_VAR).then(|| "0".to_string())).unwrap_err();
    assert_eq!(err.code(), code::INVALID_PARAM);
    assert!(err.to_string().contains("SHMEM_SDMA_CHANNELS"), "{err}");
    // The smallest rings work: issuers wait for room instead of failing.
    let tiny = SdmaEngine::new(job.node.clone(), SdmaConfig { channels: 1, ring_capacity: 2, ..ok }).unwrap();
    let src = pattern(9, 64 * 100);
    for i in 0..100 {
        // SAFETY: `src` outlives the quiet below.
        unsafe {
            tiny.put(
                Put {
                    pe: Pe(1),
                    dst: HeapOffset(i * 64),
                    src: src.as_ptr().add(i as usize * 64),
                    len: 64,
                    signal: None,
                },
                Completion::Deferred,
            )
            .unwrap()
        };
    }
    tiny.quiet().unwrap();
    assert_eq!(job.read(Pe(1), 0, src.len()), src);
}

/// CPU ticks (utime + stime) of this process's threads whose name starts with `prefix`, their number, and
/// the scheduling policy of the last one (3 is SCHED_BATCH).
fn thread_ticks(prefix: &str) -> (usize, u64, u64) {
    let mut n = 0;
    let mut ticks = 0;
    let mut policy = 0;
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Fields after the ")" that closes the name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 38 {
            n += 1;
            ticks += f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0);
            policy = f[38].parse::<u64>().unwrap_or(0);
        }
    }
    (n, ticks, policy)
}

#[test]
fn idle_channels_sleep_and_wake_fast() {
    // PE 7: its worker threads are named "sdma7.*", apart from other tests' engines.
    let job = Job::new(7, &[1], 1 << 20);
    let e = job.engine(2, 256 << 10);
    let src = [1u8; 8];
    // SAFETY: `src` outlives the blocking calls.
    unsafe {
        e.put(Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len: 8, signal: None }, Completion::Blocking)
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(20));
    let (threads, before, policy) = thread_ticks("sdma7.");
    assert_eq!(threads, 2);
    println!("worker scheduling policy {policy} (3 = SCHED_BATCH)");
    std::thread::sleep(Duration::from_millis(300));
    let (_, after, _) = thread_ticks("sdma7.");
    println!("idle workers used {} clock tick(s) in 300 ms", after - before);
    assert!(after - before <= 2, "idle workers burned {} ticks in 300 ms", after - before);

    // Wake-up: a blocking put to sleeping channels completes in microseconds.
    let mut lat = Vec::new();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(2));
        let t = Instant::now();
        // SAFETY: as above.
        unsafe {
            e.put(Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len: 8, signal: None }, Completion::Blocking)
                .unwrap()
        };
        lat.push(t.elapsed());
    }
    lat.sort();
    println!("blocking 8 B put on a sleeping channel: median {:?}, max {:?}", lat[lat.len() / 2], lat[lat.len() - 1]);
}

/// Completion domains are independent: with a 64 MiB `_nbi` put in flight in domain 1, `quiet_in` of domain 2
/// returns while that transfer is still queued (checked through the engine's own counters, not by timing), and
/// domain 1's data is exact after its own quiet. The plain `quiet`, the control, always leaves nothing in flight.
#[test]
fn quiet_of_one_domain_does_not_wait_for_another() {
    use shmem_core::engine::DomainId;
    const BIG: usize = 64 << 20;
    const SMALL: usize = 256 << 10;
    let job = Job::new(0, &[1], (BIG + 2 * SMALL) as u64 + 4096);
    let e = job.engine(2, 256 << 10);
    let (d1, d2) = (DomainId(1), DomainId(2));
    e.open_domain(d1).unwrap();
    e.open_domain(d2).unwrap();
    let big = pattern(9, BIG);
    let small = pattern(10, SMALL);
    let put_big = Put { pe: Pe(1), dst: HeapOffset(0), src: big.as_ptr(), len: BIG, signal: None };
    let put_small = Put { pe: Pe(1), dst: HeapOffset(BIG as u64), src: small.as_ptr(), len: SMALL, signal: None };
    let mut left_in_flight = false;
    for round in 0..5 {
        // SAFETY: `big` and `small` outlive the quiets below.
        unsafe {
            e.put_in(d1, put_big, Completion::Deferred).unwrap();
            e.put_in(d2, put_small, Completion::Deferred).unwrap();
        }
        e.quiet_in(d2).unwrap();
        let pending = e.domain_in_flight(d1);
        assert_eq!(e.domain_in_flight(d2), 0, "round {round}: quiet_in(d2) left d2's own put in flight");
        assert!(job.read(Pe(1), BIG as u64, SMALL) == small, "round {round}: d2's data after its quiet");
        e.quiet_in(d1).unwrap();
        assert_eq!(e.domain_in_flight(d1), 0);
        assert!(job.read(Pe(1), 0, BIG) == big, "round {round}: d1's data after its quiet");
        if pending > 0 {
            left_in_flight = true;
            break;
        }
    }
    assert!(left_in_flight, "quiet_in(d2) waited for d1's 64 MiB transfer in every round");
    // Control: the plain quiet completes every domain.
    // SAFETY: `big` outlives the quiet.
    unsafe { e.put_in(d1, put_big, Completion::Deferred) }.unwrap();
    e.quiet().unwrap();
    assert_eq!(e.domain_in_flight(d1), 0, "quiet left a domain's transfer in flight");
    e.close_domain(d1);
    e.close_domain(d2);
}

/// A quiet that meets an error (here a deferred one: an out-of-contract get) still waits for every domain's
/// transfers before it returns the error: a caller given the error may free or reuse the buffers that those
/// transfers read (before, it returned at the error with another domain's 64 MiB put still copying).
#[cfg(not(debug_assertions))]
#[test]
fn a_quiet_with_an_error_still_completes_every_domain() {
    use shmem_core::engine::DomainId;
    const BIG: usize = 64 << 20;
    let job = Job::new(0, &[1], BIG as u64 + 4096);
    let e = job.engine(2, 256 << 10);
    let d1 = DomainId(1);
    e.open_domain(d1).unwrap();
    let big = pattern(11, BIG);
    let mut out = [0u8; 8];
    let put_big = Put { pe: Pe(1), dst: HeapOffset(0), src: big.as_ptr(), len: BIG, signal: None };
    // SAFETY: `big` and `out` outlive the quiet below, which completes both.
    unsafe {
        e.put_in(d1, put_big, Completion::Deferred).unwrap();
        let get = Get { pe: Pe(1), src: HeapOffset(u64::MAX), dst: out.as_mut_ptr(), len: 2 };
        e.get(get, Completion::Deferred).unwrap();
    }
    let err = e.quiet().unwrap_err();
    assert_eq!(err.code(), code::INVALID_PARAM, "{err}");
    assert_eq!(e.domain_in_flight(d1), 0, "the quiet returned its error with d1's transfer in flight");
    assert!(job.read(Pe(1), 0, BIG) == big, "d1's data after the quiet");
    e.quiet().unwrap();
    e.close_domain(d1);
}
