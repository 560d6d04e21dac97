//! Broadcast: the root's `source` into every member's `dest` (the root's too, as OpenSHMEM 1.5 says for team
//! broadcasts; the active-set `broadcast32/64` leave the root's `dest` alone, as 1.4 did).
//!
//! # Algorithm
//! - **Team broadcast, one node** (every member's heap mapped here, any size): posted, without a barrier (see
//!   `collectives/posted.rs`); the paths below serve the active-set `broadcast32/64` there, and every size across nodes.
//! - **Small, one node** (at most [`Group::inline_limit`], every member's heap mapped here): the root copies its
//!   `source` into its collective line before the opening barrier, and after it every member copies from the root's
//!   line into its own `dest`. Nobody reads the root's `source` after the barrier, so there is no closing barrier: one
//!   barrier per call (see the module documentation of `collectives`).
//! - **One node** (every member's heap mapped here): each member copies straight out of the root's `source`
//!   (one MTE get = one memcpy from the root's mapping); the opening barrier says the source is ready, the
//!   closing one that nobody reads it any more. Every member moves the data once, in parallel.
//! - **Across nodes**: a binomial tree rooted at the root. With `r` a member's distance from the root (team
//!   order, modulo the team size), the member waits for its parent's put-with-signal (data into its `dest`,
//!   then its signal word), clears the signal, and forwards to `r + 2^k` for each `2^k` below the lowest set
//!   bit of `r` (the root: below the team size), largest first. `log2(n)` network steps, every byte crosses
//!   each tree edge once; a quiet before the closing barrier completes the forwarded puts.

use super::typed::check_len;
use super::{
    check_range, get, local_copy, local_ptr, posted, put, wait_signal, DataType, Desc, Element, Group, Kind, Lines,
};
use crate::current::with_current;
use crate::runtime::Runtime;
use crate::{Shmem, SymVec};
use shmem_core::{Error, HeapOffset, Result};

/// Broadcasts `nelems` elements of `dt` from `source` on team PE `root` to `dest` on every member of `team`
/// (symmetric addresses). Collective over `team`.
///
/// # Errors
/// Across nodes: INVALID_PARAM on every member when one passes a range outside the heap or a root outside the
/// team; INVALID_VALUE on every member when they pass different types, counts or roots.
///
/// On one node the broadcast is posted (the root does not wait for the members; see `collectives/posted.rs`): the root
/// never fails for what the members passed; a member whose type, count or root differs from the root's, or whose
/// root is in a team sync or barrier-based collective instead, gets INVALID_VALUE and writes nothing; a root
/// outside the team is INVALID_PARAM on every member that passes it, the root's bad range INVALID_PARAM on the
/// root and every member naming it, a member's own bad `dest` INVALID_PARAM on that member only.
pub fn broadcast(team: i32, dt: DataType, dest: usize, source: usize, nelems: usize, root: i32) -> Result<()> {
    with_current(|rt| team_broadcast(rt, team, dt, dest, source, nelems, root as i64, None))
}

/// Joins the next broadcast on `team` only to fail it with `err` (an argument error the runtime cannot see, such
/// as a NumPy array smaller than the count): like [`crate::collectives::refuse`], but meeting the other members
/// the way this broadcast does (on the posted path a refusing non-root fails alone and a refusing root fails
/// every member that names it; see [`broadcast`]).
pub fn refuse(team: i32, dt: DataType, nelems: usize, root: i32, err: Error) -> Result<()> {
    with_current(|rt| team_broadcast(rt, team, dt, 0, 0, nelems, root as i64, Some(err)))
}

/// A team broadcast: the posted path for small payloads on one node (see `collectives/posted.rs`), the agreed one
/// otherwise.
#[allow(clippy::too_many_arguments)]
fn team_broadcast(
    rt: &Runtime,
    team: i32,
    dt: DataType,
    dest: usize,
    source: usize,
    nelems: usize,
    root: i64,
    mut pre: Option<Error>,
) -> Result<()> {
    // Waits aside, only an engine can block here (see `shmem_sync::hook`).
    rt.router.before_engine_block();
    let posted = rt.with_team(team, |t| {
        posted::applies(rt, t).then(|| {
            let n = t.members.as_slice().len();
            let (local, dst, src) =
                match pre.take().map_or_else(|| check_args(rt, dt, dest, source, nelems, root, n), Err) {
                    Ok((d, s)) => (None, d, s),
                    Err(e) => (Some(e), HeapOffset(0), HeapOffset(0)),
                };
            posted::run(rt, t, dt, dst, src, nelems, root, local)
        })
    })?;
    if let Some(done) = posted {
        return done;
    }
    let g = Group::team(rt, team)?;
    run(rt, &g, dt, dest, source, nelems, root, true, pre)
}

