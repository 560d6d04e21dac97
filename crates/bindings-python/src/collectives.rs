//! Collectives: `aclshmem_<TYPE>_broadcast/collect/fcollect/alltoall/alltoalls(team, dest, source, ...)`,
//! `aclshmem_<TYPE>_<OP>_reduce(team, dest, source, nreduce)` for OpenSHMEM 1.5's TYPE × OP table, the byte
//! forms (`aclshmem_broadcastmem`, ...), `aclshmem_team_sync` (in `team`), and the deprecated active-set forms
//! (`aclshmem_broadcast32/64`, `collect32/64`, `fcollect32/64`, `alltoall32/64`,
//! `aclshmem_<TYPE>_<OP>_to_all(dest, source, nreduce, PE_start, logPE_stride, PE_size, pWrk, pSync)`).
//!
//! `dest` and `source` are symmetric: ints from `aclshmem_malloc` or arrays viewing the heap (`shmem.zeros`).
//! When an array is smaller than the call's count, the call still joins the collective, so that every member
//! fails with INVALID_PARAM instead of waiting (`shmem::collectives::refuse`). The GIL is released during the
//! call; broadcasts, reductions, (f)collects and contiguous alltoalls of at most `HOLD_MAX_BYTES` release it only
//! where they would wait (see `blocking`). `longdouble` names move and reduce `float64` values (the runtime's
//! documented decision).

use crate::blocking::{detached, detached_when_blocking, HOLD_MAX_BYTES};
use crate::buffer::{Count, I32Arg, Sym};
use pyo3::prelude::*;
use shmem::collectives::{self, active_set, DataType, ReduceOp};
use shmem::Error;

/// The INVALID_PARAM of an array too small for the call, or `None`.
fn room_error(sym: &Sym, bytes: Option<usize>, what: &str) -> Option<Error> {
    match (sym.room, bytes) {
        (_, None) => Some(Error::invalid(format!("{what}: the element count overflows"))),
        (Some(room), Some(b)) if b > room => {
            Some(Error::invalid(format!("{what} holds {room} B but the call needs {b} B")))
        }
        _ => None,
    }
}

/// The INVALID_PARAM of a `dest` the call cannot write (read-only, or too small for `bytes`), or `None`.
fn dest_error(dest: &Sym, bytes: Option<usize>) -> Option<Error> {
    if dest.read_only {
        return Some(Error::invalid(
            "dest is read-only (e.g. a NumPy array with writeable=False): pass a writable view",
        ));
    }
    room_error(dest, bytes, "dest")
}

/// Runs `call` unless `pre` found an argument error, in which case the collective on `team` is refused on
/// every member.
fn guarded(
    py: Python<'_>,
    team: i32,
    pre: Option<Error>,
    call: impl FnOnce() -> shmem::Result<()> + Send,
) -> PyResult<()> {
    match pre {
        Some(e) => detached(py, move || collectives::refuse(team, e)),
        None => detached(py, call),
    }
}

fn times(n: usize, size: usize) -> Option<usize> {
    n.checked_mul(size)
}

/// A team broadcast of `n` elements of `dt` (typed calls and `shmem.broadcast`): an array too small for the
/// count is refused on every member the way a broadcast meets them.
pub(crate) fn broadcast(
    py: Python<'_>,
    team: i32,
    dt: DataType,
    dest: Sym,
    source: Sym,
    n: usize,
    root: i32,
) -> PyResult<()> {
    let b = times(n, dt.size());
    let pre = dest_error(&dest, b).or_else(|| room_error(&source, b, "source"));
    // A refused broadcast meets the others as a broadcast (on one node it is posted: the members do not all meet).
    match pre {
        Some(e) => detached(py, move || collectives::broadcast::refuse(team, dt, n, root, e)),
        // Small: the GIL is kept unless the call waits (see `blocking`).
        None if b.is_some_and(|b| b <= HOLD_MAX_BYTES) => detached_when_blocking(py, move || {
            collectives::broadcast::broadcast(team, dt, dest.addr, source.addr, n, root)
        }),
        None => detached(py, move || collectives::broadcast::broadcast(team, dt, dest.addr, source.addr, n, root)),
    }
}

