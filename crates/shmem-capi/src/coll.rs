//! Collectives: the team-based `shmem_TYPENAME_{broadcast,collect,fcollect,alltoall,alltoalls}`, their `*mem`
//! forms, the reductions `shmem_TYPENAME_OP_reduce`, and the deprecated active-set forms (`shmem_broadcast32/64`,
//! ..., `shmem_barrier`, `shmem_sync`, `shmem_TYPENAME_OP_to_all`), over `shmem::collectives`.
//!
//! The team forms return 0 or the `api.md` code (recorded for `shmemx_last_error`); the facade agrees on the
//! arguments first, so a bad argument on one member fails the call on every member before data moves. The
//! active-set forms are `void`: an error ends the job ([`crate::fatal`]).
//!
//! # What the facade does not have, done here
//! - **`long double` reductions**: the facade reduces `long double` as `f64` (its decision), which a C program's
//!   16-byte x87 values are not. Here every member pulls the members' `source` arrays (in team order, between
//!   two meetings of the members) and folds them with the C compiler's `long double` arithmetic
//!   (csrc/longdouble_fold.c), so every member gets the same, full-precision result. Moves of `long double`
//!   (broadcast, collect, alltoall) are 16-byte elements (the facade's 16-byte type).
//! - **`shmem_alltoalls32/64`, `shmem_barrier`, `shmem_sync`** (active sets): the members meet through a
//!   zero-element active-set `fcollect64` on their `pSync` (which checks the set and `pSync` and is a full
//!   barrier of the set); alltoalls pulls its strided blocks between two such meetings.

use crate::fatal::{fatal, record, OrFatal};
use crate::handles::{shmem_team_t, team_id};
use crate::rma::LongDouble;
use crate::statics_coll::{self as sc, Bounce};
use crate::types::{for_each_reduce_to_all_type, for_each_reduce_type, for_each_rma_type};
use core::ffi::{c_int, c_long, c_void};
use shmem::collectives::{self as coll, active_set, DataType, ReduceOp};
use shmem_core::{Error, Result};

/// The representation the members agree on for a C element type (its size is the element size).
pub trait CollElement {
    /// The facade's data type.
    const DT: DataType;
}

macro_rules! coll_elements {
    ($($t:ty => $d:ident),*) => {$(
        impl CollElement for $t {
            const DT: DataType = DataType::$d;
        }
    )*};
}

// `long double` is moved as a 16-byte element (the facade's 16-byte type); it is never reduced by the facade.
coll_elements!(i8 => I8, i16 => I16, i32 => I32, i64 => I64, u8 => U8, u16 => U16, u32 => U32, u64 => U64,
    isize => I64, usize => U64, f32 => F32, f64 => F64, shmem::Complex32 => C32, shmem::Complex64 => C64,
    LongDouble => C64);

/// The C status of a team collective.
fn status(r: Result<()>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => record(&e),
    }
}

/// `a · b · c` bytes, `None` on overflow.
fn bytes(a: usize, b: usize, c: usize) -> Option<usize> {
    a.checked_mul(b)?.checked_mul(c)
}

/// Bytes spanned by `count` elements of `size` bytes at a stride of `stride` elements (`None`: overflow or a
/// stride below 1, which the facade reports).
fn strided(count: usize, stride: isize, size: usize) -> Option<usize> {
    if count == 0 {
        return Some(0);
    }
    let stride = usize::try_from(stride).ok().filter(|&s| s >= 1)?;
    (count - 1).checked_mul(stride)?.checked_add(1)?.checked_mul(size)
}

/// The members of `team` (0 for an invalid team: the facade reports it).
fn team_size(team: i32) -> usize {
    usize::try_from(shmem::team::n_pes(team)).unwrap_or(0)
}

