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
    let len = nreduce.checked_mul(size_of::<LongDouble>());
    let mut acc = vec![LongDouble([0; 16]); nreduce];
    let mut x = vec![LongDouble([0; 16]); nreduce];
    let pulled = len.ok_or_else(|| Error::invalid(format!("{nreduce} long doubles overflow"))).and_then(|len| {
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

/// The typed team collectives of one type.
macro_rules! typed_team {
    ($name:ident, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_broadcast`: `source` on team PE `PE_root` into \
`dest` on every member.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _broadcast>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize, pe_root: c_int) -> c_int {
                status(coll::broadcast::broadcast(team_id(team), <$t as CollElement>::DT, dest as usize,
                    source as usize, nelems, pe_root))
            }
            #[doc = concat!("`shmem_", stringify!($name), "_collect`: every member's `nelems` (may differ), \
concatenated in team order.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _collect>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize) -> c_int {
                status(coll::collect::collect(team_id(team), <$t as CollElement>::DT, dest as usize,
                    source as usize, nelems))
            }
            #[doc = concat!("`shmem_", stringify!($name), "_fcollect`: collect with the same `nelems` on every \
member.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _fcollect>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize) -> c_int {
                status(coll::collect::fcollect(team_id(team), <$t as CollElement>::DT, dest as usize,
                    source as usize, nelems))
            }
            #[doc = concat!("`shmem_", stringify!($name), "_alltoall`: block `j` of `source` to member `j`.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _alltoall>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nelems: usize) -> c_int {
                status(coll::alltoall::alltoall(team_id(team), <$t as CollElement>::DT, dest as usize,
                    source as usize, nelems))
            }
            #[doc = concat!("`shmem_", stringify!($name), "_alltoalls`: alltoall with element strides `dst`, \
`sst`.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _alltoalls>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                dst: isize, sst: isize, nelems: usize) -> c_int {
                status(coll::alltoall::alltoalls(team_id(team), <$t as CollElement>::DT, dest as usize,
                    source as usize, dst, sst, nelems))
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
    status(coll::broadcast::broadcastmem(team_id(team), dest as usize, source as usize, nelems, pe_root))
}

/// `shmem_collectmem`: every member's `nelems` bytes (may differ) concatenated in team order.
#[no_mangle]
pub extern "C" fn shmem_collectmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
) -> c_int {
    status(coll::collect::collectmem(team_id(team), dest as usize, source as usize, nelems))
}

/// `shmem_fcollectmem`: every member's `nelems` bytes concatenated in team order.
#[no_mangle]
pub extern "C" fn shmem_fcollectmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
) -> c_int {
    status(coll::collect::fcollectmem(team_id(team), dest as usize, source as usize, nelems))
}

/// `shmem_alltoallmem`: blocks of `nelems` bytes between all members.
#[no_mangle]
pub extern "C" fn shmem_alltoallmem(
    team: shmem_team_t,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
) -> c_int {
    status(coll::alltoall::alltoallmem(team_id(team), dest as usize, source as usize, nelems))
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
    status(coll::alltoall::alltoalls(team_id(team), DataType::Bytes, dest as usize, source as usize, dst, sst, nelems))
}

/// One team reduction `shmem_TYPENAME_OP_reduce` (long double: [`longdouble_reduce`]).
macro_rules! typed_reduce {
    ($op:ident, longdouble, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_longdouble_", stringify!($op), "_reduce` (folded in C `long double`).")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_longdouble_ $op _reduce>](team: shmem_team_t, dest: *mut $t,
                source: *const $t, nreduce: usize) -> c_int {
                // SAFETY: the spec's contract (symmetric arrays of nreduce elements), checked by the RMA.
                status(unsafe { longdouble_reduce(Members::Team(team_id(team)), ReduceOp::[<$op:camel>], dest,
                    source, nreduce) })
            }
        }
    };
    ($op:ident, $name:ident, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_", stringify!($op), "_reduce`.")]
            #[no_mangle]
            pub extern "C" fn [<shmem_ $name _ $op _reduce>](team: shmem_team_t, dest: *mut $t, source: *const $t,
                nreduce: usize) -> c_int {
                status(coll::reduce::reduce(team_id(team), ReduceOp::[<$op:camel>], <$t as CollElement>::DT,
                    dest as usize, source as usize, nreduce))
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
                let m = Members::ActiveSet { start: pe_start, log_stride: log_pe_stride, size: pe_size,
                    psync: psync as usize };
                // SAFETY: the spec's contract (symmetric arrays of nreduce elements), checked by the RMA.
                unsafe { longdouble_reduce(m, ReduceOp::[<$op:camel>], dest, source, n) }.or_fatal(func)
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
                active_set::reduce_to_all(ReduceOp::[<$op:camel>], <$t as CollElement>::DT, dest as usize,
                    source as usize, n, pe_start, log_pe_stride, pe_size, pwrk as usize, psync as usize)
                    .or_fatal(func)
            }
        }
    };
}
for_each_reduce_to_all_type!(typed_to_all);

/// The active set's full barrier on `psync` (see the module documentation).
fn set_sync(func: &str, start: c_int, log_stride: c_int, size: c_int, psync: *mut c_long) {
    let p = psync as usize;
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
    let p = psync as usize;
    let (d, s) = (dest as usize, source as usize);
    // The meeting checks dest and source at the elements' own alignment (32-bit ones need only 4 bytes).
    let meet = || match size {
        4 => active_set::fcollect32(d, s, 0, pe_start, log_pe_stride, pe_size, p),
        _ => active_set::fcollect64(d, s, 0, pe_start, log_pe_stride, pe_size, p),
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
                active_set::[<broadcast $bits>](dest as usize, source as usize, nelems, pe_root, pe_start,
                    log_pe_stride, pe_size, psync as usize).or_fatal(concat!("shmem_broadcast", $bits))
            }
            #[doc = concat!("`shmem_collect", $bits, "` (deprecated).")]
            #[no_mangle]
            pub extern "C" fn [<shmem_collect $bits>](dest: *mut c_void, source: *const c_void, nelems: usize,
                pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
                active_set::[<collect $bits>](dest as usize, source as usize, nelems, pe_start, log_pe_stride,
                    pe_size, psync as usize).or_fatal(concat!("shmem_collect", $bits))
            }
            #[doc = concat!("`shmem_fcollect", $bits, "` (deprecated).")]
            #[no_mangle]
            pub extern "C" fn [<shmem_fcollect $bits>](dest: *mut c_void, source: *const c_void, nelems: usize,
                pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
                active_set::[<fcollect $bits>](dest as usize, source as usize, nelems, pe_start, log_pe_stride,
                    pe_size, psync as usize).or_fatal(concat!("shmem_fcollect", $bits))
            }
            #[doc = concat!("`shmem_alltoall", $bits, "` (deprecated).")]
            #[no_mangle]
            pub extern "C" fn [<shmem_alltoall $bits>](dest: *mut c_void, source: *const c_void, nelems: usize,
                pe_start: c_int, log_pe_stride: c_int, pe_size: c_int, psync: *mut c_long) {
                active_set::[<alltoall $bits>](dest as usize, source as usize, nelems, pe_start, log_pe_stride,
                    pe_size, psync as usize).or_fatal(concat!("shmem_alltoall", $bits))
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
