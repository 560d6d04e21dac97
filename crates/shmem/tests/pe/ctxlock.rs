//! Contexts (independent completion domains, team contexts, options) and distributed locks (fair queue lock,
//! `test_lock` never blocks), on every engine set, plus their bad inputs with exact codes.

use crate::{check, ok, runner, Scenario};
use libtest_mimic::{Failed, Trial};
use shmem::ctx::{self, CTX_DEFAULT, CTX_NOSTORE, CTX_SERIALIZED};
use shmem::{api, lock, team, AtomicOp, AtomicWidth, CtxOptions, SignalOp, TeamConfig};
use std::time::{Duration, Instant};

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("ctx_rma_amo", ctx_rma_amo),
    ("ctx_team_contexts", ctx_team_contexts),
    ("ctx_team_reserved", ctx_team_reserved),
    ("ctx_bad_inputs", ctx_bad_inputs),
    ("ctx_quiet_is_per_context", ctx_quiet_is_per_context),
    ("lock_counter", lock_counter),
    ("lock_test_and_errors", lock_test_and_errors),
    ("lock_abandoned_wait", lock_abandoned_wait),
];

/// Run once per engine set (MTE, SDMA, MTE|SDMA, TCP across nodes, MTE|TCP with 2 PEs per node).
pub(crate) const TRIALS: &[(&str, &[u32])] = &[
    ("ctx_rma_amo", &[2, 4]),
    ("ctx_team_contexts", &[3]),
    ("ctx_team_reserved", &[3]),
    ("lock_counter", &[2, 4, 8]),
    ("lock_test_and_errors", &[3]),
    ("lock_abandoned_wait", &[3]),
];

/// Engine-independent trials.
pub(crate) const PLAIN_TRIALS: &[(&str, &[u32])] = &[("ctx_bad_inputs", &[1])];

/// The 64 MiB in-flight case needs the asynchronous engine and a heap that holds it.
pub(crate) fn special_trials() -> Vec<Trial> {
    vec![Trial::test("ctx_quiet_is_per_context_2pe_sdma", || {
        let env = [("SHMEM_DATA_OP_ENGINE", "SDMA"), ("SHMEM_SYMMETRIC_SIZE", "160M")];
        runner::run_ok(2, "ctx_quiet_is_per_context", &env).map_err(Failed::from)
    })]
}

fn code(r: shmem::Result<impl Sized>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.code(),
    }
}

/// A byte pattern without zeros, different per seed.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i as u64).wrapping_mul(31).wrapping_add(seed * 7) % 251) as u8 + 1).collect()
}

