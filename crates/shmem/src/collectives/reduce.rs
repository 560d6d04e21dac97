//! Reductions (`and/or/xor/max/min/sum/prod`): `dest[i] = source_0[i] op source_1[i] op ...` over the members,
//! in team order, on every member.
//!
//! # Algorithm
//! Chosen by size, the same way on every member (the count is agreed):
//! - **Tiny** (at most [`TINY_BYTES`], every member's heap mapped here): the inline path below with everything a
//!   peer reads in one cache line; on a team of three or more, the member completing the barrier folds once and
//!   the others take the result with the barrier's release: see [`run_tiny`] and [`completed_fold`].
//! - **Inline** (at most [`Group::inline_limit`] bytes, every member's heap mapped here): each member copies its
//!   `source` into its collective line before the opening barrier; after it each member folds every member's
//!   line in team order straight into its own `dest`. Nobody reads a `source` after the barrier (in place is
//!   free), so there is no closing barrier: one barrier per call.
//! - **Small** (`nreduce` below the team size, or at most 4 KiB): every member pulls every member's whole
//!   `source` (deferred gets, one quiet), folds them in team order, and writes its `dest`; when some member
//!   reduces in place (`dest == source`, which the descriptors say) the members meet first, so that nobody's
//!   `source` is still being read when it is overwritten. One round of latency; the bytes each member reads
//!   grow with the team, which is cheap at this size.
//! - **Large**: reduce-scatter then allgather, both direct. Member `c` owns a contiguous slice (the count split
//!   as evenly as possible); it pulls its slice from every member in blocks of at most 1 MiB, folds in team
//!   order, meets the others (only when some member reduces in place), then pushes the reduced slice into
//!   every member's `dest` and completes the puts with a quiet before the closing barrier. Each member moves
//!   about `2·(n-1)/n` of the array, the bandwidth-optimal amount, and all members work at once.
//! - **One node** (every member's heap mapped here), both sizes: the sources are folded where they lie, through
//!   the node's mappings, without first copying them into scratch; the large path folds its slice in 256 KiB
//!   blocks and pushes each block into every member's `dest` while it is in the cache (see
//!   [`reduce_scatter_mapped`]).
//!
//! Folding in team order on the owner of every element gives every member bit-identical results, also for
//! floating-point sums. Integers wrap around; `max`/`min` of floats keep the earlier operand unless the later
//! one compares larger/smaller. `dest` and `source` may be the same array; any other overlap is INVALID_PARAM.

use super::typed::check_len;
use super::types::combine_bytes;
use super::{check_range, get, local_ptr, put, DataType, Desc, Group, Kind, Lines, Meet, ReduceOp, Reducible};
use super::{HEADER_BYTES, TAG_WORD};
use crate::current::with_current;
use crate::runtime::Runtime;
use crate::{Shmem, SymVec};
use shmem_core::{Error, HeapOffset, Result};
use std::sync::atomic::Ordering;

/// Reductions at most this many bytes take the small path.
const SMALL_BYTES: usize = 4096;
/// Bytes per member pulled at once by the large path.
const BLOCK_BYTES: usize = 1 << 20;

/// Reduces `nreduce` elements of `dt` from `source` of every member of `team` with `op` into `dest` on every
/// member (symmetric addresses; `dest == source` allowed). Collective over `team`.
///
/// # Errors
/// INVALID_PARAM on every member when one passes a range outside the heap, overlapping (but different)
/// `dest`/`source`, or an operator its type lacks (bitwise ops on floats, max/min on complex); INVALID_VALUE
/// on every member when they pass different types, counts or operators.
pub fn reduce(team: i32, op: ReduceOp, dt: DataType, dest: usize, source: usize, nreduce: usize) -> Result<()> {
    with_current(|rt| run(rt, &Group::team(rt, team)?, op, dt, dest, source, nreduce, None))
}

