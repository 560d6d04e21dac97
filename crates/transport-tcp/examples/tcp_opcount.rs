//! One kind of operation `N` times between two PEs of this process (each with its own progress thread, real
//! loopback sockets), for counting system calls (`strace -f -c`) and TCP segments (`nstat`) per operation:
//! `tcp_opcount <OP> [N]`, OP one of `put_quiet`, `put_quiet_split` (times the put and the quiet apart),
//! `put0_quiet` (an empty put), `put_get`, `get`, `fetch_add`, `put_signal`, `raw_block`, `raw_spin`,
//! `raw_block2`, `raw_spin2`; `get_bw`, `put_bw` and `raw_stream` (`tcp_opcount get_bw N SIZE`, default 1 MiB:
//! blocking gets, puts each followed by a quiet, and a raw one-way stream of SIZE-byte messages; `RAW_CC=name`
//! gives the raw stream's sockets that congestion control; `MIMIC=1` makes PE 1's main thread wait during
//! `get_bw`/`put_bw` as the library's `wait_until` does in `shmem-bench`: 2 ms driving progress, then 4 ms asleep;
//! `MIMIC_US=DRIVE,SLEEP` changes the two phases, in microseconds). `put_bw` also prints the time per message
//! spent in the put (writing the payload) and in the quiet (the completion round trip and the target's tail).
//! `put_signal` is the put-with-signal ping-pong (each PE waits for the other's signal, driving progress and
//! yielding as the library's waits do); `raw_*` are raw 8 B ping-pongs over one connection (`raw_block`,
//! `raw_spin`) or over two, one per direction (`raw_block2`, `raw_spin2`). Prints the time per operation
//! (per one-way message for the ping-pongs).

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, Completion, DataOpEngine, Get, Put};
use shmem_core::engine::{SignalOp, SignalUpdate};
use shmem_core::{HeapOffset, Pe};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::time::Instant;
use transport_tcp::TcpEngine;

/// A connected pair of loopback sockets with `TCP_NODELAY`.
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (b, _) = l.accept().unwrap();
    a.set_nodelay(true).unwrap();
    b.set_nodelay(true).unwrap();
    (a, b)
}

