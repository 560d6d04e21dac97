//! A first look at the TCP engine's latency and bandwidth on loopback, beside a raw TCP ping-pong and stream
//! between the same kind of endpoints in the same run (two PEs as threads of this process).
//! `cargo run --release -p transport-tcp --example tcp_latency`

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, Completion, DataOpEngine, Get, Put};
use shmem_core::{HeapOffset, Pe};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;
use transport_tcp::TcpEngine;

fn per_op(iters: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

fn raw_pingpong(iters: u32, size: usize) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let echo = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_nodelay(true).unwrap();
        let mut b = vec![0u8; size];
        while s.read_exact(&mut b).is_ok() {
            if s.write_all(&b).is_err() {
                break;
            }
        }
    });
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_nodelay(true).unwrap();
    let mut b = vec![1u8; size];
    let rtt = per_op(iters, || {
        c.write_all(&b).unwrap();
        c.read_exact(&mut b).unwrap();
    });
    drop(c);
    echo.join().unwrap();
    rtt
}

fn raw_stream_gbps(size: usize, total: usize) -> f64 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let sink = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = vec![0u8; 1 << 20];
        let mut got = 0;
        while got < total {
            got += s.read(&mut b).unwrap();
        }
        s.write_all(&[1]).unwrap();
    });
    let mut c = TcpStream::connect(addr).unwrap();
    let b = vec![1u8; size];
    let t = Instant::now();
    for _ in 0..total / size {
        c.write_all(&b).unwrap();
    }
    c.read_exact(&mut [0u8; 1]).unwrap();
    let s = t.elapsed().as_secs_f64();
    sink.join().unwrap();
    total as f64 / s / 1e9
}

fn main() {
    let bed = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let e = &bed.engines[0];
    let src = vec![3u8; 4 << 20];
    let mut dst = vec![0u8; 4 << 20];
    let iters = 20_000;
    let put_quiet = per_op(iters, || {
        let put = Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len: 8, signal: None };
        // SAFETY: src outlives the quiet.
        unsafe { e.put(put, Completion::Blocking) }.unwrap();
        e.quiet().unwrap();
    });
    let get = per_op(iters, || {
        let get = Get { pe: Pe(1), src: HeapOffset(0), dst: dst.as_mut_ptr(), len: 8 };
        // SAFETY: dst outlives the call.
        unsafe { e.get(get, Completion::Blocking) }.unwrap();
    });
    let fadd = per_op(iters, || {
        e.atomic(Pe(1), HeapOffset(64), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
    });
    let rtt = raw_pingpong(iters, 8);
    println!("8 B, loopback, same run (ns): raw TCP ping-pong RTT {rtt:.0} (one-way {:.0})", rtt / 2.0);
    println!("  put+quiet {put_quiet:.0} ({:.2}x RTT)", put_quiet / rtt);
    println!("  get       {get:.0} ({:.2}x RTT)", get / rtt);
    println!("  fetch_add {fadd:.0} ({:.2}x RTT)", fadd / rtt);
    for size in [64 << 10, 1 << 20, 4 << 20] {
        let total = 256 << 20;
        let t = Instant::now();
        for _ in 0..total / size {
            let put = Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len: size, signal: None };
            // SAFETY: src outlives the quiet.
            unsafe { e.put(put, Completion::Deferred) }.unwrap();
        }
        e.quiet().unwrap();
        let put_bw = total as f64 / t.elapsed().as_secs_f64() / 1e9;
        let t = Instant::now();
        for _ in 0..total / size {
            let get = Get { pe: Pe(1), src: HeapOffset(0), dst: dst.as_mut_ptr(), len: size };
            // SAFETY: dst outlives the call.
            unsafe { e.get(get, Completion::Blocking) }.unwrap();
        }
        let get_bw = total as f64 / t.elapsed().as_secs_f64() / 1e9;
        let raw = raw_stream_gbps(size, total);
        println!(
            "{:>5} KiB: put {put_bw:.2} GB/s ({:.2}x raw), get {get_bw:.2} GB/s ({:.2}x raw), raw stream {raw:.2} GB/s",
            size >> 10,
            put_bw / raw,
            get_bw / raw
        );
    }
}
