//! Put/get/signal/atomics data exactness, ordering, bad arguments.

use crate::{check, ok, Scenario};
use shmem::{api, AtomicOp, AtomicWidth, CmpOp, SignalOp};

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("put_get_sizes", put_get_sizes),
    ("nbi_then_quiet", nbi_then_quiet),
    ("signal_after_data", signal_after_data),
    ("signal_add_sums", signal_add_sums),
    ("ptr_direct", ptr_direct),
    ("bad_arguments", bad_arguments),
    ("nbi_stress", nbi_stress),
    ("finalize_in_flight", finalize_in_flight),
];

pub const TRIALS: &[(&str, &[u32])] = &[
    ("put_get_sizes", &[2, 4, 8]),
    ("nbi_then_quiet", &[2, 4]),
    ("signal_after_data", &[2]),
    ("signal_add_sums", &[2, 4, 8]),
    ("ptr_direct", &[2, 4]),
    ("bad_arguments", &[2]),
    ("nbi_stress", &[3]),
    ("finalize_in_flight", &[2]),
];

/// A small deterministic generator (xorshift) so every PE can recompute what others sent.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// Thousands of interleaved nbi puts and gets of random sizes to every PE; verified after quiet.
fn nbi_stress() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    if let Ok(want) = std::env::var("SHMEM_DATA_OP_ENGINE") {
        let want = ok!(shmem::OpEngineType::parse(&want));
        check!(ok!(api::engines()) == want, "job runs on {:?}, asked for {want:?}", ok!(api::engines()));
    }
    let (me, n) = (sh.my_pe(), sh.n_pes());
    const REGION: usize = 256 << 10;
    // Region `from` of every PE's inbox is written only by PE `from`.
    let inbox = ok!(sh.alloc_zeroed::<u8>(REGION * n as usize));
    let mut next = rng(me as u64 + 1);
    let src: Vec<u8> = (0..REGION).map(|_| next() as u8).collect();
    let mut gets: Vec<(u32, usize, usize, Vec<u8>)> = Vec::new();
    for _ in 0..2000 {
        let to = (next() % n as u64) as u32;
        let off = (next() % REGION as u64) as usize;
        let len = ((next() % 16384) as usize).min(REGION - off);
        // SAFETY: src is neither freed nor modified until the quiet below.
        ok!(unsafe {
            api::putmem_nbi(inbox.addr() + me as usize * REGION + off, src.as_ptr().add(off), len, to as i64)
        });
        if next().is_multiple_of(4) {
            gets.push((to, off, len, vec![0u8; len]));
        }
    }
    ok!(sh.quiet());
    ok!(sh.barrier_all());
    // Everything every PE sent has landed: each region holds its sender's pattern wherever it was written.
    let all = ok!(inbox.to_vec());
    for from in 0..n {
        let mut r = rng(from as u64 + 1);
        let pattern: Vec<u8> = (0..REGION).map(|_| r() as u8).collect();
        let region = &all[from as usize * REGION..(from as usize + 1) * REGION];
        for (i, (&got, &want)) in region.iter().zip(&pattern).enumerate() {
            check!(got == 0 || got == want, "region of PE {from}, byte {i}: {got:#x} is neither 0 nor {want:#x}");
        }
    }
    // Gets of my own region at other PEs (complete after quiet) return the data I put there, or zeros.
    for (to, off, len, buf) in gets.iter_mut() {
        // SAFETY: buf is untouched until the quiet.
        ok!(unsafe { api::getmem_nbi(buf.as_mut_ptr(), inbox.addr() + me as usize * REGION + *off, *len, *to as i64) });
    }
    ok!(sh.quiet());
    for (to, off, _, buf) in &gets {
        check!(buf.iter().zip(&src[*off..]).all(|(&g, &w)| g == 0 || g == w), "get_nbi from PE {to} at {off}");
    }
    ok!(sh.barrier_all());
    ok!(inbox.free());
    ok!(sh.finalize());
    Ok(())
}

