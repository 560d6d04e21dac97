//! Small-put message rate and latencies of the TCP engine between two PEs of one process (each with its own
//! progress thread and real loopback sockets): `cargo run --release -p transport-tcp --example tcp_msgrate`.
//! Prints, per payload size, the time per put of a burst of puts followed by one `quiet` (the case batching
//! is for), and the time of one put + `quiet` (the latency case it must not slow down). Medians of 7 runs.

use shmem_core::conformance::Testbed;
use shmem_core::engine::{BuildEngine, Completion, DataOpEngine, Put};
use shmem_core::{HeapOffset, Pe};
use std::time::{Duration, Instant};
use transport_tcp::TcpEngine;

fn put(e: &TcpEngine, dst: u64, data: &[u8]) {
    let op = Put { pe: Pe(1), dst: HeapOffset(dst), src: data.as_ptr(), len: data.len(), signal: None };
    // SAFETY: data outlives the call (blocking mode).
    unsafe { e.put(op, Completion::Blocking) }.expect("put");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let bed = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let e = &bed.engines[0];
    const BURST: usize = 1000;
    println!("{:>8} {:>18} {:>18}", "size", "burst put+quiet/N", "put+quiet");
    for size in [8usize, 64, 512, 4096] {
        let data = vec![7u8; size];
        let mut burst = Vec::new();
        let mut single = Vec::new();
        for _ in 0..7 {
            let t = Instant::now();
            for i in 0..BURST {
                put(e, ((i * size) % (1 << 20)) as u64, &data);
            }
            e.quiet().expect("quiet");
            burst.push(t.elapsed() / BURST as u32);
            let t = Instant::now();
            for _ in 0..200 {
                put(e, 0, &data);
                e.quiet().expect("quiet");
            }
            single.push(t.elapsed() / 200);
        }
        println!("{size:>8} {:>18?} {:>18?}", median(burst), median(single));
    }
}
