//! The active-set collectives of OpenSHMEM ≤ 1.4 (deprecated in 1.5): `broadcast32/64`, `collect32/64`,
//! `fcollect32/64`, `alltoall32/64` and the `*_to_all` reductions, as thin adapters over the team algorithms.
//!
//! An active set is the PEs `PE_start + i·2^logPE_stride` (`i < PE_size`); it has no team handle, so its
//! members meet on the caller's `pSync` instead of a team barrier:
//! - `pSync[0]` on the set's first PE counts arrivals (a remote atomic add per member); that PE waits for the
//!   full count, clears it, and releases the others by an atomic add to their `pSync[1]`, which each clears
//!   after seeing it. A central barrier: `2(n-1)` messages, two network steps, no per-call state elsewhere.
//! - `pSync[8..16]` hold the member's descriptor (the same agreement as the team forms: sizes, types, roots
//!   and operators are checked on every member), `pSync[16]` the tree broadcast's signal word.
//!
//! Every word is back at [`SYNC_VALUE`] when the call returns, so `pSync` can be passed to the next call at
//! once; the one exception is `pSync[0]` on the set's first PE, where members that already returned may be
//! counting their arrival at that next call (it is back at [`SYNC_VALUE`] once every member has returned, as
//! OpenSHMEM asks before a `pSync` is inspected or reinitialized). `pWrk` is checked to be a symmetric address but not used: reductions fold into private buffers.
//!
//! A PE outside the active set, or a `pSync` outside the symmetric heap or not 8-byte aligned, has nowhere to
//! meet the others: the call fails on that PE at once (INVALID_PARAM) without being collective.

use super::{check_range, DataType, Group, Meet, ReduceOp};
use crate::current::with_current;
use crate::runtime::Runtime;
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::{Error, HeapOffset, Pe, Result};
use std::sync::atomic::Ordering;

/// `long`s in every `pSync` array of the active-set collectives (`SHMEM_*_SYNC_SIZE`).
pub const SYNC_SIZE: usize = 32;
/// The value every `pSync` word must hold before a call, and holds again after it (`SHMEM_SYNC_VALUE`).
pub const SYNC_VALUE: i64 = 0;
/// The minimum `pWrk` length in elements (`SHMEM_REDUCE_MIN_WRKDATA_SIZE`).
pub const REDUCE_MIN_WRKDATA_SIZE: usize = 8;

const COUNTER: u64 = 0;
const RELEASE: u64 = 8;
const DESC: u64 = 64;
const SIGNAL: u64 = 128;

/// The group of an active set, meeting on `psync`.
fn group(rt: &Runtime, start: i32, log_stride: i32, size: i32, psync: usize) -> Result<Group> {
    let at = check_range(rt, "pSync", psync, SYNC_SIZE, DataType::I64)?;
    if start < 0 || !(0..31).contains(&log_stride) || size < 1 {
        return Err(Error::invalid(format!(
            "active set (PE_start={start}, logPE_stride={log_stride}, PE_size={size}) is malformed"
        )));
    }
    // The last member first (start, size below 2^31 and the stride below 2^31: no overflow in i64), then the
    // list: an absurd PE_size (INT_MAX) is refused before it allocates gigabytes.
    if (start as i64 + ((size as i64 - 1) << log_stride)) >= rt.n_pes as i64 {
        return Err(Error::invalid(format!(
            "active set (PE_start={start}, logPE_stride={log_stride}, PE_size={size}) reaches past the job's {} PEs",
            rt.n_pes
        )));
    }
    let members: Vec<u32> = (0..size as i64).map(|i| (start as i64 + (i << log_stride)) as u32).collect();
    let me = members.iter().position(|&p| p == rt.me.0).ok_or_else(|| {
        Error::invalid(format!(
            "PE {} is not in the active set (PE_start={start}, logPE_stride={log_stride}, PE_size={size})",
            rt.me.0
        ))
    })?;
    Ok(Group {
        members: super::Members::Set(members),
        me,
        meet: Meet::ActiveSet(at),
        desc: at.plus(DESC),
        tag: 0,
        signal: at.plus(SIGNAL),
        label: super::Label::ActiveSet(start, log_stride, size),
    })
}