/// Scratch of `bytes` bytes, 8-byte aligned (every element type's alignment).
fn scratch(bytes: usize) -> Vec<u64> {
    vec![0u64; bytes.div_ceil(8)]
}

fn bytes_of(v: &mut [u64], len: usize) -> &mut [u8] {
    &mut bytemuck::cast_slice_mut::<u64, u8>(v)[..len]
}

/// The reduction of a group.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    rt: &Runtime,
    g: &Group,
    op: ReduceOp,
    dt: DataType,
    dest: usize,
    source: usize,
    nreduce: usize,
    pre: Option<Error>,
) -> Result<()> {
    // Waits aside, only an engine can block here (see `shmem_sync::hook`).
    rt.router.before_engine_block();
    // Named only when a message is made (no formatting on every call).
    let what = || format!("{}_reduce of {}", op.name(), dt.name());
    let checked = if dt == DataType::Bytes || !dt.supports(op) {
        Err(Error::invalid(format!("{}: the {} operator is not defined on {}", what(), op.name(), dt.name())))
    } else {
        let named = |e| super::prefixed(e, what);
        check_range(rt, "dest", dest, nreduce, dt)
            .map_err(named)
            .and_then(|d| Ok((d, check_range(rt, "source", source, nreduce, dt).map_err(named)?)))
            .and_then(|(d, s)| {
                let len = (nreduce * dt.size()) as u64;
                let overlap = d != s && d.0 < s.0 + len && s.0 < d.0 + len;
                if overlap {
                    Err(Error::invalid(format!(
                        "{}: dest {dest:#x} and source {source:#x} overlap; they must be the same array or \
                         disjoint",
                        what()
                    )))
                } else {
                    Ok((d, s))
                }
            })
    };
    let (local, (dst, src)) = match checked {
        Ok(r) => (pre, r),
        Err(e) => (Some(pre.unwrap_or(e)), (HeapOffset(0), HeapOffset(0))),
    };
    let mut desc = Desc::new(Kind::Reduce, dt, nreduce, 0);
    desc.a = op as u64;
    // Not agreed (members may differ): whether this member reduces in place, so that every member knows
    // whether a barrier must separate the reads of the sources from the writes of the destinations.
    desc.cap = u64::from(local.is_none() && dst == src);
    // Inline when small (the count is agreed, so every member decides alike): every member stages its source.
    // Saturating: an absurd count is this member's INVALID_PARAM (`local`), never an overflow panic here.
    let bytes = nreduce.saturating_mul(dt.size());
    if (bytes <= TINY_BYTES || (g.len() == 2 && bytes <= PAIR_TINY_BYTES)) && g.inline_capable(rt) {
        return run_tiny(rt, g, op, dt, desc, local, (dst, src), bytes);
    }
    let small = bytes <= g.inline_limit();
    g.run_staged(
        rt,
        desc,
        local,
        small.then_some((src, bytes)),
        |_| None,
        |_, lines| {
            small.then(|| {
                fold_lines(rt, g, op, dt, lines, dst, bytes);
                Ok(())
            })
        },
        |all| {
            let in_place = all.iter().any(|d| d.cap != 0);
            let size = dt.size();
            let bytes = nreduce * size;
            if bytes == 0 {
                return Ok(());
            }
            // On one node (every member's heap mapped here) the sources are read in place: no copy into
            // scratch first (the bandwidth rows of coll-bench were paying for it).
            let mapped = g.all_mapped(rt) && (src.0 as usize).is_multiple_of(size.min(8));
            let mut bufs = Vec::new();
            if let Some(done) = super::net::reduce_tiny(rt, g, op, dt, (dst, src), bytes) {
                return done;
            }
            if nreduce < g.len() || bytes <= SMALL_BYTES {
                let mut direct;
                let acc: &[u64] = if mapped {
                    direct = scratch(bytes);
                    fold_mapped(rt, g, op, dt, src, bytes_of(&mut direct, bytes));
                    &direct
                } else {
                    fold(rt, g, op, dt, src, bytes, &mut bufs)?
                };
                if in_place {
                    g.meet(rt)?;
                }
                let d = local_ptr(rt, dst, bytes);
                // SAFETY: d..d+bytes is this PE's checked dest; acc is private scratch of at least `bytes`.
                unsafe { std::ptr::copy_nonoverlapping(acc.as_ptr().cast::<u8>(), d, bytes) };
                return Ok(());
            }
            let n = g.len();
            let (q, r) = (nreduce / n, nreduce % n);
            let lo = g.me * q + g.me.min(r);
            let count = q + usize::from(g.me < r);
            if mapped {
                return reduce_scatter_mapped(rt, g, op, dt, (dst, src), lo, count);
            }
            let mut mine = scratch(count * size);
            let block = (BLOCK_BYTES / size).max(1);
            let mut at = 0;
            while at < count {
                let k = block.min(count - at);
                let part = fold(rt, g, op, dt, src.plus(((lo + at) * size) as u64), k * size, &mut bufs)?;
                let out = &mut bytes_of(&mut mine, count * size)[at * size..(at + k) * size];
                out.copy_from_slice(&bytemuck::cast_slice::<u64, u8>(part)[..k * size]);
                at += k;
            }
            if let Some(done) = super::net::reduce_gather(rt, g, dst, bytes_of(&mut mine, count * size), nreduce, size)
            {
                return done;
            }
            if in_place {
                g.meet(rt)?;
            }
            let slice = bytes_of(&mut mine, count * size);
            let to = dst.plus((lo * size) as u64);
            for j in 0..n {
                // SAFETY: `slice` is private scratch, alive for the blocking put; `to` is a checked dest range.
                unsafe { put(rt, g.pe(j), to, slice.as_ptr(), slice.len(), None)? };
            }
            rt.quiet()
        },
    )
}

