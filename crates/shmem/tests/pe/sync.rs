//! Wait/test families over every type and compare op, signal waits, barriers over many rounds, AMOs
//! under contention, and the bad inputs of the sync API.

use crate::{check, ok, Scenario};
use shmem::{amo, api, waits, CmpOp};
use std::time::Duration;

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("wait_every_type_and_op", wait_every_type_and_op),
    ("wait_any_some_all", wait_any_some_all),
    ("barrier_rounds", barrier_rounds),
    ("amo_contention", amo_contention),
    ("amo_semantics", amo_semantics),
    ("sync_bad_inputs", sync_bad_inputs),
    ("waiters_sleep", waiters_sleep),
];

pub(crate) const TRIALS: &[(&str, &[u32])] = &[
    ("wait_every_type_and_op", &[2]),
    ("wait_any_some_all", &[2, 4]),
    ("barrier_rounds", &[2, 4, 8]),
    ("amo_contention", &[2, 4, 8]),
    ("amo_semantics", &[2]),
    ("sync_bad_inputs", &[1]),
];

/// CPU seconds this process has used.
fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is valid for getrusage to fill.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// With 8 PEs on 2 cores, PEs waiting 1.5 s for PE 0 must sleep, not spin: each may use only a small fraction
/// of that time in CPU. The watchdog (SHMEM_WAIT_WARN_SECS=1) logs the stuck-looking wait once.
fn waiters_sleep() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let flag = ok!(sh.alloc_zeroed::<u64>(1));
    ok!(sh.barrier_all());
    if sh.my_pe() == 0 {
        std::thread::sleep(Duration::from_millis(1500));
        for pe in 1..sh.n_pes() {
            ok!(flag.put(pe, 0, &[1]));
        }
    } else {
        let before = cpu_seconds();
        let t = std::time::Instant::now();
        ok!(flag.wait_until(0, CmpOp::Eq, 1));
        let (cpu, wall) = (cpu_seconds() - before, t.elapsed().as_secs_f64());
        println!("PE {} waited {wall:.2} s using {cpu:.3} s of CPU", sh.my_pe());
        check!(wall > 1.0, "the wait returned early ({wall:.2} s)");
        check!(cpu < 0.25 * wall, "a waiting PE burned {cpu:.2} s of CPU in {wall:.2} s");
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// (cmp op, a value that does not satisfy `x op 10`, a value that does)
const OPS: [(CmpOp, i8, i8); 6] = [
    (CmpOp::Eq, 0, 10),
    (CmpOp::Ne, 10, 11),
    (CmpOp::Gt, 10, 11),
    (CmpOp::Ge, 9, 10),
    (CmpOp::Lt, 10, 9),
    (CmpOp::Le, 11, 10),
];

macro_rules! per_type {
    ($sh:expr, $($t:ty),*) => {$(
        {
            let sh = $sh;
            let var = ok!(api::malloc(8)).unwrap();
            for (op, no, yes) in OPS {
                let (no, yes, ten) = (no as $t, yes as $t, 10 as $t);
                if sh.my_pe() == 1 {
                    // SAFETY: var is this PE's live 8-byte block, aligned for the type.
                    unsafe { (var as *mut $t).write_volatile(no) };
                    check!(!ok!(waits::test::<$t>(var, op as i32, ten)), "{} {op:?}: test true too early", stringify!($t));
                }
                ok!(sh.barrier_all());
                if sh.my_pe() == 1 {
                    let got = ok!(waits::wait_until::<$t>(var, op as i32, ten));
                    check!(got == yes, "{} {op:?}: wait returned {got:?}, want {yes:?}", stringify!($t));
                    check!(ok!(waits::test::<$t>(var, op as i32, ten)), "{} {op:?}: test false after", stringify!($t));
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                    let b = yes.to_ne_bytes();
                    // SAFETY: b lives across the call.
                    ok!(unsafe { api::putmem(var, b.as_ptr(), b.len(), 1) });
                }
                ok!(sh.barrier_all());
            }
            ok!(api::free(var));
        }
    )*};
}

fn wait_every_type_and_op() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    per_type!(&sh, i8, u8, i16, u16, i32, u32, i64, u64, f32, f64);
    ok!(sh.finalize());
    Ok(())
}

