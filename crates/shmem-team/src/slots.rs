//! Team ids name a slot of the reserved sync area and the generation of the team in it; this is the
//! bookkeeping of which slots are free and how a handle is encoded.
//!
//! A handle is a non-negative `i32`: the slot in its low [`SLOT_BITS`] bits, the team's generation above them.
//! The predefined teams have generation 0 (so TEAM_WORLD is 0 and TEAM_NODE 1); every team made later gets a
//! generation agreed by its members, larger than any this PE has used, so a handle kept after its team was
//! destroyed never names the team that reuses the slot.

use shmem_core::heap::layout::MAX_TEAMS;
use shmem_core::{Error, Result};

/// The id of TEAM_WORLD.
pub const TEAM_WORLD: i32 = 0;
/// The id of the team of PEs on this node (TEAM_SHARED in OpenSHMEM).
pub const TEAM_NODE: i32 = 1;
/// The id returned to PEs outside a new team, and the "no team" value.
pub const TEAM_INVALID: i32 = -1;

/// Bits of a handle that hold the slot (`MAX_TEAMS` is a power of two).
pub const SLOT_BITS: u32 = MAX_TEAMS.trailing_zeros();
const _: () = assert!(MAX_TEAMS.is_power_of_two() && SLOT_BITS < 16);
/// Generations that fit a handle beside the slot (positive `i32`); they wrap after this many team creations.
const GEN_MODULUS: u64 = (1u64 << (31 - SLOT_BITS)) - 1;

/// The handle of the team of generation `generation` (0 for the predefined teams) in `slot`.
pub fn team_handle(slot: u32, generation: u64) -> i32 {
    debug_assert!(slot < MAX_TEAMS);
    let g = if generation == 0 { 0 } else { 1 + (generation - 1) % GEN_MODULUS };
    ((g << SLOT_BITS) | slot as u64) as i32
}

/// The slot a handle names, or `None` for a negative handle.
pub fn handle_slot(handle: i32) -> Option<u32> {
    u32::try_from(handle).ok().map(|h| h & (MAX_TEAMS - 1))
}

/// The free team slots of one PE, as a bit set (bit `i` set = slot `i` free). Two PEs agree on a slot for a
/// new team by AND-ing their masks and taking the lowest set bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotMask(pub u64);

impl SlotMask {
    /// A fresh PE: every slot free except TEAM_WORLD's and TEAM_NODE's.
    pub fn initial() -> SlotMask {
        let all = if MAX_TEAMS >= 64 { u64::MAX } else { (1u64 << MAX_TEAMS) - 1 };
        SlotMask(all & !0b11)
    }

    /// The slots free in both.
    pub fn and(self, other: SlotMask) -> SlotMask {
        SlotMask(self.0 & other.0)
    }

    /// The lowest free slot, or the error naming the bound.
    pub fn lowest(self) -> Result<u32> {
        if self.0 == 0 {
            return Err(Error::invalid(format!(
                "too many teams: at most {MAX_TEAMS} may be alive at once on a PE (TEAM_WORLD and TEAM_NODE \
                 included); destroy teams you no longer need"
            )));
        }
        Ok(self.0.trailing_zeros())
    }

    /// Marks `slot` used.
    pub fn take(&mut self, slot: u32) {
        self.0 &= !(1u64 << slot);
    }

    /// Marks `slot` free again.
    pub fn release(&mut self, slot: u32) {
        self.0 |= 1u64 << slot;
    }

    /// Whether `slot` is free.
    pub fn is_free(self, slot: u32) -> bool {
        slot < 64 && self.0 & (1u64 << slot) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles() {
        assert_eq!(team_handle(0, 0), TEAM_WORLD);
        assert_eq!(team_handle(1, 0), TEAM_NODE);
        let a = team_handle(2, 1);
        let b = team_handle(2, 2);
        assert!(a > 1 && b > 1 && a != b);
        assert_eq!((handle_slot(a), handle_slot(b)), (Some(2), Some(2)));
        assert_eq!(handle_slot(TEAM_INVALID), None);
        let last = team_handle(MAX_TEAMS - 1, GEN_MODULUS);
        assert!(last > 0 && handle_slot(last) == Some(MAX_TEAMS - 1));
        assert_eq!(team_handle(5, GEN_MODULUS + 1), team_handle(5, 1), "wraps, never 0 or negative");
        assert!(team_handle(5, u64::MAX) > 0);
    }

    #[test]
    fn agree_take_release() {
        let mut a = SlotMask::initial();
        let mut b = SlotMask::initial();
        assert_eq!(a.and(b).lowest().unwrap(), 2);
        a.take(2);
        assert_eq!(a.and(b).lowest().unwrap(), 3, "slot taken on one PE is skipped by both");
        b.take(3);
        assert_eq!(a.and(b).lowest().unwrap(), 4);
        a.release(2);
        assert!(a.is_free(2) && !a.is_free(0) && !a.is_free(1));
        let mut full = SlotMask::initial();
        for s in 2..MAX_TEAMS {
            full.take(s);
        }
        let e = full.lowest().unwrap_err();
        assert!(e.to_string().contains(&MAX_TEAMS.to_string()), "{e}");
    }
}
