//! Teams: strided and 2-D splits, queries, translation, team-relative RMA, concurrent team barriers, the
//! live-team bound and reuse of slots under new handles, bad inputs.

use crate::{check, ok, Scenario};
use shmem::team::{self, TEAM_INVALID, TEAM_NODE, TEAM_WORLD};
use shmem::{api, CmpOp};

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("team_splits", team_splits),
    ("team_barriers_disjoint", team_barriers_disjoint),
    ("team_bound_and_reuse", team_bound_and_reuse),
    ("team_bad_inputs", team_bad_inputs),
    ("team_slot_reuse_race", team_slot_reuse_race),
];

pub(crate) const TRIALS: &[(&str, &[u32])] = &[
    ("team_splits", &[4, 8]),
    ("team_barriers_disjoint", &[4, 8]),
    ("team_bound_and_reuse", &[4]),
    ("team_bad_inputs", &[4]),
    ("team_slot_reuse_race", &[4]),
];

fn team_splits() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe() as i32, sh.n_pes() as i32);
    check!(team::my_pe(TEAM_WORLD) == me && team::n_pes(TEAM_WORLD) == n, "world queries");
    // Nodes of `ppn` PEs when the runner makes several (SHMEM_TEST_PES_PER_NODE), else one node.
    let ppn = std::env::var("SHMEM_TEST_PES_PER_NODE").ok().and_then(|v| v.parse().ok()).unwrap_or(n);
    check!(
        team::n_pes(TEAM_NODE) == ppn && team::my_pe(TEAM_NODE) == me % ppn,
        "node team: {} of {}, expected {} of {ppn}",
        team::my_pe(TEAM_NODE),
        team::n_pes(TEAM_NODE),
        me % ppn
    );
    // Odd PEs, stride 2.
    let odd = ok!(team::split_strided(TEAM_WORLD, 1, 2, n / 2));
    if me % 2 == 1 {
        check!(odd >= 2, "odd team id {odd}");
        check!(team::my_pe(odd) == me / 2 && team::n_pes(odd) == n / 2, "odd team queries");
    } else {
        check!(odd == TEAM_INVALID, "even PE outside the odd team got {odd}");
        check!(team::my_pe(odd) == -1 && team::n_pes(odd) == -1, "queries outside");
    }
    // Size-1 team of the last PE.
    let last = ok!(team::split_strided(TEAM_WORLD, n - 1, 1, 1));
    check!((me == n - 1) == (last != TEAM_INVALID), "size-1 team membership");
    // Ids agree on every member: each PE publishes its ids to PE 0.
    let table = ok!(sh.alloc_zeroed::<i32>(2 * n as usize));
    ok!(table.put(0, 2 * me as usize, &[odd, last]));
    ok!(sh.barrier_all());
    if me == 0 {
        let t = ok!(table.to_vec());
        let odd_ids: Vec<i32> = (1..n).step_by(2).map(|p| t[2 * p as usize]).collect();
        check!(odd_ids.windows(2).all(|w| w[0] == w[1]), "odd team ids differ: {odd_ids:?}");
    }
    // Nested split of the odd team, and translation between siblings and the nested team.
    if odd != TEAM_INVALID {
        let nested = ok!(team::split_strided(odd, 1, 2, (n / 2) / 2));
        let in_nested = me % 4 == 3;
        check!(in_nested == (nested != TEAM_INVALID), "nested membership of PE {me}");
        if in_nested {
            check!(team::translate_pe(nested, 0, TEAM_WORLD) == 3, "nested PE 0 is world 3");
            check!(team::translate_pe(nested, 0, odd) == 1, "nested PE 0 is odd PE 1");
            ok!(team::destroy(nested));
        }
        check!(team::translate_pe(odd, 0, TEAM_WORLD) == 1, "odd PE 0 is world 1");
        check!(team::translate_pe(TEAM_WORLD, 2, odd) == -1, "world 2 is not odd");
        check!(team::translate_pe(odd, 99, TEAM_WORLD) == -1, "out of range PE");
    }
    // 2-D split with rows of 3 (n = 4 or 8: uneven last row).
    let (x, y) = ok!(team::split_2d(TEAM_WORLD, 3));
    let row_len = 3.min(n - (me / 3) * 3);
    check!(team::n_pes(x) == row_len && team::my_pe(x) == me % 3, "row team of PE {me}");
    check!(team::n_pes(y) == (n - me % 3 + 2) / 3 && team::my_pe(y) == me / 3, "column team of PE {me}");
    // Team-relative put: every PE writes into team PE 0 of its row; row leaders check.
    let inbox = ok!(sh.alloc_zeroed::<u64>(3));
    let v = [1000 + me as u64];
    // SAFETY: v lives across the call.
    ok!(unsafe { team::putmem(x, inbox.addr() + 8 * (me % 3) as usize, v.as_ptr().cast(), 8, 0) });
    ok!(team::barrier(x));
    if me % 3 == 0 {
        let got = ok!(inbox.to_vec());
        for k in 0..row_len as usize {
            check!(got[k] == 1000 + (me as u64 + k as u64), "row inbox {got:?}");
        }
    }
    let cfg = ok!(team::get_config(x));
    check!(cfg.num_contexts == 0, "default config");
    ok!(team::destroy(x));
    ok!(team::destroy(y));
    if odd != TEAM_INVALID {
        ok!(team::destroy(odd));
    }
    if last != TEAM_INVALID {
        ok!(team::destroy(last));
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// Rows of 2 run many barriers at the same time, each with its own checked counters.
fn team_barriers_disjoint() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let (row, _col) = ok!(team::split_2d(TEAM_WORLD, 2));
    let partner = ok!(team::world_pe(row, 1 - team::my_pe(row))) as u32;
    let slot = ok!(sh.alloc_zeroed::<u64>(1));
    for r in 1..=1500u64 {
        ok!(slot.put(partner, 0, &[r]));
        ok!(team::barrier(row));
        let s = ok!(slot.to_vec())[0];
        check!(s >= r && s <= r + 1, "PE {me} round {r}: partner's counter {s}");
    }
    // Signal across the row once both have checked the last round, waited on with the sync API.
    ok!(team::barrier(row));
    ok!(slot.put(partner, 0, &[999_999]));
    ok!(slot.wait_until(0, CmpOp::Eq, 999_999));
    ok!(team::barrier(row));
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// A slot freed by one team and taken at once by another team of other members: T = {0, 1, 2} (one node, so PEs
/// 1 and 2 wait on leader PE 0's release word) is destroyed, and PE 0 and PE 3 at once split their own team V =
/// {0, 3} into U, which gets T's old slot (the lowest free on both) and zeroes PE 0's words of it. A member of T
/// still descheduled in the destroy's barrier (4 PEs on 2 cores: often) must not lose its release to that zeroing
/// (it would wait out the control timeout): the destroy returns only once T's members have left. Many rounds.
fn team_slot_reuse_race() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let v = ok!(team::split_strided(TEAM_WORLD, 0, 3, 2));
    for round in 0..300 {
        let t = ok!(team::split_strided(TEAM_WORLD, 0, 1, 3));
        if me <= 2 {
            ok!(team::sync(t));
            ok!(team::destroy(t));
        }
        if me == 0 || me == 3 {
            let u = ok!(team::split_strided(v, 0, 1, 2));
            check!(me != 0 || u & 63 == t & 63, "round {round}: U took T's old slot ({u} vs {t})");
            ok!(team::sync(u));
            ok!(team::destroy(u));
        }
    }
    if me == 0 || me == 3 {
        ok!(team::destroy(v));
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

fn team_bound_and_reuse() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    // Far more create/destroy cycles than there are slots: slots come back, handles never do (a handle holds
    // the slot in its low 6 bits and the team's generation above).
    let mut seen = std::collections::HashSet::new();
    for _ in 0..150 {
        let t = ok!(team::split_strided(TEAM_WORLD, 0, 1, 4));
        check!(t & 63 == 2 && seen.insert(t), "slot 2 is reused under a new handle: {t}");
        ok!(team::sync(t));
        ok!(team::destroy(t));
    }
    // Fill every slot, then one more fails on every PE with the bound in the message.
    let mut live = Vec::new();
    loop {
        match team::split_strided(TEAM_WORLD, 0, 1, 2) {
            Ok(t) => live.push(t),
            Err(e) => {
                check!(e.code() == -1 && e.to_string().contains("at most 64"), "bound error: {e}");
                break;
            }
        }
        check!(live.len() <= 62, "more teams than slots");
    }
    check!(live.len() == 62, "62 user teams fit beside TEAM_WORLD and TEAM_NODE, got {}", live.len());
    for t in live {
        if t != TEAM_INVALID {
            ok!(team::destroy(t));
        }
    }
    let t = ok!(team::split_strided(TEAM_WORLD, 0, 1, 4));
    check!(t & 63 == 2 && !seen.contains(&t), "after destroying all, the lowest slot again: {t}");
    ok!(team::destroy(t));
    ok!(sh.finalize());
    Ok(())
}

fn team_bad_inputs() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    for (s, st, z) in [(-1, 1, 1), (4, 1, 1), (0, 0, 2), (0, 1, 0), (0, -2, 2), (1, 2, 3), (0, 1, 5)] {
        let e = team::split_strided(TEAM_WORLD, s, st, z).unwrap_err();
        check!(e.code() == -1, "split({s},{st},{z}): {e}");
    }
    check!(team::split_2d(TEAM_WORLD, 0).unwrap_err().code() == -1, "x_range 0");
    check!(team::split_2d(TEAM_WORLD, -1).unwrap_err().code() == -1, "x_range -1");
    check!(team::split_strided(42, 0, 1, 1).unwrap_err().code() == -1, "unknown parent");
    check!(team::destroy(TEAM_WORLD).unwrap_err().code() == -1, "destroy world");
    check!(team::destroy(TEAM_NODE).unwrap_err().code() == -1, "destroy node team");
    check!(team::destroy(17).unwrap_err().code() == -1, "destroy unknown");
    check!(team::my_pe(-1) == -1 && team::n_pes(99) == -1 && team::translate_pe(0, 0, 55) == -1, "queries");
    check!(team::sync(TEAM_INVALID).unwrap_err().code() == -1, "sync invalid");
    let t = ok!(team::split_strided(TEAM_WORLD, 0, 1, 4));
    ok!(team::destroy(t));
    check!(team::destroy(t).unwrap_err().code() == -1, "double destroy");
    check!(team::barrier(t).unwrap_err().code() == -1, "barrier on destroyed team");
    // Arguments that differ between PEs are caught on every PE.
    let size = if sh.my_pe() == 0 { 2 } else { 3 };
    let e = team::split_strided(TEAM_WORLD, 0, 1, size).unwrap_err();
    check!(e.code() == -2 && e.to_string().contains("overlap"), "differing split: {e}");
    let buf = [0u8; 8];
    let v = ok!(api::malloc(8)).unwrap();
    // SAFETY: buf lives across the call; the PE check fails first.
    let e = unsafe { team::putmem(TEAM_WORLD, v, buf.as_ptr(), 8, 4) }.unwrap_err();
    check!(e.code() == -1, "team pe out of range: {e}");
    ok!(api::free(v));
    ok!(sh.finalize());
    check!(team::my_pe(TEAM_WORLD) == -1, "after finalize");
    Ok(())
}
