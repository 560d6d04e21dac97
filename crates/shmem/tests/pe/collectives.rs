//! Collectives: every collective × every element type × every team shape (world, strided, 2-D rows and
//! columns, a single-PE team), with zero, small and large counts, checked element by element against a
//! reference computed here from the PE numbers; bad inputs (mismatched sizes, types, roots, ranges outside
//! the heap) fail every member with the exact code; the active-set forms with `pSync` reuse.
//!
//! The type table runs one generic body (`every_collective::<T>`) per type, so adding a type is one line.

#![allow(clippy::needless_range_loop)] // index loops mirror the formulas of the expected layouts

use crate::{check, code_is, ok, Scenario};
use shmem::collectives::{self, active_set, Complex32, Complex64, DataType, ReduceOp, Reducible};
use shmem::team::{self, TEAM_INVALID, TEAM_WORLD};
use shmem::{Shmem, SymVec};

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("coll_every_type_and_team", coll_every_type_and_team),
    ("coll_bad_inputs", coll_bad_inputs),
    ("coll_active_set", coll_active_set),
    ("coll_large_reduce", coll_large_reduce),
    ("coll_large_float_order", coll_large_float_order),
    ("coll_net_exact", coll_net_exact),
];

/// Engine-independent runs (MTE on one node).
pub(crate) const TRIALS: &[(&str, &[u32])] = &[
    ("coll_every_type_and_team", &[1, 2, 3, 4, 8]),
    ("coll_bad_inputs", &[1, 3, 4]),
    ("coll_active_set", &[1, 2, 3, 4, 8]),
    ("coll_large_reduce", &[3]),
    ("coll_large_float_order", &[2, 4]),
    ("coll_net_exact", &[4]),
];

/// The subset run over the multi-node engine sets (TCP between nodes).
pub(crate) const CROSS_NODE_TRIALS: &[(&str, &[u32])] =
    &[("coll_every_type_and_team", &[3, 4]), ("coll_bad_inputs", &[4]), ("coll_active_set", &[4])];

const OPS: [ReduceOp; 7] =
    [ReduceOp::And, ReduceOp::Or, ReduceOp::Xor, ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum, ReduceOp::Prod];

/// A test element: a deterministic value per (PE, index) and a reference reduction written independently of
/// the library's (`None` where the operator is not defined on the type).
trait TestElem: Reducible + PartialEq + std::fmt::Debug {
    fn val(pe: u32, i: usize) -> Self;
    fn reference(op: ReduceOp, a: Self, b: Self) -> Option<Self>;
}

macro_rules! int_elems {
    ($($t:ty),*) => {$(
        impl TestElem for $t {
            fn val(pe: u32, i: usize) -> Self {
                // Mixed signs for the signed types (casts wrap), small magnitudes so products stay varied.
                ((pe as i64 * 7 + i as i64 * 3) % 11 - 3) as $t
            }
            fn reference(op: ReduceOp, a: Self, b: Self) -> Option<Self> {
                Some(match op {
                    ReduceOp::And => a & b,
                    ReduceOp::Or => a | b,
                    ReduceOp::Xor => a ^ b,
                    ReduceOp::Max => if a >= b { a } else { b },
                    ReduceOp::Min => if a <= b { a } else { b },
                    ReduceOp::Sum => a.wrapping_add(b),
                    ReduceOp::Prod => a.wrapping_mul(b),
                })
            }
        }
    )*};
}
int_elems!(i8, i16, i32, i64, u8, u16, u32, u64, isize, usize);

macro_rules! float_elems {
    ($($t:ty),*) => {$(
        impl TestElem for $t {
            fn val(pe: u32, i: usize) -> Self {
                // Small integers and halves: sums and products of up to 8 are exact in any order.
                ((pe as usize + i) % 3) as $t + 0.5 * ((pe as usize * 5 + i) % 2) as $t - 1.0
            }
            fn reference(op: ReduceOp, a: Self, b: Self) -> Option<Self> {
                match op {
                    ReduceOp::Max => Some(a.max(b)),
                    ReduceOp::Min => Some(a.min(b)),
                    ReduceOp::Sum => Some(a + b),
                    ReduceOp::Prod => Some(a * b),
                    _ => None,
                }
            }
        }
    )*};
}
float_elems!(f32, f64);

macro_rules! complex_elems {
    ($($t:ident: $f:ty),*) => {$(
        impl TestElem for $t {
            fn val(pe: u32, i: usize) -> Self {
                $t::new(((pe as usize + i) % 3) as $f - 1.0, ((pe as usize * 3 + i) % 2) as $f)
            }
            fn reference(op: ReduceOp, a: Self, b: Self) -> Option<Self> {
                match op {
                    ReduceOp::Sum => Some($t::new(a.re + b.re, a.im + b.im)),
                    ReduceOp::Prod => Some($t::new(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re)),
                    _ => None,
                }
            }
        }
    )*};
}
complex_elems!(Complex32: f32, Complex64: f64);

/// A team under test as this PE sees it (`handle` is TEAM_INVALID outside it).
struct Shape {
    name: String,
    handle: i32,
}