fn read_msg(mut s: &TcpStream, b: &mut [u8], spin: bool) {
    let mut got = 0;
    while got < b.len() {
        match s.read(&mut b[got..]) {
            Ok(0) => panic!("closed"),
            Ok(n) => got += n,
            Err(e) if spin && e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// A raw 8 B ping-pong, `n` round trips; `two`: A->B on one connection, B->A on another.
fn raw(n: u64, spin: bool, two: bool) -> f64 {
    let (a1, b1) = pair();
    let (b2, a2) = if two { pair() } else { (b1.try_clone().unwrap(), a1.try_clone().unwrap()) };
    for s in [&a1, &b1, &a2, &b2] {
        s.set_nonblocking(spin).unwrap();
    }
    let echo = std::thread::spawn(move || {
        let mut b = [0u8; 8];
        for _ in 0..n {
            read_msg(&b1, &mut b, spin);
            (&b2).write_all(&b).unwrap();
        }
    });
    let mut b = [1u8; 8];
    let t = Instant::now();
    for _ in 0..n {
        (&a1).write_all(&b).unwrap();
        read_msg(&a2, &mut b, spin);
    }
    let ns = t.elapsed().as_nanos() as f64 / n as f64 / 2.0;
    echo.join().unwrap();
    ns
}

/// A raw stream of `n` messages of `size` bytes over one loopback connection (the reader reads each whole into
/// a buffer of its size), then a 1-byte acknowledgement; GB/s.
fn raw_stream(n: u64, size: usize) -> f64 {
    let (a, b) = pair();
    if let Ok(cc) = std::env::var("RAW_CC") {
        use std::os::fd::AsRawFd;
        for s in [&a, &b] {
            // SAFETY: cc is a live buffer of its length.
            let r = unsafe {
                libc::setsockopt(
                    s.as_raw_fd(),
                    libc::IPPROTO_TCP,
                    libc::TCP_CONGESTION,
                    cc.as_ptr().cast(),
                    cc.len() as _,
                )
            };
            assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        }
    }
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; size];
        for _ in 0..n {
            (&b).read_exact(&mut buf).unwrap();
        }
        (&b).write_all(&[1]).unwrap();
    });
    let buf = vec![1u8; size];
    let t = Instant::now();
    for _ in 0..n {
        (&a).write_all(&buf).unwrap();
    }
    (&a).read_exact(&mut [0u8; 1]).unwrap();
    let s = t.elapsed().as_secs_f64();
    reader.join().unwrap();
    (size as f64 * n as f64) / s / 1e9
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("put_quiet", String::as_str);
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    if what == "raw_stream" {
        let size: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1 << 20);
        let gbs = raw_stream(n, size);
        println!("raw_stream {size} B: {gbs:.2} GB/s");
        return;
    }
    match what {
        "raw_block" | "raw_spin" | "raw_block2" | "raw_spin2" => {
            let ns = raw(n, what.contains("spin"), what.ends_with('2'));
            println!("{what}: {ns:.0} ns one-way");
            return;
        }
        _ => {}
    }
    let bed = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let e = &bed.engines[0];
    let src = [3u8; 8];
    let mut dst = [0u8; 8];
    let put = |e: &TcpEngine, to: u32, signal: Option<SignalUpdate>| {
        let op = Put { pe: Pe(to), dst: HeapOffset(0), src: src.as_ptr(), len: 8, signal };
        // SAFETY: src outlives the call (blocking mode).
        unsafe { e.put(op, Completion::Blocking) }.unwrap();
    };
    // Warm-up: every connection open.
    put(e, 1, None);
    e.quiet().unwrap();
    put(&bed.engines[1], 0, None);
    bed.engines[1].quiet().unwrap();
    let bed = &bed;
    // Signal words at offset 128 of each PE; PE i waits for value v there, then signals the other.
    let wait = |me: u32, v: u64| {
        let w = bed.word(me, 128);
        let eng = &bed.engines[me as usize];
        while w.load(Ordering::Acquire) < v {
            if !eng.progress() {
                std::thread::yield_now();
            }
        }
    };
    let sig = |v: u64| Some(SignalUpdate { at: HeapOffset(128), value: v, op: SignalOp::Set });
    let (wait, sig, put) = (&wait, &sig, &put);
    let t = Instant::now();
    match what {
        "put_quiet" => (0..n).for_each(|_| {
            put(e, 1, None);
            e.quiet().unwrap();
        }),
        "put_get" => (0..n).for_each(|_| {
            put(e, 1, None);
            let get = Get { pe: Pe(1), src: HeapOffset(0), dst: dst.as_mut_ptr(), len: 8 };
            // SAFETY: dst outlives the call.
            unsafe { e.get(get, Completion::Blocking) }.unwrap();
        }),
        "put0_quiet" => (0..n).for_each(|_| {
            let op = Put { pe: Pe(1), dst: HeapOffset(0), src: src.as_ptr(), len: 0, signal: None };
            // SAFETY: nothing is read.
            unsafe { e.put(op, Completion::Blocking) }.unwrap();
            e.quiet().unwrap();
        }),
        "put_quiet_split" => {
            let (mut tp, mut tq) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
            for _ in 0..n {
                let t0 = Instant::now();
                put(e, 1, None);
                let t1 = Instant::now();
                e.quiet().unwrap();
                tp += t1 - t0;
                tq += t1.elapsed();
            }
            println!("put {} ns, quiet {} ns", tp.as_nanos() / u128::from(n), tq.as_nanos() / u128::from(n));
        }
        "get" => (0..n).for_each(|_| {
            let get = Get { pe: Pe(1), src: HeapOffset(0), dst: dst.as_mut_ptr(), len: 8 };
            // SAFETY: dst outlives the call.
            unsafe { e.get(get, Completion::Blocking) }.unwrap();
        }),
        "get_bw" | "put_bw" => {
            // Large transfers: `tcp_opcount get_bw N SIZE` (default 1 MiB), PE 1 idle (its progress thread serves).
            let size: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1 << 20);
            let mut big = vec![1u8; size];
            // MIMIC=1: PE 1's main thread waits as the library's wait_until does for a word that never changes
            // (spin 2 ms driving progress, yield when nothing was served, then sleep 4 ms), as in shmem-bench.
            let stop = std::sync::atomic::AtomicBool::new(false);
            let mimic = std::env::var("MIMIC").is_ok();
            // MIMIC_US=drive,sleep (microseconds; default 2000,4000) changes the wait's phases.
            let (drive_us, sleep_us) = std::env::var("MIMIC_US")
                .ok()
                .and_then(|v| v.split_once(',').and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?))))
                .unwrap_or((2000u64, 4000u64));
            std::thread::scope(|sc| {
                if mimic {
                    let (stop, e1) = (&stop, &bed.engines[1]);
                    sc.spawn(move || {
                        while !stop.load(Ordering::Relaxed) {
                            let t0 = Instant::now();
                            while t0.elapsed() < std::time::Duration::from_micros(drive_us) {
                                if !e1.progress() {
                                    std::thread::yield_now();
                                }
                            }
                            e1.progress_release();
                            std::thread::sleep(std::time::Duration::from_micros(sleep_us));
                        }
                    });
                }
                let (mut tp, mut tq) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
                let t = Instant::now();
                for _ in 0..n {
                    if what == "get_bw" {
                        let get = Get { pe: Pe(1), src: HeapOffset(4096), dst: big.as_mut_ptr(), len: size };
                        // SAFETY: big outlives the call.
                        unsafe { e.get(get, Completion::Blocking) }.unwrap();
                    } else {
                        let op = Put { pe: Pe(1), dst: HeapOffset(4096), src: big.as_ptr(), len: size, signal: None };
                        let t0 = Instant::now();
                        // SAFETY: big outlives the call.
                        unsafe { e.put(op, Completion::Blocking) }.unwrap();
                        let t1 = Instant::now();
                        e.quiet().unwrap();
                        (tp, tq) = (tp + (t1 - t0), tq + t1.elapsed());
                    }
                }
                let s = t.elapsed().as_secs_f64();
                if what == "put_bw" {
                    let per = |d: std::time::Duration| d.as_nanos() / u128::from(n) / 1000;
                    println!("put {} us, quiet {} us per message", per(tp), per(tq));
                }
                stop.store(true, Ordering::Relaxed);
                println!("{what} {size} B: {:.2} GB/s", (size as f64 * n as f64) / s / 1e9);
            });
            return;
        }
        "fetch_add" => (0..n).for_each(|_| {
            e.atomic(Pe(1), HeapOffset(64), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
        }),
        "put_signal" => std::thread::scope(|sc| {
            sc.spawn(move || {
                for v in 1..=n {
                    wait(1, v);
                    put(&bed.engines[1], 0, sig(v));
                }
                bed.engines[1].progress_release();
            });
            for v in 1..=n {
                put(e, 1, sig(v));
                wait(0, v);
            }
            e.progress_release();
        }),
        w => panic!("unknown operation {w}"),
    }
    let per = t.elapsed().as_nanos() as f64 / n as f64;
    let per = if what == "put_signal" { per / 2.0 } else { per };
    println!("{what}: {per:.0} ns per op{}", if what == "put_signal" { " (one-way)" } else { "" });
}