/// Runs a team collective on `dest`/`source`, bounced through the scratch when they are global/static
/// variables (see [`crate::statics_coll`]); a bounce that cannot be made fails the call on every member.
fn team_run(
    team: i32,
    dest: usize,
    dest_len: Option<usize>,
    source: usize,
    src_len: Option<usize>,
    run: impl FnOnce(usize, usize) -> Result<()>,
) -> c_int {
    status(match Bounce::new(dest, dest_len, source, src_len) {
        Ok(b) => {
            let r = run(b.d, b.s);
            b.finish(r, false)
        }
        Err(e) => coll::refuse(team, e), // every member fails, this one with `e`
    })
}

/// The total of every member's `nelems` of a `collect` whose `dest` is a global/static variable or null (then
/// the bounce needs the length of `dest`: a null one is accepted when the total is 0), exchanged through the scratch by `gather(dest, source)` (an fcollect of
/// one 64-bit word per member); `Some(0)` when `dest` is on the heap (not needed).
fn collect_total(
    dest: usize,
    nelems: usize,
    members: usize,
    gather: impl FnOnce(usize, usize) -> Result<()>,
) -> Result<usize> {
    if !crate::statics::contains(dest) && dest != 0 {
        return Ok(0);
    }
    let (to, from, _held) = crate::statics_coll::counts_area(members)?;
    // SAFETY: `from` is an 8-aligned word of the scratch (heap memory of this library).
    unsafe { (from as *mut u64).write(nelems as u64) };
    gather(to, from)?;
    // SAFETY: the fcollect wrote `members` words at `to`.
    let counts = unsafe { std::slice::from_raw_parts(to as *const u64, members) };
    Ok(counts.iter().fold(0u64, |a, &c| a.saturating_add(c)) as usize)
}

/// Checks that every member of a long double reduction passes the same `nreduce` and operator, as the facade's
/// own reductions do: INVALID_VALUE on every member when they differ (the facade cannot see it here, since the
/// long double path meets through zero-element fcollects that carry neither). One word per member,
/// `nreduce << 8 | op`, is gathered through the scratch by `gather(dest, source)` (an fcollect of one 64-bit
/// word): every member reads the same words, so all reach the same verdict before any data moves. Call it
/// before the scratch bounces a static `dest`/`source` (the words use its start). Without a scratch (a heap
/// too small for it, the same on every member) the check is skipped on every member alike.
fn longdouble_agree(
    op: ReduceOp,
    nreduce: usize,
    members: usize,
    gather: impl FnOnce(usize, usize) -> Result<()>,
) -> Result<()> {
    let Ok((to, from, _held)) = sc::counts_area(members) else {
        return Ok(());
    };
    let word = ((nreduce as u64).min(u64::MAX >> 8) << 8) | op as u64;
    // SAFETY: `from` is an 8-aligned word of the scratch (heap memory of this library).
    unsafe { (from as *mut u64).write(word) };
    gather(to, from)?;
    // SAFETY: the fcollect wrote `members` words at `to`.
    let words = unsafe { std::slice::from_raw_parts(to as *const u64, members) };
    if words.iter().all(|&w| w == word) {
        return Ok(());
    }
    let calls: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let op = ReduceOp::from_code((w & 0xff) as u8).map_or("?", |o| o.name());
            format!("member {i}: {op}, nreduce={}", w >> 8)
        })
        .collect();
    Err(Error::InvalidValue(format!(
        "long double reduction differs between members ({}); every member must pass the same operator and \
         nreduce",
        calls.join("; ")
    )))
}

extern "C" {
    /// csrc/longdouble_fold.c: `acc[i] = acc[i] op x[i]` for `i < n` in `long double` (op: ReduceOp code).
    fn shmem_capi_longdouble_fold(op: c_int, acc: *mut LongDouble, x: *const LongDouble, n: usize);
}

/// How the members of a long double reduction meet.
enum Members {
    Team(i32),
    ActiveSet { start: c_int, log_stride: c_int, size: c_int, psync: usize },
}