impl Shape {
    /// World PEs of the members, in team order.
    fn members(&self) -> Vec<u32> {
        (0..team::n_pes(self.handle)).map(|i| team::translate_pe(self.handle, i, TEAM_WORLD) as u32).collect()
    }
}

/// The team shapes of a job of `n`: world, the odd PEs (strided; the even ones when there is one PE), the
/// rows and columns of a 2-D split with rows of 2, and a team of the last PE only.
fn shapes(n: i32) -> Result<Vec<Shape>, String> {
    let mut v = vec![Shape { name: "world".into(), handle: TEAM_WORLD }];
    let (start, size) = if n >= 2 { (1, n / 2) } else { (0, 1) };
    v.push(Shape {
        name: format!("strided({start},2,{size})"),
        handle: ok!(team::split_strided(TEAM_WORLD, start, 2, size)),
    });
    let (x, y) = ok!(team::split_2d(TEAM_WORLD, 2));
    v.push(Shape { name: "2-D row".into(), handle: x });
    v.push(Shape { name: "2-D column".into(), handle: y });
    v.push(Shape { name: "single".into(), handle: ok!(team::split_strided(TEAM_WORLD, n - 1, 1, 1)) });
    Ok(v)
}

fn destroy(shapes: Vec<Shape>) -> Result<(), String> {
    for s in shapes.into_iter().skip(1) {
        if s.handle != TEAM_INVALID {
            ok!(team::destroy(s.handle));
        }
    }
    Ok(())
}

/// Fills this PE's copy of `v` with its test values (or `f(i)`).
fn fill<T: TestElem>(v: &SymVec<T>, f: impl Fn(usize) -> T) -> Result<(), String> {
    let data: Vec<T> = (0..v.len()).map(f).collect();
    ok!(v.write_local(0, &data));
    Ok(())
}

fn every_type_on(sh: &Shmem, shapes: &[Shape]) -> Result<(), String> {
    every_collective::<i8>(sh, shapes)?;
    every_collective::<i16>(sh, shapes)?;
    every_collective::<i32>(sh, shapes)?;
    every_collective::<i64>(sh, shapes)?;
    every_collective::<u8>(sh, shapes)?;
    every_collective::<u16>(sh, shapes)?;
    every_collective::<u32>(sh, shapes)?;
    every_collective::<u64>(sh, shapes)?;
    every_collective::<isize>(sh, shapes)?;
    every_collective::<usize>(sh, shapes)?;
    every_collective::<f32>(sh, shapes)?;
    every_collective::<f64>(sh, shapes)?;
    every_collective::<Complex32>(sh, shapes)?;
    every_collective::<Complex64>(sh, shapes)
}

fn coll_every_type_and_team() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let shapes = shapes(sh.n_pes() as i32)?;
    every_type_on(&sh, &shapes)?;
    destroy(shapes)?;
    ok!(sh.finalize());
    Ok(())
}

/// Counts: zero, one, odd, and (for reductions and (f)collect) enough to take the large reduction path.
const COUNTS: [usize; 4] = [0, 1, 7, 1500];