/// Most bytes a reduction sends through [`run_tiny`]: what fits after the tag and the record in the line.
pub(crate) const TINY_BYTES: usize = 32;
/// Word of the collective line's header (the line of the tag) where a tiny reduction's record starts: the
/// call's tag again, the packed agreed fields, the element count, then [`TINY_BYTES`] of payload.
const TINY_WORD: u64 = TAG_WORD + 1;
const _: () = assert!(
    (TINY_WORD + 3) * 8 + TINY_BYTES as u64 <= HEADER_BYTES && TAG_WORD * 8 == 64,
    "the tiny record and payload fit the tag's cache line"
);
/// Most bytes a reduction on a team of two sends through [`run_tiny`]: above [`TINY_BYTES`] its record and
/// payload go to the first two lines of the payload area (one 128-byte block, which a core's spatial prefetcher
/// fetches whole), not to the tag's line. (A team of three or more is limited to [`TINY_BYTES`] by the words the
/// completing member hands over.) Measured (2 PEs, f64 sum of 64 B, alternated runs): see
/// `benches/results/session12.md`.
pub(crate) const PAIR_TINY_BYTES: usize = 64;
/// Word of the collective line where a pair's record starts above [`TINY_BYTES`]: the payload area's first.
const PAIR_TINY_WORD: u64 = HEADER_BYTES / 8;
const _: () = assert!(
    (PAIR_TINY_WORD + 3) * 8 + PAIR_TINY_BYTES as u64 <= HEADER_BYTES + 128 && HEADER_BYTES.is_multiple_of(128),
    "a pair's record and payload fit one 128-byte block"
);
/// Mixed into the packed word so that a zeroed line never reads as a record.
const TINY_MAGIC: u64 = 0x7e1e_0000_0000_0000;

