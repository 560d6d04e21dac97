//! Small newtypes that keep PE numbers and heap offsets apart from plain integers.

use std::fmt;

/// A PE number in TEAM_WORLD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pe(pub u32);

impl Pe {
    /// The PE number as an index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for Pe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PE {}", self.0)
    }
}

/// A byte offset inside a PE's segment (the symmetric heap followed by the reserved sync area). The same
/// offset names the same symmetric object on every PE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HeapOffset(pub u64);

impl HeapOffset {
    /// The offset as `usize`.
    pub fn get(self) -> usize {
        self.0 as usize
    }

    /// This offset moved forward by `bytes`.
    pub fn plus(self, bytes: u64) -> HeapOffset {
        HeapOffset(self.0 + bytes)
    }
}

impl fmt::Display for HeapOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{:#x}", self.0)
    }
}
