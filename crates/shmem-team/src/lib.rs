//! Team arithmetic for the SHMEM runtime, free of processes and memory (quinn-proto style): which world PEs a
//! split produces, how PE numbers translate between teams, and which team slots are free.
//!
//! A team is an ordered list of world PEs ([`Members`]); a PE's number in the team is its index in that list.
//! The collective parts of team creation (agreeing on a slot, zeroing its sync words, barriers) live in the
//! facade, which uses this crate for every decision that must come out the same on every PE.

#![deny(missing_docs)]

mod members;
mod slots;

pub use members::{agree_strided, split_2d, split_strided, Members, Triplet};
pub use slots::{handle_slot, team_handle, SlotMask, SLOT_BITS, TEAM_INVALID, TEAM_NODE, TEAM_WORLD};
