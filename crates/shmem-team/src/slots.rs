//! Team ids are slots of the reserved sync area; this is the bookkeeping of which are free.

use shmem_core::heap::layout::MAX_TEAMS;
use shmem_core::{Error, Result};

/// The id of TEAM_WORLD.
pub const TEAM_WORLD: i32 = 0;
/// The id of the team of PEs on this node (TEAM_SHARED in OpenSHMEM).
pub const TEAM_NODE: i32 = 1;
/// The id returned to PEs outside a new team, and the "no team" value.
pub const TEAM_INVALID: i32 = -1;

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
