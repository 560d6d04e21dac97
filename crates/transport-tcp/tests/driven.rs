//! Caller-driven progress and small-put batching: a thread that waits inside the library serves the PE's
//! sockets itself (`DataOpEngine::progress`), several of them and the progress thread hand the role over
//! without ever splitting a frame, and batched small puts arrive whole, in order, and promptly even when no
//! `quiet` follows them.

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, Completion, DataOpEngine, Put, SignalOp, SignalUpdate};
use shmem_core::{HeapOffset, Pe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use transport_tcp::TcpEngine;

mod common;

fn bed(n: u32) -> Testbed<TcpEngine> {
    Testbed::on_nodes((0..n).collect(), TcpEngine::build)
}

/// Waits (bounded) until `pe`'s word at `off` is at least `v`, lending the thread to `pe`'s engine between
/// polls as the facade's waits do when `drive`.
fn wait_word(bed: &Testbed<TcpEngine>, pe: u32, off: u64, v: u64, drive: bool, what: &str) -> Duration {
    let start = Instant::now();
    let w = bed.word(pe, off);
    while w.load(Ordering::Acquire) < v {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}: PE {pe}'s word at {off} never reached {v}");
        if drive {
            bed.engines[pe as usize].progress();
        } else {
            std::thread::yield_now();
        }
    }
    start.elapsed()
}

fn put(e: &TcpEngine, pe: u32, dst: u64, data: &[u8], signal: Option<SignalUpdate>) {
    let op = Put { pe: Pe(pe), dst: HeapOffset(dst), src: data.as_ptr(), len: data.len(), signal };
    // SAFETY: data outlives the call (blocking mode: the engine is done with it on return).
    unsafe { e.put(op, Completion::Blocking) }.expect("put");
}

/// A burst of small puts (batched) followed by a signalled put: the target sees every byte exactly once the
/// signal is there, whether it drives progress itself or leaves it to its progress thread.
#[test]
fn batched_small_puts_then_a_signal_deliver_exact_data() {
    let bed = bed(2);
    const N: usize = 3000;
    let (data_off, sig_off) = (1u64 << 20, 64u64);
    for (round, drive) in [(1u64, true), (2, false), (3, true)] {
        std::thread::scope(|s| {
            s.spawn(|| {
                let e = &bed.engines[0];
                for i in 0..N {
                    // Sizes 1..=40 B at 64 B strides; the content names the round and the index.
                    let len = 1 + i % 40;
                    let bytes: Vec<u8> = (0..len).map(|k| (round as usize * 7 + i * 13 + k) as u8).collect();
                    put(e, 1, data_off + 64 * i as u64, &bytes, None);
                }
                put(e, 1, 0, &[], Some(SignalUpdate { at: HeapOffset(sig_off), value: round, op: SignalOp::Set }));
            });
            wait_word(&bed, 1, sig_off, round, drive, "signal after the burst");
        });
        let got = bed.local_bytes(1, data_off, 64 * N);
        for i in 0..N {
            let len = 1 + i % 40;
            let want: Vec<u8> = (0..len).map(|k| (round as usize * 7 + i * 13 + k) as u8).collect();
            assert_eq!(&got[64 * i..64 * i + len], &want[..], "round {round}, put {i}");
        }
    }
}

/// Small puts that no `quiet`, signal or wait follows still arrive, within a bound: the progress thread
/// writes a batch that waited too long.
#[test]
fn a_batched_put_without_quiet_arrives_promptly() {
    let bed = bed(2);
    let e = &bed.engines[0];
    for round in 1..=20u64 {
        let off = 4096 + 8 * round;
        // Two puts back to back: the second joins a batch (it follows the first within the burst window).
        put(e, 1, off - 4096, &round.to_le_bytes(), None);
        put(e, 1, off, &round.to_le_bytes(), None);
        // No quiet, no progress call on either side: only the progress threads work.
        let waited = wait_word(&bed, 1, off, round, false, "a put without quiet");
        assert!(waited < Duration::from_secs(2), "round {round}: a batched put took {waited:?}");
        assert_eq!(bed.word(1, off - 4096).load(Ordering::Acquire), round);
    }
}