/// A team collect (`fixed`: fcollect) of `n` elements of `dt` per member into `dest` (capacity checked by the
/// runtime); a `source` too small is refused on every member.
pub(crate) fn collect(
    py: Python<'_>,
    team: i32,
    dt: DataType,
    dest: Sym,
    source: Sym,
    n: usize,
    fixed: bool,
) -> PyResult<()> {
    let pre = dest_error(&dest, Some(0)).or_else(|| room_error(&source, times(n, dt.size()), "source"));
    let cap = dest.room.map_or(usize::MAX, |r| r / dt.size());
    let call = move || collectives::collect::collect_bounded(team, dt, dest.addr, cap, source.addr, n, fixed);
    // Small: the GIL is kept unless the call waits (see `blocking`). The runtime fails every member whose `dest`
    // cannot hold the result, so a `dest` of at most HOLD_MAX_BYTES bounds what a call writes; an fcollect's result
    // is members × `n` elements (the count is agreed), known also for a larger `dest` or an int address.
    let small = dest.room.is_some_and(|r| r <= HOLD_MAX_BYTES)
        || (fixed && members_times(team, n, dt).is_some_and(|b| b <= HOLD_MAX_BYTES));
    match pre {
        None if small => detached_when_blocking(py, call),
        pre => guarded(py, team, pre, call),
    }
}

/// Bytes of `n` elements of `dt` from every member of `team` (`None` for an overflow or a team that is not
/// live: the call fails in the runtime).
fn members_times(team: i32, n: usize, dt: DataType) -> Option<usize> {
    let members = usize::try_from(shmem::team::n_pes(team)).ok()?;
    times(n, dt.size())?.checked_mul(members)
}

/// A team alltoall of blocks of `n` elements with element strides `dst`/`sst` (1/1: the plain alltoall); an
/// array too small for the span is refused on every member.
#[allow(clippy::too_many_arguments)]
pub(crate) fn alltoalls(
    py: Python<'_>,
    team: i32,
    dt: DataType,
    dest: Sym,
    source: Sym,
    dst: i64,
    sst: i64,
    n: usize,
) -> PyResult<()> {
    let members = shmem::team::n_pes(team).max(0) as usize;
    let span = |stride: i64| {
        let count = n.checked_mul(members)?;
        if count == 0 {
            return Some(0);
        }
        (count - 1).checked_mul(stride.max(1) as usize)?.checked_add(1)?.checked_mul(dt.size())
    };
    let pre = dest_error(&dest, span(dst)).or_else(|| room_error(&source, span(sst), "source"));
    let contiguous = dst == 1 && sst == 1;
    let (dst, sst) =
        (dst.clamp(isize::MIN as i64, isize::MAX as i64) as isize, sst.clamp(0, isize::MAX as i64) as isize);
    let call = move || {
        if contiguous {
            collectives::alltoall::alltoall(team, dt, dest.addr, source.addr, n)
        } else {
            collectives::alltoall::alltoalls(team, dt, dest.addr, source.addr, dst, sst, n)
        }
    };
    // Small: the GIL is kept unless the call waits (see `blocking`); the whole `dest` (members × `n` elements)
    // counts. The strided form moves element by element (a get each), longer work for the same bytes: it keeps
    // releasing the GIL first.
    match pre {
        None if contiguous && span(1).is_some_and(|b| b <= HOLD_MAX_BYTES) => detached_when_blocking(py, call),
        pre => guarded(py, team, pre, call),
    }
}

/// A team reduction of `n` elements of `dt` with `op`; an array too small is refused on every member.
pub(crate) fn reduce(
    py: Python<'_>,
    team: i32,
    op: ReduceOp,
    dt: DataType,
    dest: Sym,
    source: Sym,
    n: usize,
) -> PyResult<()> {
    let b = times(n, dt.size());
    let pre = dest_error(&dest, b).or_else(|| room_error(&source, b, "source"));
    let call = move || collectives::reduce::reduce(team, op, dt, dest.addr, source.addr, n);
    match pre {
        // Small: the GIL is kept unless the call waits (see `blocking`).
        None if b.is_some_and(|b| b <= HOLD_MAX_BYTES) => detached_when_blocking(py, call),
        pre => guarded(py, team, pre, call),
    }
}

fn op_named(name: &str) -> ReduceOp {
    match name {
        "and" => ReduceOp::And,
        "or" => ReduceOp::Or,
        "xor" => ReduceOp::Xor,
        "max" => ReduceOp::Max,
        "min" => ReduceOp::Min,
        "sum" => ReduceOp::Sum,
        _ => ReduceOp::Prod,
    }
}