/// Puts, gets (blocking and nbi), put-with-signal and AMOs through contexts of every option, typed and raw,
/// each checked exactly after the context's own quiet.
fn ctx_rma_amo() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let next = (me + 1) % n;
    const LEN: usize = 300 << 10;
    let data = ok!(sh.alloc_zeroed::<u8>(LEN));
    let sig = ok!(sh.alloc_zeroed::<u64>(1));
    let counter = ok!(sh.alloc_zeroed::<i64>(1));
    for (round, opts) in
        [CtxOptions::NONE, CtxOptions::SERIALIZED, CtxOptions::PRIVATE, CtxOptions::SERIALIZED | CtxOptions::PRIVATE]
            .into_iter()
            .enumerate()
    {
        let c = ok!(sh.ctx_create(opts));
        check!(c.team() == team::TEAM_WORLD, "a world context's team");
        let mine = pattern(u64::from(me) * 10 + round as u64, LEN);
        // SAFETY: `mine` lives until the quiet below.
        ok!(unsafe { c.put_nbi(&data, next, 0, &mine) });
        ok!(c.quiet());
        ok!(sh.barrier_all());
        let expect = pattern(u64::from((me + n - 1) % n) * 10 + round as u64, LEN);
        check!(ok!(data.to_vec()) == expect, "round {round}: data put by the previous PE through its context");
        // Get back what this PE put into the next one, blocking and nbi.
        let mut back = vec![0u8; LEN];
        ok!(c.get(&data, next, 0, &mut back));
        check!(back == mine, "round {round}: blocking ctx get");
        let mut back2 = vec![0u8; 4096];
        // SAFETY: back2 is untouched until the quiet.
        ok!(unsafe { c.get_nbi(&data, next, 1000, &mut back2) });
        ok!(c.fence());
        ok!(c.quiet());
        check!(back2[..] == mine[1000..5096], "round {round}: nbi ctx get");
        // Signal after data.
        ok!(c.put_signal(&data, next, 0, &mine[..64], &sig, 0, 1, SignalOp::Add));
        ok!(c.quiet());
        // AMOs: every PE adds me+1 to PE 0's counter through the context.
        ok!(c.fetch_add(&counter, 0, 0, i64::from(me) + 1));
        ok!(c.quiet());
        ok!(sh.barrier_all());
        check!(ok!(sig.to_vec())[0] == round as u64 + 1, "round {round}: signal count");
        let want = (round as i64 + 1) * i64::from(n * (n + 1) / 2);
        check!(ok!(c.fetch(&counter, 0, 0)) == want, "round {round}: counter through the context");
        let prev = ok!(c.compare_swap(&counter, 0, 0, -1i64, 7));
        check!(prev == want, "round {round}: failed compare_swap returns the value");
        ok!(sh.barrier_all());
        ok!(c.destroy());
    }
    // The raw API with integer handles, and the default context through it.
    let h = ok!(ctx::ctx_create(CTX_SERIALIZED));
    let word = ok!(sh.alloc_zeroed::<u64>(2));
    for (handle, i) in [(h, 0usize), (CTX_DEFAULT, 1)] {
        let v = [u64::from(me) + 100 + i as u64];
        // SAFETY: v is a live local array for the call.
        ok!(unsafe { ctx::ctx_putmem(handle, word.addr() + 8 * i, v.as_ptr().cast(), 8, i64::from(next), false) });
        ok!(ctx::ctx_quiet(handle));
        ok!(ctx::ctx_atomic(handle, counter.addr(), AtomicWidth::W64, AtomicOp::FetchAdd(1), 0));
        let mut got = [0u64];
        // SAFETY: got is a live local array for the call.
        ok!(unsafe {
            ctx::ctx_getmem(handle, got.as_mut_ptr().cast(), word.addr() + 8 * i, 8, i64::from(next), false)
        });
        check!(got[0] == v[0], "raw ctx {handle}: get after put");
        check!(ok!(ctx::ctx_get_team(handle)) == team::TEAM_WORLD, "raw ctx team");
        ok!(ctx::ctx_fence(handle));
    }
    ok!(ctx::ctx_destroy(h));
    ok!(sh.barrier_all());
    if me == 0 {
        let v = ok!(counter.to_vec())[0];
        let want = 4 * i64::from(n * (n + 1) / 2) + 2 * i64::from(n);
        check!(v == want, "counter {v}, want {want}");
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// A team context addresses PEs by team number; a team made with `num_contexts = 2` has at most two live
/// contexts (INVALID_VALUE for a third, until one is destroyed).
fn ctx_team_contexts() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let cells = ok!(sh.alloc_zeroed::<u64>(n as usize));
    // World PEs 1..n, team PE i = world PE i + 1.
    let cfg = TeamConfig { num_contexts: 2 };
    let t = ok!(team::split_strided_with(team::TEAM_WORLD, 1, 1, n as i32 - 1, cfg));
    if me == 0 {
        check!(t == team::TEAM_INVALID, "PE 0 is outside the team");
        check!(code(sh.team_create_ctx(t, CtxOptions::NONE)) == -1, "a context of an invalid team");
    } else {
        let tn = n - 1;
        let tme = me - 1;
        let a = ok!(sh.team_create_ctx(t, CtxOptions::NONE));
        let b = ok!(sh.team_create_ctx(t, CtxOptions::PRIVATE));
        check!(a.team() == t && b.team() == t, "a team context's team");
        let third = sh.team_create_ctx(t, CtxOptions::NONE);
        check!(code(third) == -2, "a third context of a team with num_contexts 2 must be INVALID_VALUE");
        // Team PE (tme+1)%tn, i.e. world PE that + 1, gets this PE's world number in cell me.
        ok!(a.put(&cells, (tme + 1) % tn, me as usize, &[u64::from(me) * 1000]));
        ok!(a.quiet());
        check!(code(a.put(&cells, tn, 0, &[1])) == -1, "team PE {tn} is outside a team of {tn}");
        ok!(b.destroy());
        let c = ok!(sh.team_create_ctx(t, CtxOptions::NONE));
        ok!(c.destroy());
        ok!(a.destroy());
    }
    ok!(sh.barrier_all());
    if me >= 1 {
        let tme = me - 1;
        let tn = n - 1;
        let from_world = (tme + tn - 1) % tn + 1;
        let v = ok!(cells.to_vec());
        check!(v[from_world as usize] == u64::from(from_world) * 1000, "team ctx put landed by team number: {v:?}");
        ok!(team::destroy(t));
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// Bad inputs, each with its exact code and no effect.
fn ctx_bad_inputs() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let buf = ok!(sh.alloc_zeroed::<u64>(4));
    check!(code(ctx::ctx_create(8)) == -1, "unknown option bit");
    check!(code(ctx::ctx_create(-1)) == -1, "negative options");
    check!(code(ctx::ctx_destroy(CTX_DEFAULT)) == -1, "destroying the default context");
    check!(code(ctx::ctx_quiet(12345)) == -1, "a never-created handle");
    check!(code(ctx::ctx_quiet(ctx::CTX_INVALID)) == -1, "SHMEM_CTX_INVALID");
    let h = ok!(ctx::ctx_create(0));
    ok!(ctx::ctx_destroy(h));
    let v = [7u64];
    // SAFETY: v is live for the call.
    check!(code(unsafe { ctx::ctx_putmem(h, buf.addr(), v.as_ptr().cast(), 8, 0, false) }) == -1, "destroyed put");
    check!(code(ctx::ctx_quiet(h)) == -1, "destroyed quiet");
    check!(code(ctx::ctx_fence(h)) == -1, "destroyed fence");
    check!(code(ctx::ctx_destroy(h)) == -1, "destroyed twice");
    check!(code(ctx::ctx_atomic(h, buf.addr(), AtomicWidth::W64, AtomicOp::Fetch, 0)) == -1, "destroyed AMO");
    // A typed context destroyed through its handle.
    let c = ok!(sh.ctx_create(CtxOptions::NONE));
    ok!(ctx::ctx_destroy(c.handle()));
    check!(code(c.put(&buf, 0, 0, &[1])) == -1, "typed put on a destroyed context");
    check!(code(c.destroy()) == -1, "typed destroy of a destroyed context");
    // NOSTORE: no puts or modifying AMOs; gets and fetches work.
    let ns = ok!(sh.ctx_create(CtxOptions::NOSTORE));
    check!(code(ns.put(&buf, 0, 0, &[1])) == -1, "put on a NOSTORE context");
    check!(code(ns.fetch_add(&buf, 0, 0, 1u64)) == -1, "fetch_add on a NOSTORE context");
    check!(code(ns.put_signal(&buf, 0, 0, &[1], &buf, 3, 1, SignalOp::Set)) == -1, "signal on NOSTORE");
    check!(ok!(ns.fetch(&buf, 0, 0)) == 0, "fetch on a NOSTORE context");
    let mut g = [9u64];
    ok!(ns.get(&buf, 0, 0, &mut g));
    check!(g[0] == 0 && ok!(buf.to_vec()) == vec![0; 4], "NOSTORE refusals had no effect");
    ok!(ns.destroy());
    check!(ok!(ctx::ctx_create(CTX_NOSTORE | CTX_SERIALIZED)) > 0, "combined options");
    // PRIVATE: another thread is refused.
    let p = ok!(sh.ctx_create(CtxOptions::PRIVATE));
    let handle = p.handle();
    let other = std::thread::spawn(move || code(ctx::ctx_quiet(handle))).join().map_err(|_| "thread panicked")?;
    check!(other == -1, "another thread used a private context (code {other})");
    let shared = ok!(ctx::ctx_create(0));
    let other = std::thread::spawn(move || code(ctx::ctx_quiet(shared))).join().map_err(|_| "thread panicked")?;
    check!(other == 0, "another thread may use a shared context (code {other})");
    // Out-of-range PE, out-of-heap address, out-of-array elements.
    check!(code(p.put(&buf, 1, 0, &[1])) == -1, "PE 1 of a 1-PE job");
    check!(code(p.put(&buf, 0, 3, &[1, 2])) == -1, "elements past the array");
    // SAFETY: v is live for the call.
    check!(code(unsafe { ctx::ctx_putmem(handle, 16, v.as_ptr().cast(), 8, 0, false) }) == -1, "non-heap address");
    check!(code(sh.team_create_ctx(999, CtxOptions::NONE)) == -1, "an invalid team");
    ok!(p.destroy());
    ok!(sh.finalize());
    check!(code(ctx::ctx_create(0)) == -5, "ctx_create after finalize is NOT_INITED");
    Ok(())
}

/// `quiet` on context A returns while context B's 64 MiB `_nbi` put is still in flight (B's data is found
/// incomplete at the target right after A's quiet returned), A's own data is complete, and B's is exact after
/// B's quiet. Rounds repeat (up to 5) only so that one round in which the machine happened to finish B before
/// the check cannot fail the test; one round showing B in flight proves A's quiet did not wait for it.
fn ctx_quiet_is_per_context() -> Result<(), String> {
    const BIG: usize = 64 << 20;
    const SMALL: usize = 64 << 10;
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let big_dst = ok!(sh.alloc_zeroed::<u8>(BIG));
    let small_dst = ok!(sh.alloc_zeroed::<u8>(SMALL));
    let a = ok!(sh.ctx_create(CtxOptions::PRIVATE));
    let b = ok!(sh.ctx_create(CtxOptions::PRIVATE));
    let big = pattern(5, BIG);
    let small = pattern(6, SMALL);
    let mut rounds_in_flight = 0;
    let (mut quiet_a, mut whole_b) = (Duration::ZERO, Duration::MAX);
    for round in 0..5u64 {
        if me == 0 {
            let far = ok!(api::ptr(big_dst.addr(), 1)).ok_or("PE 1 is not mapped here")?;
            let far_small = ok!(api::ptr(small_dst.addr(), 1)).ok_or("PE 1 is not mapped here")?;
            let issued = Instant::now();
            // SAFETY: `big` lives until b's quiet below, `small` until a's.
            ok!(unsafe { b.put_nbi(&big_dst, 1, 0, &big) });
            // SAFETY: as above.
            ok!(unsafe { a.put_nbi(&small_dst, 1, 0, &small) });
            let t = Instant::now();
            ok!(a.quiet());
            quiet_a = quiet_a.max(t.elapsed());
            // SAFETY: `far` maps PE 1's copy of big_dst (same node); the bytes are read while B's transfer may
            // still write them, which is the point: a byte not yet equal to the pattern shows B in flight.
            let incomplete = unsafe { std::slice::from_raw_parts(far as *const u8, BIG) } != &big[..];
            // SAFETY: PE 1's copy of small_dst, complete after a's quiet.
            let small_ok = unsafe { std::slice::from_raw_parts(far_small as *const u8, SMALL) } == &small[..];
            check!(small_ok, "round {round}: A's data incomplete after A's quiet");
            ok!(b.quiet());
            whole_b = whole_b.min(issued.elapsed());
            // SAFETY: as above; complete after b's quiet.
            let big_ok = unsafe { std::slice::from_raw_parts(far as *const u8, BIG) } == &big[..];
            check!(big_ok, "round {round}: B's data incomplete after B's quiet");
            rounds_in_flight += usize::from(incomplete);
        }
        ok!(sh.barrier_all());
        if me == 1 {
            check!(ok!(big_dst.to_vec()) == big, "round {round}: B's data at the target");
            check!(ok!(small_dst.to_vec()) == small, "round {round}: A's data at the target");
            ok!(big_dst.write_local(0, &vec![0u8; BIG]));
            ok!(small_dst.write_local(0, &vec![0u8; SMALL]));
        }
        ok!(sh.barrier_all());
    }
    if me == 0 {
        println!(
            "B's transfer was still in flight after A's quiet in {rounds_in_flight} of 5 rounds; A's quiet took at \
             most {quiet_a:?}; B's put took at least {whole_b:?} from issue to its quiet"
        );
        check!(rounds_in_flight > 0, "A's quiet waited for B's 64 MiB transfer in every round");
    }
    ok!(a.destroy());
    ok!(b.destroy());
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// Every PE does 1000 lock / read-increment-write (a non-atomic get and put of PE 0's counter) / unlock
/// rounds; the count is exact only if the lock excludes. Each PE also counts the rounds in which `test_lock`
/// found the lock taken before it queued with `set_lock` (printed: how contended the run was).
fn lock_counter() -> Result<(), String> {
    const ROUNDS: u64 = 1000;
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let locks = ok!(sh.alloc_zeroed::<i64>(2));
    let counter = ok!(sh.alloc_zeroed::<u64>(1));
    ok!(sh.barrier_all());
    let t = Instant::now();
    let mut contended = 0;
    for i in 0..ROUNDS {
        // Alternate between the typed and the raw API.
        if i % 2 == 0 {
            if !ok!(sh.test_lock(&locks, 1)) {
                contended += 1;
                ok!(sh.set_lock(&locks, 1));
            }
        } else {
            ok!(lock::set_lock(locks.addr() + 8));
        }
        let mut v = [0u64];
        ok!(counter.get(0, 0, &mut v));
        // Give the core away inside the critical section: without mutual exclusion another PE would read the
        // same value here (the count would come out short), and with it the others must queue, not finish
        // their rounds one PE after another.
        std::thread::yield_now();
        ok!(counter.put(0, 0, &[v[0] + 1]));
        if i % 2 == 0 {
            ok!(sh.clear_lock(&locks, 1));
        } else {
            ok!(lock::clear_lock(locks.addr() + 8));
        }
    }
    println!("PE {me}: {ROUNDS} lock rounds in {:?}, {contended} of {} found it taken", t.elapsed(), ROUNDS / 2);
    ok!(sh.barrier_all());
    let got = ok!(counter.fetch(0, 0));
    check!(got == ROUNDS * u64::from(n), "counter {got}, want {}", ROUNDS * u64::from(n));
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// `test_lock` returns at once whether or not it takes the lock; clear by a non-holder and a recursive
/// set are INVALID_PARAM; a lock word outside the heap or misaligned is INVALID_PARAM.
fn lock_test_and_errors() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let locks = ok!(sh.alloc_zeroed::<i64>(1));
    let order = ok!(sh.alloc_zeroed::<u64>(n as usize + 1));
    let holder = n - 1;
    if me == holder {
        check!(ok!(sh.test_lock(&locks, 0)), "test_lock of a free lock takes it");
        check!(code(sh.set_lock(&locks, 0)) == -1, "set_lock of a lock this PE holds");
        check!(code(sh.test_lock(&locks, 0)) == -1, "test_lock of a lock this PE holds");
    }
    ok!(sh.barrier_all());
    if me != holder {
        let t = Instant::now();
        check!(!ok!(sh.test_lock(&locks, 0)), "test_lock took a held lock");
        check!(ok!(lock::test_lock(locks.addr())) == 1, "raw test_lock of a held lock is 1");
        let waited = t.elapsed();
        check!(waited < Duration::from_secs(2), "test_lock blocked for {waited:?}");
        check!(code(sh.clear_lock(&locks, 0)) == -1, "clear by a non-holder");
        check!(code(lock::clear_lock(locks.addr())) == -1, "raw clear by a non-holder");
    }
    ok!(sh.barrier_all());
    if me == holder {
        ok!(sh.clear_lock(&locks, 0));
        check!(code(sh.clear_lock(&locks, 0)) == -1, "clearing twice");
    }
    ok!(sh.barrier_all());
    // Everyone takes it in turn through test_lock (bounded polling), records its turn, releases.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if ok!(lock::test_lock(locks.addr())) == 0 {
            break;
        }
        check!(Instant::now() < deadline, "test_lock never succeeded");
        std::thread::sleep(Duration::from_micros(200));
    }
    let slot = ok!(order.fetch_add(0, n as usize, 1));
    ok!(order.put(0, slot as usize, &[u64::from(me) + 1]));
    ok!(lock::clear_lock(locks.addr()));
    ok!(sh.barrier_all());
    if me == 0 {
        let mut v = ok!(order.to_vec());
        check!(v[n as usize] == u64::from(n), "every PE took the lock once: {v:?}");
        v.truncate(n as usize);
        v.sort();
        check!(v == (1..=u64::from(n)).collect::<Vec<_>>(), "each PE once: {v:?}");
    }
    check!(code(lock::set_lock(locks.addr() + 4)) == -1, "misaligned lock word");
    check!(code(lock::set_lock(64)) == -1, "lock word outside the heap");
    check!(code(sh.set_lock(&locks, 1)) == -1, "lock index outside the array");
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// SDMA worker threads of this process (named `sdma<PE>.<channel>`; the engine runs one per channel of each
/// open completion domain), read from /proc so that other threads coming and going do not count.
fn threads() -> Result<usize, String> {
    let mut k = 0;
    for t in std::fs::read_dir("/proc/self/task").map_err(|e| e.to_string())? {
        let comm = std::fs::read_to_string(t.map_err(|e| e.to_string())?.path().join("comm")).unwrap_or_default();
        k += usize::from(comm.starts_with("sdma"));
    }
    Ok(k)
}

/// Whether the SDMA worker count becomes `want` within 5 s (a new thread names itself only once it runs, and
/// a closed domain's worker exits after its queue drains); a count that stays off is a real difference.
fn threads_become(want: usize) -> Result<bool, String> {
    let t = Instant::now();
    while threads()? != want {
        if t.elapsed() > Duration::from_secs(5) {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(true)
}

/// `TeamConfig.num_contexts` is a reservation: the team's contexts are opened when the team is made (on SDMA a
/// worker thread each, counted here), creating and destroying contexts up to the reservation opens and closes
/// nothing, the next one is INVALID_VALUE (-2), handles are never reused, destroying the team closes the free
/// ones and a context that outlives its team closes its own; a split one PE cannot reserve for (a negative
/// count on one PE: -1 everywhere; more than the handle space: -2 everywhere) creates no team and keeps nothing.
fn ctx_team_reserved() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    // Each open domain is one SDMA worker thread where the SDMA engine is on, nothing elsewhere.
    let sdma = std::env::var("SHMEM_DATA_OP_ENGINE").is_ok_and(|e| e.contains("SDMA"));
    let per = usize::from(sdma);
    let cells = ok!(sh.alloc_zeroed::<u64>(n as usize));
    // The engine's own workers, once they have all named themselves (two equal reads 20 ms apart).
    let mut before = threads()?;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let now = threads()?;
        if now == before {
            break;
        }
        before = now;
    }
    let t = ok!(team::split_strided_with(team::TEAM_WORLD, 0, 1, n as i32, TeamConfig { num_contexts: 3 }));
    check!(
        threads_become(before + 3 * per)?,
        "3 reserved domains at team creation: {} threads, had {before}",
        threads()?
    );
    let a = ok!(sh.team_create_ctx(t, CtxOptions::NONE));
    let b = ok!(sh.team_create_ctx(t, CtxOptions::NONE));
    let c = ok!(sh.team_create_ctx(t, CtxOptions::NONE));
    check!(threads_become(before + 3 * per)?, "contexts of the reservation open nothing: {} threads", threads()?);
    check!(code(sh.team_create_ctx(t, CtxOptions::NONE)) == -2, "a 4th context of num_contexts 3 is INVALID_VALUE");
    check!(code(ctx::team_create_ctx(t, 0)) == -2, "the raw API agrees");
    let old = b.handle();
    ok!(b.destroy());
    check!(threads_become(before + 3 * per)?, "a destroyed context's domain goes back to the team");
    let b2 = ok!(sh.team_create_ctx(t, CtxOptions::NONE));
    check!(b2.handle() != old, "handles are never reused ({old})");
    check!(code(ctx::ctx_quiet(old)) == -1, "the destroyed handle stays invalid");
    // The reserved contexts carry data: each PE puts its number into cell `me` of the next PE through each.
    for (k, cx) in [&a, &b2, &c].into_iter().enumerate() {
        ok!(cx.put(&cells, (me + 1) % n, me as usize, &[u64::from(me) * 10 + k as u64]));
        ok!(cx.quiet());
    }
    ok!(sh.barrier_all());
    let prev = (me + n - 1) % n;
    check!(ok!(cells.to_vec())[prev as usize] == u64::from(prev) * 10 + 2, "puts through reserved contexts");
    ok!(a.destroy());
    ok!(c.destroy());
    // b2 outlives the team: destroying the team closes the two free domains, b2's stays open until b2 goes.
    ok!(team::destroy(t));
    check!(threads_become(before + per)?, "team destroy closes the free reserved domains: {} threads", threads()?);
    ok!(b2.quiet());
    ok!(b2.destroy());
    check!(threads_become(before)?, "the last context closes its domain: {} threads", threads()?);
    // One PE passes a negative count: every PE fails with INVALID_PARAM, no team, no reservation kept.
    let k = if me == 0 { -1 } else { 2 };
    let r = team::split_strided_with(team::TEAM_WORLD, 0, 1, n as i32, TeamConfig { num_contexts: k });
    check!(
        r.as_ref().err().map(|e| e.code()) == Some(-1),
        "a negative num_contexts on PE 0 fails the split everywhere with -1, got {r:?}"
    );
    check!(threads_become(before)?, "a failed split keeps no reserved domain: {} threads", threads()?);
    // More contexts than the handle space: INVALID_VALUE everywhere, nothing taken.
    let r = team::split_strided_with(team::TEAM_WORLD, 0, 1, n as i32, TeamConfig { num_contexts: i32::MAX });
    check!(
        r.as_ref().err().map(|e| e.code()) == Some(-2),
        "num_contexts = i32::MAX fails the split everywhere with -2, got {r:?}"
    );
    let d = ok!(sh.ctx_create(CtxOptions::NONE));
    ok!(d.destroy());
    check!(threads_become(before)?, "nothing left open: {} threads", threads()?);
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// Waits (bounded) until `f` holds, polling every millisecond.
fn until(what: &str, mut f: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let t = Instant::now();
    while !f()? {
        check!(t.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// A queued `set_lock` that gives up (`LockAcquire::abandon`, what Ctrl-C does in Python) leaves the queue
/// consistent: (1) abandoned before the lock reaches it, the lock passes through its place to the PE queued
/// behind it, `test_lock` says "held" meanwhile and the PE can take the lock again afterwards; (2) abandoned
/// after the lock reached it, it releases the lock at once (the lock is free after). Then 200 rounds per PE of
/// lock/increment/unlock give an exact count.
fn lock_abandoned_wait() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let locks = ok!(sh.alloc_zeroed::<i64>(1));
    let flag = ok!(sh.alloc_zeroed::<i64>(1));
    let cnt = ok!(sh.alloc_zeroed::<i64>(1));
    let addr = locks.addr();
    // Low half of PE 0's lock word: 1 + the queue's tail; high half of PE p's word: its queue node.
    let word = |pe: i64| -> Result<u64, String> { Ok(ok!(shmem::amo::atomic_fetch::<i64>(addr, pe)) as u64) };
    let tail = || -> Result<u64, String> { Ok(word(0)? & 0xFFFF_FFFF) };
    let slice = || shmem::waits::WaitLimit::from(Duration::from_millis(20));
    // (1) PE 0 holds; PE 1 queues and gives up; PE 2 queues behind PE 1 and gets the lock through PE 1's place.
    if me == 0 {
        ok!(sh.set_lock(&locks, 0));
    }
    ok!(sh.barrier_all());
    if me == 1 {
        let mut acq = ok!(lock::LockAcquire::start(addr));
        check!(!ok!(acq.wait(slice())), "PE 1 got the lock PE 0 holds");
        ok!(acq.abandon());
        check!(code(lock::test_lock(addr)) == 0 && ok!(lock::test_lock(addr)) == 1, "test_lock: held");
        check!(code(lock::clear_lock(addr)) == -1, "PE 1 does not hold the lock");
        ok!(shmem::amo::atomic_set::<i64>(flag.addr(), 1, 0));
    }
    if me == 2 {
        until("PE 1 queued", || Ok(tail()? == 2))?;
        ok!(sh.set_lock(&locks, 0));
        ok!(shmem::amo::atomic_set::<i64>(flag.addr(), 2, 0));
        ok!(sh.clear_lock(&locks, 0));
    }
    if me == 0 {
        until("PE 1 gave up and PE 2 queued", || Ok(ok!(flag.to_vec())[0] == 1 && tail()? == 3))?;
        ok!(sh.clear_lock(&locks, 0));
        until("PE 2 got the lock", || Ok(ok!(flag.to_vec())[0] == 2))?;
    }
    ok!(sh.barrier_all());
    check!(tail()? == 0, "the lock is free after case 1");
    check!(word(1)? >> 32 == 0, "PE 1's abandoned node was cleared when the lock passed it");
    ok!(sh.barrier_all());
    // (2) PE 0 holds; PE 1 queues; PE 0 grants; PE 1 gives up only after the grant: it releases the lock.
    if me == 0 {
        ok!(sh.set_lock(&locks, 0));
        ok!(shmem::amo::atomic_set::<i64>(flag.addr(), 0, 0));
    }
    ok!(sh.barrier_all());
    if me == 1 {
        let acq = ok!(lock::LockAcquire::start(addr));
        until("the grant", || Ok(word(1)? >> 32 & (1 << 31) != 0))?;
        ok!(acq.abandon());
        check!(code(lock::clear_lock(addr)) == -1, "PE 1 released the lock it abandoned");
    }
    if me == 0 {
        until("PE 1 queued", || Ok(tail()? == 2))?;
        ok!(sh.clear_lock(&locks, 0));
    }
    ok!(sh.barrier_all());
    check!(tail()? == 0, "the lock is free after case 2");
    ok!(sh.barrier_all());
    for _ in 0..200 {
        ok!(sh.set_lock(&locks, 0));
        let v = ok!(shmem::amo::atomic_fetch::<i64>(cnt.addr(), 0));
        ok!(shmem::amo::atomic_set::<i64>(cnt.addr(), v + 1, 0));
        ok!(sh.clear_lock(&locks, 0));
    }
    ok!(sh.barrier_all());
    let n = i64::from(sh.n_pes());
    let total = ok!(shmem::amo::atomic_fetch::<i64>(cnt.addr(), 0));
    check!(total == 200 * n, "count {total} after 200 rounds per PE");
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}