/// After a run of put + quiet, a lone small put waits for the quiet that usually follows (to share its write);
/// when none comes it still arrives, from the progress thread's timer, and in order with what follows.
#[test]
fn a_held_back_put_arrives_without_its_quiet() {
    let bed = bed(2);
    let e = &bed.engines[0];
    for round in 1..=20u64 {
        for i in 0..5u64 {
            put(e, 1, 8192 + 8 * i, &(round * 100 + i).to_le_bytes(), None);
            e.quiet().expect("quiet");
        }
        // The quiet that the last five puts had trained the connection to expect never comes.
        put(e, 1, 4096, &round.to_le_bytes(), None);
        let waited = wait_word(&bed, 1, 4096, round, false, "a held-back put");
        assert!(waited < Duration::from_secs(2), "round {round}: a held-back put took {waited:?}");
        for i in 0..5u64 {
            assert_eq!(bed.word(1, 8192 + 8 * i).load(Ordering::Acquire), round * 100 + i);
        }
    }
}

/// Several threads of the target drive its progress at once while two initiators send interleaved small
/// (batched) puts, large puts that arrive in many pieces (a frame is read partly by one holder and finished
/// by another), signals and atomics: every byte and every count is exact.
#[test]
fn several_drivers_and_the_progress_thread_never_split_a_frame() {
    let bed = bed(3);
    const ROUNDS: u64 = 60;
    const BIG: usize = 300 << 10;
    let (counter, sig0, sig2) = (0u64, 64u64, 128u64);
    let big_off = |from: u32| (1u64 << 20) + u64::from(from) * (2 << 20);
    let small_off = |from: u32| (6u64 << 20) + u64::from(from) * (64 << 10);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(Ordering::Acquire) {
                    if !bed.engines[1].progress() {
                        std::thread::yield_now();
                    }
                }
            });
        }
        let senders: Vec<_> = [(0u32, sig0), (2u32, sig2)]
            .into_iter()
            .map(|(from, sig)| {
                let bed = &bed;
                s.spawn(move || {
                    let e = &bed.engines[from as usize];
                    for round in 1..=ROUNDS {
                        for i in 0..200u64 {
                            let v = round * 1000 + i + u64::from(from);
                            put(e, 1, small_off(from) + 8 * i, &v.to_le_bytes(), None);
                        }
                        let big = vec![(round as u8).wrapping_add(from as u8); BIG];
                        put(e, 1, big_off(from), &big, None);
                        e.atomic(Pe(1), HeapOffset(counter), AtomicWidth::W64, AtomicOp::FetchAdd(1)).expect("add");
                        let signal = Some(SignalUpdate { at: HeapOffset(sig), value: round, op: SignalOp::Set });
                        put(e, 1, small_off(from) + 8 * 300, &round.to_le_bytes(), signal);
                        // The target acknowledges nothing: wait on the signal from here, then check the data.
                        wait_word(bed, 1, sig, round, false, "signal");
                        let smalls = bed.local_bytes(1, small_off(from), 8 * 200);
                        for i in 0..200usize {
                            let got = u64::from_le_bytes(smalls[8 * i..8 * i + 8].try_into().unwrap());
                            assert_eq!(
                                got,
                                round * 1000 + i as u64 + u64::from(from),
                                "PE {from} round {round} put {i}"
                            );
                        }
                        let bigs = bed.local_bytes(1, big_off(from), BIG);
                        assert!(
                            bigs.iter().all(|&b| b == (round as u8).wrapping_add(from as u8)),
                            "PE {from} round {round}"
                        );
                    }
                    e.quiet().expect("quiet");
                })
            })
            .collect();
        for h in senders {
            h.join().expect("sender");
        }
        stop.store(true, Ordering::Release);
    });
    assert_eq!(bed.word(1, counter).load(Ordering::Acquire), 2 * ROUNDS);
}