/// The tiny path (a one-node team, at most [`TINY_BYTES`]): the inline path of [`Group::run_staged`] with
/// everything a peer reads in the cache line of the call's tag. Measured on the 2-core VM, a 2-PE 8-byte
/// reduction paid for seven cache lines crossing cores besides the barrier: this member's descriptor line, tag
/// line and payload line written (each read by the peer two calls before), and the peer's three read. Here
/// each member writes its tag line once (tag, record, payload) and reads one line per peer.
///
/// The descriptor is still written where every collective writes it (only when it changed, so a repeated call
/// does not pull that line back either): a member that made another call, or found an argument error, makes
/// no matching record, and then every member reads all descriptors and reaches the same verdict as
/// [`Group::run_staged`] (no data moves, no closing barrier). The lines are double-buffered by barrier epoch
/// exactly as there, so the opening barrier of the next call closes this one.
///
/// On a team of three or more (the one-node gather-release barrier, the default), only the member whose arrival
/// completes the barrier reads the members' lines ([`completed_fold`]); the others read one line, the release's,
/// which they wait on anyway. Measured (coll_bench, 8 B f64 sum, Python, 5 alternated runs on the 2-core VM, medians):
/// 4 PEs 2.75 -> 2.52 us, 8 PEs 9.16 -> 7.74 us.
#[allow(clippy::too_many_arguments)]
fn run_tiny(
    rt: &Runtime,
    g: &Group,
    op: ReduceOp,
    dt: DataType,
    mut desc: Desc,
    local: Option<Error>,
    (dst, src): (HeapOffset, HeapOffset),
    bytes: usize,
) -> Result<()> {
    debug_assert!(matches!(g.meet, Meet::Team(_)), "inline capable means a team");
    rt.check_live()?;
    if let Some(e) = &local {
        desc.err = e.code().unsigned_abs() as u64;
    }
    let me = rt.me;
    for (i, w) in desc.words().into_iter().enumerate() {
        let word = rt.node.word64(me, g.desc.plus(8 * i as u64));
        if word.load(Ordering::Relaxed) != w {
            word.store(w, Ordering::Relaxed);
        }
    }
    let at = |w: u64| g.desc.plus(8 * w);
    rt.node.word64(me, at(TAG_WORD)).store(g.tag, Ordering::Relaxed);
    if let Meet::Team(team) = g.meet {
        if g.len() == 2 && bytes <= PAIR_CARRY_BYTES {
            return run_pair(rt, g, team, op, dt, &desc, local, (dst, src), bytes);
        }
    }
    let record = tiny_record(g.tag, &desc);
    let rec_word = if bytes <= TINY_BYTES { TINY_WORD } else { PAIR_TINY_WORD };
    for (i, w) in record.into_iter().enumerate() {
        rt.node.word64(me, at(rec_word + i as u64)).store(w, Ordering::Relaxed);
    }
    if local.is_none() {
        super::local_copy(rt, at(rec_word + 3), src, bytes);
    }
    let payload = Lines { payload: at(rec_word + 3) };
    // On a one-node team of three or more, the member completing the barrier checks every record and folds
    // every payload once, and the others take the result from the release line they wait on anyway: one cache
    // line per member instead of every member reading every member's line (see `completed_fold`). (Only up to
    // TINY_BYTES, the words it hands over; above, the team is a pair.)
    if let (Meet::Team(team), super::Members::Team(t), true) = (g.meet, &g.members, bytes <= TINY_BYTES) {
        let mut complete = || completed_fold(rt, g, op, dt, &payload, local.is_none().then_some(&record), bytes);
        if let Some(words) = rt.team_sync_completing(team, t, &mut complete)? {
            if local.is_some() || words[0] != COMPLETED | g.tag {
                return Err(disagreement(rt, g, &desc, local));
            }
            if bytes > 0 {
                let d = local_ptr(rt, dst, bytes);
                // SAFETY: d..d+bytes is this PE's checked dest (bytes <= TINY_BYTES, the four result words),
                // which nothing else reads or writes during the call; the words are a private copy.
                unsafe { std::ptr::copy_nonoverlapping(words[1..].as_ptr().cast::<u8>(), d, bytes) };
            }
            return Ok(());
        }
    } else {
        g.meet(rt)?;
    }
    // The next call's lines (the other parity) are free now: ask for them ahead (see `ask_for_next_lines`).
    g.ask_for_next_lines(rt, if bytes <= TINY_BYTES { 0 } else { 24 + bytes });
    let agreed = local.is_none()
        && (0..g.len()).all(|j| {
            (0..3u64).all(|i| rt.node.word64(g.pe(j), at(rec_word + i)).load(Ordering::Acquire) == record[i as usize])
        });
    if !agreed {
        return Err(disagreement(rt, g, &desc, local));
    }
    if bytes == 0 {
        return Ok(());
    }
    let d = local_ptr(rt, dst, bytes);
    // SAFETY: d..d+bytes is this PE's checked dest (aligned for dt by check_range), which nothing else reads or
    // writes during the call; the payloads folded into it are other bytes (the sync area).
    fold_into(rt, g, op, dt, &payload, unsafe { std::slice::from_raw_parts_mut(d, bytes) });
    Ok(())
}