impl Members {
    /// The world PEs of the members, in team (set) order.
    fn world_pes(&self) -> Result<Vec<i64>> {
        match *self {
            Members::Team(team) => {
                let n = shmem::team::n_pes(team);
                (0..n).map(|i| shmem::team::world_pe(team, i)).collect()
            }
            Members::ActiveSet { start, log_stride, size, .. } => {
                Ok((0..i64::from(size)).map(|i| i64::from(start) + (i << log_stride)).collect())
            }
        }
    }

    /// A full barrier of the members that also checks `dest` and `source` are symmetric addresses (a
    /// zero-element fcollect: every member fails when one passes a bad address); with `err`, every member of
    /// a team fails and this one returns `err`.
    fn meet(&self, dest: usize, source: usize, err: Option<Error>) -> Result<()> {
        match (self, err) {
            (Members::Team(team), None) => coll::collect::fcollect(*team, DataType::C64, dest, source, 0),
            (Members::Team(team), Some(e)) => coll::refuse(*team, e),
            (&Members::ActiveSet { start, log_stride, size, psync }, err) => {
                active_set::fcollect64(dest, source, 0, start, log_stride, size, psync)?;
                err.map_or(Ok(()), Err)
            }
        }
    }
}

/// Checks that the `len` bytes at `addr` (this PE's `what` of a long double reduction) lie in the symmetric
/// heap (any address for no bytes: the RMA accepts it).
fn in_heap(what: &str, addr: usize, len: usize) -> Result<()> {
    let (base, size) = shmem::api::heap_range()?;
    let inside = addr >= base && ((addr - base) as u64).checked_add(len as u64).is_some_and(|end| end <= size);
    if inside || len == 0 {
        return Ok(());
    }
    Err(Error::invalid(format!("{what} {addr:#x} with {len} bytes is not inside the symmetric heap")))
}

/// The long double reduction: every member pulls every member's `nreduce` elements of `source` (after a first
/// meeting: the sources are ready), folds them in member order in C, meets again (nobody reads `source` any
/// more, so `dest` may be `source`), and writes its `dest`.
///
/// # Safety
/// `source` and `dest` are symmetric arrays of `nreduce` elements (checked by the facade's RMA).
unsafe fn longdouble_reduce(
    m: Members,
    op: ReduceOp,
    dest: *mut LongDouble,
    source: *const LongDouble,
    nreduce: usize,
) -> Result<()> {
    let (d, s) = (dest as usize, source as usize);
    m.meet(d, s, None)?; // first: it validates the team or active set that world_pes reads
    let pes = m.world_pes()?;
    // The length and the heap ranges before allocating anything: a count no PE could hold fails the call
    // instead of aborting the allocation. The verdict is the same on every member (the same nreduce, agreed,
    // and the same symmetric addresses in heaps of the same size).
    let len = nreduce
        .checked_mul(size_of::<LongDouble>())
        .ok_or_else(|| Error::invalid(format!("{nreduce} long doubles overflow")))
        .and_then(|len| in_heap("source", s, len).and_then(|_| in_heap("dest", d, len)).map(|_| len));
    let mut acc = Vec::new();
    let pulled = len.and_then(|len| {
        acc = vec![LongDouble([0; 16]); nreduce];
        let mut x = vec![LongDouble([0; 16]); nreduce];
        for (i, &pe) in pes.iter().enumerate() {
            let buf = if i == 0 { &mut acc } else { &mut x };
            // SAFETY: buf holds nreduce elements = len bytes; getmem is blocking.
            unsafe { shmem::api::getmem(buf.as_mut_ptr().cast(), s, len, pe)? };
            if i > 0 {
                // SAFETY: both buffers hold nreduce initialized elements.
                unsafe { shmem_capi_longdouble_fold(op as c_int, acc.as_mut_ptr(), x.as_ptr(), nreduce) };
            }
        }
        Ok(len)
    });
    let (len, err) = match pulled {
        Ok(len) => (len, None),
        Err(e) => (0, Some(e)),
    };
    m.meet(d, s, err)?;
    let me = shmem::api::my_pe()?;
    // SAFETY: acc holds len bytes; a put to this PE checks that dest..dest+len is in the symmetric heap.
    unsafe { shmem::api::putmem(d, acc.as_ptr().cast(), len, i64::from(me)) }
}