/// Two PEs ping-pong with signalled puts while each drives its own progress: bounded, exact, and (printed,
/// not asserted) the round trip.
#[test]
fn driving_waiters_ping_pong() {
    let bed = bed(2);
    const ROUNDS: u64 = 2000;
    let (ping, pong) = (64u64, 128u64);
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            let e = &bed.engines[1];
            for r in 1..=ROUNDS {
                wait_word(&bed, 1, ping, r, true, "ping");
                put(
                    e,
                    0,
                    256,
                    &r.to_le_bytes(),
                    Some(SignalUpdate { at: HeapOffset(pong), value: r, op: SignalOp::Set }),
                );
            }
        });
        let e = &bed.engines[0];
        for r in 1..=ROUNDS {
            put(e, 1, 256, &r.to_le_bytes(), Some(SignalUpdate { at: HeapOffset(ping), value: r, op: SignalOp::Set }));
            wait_word(&bed, 0, pong, r, true, "pong");
            assert_eq!(bed.word(0, 256).load(Ordering::Acquire), r);
        }
    });
    eprintln!("driven ping-pong: {:?} per round trip", start.elapsed() / ROUNDS as u32);
}

/// Two PEs each get (almost) 8 MiB from the other at the same time, again and again (each reply is written in
/// many pieces), with small puts, a quiet and a fetch-add between the gets; every other round each PE drives
/// progress all through its get, so that the get's wait serves the PE's sockets itself (the progress thread
/// stays parked; counted, and checked at the end). A thread that serves while it waits for its own reply must
/// never block writing the peer's large reply: two such threads would each sit in that write while neither
/// reads its own reply.
/// Every byte is checked, and each round is bounded well below the 30 s the engines' timeouts allow.
#[test]
fn two_pes_getting_large_blocks_from_each_other_at_once_both_finish_exactly() {
    let bed = bed(2);
    const ROUNDS: usize = 12;
    // More rounds only until both PEs' waits took the serving mode at least once: on a loaded machine (the suite
    // beside other builds) a driver thread not scheduled for a park's 200 us lets a round's wait sleep instead.
    const MAX_ROUNDS: usize = 60;
    const SRC: u64 = 8192;
    const BIG: usize = (8 << 20) - 2 * SRC as usize;
    let pattern = |pe: usize, round: usize, i: usize| (pe * 131 + round * 17 + i / 4096 + i) as u8;
    for round in 0..MAX_ROUNDS {
        if round >= ROUNDS && (0..2).all(|pe| bed.engines[pe].serving_waits() > 0) {
            break;
        }
        let start = Instant::now();
        for pe in 0..2 {
            let bytes: Vec<u8> = (0..BIG).map(|i| pattern(pe, round, i)).collect();
            bed.set_local_bytes(pe as u32, SRC, &bytes);
        }
        // Both start together, so that each one's get is in flight while the other's is.
        let go = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for me in 0..2usize {
                let (bed, go) = (&bed, &go);
                s.spawn(move || {
                    let e = &bed.engines[me];
                    let other = 1 - me;
                    let mut into = vec![0u8; BIG];
                    go.wait();
                    let op = shmem_core::engine::Get {
                        pe: Pe(other as u32),
                        src: HeapOffset(SRC),
                        dst: into.as_mut_ptr(),
                        len: BIG,
                    };
                    let driving = AtomicBool::new(round % 2 == 1);
                    let started = std::sync::Barrier::new(2);
                    std::thread::scope(|d| {
                        if driving.load(Ordering::Relaxed) {
                            // A thread of this PE drives progress all through the get (as a waiter that polls
                            // would): the progress thread stays parked, and the get's wait serves this PE's
                            // sockets (with the driver: either may serve a frame). The even rounds leave the
                            // sockets to the progress thread.
                            let (driving, started) = (&driving, &started);
                            d.spawn(move || {
                                e.progress();
                                started.wait();
                                while driving.load(Ordering::Relaxed) {
                                    e.progress();
                                    std::thread::yield_now();
                                }
                            });
                            // The get starts with the progress thread parked.
                            started.wait();
                        }
                        // SAFETY: into is BIG writable bytes that nothing else touches during the call.
                        let r = unsafe { e.get(op, Completion::Blocking) };
                        driving.store(false, Ordering::Relaxed);
                        e.progress_release();
                        r.expect("large get");
                    });
                    for (i, &b) in into.iter().enumerate() {
                        assert_eq!(
                            b,
                            pattern(other, round, i),
                            "PE {me} round {round}: byte {i} of PE {other}'s block"
                        );
                    }
                    let v = (round * 10 + me) as u64;
                    put(e, other as u32, 64 + 8 * me as u64, &v.to_le_bytes(), None);
                    e.quiet().expect("quiet");
                    let old = e.atomic(Pe(other as u32), HeapOffset(512), AtomicWidth::W64, AtomicOp::FetchAdd(1));
                    assert_eq!(old.expect("fetch-add"), round as u64, "PE {me} round {round}: the peer's counter");
                    // The other PE's own fetch-add on this PE's counter is concurrent: wait for it here.
                    wait_word(bed, me as u32, 512, round as u64 + 1, false, "the peer's fetch-add");
                });
            }
        });
        for me in 0..2u32 {
            let v = (round * 10 + (1 - me as usize)) as u64;
            assert_eq!(bed.word(me, 64 + 8 * u64::from(1 - me)).load(Ordering::Acquire), v, "round {round}");
        }
        assert!(start.elapsed() < Duration::from_secs(20), "round {round}: the exchange took {:?}", start.elapsed());
    }
    // The odd rounds really waited in the serving mode on both PEs.
    for pe in 0..2 {
        let served = bed.engines[pe].serving_waits();
        assert!(served > 0, "PE {pe}: no reply wait took the serving mode while a driver parked the progress thread");
    }
}

