//! Life cycle, allocator agreement, failure handling.

use crate::runner;
use crate::{check, ok, Scenario};
use libtest_mimic::{Failed, Trial};
use shmem::{api, InitStatus};
use std::time::{Duration, Instant};

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("init_cycles", init_cycles),
    ("alloc_agreement", alloc_agreement),
    ("alloc_mismatch", alloc_mismatch),
    ("alloc_oom", alloc_oom),
    ("peer_dies", peer_dies),
    ("finalize_with_a_stuck_peer", finalize_with_a_stuck_peer),
    ("global_exit", global_exit),
    ("calls_outside_init", calls_outside_init),
    ("killed_by_signal", killed_by_signal),
    ("engine_selection", engine_selection),
    ("lone_pe", lone_pe),
    ("malformed_config", malformed_config),
    ("finalize_race", finalize_race),
    ("init_during_finalize", init_during_finalize),
];

pub const TRIALS: &[(&str, &[u32])] = &[
    ("init_cycles", &[2, 8]),
    ("alloc_agreement", &[2, 4, 8]),
    ("alloc_mismatch", &[2, 4]),
    ("alloc_oom", &[2]),
    ("calls_outside_init", &[1, 2]),
    ("engine_selection", &[2]),
    ("malformed_config", &[2]),
    ("finalize_race", &[2]),
    ("init_during_finalize", &[2]),
];

fn init_cycles() -> Result<(), String> {
    for round in 0..3 {
        check!(api::init_status() == InitStatus::NotInitialized, "status before init #{round}");
        let n: u32 = std::env::var("SHMEM_N_PES").unwrap().parse().unwrap();
        let pe: i64 = std::env::var("SHMEM_PE").unwrap().parse().unwrap();
        // Round 1 uses the seed's shmem_init(mype, npes, mem_size) form (store address from the environment).
        let sh = if round == 1 { ok!(api::init_with(pe, n as i64, 4 << 20)) } else { ok!(shmem::init_from_env()) };
        check!(api::init_status() == InitStatus::Initialized, "status after init");
        check!(sh.n_pes() == n, "n_pes {} != {n}", sh.n_pes());
        check!(sh.my_pe() == std::env::var("SHMEM_PE").unwrap().parse::<u32>().unwrap(), "my_pe");
        let e = shmem::init_from_env().unwrap_err();
        check!(e.code() == -4, "double init gives INNER_ERROR, got {e}");
        // Every PE writes its rank into the next PE's word; after the barrier each holds its predecessor's.
        let v = ok!(sh.alloc_zeroed::<u64>(1));
        let me = sh.my_pe();
        ok!(v.put((me + 1) % n, 0, &[me as u64 + 100 * round]));
        ok!(sh.barrier_all());
        let got = ok!(v.to_vec())[0];
        check!(got == ((me + n - 1) % n) as u64 + 100 * round, "round {round}: got {got}");
        ok!(v.free());
        ok!(sh.finalize());
        check!(api::init_status() == InitStatus::NotInitialized, "status after finalize");
    }
    // A stale handle cannot finalize (or be mixed into) the runtime of a later init.
    let a = ok!(shmem::init_from_env());
    let a_sig = ok!(a.alloc_zeroed::<u64>(1));
    ok!(api::finalize());
    let b = ok!(shmem::init_from_env());
    let data = ok!(b.alloc_zeroed::<u64>(1));
    let e = data.put_signal(b.my_pe(), 0, &[1], &a_sig, 0, 1, shmem::SignalOp::Set).unwrap_err();
    check!(e.code() == -1, "signal array of a finalized runtime: {e}");
    check!(a.finalize().unwrap_err().code() == -5, "stale handle finalize");
    ok!(b.barrier_all());
    ok!(b.finalize());
    Ok(())
}