/// PE 0 sets PE 1's (or everyone's) elements to 1 in a scrambled order; the waiter collects them with
/// `wait_until_any` (masking what it found), checks `some`, and ends with `all`.
fn wait_any_some_all() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    const N: usize = 64;
    let arr = ok!(sh.alloc_zeroed::<i64>(N));
    ok!(sh.barrier_all());
    if me == 0 {
        for k in 0..N {
            let i = (k * 37 + 11) % N;
            for pe in 1..n {
                ok!(arr.put(pe, i, &[1]));
            }
            if k % 8 == 0 {
                std::thread::sleep(Duration::from_micros(300));
            }
        }
    } else {
        let mut status = vec![0i32; N];
        let mut found = 0;
        while found < N {
            let i = ok!(waits::wait_until_any::<i64>(arr.addr(), N, Some(&status), 0, 1));
            let Some(i) = i else { return Err("any returned none with active elements".into()) };
            check!(status[i] == 0, "index {i} returned twice");
            status[i] = 1;
            found += 1;
        }
        check!(ok!(waits::wait_until_any::<i64>(arr.addr(), N, Some(&status), 0, 1)).is_none(), "all masked");
        check!(ok!(waits::wait_until_some::<i64>(arr.addr(), N, Some(&status), 0, 1)).is_empty(), "some, masked");
        ok!(waits::wait_until_all::<i64>(arr.addr(), N, None, 0, 1));
        let some = ok!(waits::wait_until_some::<i64>(arr.addr(), N, Some(&vec![0; N]), 0, 1));
        check!(some == (0..N).collect::<Vec<_>>(), "some lists every index");
        let vals: Vec<i64> = (0..N as i64).map(|i| i % 2).collect();
        check!(ok!(waits::test_some_vector::<i64>(arr.addr(), N, None, 0, &vals)).len() == N / 2, "vector some");
        check!(ok!(waits::test_any_vector::<i64>(arr.addr(), N, None, 0, &vals)) == Some(1), "vector any");
        check!(!ok!(waits::test_all_vector::<i64>(arr.addr(), N, None, 0, &vals)), "vector all false");
        let odd_only: Vec<i32> = (0..N).map(|i| (i % 2 == 0) as i32).collect();
        check!(ok!(waits::test_all_vector::<i64>(arr.addr(), N, Some(&odd_only), 0, &vals)), "masked vector all");
        ok!(waits::wait_until_all_vector::<i64>(arr.addr(), N, Some(&odd_only), 3, &vals));
        check!(ok!(waits::test_all::<i64>(arr.addr(), N, None, 5, 1)), "test_all LE");
        check!(ok!(waits::test_any::<i64>(arr.addr(), N, None, 2, 1)).is_none(), "test_any GT");
        // Limited waits: nothing will ever be 2, so they run out (and report it); satisfied ones return at once.
        let t = std::time::Instant::now();
        let slice = Duration::from_millis(30);
        check!(ok!(waits::wait_until_timeout::<i64>(arr.addr(), 0, 2, slice)).is_none(), "limited wait ran out");
        check!(!ok!(waits::wait_until_all_timeout::<i64>(arr.addr(), N, None, 0, &[2], slice)), "all ran out");
        check!(ok!(waits::wait_until_any_timeout::<i64>(arr.addr(), N, None, 0, &[2], slice)).is_none(), "any ran out");
        check!(
            ok!(waits::wait_until_some_timeout::<i64>(arr.addr(), N, None, 0, &[2], slice)).is_none(),
            "some ran out"
        );
        let waited = t.elapsed();
        check!(waited >= 4 * slice && waited < Duration::from_secs(5), "4 limited waits took {waited:?}");
        check!(ok!(waits::wait_until_timeout::<i64>(arr.addr(), 0, 1, slice)) == Some(1), "satisfied limited wait");
        check!(ok!(waits::wait_until_any_timeout::<i64>(arr.addr(), N, None, 0, &[1], slice)) == Some(Some(0)), "any");
        let masked = vec![1i32; N];
        check!(
            ok!(waits::wait_until_any_timeout::<i64>(arr.addr(), N, Some(&masked), 0, &[2], slice)) == Some(None),
            "all masked"
        );
        check!(
            waits::wait_until_all_timeout::<i64>(arr.addr(), N, None, 0, &[1, 1], slice).is_err(),
            "2 values for 64 elements"
        );
    }
    // signal_wait_until with ADD from every PE onto PE 0.
    let sig = ok!(sh.alloc_zeroed::<u64>(1));
    let b = [0u8; 1];
    let dummy = ok!(sh.alloc_zeroed::<u8>(1));
    // SAFETY: b lives across the call.
    ok!(unsafe { api::putmem_signal(dummy.addr(), b.as_ptr(), 1, sig.addr(), 5, 1, 0, false) });
    if me == 0 {
        let v = ok!(waits::signal_wait_until(sig.addr(), CmpOp::Ge as i32, 5 * n as u64));
        check!(v == 5 * n as u64, "signal sum {v}");
        check!(ok!(waits::signal_fetch(sig.addr())) == 5 * n as u64, "signal_fetch");
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// Thousands of barriers; in round r every PE writes r into its slot on every PE before the barrier, and after
/// it every slot must hold at least r (nobody left early) and at most r + 1.
fn barrier_rounds() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let slots = ok!(sh.alloc_zeroed::<u64>(n as usize));
    let rounds = if n > 4 { 1500 } else { 4000 };
    let t = std::time::Instant::now();
    for r in 1..=rounds as u64 {
        for pe in 0..n {
            ok!(slots.put(pe, me as usize, &[r]));
        }
        ok!(sh.barrier_all());
        let seen = ok!(slots.to_vec());
        for (pe, &s) in seen.iter().enumerate() {
            check!(s >= r && s <= r + 1, "round {r}: PE {pe}'s slot holds {s}");
        }
    }
    if me == 0 {
        println!(
            "{n} PEs: {:.2} us per round (puts + barrier + check)",
            t.elapsed().as_secs_f64() * 1e6 / rounds as f64
        );
    }
    ok!(sh.finalize());
    Ok(())
}