/// Every collective of `T` on every shape; buffers are allocated over the world (collectively), the calls
/// made by the shape's members only.
fn every_collective<T: TestElem>(sh: &Shmem, shapes: &[Shape]) -> Result<(), String> {
    let n = sh.n_pes() as usize;
    let me = sh.my_pe();
    let ty = std::any::type_name::<T>();
    let max = *COUNTS.iter().max().unwrap();
    let src = ok!(sh.alloc_zeroed::<T>(max * n * 3));
    let dst = ok!(sh.alloc_zeroed::<T>(max * n * 3));
    for shape in shapes {
        for &count in &COUNTS {
            let members = shape.members();
            let tn = members.len();
            let in_team = shape.handle != TEAM_INVALID;
            let at = format!("{ty} on {} ({tn} PEs), count {count}", shape.name);
            if in_team {
                let ti = team::my_pe(shape.handle) as usize;
                let sentinel = T::val(99, 0);
                // broadcast from a root that moves with the count; the root's dest receives it too.
                let root = count % tn;
                fill(&src, |i| T::val(me, i))?;
                fill(&dst, |_| sentinel)?;
                ok!(collectives::broadcast::broadcast(
                    shape.handle,
                    T::DTYPE,
                    dst.addr(),
                    src.addr(),
                    count,
                    root as i32
                ));
                let got = ok!(dst.to_vec());
                for i in 0..count {
                    check!(got[i] == T::val(members[root], i), "{at}: broadcast[{i}] = {:?}", got[i]);
                }
                check!(got[count] == sentinel, "{at}: broadcast wrote past its count");
                // collect: member k contributes (k + count) % 4 elements (zero included).
                let mine = (ti + count) % 4;
                fill(&dst, |_| sentinel)?;
                ok!(collectives::collect::collect(shape.handle, T::DTYPE, dst.addr(), src.addr(), mine));
                let got = ok!(dst.to_vec());
                let mut k = 0;
                for (t, &pe) in members.iter().enumerate() {
                    for i in 0..(t + count) % 4 {
                        check!(got[k] == T::val(pe, i), "{at}: collect[{k}] (member {t}, element {i}) = {:?}", got[k]);
                        k += 1;
                    }
                }
                check!(got[k] == sentinel, "{at}: collect wrote past the total {k}");
                // fcollect (typed form)
                fill(&dst, |_| sentinel)?;
                ok!(sh.fcollect(shape.handle, &dst, &src, count));
                let got = ok!(dst.to_vec());
                for (t, &pe) in members.iter().enumerate() {
                    for i in 0..count {
                        check!(got[t * count + i] == T::val(pe, i), "{at}: fcollect[{t}][{i}]");
                    }
                }
                check!(got[tn * count] == sentinel, "{at}: fcollect wrote past its end");
                // alltoall (typed): block j of member t's source is T::val(pe_t, j*count + i).
                fill(&dst, |_| sentinel)?;
                ok!(sh.alltoall(shape.handle, &dst, &src, count));
                let got = ok!(dst.to_vec());
                for (t, &pe) in members.iter().enumerate() {
                    for i in 0..count {
                        check!(got[t * count + i] == T::val(pe, ti * count + i), "{at}: alltoall[{t}][{i}]");
                    }
                }
                check!(got[tn * count] == sentinel, "{at}: alltoall wrote past its end");
                // alltoalls with dst stride 2, src stride 3 (small counts: element-wise gets).
                let sc = count.min(7);
                fill(&dst, |_| sentinel)?;
                ok!(sh.alltoalls(shape.handle, &dst, &src, 2, 3, sc));
                let got = ok!(dst.to_vec());
                for (t, &pe) in members.iter().enumerate() {
                    for i in 0..sc {
                        let want = T::val(pe, (ti * sc + i) * 3);
                        check!(got[(t * sc + i) * 2] == want, "{at}: alltoalls[{t}][{i}]");
                    }
                }
                if sc > 0 {
                    check!(got[1] == sentinel, "{at}: alltoalls wrote between strides");
                }
                // reductions: every operator; undefined ones fail with INVALID_PARAM on every member.
                for op in OPS {
                    fill(&dst, |_| sentinel)?;
                    let r = collectives::reduce::reduce(shape.handle, op, T::DTYPE, dst.addr(), src.addr(), count);
                    let want: Option<Vec<T>> = (0..count)
                        .map(|i| {
                            members
                                .iter()
                                .skip(1)
                                .try_fold(T::val(members[0], i), |a, &pe| T::reference(op, a, T::val(pe, i)))
                        })
                        .collect();
                    let undefined = T::reference(op, T::val(0, 0), T::val(0, 0)).is_none();
                    if undefined {
                        check!(matches!(&r, Err(e) if e.code() == -1), "{at}: {op:?} on {ty} gave {r:?}");
                        check!(ok!(dst.to_vec())[0] == sentinel, "{at}: a refused reduction wrote");
                        continue;
                    }
                    ok!(r);
                    let got = ok!(dst.to_vec());
                    let want = want.expect("defined");
                    for i in 0..count {
                        check!(got[i] == want[i], "{at}: {op:?}[{i}] = {:?}, want {:?}", got[i], want[i]);
                    }
                    check!(got[count] == sentinel, "{at}: {op:?} wrote past its count");
                }
                // In place (dest == source): sum of every member's values.
                if T::reference(ReduceOp::Sum, T::val(0, 0), T::val(0, 0)).is_some() {
                    fill(&src, |i| T::val(me, i))?;
                    ok!(sh.sum_reduce(shape.handle, &src, &src));
                    let got = ok!(src.to_vec());
                    for i in 0..count.max(1).min(src.len()) {
                        let want = members
                            .iter()
                            .skip(1)
                            .try_fold(T::val(members[0], i), |a, &pe| T::reference(ReduceOp::Sum, a, T::val(pe, i)))
                            .unwrap();
                        check!(got[i] == want, "{at}: in-place sum[{i}] = {:?}, want {want:?}", got[i]);
                    }
                }
                ok!(collectives::team_sync(shape.handle));
            }
            ok!(sh.barrier_all());
        }
    }
    ok!(src.free());
    ok!(dst.free());
    Ok(())
}