/// finalize right after issuing 32 MiB of nbi puts: it completes them (its barrier quiets) and ends cleanly,
/// and every byte arrived. With both engines the puts go to the asynchronous SDMA engine, so they are really
/// in flight when finalize starts; a heap pin keeps this PE's mapping readable after finalize for the check.
fn finalize_in_flight() -> Result<(), String> {
    let mut attr = ok!(shmem::attr_from_env());
    // The copy engine keeps same-node puts in flight; engines from the environment (TCP) reach other nodes.
    attr.option_attr.data_op_engine_type |= shmem::OpEngineType::MTE | shmem::OpEngineType::SDMA;
    let sh = ok!(shmem::init(attr));
    let me = sh.my_pe();
    let big = 32 << 20;
    let buf = ok!(sh.alloc_zeroed::<u8>(big));
    let src: Vec<u8> = (0..big).map(|i| pattern(me, big, i)).collect();
    // SAFETY: src outlives finalize, which completes the transfer.
    ok!(unsafe { api::putmem_nbi(buf.addr(), src.as_ptr(), big, (1 - me) as i64) });
    let pin = ok!(api::pin_heap());
    let addr = buf.addr();
    ok!(sh.finalize());
    drop(src);
    // SAFETY: the pin keeps this PE's heap mapped after finalize; the peer's puts completed before its finalize
    // barrier, which this PE's finalize waited for, so nothing writes these bytes any more.
    let got = unsafe { std::slice::from_raw_parts(addr as *const u8, big) };
    let from = 1 - me;
    let bad = got.iter().enumerate().filter(|&(i, &b)| b != pattern(from, big, i)).count();
    check!(bad == 0, "{bad} of {big} bytes put by PE {from} had not arrived when finalize returned");
    drop(pin);
    Ok(())
}

/// The byte at index `i` of the message PE `from` sends with size `len`.
fn pattern(from: u32, len: usize, i: usize) -> u8 {
    (i as u32).wrapping_mul(31).wrapping_add(from * 7 + len as u32) as u8
}

const GUARD: usize = 64;
const GUARD_BYTE: u8 = 0xA5;

fn sizes() -> Vec<usize> {
    let mut v = vec![0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 255, 4095, 4096, 4097, 65_537, 1 << 20];
    v.push((1 << 20) * 3 + 5);
    v
}

fn put_get_sizes() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let next = (me + 1) % n;
    let prev = (me + n - 1) % n;
    let max = *sizes().iter().max().unwrap();
    // Target area: guard | payload (at an odd offset) | guard.
    let area = ok!(api::malloc((max + 2 * GUARD + 1) as u64)).unwrap();
    let dst = area + GUARD + 1;
    for len in sizes() {
        // SAFETY: area is this PE's live block of max + 2*GUARD + 1 bytes.
        unsafe { std::ptr::write_bytes(area as *mut u8, GUARD_BYTE, max + 2 * GUARD + 1) };
        ok!(sh.barrier_all());
        let src: Vec<u8> = (0..len).map(|i| pattern(me, len, i)).collect();
        // SAFETY: src lives across the call.
        ok!(unsafe { api::putmem(dst, src.as_ptr(), len, next as i64) });
        ok!(sh.barrier_all());
        let mut mine = vec![0u8; len + 2 * GUARD + 1];
        // SAFETY: area is our live block of at least this size.
        unsafe { std::ptr::copy_nonoverlapping(area as *const u8, mine.as_mut_ptr(), mine.len()) };
        check!(mine[..GUARD + 1].iter().all(|&b| b == GUARD_BYTE), "guard before payload touched at len {len}");
        check!(mine[GUARD + 1 + len..].iter().all(|&b| b == GUARD_BYTE), "guard after payload touched at len {len}");
        for (i, &b) in mine[GUARD + 1..GUARD + 1 + len].iter().enumerate() {
            check!(
                b == pattern(prev, len, i),
                "len {len}: byte {i} is {b:#x}, expected {:#x} from PE {prev}",
                pattern(prev, len, i)
            );
        }
        // get: read back what this PE put into its successor.
        let mut back = vec![0u8; len];
        // SAFETY: back is writable for len bytes.
        ok!(unsafe { api::getmem(back.as_mut_ptr(), dst, len, next as i64) });
        check!(back == src, "get of len {len} from PE {next} differs");
        ok!(sh.barrier_all());
    }
    // A large transfer (64 MiB) through the typed API, checksummed.
    let big = 64 << 20;
    let v = ok!(sh.alloc_zeroed::<u32>(big / 4));
    let src: Vec<u32> = (0..big / 4).map(|i| (i as u32).wrapping_mul(2654435761).wrapping_add(me)).collect();
    ok!(v.put(next, 0, &src));
    ok!(sh.barrier_all());
    let got = ok!(v.to_vec());
    let want_sum: u64 = (0..big / 4).map(|i| (i as u32).wrapping_mul(2654435761).wrapping_add(prev) as u64).sum();
    check!(got.iter().map(|&x| x as u64).sum::<u64>() == want_sum, "64 MiB checksum");
    ok!(v.free());
    ok!(api::free(area));
    ok!(sh.finalize());
    Ok(())
}

