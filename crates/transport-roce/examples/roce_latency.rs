//! Latency and bandwidth of the RoCE engine between two PEs (threads of this process, each with its own queue
//! pairs on one verbs device), with a byte-exact check of what moved. Needs a verbs device: a RoCE or
//! InfiniBand NIC, or soft-RoCE (`rdma link add rxe0 type rxe netdev <if>`). Under qemu TCG (the project's VM
//! test) the numbers are meaningless and the run is a correctness check.
//!
//! `cargo run --release -p transport-roce --example roce_latency -- [--iters N] [--max-size 4M]`
//! (`SHMEM_ROCE_DEVICE`, `SHMEM_ROCE_GID_INDEX` pick the device and GID).

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, Completion, DataOpEngine, Get, Put};
use shmem_core::{HeapOffset, Pe};
use std::time::Instant;
use transport_roce::RoceEngine;

fn per_op_ns(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / f64::from(iters.max(1))
}

fn parse_size(s: &str) -> usize {
    let (num, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1 << 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 1 << 20),
        _ => (s, 1),
    };
    num.parse::<usize>().expect("a size like 64K or 4M") * mul
}

fn main() {
    let mut iters = 1000u32;
    let mut max_size = 4usize << 20;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iters" => iters = args.next().and_then(|v| v.parse().ok()).expect("--iters N"),
            "--max-size" => max_size = parse_size(&args.next().expect("--max-size SIZE")),
            other => panic!("unknown argument {other}; use --iters N, --max-size SIZE"),
        }
    }
    // The testbed's heaps are 8 MiB: keep the transfers inside.
    max_size = max_size.min(4 << 20);
    let bed = Testbed::new(2, <RoceEngine as BuildEngine>::build);
    let e = &bed.engines[0];
    println!("ROCE engine on {}: 2 PEs, {iters} iterations", e.device());
    let word = [0u8; 8];
    let put8 = per_op_ns(iters, || {
        let op = Put { pe: Pe(1), dst: HeapOffset(0), src: word.as_ptr(), len: 8, signal: None };
        // SAFETY: word outlives the quiet.
        unsafe { e.put(op, Completion::Blocking) }.unwrap();
        e.quiet().unwrap();
    });
    let mut back = [0u8; 8];
    let get8 = per_op_ns(iters, || {
        let op = Get { pe: Pe(1), src: HeapOffset(0), dst: back.as_mut_ptr(), len: 8 };
        // SAFETY: back is untouched until the blocking get returns.
        unsafe { e.get(op, Completion::Blocking) }.unwrap();
    });
    bed.word(1, 64).store(0, std::sync::atomic::Ordering::SeqCst);
    let amo = per_op_ns(iters, || {
        e.atomic(Pe(1), HeapOffset(64), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
    });
    let warm = u64::from(iters / 10) + u64::from(iters);
    assert_eq!(bed.word(1, 64).load(std::sync::atomic::Ordering::SeqCst), warm, "fetch-add count");
    println!(
        "latency: put 8 B + quiet {:.1} us, get 8 B {:.1} us, fetch-add {:.1} us",
        put8 / 1e3,
        get8 / 1e3,
        amo / 1e3
    );

    let mut size = 4096usize;
    while size <= max_size {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 + size) as u8).collect();
        let reps = (64 << 20) / size.max(1);
        let reps = reps.clamp(4, 256).min(iters as usize * 4);
        let t = Instant::now();
        for _ in 0..reps {
            let op = Put { pe: Pe(1), dst: HeapOffset(4096), src: data.as_ptr(), len: size, signal: None };
            // SAFETY: data is unchanged until the quiet below.
            unsafe { e.put(op, Completion::Deferred) }.unwrap();
        }
        e.quiet().unwrap();
        let secs = t.elapsed().as_secs_f64();
        assert!(bed.local_bytes(1, 4096, size) == data, "{size} B: the target's bytes differ");
        let mut got = vec![0u8; size];
        let op = Get { pe: Pe(1), src: HeapOffset(4096), dst: got.as_mut_ptr(), len: size };
        // SAFETY: got is untouched until the blocking get returns.
        unsafe { e.get(op, Completion::Blocking) }.unwrap();
        assert!(got == data, "{size} B: get returned other bytes");
        println!(
            "bandwidth: put {size:>8} B x {reps:>3}: {:.3} GB/s (data checked)",
            (size * reps) as f64 / secs / 1e9
        );
        size *= 4;
    }
    println!("roce_latency: ok");
}
