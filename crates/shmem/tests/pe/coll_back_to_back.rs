//! Collectives back to back: thousands of calls in a row on every team shape (world, strided, 2-D rows and
//! columns, a single PE), alternating the collective, the root, the count, the element type and the path (small
//! payloads inline in the collective lines, large ones read from the members' buffers), with data that changes
//! every round, checked exactly after every call. A call that costs one barrier (the inline path) relies on the
//! double-buffered lines: a missing synchronization shows as another round's data or a peer's half-written line.
//! Also: members that disagree across the two paths (one inline, one not), or a member that meets the call with a
//! team sync, fail with the exact codes on every member and move no data, and the team goes on working.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas of the expected layouts

use crate::{check, code_is, ok, Scenario};
use shmem::collectives::{self, Complex64, DataType, ReduceOp};
use shmem::team::{self, TEAM_INVALID, TEAM_WORLD};
use shmem::{Shmem, SymVec};

pub(crate) const SCENARIOS: &[(&str, Scenario)] =
    &[("coll_back_to_back", coll_back_to_back), ("coll_inline_mismatch", coll_inline_mismatch)];

/// Engine-independent runs (MTE on one node).
pub(crate) const TRIALS: &[(&str, &[u32])] =
    &[("coll_back_to_back", &[1, 2, 3, 4, 8]), ("coll_inline_mismatch", &[1, 2, 3, 4, 8])];

/// Elements of the large broadcast (16 KiB of i64: past the inline limit).
const LARGE: usize = 2048;

/// A value unique to (PE, round, index), so that data of another round or member shows.
fn val(pe: u32, round: usize, i: usize) -> i64 {
    pe as i64 * 1_000_003 + round as i64 * 131 + i as i64 * 7 - 50_000
}

/// The teams of a job of `n`, as (name, handle): world, the odd PEs, the rows and columns of a 2-D split with
/// rows of 2, and a team of the last PE only (TEAM_INVALID where this PE is not a member).
fn shapes(n: i32) -> Result<Vec<(String, i32)>, String> {
    let (start, size) = if n >= 2 { (1, n / 2) } else { (0, 1) };
    let strided = ok!(team::split_strided(TEAM_WORLD, start, 2, size));
    let (x, y) = ok!(team::split_2d(TEAM_WORLD, 2));
    let single = ok!(team::split_strided(TEAM_WORLD, n - 1, 1, 1));
    Ok(vec![
        ("world".into(), TEAM_WORLD),
        (format!("strided({start},2,{size})"), strided),
        ("2-D row".into(), x),
        ("2-D column".into(), y),
        ("single".into(), single),
    ])
}

fn members(handle: i32) -> Vec<u32> {
    (0..team::n_pes(handle)).map(|i| team::translate_pe(handle, i, TEAM_WORLD) as u32).collect()
}

/// The symmetric buffers of the scenario (allocated over the world).
struct Bufs {
    src: SymVec<i64>,
    dst: SymVec<i64>,
    fsrc: SymVec<f64>,
    fdst: SymVec<f64>,
    bsrc: SymVec<u8>,
    bdst: SymVec<u8>,
    csrc: SymVec<Complex64>,
    cdst: SymVec<Complex64>,
}

fn coll_back_to_back() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes() as usize;
    let b = Bufs {
        src: ok!(sh.alloc_zeroed::<i64>(LARGE)),
        dst: ok!(sh.alloc_zeroed::<i64>(LARGE.max(16 * n))),
        fsrc: ok!(sh.alloc_zeroed::<f64>(16)),
        fdst: ok!(sh.alloc_zeroed::<f64>(16 * n)),
        bsrc: ok!(sh.alloc_zeroed::<u8>(16)),
        bdst: ok!(sh.alloc_zeroed::<u8>(16 * n)),
        csrc: ok!(sh.alloc_zeroed::<Complex64>(16)),
        cdst: ok!(sh.alloc_zeroed::<Complex64>(16)),
    };
    let shapes = shapes(n as i32)?;
    for (name, handle) in &shapes {
        if *handle != TEAM_INVALID {
            let rounds = if *handle == TEAM_WORLD { 3000 } else { 600 };
            rounds_on(&sh, &b, name, *handle, rounds)?;
        }
        ok!(sh.barrier_all());
    }
    for (_, handle) in shapes.into_iter().skip(1) {
        if handle != TEAM_INVALID {
            ok!(team::destroy(handle));
        }
    }
    ok!(sh.finalize());
    Ok(())
}

