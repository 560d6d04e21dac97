//! The RoCE engine: one-sided operations between PEs as RDMA verbs on reliable-connected queue pairs, for RoCE
//! and InfiniBand NICs (and Linux soft-RoCE, `rdma_rxe`, which the project's VM test uses).
//!
//! # How an operation travels
//! At set-up each PE opens a verbs device (the first with an active port, or `SHMEM_ROCE_DEVICE`), registers
//! its whole symmetric heap as one memory region (remote read, write, atomic), creates one RC queue pair per PE
//! of the job (itself included, as loopback) and publishes a [`wire::ConnRecord`] (queue-pair numbers, GID,
//! LID, rkey, heap address, first PSN) through the set-up's exchange; then it connects each queue pair.
//! - a **put** is RDMA WRITEs of at most the port's message size when the source lies in the heap (zero
//!   copy), else of 64 KiB bounce slots the source is copied into (the caller may reuse it at once); up to 64
//!   requests per peer are in flight;
//! - a **get** is RDMA READs, into the heap directly or into bounce slots copied out as they complete;
//! - a **put with signal** is the WRITEs, then a fenced signal update: ADD as a fetch-and-add, SET as a
//!   compare-and-swap loop, so the signal is atomic with every other AMO on the word;
//! - **atomics**: 64-bit fetch-add and compare-swap are the NIC's; fetch is fetch-add of 0; swap, and, or, xor
//!   and every 32-bit AMO are compare-and-swap loops on the aligned 64-bit word (the loop retries only when
//!   another writer changed the word in between, so each is still one atomic step);
//! - **quiet** polls every queue pair until all its requests completed; **fence** sets `IBV_SEND_FENCE` on the
//!   next request to every PE when a READ or atomic is outstanding on that queue pair (WRITEs on one RC queue
//!   pair already execute in order; the flag orders nothing else);
//! - READs and atomics in flight per queue pair are capped (`SHMEM_ROCE_RD_ATOMIC`, default 1), WRITEs are not
//!   (up to 64 requests per queue pair). Soft-RoCE in Linux 6.1 stalled, with neither a completion nor an
//!   error, on a fenced atomic queued behind WRITEs and on several atomics in flight from several PEs; the VM
//!   test found both, and the defaults keep clear of them.
//!
//! The NIC writes memory without the target's CPU, so it cannot wake a sleeping waiter: the engine says
//! `remote_writes_wake: false` and the facade's waits poll in short slices.
//!
//! # Failures
//! A failed work completion (a dead peer is `IBV_WC_RETRY_EXC_ERR` after about half a second of retries) is an
//! error naming the peer and the verbs status, sticky for that peer; polling is bounded by the control
//! timeout, so nothing hangs. A peer the engine gives up on (a failed completion or post, no completion within
//! the control timeout) has its queue pair moved to the error state and its flushed requests reaped, so the
//! device writes nothing more into buffers whose callers were given the error. Each connection uses the
//! smaller of its two ports' MTUs. Where the host has no verbs device (no RDMA in the kernel: `ENOSYS`; no device;
//! no active port), building the engine is `NotSupported` saying so.

#![deny(missing_docs)]

pub mod config;
mod engine;
mod verbs;
pub mod wire;

pub use config::RoceConfig;
pub use engine::RoceEngine;
