//! Synchronization for the SHMEM runtime, independent of the transport.
//!
//! - [`wait`]: waiting on a word of the local heap: a short spin, then yielding, then a futex sleep that
//!   remote writers wake (see `shmem_core::wake`); with a watchdog that reports a wait that looks stuck, and
//!   an abort path when the job fails.
//! - [`barrier`]: a dissemination barrier built on engine atomics into the reserved sync area, so it works on
//!   every engine and runs at memory speed on one node.
//! - [`cmp`]: the comparison operators and the value types waits accept.
//! - [`contention`]: noticing that other processes take this process's cores, so that waits sleep at once.
//! - [`placement`]: the CPU each PE of a node last ran on, so that a waiter yields only where that can help.
//! - [`hook`]: the thread-local "about to block" hook every wait calls before it blocks (the Python binding
//!   keeps the GIL for calls that never wait).

#![deny(missing_docs)]

pub mod barrier;
pub mod cmp;
pub mod contention;
pub mod family;
pub mod hook;
pub mod placement;
pub mod wait;

pub use barrier::{
    barrier_carrying, barrier_completing, barrier_probed, depart, BarrierState, TeamView, CARRY_WORDS,
    RELEASE_CARRY_WORDS,
};
pub use cmp::{CmpOp, IntoCmpOp, WaitValue};
pub use wait::{JobHealth, SyncConfig, WaitClock, WaitCtx};
