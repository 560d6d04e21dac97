//! Tiny reductions (at most 32 bytes on a one-node team, 64 on a team of two), which travel with their agreement
//! record in the cache line of the call's tag (a pair's above 32 bytes in the payload area's first two lines):
//! hundreds in a row with data that changes every call, mixed with the other paths (inline, large) and team syncs
//! so that both lines of the double buffer hold stale records of other calls; and members that disagree (another
//! operator, type or count, a team sync, also after two identical calls whose record a stale line could repeat, a
//! bad range), which fail with the exact codes on every member, write nothing, and leave the team working; a
//! member in a (posted) broadcast instead fails alone and meets the reduction with its next call.

use crate::{check, code_is, ok, Scenario};
use shmem::collectives::{self, DataType, ReduceOp};
use shmem::team::{self, TEAM_WORLD};

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[("coll_tiny_reduce", coll_tiny_reduce)];

/// Engine-independent runs (MTE on one node).
pub(crate) const TRIALS: &[(&str, &[u32])] = &[("coll_tiny_reduce", &[1, 2, 3, 4, 8])];

/// Elements of the buffers (the large path's count).
const LEN: usize = 2048;

/// A value unique to (PE, round, index).
fn val(pe: u32, round: usize, i: usize) -> i64 {
    pe as i64 * 1_000_003 + round as i64 * 131 + i as i64 * 7 - 50_000
}

fn members(handle: i32) -> Vec<u32> {
    (0..team::n_pes(handle)).map(|i| team::translate_pe(handle, i, TEAM_WORLD) as u32).collect()
}

