//! Where things live inside a PE's segment: the user's symmetric heap first, then the reserved sync area that
//! the runtime's own words (wake word, barrier counters, allocation records) occupy. The layout is a pure
//! function of the heap size, so every PE computes the same offsets.
//!
//! ```text
//! 0                       heap_size (rounded up to 4 KiB)                                   segment_len
//! | symmetric heap (user)  | header (CPU hint) | wake line | alloc records | team sync blocks ...   |
//! ```

use crate::types::HeapOffset;

/// Bytes of one cache line; words written by different PEs sit on different lines.
pub const CACHE_LINE: u64 = 64;
/// Most teams that can be alive at once (TEAM_WORLD and the node team included).
pub const MAX_TEAMS: u32 = 64;
/// Words per team sync block: five cache lines, for the barrier's round counters (two lines), its node counter,
/// its release word, and each member's progress and arrival words (see `shmem_sync::barrier`).
pub const TEAM_SYNC_WORDS: u64 = 40;
/// Bytes of one team's sync block.
pub const TEAM_SYNC_BYTES: u64 = TEAM_SYNC_WORDS * 8;
/// Bytes of the reserved sync area after the heap: the runtime's words (below), then room at its end for the
/// collectives' per-team lines, which carry small payloads inline, and the per-team rings of the posted
/// (pipelined) broadcast (the `shmem` crate's `collectives` module places them and checks at compile time that
/// they fit). 640 KiB before the posted broadcast's rings (1 MiB for 64 team slots) came.
pub const SYNC_AREA_BYTES: u64 = 1664 * 1024;

const HEADER: u64 = 0;
const WAKE_LINE: u64 = HEADER + CACHE_LINE;
const ALLOC_RECORDS: u64 = WAKE_LINE + CACHE_LINE;
/// Bytes of one allocation record (see [`HeapLayout::alloc_record`]).
pub const ALLOC_RECORD_BYTES: u64 = 32;
const TEAM_AGREE: u64 = ALLOC_RECORDS + 2 * CACHE_LINE;
/// Words of a PE's team-creation line (see [`HeapLayout::team_agree`]).
pub const TEAM_AGREE_WORDS: u64 = CACHE_LINE / 8;
const TEAM_BLOCKS: u64 = TEAM_AGREE + CACHE_LINE;
/// The sync block after the last team's: the pseudo-slot of the collective allocation agreement, which has a
/// barrier of its own so that it never meets another collective (a `barrier_all`) by mistake.
pub const ALLOC_SYNC_SLOT: u32 = MAX_TEAMS;
/// Start of the scratch words a team's collectives may use, after the team blocks and the allocation block.
const SCRATCH: u64 = TEAM_BLOCKS + (MAX_TEAMS as u64 + 1) * TEAM_SYNC_BYTES;

const _: () = assert!(SCRATCH <= SYNC_AREA_BYTES, "sync area too small for its contents");
const _: () = assert!(
    TEAM_BLOCKS.is_multiple_of(CACHE_LINE) && TEAM_SYNC_BYTES.is_multiple_of(CACHE_LINE),
    "team blocks start on cache lines, so that a block's words share lines as the barrier places them"
);
/// Bytes at the start of the sync area taken by the words above (header, wake line, allocation records, team
/// agreement, team sync blocks); the rest, up to [`SYNC_AREA_BYTES`], is free for the collectives' scratch.
pub const SYNC_WORDS_BYTES: u64 = SCRATCH;

/// The offsets of one job's segments (identical on every PE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapLayout {
    heap_size: u64,
    sync_base: u64,
}

impl HeapLayout {
    /// The layout for a symmetric heap of `heap_size` bytes.
    pub fn new(heap_size: u64) -> HeapLayout {
        HeapLayout { heap_size, sync_base: heap_size.div_ceil(4096) * 4096 }
    }

    /// Bytes of the user's symmetric heap.
    pub fn heap_size(&self) -> u64 {
        self.heap_size
    }

    /// Bytes of the whole segment: heap plus sync area.
    pub fn segment_len(&self) -> u64 {
        self.sync_base + SYNC_AREA_BYTES
    }

    /// Whether `off..off+len` lies inside the user's heap.
    pub fn heap_contains(&self, off: u64, len: u64) -> bool {
        off.checked_add(len).is_some_and(|end| end <= self.heap_size)
    }

