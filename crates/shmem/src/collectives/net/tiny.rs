//! Tiny reductions across nodes (the latency case: a few words per member): every member's whole `source`
//! gathered into every member's scratch by recursive doubling, then folded there in team order. Taken under
//! `SHMEM_COLL_NET_ALGO=doubling` (and under `auto` only when `SHMEM_COLL_NET_MIN` is lowered to the sources'
//! size; see `policy` for why `auto` pulls small results directly).
//!
//! # Why gather the sources rather than combine partial results
//! Recursive doubling of partial results (`a0+a1`, then `(a0+a1)+(a2+a3)`) folds in a tree, which for float
//! sums and products gives other bits than the team-order fold `((a0+a1)+a2)+a3` that every other path computes
//! (and that the one-node result is). Gathering the sources keeps the same `⌈log2 n⌉` rounds, costs `n` times
//! the bytes (nothing at this size), and lets every member fold exactly as the one-node path does, for every
//! type and operator: bit-identical results everywhere, one node or many.
//!
//! # Scratch (decision)
//! Each team slot owns [`TINY_SLOT_BYTES`] of the runtime's sync area, right after the runtime's own sync words
//! (before the collectives' per-slot lines at the end of the area; checked when the offset is computed, so a
//! layout without room falls back to the direct path rather than overlap). The blocks land at their final
//! offsets (block `j` at `j × bytes`), so no buffer is overwritten before it is read; a member writes another
//! member's scratch only after the opening barrier of the call, which that member enters only after it has
//! finished reading its scratch in the previous call.

use super::allgather::doubling;
use crate::collectives::types::combine_bytes;
use crate::collectives::{local_ptr, DataType, Group, Meet, ReduceOp};
use crate::runtime::Runtime;
use shmem_core::heap::layout::{HeapLayout, ALLOC_SYNC_SLOT, CACHE_LINE, MAX_TEAMS, TEAM_SYNC_WORDS};
use shmem_core::{HeapOffset, Result};

/// Bytes of one team slot's tiny scratch: all members' sources of a tiny reduction (64 members × 8 B, or
/// 8 members × 64 B).
pub(crate) const TINY_SLOT_BYTES: u64 = 512;

// The one-node inline lines (at the end of the sync area) and the tiny scratch (after the sync words) must both
// fit, or the tiny path would silently never run.
const _: () = assert!(
    shmem_core::heap::layout::SYNC_WORDS_BYTES.div_ceil(CACHE_LINE) * CACHE_LINE
        + MAX_TEAMS as u64 * TINY_SLOT_BYTES
        + crate::collectives::SCRATCH_BYTES
        <= shmem_core::heap::layout::SYNC_AREA_BYTES,
    "the sync area has no room for the tiny reductions' scratch"
);

/// The tiny scratch of team slot `slot`, or `None` when the sync area has no room for it before the
/// collectives' lines (`lines_from`: where those start).
pub(crate) fn scratch_offset(layout: &HeapLayout, lines_from: u64, slot: u32) -> Option<HeapOffset> {
    let words_end = layout.team_word(ALLOC_SYNC_SLOT, TEAM_SYNC_WORDS - 1).0 + 8;
    let base = words_end.div_ceil(CACHE_LINE) * CACHE_LINE;
    (base + MAX_TEAMS as u64 * TINY_SLOT_BYTES <= lines_from).then(|| HeapOffset(base + slot as u64 * TINY_SLOT_BYTES))
}

/// The reduction (see the module doc), or `None` when the sources do not fit the scratch or `g` is an active
/// set (whose state lives in the caller's `pSync`, without room for payloads).
pub(super) fn reduce(
    rt: &Runtime,
    g: &Group,
    op: ReduceOp,
    dt: DataType,
    (dst, src): (HeapOffset, HeapOffset),
    bytes: usize,
) -> Option<Result<()>> {
    let n = g.len();
    let total = n.checked_mul(bytes)?;
    if bytes == 0 || total as u64 > TINY_SLOT_BYTES {
        return None;
    }
    let Meet::Team(team) = g.meet else { return None };
    let slot = shmem_team::handle_slot(team)?;
    let lines_from = rt.layout.segment_len() - crate::collectives::SCRATCH_BYTES;
    let base = scratch_offset(&rt.layout, lines_from, slot)?;
    Some((|| {
        crate::collectives::local_copy(rt, base.plus((g.me * bytes) as u64), src, bytes);
        let offs: Vec<u64> = (0..=n).map(|j| (j * bytes) as u64).collect();
        doubling(rt, g, base, &offs)?;
        // Folded in private, 8-byte aligned buffers (the element types' alignment), in team order.
        let mut all = vec![0u64; total.div_ceil(8)];
        let all = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut all)[..total];
        // SAFETY: base..base+total is this PE's tiny scratch (inside its segment, checked above), complete: the
        // doubling returned after every block arrived, and nobody writes it again during this call.
        all.copy_from_slice(unsafe { std::slice::from_raw_parts(local_ptr(rt, base, total), total) });
        let mut acc = vec![0u64; bytes.div_ceil(8)];
        let acc = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut acc)[..bytes];
        acc.copy_from_slice(&all[..bytes]);
        for j in 1..n {
            let mut x = vec![0u64; bytes.div_ceil(8)];
            let x = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut x)[..bytes];
            x.copy_from_slice(&all[j * bytes..(j + 1) * bytes]);
            combine_bytes(dt, op, acc, x);
        }
        let d = local_ptr(rt, dst, bytes);
        // SAFETY: d..d+bytes is this PE's checked dest (it may be its source, which was copied out first).
        unsafe { std::ptr::copy_nonoverlapping(acc.as_ptr(), d, bytes) };
        Ok(())
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_slot_fits_before_the_lines_of_the_smallest_layout() {
        let l = HeapLayout::new(4096);
        // The collectives' per-slot blocks (signal line and two inline lines) at the end of the sync area.
        let lines_from = l.segment_len() - crate::collectives::SCRATCH_BYTES;
        let last = scratch_offset(&l, lines_from, MAX_TEAMS - 1).expect("room for every slot");
        assert!(last.0 + TINY_SLOT_BYTES <= lines_from);
        assert!(last.0 >= l.team_word(ALLOC_SYNC_SLOT, TEAM_SYNC_WORDS - 1).0 + 8);
        assert_eq!(scratch_offset(&l, l.team_word(ALLOC_SYNC_SLOT, 0).0, 0), None);
    }
}