/// The central barrier of an active set on its `pSync` (see the module documentation).
pub(crate) fn barrier(rt: &Runtime, g: &Group, psync: HeapOffset) -> Result<()> {
    let first = g.pe(0);
    let add = |pe: Pe, at: HeapOffset| rt.router.for_atomic(pe).atomic(pe, at, AtomicWidth::W64, AtomicOp::FetchAdd(1));
    let node = &rt.node;
    let wait = |at: HeapOffset, value: u64, what: &str| {
        shmem_sync::wait::wait_until(
            &rt.wait_ctx(true),
            Some((at, 8)),
            || (shmem_sync::wait::load_local::<u64>(node, at) >= value).then_some(()),
            || format!("{what} of {}", g.label),
        )
    };
    add(first, psync.plus(COUNTER))?;
    if g.me == 0 {
        wait(psync.plus(COUNTER), g.len() as u64, "the other members' arrival")?;
        rt.node.word64(rt.me, psync.plus(COUNTER)).store(0, Ordering::Relaxed);
        for i in 1..g.len() {
            add(g.pe(i), psync.plus(RELEASE))?;
        }
    } else {
        wait(psync.plus(RELEASE), 1, "the release")?;
        rt.node.word64(rt.me, psync.plus(RELEASE)).store(0, Ordering::Relaxed);
    }
    Ok(())
}

/// Runs `f` on the active set's group, then puts this PE's descriptor words of `pSync` back to SYNC_VALUE.
fn with_set(
    start: i32,
    log_stride: i32,
    size: i32,
    psync: usize,
    f: impl FnOnce(&Runtime, &Group) -> Result<()>,
) -> Result<()> {
    with_current(|rt| {
        let g = group(rt, start, log_stride, size, psync)?;
        let r = f(rt, &g);
        for w in 0..8 {
            rt.node.word64(rt.me, g.desc.plus(8 * w)).store(SYNC_VALUE as u64, Ordering::Relaxed);
        }
        r
    })
}

macro_rules! sized_forms {
    ($($bits:literal => $dt:ident, $bc:ident, $co:ident, $fc:ident, $a2a:ident);*) => {$(
        #[doc = concat!("`shmem_broadcast", $bits, "`: `nelems` ", $bits, "-bit elements from `source` on the \
            set's PE `pe_root` (an index in the set) to `dest` on the other members (not the root).")]
        #[allow(clippy::too_many_arguments)]
        pub fn $bc(dest: usize, source: usize, nelems: usize, pe_root: i32, pe_start: i32, log_pe_stride: i32,
                   pe_size: i32, psync: usize) -> Result<()> {
            with_set(pe_start, log_pe_stride, pe_size, psync, |rt, g| {
                super::broadcast::run(rt, g, DataType::$dt, dest, source, nelems, pe_root as i64, false, None)
            })
        }
        #[doc = concat!("`shmem_collect", $bits, "`: every member's `nelems` (may differ) concatenated in set order.")]
        pub fn $co(dest: usize, source: usize, nelems: usize, pe_start: i32, log_pe_stride: i32, pe_size: i32,
                   psync: usize) -> Result<()> {
            with_set(pe_start, log_pe_stride, pe_size, psync, |rt, g| {
                super::collect::run(rt, g, DataType::$dt, dest, source, nelems, false, None, None)
            })
        }
        #[doc = concat!("`shmem_fcollect", $bits, "`: like collect with the same `nelems` on every member.")]
        pub fn $fc(dest: usize, source: usize, nelems: usize, pe_start: i32, log_pe_stride: i32, pe_size: i32,
                   psync: usize) -> Result<()> {
            with_set(pe_start, log_pe_stride, pe_size, psync, |rt, g| {
                super::collect::run(rt, g, DataType::$dt, dest, source, nelems, true, None, None)
            })
        }
        #[doc = concat!("`shmem_alltoall", $bits, "`: blocks of `nelems` between the set's members.")]
        pub fn $a2a(dest: usize, source: usize, nelems: usize, pe_start: i32, log_pe_stride: i32, pe_size: i32,
                    psync: usize) -> Result<()> {
            with_set(pe_start, log_pe_stride, pe_size, psync, |rt, g| {
                super::alltoall::run(rt, g, DataType::$dt, dest, source, 1, 1, nelems, false, None)
            })
        }
    )*};
}