/// An init on one thread while a finalize runs on another (PE 0's finalize waits in its closing barrier for PE 1,
/// which finalizes 1.5 s later): the init fails at once with INNER_ERROR naming the running finalize, instead of
/// starting a runtime whose status the finalize then overwrote with NotInitialized; afterwards the status is
/// NotInitialized with no runtime current, and the process can init and finalize again.
fn init_during_finalize() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    ok!(sh.barrier_all());
    if sh.my_pe() == 1 {
        std::thread::sleep(Duration::from_millis(1500));
        ok!(sh.finalize());
    } else {
        let finalizer = std::thread::spawn(move || sh.finalize().map_err(|e| e.to_string()));
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        let e = shmem::init_from_env().err().ok_or("an init during a finalize was accepted")?;
        check!(e.code() == -4 && e.to_string().contains("finalize is running"), "init during finalize: {e}");
        check!(t.elapsed() < Duration::from_secs(1), "the refused init took {:?}", t.elapsed());
        finalizer.join().map_err(|_| "the finalizing thread panicked".to_string())??;
    }
    check!(api::init_status() == InitStatus::NotInitialized, "status after the finalize: {:?}", api::init_status());
    check!(api::quiet().unwrap_err().code() == -5, "a call after the finalize");
    let sh = ok!(shmem::init_from_env());
    check!(api::init_status() == InitStatus::Initialized, "status after the next init");
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// A finalize on one thread while another keeps calling put/quiet/get through the raw API (each call takes the
/// per-thread fast path to the runtime): every call either moves the right bytes or fails with NOT_INITED (-5);
/// none touches a runtime that is gone (that would be a crash, not an error). After the next init, a thread
/// that cached the finalized runtime (a helper living across both rounds) reaches the new one.
fn finalize_race() -> Result<(), String> {
    let main_src = [0x5au8; 16];
    // A thread that lives across both rounds: in round 1 it still caches round 0's runtime.
    let (to_helper, helper_rx) = std::sync::mpsc::channel::<(usize, i64, u8)>();
    let (helper_tx, from_helper) = std::sync::mpsc::channel::<Result<(), i32>>();
    let helper = std::thread::spawn(move || {
        for (addr, pe, v) in helper_rx {
            let src = [v; 8];
            // SAFETY: src is 8 readable bytes; addr is 8 bytes of a live block (the main thread's contract).
            let r = unsafe { api::putmem(addr, src.as_ptr(), 8, pe) }.and_then(|()| api::quiet());
            if helper_tx.send(r.map_err(|e| e.code())).is_err() {
                break;
            }
        }
    });
    for round in 0..2u8 {
        let sh = ok!(shmem::init_from_env());
        let me = i64::from(sh.my_pe());
        let addr = ok!(api::malloc(64)).ok_or("malloc(64) gave no block")?;
        // This thread's cached runtime is the previous round's (or none): the call must reach this one.
        let mut back = [0u8; 16];
        // SAFETY: the buffers are 16 readable/writable bytes; addr is a live 64-byte block.
        unsafe {
            ok!(api::putmem(addr + 48, main_src.as_ptr(), 16, me));
            ok!(api::getmem(back.as_mut_ptr(), addr + 48, 16, me));
        }
        check!(back == main_src, "round {round}: main thread read back {back:?}");
        // The long-lived thread writes through the current runtime, whatever it cached before.
        to_helper.send((addr + 40, me, 0xa0 + round)).map_err(|e| e.to_string())?;
        let r = from_helper.recv_timeout(Duration::from_secs(20)).map_err(|e| e.to_string())?;
        check!(r.is_ok(), "round {round}: the helper thread's put failed with code {r:?}");
        let mut seen = [0u8; 8];
        // SAFETY: seen is 8 writable bytes; addr + 40 is inside the live block.
        unsafe { ok!(api::getmem(seen.as_mut_ptr(), addr + 40, 8, me)) };
        check!(seen == [0xa0 + round; 8], "round {round}: the helper thread's put left {seen:?}");
        ok!(sh.barrier_all());
        let worker = std::thread::spawn(move || -> Result<u64, String> {
            let src = [round + 1; 32];
            let mut done = 0u64;
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                let mut dst = [0u8; 32];
                // SAFETY: src/dst are 32 bytes on this stack; addr is a 64-byte block of this PE's heap.
                let r = unsafe {
                    api::putmem(addr, src.as_ptr(), 32, me)
                        .and_then(|()| api::quiet())
                        .and_then(|()| api::getmem(dst.as_mut_ptr(), addr, 32, me))
                };
                match r {
                    Ok(()) if dst == src => done += 1,
                    Ok(()) => return Err(format!("read back {dst:?} instead of {src:?}")),
                    Err(e) if e.code() == -5 => return Ok(done),
                    Err(e) => return Err(format!("a call failed with {e} (code {})", e.code())),
                }
            }
            Err("the calls never saw the finalize".into())
        });
        std::thread::sleep(Duration::from_millis(50));
        ok!(sh.finalize());
        let done = worker.join().map_err(|_| "the worker thread panicked".to_string())??;
        check!(done > 0, "round {round}: no call of the worker worked before the finalize");
        check!(api::quiet().unwrap_err().code() == -5, "quiet after finalize");
    }
    drop(to_helper);
    helper.join().map_err(|_| "the helper thread panicked".to_string())?;
    Ok(())
}

