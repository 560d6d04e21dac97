//! Alltoall and alltoalls (strided): block `j` of every member's `source` goes to member `j`, landing as block
//! `i` (the sender's index) of its `dest`.
//!
//! # Algorithm
//! Pairwise by pulls: member `i` reads block `i` of every member `j`'s `source` straight into block `j` of its
//! own `dest` (its own block by a local copy). On one node each pull is one memcpy out of the peer's mapping
//! and all members run in parallel; across nodes the gets are deferred and completed by one quiet, so all of
//! them are in flight at once. The strided form pulls element by element (`dst`/`sst` strides in elements, at
//! least 1), also deferred.
//!
//! **Inline** (the contiguous form, a whole `source` of at most [`Group::inline_limit`], every member's heap mapped
//! here): each member copies its `source` into its collective line before the opening barrier, and after it
//! copies block `i` of every member's line into its own `dest`; no closing barrier (one barrier per call).

use super::typed::check_len;
use super::{check_range, get, local_ptr, DataType, Desc, Element, Group, Kind};
use crate::current::with_current;
use crate::runtime::Runtime;
use crate::{Shmem, SymVec};
use shmem_core::{Error, HeapOffset, Result};

/// Exchanges blocks of `nelems` elements of `dt` between all members of `team` (`source` and `dest` hold
/// `nelems × team size` elements). Collective over `team`.
///
/// # Errors
/// INVALID_PARAM on every member when one passes a range outside the heap; INVALID_VALUE on every member when
/// they pass different types or counts.
pub fn alltoall(team: i32, dt: DataType, dest: usize, source: usize, nelems: usize) -> Result<()> {
    with_current(|rt| run(rt, &Group::team(rt, team)?, dt, dest, source, 1, 1, nelems, false, None))
}

/// [`alltoall`] with strides: element `k` of the block for member `j` is `source[(j·nelems + k)·sst]`, and it
/// lands in `dest[(i·nelems + k)·dst]` on member `j` (`i` the sender). Strides are in elements, at least 1.
#[allow(clippy::too_many_arguments)]
pub fn alltoalls(
    team: i32,
    dt: DataType,
    dest: usize,
    source: usize,
    dst: isize,
    sst: isize,
    nelems: usize,
) -> Result<()> {
    with_current(|rt| {
        let g = Group::team(rt, team)?;
        let bad = (dst < 1 || sst < 1)
            .then(|| Error::invalid(format!("alltoalls strides must be at least 1 (dst={dst}, sst={sst})")));
        run(rt, &g, dt, dest, source, dst.max(1) as usize, sst.max(1) as usize, nelems, true, bad)
    })
}

/// [`alltoall`] of bytes (`shmem_alltoallmem`).
pub fn alltoallmem(team: i32, dest: usize, source: usize, nbytes: usize) -> Result<()> {
    alltoall(team, DataType::Bytes, dest, source, nbytes)
}

/// Elements spanned by `count` elements `stride` apart.
fn extent(count: usize, stride: usize) -> Option<usize> {
    if count == 0 {
        return Some(0);
    }
    (count - 1).checked_mul(stride)?.checked_add(1)
}