/// `rounds` collectives on one team, each checked before the next; every member fills its sources right after
/// the previous call returned (a call that still read them would see the next round's data).
fn rounds_on(sh: &Shmem, b: &Bufs, name: &str, handle: i32, rounds: usize) -> Result<(), String> {
    let me = sh.my_pe();
    let mem = members(handle);
    let tn = mem.len();
    let ti = team::my_pe(handle) as usize;
    for r in 0..rounds {
        let at = format!("{name} ({tn} PEs), round {r}");
        let c = 1 + r % 9; // 1..9 elements: inline
        match r % 7 {
            0 => {
                // broadcast of i64 from a root that moves every round.
                let root = (r / 6) % tn;
                // Every 25th round a large one (not inline), and between them one of 2.4 KB (inline in teams of three
                // or more, not in a team of two).
                let count = match r % 25 {
                    0 => LARGE,
                    12 => 300,
                    _ => c,
                };
                ok!(b.src.write_local(0, &(0..count).map(|i| val(me, r, i)).collect::<Vec<_>>()));
                let root = root as i32;
                ok!(collectives::broadcast::broadcast(handle, DataType::I64, b.dst.addr(), b.src.addr(), count, root));
                let root = root as usize;
                let got = ok!(b.dst.to_vec());
                for i in 0..count {
                    check!(got[i] == val(mem[root], r, i), "{at}: broadcast[{i}] = {}", got[i]);
                }
            }
            1 => {
                // sum of i64, in place every other time.
                ok!(b.src.write_local(0, &(0..c).map(|i| val(me, r, i)).collect::<Vec<_>>()));
                let dst = if r % 4 == 1 { &b.src } else { &b.dst };
                ok!(collectives::reduce::reduce(handle, ReduceOp::Sum, DataType::I64, dst.addr(), b.src.addr(), c));
                let got = ok!(dst.to_vec());
                for i in 0..c {
                    let want: i64 = mem.iter().map(|&pe| val(pe, r, i)).sum();
                    check!(got[i] == want, "{at}: sum[{i}] = {}, want {want}", got[i]);
                }
            }
            2 => {
                // fcollect of f64 (exact small integers).
                ok!(b.fsrc.write_local(0, &(0..c).map(|i| val(me, r, i) as f64).collect::<Vec<_>>()));
                ok!(sh.fcollect(handle, &b.fdst, &b.fsrc, c));
                let got = ok!(b.fdst.to_vec());
                for (t, &pe) in mem.iter().enumerate() {
                    for i in 0..c {
                        check!(got[t * c + i] == val(pe, r, i) as f64, "{at}: fcollect[{t}][{i}] = {}", got[t * c + i]);
                    }
                }
            }
            3 => {
                // collect of bytes, member t contributing (t + r) % 5 elements (zero included).
                let k = (ti + r) % 5;
                let byte = |pe: u32, i: usize| (val(pe, r, i) % 251) as u8;
                ok!(b.bsrc.write_local(0, &(0..k).map(|i| byte(me, i)).collect::<Vec<_>>()));
                ok!(collectives::collect::collect(handle, DataType::U8, b.bdst.addr(), b.bsrc.addr(), k));
                let got = ok!(b.bdst.to_vec());
                let mut at_k = 0;
                for (t, &pe) in mem.iter().enumerate() {
                    for i in 0..(t + r) % 5 {
                        check!(got[at_k] == byte(pe, i), "{at}: collect[{at_k}] = {}", got[at_k]);
                        at_k += 1;
                    }
                }
            }
            4 => {
                // max of f64, then a team sync every 8th time (shifts which line the next call uses).
                ok!(b.fsrc.write_local(0, &(0..c).map(|i| ((val(me, r, i) * 37) % 1001) as f64).collect::<Vec<_>>()));
                ok!(collectives::reduce::reduce(handle, ReduceOp::Max, DataType::F64, b.fdst.addr(), b.fsrc.addr(), c));
                let got = ok!(b.fdst.to_vec());
                for i in 0..c {
                    let want = mem.iter().map(|&pe| ((val(pe, r, i) * 37) % 1001) as f64).fold(f64::MIN, f64::max);
                    check!(got[i] == want, "{at}: max[{i}] = {}, want {want}", got[i]);
                }
                if r % 8 == 4 {
                    ok!(collectives::team_sync(handle));
                }
            }
            5 => {
                // alltoall of i64: block j of member t's source goes to member j as its block t.
                ok!(b.src.write_local(0, &(0..tn * c).map(|i| val(me, r, i)).collect::<Vec<_>>()));
                ok!(collectives::alltoall::alltoall(handle, DataType::I64, b.dst.addr(), b.src.addr(), c));
                let got = ok!(b.dst.to_vec());
                for (t, &pe) in mem.iter().enumerate() {
                    for i in 0..c {
                        let want = val(pe, r, ti * c + i);
                        check!(got[t * c + i] == want, "{at}: alltoall[{t}][{i}] = {}, want {want}", got[t * c + i]);
                    }
                }
            }
            _ => {
                // prod of complex doubles (small integers: exact), through the untyped entry point.
                let z =
                    |pe: u32, i: usize| Complex64::new((val(pe, r, i) % 3) as f64, ((val(pe, r, i) / 3) % 2) as f64);
                ok!(b.csrc.write_local(0, &(0..c).map(|i| z(me, i)).collect::<Vec<_>>()));
                ok!(collectives::reduce::reduce(
                    handle,
                    ReduceOp::Prod,
                    DataType::C64,
                    b.cdst.addr(),
                    b.csrc.addr(),
                    c
                ));
                let got = ok!(b.cdst.to_vec());
                for i in 0..c {
                    let want = mem.iter().skip(1).fold(z(mem[0], i), |a, &pe| {
                        let x = z(pe, i);
                        Complex64::new(a.re * x.re - a.im * x.im, a.re * x.im + a.im * x.re)
                    });
                    check!(got[i] == want, "{at}: prod[{i}] = {:?}, want {want:?}", got[i]);
                }
            }
        }
    }
    Ok(())
}