fn alloc_agreement() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes();
    // A fixed, mixed sequence of calls; every PE records the offsets it got.
    let mut offs: Vec<u64> = Vec::new();
    let mut live = Vec::new();
    let (base, _) = ok!(api::heap_range());
    for i in 0..40u64 {
        let a = match i % 4 {
            0 => ok!(api::malloc(1 + i * 37)),
            1 => ok!(api::align(1 << (4 + i % 9), 100 + i)),
            2 => ok!(api::calloc(i + 1, 24)),
            _ => ok!(api::malloc(0)),
        };
        match a {
            Some(addr) => {
                if i % 4 == 1 {
                    check!(addr % (1 << (4 + i % 9)) == 0, "align({}) gave {addr:#x}", 1 << (4 + i % 9));
                }
                if i % 4 == 2 {
                    let mut buf = vec![1u8; (i as usize + 1) * 24];
                    // SAFETY: addr is a live calloc block of this size on this PE.
                    unsafe { std::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len()) };
                    check!(buf.iter().all(|&b| b == 0), "calloc block not zeroed");
                }
                offs.push((addr - base) as u64);
                live.push(addr);
            }
            None => check!(i % 4 == 3, "only malloc(0) returns none"),
        }
        if i % 5 == 4 {
            let victim = live.remove((i as usize * 7) % live.len());
            ok!(api::free(victim));
            offs.push(u64::MAX);
        }
    }
    // Compare with PE 0's sequence through the heap itself.
    let table = ok!(sh.alloc_zeroed::<u64>(offs.len() * n as usize));
    ok!(table.put(0, sh.my_pe() as usize * offs.len(), &offs));
    ok!(sh.barrier_all());
    if sh.my_pe() == 0 {
        let all = ok!(table.to_vec());
        for pe in 1..n as usize {
            check!(all[pe * offs.len()..(pe + 1) * offs.len()] == all[..offs.len()], "PE {pe} got other offsets");
        }
    }
    ok!(sh.barrier_all());
    for a in live {
        ok!(api::free(a));
    }
    ok!(table.free());
    // Malloc + free must be cheap: report (not assert) the cost.
    let t = Instant::now();
    for _ in 0..200 {
        let a = ok!(api::malloc(4096)).unwrap();
        ok!(api::free(a));
    }
    if sh.my_pe() == 0 {
        println!("malloc+free on {n} PEs: {:.1} us", t.elapsed().as_secs_f64() * 1e6 / 200.0);
    }
    ok!(sh.finalize());
    Ok(())
}

