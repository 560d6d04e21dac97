//! Algorithms for groups whose members are not all on this node (some traffic crosses the network engine).
//!
//! On one node every member reads its peers' memory directly, so the direct algorithms of the family files are
//! the fast ones there. Across nodes every transfer is a message, and the direct algorithms make each member
//! send or receive `n - 1` of them; the algorithms here move the same bytes in `⌈log2 n⌉` rounds (Bruck's
//! recursive doubling) or along a ring (one neighbour per step), chosen by size the same way on every member
//! (the sizes are agreed before any data moves).
//!
//! # Scratch (decision)
//! As everywhere in the collectives, no symmetric memory beyond the caller's `dest` and `source` is used: every
//! block is put straight into its final place in the receivers' `dest`, so no receive buffer is ever
//! overwritten before it has been read, and no handshake is needed between rounds. The only shared state is the
//! group's 64-bit signal word (the tree broadcast's), which every algorithm here leaves at 0 before the closing
//! barrier.

pub(crate) mod allgather;
pub(crate) use crate::coll_policy as policy;
pub(crate) mod tiny;

use super::{DataType, Group, ReduceOp};
use crate::runtime::Runtime;
use shmem_core::engine::{Completion, DataOpEngine, Put, SignalOp, SignalUpdate};
use shmem_core::{HeapOffset, Result};
use std::sync::atomic::Ordering;

/// Whether a collective of `g` with a result of `total` bytes takes the algorithms here: some member is on
/// another node, and the policy does not pull directly at this size.
fn applies(rt: &Runtime, g: &Group, total: u64) -> bool {
    g.len() > 1 && !rt.config.coll_net.direct(total) && !g.all_mapped(rt)
}

/// The data movement of (f)collect across nodes (`lens`: every member's block in bytes, in team order, as
/// agreed), or `None` when the family's direct algorithm applies (one node, or the `direct` policy).
pub(crate) fn collect(
    rt: &Runtime,
    g: &Group,
    dst: HeapOffset,
    src: HeapOffset,
    lens: impl Iterator<Item = u64>,
) -> Option<Result<()>> {
    let lens: Vec<u64> = lens.collect();
    applies(rt, g, lens.iter().sum()).then(|| allgather::gather_blocks(rt, g, dst, src, lens.into_iter()))
}

/// The second half of the large reduction across nodes (this member's reduced `slice` of `nreduce` elements of
/// `size` bytes, gathered into every member's `dst`), or `None` as for [`collect`].
pub(crate) fn reduce_gather(
    rt: &Runtime,
    g: &Group,
    dst: HeapOffset,
    slice: &[u8],
    nreduce: usize,
    size: usize,
) -> Option<Result<()>> {
    applies(rt, g, (nreduce * size) as u64).then(|| allgather::gather_slices(rt, g, dst, slice, nreduce, size))
}

/// A reduction whose sources all fit one team slot's tiny scratch, across nodes (see [`tiny`]), or `None` when
/// it does not apply (one node, an active set, a larger reduction, the `ring` policy, or direct pulls at this
/// size: `direct`, or `auto` below its threshold).
pub(crate) fn reduce_tiny(
    rt: &Runtime,
    g: &Group,
    op: ReduceOp,
    dt: DataType,
    ranges: (HeapOffset, HeapOffset),
    bytes: usize,
) -> Option<Result<()>> {
    if !applies(rt, g, (g.len() * bytes) as u64) || rt.config.coll_net.algo == policy::NetAlgo::Ring {
        return None;
    }
    tiny::reduce(rt, g, op, dt, ranges, bytes)
}

/// Puts `len` bytes of this PE's heap at `src` into member `to`'s heap at `dst` (the same offsets: a block goes
/// to its final place), then adds `add` to `to`'s signal word of `g`. Blocking: puts of this PE to one target
/// become visible in the order they were issued, on every engine (see `Completion::Blocking`), so the signal
/// of a later put also covers the data of earlier ones to the same member.
pub(crate) fn put_signal(rt: &Runtime, g: &Group, to: usize, at: HeapOffset, len: usize, add: u64) -> Result<()> {
    let src = super::local_ptr(rt, at, len.max(1));
    let signal = SignalUpdate { at: g.signal, value: add, op: SignalOp::Add };
    let op = Put { pe: g.pe(to), dst: at, src, len, signal: Some(signal) };
    // SAFETY: `at..at+len` is a checked range of this PE's `dest` (the callers pass ranges inside the agreed
    // destination), which no other operation of the collective writes while this blocking put reads it.
    unsafe { rt.router.put(op, Completion::Blocking) }
}

/// Puts `len` bytes at `at` (as [`put_signal`]) without touching the signal word.
pub(crate) fn put_plain(rt: &Runtime, g: &Group, to: usize, at: HeapOffset, len: usize) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let src = super::local_ptr(rt, at, len);
    let op = Put { pe: g.pe(to), dst: at, src, len, signal: None };
    // SAFETY: as in `put_signal`.
    unsafe { rt.router.put(op, Completion::Blocking) }
}

/// Waits until `done` holds for this PE's signal word of `g` (bounded by the control timeout).
pub(crate) fn wait_signal(rt: &Runtime, g: &Group, done: impl Fn(u64) -> bool, what: &str) -> Result<()> {
    let node = &rt.node;
    shmem_sync::wait::wait_until(
        &rt.wait_ctx(true),
        Some((g.signal, 8)),
        || done(shmem_sync::wait::load_local::<u64>(node, g.signal)).then_some(()),
        || format!("{what} of {}", g.label),
    )
}

/// Clears this PE's signal word of `g` (every signal meant for it has arrived: the caller waited for all).
pub(crate) fn clear_signal(rt: &Runtime, g: &Group) {
    rt.node.word64(rt.me, g.signal).store(0, Ordering::Relaxed);
}