fn coll_bad_inputs() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let a = ok!(sh.alloc_zeroed::<i32>(64));
    let b = ok!(sh.alloc_zeroed::<i32>(64));
    ok!(a.write_local(0, &[7; 64]));
    ok!(b.write_local(0, &[-1; 64]));
    ok!(sh.barrier_all());
    let untouched = |what: &str| -> Result<(), String> {
        check!(ok!(b.to_vec()) == vec![-1; 64], "{what}: the refused call wrote dest");
        Ok(())
    };
    use collectives::broadcast::broadcast;
    use collectives::reduce::reduce;
    let last = n - 1;
    // A one-node team broadcast is posted (the root does not wait for the members): a member whose count
    // differs from the root's fails with INVALID_VALUE and writes nothing; the root and the members that agree
    // with it get the data (with one PE, nothing can differ).
    let got_broadcast = |what: &str| -> Result<(), String> {
        let got = ok!(b.to_vec());
        check!(got[..4] == [7; 4] && got[4..].iter().all(|&v| v == -1), "{what}: dest = {:?}", &got[..8]);
        ok!(b.write_local(0, &[-1; 4]));
        Ok(())
    };
    // Across nodes (or on an engine that does not map the peers) the members still agree first: every member
    // fails alike.
    let posted = (0..n).all(|pe| matches!(shmem::api::ptr(a.addr(), pe as i64), Ok(Some(_))));
    let count = if me == last { 3 } else { 4 };
    let r = broadcast(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), count, 0);
    if n > 1 {
        if !posted {
            code_is(r, -2, "broadcast with different counts")?;
            untouched("different counts")?;
        } else if me == last {
            code_is(r, -2, "broadcast with another count than the root's")?;
            untouched("different counts")?;
        } else {
            ok!(r);
            got_broadcast("a member agreeing with the root")?;
        }
        // Different types of the same size.
        let dt = if me == last { DataType::F32 } else { DataType::I32 };
        code_is(reduce(TEAM_WORLD, ReduceOp::Sum, dt, b.addr(), a.addr(), 4), -2, "sum of int vs float")?;
        untouched("different types")?;
        // Different roots: the last PE names PE 1. With two PEs both are roots and serve themselves; with more,
        // PE 1 makes the call as a member of PE 0's broadcast, and the last PE fails (INVALID_VALUE, nothing
        // written) instead of waiting for a post that never comes.
        let root = if me == last { 1 } else { 0 };
        let r = broadcast(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), 4, root);
        if !posted {
            code_is(r, -2, "different roots")?;
        } else if me == last && n > 2 {
            code_is(r, -2, "a root that is not one")?;
            untouched("different roots")?;
        } else {
            ok!(r);
            got_broadcast("different roots")?;
        }
        // Different operators.
        let op = if me == last { ReduceOp::Max } else { ReduceOp::Min };
        code_is(reduce(TEAM_WORLD, op, DataType::I32, b.addr(), a.addr(), 4), -2, "different operators")?;
        // Different collectives.
        let r = if me == last {
            collectives::collect::fcollect(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), 1)
        } else {
            collectives::alltoall::alltoall(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), 1)
        };
        code_is(r, -2, "fcollect against alltoall")?;
        untouched("different collectives")?;
    } else {
        ok!(r);
    }
    ok!(b.write_local(0, &[-1; 64]));
    ok!(sh.barrier_all());
    // One PE's root outside the team: INVALID_PARAM on that PE (a local check; the posted broadcast's root does
    // not wait for the members), the others get the data.
    let root = if me == last { n as i32 } else { 0 };
    let r = broadcast(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), 4, root);
    if me == last || !posted {
        code_is(r, -1, "root outside the team")?;
    } else {
        ok!(r);
        got_broadcast("root outside the team on another PE")?;
    }
    // Every member's root outside the team: INVALID_PARAM on every member.
    code_is(broadcast(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), 4, -1), -1, "root -1 everywhere")?;
    // The root's source outside the heap: it fails with INVALID_PARAM and so does every member naming it.
    let source = if me == 0 { 16 } else { a.addr() };
    code_is(broadcast(TEAM_WORLD, DataType::I32, b.addr(), source, 4, 0), -1, "the root's source outside the heap")?;
    untouched("bad root source")?;
    // A member's own dest outside the heap: INVALID_PARAM on it; on one node only there (the root does not wait
    // to hear about it), across nodes on every member.
    let dest = if me == last { 16 } else { b.addr() };
    let r = broadcast(TEAM_WORLD, DataType::I32, dest, a.addr(), 4, 0);
    if me == last || !posted || n == 1 {
        code_is(r, -1, "a member's dest outside the heap")?;
        untouched("a member's bad dest")?;
    } else {
        ok!(r);
        got_broadcast("beside a member's bad dest")?;
    }
    // One PE's dest outside the heap: INVALID_PARAM everywhere.
    let dest = if me == last { 16 } else { b.addr() };
    code_is(reduce(TEAM_WORLD, ReduceOp::Sum, DataType::I32, dest, a.addr(), 4), -1, "dest outside the heap")?;
    // One PE's dest too small for the collected total: INVALID_PARAM everywhere.
    let tiny = ok!(sh.alloc_zeroed::<i32>(1));
    let roomy = ok!(sh.alloc_zeroed::<i32>(64 * n as usize));
    let small = if me == last { &tiny } else { &roomy };
    code_is(sh.collect(TEAM_WORLD, small, &a), -1, "collect into a too small dest")?;
    check!(ok!(roomy.to_vec()).iter().all(|&v| v == 0), "a refused collect wrote");
    // Overlapping (not identical) dest and source.
    let dest = if me == last { a.addr() + 4 } else { b.addr() };
    code_is(reduce(TEAM_WORLD, ReduceOp::Sum, DataType::I32, dest, a.addr(), 4), -1, "overlapping dest/source")?;
    // dest overlapping source for the gathering collectives (only the last PE's call overlaps).
    let dest = if me == last { a.addr() + 4 } else { b.addr() };
    code_is(collectives::collect::fcollect(TEAM_WORLD, DataType::I32, dest, a.addr(), 2), -1, "fcollect overlap")?;
    code_is(collectives::collect::collect(TEAM_WORLD, DataType::I32, dest, a.addr(), 2), -1, "collect overlap")?;
    code_is(collectives::alltoall::alltoall(TEAM_WORLD, DataType::I32, dest, a.addr(), 2), -1, "alltoall overlap")?;
    // Operators a type lacks, and the untyped "bytes" for a reduction.
    code_is(reduce(TEAM_WORLD, ReduceOp::Xor, DataType::F64, b.addr(), a.addr(), 2), -1, "xor of doubles")?;
    code_is(reduce(TEAM_WORLD, ReduceOp::Max, DataType::C32, b.addr(), a.addr(), 2), -1, "max of complex")?;
    code_is(reduce(TEAM_WORLD, ReduceOp::Sum, DataType::Bytes, b.addr(), a.addr(), 2), -1, "sum of bytes")?;
    // Strides below 1.
    code_is(
        collectives::alltoall::alltoalls(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), 0, 1, 1),
        -1,
        "alltoalls stride 0",
    )?;
    // A typed dst shorter than the source.
    let short = if me == last { &tiny } else { &b };
    code_is(sh.sum_reduce(TEAM_WORLD, short, &a), -1, "a short typed dst on one PE")?;
    untouched("bad arguments")?;
    // A destroyed team's handle: INVALID_PARAM (not collective: the team is gone).
    let t = ok!(team::split_strided(TEAM_WORLD, 0, 1, n as i32));
    ok!(team::destroy(t));
    code_is(sh.broadcast(t, &b, &a, 0), -1, "destroyed team")?;
    // Zero elements is valid and moves nothing.
    ok!(broadcast(TEAM_WORLD, DataType::I32, b.addr(), a.addr(), 0, 0));
    ok!(reduce(TEAM_WORLD, ReduceOp::Sum, DataType::I32, b.addr(), a.addr(), 0));
    untouched("zero elements")?;
    // After all that, the collectives still agree and compute.
    ok!(sh.sum_reduce(TEAM_WORLD, &b, &a));
    check!(ok!(b.to_vec()) == vec![7 * n as i32; 64], "sum after the refused calls");
    ok!(roomy.free());
    ok!(tiny.free());
    ok!(sh.finalize());
    Ok(())
}