fn alloc_mismatch() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let size = if sh.my_pe() == 1 { 8192 } else { 4096 };
    let e = api::malloc(size).unwrap_err();
    check!(e.code() == -2, "mismatch code {} ({e})", e.code());
    let m = e.to_string();
    check!(m.contains("PE 1 called malloc(size=8192)") && m.contains("malloc(size=4096)"), "message: {m}");
    // The heap is unchanged and later agreeing calls work.
    let a = ok!(api::malloc(64)).unwrap();
    let (base, _) = ok!(api::heap_range());
    check!(a == base, "first successful block at heap start, got {:#x}", a - base);
    let e = api::free(a + 16).unwrap_err();
    check!(e.code() == -1 && e.to_string().contains("not the start"), "free of interior: {e}");
    ok!(api::free(a));
    ok!(sh.finalize());
    Ok(())
}

fn alloc_oom() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let e = api::malloc(sh.heap_size() + 1).unwrap_err();
    check!(e.code() == -8, "oom code {}", e.code());
    let m = e.to_string();
    check!(m.contains(&sh.heap_size().to_string()) && m.contains("local_mem_size"), "message: {m}");
    let e = api::calloc(u64::MAX, 2).unwrap_err();
    check!(e.code() == -1, "calloc overflow: {e}");
    let e = api::align(3, 64).unwrap_err();
    check!(e.code() == -1, "align(3): {e}");
    ok!(sh.finalize());
    Ok(())
}

fn calls_outside_init() -> Result<(), String> {
    check!(api::my_pe().unwrap_err().code() == -5, "my_pe before init");
    check!(api::malloc(16).unwrap_err().code() == -5, "malloc before init");
    check!(api::finalize().unwrap_err().code() == -5, "finalize before init");
    check!(api::barrier_all().unwrap_err().code() == -5, "barrier before init");
    let sh = ok!(shmem::init_from_env());
    let v = ok!(sh.alloc_zeroed::<u32>(4));
    ok!(sh.finalize());
    check!(v.put(0, 0, &[1]).unwrap_err().code() == -5, "put through a stale handle after finalize");
    check!(api::quiet().unwrap_err().code() == -5, "quiet after finalize");
    check!(api::finalize().unwrap_err().code() == -5, "finalize twice");
    Ok(())
}

/// PE 1 dies without finalize while the others wait in a barrier: they must fail with an error naming it,
/// long before the barrier's own timeout.
fn peer_dies() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    if sh.my_pe() == 1 {
        std::thread::sleep(Duration::from_millis(100));
        std::process::exit(9);
    }
    let t = Instant::now();
    let e = sh.barrier_all().unwrap_err();
    check!(t.elapsed() < Duration::from_secs(10), "noticed after {:?}", t.elapsed());
    check!(e.to_string().contains("PE 1"), "error names the lost PE: {e}");
    println!("survivor saw: {e}");
    // The failed barrier poisons the team: a later one fails at once instead of passing out of step.
    let e = sh.sync_all().unwrap_err();
    check!(e.code() == -4, "barrier after a failed one: {e}");
    // finalize after a crash leaves the store without waiting for the lost PE (no timeouts to run into).
    let t = Instant::now();
    let _ = sh.finalize();
    check!(t.elapsed() < Duration::from_secs(5), "finalize after a crash took {:?}", t.elapsed());
    std::process::exit(3)
}

