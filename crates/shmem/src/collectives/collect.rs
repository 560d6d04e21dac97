//! Collect (variable sizes per PE) and fcollect (the same size everywhere): every member's `source`
//! concatenated, in team order, into every member's `dest`.
//!
//! # Algorithm
//! The agreement already carries every member's element count, so each member knows every block's offset in
//! `dest` (the prefix sums in team order) without another round; the agreement also carries every member's
//! destination capacity, so a destination too small for the total fails every member before data moves.
//! Each member then pulls every other member's block straight into its own `dest` (its own block is a local
//! copy): on one node these are memcpys out of the peers' mappings, all members in parallel; across nodes
//! they are deferred gets completed by one quiet, so the network engine keeps all `n - 1` requests in flight
//! (the same bytes per member as a ring, in one step instead of `n - 1`).
//!
//! **Inline** (every member's block at most [`Group::inline_limit`] bytes, every member's heap mapped here): each
//! member copies its `source` into its collective line before the opening barrier, and after it copies every
//! member's line into its own `dest`. Nobody reads a `source` after the barrier, so there is no closing barrier:
//! one barrier per call. Whether every block is small is known from the agreed descriptors, so every member
//! decides alike.

use super::typed::check_len;
use super::{capacity, check_range, get, local_copy, local_ptr, DataType, Desc, Element, Group, Kind};
use crate::current::with_current;
use crate::runtime::Runtime;
use crate::{Shmem, SymVec};
use shmem_core::{Error, HeapOffset, Result};

/// Concatenates `nelems` elements of `dt` from every member's `source` (counts may differ per member) into
/// `dest` on every member of `team`, in team order. Collective over `team`.
///
/// # Errors
/// INVALID_PARAM on every member when one passes a range outside the heap or a `dest` too small for the
/// total; INVALID_VALUE on every member when they pass different types.
pub fn collect(team: i32, dt: DataType, dest: usize, source: usize, nelems: usize) -> Result<()> {
    with_current(|rt| run(rt, &Group::team(rt, team)?, dt, dest, source, nelems, false, None, None))
}

/// Like [`collect`] with the same `nelems` on every member (`shmem_fcollect`); different counts are
/// INVALID_VALUE on every member.
pub fn fcollect(team: i32, dt: DataType, dest: usize, source: usize, nelems: usize) -> Result<()> {
    with_current(|rt| run(rt, &Group::team(rt, team)?, dt, dest, source, nelems, true, None, None))
}

/// [`collect`] (or [`fcollect`] when `fixed`) into a destination of at most `dest_len` elements (a caller's
/// array inside the heap, smaller than the heap's rest); a total above it fails every member.
pub fn collect_bounded(
    team: i32,
    dt: DataType,
    dest: usize,
    dest_len: usize,
    source: usize,
    nelems: usize,
    fixed: bool,
) -> Result<()> {
    with_current(|rt| run(rt, &Group::team(rt, team)?, dt, dest, source, nelems, fixed, Some(dest_len), None))
}

/// [`collect`] of bytes (`shmem_collectmem`).
pub fn collectmem(team: i32, dest: usize, source: usize, nbytes: usize) -> Result<()> {
    collect(team, DataType::Bytes, dest, source, nbytes)
}

/// [`fcollect`] of bytes (`shmem_fcollectmem`).
pub fn fcollectmem(team: i32, dest: usize, source: usize, nbytes: usize) -> Result<()> {
    fcollect(team, DataType::Bytes, dest, source, nbytes)
}

