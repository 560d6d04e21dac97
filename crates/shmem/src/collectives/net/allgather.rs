//! Allgather of blocks into their final places in every member's `dest`: the data movement of (f)collect
//! across nodes, and the second half of the large reduction (the reduced slices).
//!
//! # Algorithms
//! The blocks are contiguous in team order (block `j` at `offs[j]..offs[j+1]` of `dest`, the same offsets on
//! every member, computed from agreed sizes), and each member starts with its own block in place.
//! - **Recursive doubling** (Bruck's concatenation, for any team size): in round `k` member `i` puts the
//!   blocks it holds, `i .. i + 2^k` (modulo `n`, at most `n - 2^k` of them), into member `i - 2^k`, and
//!   receives `i + 2^k .. i + 2^(k+1)` from member `i + 2^k`. Because every block lands at its final offset, no
//!   rotation and no receive buffer are needed; a run of blocks that wraps past the end is two puts. Round `k`
//!   adds bit `k` to the receiver's signal word with its last put. `⌈log2 n⌉` rounds, and each member sends
//!   `(n - 1)/n` of the result, the least any algorithm can.
//! - **Ring**: in step `s` member `i` forwards block `i - s` to member `i + 1` and waits for block `i - 1 - s`
//!   from member `i - 1`; each step adds 1 to the receiver's signal word, and a member's puts to its successor
//!   arrive in order, so the count says how many blocks have arrived. `n - 1` steps, the same bytes, but every
//!   member talks to one neighbour only: no member's link carries more than one stream at a time.
//!
//! Under the default policy (`auto`, see `policy`) results below `SHMEM_COLL_NET_MIN` (64 KiB) are pulled
//! directly by the family's own algorithm, recursive doubling is chosen from there, and the ring from
//! `SHMEM_COLL_RING_MIN` (8 MiB) of result on; the choice depends only on agreed sizes, so it is the same on
//! every member.

use super::{clear_signal, put_plain, put_signal, wait_signal};
use crate::collectives::Group;
use crate::runtime::Runtime;
use shmem_core::{HeapOffset, Result};

/// Fills every block of `dest` on every member of `g`; `offs` holds `n + 1` byte offsets relative to `dest`
/// (block `j` is `offs[j]..offs[j+1]`), and this member's own block is already in place. Returns when this
/// member's `dest` is complete and its signal word is clear again.
pub(crate) fn allgather(rt: &Runtime, g: &Group, dest: HeapOffset, offs: &[u64]) -> Result<()> {
    let n = g.len();
    debug_assert_eq!(offs.len(), n + 1);
    if n == 1 || offs[n] == 0 {
        return Ok(());
    }
    if rt.config.coll_net.ring(offs[n]) {
        ring(rt, g, dest, offs)
    } else {
        doubling(rt, g, dest, offs)
    }
}

/// Bruck's recursive doubling with blocks in place (see the module doc).
pub(super) fn doubling(rt: &Runtime, g: &Group, dest: HeapOffset, offs: &[u64]) -> Result<()> {
    let (n, me) = (g.len(), g.me);
    let mut have = 1usize;
    let mut k = 0u32;
    while have < n {
        let dist = have;
        let cnt = have.min(n - have);
        let to = (me + n - dist) % n;
        // The blocks me .. me+cnt (mod n): one byte range, or two when the run wraps past the last block.
        let first = me;
        let end = first + cnt;
        let (a, b) =
            if end <= n { ((offs[first], offs[end]), (0, 0)) } else { ((offs[first], offs[n]), (0, offs[end - n])) };
        // The wrapped part (b) first, so that the signal rides on the last put; empty parts are skipped, but the
        // signal always goes (as a signal-only put when the whole run is empty).
        put_plain(rt, g, to, dest.plus(b.0), (b.1 - b.0) as usize)?;
        put_signal(rt, g, to, dest.plus(a.0), (a.1 - a.0) as usize, 1 << k)?;
        let bit = 1u64 << k;
        wait_signal(rt, g, |w| w & bit != 0, "a recursive-doubling round of an allgather")?;
        have += cnt;
        k += 1;
    }
    clear_signal(rt, g);
    rt.quiet()
}

/// The ring (see the module doc).
fn ring(rt: &Runtime, g: &Group, dest: HeapOffset, offs: &[u64]) -> Result<()> {
    let (n, me) = (g.len(), g.me);
    let next = (me + 1) % n;
    for s in 0..n - 1 {
        let j = (me + n - s) % n;
        put_signal(rt, g, next, dest.plus(offs[j]), (offs[j + 1] - offs[j]) as usize, 1)?;
        let want = s as u64 + 1;
        wait_signal(rt, g, |w| w >= want, "a ring step of an allgather")?;
    }
    clear_signal(rt, g);
    rt.quiet()
}

/// (F)collect across nodes: copies this member's `src` into its block of `dst`, then gathers the others
/// (`lens`: every member's block length in bytes, in team order, as agreed).
pub(super) fn gather_blocks(
    rt: &Runtime,
    g: &Group,
    dst: HeapOffset,
    src: HeapOffset,
    lens: impl Iterator<Item = u64>,
) -> Result<()> {
    let mut offs = vec![0u64];
    for l in lens {
        offs.push(offs[offs.len() - 1] + l);
    }
    let mine = offs[g.me];
    crate::collectives::local_copy(rt, dst.plus(mine), src, (offs[g.me + 1] - mine) as usize);
    allgather(rt, g, dst, &offs)
}

/// The second half of the large reduction across nodes: this member's reduced `slice` (its share of `nreduce`
/// elements of `size` bytes, split as evenly as possible in team order) goes into its own `dst`, then every
/// member's slice is gathered. No meet is needed for members that reduce in place: every byte written into a
/// member's `dst` here was reduced by the slice's owner after it had read that slice of every member's source.
pub(super) fn gather_slices(
    rt: &Runtime,
    g: &Group,
    dst: HeapOffset,
    slice: &[u8],
    nreduce: usize,
    size: usize,
) -> Result<()> {
    let n = g.len();
    let (q, r) = (nreduce / n, nreduce % n);
    let offs: Vec<u64> = (0..=n).map(|c| ((c * q + c.min(r)) * size) as u64).collect();
    let at = offs[g.me] as usize;
    let d = crate::collectives::local_ptr(rt, dst.plus(at as u64), slice.len());
    // SAFETY: d..d+len is this member's slice of its checked `dst`, which nothing else writes during the call
    // (peers only write the other slices); `slice` is private scratch.
    unsafe { std::ptr::copy_nonoverlapping(slice.as_ptr(), d, slice.len()) };
    allgather(rt, g, dst, &offs)
}