/// What the member completing a tiny reduction's barrier hands every member (`shmem_sync::barrier_completing`):
/// the call's tag followed by the result (`bytes` of it, in team order, so every member gets the same bits),
/// marked with [`COMPLETED`], when every member's record equals this member's (`mine`: `None` after its own
/// argument error); else zeros, which no member takes for its marked tag, and each reaches the descriptor
/// verdict itself.
/// Runs after every member entered the barrier, so their records and payloads of this call are visible.
fn completed_fold(
    rt: &Runtime,
    g: &Group,
    op: ReduceOp,
    dt: DataType,
    payload: &Lines,
    mine: Option<&[u64; 3]>,
    bytes: usize,
) -> [u64; shmem_sync::RELEASE_CARRY_WORDS] {
    let mut out = [0u64; shmem_sync::RELEASE_CARRY_WORDS];
    let rec = |j: usize, i: u64| rt.node.word64(g.pe(j), g.desc.plus(8 * (TINY_WORD + i))).load(Ordering::Relaxed);
    let Some(mine) = mine.filter(|m| (0..g.len()).all(|j| (0..3u64).all(|i| rec(j, i) == m[i as usize]))) else {
        return out;
    };
    out[0] = COMPLETED | mine[0];
    if bytes > 0 {
        fold_into(rt, g, op, dt, payload, &mut bytemuck::cast_slice_mut::<u64, u8>(&mut out[1..])[..bytes]);
    }
    out
}
const _: () = assert!(8 * (shmem_sync::RELEASE_CARRY_WORDS - 1) >= TINY_BYTES, "the result fits the words");
/// Set in the tag that [`completed_fold`] hands over: a tag can be 0 (TEAM_WORLD's handle is 0 and the epoch's
/// low 32 bits wrap), which would match the zeros of a disagreement; a tag never has this bit (handles are
/// positive 32-bit numbers in the upper half).
const COMPLETED: u64 = 1 << 63;

/// The error of a tiny reduction whose members' records differ: every member reads all descriptors (written
/// before the barrier, as [`Group::run_staged`] does) and reaches the same verdict; no data moves.
fn disagreement(rt: &Runtime, g: &Group, desc: &Desc, local: Option<Error>) -> Error {
    let all = g.read_descs_mapped(rt);
    g.verdict(&all, local).unwrap_or_else(|| {
        Error::Inner(format!("{}: the members' records of a tiny reduction disagree", desc.describe()))
    })
}