/// PE 2 is stuck in its own code (alive, connections up: no lost-PE event) while the others finalize: their
/// finalize fails after the closing barrier's timeout (2 s here), not after it and the store's leave barrier and
/// acknowledgements in turn (about 3 times as long), each with its own timeout naming PE 2.
fn finalize_with_a_stuck_peer() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    if sh.my_pe() == 2 {
        std::thread::sleep(Duration::from_secs(8));
        let _ = sh.finalize();
        std::process::exit(5);
    }
    if sh.my_pe() == 1 {
        // Later into finalize than PE 0, which hosts the store: PE 0 must not close the store under PE 1's
        // closing barrier when its own times out first (PE 1 would report the store lost, not its timeout).
        std::thread::sleep(Duration::from_millis(500));
    }
    let t = Instant::now();
    let e = sh.finalize().unwrap_err();
    check!(e.code() == -7 && e.to_string().contains('2'), "the timeout naming PE 2: {e}");
    check!(t.elapsed() < Duration::from_millis(3500), "finalize with a stuck peer took {:?}: {e}", t.elapsed());
    std::process::exit(3)
}

/// A newcomer's first try: no launcher variables at all. The process is PE 0 of 1 and needs no store; asking
/// for more PEs without a store address says how to launch.
fn lone_pe() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    check!(sh.my_pe() == 0 && sh.n_pes() == 1, "alone: PE {} of {}", sh.my_pe(), sh.n_pes());
    let v = ok!(sh.alloc_zeroed::<u64>(2));
    ok!(v.put(0, 1, &[42]));
    ok!(sh.barrier_all());
    check!(ok!(v.to_vec()) == vec![0, 42], "put to self");
    ok!(v.free());
    ok!(sh.finalize());
    std::env::set_var("RANK", "0");
    std::env::set_var("WORLD_SIZE", "2");
    let e = shmem::init_from_env().unwrap_err();
    check!(e.code() == -1 && e.to_string().contains("shmemrun -n 2"), "two PEs without a store: {e}");
    let e = shmem::api::init_with(0, 2, 1 << 20).unwrap_err();
    check!(e.to_string().contains("MASTER_ADDR"), "shmem_init(0, 2, ..) without a store: {e}");
    Ok(())
}