/// A team broadcast of `nelems` elements of `dt` (`size` bytes each), bounced when static.
fn broadcast_any(
    team: shmem_team_t,
    dt: DataType,
    size: usize,
    dest: usize,
    source: usize,
    nelems: usize,
    root: c_int,
) -> c_int {
    let (t, len) = (team_id(team), nelems.checked_mul(size));
    // A bounce that cannot be made refuses the call as a broadcast (on one node it is posted: the members do not
    // all meet, so a generic refusal would wait for a barrier nobody else enters).
    status(match Bounce::new(dest, len, source, len) {
        Ok(b) => {
            let r = coll::broadcast::broadcast(t, dt, b.d, b.s, nelems, root);
            b.finish(r, false)
        }
        Err(e) => coll::broadcast::refuse(t, dt, nelems, root, e),
    })
}

/// A team collect (`nelems` may differ per member), bounced when static.
fn collect_any(team: shmem_team_t, dt: DataType, size: usize, dest: usize, source: usize, nelems: usize) -> c_int {
    let t = team_id(team);
    let total =
        collect_total(dest, nelems, team_size(t), |to, from| coll::collect::fcollect(t, DataType::U64, to, from, 1));
    let total = match total {
        Ok(x) => x,
        Err(e) => return status(Err(e)),
    };
    let (dl, sl) = (total.checked_mul(size), nelems.checked_mul(size));
    team_run(t, dest, dl, source, sl, |d, s| coll::collect::collect(t, dt, d, s, nelems))
}

/// A team fcollect, bounced when static.
fn fcollect_any(team: shmem_team_t, dt: DataType, size: usize, dest: usize, source: usize, nelems: usize) -> c_int {
    let t = team_id(team);
    let (dl, sl) = (bytes(nelems, size, team_size(t)), nelems.checked_mul(size));
    team_run(t, dest, dl, source, sl, |d, s| coll::collect::fcollect(t, dt, d, s, nelems))
}

/// A team alltoall, bounced when static.
fn alltoall_any(team: shmem_team_t, dt: DataType, size: usize, dest: usize, source: usize, nelems: usize) -> c_int {
    let t = team_id(team);
    let len = bytes(nelems, size, team_size(t));
    team_run(t, dest, len, source, len, |d, s| coll::alltoall::alltoall(t, dt, d, s, nelems))
}

/// A team alltoalls, bounced when static (the strided extents of `dest` and `source`).
#[allow(clippy::too_many_arguments)]
fn alltoalls_any(
    team: shmem_team_t,
    dt: DataType,
    size: usize,
    dest: usize,
    source: usize,
    dst: isize,
    sst: isize,
    nelems: usize,
) -> c_int {
    let t = team_id(team);
    let count = nelems.saturating_mul(team_size(t));
    let (dl, sl) = (strided(count, dst, size), strided(count, sst, size));
    team_run(t, dest, dl, source, sl, |d, s| coll::alltoall::alltoalls(t, dt, d, s, dst, sst, nelems))
}