fn coll_tiny_reduce() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let src = ok!(sh.alloc_zeroed::<i64>(LEN));
    let dst = ok!(sh.alloc_zeroed::<i64>(LEN));
    let fsrc = ok!(sh.alloc_zeroed::<f64>(4));
    let fdst = ok!(sh.alloc_zeroed::<f64>(4));
    let (row, col) = ok!(team::split_2d(TEAM_WORLD, 2));
    ok!(sh.barrier_all());
    for (name, handle) in [("world", TEAM_WORLD), ("2-D row", row)] {
        let mem = members(handle);
        let tn = mem.len();
        let last = team::my_pe(handle) as usize == tn - 1;
        // Back to back: counts 1..=4 of i64 (8..32 B, tiny), 5, 6 and 8 (40..64 B: tiny on a pair, else inline),
        // 9 (inline), LEN (large), every fourth call a team sync; in place every third call; each checked exactly.
        for round in 0..400usize {
            if round % 4 == 3 {
                ok!(collectives::team_sync(handle));
                continue;
            }
            let count = match round % 13 {
                5 => 5,
                6 => 6,
                7 => 8,
                8 => 9,
                9 => LEN,
                r => 1 + r % 4,
            };
            ok!(src.write_local(0, &(0..count).map(|i| val(me, round, i)).collect::<Vec<_>>()));
            let in_place = round % 3 == 0;
            let (op, fold): (ReduceOp, fn(i64, i64) -> i64) =
                if round % 2 == 0 { (ReduceOp::Sum, i64::wrapping_add) } else { (ReduceOp::Max, i64::max) };
            let out = if in_place { &src } else { &dst };
            ok!(collectives::reduce::reduce(handle, op, DataType::I64, out.addr(), src.addr(), count));
            let got = ok!(out.to_vec());
            for (i, &g) in got.iter().enumerate().take(count) {
                let want = mem.iter().map(|&pe| val(pe, round, i)).reduce(fold).unwrap();
                check!(g == want, "{name} round {round} ({count} x i64, in place {in_place}) [{i}] = {g}, want {want}");
            }
        }
        // f64, the bench's shape: one element, sums of distinct values in team order.
        ok!(fsrc.write_local(0, &[me as f64 + 0.25, -(me as f64), 1.0, 2.0]));
        ok!(sh.sum_reduce(handle, &fdst, &fsrc));
        let got = ok!(fdst.to_vec());
        let want = [
            mem.iter().fold(0.0, |a, &pe| a + (pe as f64 + 0.25)),
            mem.iter().fold(0.0, |a, &pe| a - pe as f64),
            tn as f64,
            2.0 * tn as f64,
        ];
        check!(got == want, "{name}: f64 sum {got:?}, want {want:?}");
        if tn > 1 {
            // Twice: first the odd member (`last`) arrives 20 ms after the others, so that on a team of three or
            // more it completes the barrier (the tiny path's completer checks the records and folds for all: its
            // own team sync, argument error or other arguments must still fail everyone), then the others arrive
            // late, so that a member that made the expected call completes it.
            for odd_completes in [true, false] {
                let late = || {
                    if tn >= 3 && last == odd_completes {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                };
                ok!(dst.write_local(0, &[-1; 8]));
                let untouched = |what: &str| -> Result<(), String> {
                    check!(ok!(dst.to_vec())[..8] == [-1; 8], "{name}: {what}: the refused call wrote dest");
                    Ok(())
                };
                let reduce =
                    |op, dt, dest: usize, count| collectives::reduce::reduce(handle, op, dt, dest, src.addr(), count);
                // Another operator, another type, another count: every member fails with INVALID_VALUE.
                late();
                let op = if last { ReduceOp::Max } else { ReduceOp::Sum };
                code_is(reduce(op, DataType::I64, dst.addr(), 2), -2, &format!("{name}: sum against max"))?;
                untouched("sum against max")?;
                late();
                let dt = if last { DataType::F64 } else { DataType::I64 };
                code_is(reduce(ReduceOp::Sum, dt, dst.addr(), 2), -2, &format!("{name}: i64 against f64"))?;
                untouched("i64 against f64")?;
                late();
                let count = if last { 3 } else { 2 };
                code_is(reduce(ReduceOp::Sum, DataType::I64, dst.addr(), count), -2, &format!("{name}: 2 against 3"))?;
                untouched("2 against 3")?;
                // Counts on either side of a path's limit (a pair's 32 and 64 B): the records sit in different
                // lines, and every member still fails.
                for (a, b) in [(4, 8), (8, 9), (5, 8)] {
                    late();
                    let count = if last { b } else { a };
                    let what = format!("{name}: {a} against {b}");
                    code_is(reduce(ReduceOp::Sum, DataType::I64, dst.addr(), count), -2, &what)?;
                    untouched(&what)?;
                }
                // A member in a team sync: the others fail, it passes its sync.
                late();
                if last {
                    ok!(collectives::team_sync(handle));
                } else {
                    code_is(
                        reduce(ReduceOp::Sum, DataType::I64, dst.addr(), 2),
                        -2,
                        &format!("{name}: against a sync"),
                    )?;
                }
                untouched("against a team sync")?;
                // Two identical calls, then a member in a team sync instead of a third: the others must not take the
                // first call's record (same arguments, same parity of the barrier epoch; on a team of two it travels
                // in the barrier's line) for one of the third call.
                ok!(src.write_local(0, &[me as i64 + 1, 10]));
                for _ in 0..2 {
                    ok!(reduce(ReduceOp::Sum, DataType::I64, dst.addr(), 1));
                }
                ok!(dst.write_local(0, &[-1; 8]));
                late();
                if last {
                    ok!(collectives::team_sync(handle));
                } else {
                    let r = reduce(ReduceOp::Sum, DataType::I64, dst.addr(), 1);
                    code_is(r, -2, &format!("{name}: against a sync after two identical calls"))?;
                }
                untouched("against a team sync after two identical calls")?;
                // A member (not the root) in a broadcast of as many bytes while the others reduce: the broadcast is
                // posted on one node, so that member fails with INVALID_VALUE as soon as it sees its root in the
                // reduction's barrier, writing nothing, and its call does not count; the reducers are still waiting
                // and meet its next call, the same reduction, which then completes with the exact sum.
                ok!(src.write_local(0, &[me as i64 + 1, 10]));
                if last {
                    let r = collectives::broadcast::broadcast(handle, DataType::I64, dst.addr(), src.addr(), 2, 0);
                    code_is(r, -2, &format!("{name}: broadcast against reduce"))?;
                    untouched("broadcast against reduce")?;
                }
                ok!(reduce(ReduceOp::Sum, DataType::I64, dst.addr(), 2));
                let want = [mem.iter().map(|&pe| pe as i64 + 1).sum::<i64>(), 10 * tn as i64];
                check!(ok!(dst.to_vec())[..2] == want, "{name}: the reduction a broadcast met, want {want:?}");
                ok!(dst.write_local(0, &[-1; 2]));
                // Zero elements: valid on every path, writes nothing.
                late();
                ok!(reduce(ReduceOp::Sum, DataType::I64, dst.addr(), 0));
                check!(ok!(dst.to_vec())[..2] == [-1; 2], "{name}: a reduction of zero elements wrote dest");
                // A member whose dest is outside the heap: INVALID_PARAM on every member.
                late();
                let dest = if last { usize::MAX - 64 } else { dst.addr() };
                code_is(reduce(ReduceOp::Sum, DataType::I64, dest, 2), -1, &format!("{name}: a bad dest"))?;
                untouched("a bad dest")?;
            }
        }
        // The team still computes.
        ok!(src.write_local(0, &[me as i64 + 1, 10]));
        ok!(collectives::reduce::reduce(handle, ReduceOp::Sum, DataType::I64, dst.addr(), src.addr(), 2));
        let got = ok!(dst.to_vec());
        let want = [mem.iter().map(|&pe| pe as i64 + 1).sum::<i64>(), 10 * tn as i64];
        check!(got[..2] == want, "{name}: sum after the refused calls {:?}, want {want:?}", &got[..2]);
        ok!(sh.barrier_all());
    }
    ok!(team::destroy(row));
    ok!(team::destroy(col));
    ok!(sh.finalize());
    Ok(())
}
