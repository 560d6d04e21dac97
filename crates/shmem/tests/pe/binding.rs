//! `SHMEM_BIND=core`: every PE's thread ends init bound to the CPU of its block among the node's PEs (on the 2-core
//! CI machine with 4 PEs: PEs 0 and 1 on the first CPU, 2 and 3 on the second), `none` (or unset) leaves the set
//! alone, and a bound job still moves data (a put ring with exact values, a broadcast large enough to share its
//! copies where the PEs outnumber the CPUs).

use crate::{check, ok, runner, Scenario};
use libtest_mimic::{Failed, Trial};
use shmem::collectives::{self, DataType};
use shmem::team::TEAM_WORLD;
use std::time::Duration;

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[("binding", binding)];

/// One job per binding and PE count (the binding comes from the environment, so these are special trials).
pub(crate) fn special_trials() -> Vec<Trial> {
    [(4, "core"), (3, "core"), (8, "core"), (2, "none")]
        .into_iter()
        .map(|(n, bind)| {
            Trial::test(format!("binding_{bind}_{n}pe"), move || {
                let res = runner::run(n, "binding", &[("SHMEM_BIND", bind)], Duration::from_secs(60))?;
                runner::every_pe_ok(&res).map_err(Failed::from)
            })
        })
        .collect()
}

/// The CPUs this thread may run on.
fn allowed() -> Result<Vec<usize>, String> {
    shmem_sync::placement::allowed_cpus().map_err(|e| format!("sched_getaffinity: {e}"))
}

fn binding() -> Result<(), String> {
    let before = allowed()?;
    let bind = std::env::var("SHMEM_BIND").unwrap_or_default();
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let after = allowed()?;
    if bind == "core" {
        // One node: the local index is the PE number.
        let want = before[me as usize * before.len() / n as usize];
        check!(
            after == vec![want],
            "PE {me} of {n}: bound to {after:?}, expected [{want}] (allowed before: {before:?})"
        );
    } else {
        check!(after == before, "PE {me}: SHMEM_BIND={bind:?} changed the CPUs from {before:?} to {after:?}");
    }
    // The bound job still moves data: each PE writes its rank into the next PE's word.
    let v = ok!(sh.alloc_zeroed::<u64>(1));
    ok!(v.put((me + 1) % n, 0, &[u64::from(me) + 7]));
    ok!(sh.barrier_all());
    let got = ok!(v.to_vec())[0];
    check!(got == u64::from((me + n - 1) % n) + 7, "PE {me}: got {got} from its predecessor");
    // A broadcast of 1 MiB + 3 to every PE (8 MiB in all at 8 PEs: shared copies where they outnumber the CPUs).
    let len = (1 << 20) + 3;
    let src = ok!(sh.alloc_zeroed::<u8>(len));
    let dst = ok!(sh.alloc_zeroed::<u8>(len));
    let byte = |i: usize| (i.wrapping_mul(31) ^ 0x5a) as u8;
    if me == 1 {
        ok!(src.write_local(0, &(0..len).map(byte).collect::<Vec<_>>()));
    }
    ok!(collectives::broadcast::broadcast(TEAM_WORLD, DataType::U8, dst.addr(), src.addr(), len, 1));
    let got = ok!(dst.to_vec());
    check!((0..len).all(|i| got[i] == byte(i)), "PE {me}: the broadcast's dest differs from the root's source");
    ok!(sh.barrier_all());
    ok!(dst.free());
    ok!(src.free());
    ok!(v.free());
    ok!(sh.finalize());
    Ok(())
}
