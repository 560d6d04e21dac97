//! Load on the SDMA engine: thousands of interleaved random-size nbi puts and gets to two peers, issuers on
//! several threads, and the printed (not asserted) issue cost and bandwidth.

mod common;

use common::{pattern, Job, Rng};
use shmem_core::engine::{Completion, DataOpEngine, Get, Put};
use shmem_core::{HeapOffset, Pe};
use std::time::{Duration, Instant};

/// Rounds of random nbi puts and gets to PEs 1 and 2, each verified after a quiet. Puts go to the upper half
/// of a peer's heap, gets read the lower half (filled beforehand), so no two operations of a round overlap.
#[test]
fn thousands_of_interleaved_random_nbi_puts_and_gets() {
    const HALF: u64 = 16 << 20;
    const OPS_PER_ROUND: usize = 1500;
    const ROUNDS: u64 = 3;
    let job = Job::new(0, &[1, 2], 2 * HALF);
    let peers = [Pe(1), Pe(2)];
    for &p in &peers {
        job.write(p, 0, &pattern(p.0 as u64 * 1000, HALF as usize));
    }
    let e = job.engine(3, 64 << 10);
    let mut rng = Rng(0x5d3a_c0de);
    let mut total = 0usize;
    for round in 0..ROUNDS {
        // Bump allocation per peer: put regions after HALF, get regions below HALF.
        let mut put_at = [HALF; 2];
        let mut get_at = [0u64; 2];
        let mut puts: Vec<(Pe, u64, Vec<u8>)> = Vec::new();
        let mut gets: Vec<(Pe, u64, Vec<u8>)> = Vec::new();
        for i in 0..OPS_PER_ROUND {
            let which = rng.below(2) as usize;
            let pe = peers[which];
            // Mostly small, some up to 512 KiB (split into pieces), a few unaligned.
            let len = rng.size(if i % 50 == 0 { 512 << 10 } else { 16 << 10 }) as usize;
            let skew = rng.below(8);
            if rng.below(2) == 0 {
                let off = put_at[which] + skew;
                if off + len as u64 > 2 * HALF {
                    continue;
                }
                put_at[which] = off + len as u64;
                let src = pattern(round << 32 | i as u64, len);
                // SAFETY: `src` moves into `puts`, which keeps its heap buffer in place until after the quiet.
                unsafe {
                    e.put(Put { pe, dst: HeapOffset(off), src: src.as_ptr(), len, signal: None }, Completion::Deferred)
                        .unwrap()
                };
                puts.push((pe, off, src));
            } else {
                let off = get_at[which] + skew;
                if off + len as u64 > HALF {
                    continue;
                }
                get_at[which] = off + len as u64;
                let mut dst = vec![0u8; len];
                // SAFETY: `dst` moves into `gets` (its heap buffer stays put) and is not read before the quiet.
                unsafe {
                    e.get(Get { pe, src: HeapOffset(off), dst: dst.as_mut_ptr(), len }, Completion::Deferred).unwrap()
                };
                gets.push((pe, off, dst));
            }
        }
        e.quiet().unwrap();
        assert_eq!(e.in_flight(), 0);
        for (pe, off, src) in &puts {
            assert!(job.read(*pe, *off, src.len()) == *src, "round {round}: put of {} B to {pe} at +{off}", src.len());
        }
        for (pe, off, dst) in &gets {
            assert!(
                job.read(*pe, *off, dst.len()) == *dst,
                "round {round}: get of {} B from {pe} at +{off}",
                dst.len()
            );
        }
        total += puts.len() + gets.len();
    }
    println!("verified {total} random nbi operations");
}