/// All PEs add 10^5 times to one word; a compare-swap spin lock protects a plain counter updated with get+put.
fn amo_contention() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let word = ok!(sh.alloc_zeroed::<u64>(1));
    let iters = 100_000u64;
    for _ in 0..iters {
        ok!(amo::atomic_add::<u64>(word.addr(), 1, 0));
    }
    let lock = ok!(sh.alloc_zeroed::<i64>(1));
    let counter = ok!(sh.alloc_zeroed::<i64>(1));
    let crit = if n > 4 { 200 } else { 1000 };
    for _ in 0..crit {
        while ok!(amo::atomic_compare_swap::<i64>(lock.addr(), 0, me as i64 + 1, 0)) != 0 {
            std::thread::yield_now();
        }
        let mut c = [0i64];
        ok!(counter.get(0, 0, &mut c));
        ok!(counter.put(0, 0, &[c[0] + 1]));
        ok!(sh.quiet());
        let held = ok!(amo::atomic_swap::<i64>(lock.addr(), 0, 0));
        check!(held == me as i64 + 1, "lock was held by {held} while PE {me} owned it");
    }
    ok!(sh.barrier_all());
    if me == 0 {
        check!(ok!(word.to_vec())[0] == iters * n as u64, "add total {}", ok!(word.to_vec())[0]);
        check!(ok!(counter.to_vec())[0] == crit * n as i64, "locked counter {}", ok!(counter.to_vec())[0]);
    }
    ok!(sh.finalize());
    Ok(())
}