fn nbi_then_quiet() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let per = 4096;
    let buf = ok!(sh.alloc_zeroed::<u8>(per * n as usize));
    let srcs: Vec<Vec<u8>> = (0..n).map(|to| (0..per).map(|i| pattern(me * 100 + to, per, i)).collect()).collect();
    for to in 0..n {
        // SAFETY: srcs outlive the quiet below and are not modified.
        ok!(unsafe { api::putmem_nbi(buf.addr() + me as usize * per, srcs[to as usize].as_ptr(), per, to as i64) });
    }
    ok!(sh.quiet());
    ok!(sh.barrier_all());
    let all = ok!(buf.to_vec());
    for from in 0..n {
        let want: Vec<u8> = (0..per).map(|i| pattern(from * 100 + me, per, i)).collect();
        check!(all[from as usize * per..(from as usize + 1) * per] == want[..], "block from PE {from}");
    }
    // get_nbi from every PE, complete after quiet.
    let mut got = vec![vec![0u8; per]; n as usize];
    for from in 0..n {
        // SAFETY: got[from] stays untouched until quiet.
        ok!(unsafe { api::getmem_nbi(got[from as usize].as_mut_ptr(), buf.addr(), per, from as i64) });
    }
    ok!(sh.quiet());
    for from in 0..n {
        let want: Vec<u8> = (0..per).map(|i| pattern(from, per, i)).collect();
        check!(got[from as usize] == want, "get_nbi block 0 of PE {from}");
    }
    ok!(sh.barrier_all());
    ok!(buf.free());
    ok!(sh.finalize());
    Ok(())
}