/// Disagreements across the inline and the other paths, on the world and on a 2-D row, twice (so that both
/// lines of the double buffer are used), each followed by a call that must work.
fn coll_inline_mismatch() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let a = ok!(sh.alloc_zeroed::<i64>(LARGE));
    let d = ok!(sh.alloc_zeroed::<i64>(LARGE));
    ok!(a.write_local(0, &vec![3; LARGE]));
    ok!(d.write_local(0, &vec![-1; LARGE]));
    let (row, col) = ok!(team::split_2d(TEAM_WORLD, 2));
    ok!(sh.barrier_all());
    for (name, handle) in [("world", TEAM_WORLD), ("2-D row", row), ("world again", TEAM_WORLD), ("2-D row again", row)]
    {
        let mem = members(handle);
        let tn = mem.len();
        if tn > 1 {
            let last = team::my_pe(handle) as usize == tn - 1;
            let untouched = |what: &str| -> Result<(), String> {
                check!(ok!(d.to_vec()) == vec![-1; LARGE], "{name}: {what}: the refused call wrote dest");
                Ok(())
            };
            // One member's count is past the inline size, the others' inline: the broadcast is posted (the root,
            // member 0, does not wait for the members), so the root and the members that agree with it get the
            // data and the last member fails with INVALID_VALUE, writing nothing.
            let count = if last { LARGE } else { 4 };
            let r = collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), count, 0);
            if last {
                code_is(r, -2, &format!("{name}: broadcast of {LARGE} against the root's 4"))?;
                untouched("large against inline broadcast")?;
            } else {
                ok!(r);
                check!(ok!(d.to_vec())[..5] == [3, 3, 3, 3, -1], "{name}: the root's broadcast of 4");
                ok!(d.write_local(0, &[-1; 4]));
            }
            // The other way round: the root's count is the large one; its post names it, and it waits for the
            // members (the mismatched ones say they are done without copying).
            let count = if last { 4 } else { LARGE };
            let r = collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), count, 0);
            if last {
                code_is(r, -2, &format!("{name}: broadcast of 4 against the root's {LARGE}"))?;
                untouched("inline against large broadcast")?;
            } else {
                ok!(r);
                check!(ok!(d.to_vec()) == vec![3; LARGE], "{name}: the root's large broadcast");
                ok!(d.write_local(0, &vec![-1; LARGE]));
            }
            let count = if last { 1024 } else { 2 };
            let r = collectives::reduce::reduce(handle, ReduceOp::Sum, DataType::I64, d.addr(), a.addr(), count);
            code_is(r, -2, &format!("{name}: sum of 2 against 1024"))?;
            untouched("inline against large reduction")?;
            // The root meets the broadcast with a team sync: the members fail with INVALID_VALUE (they see the
            // root's barrier arrival) without waiting for the timeout and write nothing, then meet its sync.
            ok!(collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), 3, 0));
            check!(ok!(d.to_vec())[..4] == [3, 3, 3, -1], "{name}: the broadcast before the team sync");
            ok!(d.write_local(0, &[-1; 3]));
            let first = team::my_pe(handle) == 0;
            let t0 = std::time::Instant::now();
            if first {
                ok!(collectives::team_sync(handle));
            } else {
                let r = collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), 3, 0);
                code_is(r, -2, &format!("{name}: broadcast against the root's team sync"))?;
                untouched("broadcast against the root's team sync")?;
                ok!(collectives::team_sync(handle));
            }
            check!(t0.elapsed().as_secs() < 10, "{name}: the mismatch took {:?} (the control timeout?)", t0.elapsed());
            // A member (the last) meets the broadcast with a team sync: the root cannot know (it does not wait)
            // and the other members get the data; the sync pairs with the others' next one, and the last
            // member's next broadcast meets the post it skipped, which was made before that barrier: INVALID_VALUE,
            // nothing written. After that the team's broadcasts pair again.
            if last {
                ok!(collectives::team_sync(handle));
                let r = collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), 3, 0);
                code_is(r, -2, &format!("{name}: the broadcast a team sync replaced"))?;
                untouched("the broadcast a team sync replaced")?;
            } else {
                ok!(collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), 3, 0));
                check!(ok!(d.to_vec())[..4] == [3, 3, 3, -1], "{name}: the broadcast a member skipped");
                ok!(d.write_local(0, &[-1; 3]));
                ok!(collectives::team_sync(handle));
            }
            ok!(a.write_local(0, &[5; 2]));
            ok!(collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), 2, (tn - 1) as i32));
            check!(ok!(d.to_vec())[..3] == [5, 5, -1], "{name}: the broadcast after the skipped one");
            ok!(collectives::team_sync(handle));
            ok!(a.write_local(0, &[3; 2]));
            ok!(d.write_local(0, &[-1; 2]));
            // fcollect against collect, both inline.
            let r = if last {
                collectives::collect::collect(handle, DataType::I64, d.addr(), a.addr(), 1)
            } else {
                collectives::collect::fcollect(handle, DataType::I64, d.addr(), a.addr(), 1)
            };
            code_is(r, -2, &format!("{name}: fcollect against collect"))?;
            untouched("fcollect against collect")?;
            // A member with a root outside the team: INVALID_PARAM on it (a local check), the others get the data.
            let root = if last { tn as i32 } else { 0 };
            let r = collectives::broadcast::broadcast(handle, DataType::I64, d.addr(), a.addr(), 2, root);
            if last {
                code_is(r, -1, &format!("{name}: a root outside the team"))?;
                untouched("bad root")?;
            } else {
                ok!(r);
                check!(ok!(d.to_vec())[..3] == [3, 3, -1], "{name}: the broadcast beside a bad root");
                ok!(d.write_local(0, &[-1; 2]));
            }
        }
        // The team still agrees and computes, inline and not.
        ok!(a.write_local(0, &(0..LARGE).map(|i| val(me, 0, i)).collect::<Vec<_>>()));
        let out = ok!(sh.alloc_zeroed::<i64>(LARGE));
        ok!(collectives::reduce::reduce(handle, ReduceOp::Sum, DataType::I64, out.addr(), a.addr(), 5));
        let got = ok!(out.to_vec());
        for i in 0..5 {
            let want: i64 = mem.iter().map(|&pe| val(pe, 0, i)).sum();
            check!(got[i] == want, "{name}: sum after the refused calls [{i}] = {}, want {want}", got[i]);
        }
        ok!(sh.broadcast(handle, &out, &a, (tn - 1) as u32));
        let got = ok!(out.to_vec());
        check!((0..LARGE).all(|i| got[i] == val(mem[tn - 1], 0, i)), "{name}: large broadcast after the refused calls");
        ok!(sh.barrier_all());
        ok!(out.free());
        ok!(a.write_local(0, &vec![3; LARGE]));
        ok!(sh.barrier_all());
    }
    let _ = n;
    ok!(team::destroy(row));
    ok!(team::destroy(col));
    ok!(sh.finalize());
    Ok(())
}