    /// The 64-bit word in which this PE leaves the CPU it last ran on (plus one; zero: not known), for the PEs of
    /// its node that share cores with it: a waiter decides from it whether yielding its core could help the PE
    /// it waits for (see `shmem_sync::placement`). Alone on the header line, written only when it changes.
    pub fn cpu_hint(&self) -> HeapOffset {
        HeapOffset(self.sync_base + HEADER)
    }

    /// The 32-bit futex word sleepers on this PE wait on (offset 0 of the wake line) and the 32-bit count of
    /// sleepers (offset 4). Writers that change a word on this PE wake it when the count is non-zero.
    pub fn wake_seq(&self) -> HeapOffset {
        HeapOffset(self.sync_base + WAKE_LINE)
    }

    /// See [`HeapLayout::wake_seq`].
    pub fn sleepers(&self) -> HeapOffset {
        HeapOffset(self.sync_base + WAKE_LINE + 4)
    }

    /// The 32-bit count, approximate, of this PE's sleepers that are asleep now: registered, about to enter or in
    /// the futex, and not yet woken (a woken sleeper waiting for a core still counts in [`HeapLayout::sleepers`]
    /// until it runs). Read by the node's waits to tell this job's runnable threads from other processes' (see
    /// `shmem_sync::contention`).
    pub fn asleep(&self) -> HeapOffset {
        HeapOffset(self.sync_base + WAKE_LINE + 24)
    }

    /// The 64-bit lowest heap offset sleepers on this PE watch (then the 64-bit end of that range).
    pub fn watch_lo(&self) -> HeapOffset {
        HeapOffset(self.sync_base + WAKE_LINE + 8)
    }

    /// See [`HeapLayout::watch_lo`].
    pub fn watch_hi(&self) -> HeapOffset {
        HeapOffset(self.sync_base + WAKE_LINE + 16)
    }

    /// One of this PE's two allocation records (`parity` 0 or 1): four u64 words describing its latest
    /// collective allocation call, read by the other PEs to check that all made the same call.
    pub fn alloc_record(&self, parity: u64) -> HeapOffset {
        HeapOffset(self.sync_base + ALLOC_RECORDS + (parity & 1) * CACHE_LINE)
    }

    /// This PE's team-creation words (`word < TEAM_AGREE_WORDS`): its free team slots, a digest of its split's
    /// arguments, its team generation and its triplet; read by the parent team's members to agree on the new
    /// team (see the facade's team module).
    pub fn team_agree(&self, word: u64) -> HeapOffset {
        debug_assert!(word < TEAM_AGREE_WORDS);
        HeapOffset(self.sync_base + TEAM_AGREE + word * 8)
    }

    /// Word `word` of the sync block of team slot `slot` (`slot < MAX_TEAMS`, or [`ALLOC_SYNC_SLOT`];
    /// `word < TEAM_SYNC_WORDS`).
    pub fn team_word(&self, slot: u32, word: u64) -> HeapOffset {
        debug_assert!(slot <= ALLOC_SYNC_SLOT && word < TEAM_SYNC_WORDS);
        HeapOffset(self.sync_base + TEAM_BLOCKS + slot as u64 * TEAM_SYNC_BYTES + word * 8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_do_not_overlap_and_fit() {
        let l = HeapLayout::new(1000);
        assert_eq!(l.segment_len(), 4096 + SYNC_AREA_BYTES);
        assert!(l.heap_contains(0, 1000) && !l.heap_contains(1, 1000) && !l.heap_contains(u64::MAX, 2));
        let a = l.alloc_record(1).0 + ALLOC_RECORD_BYTES;
        assert!(a <= l.team_word(0, 0).0);
        assert!(l.wake_seq().0 >= 4096 && l.sleepers().0 < l.alloc_record(0).0);
        assert!(l.watch_hi().0 + 8 <= l.asleep().0 && l.asleep().0 + 4 <= l.alloc_record(0).0, "on the wake line");
        assert!(l.cpu_hint().0 >= 4096 && l.cpu_hint().0 + CACHE_LINE <= l.wake_seq().0);
        assert!(l.team_word(MAX_TEAMS - 1, TEAM_SYNC_WORDS - 1).0 + 8 <= l.segment_len());
        assert!(l.team_agree(TEAM_AGREE_WORDS - 1).0 + 8 <= l.team_word(0, 0).0);
        assert!(l.team_word(ALLOC_SYNC_SLOT, TEAM_SYNC_WORDS - 1).0 + 8 <= l.sync_base + SCRATCH);
    }
}