/// [`run_tiny`] on a team of two, at most [`PAIR_CARRY_BYTES`]: the record and the payload travel in the
/// barrier's own cache line (`shmem_sync::barrier_carrying`), beside the signal the peer waits for, instead of in
/// this PE's tag line that the peer would read after the barrier: that read was one more cross-core transfer
/// on the call's critical path, after the signal's. Measured (coll-bench, 2 PEs, f64 sum of 8 B, alternated
/// runs on the 2-core VM): 0.40-0.46 us per call before, 0.28-0.40 after (the barrier alone 0.20-0.25; OSHMEM
/// 0.35-0.47 in the same runs). The descriptor and tag are written as on every path, so a member that made
/// another call (or a team sync: its barrier carries nothing, and the set then holds another epoch) leads both
/// to the descriptor verdict.
#[allow(clippy::too_many_arguments)]
fn run_pair(
    rt: &Runtime,
    g: &Group,
    team: i32,
    op: ReduceOp,
    dt: DataType,
    desc: &Desc,
    local: Option<Error>,
    (dst, src): (HeapOffset, HeapOffset),
    bytes: usize,
) -> Result<()> {
    let mine = pair_words(g.tag, desc, (local.is_none() && bytes > 0).then(|| local_ptr(rt, src, bytes)), bytes);
    let theirs = match &g.members {
        super::Members::Team(t) => rt.team_sync_with(team, t, Some(mine))?,
        super::Members::Set(_) => rt.team_sync_carrying(team, Some(mine))?,
    };
    let Some(theirs) = theirs.filter(|t| local.is_none() && t[0] == mine[0]) else {
        return Err(disagreement(rt, g, desc, local));
    };
    if bytes == 0 {
        return Ok(());
    }
    // Team order: member 0's payload first (bit-identical results on both members).
    let (first, second) = if g.me == 0 { (&mine, &theirs) } else { (&theirs, &mine) };
    let d = local_ptr(rt, dst, bytes);
    // SAFETY: d..d+bytes is this PE's checked dest (aligned for dt by check_range); both payloads are private
    // copies, so an in-place reduction (dest == source) reads nothing that this overwrites.
    let acc = unsafe { std::slice::from_raw_parts_mut(d, bytes) };
    acc.copy_from_slice(&bytemuck::cast_slice::<u64, u8>(&first[1..])[..bytes]);
    combine_bytes(dt, op, acc, &bytemuck::cast_slice::<u64, u8>(&second[1..])[..bytes]);
    Ok(())
}

/// Most bytes a tiny reduction on a team of two carries in the barrier's line (two of the carried words).
const PAIR_CARRY_BYTES: usize = 16;
const _: () = assert!(PAIR_CARRY_BYTES == 8 * (shmem_sync::CARRY_WORDS - 1), "record word + payload words");

/// The words a member of a pair carries to the other in the barrier of a tiny reduction: its record packed in one
/// word (the call's epoch, kind, type, operator, count, whether it found an argument error) and its payload
/// (`src`, `bytes` at most [`PAIR_CARRY_BYTES`]; none after an argument error). Two members' records are equal
/// exactly when both make this call, in the same barrier, with the same type, operator and count and neither
/// found an argument error. A set the peer did not write in this barrier holds another epoch (or zero, for a
/// new team: its words are zeroed), so it never matches.
fn pair_words(tag: u64, d: &Desc, src: Option<*mut u8>, bytes: usize) -> [u64; shmem_sync::CARRY_WORDS] {
    let record = PAIR_MARK
        | (tag & 0xffff_ffff)
        | (d.kind & 0x7) << 32
        | (d.dtype & 0xff) << 35
        | (d.a & 0xff) << 43
        | d.nelems.min(0xff) << 51
        | u64::from(d.err != 0) << 59;
    let mut words = [record, 0, 0];
    if let Some(p) = src {
        // SAFETY: p..p+bytes is this PE's checked source (bytes <= PAIR_CARRY_BYTES, the two payload words).
        unsafe { std::ptr::copy_nonoverlapping(p.cast_const(), words[1..].as_mut_ptr().cast::<u8>(), bytes) };
    }
    words
}