macro_rules! typed_moves {
    ($($t:ident: $rt:ty => $dt:ident, $class:ident;)*) => { paste::paste! {$(
        #[doc = concat!("Broadcasts `nelems` ", stringify!($t), " elements from `source` on team PE `pe_root` to \
            `dest` on every member of `team` (the root's too). Collective over `team`.")]
        #[pyfunction]
        fn [<aclshmem_ $t _broadcast>](py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nelems: Count,
                                       pe_root: I32Arg) -> PyResult<()> {
            broadcast(py, team.0, DataType::$dt, dest, source, nelems.0, pe_root.0)
        }
        #[doc = concat!("Concatenates every member's `nelems` ", stringify!($t), " elements (counts may differ) \
            into `dest` on every member, in team order. Collective over `team`.")]
        #[pyfunction]
        fn [<aclshmem_ $t _collect>](py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nelems: Count)
            -> PyResult<()> {
            collect(py, team.0, DataType::$dt, dest, source, nelems.0, false)
        }
        #[doc = concat!("Concatenates `nelems` ", stringify!($t), " elements (the same on every member) into \
            `dest` on every member, in team order. Collective over `team`.")]
        #[pyfunction]
        fn [<aclshmem_ $t _fcollect>](py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nelems: Count)
            -> PyResult<()> {
            collect(py, team.0, DataType::$dt, dest, source, nelems.0, true)
        }
        #[doc = concat!("Exchanges blocks of `nelems` ", stringify!($t), " elements between all members of \
            `team`. Collective over `team`.")]
        #[pyfunction]
        fn [<aclshmem_ $t _alltoall>](py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nelems: Count)
            -> PyResult<()> {
            alltoalls(py, team.0, DataType::$dt, dest, source, 1, 1, nelems.0)
        }
        #[doc = concat!("Strided alltoall of ", stringify!($t), " elements: strides `dst`/`sst` in elements \
            (>= 1). Collective over `team`.")]
        #[pyfunction]
        fn [<aclshmem_ $t _alltoalls>](py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, dst: i64, sst: i64,
                                       nelems: Count) -> PyResult<()> {
            if dst < 1 || sst < 1 {
                let e = Error::invalid(format!("alltoalls strides must be >= 1 (dst={dst}, sst={sst})"));
                return guarded(py, team.0, Some(e), || Ok(()));
            }
            alltoalls(py, team.0, DataType::$dt, dest, source, dst, sst, nelems.0)
        }
    )*
        fn register_moves(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmem_ $t _broadcast>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $t _collect>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $t _fcollect>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $t _alltoall>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $t _alltoalls>], m)?)?;
            )*
            Ok(())
        }
    }};
}

shmem_core::for_each_coll_type!(typed_moves);

/// The reductions of one type: `<TYPE>_<OP>_reduce` and the deprecated `<TYPE>_<OP>_to_all`, per operator.
macro_rules! typed_reduction_ops {
    ($t:ident, $dt:ident, [$($op:ident),*]) => { paste::paste! {$(
        #[doc = concat!("Reduces `nreduce` ", stringify!($t), " elements of every member's `source` with ",
            stringify!($op), " into `dest` on every member of `team` (`dest` may be `source`). Collective.")]
        #[pyfunction]
        fn [<aclshmem_ $t _ $op _reduce>](py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nreduce: Count)
            -> PyResult<()> {
            reduce(py, team.0, op_named(stringify!($op)), DataType::$dt, dest, source, nreduce.0)
        }
        #[doc = concat!("Deprecated active-set form of ", stringify!($t), " ", stringify!($op), " reduction over \
            PEs `PE_start + i * 2**logPE_stride` (i < PE_size); `pSync` holds SHMEM_REDUCE_SYNC_SIZE longs of \
            SHMEM_SYNC_VALUE, `pWrk` at least max(nreduce / 2 + 1, SHMEM_REDUCE_MIN_WRKDATA_SIZE) elements \
            (checked, unused).")]
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmem_ $t _ $op _to_all>](py: Python<'_>, dest: Sym, source: Sym, nreduce: Count, pe_start: I32Arg,
            log_pe_stride: I32Arg, pe_size: I32Arg, pwrk: Sym, psync: Sym) -> PyResult<()> {
            if let Some(e) = psync_error(&psync) {
                return Err(crate::error::from_shmem(e));
            }
            let w = DataType::$dt.size();
            let b = times(nreduce.0, w);
            // OpenSHMEM's pWrk size: max(nreduce / 2 + 1, SHMEM_REDUCE_MIN_WRKDATA_SIZE) elements.
            let wrk = times((nreduce.0 / 2 + 1).max(active_set::REDUCE_MIN_WRKDATA_SIZE), w);
            let pre = dest_error(&dest, b).or_else(|| room_error(&source, b, "source"))
                .or_else(|| room_error(&pwrk, wrk, "pWrk"));
            detached(py, move || active_set::reduce_to_all_checked(op_named(stringify!($op)), DataType::$dt,
                dest.addr, source.addr, nreduce.0, pe_start.0, log_pe_stride.0, pe_size.0, pwrk.addr, psync.addr,
                pre))
        }
    )*
        fn [<register_ $t _reductions>](m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmem_ $t _ $op _reduce>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $t _ $op _to_all>], m)?)?;
            )*
            Ok(())
        }
    }};
}