/// The (f)collect of a group. `cap` is the destination's length in elements (default: up to the heap's end).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    rt: &Runtime,
    g: &Group,
    dt: DataType,
    dest: usize,
    source: usize,
    nelems: usize,
    fixed: bool,
    cap: Option<usize>,
    pre: Option<Error>,
) -> Result<()> {
    // Waits aside, only an engine can block here (see `shmem_sync::hook`): a caller holding the GIL gives it up
    // first on such a job.
    rt.router.before_engine_block();
    let name = if fixed { "fcollect" } else { "collect" };
    let (src_what, dst_what) =
        if fixed { ("fcollect source", "fcollect dest") } else { ("collect source", "collect dest") };
    let checked =
        check_range(rt, src_what, source, nelems, dt).and_then(|s| Ok((check_range(rt, dst_what, dest, 0, dt)?, s)));
    let (local, (dst, src)) = match checked {
        Ok(r) => (pre, r),
        Err(e) => (Some(pre.unwrap_or(e)), (HeapOffset(0), HeapOffset(0))),
    };
    let mut desc = Desc::new(if fixed { Kind::Fcollect } else { Kind::Collect }, dt, nelems, 0);
    desc.cap = cap.map_or(u64::MAX, |c| c as u64).min(capacity(rt, dest, dt));
    (desc.a, desc.b) = (dst.0, src.0);
    let total = std::cell::Cell::new(0u64);
    let check = |all: &[Desc]| {
        let sum = all.iter().try_fold(0u64, |a, d| a.checked_add(d.nelems));
        let Some(sum) = sum else {
            return Some(Error::invalid(format!("{name} on {}: the element counts overflow", g.label)));
        };
        total.set(sum);
        // dest and source must not overlap (others pull this member's source while it fills its dest).
        let size = dt.size() as u64;
        let overlapping: Vec<u32> = (0..all.len())
            .filter(|&i| {
                all[i].err == 0
                    && super::overlap(all[i].a, sum.saturating_mul(size), all[i].b, all[i].nelems.saturating_mul(size))
            })
            .map(|i| g.members[i])
            .collect();
        if !overlapping.is_empty() {
            return Some(Error::invalid(format!(
                "{name} on {}: dest and source overlap on PEs {overlapping:?}; they must be disjoint",
                g.label
            )));
        }
        let small: Vec<String> = (0..all.len())
            .filter(|&i| all[i].cap < sum)
            .map(|i| format!("PE {} ({} elements)", g.members[i], all[i].cap))
            .collect();
        (!small.is_empty()).then(|| {
            Error::invalid(format!(
                "{name} on {}: the result has {sum} elements but the dest of {} cannot hold them",
                g.label,
                small.join(", ")
            ))
        })
    };
    // Every member whose block fits stages it; the call goes inline when all did (the same on every member).
    let fits = |n: u64| n.checked_mul(dt.size() as u64).is_some_and(|b| b <= g.inline_limit() as u64);
    let stage = fits(nelems as u64).then_some((src, nelems * dt.size()));
    let inline = |all: &[Desc], lines: &super::Lines| {
        all.iter().all(|d| fits(d.nelems)).then(|| {
            let size = dt.size();
            let base = local_ptr(rt, dst, total.get() as usize * size);
            let mut at = 0usize;
            for (j, d) in all.iter().enumerate() {
                let len = d.nelems as usize * size;
                let from = lines.payload(rt, g, j, len);
                // SAFETY: base..base+total is this PE's checked dest (its capacity was agreed), which nothing else
                // touches during the call; `from` is member j's line in the sync area.
                unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), base.add(at), len) };
                at += len;
            }
            Ok(())
        })
    };
    g.run_staged(rt, desc, local, stage, check, inline, |all| {
        let size = dt.size();
        if let Some(done) = super::net::collect(rt, g, dst, src, all.iter().map(|d| d.nelems * size as u64)) {
            return done;
        }
        let total = total.get() as usize * size;
        let base = local_ptr(rt, dst, total);
        let mut at = 0usize;
        for (j, d) in all.iter().enumerate() {
            let len = d.nelems as usize * size;
            if j == g.me {
                local_copy(rt, dst.plus(at as u64), src, len);
            } else {
                // SAFETY: base..base+total is this PE's checked dest (its capacity was agreed), written only by
                // these gets until the quiet below.
                unsafe { get(rt, g.pe(j), src, base.add(at), len, true)? };
            }
            at += len;
        }
        rt.quiet()
    })
}

impl Shmem {
    /// Concatenates every member's whole `src` (lengths may differ per member) into `dst` on every member of
    /// `team`, in team order. Collective over `team`.
    pub fn collect<T: Element>(&self, team: i32, dst: &SymVec<T>, src: &SymVec<T>) -> Result<()> {
        let g = Group::team(&self.rt, team)?;
        run(&self.rt, &g, T::DTYPE, dst.addr(), src.addr(), src.len(), false, Some(dst.len()), None)
    }

    /// Concatenates the first `nelems` elements of every member's `src` into `dst` (at least
    /// `nelems × team size` long) on every member of `team`. Collective over `team`.
    pub fn fcollect<T: Element>(&self, team: i32, dst: &SymVec<T>, src: &SymVec<T>, nelems: usize) -> Result<()> {
        let g = Group::team(&self.rt, team)?;
        let pre = check_len("fcollect src", src.len(), nelems);
        run(&self.rt, &g, T::DTYPE, dst.addr(), src.addr(), nelems, true, Some(dst.len()), pre)
    }
}