/// This PE's own argument check: the ranges of `dest` and `source` and the root index in a team of `n`.
fn check_args(
    rt: &Runtime,
    dt: DataType,
    dest: usize,
    source: usize,
    nelems: usize,
    root: i64,
    n: usize,
) -> Result<(HeapOffset, HeapOffset)> {
    let d = check_range(rt, "broadcast dest", dest, nelems, dt)?;
    let s = check_range(rt, "broadcast source", source, nelems, dt)?;
    if root < 0 || root >= n as i64 {
        return Err(Error::invalid(format!("broadcast root {root} is not a PE of the team ({n} PEs)")));
    }
    Ok((d, s))
}

/// [`broadcast`] of bytes (`shmem_broadcastmem`).
pub fn broadcastmem(team: i32, dest: usize, source: usize, nbytes: usize, root: i32) -> Result<()> {
    broadcast(team, DataType::Bytes, dest, source, nbytes, root)
}

/// The broadcast of a group; `to_root` says whether the root's `dest` receives the data too.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    rt: &Runtime,
    g: &Group,
    dt: DataType,
    dest: usize,
    source: usize,
    nelems: usize,
    root: i64,
    to_root: bool,
    pre: Option<Error>,
) -> Result<()> {
    let ranges = check_range(rt, "broadcast dest", dest, nelems, dt)
        .and_then(|d| Ok((d, check_range(rt, "broadcast source", source, nelems, dt)?)));
    let root_ok = if root < 0 || root >= g.len() as i64 {
        Err(Error::invalid(format!("broadcast root {root} is not a PE of {} ({} PEs)", g.label, g.len())))
    } else {
        Ok(())
    };
    let (local, (dst, src)) = match ranges.and_then(|r| root_ok.map(|_| r)) {
        Ok(r) => (pre, r),
        Err(e) => (Some(pre.unwrap_or(e)), (HeapOffset(0), HeapOffset(0))),
    };
    let desc = Desc::new(Kind::Broadcast, dt, nelems, root as u64);
    // Saturating: an absurd count is this member's INVALID_PARAM (`local`), never an overflow panic here.
    let len = nelems.saturating_mul(dt.size());
    // Inline when small (the count is agreed, so every member decides alike); only the root stages.
    let inline = len <= g.inline_limit();
    let stage = (inline && root == g.me as i64).then_some((src, len));
    let from_lines = |_: &[Desc], lines: &Lines| {
        inline.then(|| {
            let root = root as usize;
            if g.me != root {
                let d = local_ptr(rt, dst, len);
                let from = lines.payload(rt, g, root, len);
                // SAFETY: d..d+len is this PE's checked dest, which nothing else touches during the call; `from` is
                // the root's line, another mapping's bytes.
                unsafe { std::ptr::copy_nonoverlapping(from.as_ptr(), d, len) };
            } else if to_root {
                local_copy(rt, dst, src, len);
            }
            Ok(())
        })
    };
    g.run_staged(
        rt,
        desc,
        local,
        stage,
        |_| None,
        from_lines,
        |_| move_data(rt, g, dst, src, nelems * dt.size(), root as usize, to_root),
    )
}

fn move_data(
    rt: &Runtime,
    g: &Group,
    dst: HeapOffset,
    src: HeapOffset,
    len: usize,
    root: usize,
    to_root: bool,
) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let n = g.len();
    if g.me == root && to_root {
        local_copy(rt, dst, src, len);
    }
    if g.all_mapped(rt) {
        if g.me != root {
            // SAFETY: dst is a checked range of this PE's heap that nothing else touches during the call.
            unsafe { get(rt, g.pe(root), src, local_ptr(rt, dst, len), len, false)? };
        }
        return Ok(());
    }
    let r = (g.me + n - root) % n;
    if r != 0 {
        wait_signal(rt, g)?;
    }
    // The root forwards its source; the others the copy that just arrived in their dest.
    let from = local_ptr(rt, if r == 0 { src } else { dst }, len);
    let limit = if r == 0 { n.next_power_of_two() } else { r & r.wrapping_neg() };
    let mut mask = limit >> 1;
    while mask > 0 {
        if r + mask < n {
            let child = (r + mask + root) % n;
            // SAFETY: `from` is a checked local heap range, read only during the blocking put.
            unsafe { put(rt, g.pe(child), dst, from, len, Some(g.signal))? };
        }
        mask >>= 1;
    }
    rt.quiet()
}

impl Shmem {
    /// Broadcasts the root's `src` into `dst` on every member of `team` (team PE `root`); `src.len()`
    /// elements, `dst` at least as long. Collective over `team` (`shmem::team::TEAM_WORLD` for all PEs).
    pub fn broadcast<T: Element>(&self, team: i32, dst: &SymVec<T>, src: &SymVec<T>, root: u32) -> Result<()> {
        let n = src.len();
        let pre = check_len("broadcast dst", dst.len(), n);
        team_broadcast(&self.rt, team, T::DTYPE, dst.addr(), src.addr(), n, i64::from(root), pre)
    }
}