/// A malformed `SHMEM_*` knob fails init with INVALID_PARAM naming the variable, before anything happens (the
/// status stays NOT_INITIALIZED), through every init entry point; with the knob fixed, init works. Engine
/// knobs (`SHMEM_TCP_SPIN_US`, `SHMEM_SDMA_CHANNELS`) are refused by the engine's build, also with -1.
fn malformed_config() -> Result<(), String> {
    let me: u32 = std::env::var("SHMEM_PE").unwrap().parse().unwrap();
    for (var, bad) in [
        ("SHMEM_WAIT_WARN_SECS", "abc"),
        ("SHMEM_WAIT_SPIN_US", "-5"),
        ("SHMEM_WAIT_YIELDS", "many"),
        ("SHMEM_BARRIER_ALGO", "tree"),
        ("SHMEM_LOG_LEVEL", "loud"),
        ("SHMEM_SHM_PREFIX", "a/b"),
        ("SHMEM_SDMA_NBI_MIN", "huge"),
    ] {
        std::env::set_var(var, bad);
        let e = shmem::init_from_env().unwrap_err();
        check!(e.code() == -1 && e.to_string().contains(var) && e.to_string().contains(bad), "{var}={bad}: {e}");
        let e = shmem::api::init_with(i64::from(me), 2, 1 << 20).unwrap_err();
        check!(e.code() == -1 && e.to_string().contains(var), "init_with, {var}={bad}: {e}");
        check!(api::init_status() == InitStatus::NotInitialized, "status after {var}={bad}");
        std::env::remove_var(var);
    }
    for (var, bad, engines) in [("SHMEM_TCP_SPIN_US", "fast", "MTE|TCP"), ("SHMEM_SDMA_CHANNELS", "x", "MTE|SDMA")] {
        std::env::set_var("SHMEM_DATA_OP_ENGINE", engines);
        std::env::set_var(var, bad);
        let e = shmem::init_from_env().unwrap_err();
        check!(e.code() == -1 && e.to_string().contains(var), "{var}={bad}: {e}");
        std::env::remove_var(var);
    }
    std::env::set_var("SHMEM_DATA_OP_ENGINE", "MTE");
    std::env::set_var("SHMEM_WAIT_WARN_SECS", "5");
    let sh = ok!(shmem::init_from_env());
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// Engines that are not compiled in, and engines that cannot reach a peer, are errors naming them.
fn engine_selection() -> Result<(), String> {
    for (set, code, name) in [("ROCE", -100, "ROCE"), ("MTE|UDMA", -100, "UDMA"), ("TCP|ROCE", -100, "ROCE")] {
        std::env::set_var("SHMEM_DATA_OP_ENGINE", set);
        let e = shmem::init_from_env().unwrap_err();
        check!(e.code() == code && e.to_string().contains(name), "{set}: {e}");
        check!(api::init_status() == InitStatus::Invalid, "status after a failed init");
    }
    std::env::set_var("SHMEM_DATA_OP_ENGINE", "0x40");
    check!(shmem::init_from_env().unwrap_err().code() == -1, "unknown engine bit");
    // Two "nodes": same-node engines cannot reach the other PE.
    let me: u32 = std::env::var("SHMEM_PE").unwrap().parse().unwrap();
    std::env::set_var("SHMEM_NODE_ID", format!("node-{me}"));
    std::env::set_var("SHMEM_DATA_OP_ENGINE", "MTE|SDMA");
    let e = shmem::init_from_env().unwrap_err();
    check!(e.code() == -1 && e.to_string().contains(&format!("PE {}", 1 - me)), "unreachable peer: {e}");
    // With TCP beside them, the other node is reached.
    std::env::set_var("SHMEM_DATA_OP_ENGINE", "MTE|SDMA|TCP");
    let sh = ok!(shmem::init_from_env());
    check!(
        ok!(api::engines()) == shmem::OpEngineType::MTE | shmem::OpEngineType::SDMA | shmem::OpEngineType::TCP,
        "engines"
    );
    check!(ok!(api::ptr(ok!(api::heap_range()).0, (1 - me) as i64)).is_none(), "ptr of a PE on another node is NULL");
    ok!(sh.finalize());
    // Heaps of different sizes are refused on every PE; the failed attempt leaves the store together, so a
    // retry on the same port right away meets a fresh one.
    std::env::remove_var("SHMEM_NODE_ID");
    std::env::set_var("SHMEM_DATA_OP_ENGINE", "MTE");
    std::env::set_var("SHMEM_SYMMETRIC_SIZE", if me == 0 { "4M" } else { "8M" });
    let e = shmem::init_from_env().unwrap_err();
    check!(e.code() == -2 && e.to_string().contains("local_mem_size"), "different heap sizes: {e}");
    std::env::set_var("SHMEM_SYMMETRIC_SIZE", "4M");
    // Back on one node, a job with SDMA only works.
    std::env::set_var("SHMEM_DATA_OP_ENGINE", "SDMA");
    let sh = ok!(shmem::init_from_env());
    check!(ok!(api::engines()) == shmem::OpEngineType::SDMA, "engines");
    ok!(sh.finalize());
    Ok(())
}

fn killed_by_signal() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    if sh.my_pe() == 2 {
        // SAFETY: raising SIGKILL on ourselves ends the process; nothing runs after it.
        unsafe { libc::raise(libc::SIGKILL) };
    }
    // The barrier fails (the peer is gone); stay alive so that the launcher, not this PE, ends the job.
    check!(sh.barrier_all().is_err(), "a barrier with a killed peer succeeded");
    std::thread::sleep(Duration::from_secs(30));
    Err("the launcher did not end the job".into())
}

fn global_exit() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    if sh.my_pe() == sh.n_pes() - 1 {
        std::thread::sleep(Duration::from_millis(100));
        sh.global_exit(7);
    }
    // Everyone else waits for something that never comes.
    let v = ok!(sh.alloc_zeroed::<u64>(1));
    let _ = v.wait_until(0, shmem::CmpOp::Eq, 42);
    Err("returned from a wait that should have been ended by global_exit".into())
}