/// A thread that keeps driving progress (the progress thread stays parked all along) reads its few connections
/// directly, without `poll(2)`, and still watches the listener: four PEs that connect to it one after another
/// while it drives (its connection count going from 1, read directly, to 4, polled) are accepted promptly, and
/// every put, get and fetch-add of theirs is served exactly, by the driving thread alone.
#[test]
fn a_driver_reading_its_connections_directly_still_accepts_new_peers() {
    let bed = bed(5);
    let (data_off, counter) = (1u64 << 20, 256u64);
    const PUTS: u64 = 200;
    // Generous for a loaded machine; without the listener checks a new peer waits until the driver loses its
    // core for a whole park (200 us) or stops driving.
    const ACCEPT_BOUND: Duration = Duration::from_millis(100);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            while !stop.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(30) {
                bed.engines[0].progress();
            }
            bed.engines[0].progress_release();
        });
        for pe in 1..5u32 {
            let e = &bed.engines[pe as usize];
            // The first operation connects: accepted by the driving thread (the progress thread is parked).
            let t = Instant::now();
            e.atomic(Pe(0), HeapOffset(counter + 8), AtomicWidth::W64, AtomicOp::FetchAdd(1)).expect("connect");
            let first = t.elapsed();
            eprintln!("PE {pe}: first operation {first:?}");
            for i in 0..PUTS {
                let v = u64::from(pe) << 32 | i;
                put(e, 0, data_off + 8 * (u64::from(pe) * PUTS + i), &v.to_le_bytes(), None);
                e.atomic(Pe(0), HeapOffset(counter), AtomicWidth::W64, AtomicOp::FetchAdd(1)).expect("fetch-add");
            }
            e.quiet().expect("quiet");
            let mut back = [0u8; 8];
            let get = shmem_core::engine::Get {
                pe: Pe(0),
                src: HeapOffset(data_off + 8 * (u64::from(pe) * PUTS + PUTS - 1)),
                dst: back.as_mut_ptr(),
                len: 8,
            };
            // SAFETY: back outlives the call.
            unsafe { e.get(get, Completion::Blocking) }.expect("get");
            assert_eq!(u64::from_le_bytes(back), u64::from(pe) << 32 | (PUTS - 1), "PE {pe}'s get");
            assert!(first < ACCEPT_BOUND, "PE {pe} waited {first:?} to be accepted while PE 0 drove");
        }
        stop.store(true, Ordering::Release);
    });
    for pe in 1..5u64 {
        let got = bed.local_bytes(0, data_off + 8 * pe * PUTS, 8 * PUTS as usize);
        for i in 0..PUTS {
            let v = u64::from_le_bytes(got[8 * i as usize..8 * i as usize + 8].try_into().unwrap());
            assert_eq!(v, pe << 32 | i, "PE {pe}'s put {i}");
        }
    }
    assert_eq!(bed.word(0, counter).load(Ordering::Acquire), 4 * PUTS);
    assert_eq!(bed.word(0, counter + 8).load(Ordering::Acquire), 4);
}