// OpenSHMEM 1.5's table, by the row's class: bitwise ops on the unsigned and fixed-width integer types, max/min on
// every real type, sum/prod on every arithmetic type (complex included).
macro_rules! typed_reductions {
    ($($t:ident: $rt:ty => $dt:ident, $class:ident;)*) => { paste::paste! {
        $( typed_reductions!(@$class $t, $dt); )*
        fn register_reductions(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $( [<register_ $t _reductions>](m)?; )*
            Ok(())
        }
    }};
    (@bitwise $t:ident, $dt:ident) => { typed_reduction_ops!($t, $dt, [and, or, xor, max, min, sum, prod]); };
    (@real $t:ident, $dt:ident) => { typed_reduction_ops!($t, $dt, [max, min, sum, prod]); };
    (@complex $t:ident, $dt:ident) => { typed_reduction_ops!($t, $dt, [sum, prod]); };
}

shmem_core::for_each_coll_type!(typed_reductions);

/// Broadcasts `nelems` bytes from `source` on team PE `pe_root` to `dest` on every member of `team`.
#[pyfunction]
fn aclshmem_broadcastmem(
    py: Python<'_>,
    team: I32Arg,
    dest: Sym,
    source: Sym,
    nelems: Count,
    pe_root: I32Arg,
) -> PyResult<()> {
    broadcast(py, team.0, DataType::Bytes, dest, source, nelems.0, pe_root.0)
}

/// Concatenates every member's `nelems` bytes (counts may differ) into `dest`, in team order.
#[pyfunction]
fn aclshmem_collectmem(py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nelems: Count) -> PyResult<()> {
    collect(py, team.0, DataType::Bytes, dest, source, nelems.0, false)
}

/// Concatenates `nelems` bytes (the same on every member) into `dest`, in team order.
#[pyfunction]
fn aclshmem_fcollectmem(py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nelems: Count) -> PyResult<()> {
    collect(py, team.0, DataType::Bytes, dest, source, nelems.0, true)
}

/// Exchanges blocks of `nelems` bytes between all members of `team`.
#[pyfunction]
fn aclshmem_alltoallmem(py: Python<'_>, team: I32Arg, dest: Sym, source: Sym, nelems: Count) -> PyResult<()> {
    alltoalls(py, team.0, DataType::Bytes, dest, source, 1, 1, nelems.0)
}

/// The INVALID_PARAM of a `pSync` that the runtime would use past its end (it uses `SYNC_SIZE` longs) or could
/// not write (read-only), or `None`. A bad `pSync` has nowhere to meet the others: the call fails on this PE at
/// once, as the runtime's own `pSync` checks do.
fn psync_error(psync: &Sym) -> Option<Error> {
    if psync.read_only {
        return Some(Error::invalid(
            "pSync is read-only (e.g. a NumPy array with writeable=False): the call writes it",
        ));
    }
    room_error(psync, times(active_set::SYNC_SIZE, std::mem::size_of::<i64>()), "pSync")
}