fn coll_active_set() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe() as i32, sh.n_pes() as i32);
    let psync = ok!(sh.alloc_zeroed::<i64>(active_set::SYNC_SIZE));
    let pwrk = ok!(sh.alloc_zeroed::<i64>(active_set::REDUCE_MIN_WRKDATA_SIZE));
    let src = ok!(sh.alloc_zeroed::<u64>(64));
    let dst = ok!(sh.alloc_zeroed::<u64>(64));
    ok!(src.write_local(0, &(0..64).map(|i| 1000 * me as u64 + i).collect::<Vec<_>>()));
    // The active set: every second PE from 0 (all PEs when n == 1).
    let (start, log, size) = if n == 1 { (0, 0, 1) } else { (0, 1, (n + 1) / 2) };
    let members: Vec<i32> = (0..size).map(|i| start + (i << log)).collect();
    let inside = members.contains(&me);
    ok!(sh.barrier_all());
    if inside {
        let idx = members.iter().position(|&p| p == me).unwrap();
        for round in 0..3u64 {
            // broadcast64 from the set's last member: the root's dest stays as it was (1.4 semantics).
            ok!(dst.write_local(0, &[u64::MAX; 64]));
            let root = size - 1;
            ok!(active_set::broadcast64(dst.addr(), src.addr(), 5, root, start, log, size, psync.addr()));
            let got = ok!(dst.to_vec());
            for (i, &g) in got.iter().enumerate().take(5) {
                let want = if idx as i32 == root { u64::MAX } else { 1000 * members[root as usize] as u64 + i as u64 };
                check!(g == want, "round {round}: broadcast64[{i}] = {g}, want {want}");
            }
            // fcollect64 of 2 and collect32 of (idx+1) 32-bit words.
            ok!(active_set::fcollect64(dst.addr(), src.addr(), 2, start, log, size, psync.addr()));
            let got = ok!(dst.to_vec());
            for (t, &pe) in members.iter().enumerate() {
                check!(got[2 * t..2 * t + 2] == [1000 * pe as u64, 1000 * pe as u64 + 1], "fcollect64 block {t}");
            }
            ok!(active_set::collect32(dst.addr(), src.addr(), idx + 1, start, log, size, psync.addr()));
            let words: Vec<u32> = ok!(dst.to_vec()).iter().flat_map(|w| [*w as u32, (*w >> 32) as u32]).collect();
            let mut k = 0;
            for (t, &pe) in members.iter().enumerate() {
                let src_words: Vec<u32> =
                    (0..64u64).map(|i| 1000 * pe as u64 + i).flat_map(|w| [w as u32, (w >> 32) as u32]).collect();
                for (i, w) in src_words.iter().enumerate().take(t + 1) {
                    check!(words[k] == *w, "collect32 member {t} word {i}");
                    k += 1;
                }
            }
            // alltoall64 of 1.
            ok!(active_set::alltoall64(dst.addr(), src.addr(), 1, start, log, size, psync.addr()));
            let got = ok!(dst.to_vec());
            for (t, &pe) in members.iter().enumerate() {
                check!(got[t] == 1000 * pe as u64 + idx as u64, "alltoall64 block {t}");
            }
            // long sum_to_all in place, then max_to_all.
            ok!(active_set::reduce_to_all(
                ReduceOp::Sum,
                DataType::I64,
                dst.addr(),
                src.addr(),
                3,
                start,
                log,
                size,
                pwrk.addr(),
                psync.addr()
            ));
            let got = ok!(dst.to_vec());
            for (i, &g) in got.iter().enumerate().take(3) {
                let want: u64 = members.iter().map(|&p| 1000 * p as u64 + i as u64).sum();
                check!(g == want, "sum_to_all[{i}] = {g}, want {want}");
            }
            // pSync is back to SHMEM_SYNC_VALUE after every call, except the first member's arrival counter,
            // which members that already returned may be using for the next call.
            let first = idx == 0;
            let words = ok!(psync.to_vec());
            check!(
                words.iter().enumerate().all(|(w, &v)| (first && w == 0) || v == active_set::SYNC_VALUE),
                "pSync restored: {words:?}"
            );
        }
    } else {
        // A PE outside the set has nothing to meet: INVALID_PARAM at once.
        code_is(
            active_set::broadcast64(dst.addr(), src.addr(), 5, 0, start, log, size, psync.addr()),
            -1,
            "PE outside the active set",
        )?;
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// A reduction large enough for several 1 MiB blocks per member, with a count that does not divide evenly.
/// The one-node large reduction (sources folded in place, blocks pushed as they are folded) keeps the team order
/// of a float sum exactly, in place and not, across several blocks: values where `1e16 + 1` rounds away make any
/// other order give another result.
fn coll_large_float_order() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe() as usize, sh.n_pes() as usize);
    let count = 300_001; // 2.4 MiB: the large path, ten 256 KiB blocks split over the members, an odd tail
    let v = |pe: usize, i: usize| -> f64 {
        let big = 1e16 * (1 + i % 3) as f64;
        match pe % 4 {
            0 => big,
            2 => -big,
            _ => 1.0 + (i % 5) as f64,
        }
    };
    let want: Vec<f64> = (0..count).map(|i| (1..n).fold(v(0, i), |acc, pe| acc + v(pe, i))).collect();
    let src = ok!(sh.alloc_zeroed::<f64>(count));
    let dst = ok!(sh.alloc_zeroed::<f64>(count));
    ok!(src.write_local(0, &(0..count).map(|i| v(me, i)).collect::<Vec<_>>()));
    ok!(sh.sum_reduce(TEAM_WORLD, &dst, &src));
    let got = ok!(dst.to_vec());
    let bad = (0..count).find(|&i| got[i].to_bits() != want[i].to_bits());
    check!(
        bad.is_none(),
        "sum[{0}] = {1} instead of {2}",
        bad.unwrap_or(0),
        got[bad.unwrap_or(0)],
        want[bad.unwrap_or(0)]
    );
    ok!(sh.sum_reduce(TEAM_WORLD, &src, &src));
    let got = ok!(src.to_vec());
    let bad = (0..count).find(|&i| got[i].to_bits() != want[i].to_bits());
    check!(
        bad.is_none(),
        "in-place sum[{0}] = {1} instead of {2}",
        bad.unwrap_or(0),
        got[bad.unwrap_or(0)],
        want[bad.unwrap_or(0)]
    );
    ok!(sh.finalize());
    Ok(())
}