/// While a thread of PE 1 drives progress (its progress thread parked and, with two connections, off its
/// `epoll` set), a peer asks for a large get and does not read: the reply stops half way, the socket full.
/// When the driver releases, the progress thread takes the connections back, watching this one for room, and
/// finishes the stream once the peer reads: every byte arrives, and the job works after it. (Taken back as
/// watched for a request instead, the half-sent reply would wait for the peer's next request, which never
/// comes: the read below would time out.)
#[test]
fn a_reply_stream_a_driver_left_half_way_is_finished_by_the_progress_thread() {
    use std::io::{Read, Write};
    use transport_tcp::wire::{Reply, Request, REPLY_LEN};
    let bed = bed(2);
    const SRC: u64 = 64 << 10;
    const LEN: usize = 7 << 20;
    let pattern: Vec<u8> = (0..LEN).map(|i| (i / 4093 + i * 3) as u8).collect();
    bed.set_local_bytes(1, SRC, &pattern);
    // Accepted by the progress thread before any driver: the driver's park takes it out of the epoll set.
    let mut slow = common::connect_with_small_rcvbuf(bed.engines[0].peer_addr(Pe(1)));
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    common::prove(&mut slow);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            while !stop.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(30) {
                bed.engines[1].progress();
            }
            bed.engines[1].progress_release();
        });
        // The progress thread parks (and detaches) once something wakes it while the driver drives: PE 0's
        // fetch-adds, until it did.
        let start = Instant::now();
        for i in 0.. {
            if bed.engines[1].detached_parks() > 0 {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "PE 1's progress thread never parked for the driver");
            let old = bed.engines[0].atomic(Pe(1), HeapOffset(512), AtomicWidth::W64, AtomicOp::FetchAdd(1));
            assert_eq!(old.unwrap(), i);
            std::thread::sleep(Duration::from_millis(1));
        }
        // Not a timing: only so that the driver has met the request and filled the socket before it stops.
        slow.write_all(&Request::Get { src: HeapOffset(SRC), len: LEN as u64 }.encode()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Release);
    });
    let mut head = [0u8; REPLY_LEN];
    slow.read_exact(&mut head).unwrap();
    let reply = Reply::decode(&head).unwrap();
    assert_eq!((reply.refused, reply.value), (None, LEN as u64));
    let mut got = vec![0u8; LEN];
    slow.read_exact(&mut got).expect("the rest of the reply (the progress thread finishes the stream)");
    let first_bad = got.iter().zip(&pattern).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "the get reply differs from the heap");
    common::job_still_works(&bed, 1);
}
