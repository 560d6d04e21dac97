//! The "about to block" hook (`shmem_sync::hook`) on the calls whose Python bindings keep the GIL until they would
//! wait: a broadcast member whose root has already posted, with only the CPU's engine (MTE), completes without
//! calling it; a member or a reduction that waits for a late peer calls it exactly once, before blocking; with a
//! copy or network engine in the job (SDMA, TCP), every such call calls it at once, since an engine can block
//! outside the waits. Results exact in every case.

use crate::{check, ok, Scenario};
use shmem::collectives::{self, DataType, ReduceOp};
use shmem::team::TEAM_WORLD;
use shmem::CmpOp;
use shmem_sync::hook::with_block_hook;
use std::time::Duration;

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[("coll_block_hook", coll_block_hook)];

/// Run once per engine set (the expected hook calls depend on it).
pub(crate) const TRIALS: &[(&str, &[u32])] = &[("coll_block_hook", &[2])];

/// Runs `f` with a counting hook armed; returns its result and the number of hook calls.
fn hooked<R>(f: impl FnOnce() -> R) -> (R, u32) {
    let mut calls = 0;
    let r = with_block_hook(&mut || calls += 1, f);
    (r, calls)
}

fn coll_block_hook() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    // Only the CPU's engine: the calls block nowhere but in the runtime's waits.
    let cpu_only = std::env::var("SHMEM_DATA_OP_ENGINE").map_or(true, |v| v.trim().eq_ignore_ascii_case("MTE"));
    let src = ok!(sh.alloc_zeroed::<f64>(1));
    let dst = ok!(sh.alloc_zeroed::<f64>(1));
    let flag = ok!(sh.alloc_zeroed::<u64>(1));
    ok!(sh.barrier_all());
    let bcast = || collectives::broadcast::broadcast(TEAM_WORLD, DataType::F64, dst.addr(), src.addr(), 1, 0);
    let reduce = || collectives::reduce::reduce(TEAM_WORLD, ReduceOp::Sum, DataType::F64, dst.addr(), src.addr(), 1);

    // 1. The root posts, then tells PE 1, which finds the post: no wait on PE 1 (with MTE alone). Across nodes
    // (TCP) a broadcast is not posted (the root meets the members): the root tells PE 1 first.
    ok!(src.write_local(0, &[1.5 + me as f64]));
    if me == 0 {
        if cpu_only {
            ok!(bcast());
            ok!(flag.put(1, 0, &[1]));
        } else {
            ok!(flag.put(1, 0, &[1]));
            ok!(bcast());
        }
    } else {
        ok!(flag.wait_until(0, CmpOp::Eq, 1));
        let (r, calls) = hooked(bcast);
        ok!(r);
        let want = u32::from(!cpu_only);
        check!(calls == want, "a member finding the post called the hook {calls} times, want {want}");
    }
    check!(ok!(dst.to_vec()) == [1.5], "broadcast 1: {:?}", ok!(dst.to_vec()));

    // 2. PE 1 calls first and waits for a root that posts 50 ms later: the hook runs once, before the wait.
    ok!(sh.barrier_all());
    ok!(src.write_local(0, &[7.25 + me as f64]));
    if me == 0 {
        std::thread::sleep(Duration::from_millis(50));
        ok!(bcast());
    } else {
        let (r, calls) = hooked(bcast);
        ok!(r);
        check!(calls == 1, "a waiting member called the hook {calls} times");
    }
    check!(ok!(dst.to_vec()) == [7.25], "broadcast 2: {:?}", ok!(dst.to_vec()));

    // 3. A reduction whose peer comes 50 ms late: once, on the PE that waits.
    ok!(sh.barrier_all());
    ok!(src.write_local(0, &[0.5 + me as f64]));
    if me == 1 {
        std::thread::sleep(Duration::from_millis(50));
        ok!(reduce());
    } else {
        let (r, calls) = hooked(reduce);
        ok!(r);
        check!(calls == 1, "a waiting reduction called the hook {calls} times");
    }
    check!(ok!(dst.to_vec()) == [2.0], "sum: {:?}", ok!(dst.to_vec()));

    // 4. barrier_all with PE 0 late: once on PE 1.
    if me == 0 {
        std::thread::sleep(Duration::from_millis(50));
        ok!(sh.barrier_all());
    } else {
        let (r, calls) = hooked(shmem::api::barrier_all);
        ok!(r);
        check!(calls == 1, "a waiting barrier_all called the hook {calls} times");
    }
    ok!(sh.finalize());
    Ok(())
}