fn coll_large_reduce() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe() as u64, sh.n_pes() as u64);
    let count = 3 * (1 << 20) / 8 * 3 + 5;
    let src = ok!(sh.alloc_zeroed::<u64>(count));
    let dst = ok!(sh.alloc_zeroed::<u64>(count));
    ok!(src.write_local(0, &(0..count as u64).map(|i| i * (me + 1)).collect::<Vec<_>>()));
    ok!(sh.sum_reduce(TEAM_WORLD, &dst, &src));
    let got = ok!(dst.to_vec());
    let factor = n * (n + 1) / 2;
    for (i, &g) in got.iter().enumerate() {
        check!(g == i as u64 * factor, "large sum[{i}] = {g}");
    }
    ok!(sh.max_reduce(TEAM_WORLD, &src, &src));
    let got = ok!(src.to_vec());
    check!(got.iter().enumerate().all(|(i, &g)| g == i as u64 * n), "large in-place max");
    ok!(sh.finalize());
    Ok(())
}

/// Node layouts × across-node algorithm policies for [`coll_net_exact`]: (trial suffix, PEs, environment). Under
/// `auto` the thresholds are lowered (direct below 1 KiB of result, the ring from 64 KiB), so that the scenario's
/// counts take all three; `doubling` also takes the tiny reductions; `direct` is the one-round pull every
/// algorithm must agree with.
/// (trial suffix, PEs, environment) of one across-node run.
type NetTrial = (&'static str, u32, &'static [(&'static str, &'static str)]);
const NET_TRIALS: &[NetTrial] = &[
    (
        "3pe_tcp_3x1",
        3,
        &[("SHMEM_DATA_OP_ENGINE", "TCP"), (crate::runner::PES_PER_NODE_VAR, "1"), (NET, "1K"), (RING, "64K")],
    ),
    ("4pe_mte_tcp_2x2", 4, &[(ENGINES, "MTE|TCP"), (crate::runner::PES_PER_NODE_VAR, "2"), (NET, "1K"), (RING, "64K")]),
    ("8pe_mte_tcp_4x2", 8, &[(ENGINES, "MTE|TCP"), (crate::runner::PES_PER_NODE_VAR, "2"), (NET, "1K"), (RING, "64K")]),
    ("5pe_tcp_5x1_ring", 5, &[(ENGINES, "TCP"), (crate::runner::PES_PER_NODE_VAR, "1"), (ALGO, "ring")]),
    (
        "6pe_mte_tcp_3x2_doubling",
        6,
        &[(ENGINES, "MTE|TCP"), (crate::runner::PES_PER_NODE_VAR, "2"), (ALGO, "doubling")],
    ),
    ("4pe_tcp_4x1_direct", 4, &[(ENGINES, "TCP"), (crate::runner::PES_PER_NODE_VAR, "1"), (ALGO, "direct")]),
];
const ENGINES: &str = "SHMEM_DATA_OP_ENGINE";
const ALGO: &str = "SHMEM_COLL_NET_ALGO";
const RING: &str = "SHMEM_COLL_RING_MIN";
const NET: &str = "SHMEM_COLL_NET_MIN";