/// Set in every carried record, so that a zeroed set never reads as one.
const PAIR_MARK: u64 = 1 << 63;

/// The three words of a tiny reduction's record: the call's tag, the agreed fields and the local error packed,
/// the element count. Equal on two members exactly when both make this call with the same type, operator and
/// count and neither found an argument error.
fn tiny_record(tag: u64, d: &Desc) -> [u64; 3] {
    let packed = TINY_MAGIC | d.kind | d.dtype << 8 | (d.a & 0xff) << 16 | (d.err & 0xffff) << 24 | d.root << 40;
    [tag, packed, d.nelems]
}

/// The inline path: folds every member's staged bytes in team order straight into this PE's `dest`.
/// Bytes folded (payload times members) above which the inline fold calls the "about to block" hook first
/// (`shmem_sync::hook`): about a microsecond of combining.
const FOLD_UNDER_HOOK_BYTES: usize = 16 << 10;

fn fold_lines(rt: &Runtime, g: &Group, op: ReduceOp, dt: DataType, lines: &Lines, dst: HeapOffset, bytes: usize) {
    if bytes == 0 {
        return;
    }
    if bytes.saturating_mul(g.len()) > FOLD_UNDER_HOOK_BYTES {
        // A long fold (a large team): a caller holding a lock for calls that do not wait (the Python binding's
        // GIL) lets it go first, as before a wait.
        shmem_sync::hook::before_block();
    }
    let d = local_ptr(rt, dst, bytes);
    // SAFETY: d..d+bytes is this PE's checked dest (aligned for dt by check_range), which nothing else reads or
    // writes during the call; the lines folded into it are other bytes (the sync area).
    fold_into(rt, g, op, dt, lines, unsafe { std::slice::from_raw_parts_mut(d, bytes) });
}

/// Folds every member's staged payload (`acc.len()` bytes of its line) in team order into `acc`: the first
/// member's bytes copied, the others combined.
fn fold_into(rt: &Runtime, g: &Group, op: ReduceOp, dt: DataType, lines: &Lines, acc: &mut [u8]) {
    for j in 0..g.len() {
        let x = lines.payload(rt, g, j, acc.len());
        if j == 0 {
            acc.copy_from_slice(x);
        } else {
            combine_bytes(dt, op, acc, x);
        }
    }
}

/// Bytes per block of the one-node large path: small enough that the block being folded stays in the cache
/// between the reads of the members' sources and the writes into their destinations.
const MAPPED_BLOCK_BYTES: usize = 256 << 10;

/// Folds `acc.len()` bytes at `at` of every member's heap, read in place through the node's mappings, in team
/// order into `acc` (the first member's bytes are copied, the others combined). Only for groups whose members
/// are all mapped here, with `at` aligned for `dt` (the callers check both).
fn fold_mapped(rt: &Runtime, g: &Group, op: ReduceOp, dt: DataType, at: HeapOffset, acc: &mut [u8]) {
    let bytes = acc.len();
    for j in 0..g.len() {
        let p = rt.node.ptr(g.pe(j), at, bytes as u64).expect("a checked range of a mapped member");
        // SAFETY: p..p+bytes is a checked range of member j's mapped heap (the same offsets as this PE's checked
        // source). No PE writes it during the fold: sources are not written by the collective until every member
        // has read them (the in-place meet of the small path; in the large path only the owner of a slice reads
        // it, before it writes it), and the caller may not change its source during the call.
        let x = unsafe { std::slice::from_raw_parts(p.as_ptr().cast_const(), bytes) };
        if j == 0 {
            acc.copy_from_slice(x);
        } else {
            combine_bytes(dt, op, acc, x);
        }
    }
}