/// An active-set move of `n` elements of `dt`: `pSync` checked here (a bad one fails on this PE at once), arrays
/// too small for the call (or a read-only `dest`) refused on every member of the set before anything is
/// written, a collect's `dest` bounded by its size.
#[allow(clippy::too_many_arguments)]
fn active_move(
    py: Python<'_>,
    mv: active_set::Move,
    dt: DataType,
    dest: Sym,
    source: Sym,
    n: usize,
    pe_start: i32,
    log_pe_stride: i32,
    pe_size: i32,
    psync: Sym,
) -> PyResult<()> {
    use active_set::Move;
    if let Some(e) = psync_error(&psync) {
        return Err(crate::error::from_shmem(e));
    }
    let block = times(n, dt.size());
    // A PE_size < 1 is the runtime's INVALID_PARAM (before anything is written); counted as 1 here.
    let all = block.and_then(|b| b.checked_mul(pe_size.max(1) as usize));
    let (dest_bytes, source_bytes) = match mv {
        Move::Broadcast(_) => (block, block),
        Move::Collect => (Some(0), block),
        Move::Fcollect => (all, block),
        Move::Alltoall => (all, all),
    };
    let pre = dest_error(&dest, dest_bytes).or_else(|| room_error(&source, source_bytes, "source"));
    let cap = match mv {
        Move::Collect | Move::Fcollect => dest.room.map(|r| r / dt.size()),
        _ => None,
    };
    detached(py, move || {
        active_set::move_checked(
            mv,
            dt,
            dest.addr,
            source.addr,
            n,
            pe_start,
            log_pe_stride,
            pe_size,
            psync.addr,
            cap,
            pre,
        )
    })
}

macro_rules! active_sets {
    ($($name:ident => $mv:expr, $dt:ident, $what:literal, $($arg:ident),*);* $(;)?) => {$(
        #[doc = concat!("Deprecated active-set ", $what, " over PEs `PE_start + i * 2**logPE_stride` (i < PE_size); \
            `pSync` holds SHMEM_BCAST_SYNC_SIZE longs of SHMEM_SYNC_VALUE.")]
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn $name(py: Python<'_>, dest: Sym, source: Sym, nelems: Count, $($arg: I32Arg,)* pe_start: I32Arg,
                 log_pe_stride: I32Arg, pe_size: I32Arg, psync: Sym) -> PyResult<()> {
            active_move(py, $mv, DataType::$dt, dest, source, nelems.0, pe_start.0, log_pe_stride.0, pe_size.0,
                        psync)
        }
    )*
        fn register_active_sets(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $( m.add_function(wrap_pyfunction!($name, m)?)?; )*
            Ok(())
        }
    };
}

active_sets!(
    aclshmem_broadcast32 => active_set::Move::Broadcast(pe_root.0), U32,
        "broadcast of 32-bit elements (not to the root)", pe_root;
    aclshmem_broadcast64 => active_set::Move::Broadcast(pe_root.0), U64,
        "broadcast of 64-bit elements (not to the root)", pe_root;
    aclshmem_collect32 => active_set::Move::Collect, U32, "collect of 32-bit elements",;
    aclshmem_collect64 => active_set::Move::Collect, U64, "collect of 64-bit elements",;
    aclshmem_fcollect32 => active_set::Move::Fcollect, U32, "fcollect of 32-bit elements",;
    aclshmem_fcollect64 => active_set::Move::Fcollect, U64, "fcollect of 64-bit elements",;
    aclshmem_alltoall32 => active_set::Move::Alltoall, U32, "alltoall of 32-bit elements",;
    aclshmem_alltoall64 => active_set::Move::Alltoall, U64, "alltoall of 64-bit elements",;
);

/// The generic reduction behind `shmem.reduce` (NumPy level): operator and type by their runtime codes, so that
/// an operator the type lacks is refused on every member by the runtime rather than missing here.
#[pyfunction]
fn _reduce(py: Python<'_>, team: I32Arg, op: u8, dtype: u8, dest: Sym, source: Sym, nreduce: Count) -> PyResult<()> {
    let op = ReduceOp::from_code(op).map_err(crate::error::from_shmem)?;
    let dt = DataType::from_code(dtype).map_err(crate::error::from_shmem)?;
    reduce(py, team.0, op, dt, dest, source, nreduce.0)
}

/// Registers the collectives and the active-set constants.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    register_moves(m)?;
    register_reductions(m)?;
    register_active_sets(m)?;
    m.add_function(wrap_pyfunction!(_reduce, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_broadcastmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_collectmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_fcollectmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_alltoallmem, m)?)?;
    for name in ["BCAST", "REDUCE", "BARRIER", "COLLECT", "ALLTOALL", "ALLTOALLS"] {
        m.add(format!("ACLSHMEM_{name}_SYNC_SIZE").as_str(), active_set::SYNC_SIZE)?;
    }
    m.add("ACLSHMEM_SYNC_SIZE", active_set::SYNC_SIZE)?;
    m.add("ACLSHMEM_SYNC_VALUE", active_set::SYNC_VALUE)?;
    m.add("ACLSHMEM_REDUCE_MIN_WRKDATA_SIZE", active_set::REDUCE_MIN_WRKDATA_SIZE)?;
    Ok(())
}