/// The across-node runs of [`coll_net_exact`] (one per layout and policy).
pub fn special_trials() -> Vec<libtest_mimic::Trial> {
    NET_TRIALS
        .iter()
        .map(|&(suffix, n, env)| {
            libtest_mimic::Trial::test(format!("coll_net_exact_{suffix}"), move || {
                let res = crate::runner::run(n, "coll_net_exact", env, std::time::Duration::from_secs(240))?;
                Ok(crate::runner::every_pe_ok(&res)?)
            })
        })
        .collect()
}

/// A float value per (PE, index) whose team-order sum differs from the sum in any other order: `1e16 + 1`
/// rounds away, so the small terms survive only where the big ones cancel first.
fn order_val(pe: u32, i: usize) -> f64 {
    let big = 1e16 * (1 + i % 3) as f64;
    match (pe as usize + i) % 4 {
        0 => big,
        2 => -big,
        _ => 1.0 + (i % 5) as f64,
    }
}

/// Exact results across nodes for the algorithms chosen there (recursive doubling, ring, the tiny reduction,
/// the direct pulls): for each team shape that spans nodes (world, the odd PEs, 2-D columns) and each count
/// (zero, tiny, odd, past the tiny scratch, the large reduction, past the lowered ring threshold), float sums
/// bit-identical to the team-order fold (which the one-node run of this scenario checks too), in place and
/// not; a complex product, integer sum and xor against references; fcollect of odd byte counts and collect
/// with members contributing nothing; the sentinel after the result untouched.
fn coll_net_exact() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes() as i32;
    let me = sh.my_pe();
    let mut shapes = vec![Shape { name: "world".into(), handle: TEAM_WORLD }];
    if n >= 2 {
        shapes.push(Shape { name: "odd PEs".into(), handle: ok!(team::split_strided(TEAM_WORLD, 1, 2, n / 2)) });
        let (x, y) = ok!(team::split_2d(TEAM_WORLD, 2));
        ok!(team::destroy(x));
        shapes.push(Shape { name: "2-D column".into(), handle: y });
    }
    const COUNTS: [usize; 7] = [0, 1, 3, 7, 100, 1029, 20_011];
    let max = COUNTS[COUNTS.len() - 1];
    let (fs, fd) = (ok!(sh.alloc_zeroed::<f64>(max + 1)), ok!(sh.alloc_zeroed::<f64>(max + 1)));
    let (cs, cd) = (ok!(sh.alloc_zeroed::<Complex64>(max + 1)), ok!(sh.alloc_zeroed::<Complex64>(max + 1)));
    let (is, id) = (ok!(sh.alloc_zeroed::<i64>(max + 1)), ok!(sh.alloc_zeroed::<i64>(max + 1)));
    let (bs, bd) = (ok!(sh.alloc_zeroed::<u8>(max)), ok!(sh.alloc_zeroed::<u8>(max * n as usize + 1)));
    for shape in &shapes {
        if shape.handle == TEAM_INVALID {
            ok!(sh.barrier_all());
            continue;
        }
        let members = shape.members();
        let tn = members.len();
        let ti = team::my_pe(shape.handle) as usize;
        for count in COUNTS {
            let at = format!("{} ({tn} PEs), count {count}", shape.name);
            let fsum = |d: &SymVec<f64>| {
                collectives::reduce::reduce(shape.handle, ReduceOp::Sum, DataType::F64, d.addr(), fs.addr(), count)
            };
            // f64 sum, bits of the team-order fold; then in place.
            let want: Vec<u64> = (0..count)
                .map(|i| members.iter().skip(1).fold(order_val(members[0], i), |a, &p| a + order_val(p, i)).to_bits())
                .collect();
            ok!(fs.write_local(0, &(0..count).map(|i| order_val(me, i)).collect::<Vec<_>>()));
            ok!(fd.write_local(0, &vec![-7.0; count + 1]));
            ok!(fsum(&fd));
            let got = ok!(fd.to_vec());
            let bad = (0..count).find(|&i| got[i].to_bits() != want[i]);
            check!(bad.is_none(), "{at}: f64 sum[{0:?}] = {1}", bad, bad.map_or(0.0, |i| got[i]));
            check!(got[count] == -7.0, "{at}: f64 sum wrote past its count");
            ok!(fsum(&fs));
            let got = ok!(fs.to_vec());
            let bad = (0..count).find(|&i| got[i].to_bits() != want[i]);
            check!(bad.is_none(), "{at}: in-place f64 sum[{0:?}] = {1}", bad, bad.map_or(0.0, |i| got[i]));
            // Complex product (non-associative in floats) in team order.
            let cv = |p: u32, i: usize| {
                Complex64::new(order_val(p, i) * 1e-16 + 0.3, ((p as usize * 3 + i) % 5) as f64 - 2.1)
            };
            let cmul =
                |a: Complex64, b: Complex64| Complex64::new(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re);
            ok!(cs.write_local(0, &(0..count).map(|i| cv(me, i)).collect::<Vec<_>>()));
            ok!(cd.write_local(count, &[Complex64::new(-7.0, 0.0)]));
            ok!(collectives::reduce::reduce(shape.handle, ReduceOp::Prod, DataType::C64, cd.addr(), cs.addr(), count));
            let got = ok!(cd.to_vec());
            for i in 0..count {
                let w = members.iter().skip(1).fold(cv(members[0], i), |a, &p| cmul(a, cv(p, i)));
                check!(
                    got[i].re.to_bits() == w.re.to_bits() && got[i].im.to_bits() == w.im.to_bits(),
                    "{at}: c64 prod[{i}] = {:?}, want {w:?}",
                    got[i]
                );
            }
            check!(got[count] == Complex64::new(-7.0, 0.0), "{at}: c64 prod wrote past its count");
            // Integer sum and xor (wrapping).
            let iv = |p: u32, i: usize| {
                (p as i64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15u64 as i64).rotate_left(i as u32 % 64)
            };
            ok!(is.write_local(0, &(0..count).map(|i| iv(me, i)).collect::<Vec<_>>()));
            for op in [ReduceOp::Sum, ReduceOp::Xor] {
                ok!(id.write_local(count, &[-7]));
                ok!(collectives::reduce::reduce(shape.handle, op, DataType::I64, id.addr(), is.addr(), count));
                let got = ok!(id.to_vec());
                for i in 0..count {
                    let w = members.iter().skip(1).fold(iv(members[0], i), |a, &p| match op {
                        ReduceOp::Sum => a.wrapping_add(iv(p, i)),
                        _ => a ^ iv(p, i),
                    });
                    check!(got[i] == w, "{at}: i64 {op:?}[{i}] = {}, want {w}", got[i]);
                }
                check!(got[count] == -7, "{at}: i64 {op:?} wrote past its count");
            }
            // fcollect of `count` bytes per member (odd offsets), then collect with member t giving
            // (t * 3 + count) % 5 bytes (zero for some).
            let bv = |p: u32, i: usize| (p as usize * 31 + i * 7 + 1) as u8;
            ok!(bs.write_local(0, &(0..count.max(5)).map(|i| bv(me, i)).collect::<Vec<_>>()));
            ok!(bd.write_local(0, &vec![0xEE; count * tn + 1]));
            ok!(collectives::collect::fcollectmem(shape.handle, bd.addr(), bs.addr(), count));
            let got = ok!(bd.to_vec());
            for (t, &p) in members.iter().enumerate() {
                let bad = (0..count).find(|&i| got[t * count + i] != bv(p, i));
                check!(bad.is_none(), "{at}: fcollect block {t} byte {bad:?}");
            }
            check!(got[count * tn] == 0xEE, "{at}: fcollect wrote past its end");
            let part = |t: usize| (t * 3 + count) % 5;
            let total: usize = (0..tn).map(part).sum();
            ok!(bd.write_local(0, &vec![0xEE; total + 1]));
            ok!(collectives::collect::collectmem(shape.handle, bd.addr(), bs.addr(), part(ti)));
            let got = ok!(bd.to_vec());
            let mut k = 0;
            for (t, &p) in members.iter().enumerate() {
                for i in 0..part(t) {
                    check!(got[k] == bv(p, i), "{at}: collect[{k}] (member {t}, byte {i}) = {}", got[k]);
                    k += 1;
                }
            }
            check!(got[total] == 0xEE, "{at}: collect wrote past its total {total}");
        }
        ok!(sh.barrier_all());
    }
    for s in shapes.into_iter().skip(1) {
        if s.handle != TEAM_INVALID {
            ok!(team::destroy(s.handle));
        }
    }
    ok!(sh.finalize());
    Ok(())
}