/// The large path on one node: this member folds its slice `lo..lo+count` (elements) block by block, reading
/// every member's source in place, and pushes each folded block into every member's `dest` while it is still
/// in the cache. No slice-sized scratch, no copy of the sources, and no meet for in-place members: member `m`'s
/// `dest` slice `c` is written only by the owner `c`, after `c` has read `m`'s `source` slice `c` for that block,
/// and nobody else reads it.
#[allow(clippy::too_many_arguments)]
fn reduce_scatter_mapped(
    rt: &Runtime,
    g: &Group,
    op: ReduceOp,
    dt: DataType,
    (dst, src): (HeapOffset, HeapOffset),
    lo: usize,
    count: usize,
) -> Result<()> {
    let size = dt.size();
    let block = (MAPPED_BLOCK_BYTES / size).max(1);
    let mut acc = scratch(block.min(count) * size);
    let mut at = 0;
    while at < count {
        let k = block.min(count - at);
        let off = ((lo + at) * size) as u64;
        let part = bytes_of(&mut acc, k * size);
        fold_mapped(rt, g, op, dt, src.plus(off), part);
        for step in 0..g.len() {
            // Starting with the next member spreads the writers over the members' memory.
            let j = (g.me + 1 + step) % g.len();
            // SAFETY: `part` is private scratch, alive for the blocking put; `dst + off` is a checked dest range.
            unsafe { put(rt, g.pe(j), dst.plus(off), part.as_ptr(), part.len(), None)? };
        }
        at += k;
    }
    rt.quiet()
}

/// Pulls `bytes` at `at` from every member into `bufs` (one buffer per member, grown once and reused across
/// blocks) and folds them in team order into the first; returns it.
#[allow(clippy::too_many_arguments)]
fn fold<'a>(
    rt: &Runtime,
    g: &Group,
    op: ReduceOp,
    dt: DataType,
    at: HeapOffset,
    bytes: usize,
    bufs: &'a mut Vec<Vec<u64>>,
) -> Result<&'a [u64]> {
    bufs.resize_with(g.len(), Vec::new);
    for (j, b) in bufs.iter_mut().enumerate() {
        if b.len() * 8 < bytes {
            *b = scratch(bytes);
        }
        // SAFETY: b is private scratch of at least `bytes`, untouched until the quiet below.
        unsafe { get(rt, g.pe(j), at, b.as_mut_ptr().cast(), bytes, true)? };
    }
    rt.quiet()?;
    let (acc, rest) = bufs.split_first_mut().expect("a group has a member");
    for b in rest.iter() {
        let x = &bytemuck::cast_slice::<u64, u8>(b)[..bytes];
        combine_bytes(dt, op, bytes_of(acc, bytes), x);
    }
    Ok(acc)
}

impl Shmem {
    /// Reduces every member's whole `src` with `op` into `dst` (at least as long) on every member of `team`.
    /// `dst` and `src` may be the same array. Collective over `team`.
    pub fn reduce<T: Reducible>(&self, team: i32, op: ReduceOp, dst: &SymVec<T>, src: &SymVec<T>) -> Result<()> {
        let g = Group::team(&self.rt, team)?;
        let pre = check_len("reduce dst", dst.len(), src.len());
        run(&self.rt, &g, op, T::DTYPE, dst.addr(), src.addr(), src.len(), pre)
    }
}

macro_rules! named_reductions {
    ($($name:ident => $op:ident),*) => {
        impl Shmem {$(
            #[doc = concat!("[`Shmem::reduce`] with `ReduceOp::", stringify!($op), "` (`shmem_TYPE_",
                stringify!($name), "`).")]
            pub fn $name<T: Reducible>(&self, team: i32, dst: &SymVec<T>, src: &SymVec<T>) -> Result<()> {
                self.reduce(team, ReduceOp::$op, dst, src)
            }
        )*}
    };
}

named_reductions!(
    and_reduce => And, or_reduce => Or, xor_reduce => Xor, max_reduce => Max, min_reduce => Min,
    sum_reduce => Sum, prod_reduce => Prod
);