sized_forms!(
    "32" => U32, broadcast32, collect32, fcollect32, alltoall32;
    "64" => U64, broadcast64, collect64, fcollect64, alltoall64
);

/// The moves of the active-set forms, for [`move_checked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// `broadcast32/64` from the set's PE `root` (an index in the set), not to the root.
    Broadcast(i32),
    /// `collect32/64`.
    Collect,
    /// `fcollect32/64`.
    Fcollect,
    /// `alltoall32/64`.
    Alltoall,
}

/// An active-set move of `nelems` elements of `dt` for a caller that knows more than addresses (the Python
/// binding, whose arrays have sizes): `cap` bounds a (f)collect's `dest` in elements (a result past it fails on
/// every member), and `pre`, an argument error the caller found, fails the call on every member (INVALID_PARAM)
/// before anything is written, as a refused team call does. A bad `pSync` still fails on this PE at once.
#[allow(clippy::too_many_arguments)]
pub fn move_checked(
    mv: Move,
    dt: DataType,
    dest: usize,
    source: usize,
    nelems: usize,
    pe_start: i32,
    log_pe_stride: i32,
    pe_size: i32,
    psync: usize,
    cap: Option<usize>,
    pre: Option<Error>,
) -> Result<()> {
    with_set(pe_start, log_pe_stride, pe_size, psync, |rt, g| match mv {
        Move::Broadcast(root) => super::broadcast::run(rt, g, dt, dest, source, nelems, root as i64, false, pre),
        Move::Collect | Move::Fcollect => {
            super::collect::run(rt, g, dt, dest, source, nelems, mv == Move::Fcollect, cap, pre)
        }
        Move::Alltoall => super::alltoall::run(rt, g, dt, dest, source, 1, 1, nelems, false, pre),
    })
}

/// `shmem_TYPE_OP_to_all`: reduces `nreduce` elements of `dt` with `op` over the active set into `dest` on
/// every member. `pwrk` must be a symmetric address (it is not used); `psync` holds [`SYNC_SIZE`] words of
/// [`SYNC_VALUE`].
#[allow(clippy::too_many_arguments)]
pub fn reduce_to_all(
    op: ReduceOp,
    dt: DataType,
    dest: usize,
    source: usize,
    nreduce: usize,
    pe_start: i32,
    log_pe_stride: i32,
    pe_size: i32,
    pwrk: usize,
    psync: usize,
) -> Result<()> {
    reduce_to_all_checked(op, dt, dest, source, nreduce, pe_start, log_pe_stride, pe_size, pwrk, psync, None)
}

/// [`reduce_to_all`] with `pre`, an argument error the caller found (see [`move_checked`]): the call fails on
/// every member before anything is written.
#[allow(clippy::too_many_arguments)]
pub fn reduce_to_all_checked(
    op: ReduceOp,
    dt: DataType,
    dest: usize,
    source: usize,
    nreduce: usize,
    pe_start: i32,
    log_pe_stride: i32,
    pe_size: i32,
    pwrk: usize,
    psync: usize,
    pre: Option<Error>,
) -> Result<()> {
    with_set(pe_start, log_pe_stride, pe_size, psync, |rt, g| {
        let pre = pre.or_else(|| check_range(rt, "pWrk", pwrk, 1, dt).err());
        super::reduce::run(rt, g, op, dt, dest, source, nreduce, pre)
    })
}