/// The typed team collectives of one type.
macro_rules! typed_team {
    ($name:ident, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_broadcast`: `source` on team PE `PE_root` into \
`dest` on every member.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _broadcast>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize, pe_root: c_int) -> c_int {
                broadcast_any(team, <$t as CollElement>::DT, size_of::<$t>(), dest as usize, source as usize,
                    nelems, pe_root)
            }
            #[doc = concat!("`shmem_", stringify!($name), "_collect`: every member's `nelems` (may differ), \
concatenated in team order.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _collect>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize) -> c_int {
                collect_any(team, <$t as CollElement>::DT, size_of::<$t>(), dest as usize, source as usize, nelems)
            }
            #[doc = concat!("`shmem_", stringify!($name), "_fcollect`: collect with the same `nelems` on every \
member.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _fcollect>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize) -> c_int {
                fcollect_any(team, <$t as CollElement>::DT, size_of::<$t>(), dest as usize, source as usize, nelems)
            }
            #[doc = concat!("`shmem_", stringify!($name), "_alltoall`: block `j` of `source` to member `j`.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _alltoall>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize) -> c_int {
                alltoall_any(team, <$t as CollElement>::DT, size_of::<$t>(), dest as usize, source as usize, nelems)
            }
            #[doc = concat!("`shmem_", stringify!($name), "_alltoalls`: alltoall with element strides `dst`, \
`sst`.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _alltoalls>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                dst: isize, sst: isize, nelems: usize) -> c_int {
                alltoalls_any(team, <$t as CollElement>::DT, size_of::<$t>(), dest as usize, source as usize, dst,
                    sst, nelems)
            }
        }
    };
}
for_each_rma_type!(typed_team);

/// `shmem_broadcastmem`: `nelems` bytes from team PE `PE_root` to every member.
#[no_mangle]
pub extern "C" fn shmem_broadcastmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
    pe_root: c_int,
) -> c_int {
    broadcast_any(team, DataType::Bytes, 1, dest as usize, source as usize, nelems, pe_root)
}

/// `shmem_collectmem`: every member's `nelems` bytes (may differ) concatenated in team order.
#[no_mangle]
pub extern "C" fn shmem_collectmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
) -> c_int {
    collect_any(team, DataType::Bytes, 1, dest as usize, source as usize, nelems)
}

/// `shmem_fcollectmem`: every member's `nelems` bytes concatenated in team order.
#[no_mangle]
pub extern "C" fn shmem_fcollectmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
) -> c_int {
    fcollect_any(team, DataType::Bytes, 1, dest as usize, source as usize, nelems)
}

/// `shmem_alltoallmem`: blocks of `nelems` bytes between all members.
#[no_mangle]
pub extern "C" fn shmem_alltoallmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
) -> c_int {
    alltoall_any(team, DataType::Bytes, 1, dest as usize, source as usize, nelems)
}

/// `shmem_alltoallsmem`: alltoallmem with byte strides `dst`, `sst`.
#[no_mangle]
pub extern "C" fn shmem_alltoallsmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    dst: isize,
    sst: isize,
    nelems: usize,
) -> c_int {
    alltoalls_any(team, DataType::Bytes, 1, dest as usize, source as usize, dst, sst, nelems)
}

/// One team reduction `shmem_TYPENAME_OP_reduce` (long double: [`longdouble_reduce`]).
macro_rules! typed_reduce {
    ($op:ident, longdouble, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_longdouble_", stringify!($op), "_reduce` (folded in C `long double`).")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_longdouble_ $op _reduce>](team: shmem_team_t, dest: *mut $t,
                source: *const $t, nreduce: usize) -> c_int {
                let (t, len) = (team_id(team), nreduce.checked_mul(size_of::<$t>()));
                let op = ReduceOp::[<$op:camel>];
                let agreed = longdouble_agree(op, nreduce, team_size(t), |to, from| {
                    coll::collect::fcollect(t, DataType::U64, to, from, 1)
                });
                if let Err(e) = agreed {
                    return status(Err(e));
                }
                team_run(t, dest as usize, len, source as usize, len, |d, s| {
                    // SAFETY: the spec's contract (symmetric arrays of nreduce elements), checked by the RMA;
                    // a bounced array is the scratch, which has room for them.
                    unsafe { longdouble_reduce(Members::Team(t), op, d as *mut $t, s as *const $t, nreduce) }
                })
            }
        }
    };
    ($op:ident, $name:ident, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_", stringify!($op), "_reduce`.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _ $op _reduce>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nreduce: usize) -> c_int {
                let (t, len) = (team_id(team), nreduce.checked_mul(size_of::<$t>()));
                team_run(t, dest as usize, len, source as usize, len, |d, s| {
                    coll::reduce::reduce(t, ReduceOp::[<$op:camel>], <$t as CollElement>::DT, d, s, nreduce)
                })
            }
        }
    };
}
for_each_reduce_type!(typed_reduce);

/// `nreduce` of a `*_to_all` as a count, or [`fatal`] for a negative one.
fn count(func: &str, nreduce: c_int) -> usize {
    usize::try_from(nreduce).unwrap_or_else(|_| fatal(func, &Error::invalid(format!("nreduce {nreduce} is negative"))))
}

/// One active-set reduction `shmem_TYPENAME_OP_to_all`.
macro_rules! typed_to_all {
    ($op:ident, longdouble, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_longdouble_", stringify!($op), "_to_all` (deprecated; folded in C \
`long double`).")]
            #[no_mangle]
            #[allow(clippy::too_many_arguments)]
            pub unsafe extern "C" fn [<shmem_longdouble_ $op _to_all>](dest: *mut $t, source: *const $t,
                nreduce: c_int, pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, _pwrk: *mut $t,
                psync: *mut c_long) {
                let func = concat!("shmem_longdouble_", stringify!($op), "_to_all");
                let n = count(func, nreduce);
                let (op, ps) = (ReduceOp::[<$op:camel>], set_psync(func, psync));
                longdouble_agree(op, n, usize::try_from(pe_size).unwrap_or(0), |to, from| {
                    active_set::fcollect64(to, from, 1, pe_start, log_pe_stride, pe_size, ps)
                }).or_fatal(func);
                let m = Members::ActiveSet { start: pe_start, log_stride: log_pe_stride, size: pe_size, psync: ps };
                let len = n.checked_mul(size_of::<$t>());
                set_run(func, dest as usize, len, source as usize, len, false, |d, s| {
                    // SAFETY: the spec's contract (symmetric arrays of nreduce elements), checked by the RMA;
                    // a bounced array is the scratch, which has room for them.
                    unsafe { longdouble_reduce(m, op, d as *mut $t, s as *const $t, n) }
                })
            }
        }
    };
    ($op:ident, $name:ident, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_", stringify!($op), "_to_all` (deprecated).")]
            #[no_mangle]
            #[allow(clippy::too_many_arguments)]
            pub extern "C" fn [<shmem_ $name _ $op _to_all>](dest: *mut $t, source: *const $t, nreduce: c_int,
                pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, pwrk: *mut $t, psync: *mut c_long) {
                let func = concat!("shmem_", stringify!($name), "_", stringify!($op), "_to_all");
                let n = count(func, nreduce);
                let (ps, pw) = (set_psync(func, psync), sc::pwrk(pwrk as usize).or_fatal(func));
                let len = n.checked_mul(size_of::<$t>());
                set_run(func, dest as usize, len, source as usize, len, false, |d, s| {
                    active_set::reduce_to_all(ReduceOp::[<$op:camel>], <$t as CollElement>::DT, d, s, n, pe_start,
                        log_pe_stride, pe_size, pw, ps)
                })
            }
        }
    };
}
for_each_reduce_to_all_type!(typed_to_all);

/// The `pSync` to give the facade (a heap slot for a global/static one, see [`crate::statics_coll`]).
fn set_psync(func: &str, psync: *mut c_long) -> usize {
    sc::psync(psync as usize).or_fatal(func)
}

/// Runs an active-set collective on `dest`/`source`, bounced through the scratch when they are global/static
/// variables; `skip_out`: this PE's `dest` is not written (the broadcast's root). Errors end the job.
fn set_run(
    func: &str,
    dest: usize,
    dest_len: Option<usize>,
    source: usize,
    src_len: Option<usize>,
    skip_out: bool,
    run: impl FnOnce(usize, usize) -> Result<()>,
) {
    let b = Bounce::new(dest, dest_len, source, src_len).or_fatal(func);
    let r = run(b.d, b.s);
    b.finish(r, skip_out).or_fatal(func)
}

/// Whether this PE is the active set's broadcast root (whose `dest` the active-set broadcast leaves alone).
fn is_set_root(func: &str, root: c_int, start: c_int, log_stride: c_int) -> bool {
    let me = i64::from(shmem::api::my_pe().or_fatal(func));
    (0..31).contains(&log_stride) && me == i64::from(start) + (i64::from(root) << log_stride)
}

/// The active set's full barrier on `psync` (see the module documentation).
fn set_sync(func: &str, start: c_int, log_stride: c_int, size: c_int, psync: *mut c_long) {
    let p = set_psync(func, psync);
    active_set::fcollect64(p, p, 0, start, log_stride, size, p).or_fatal(func)
}

/// `shmem_barrier` (deprecated): completes this PE's operations, then a barrier of the active set.
#[no_mangle]
pub extern "C" fn shmem_barrier(pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
    shmem::api::quiet().or_fatal("shmem_barrier");
    set_sync("shmem_barrier", pe_start, log_pe_stride, pe_size, psync)
}

/// `shmem_sync` (deprecated active-set form): a barrier of the active set without completing operations.
#[no_mangle]
pub extern "C" fn shmem_sync(pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
    set_sync("shmem_sync", pe_start, log_pe_stride, pe_size, psync)
}

/// The active-set alltoalls of `size`-byte elements: between two meetings of the set, this PE pulls element
/// `k` of its block from every member `i` (`source[(me·nelems + k)·sst]` there) into `dest[(i·nelems + k)·dst]`.
#[allow(clippy::too_many_arguments)]
fn set_alltoalls(
    func: &str,
    size: usize,
    dest: *mut c_void,
    source: *const c_void,
    dst: isize,
    sst: isize,
    nelems: usize,
    pe_start: c_int,
    log_pe_stride: c_int,
    pe_size: c_int,
    psync: *mut c_long,
) {
    let p = set_psync(func, psync);
    let (d, s) = (dest as usize, source as usize);
    // The meeting only checks that dest and source are symmetric: a global/static one has a stand-in.
    let (md, ms) = (sc::stand_in(d, nelems).or_fatal(func), sc::stand_in(s, nelems).or_fatal(func));
    // The meeting checks dest and source at the elements' own alignment (32-bit ones need only 4 bytes).
    let meet = || match size {
        4 => active_set::fcollect32(md, ms, 0, pe_start, log_pe_stride, pe_size, p),
        _ => active_set::fcollect64(md, ms, 0, pe_start, log_pe_stride, pe_size, p),
    };
    meet().or_fatal(func);
    if dst < 1 || sst < 1 {
        fatal(func, &Error::invalid(format!("alltoalls strides must be at least 1 (dst={dst}, sst={sst})")));
    }
    let me = shmem::api::my_pe().or_fatal(func) as i64;
    let my_index = (me - i64::from(pe_start)) >> log_pe_stride; // the set's check passed: me is a member
    let offset = |index: i64, stride: isize| -> usize {
        (index as usize)
            .checked_mul(nelems)
            .and_then(|e| e.checked_mul(stride as usize))
            .and_then(|e| e.checked_mul(size))
            .unwrap_or_else(|| fatal(func, &Error::invalid("alltoalls block offset overflows")))
    };
    for i in 0..i64::from(pe_size) {
        let pe = i64::from(pe_start) + (i << log_pe_stride);
        let to = d.wrapping_add(offset(i, dst)) as *mut c_void;
        let from = s.wrapping_add(offset(my_index, sst)) as *const c_void;
        // SAFETY: `to` is inside this PE's dest (the spec's contract); the get checks the remote range.
        unsafe { crate::rma::iget(func, shmem::api::CTX_DEFAULT, to, from, dst, sst, nelems, size, pe as c_int) };
    }
    meet().or_fatal(func)
}

/// The sized active-set forms of one width.
macro_rules! sized_forms {
    ($bits:literal) => {
        paste::paste! {
            #[doc = concat!("`shmem_broadcast", $bits, "` (deprecated): the root's `source` into `dest` on the \
other members of the active set.")]
            #[no_mangle]
            #[allow(clippy::too_many_arguments)]
            pub extern "C" fn [<shmem_broadcast $bits>](dest: *mut c_void, source: *const c_void, nelems: usize,
                pe_root: c_int, pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
                let func = concat!("shmem_broadcast", $bits);
                let (ps, len) = (set_psync(func, psync), nelems.checked_mul($bits / 8));
                let root = is_set_root(func, pe_root, pe_start, log_pe_stride);
                set_run(func, dest as usize, len, source as usize, len, root, |d, s| {
                    active_set::[<broadcast $bits>](d, s, nelems, pe_root, pe_start, log_pe_stride, pe_size, ps)
                })
            }
            #[doc = concat!("`shmem_collect", $bits, "` (deprecated).")]
            #[no_mangle]
            pub extern "C" fn [<shmem_collect $bits>](dest: *mut c_void, source: *const c_void, nelems: usize,
                pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
                let func = concat!("shmem_collect", $bits);
                let ps = set_psync(func, psync);
                let members = usize::try_from(pe_size).unwrap_or(0);
                let total = collect_total(dest as usize, nelems, members, |to, from| {
                    active_set::fcollect64(to, from, 1, pe_start, log_pe_stride, pe_size, ps)
                }).or_fatal(func);
                let (dl, sl) = (total.checked_mul($bits / 8), nelems.checked_mul($bits / 8));
                set_run(func, dest as usize, dl, source as usize, sl, false, |d, s| {
                    active_set::[<collect $bits>](d, s, nelems, pe_start, log_pe_stride, pe_size, ps)
                })
            }
            #[doc = concat!("`shmem_fcollect", $bits, "` (deprecated).")]
            #[no_mangle]
            pub extern "C" fn [<shmem_fcollect $bits>](dest: *mut c_void, source: *const c_void, nelems: usize,
                pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
                let func = concat!("shmem_fcollect", $bits);
                let ps = set_psync(func, psync);
                let members = usize::try_from(pe_size).unwrap_or(0);
                let (dl, sl) = (bytes(nelems, $bits / 8, members), nelems.checked_mul($bits / 8));
                set_run(func, dest as usize, dl, source as usize, sl, false, |d, s| {
                    active_set::[<fcollect $bits>](d, s, nelems, pe_start, log_pe_stride, pe_size, ps)
                })
            }
            #[doc = concat!("`shmem_alltoall", $bits, "` (deprecated).")]
            #[no_mangle]
            pub extern "C" fn [<shmem_alltoall $bits>](dest: *mut c_void, source: *const c_void, nelems: usize,
                pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
                let func = concat!("shmem_alltoall", $bits);
                let ps = set_psync(func, psync);
                let len = bytes(nelems, $bits / 8, usize::try_from(pe_size).unwrap_or(0));
                set_run(func, dest as usize, len, source as usize, len, false, |d, s| {
                    active_set::[<alltoall $bits>](d, s, nelems, pe_start, log_pe_stride, pe_size, ps)
                })
            }
            #[doc = concat!("`shmem_alltoalls", $bits, "` (deprecated; see the module documentation).")]
            #[no_mangle]
            #[allow(clippy::too_many_arguments)]
            pub extern "C" fn [<shmem_alltoalls $bits>](dest: *mut c_void, source: *const c_void, dst: isize,
                sst: isize, nelems: usize, pe_start: c_int, log_pe_stride: c_int, pe_size: c_int,
                psync: *mut c_long) {
                set_alltoalls(concat!("shmem_alltoalls", $bits), $bits / 8, dest, source, dst, sst, nelems,
                    pe_start, log_pe_stride, pe_size, psync)
            }
        }
    };
}

sized_forms!(32);
sized_forms!(64);