fn expect_codes(n: u32, scenario: &str, want: impl Fn(usize) -> i32, max: Duration) -> Result<(), Failed> {
    let t = Instant::now();
    let res = runner::run(n, scenario, &[("SHMEM_LOG_LEVEL", "ERROR")], Duration::from_secs(60))?;
    for (pe, r) in res.iter().enumerate() {
        if r.code != want(pe) {
            return Err(format!("PE {pe} exited {} (wanted {}):\n{}", r.code, want(pe), r.output).into());
        }
    }
    if t.elapsed() > max {
        return Err(format!("job took {:?}, more than {max:?}", t.elapsed()).into());
    }
    Ok(())
}

pub fn special_trials() -> Vec<Trial> {
    vec![
        Trial::test("peer_dies_others_fail_4pe", || {
            expect_codes(4, "peer_dies", |pe| if pe == 1 { 9 } else { 3 }, Duration::from_secs(20))
        }),
        Trial::test("global_exit_ends_every_pe_4pe", || expect_codes(4, "global_exit", |_| 7, Duration::from_secs(15))),
        Trial::test("finalize_with_a_stuck_peer_3pe", || {
            let env = [("SHMEM_LOG_LEVEL", "ERROR"), ("SHMEM_CONTROL_TIMEOUT", "2")];
            let res = runner::run(3, "finalize_with_a_stuck_peer", &env, Duration::from_secs(60))?;
            for (pe, r) in res.iter().enumerate() {
                let want = if pe == 2 { 5 } else { 3 };
                if r.code != want {
                    return Err(format!("PE {pe} exited {} (wanted {want}):\n{}", r.code, r.output).into());
                }
            }
            Ok(())
        }),
        Trial::test("launcher_reports_killed_pe_and_cleans_shm", launcher_kill),
        Trial::test("lone_pe_without_launcher_environment", || {
            let out = std::process::Command::new(std::env::current_exe()?)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env(runner::SCENARIO_VAR, "lone_pe")
                .output()?;
            if !out.status.success() {
                return Err(format!("lone PE failed: {}", String::from_utf8_lossy(&out.stderr)).into());
            }
            Ok(())
        }),
        Trial::test("waiters_sleep_and_watchdog_warns_8pe", || {
            let res = runner::run(8, "waiters_sleep", &[("SHMEM_WAIT_WARN_SECS", "1")], Duration::from_secs(60))?;
            for (pe, r) in res.iter().enumerate() {
                if r.code != 0 {
                    return Err(format!("PE {pe} exited {}:\n{}", r.code, r.output).into());
                }
                if pe > 0 && !r.output.contains("has waited") {
                    return Err(format!("PE {pe} did not log the watchdog warning:\n{}", r.output).into());
                }
            }
            Ok(())
        }),
    ]
}

/// Through the real launcher: a PE killed with SIGKILL mid-run ends the job with 137, and the job's
/// shared-memory objects are gone.
fn launcher_kill() -> Result<(), Failed> {
    let mut spec = shmem_run::JobSpec::new(3, std::env::current_exe().unwrap());
    spec.extra_env = vec![(runner::SCENARIO_VAR.into(), "killed_by_signal".into())];
    spec.timeout = Some(Duration::from_secs(60));
    spec.prefix_output = true;
    let t = Instant::now();
    let out = shmem_run::run_job(&spec)?;
    if out.exit_code() != 137 || out.failed_pe() != Some(2) {
        return Err(format!("launcher exit {} failed PE {:?}", out.exit_code(), out.failed_pe()).into());
    }
    if t.elapsed() > Duration::from_secs(20) {
        return Err(format!("took {:?}", t.elapsed()).into());
    }
    let left = std::fs::read_dir("/dev/shm")?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&out.shm_prefix))
        .count();
    if left != 0 {
        return Err(format!("{left} segments left with prefix {}", out.shm_prefix).into());
    }
    Ok(())
}