/// The alltoall(s) of a group.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    rt: &Runtime,
    g: &Group,
    dt: DataType,
    dest: usize,
    source: usize,
    dst: usize,
    sst: usize,
    nelems: usize,
    strided: bool,
    pre: Option<Error>,
) -> Result<()> {
    // Waits aside, only an engine can block here (see `shmem_sync::hook`): a caller holding the GIL gives it up
    // first on such a job.
    rt.router.before_engine_block();
    let n = g.len();
    let name = if strided { "alltoalls" } else { "alltoall" };
    let span = |stride: usize| {
        nelems
            .checked_mul(n)
            .and_then(|c| extent(c, stride))
            .ok_or_else(|| Error::invalid(format!("{name}: {nelems} elements × {n} PEs overflow")))
    };
    // Static names: no formatting (two allocations) on every call.
    let (dst_what, src_what) =
        if strided { ("alltoalls dest", "alltoalls source") } else { ("alltoall dest", "alltoall source") };
    let checked = span(dst)
        .and_then(|e| check_range(rt, dst_what, dest, e, dt))
        .and_then(|d| Ok((d, check_range(rt, src_what, source, span(sst)?, dt)?)));
    let checked = checked.and_then(|(d, s)| {
        let bytes = |stride| span(stride).unwrap_or(0) as u64 * dt.size() as u64;
        if super::overlap(d.0, bytes(dst), s.0, bytes(sst)) {
            return Err(Error::invalid(format!("{name}: dest and source overlap; they must be disjoint")));
        }
        Ok((d, s))
    });
    let (local, (dst_off, src_off)) = match checked {
        Ok(r) => (pre, r),
        Err(e) => (Some(pre.unwrap_or(e)), (HeapOffset(0), HeapOffset(0))),
    };
    let mut desc = Desc::new(if strided { Kind::Alltoalls } else { Kind::Alltoall }, dt, nelems, 0);
    if strided {
        (desc.a, desc.b) = (dst as u64, sst as u64);
    }
    let size = dt.size();
    // Inline when the whole source is small (the count is agreed, so every member decides alike).
    let whole = nelems.checked_mul(n * size).filter(|&b| !strided && b <= g.inline_limit());
    let inline = |_: &[Desc], lines: &super::Lines| {
        whole.map(|_| {
            let (me, block) = (g.me, nelems * size);
            let base = local_ptr(rt, dst_off, n * block);
            for j in 0..n {
                let from = &lines.payload(rt, g, j, (me + 1) * block)[me * block..];
                // SAFETY: block j of this PE's checked dest, which nothing else touches during the call; `from` is
                // member j's line in the sync area.
                unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), base.add(j * block), block) };
            }
            Ok(())
        })
    };
    g.run_staged(
        rt,
        desc,
        local,
        whole.map(|b| (src_off, b)),
        |_| None,
        inline,
        |_| {
            let size = dt.size();
            let me = g.me;
            if !strided {
                let block = nelems * size;
                let base = local_ptr(rt, dst_off, n * block);
                for j in 0..n {
                    let from = src_off.plus((me * block) as u64);
                    if j == me {
                        super::local_copy(rt, dst_off.plus((j * block) as u64), from, block);
                    } else {
                        // SAFETY: block j of this PE's checked dest, written only by this get until the quiet.
                        unsafe { get(rt, g.pe(j), from, base.add(j * block), block, true)? };
                    }
                }
            } else {
                for j in 0..n {
                    for k in 0..nelems {
                        let from = src_off.plus((((me * nelems + k) * sst) * size) as u64);
                        let to = dst_off.plus((((j * nelems + k) * dst) * size) as u64);
                        if j == me {
                            super::local_copy(rt, to, from, size);
                        } else {
                            // SAFETY: one element of this PE's checked dest, written only by this get until the quiet.
                            unsafe { get(rt, g.pe(j), from, local_ptr(rt, to, size), size, true)? };
                        }
                    }
                }
            }
            rt.quiet()
        },
    )
}

impl Shmem {
    /// Exchanges blocks of `nelems` elements between all members of `team`: block `j` of `src` goes to member
    /// `j`, and block `i` of `dst` comes from member `i`. Both hold at least `nelems × team size` elements.
    pub fn alltoall<T: Element>(&self, team: i32, dst: &SymVec<T>, src: &SymVec<T>, nelems: usize) -> Result<()> {
        let g = Group::team(&self.rt, team)?;
        let need = nelems.saturating_mul(g.len());
        let pre = check_len("alltoall src", src.len(), need).or_else(|| check_len("alltoall dst", dst.len(), need));
        run(&self.rt, &g, T::DTYPE, dst.addr(), src.addr(), 1, 1, nelems, false, pre)
    }

    /// [`Shmem::alltoall`] with strides (in elements, at least 1): see [`alltoalls`].
    #[allow(clippy::too_many_arguments)]
    pub fn alltoalls<T: Element>(
        &self,
        team: i32,
        dst: &SymVec<T>,
        src: &SymVec<T>,
        dst_stride: usize,
        sst: usize,
        nelems: usize,
    ) -> Result<()> {
        let g = Group::team(&self.rt, team)?;
        let count = nelems.saturating_mul(g.len());
        let (ds, ss) = (dst_stride.max(1), sst.max(1));
        let pre = (dst_stride == 0 || sst == 0)
            .then(|| Error::invalid("alltoalls strides must be at least 1"))
            .or_else(|| check_len("alltoalls src", src.len(), extent(count, ss).unwrap_or(usize::MAX)))
            .or_else(|| check_len("alltoalls dst", dst.len(), extent(count, ds).unwrap_or(usize::MAX)));
        run(&self.rt, &g, T::DTYPE, dst.addr(), src.addr(), ds, ss, nelems, true, pre)
    }
}