/// PE 0 streams 4 KiB messages whose every word is the iteration number, each followed by its signal; PE 1
/// checks that the message of the signal it sees is there in full: data is never behind its signal.
///
/// Message `i` goes to slot `i % RING` of a ring, so that the message PE 1 reads is not being overwritten while it
/// reads it: PE 0 waits for PE 1's acknowledgement every 64 messages, so it reuses a slot only once PE 1 has
/// acknowledged a message 192 or more past the one that slot held. (With one buffer for every message, PE 1 read
/// message `s` while the next one landed, and a word read halfway through its RDMA write mixed the bytes of both:
/// the soft-RoCE run saw "signal 2047 but data 1792", 0x7FF and 0x800 torn into 0x700.)
fn signal_after_data() -> Result<(), String> {
    const RING: u64 = 256;
    let sh = ok!(shmem::init_from_env());
    let iters: u64 = 20_000;
    let words = 512;
    let data = ok!(sh.alloc_zeroed::<u64>(words * RING as usize));
    let sig = ok!(sh.alloc_zeroed::<u64>(1));
    let ack = ok!(sh.alloc_zeroed::<u64>(1));
    let slot = |i: u64| (i % RING) as usize * words;
    if sh.my_pe() == 0 {
        for i in 1..=iters {
            let msg = vec![i; words];
            ok!(data.put_signal(1, slot(i), &msg, &sig, 0, i, SignalOp::Set));
            // Flow control every 64 messages: the consumer is never lapped by more than that, and no slot is
            // rewritten while it may still read it.
            if i % 64 == 0 {
                ok!(ack.wait_until(0, CmpOp::Ge, i));
            }
        }
    } else if sh.my_pe() == 1 {
        let mut seen = 0;
        let mut buf = vec![0u64; words];
        while seen < iters {
            let s = ok!(sig.wait_until(0, CmpOp::Gt, seen));
            ok!(data.read_local(slot(s), &mut buf));
            let (low, high) = (*buf.iter().min().unwrap(), *buf.iter().max().unwrap());
            check!(low == s && high == s, "signal {s} observed but its message holds words {low} to {high}");
            seen = s;
            if s / 64 > (s - 1) / 64 || s % 64 == 0 {
                ok!(ack.put(0, 0, &[s - s % 64]));
            }
        }
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

fn signal_add_sums() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes();
    let per_pe: u64 = 2000;
    let sig = ok!(sh.alloc_zeroed::<u64>(1));
    let data = ok!(sh.alloc_zeroed::<u8>(n as usize));
    let me = sh.my_pe();
    for _ in 0..per_pe {
        let b = [me as u8 + 1];
        // SAFETY: the source byte lives across the call.
        ok!(unsafe { api::putmem_signal(data.addr() + me as usize, b.as_ptr(), 1, sig.addr(), 1, 1, 0, false) });
    }
    // Also atomics: fetch_add on PE n-1's word.
    let counter = ok!(sh.alloc_zeroed::<u64>(1));
    for _ in 0..per_pe {
        ok!(counter.fetch_add(n - 1, 0, 1));
    }
    ok!(sh.barrier_all());
    if me == 0 {
        let total = ok!(sig.to_vec())[0];
        check!(total == per_pe * n as u64, "SIGNAL_ADD total {total} != {}", per_pe * n as u64);
        let v = ok!(sig.wait_until(0, CmpOp::Eq, per_pe * n as u64));
        check!(v == per_pe * n as u64, "wait returned {v}");
        let d = ok!(data.to_vec());
        check!(d.iter().enumerate().all(|(i, &b)| b == i as u8 + 1), "payload bytes {d:?}");
    }
    if me == n - 1 {
        let c = ok!(counter.fetch(me, 0));
        check!(c == per_pe * n as u64, "fetch_add total {c}");
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

fn ptr_direct() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let v = ok!(sh.alloc_zeroed::<u64>(n as usize));
    for pe in 0..n {
        let p = ok!(api::ptr(v.addr(), pe as i64));
        // PEs of this node are mapped here; PEs of other nodes (runs with SHMEM_NODE_ID) are not: NULL.
        let same_node = shmem::team::translate_pe(shmem::team::TEAM_WORLD, pe as i32, shmem::team::TEAM_NODE) >= 0;
        let Some(p) = p else {
            check!(!same_node, "ptr to same-node PE {pe} is null");
            ok!(v.put(pe, me as usize, &[1000 + me as u64]));
            continue;
        };
        check!(same_node, "ptr to PE {pe} of another node is not null");
        if pe == me {
            check!(p == v.addr(), "own ptr is the symmetric address");
        }
        // SAFETY: p points at pe's live block of n u64 words; element `me` is written only by this PE.
        unsafe { (p as *mut u64).add(me as usize).write_volatile(1000 + me as u64) };
    }
    ok!(sh.barrier_all());
    let got = ok!(v.to_vec());
    check!(got.iter().enumerate().all(|(i, &x)| x == 1000 + i as u64), "writes through ptr: {got:?}");
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

fn bad_arguments() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let v = ok!(sh.alloc_zeroed::<u64>(4));
    let (base, size) = ok!(api::heap_range());
    let buf = [0u8; 64];
    let mut out = [0u8; 64];
    // SAFETY: buf/out are live local buffers of 64 bytes for every call in this block.
    unsafe {
        let e = api::putmem(v.addr(), buf.as_ptr(), 8, 2).unwrap_err();
        check!(e.code() == -1 && e.to_string().contains("PE 2"), "pe out of range: {e}");
        let e = api::putmem(v.addr(), buf.as_ptr(), 8, -1).unwrap_err();
        check!(e.code() == -1, "negative pe: {e}");
        let e = api::putmem(base + size as usize - 4, buf.as_ptr(), 8, 1).unwrap_err();
        check!(e.code() == -1 && e.to_string().contains("not inside the symmetric heap"), "range past heap end: {e}");
        let e = api::putmem(buf.as_ptr() as usize, buf.as_ptr(), 8, 1).unwrap_err();
        check!(e.code() == -1, "foreign address: {e}");
        let e = api::getmem(out.as_mut_ptr(), usize::MAX - 3, 8, 1).unwrap_err();
        check!(e.code() == -1, "wrapping address: {e}");
        let e = api::putmem_signal(v.addr(), buf.as_ptr(), 8, v.addr() + 4, 1, 0, 1, false).unwrap_err();
        check!(e.code() == -1, "unaligned signal: {e}");
        let e = api::putmem_signal(v.addr(), buf.as_ptr(), 16, v.addr() + 8, 1, 0, 1, false).unwrap_err();
        check!(e.code() == -1 && e.to_string().contains("overlaps"), "signal inside data: {e}");
        let e = api::putmem_signal(v.addr(), buf.as_ptr(), 8, v.addr() + 16, 1, 7, 1, false).unwrap_err();
        check!(e.code() == -1, "bad signal op: {e}");
    }
    let e = api::atomic(v.addr() + 4, AtomicWidth::W64, AtomicOp::FetchAdd(1), 1).unwrap_err();
    check!(e.code() == -1 && e.to_string().contains("aligned"), "unaligned atomic: {e}");
    let e = v.put(1, 3, &[1, 2]).unwrap_err();
    check!(e.code() == -1, "typed put past the end: {e}");
    let e = api::ptr(base + size as usize + 1, 0).unwrap_err();
    check!(e.code() == -1, "ptr outside heap: {e}");
    let e = api::ptr(base + size as usize, 0).unwrap_err();
    check!(e.code() == -1, "ptr at the heap's end: {e}");
    let e = api::mte_set_ub_params(0, 33, 0).unwrap_err();
    check!(e.code() == -1, "bad ub size: {e}");
    ok!(api::mte_set_ub_params(0, 4096, 1));
    // With a 4 KiB chunk, a 64 KiB put still lands whole.
    let big = ok!(sh.alloc_zeroed::<u8>(65536));
    let src: Vec<u8> = (0..65536).map(|i| (i % 251) as u8).collect();
    ok!(big.put(1 - sh.my_pe(), 0, &src));
    ok!(sh.barrier_all());
    check!(ok!(big.to_vec()) == src, "chunked copy");
    // Overlapping put to self behaves like memmove.
    let me = sh.my_pe() as i64;
    // SAFETY: both ranges are inside our live block `big`.
    ok!(unsafe { api::putmem(big.addr() + 1, big.addr() as *const u8, 1000, me) });
    let after = ok!(big.to_vec());
    check!(after[1..1001] == src[..1000], "overlapping put to self is a memmove");
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}