/// Four threads issue through one engine at once; each one's quiet covers its own work.
#[test]
fn issuers_on_several_threads() {
    const PER_THREAD: usize = 500;
    const LEN: usize = 1000;
    let job = Job::new(0, &[1, 2], 8 << 20);
    let e = job.engine(2, 64 << 10);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (e, job) = (&e, &job);
            s.spawn(move || {
                let pe = Pe(1 + (t % 2) as u32);
                let base = (t / 2) * (PER_THREAD * LEN) as u64;
                let srcs: Vec<Vec<u8>> = (0..PER_THREAD).map(|i| pattern(t << 32 | i as u64, LEN)).collect();
                for (i, src) in srcs.iter().enumerate() {
                    let off = base + (i * LEN) as u64;
                    // SAFETY: `srcs` lives past the quiet below; blocking calls return after completion.
                    unsafe {
                        if i % 10 == 0 {
                            e.put(
                                Put { pe, dst: HeapOffset(off), src: src.as_ptr(), len: LEN, signal: None },
                                Completion::Blocking,
                            )
                            .unwrap();
                        } else {
                            e.put(
                                Put { pe, dst: HeapOffset(off), src: src.as_ptr(), len: LEN, signal: None },
                                Completion::Deferred,
                            )
                            .unwrap();
                        }
                    }
                }
                e.quiet().unwrap();
                for (i, src) in srcs.iter().enumerate() {
                    assert!(job.read(pe, base + (i * LEN) as u64, LEN) == *src, "thread {t} put {i}");
                }
            });
        }
    });
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Prints the cost of issuing an nbi put at several sizes and the bandwidth of blocking puts next to a
/// memcpy on the same memory. Nothing is asserted: timings depend on the machine and its load.
#[test]
fn print_issue_cost_and_bandwidth() {
    let max = 64 << 20;
    let job = Job::new(0, &[1], max as u64);
    let src = pattern(1, max);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("issue cost and bandwidth ({cores} cores; debug builds copy with the same libc memcpy):");
    for channels in [1, 2] {
        let e = job.engine(channels, 256 << 10);
        for len in [8usize, 4096, 1 << 20, 64 << 20] {
            let reps = if len >= 64 << 20 { 5 } else { 50 };
            let mut issue = Vec::new();
            for _ in 0..reps {
                let t = Instant::now();
                // SAFETY: `src` outlives the quiet below.
                unsafe {
                    e.put(
                        Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len, signal: None },
                        Completion::Deferred,
                    )
                    .unwrap()
                };
                issue.push(t.elapsed());
                e.quiet().unwrap();
            }
            println!("  channels {channels}: put_nbi issue {len:>9} B: median {:?}", median(issue));
        }
        let small = [0u8; 8];
        let mut lat = Vec::new();
        for _ in 0..1000 {
            let t = Instant::now();
            // SAFETY: blocking put; `small` outlives it.
            unsafe {
                e.put(
                    Put { pe: Pe(1), dst: HeapOffset(0), src: small.as_ptr(), len: small.len(), signal: None },
                    Completion::Blocking,
                )
                .unwrap()
            };
            lat.push(t.elapsed());
        }
        println!("  channels {channels}: blocking put 8 B, back to back: median {:?}", median(lat));
        for len in [1 << 20, 8 << 20, 64 << 20] {
            let reps = if len >= 64 << 20 { 3 } else { 10 };
            let mut t_put = Vec::new();
            let mut t_memcpy = Vec::new();
            let dst = job.node.ptr(Pe(1), HeapOffset(0), len as u64).unwrap();
            for _ in 0..reps {
                let t = Instant::now();
                // SAFETY: blocking put; `src` outlives it.
                unsafe {
                    e.put(
                        Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len, signal: None },
                        Completion::Blocking,
                    )
                    .unwrap()
                };
                t_put.push(t.elapsed());
                let t = Instant::now();
                // SAFETY: `dst` is `len` in-bounds bytes of the peer mapping; the engine is idle (blocking put
                // returned), so nothing else accesses them.
                unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst.as_ptr(), len) };
                t_memcpy.push(t.elapsed());
            }
            let gbs = |d: Duration| len as f64 / d.as_secs_f64() / 1e9;
            let (p, m) = (median(t_put), median(t_memcpy));
            println!(
                "  channels {channels}: put {:>3} MiB: sdma {:6.2} GB/s, memcpy {:6.2} GB/s ({:.2}x)",
                len >> 20,
                gbs(p),
                gbs(m),
                m.as_secs_f64() / p.as_secs_f64()
            );
        }
        // Overlap: the copy time alone, a compute of about that length alone (a fixed number of iterations),
        // then both together: overlap = (compute + copy - together) / min(compute, copy).
        let t = Instant::now();
        // SAFETY: blocking put, as above.
        unsafe {
            e.put(
                Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len: max, signal: None },
                Completion::Blocking,
            )
            .unwrap()
        };
        let copy = t.elapsed();
        let mut iters = 0u64;
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < copy {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
            iters += 1;
        }
        let compute = t.elapsed();
        let t = Instant::now();
        // SAFETY: `src` outlives the quiet below.
        unsafe {
            e.put(
                Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len: max, signal: None },
                Completion::Deferred,
            )
            .unwrap()
        };
        for _ in 0..iters {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
            }
            std::hint::black_box(Instant::now());
        }
        e.quiet().unwrap();
        let together = t.elapsed();
        let overlap = (compute + copy).as_secs_f64() - together.as_secs_f64();
        println!(
            "  channels {channels}: overlap: 64 MiB copy {copy:?}, compute {compute:?}, together {together:?}: {:.2}",
            (overlap / copy.min(compute).as_secs_f64()).clamp(0.0, 1.0)
        );
    }
}