fn amo_semantics() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let other = (1 - sh.my_pe()) as i64;
    let w = ok!(sh.alloc_zeroed::<u64>(4));
    let (a32, a64, af, ad) = (w.addr(), w.addr() + 8, w.addr() + 16, w.addr() + 24);
    ok!(sh.barrier_all());
    if sh.my_pe() == 0 {
        ok!(amo::atomic_set::<i32>(a32, -5, other));
        check!(ok!(amo::atomic_fetch_add::<i32>(a32, 3, other)) == -5, "fetch_add i32");
        check!(ok!(amo::atomic_fetch_inc::<i32>(a32, other)) == -2, "fetch_inc");
        check!(ok!(amo::atomic_fetch::<i32>(a32, other)) == -1, "fetch");
        ok!(amo::atomic_set::<u64>(a64, 0b1100, other));
        check!(ok!(amo::atomic_fetch_and::<u64>(a64, 0b1010, other)) == 0b1100, "and");
        check!(ok!(amo::atomic_fetch_or::<u64>(a64, 0b0001, other)) == 0b1000, "or");
        check!(ok!(amo::atomic_fetch_xor::<u64>(a64, 0b1111, other)) == 0b1001, "xor");
        check!(ok!(amo::atomic_fetch::<u64>(a64, other)) == 0b0110, "xor result");
        check!(ok!(amo::atomic_compare_swap::<u64>(a64, 7, 9, other)) == 6, "failed cas returns current");
        check!(ok!(amo::atomic_compare_swap::<u64>(a64, 6, 9, other)) == 6, "cas");
        ok!(amo::atomic_inc::<u64>(a64, other));
        ok!(amo::atomic_xor::<u64>(a64, 1, other));
        ok!(amo::atomic_or::<u64>(a64, 0x100, other));
        ok!(amo::atomic_and::<u64>(a64, 0x10f, other));
        check!(ok!(amo::atomic_fetch::<u64>(a64, other)) == 0x10b, "non-fetching ops");
        ok!(amo::atomic_set::<f32>(af, 1.5, other));
        check!(ok!(amo::atomic_swap::<f32>(af, -2.25, other)) == 1.5, "f32 swap");
        ok!(amo::atomic_set::<f64>(ad, 3.25, other));
        check!(ok!(amo::atomic_fetch::<f64>(ad, other)) == 3.25, "f64 fetch");
        let mut old = 0u64;
        // SAFETY: old is a live local u64 read only after the quiet.
        ok!(unsafe { amo::atomic_fetch_op_nbi(&mut old, a64, shmem::AtomicOp::FetchAdd(5), other) });
        ok!(sh.quiet());
        check!(old == 0x10b, "nbi fetch_add stored {old:#x}");
    }
    ok!(sh.barrier_all());
    if sh.my_pe() == 1 {
        let v = ok!(w.to_vec());
        check!(v[1] == 0x110 && (v[0] & 0xffff_ffff) as u32 as i32 == -1, "final words {v:x?}");
    }
    ok!(sh.finalize());
    Ok(())
}

fn sync_bad_inputs() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let a = ok!(sh.alloc_zeroed::<u64>(4));
    let code = |r: Result<bool, shmem::Error>| r.map_err(|e| e.code()).err();
    check!(code(waits::test::<u64>(a.addr(), 6, 0)) == Some(-1), "cmp 6");
    check!(code(waits::test::<u64>(a.addr(), -1, 0)) == Some(-1), "cmp -1");
    check!(code(waits::test::<u64>(a.addr() + 4, 0, 0)) == Some(-1), "unaligned");
    check!(code(waits::test::<u64>(64, 0, 0)) == Some(-1), "outside heap");
    // The empty set is no error (OpenSHMEM 1.5): all holds, any and some find nothing, waits return at once.
    check!(ok!(waits::test_all::<u64>(a.addr(), 0, None, 0, 0)), "test_all of nothing");
    check!(ok!(waits::test_any::<u64>(a.addr(), 0, None, 0, 0)).is_none(), "test_any of nothing");
    check!(ok!(waits::test_some::<u64>(0, 0, None, 0, 0)).is_empty(), "test_some of nothing");
    ok!(waits::wait_until_all::<u64>(a.addr(), 0, None, 0, 7));
    check!(ok!(waits::wait_until_any::<u64>(a.addr(), 0, None, 0, 7)).is_none(), "wait_until_any of nothing");
    check!(ok!(waits::wait_until_some::<u64>(a.addr(), 0, None, 0, 7)).is_empty(), "wait_until_some of nothing");
    check!(code(waits::test_all::<u64>(a.addr(), usize::MAX / 4, None, 0, 0)) == Some(-1), "huge nelems");
    check!(code(waits::test_all::<u64>(a.addr(), 4, Some(&[0, 0]), 0, 0)) == Some(-1), "short status");
    check!(code(waits::test_all_vector::<u64>(a.addr(), 4, None, 0, &[1])) == Some(-1), "short values");
    check!(waits::wait_until::<u64>(a.addr(), 9, 0).unwrap_err().code() == -1, "wait with cmp 9");
    check!(amo::atomic_fetch_add::<u64>(a.addr() + 1, 1, 0).unwrap_err().code() == -1, "unaligned amo");
    check!(amo::atomic_fetch_add::<u64>(a.addr(), 1, 1).unwrap_err().code() == -1, "amo to PE 1 of 1");
    // SAFETY: the null pointer is rejected before any write.
    let e = unsafe { amo::atomic_fetch_op_nbi::<u64>(std::ptr::null_mut(), a.addr(), shmem::AtomicOp::Fetch, 0) };
    check!(e.unwrap_err().code() == -1, "null fetch destination");
    ok!(sh.finalize());
    check!(waits::test::<u64>(a.addr(), 0, 0).unwrap_err().code() == -5, "after finalize");
    Ok(())
}
