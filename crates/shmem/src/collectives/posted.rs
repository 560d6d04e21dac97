//! Posted broadcast: the team broadcast on one node, without a barrier.
//!
//! A one-node team broadcast of at most [`INLINE_BYTES`] would otherwise cost one team barrier per call (two
//! above it), because every member must hear from every other to agree on the descriptor. Here the root never
//! waits for the members: it *posts* the call into a ring in its own sync area and returns, so a run of
//! broadcasts is a pipeline (the root runs up to [`ENTRIES`] calls ahead of the slowest member). A payload
//! above [`INLINE_BYTES`] is not copied into the ring: the entry names the root's `source`, the members copy
//! straight out of it, and the root returns once every member is done with it (still no barrier, and the same
//! sequence numbers, so a member whose count puts it on the other side of [`INLINE_BYTES`] from the root's
//! fails with INVALID_VALUE instead of waiting in a barrier nobody else enters). Where this node's PEs outnumber
//! its cores and a call of 64 KiB to 4 MiB copies at least 8 MiB in all, the members share those copies in
//! chunks, each filling any ready member's `dest` (see `collectives/coop.rs`).
//!
//! # Protocol
//! Every member counts the broadcasts it makes on the team: call `s` (0, 1, 2, ... from the team's creation;
//! every call on this path counts, whatever its outcome, on every member).
//! - **Root**: waits until every member has published *done* for call `s - ENTRIES` (flow control, below), writes
//!   entry `s % ENTRIES` of its ring: the descriptor (type, count, root, byte length, where the payload is, its
//!   own argument error if any) and the payload (inline in the entry up to [`ENTRY_INLINE`] bytes, else in the
//!   next whole lines of its block's payload ring of [`PAYLOAD_RING_BYTES`]), then publishes the entry by storing
//!   its *sequence word*
//!   (the team handle, generation included, and `s + 1`) last. It copies its `source` into its own `dest`,
//!   publishes done `s + 1` and returns.
//! - **Non-root**: waits (bounded by the control timeout, like every wait of a collective) until entry
//!   `s % ENTRIES` of the named root's ring carries call `s` of this team, checks the descriptor against its
//!   own arguments, copies the payload into its `dest` (nothing on a mismatch: INVALID_VALUE), and publishes
//!   done `s + 1` in its own block. No remote atomics: every word is written by its owner only.
//! - **Flow control**: the root writes entry `s % ENTRIES` only when every member's done is at least
//!   `s - ENTRIES + 1` (all have finished call `s - ENTRIES`, the entry's previous user), and a ring line only
//!   when every member has finished the call that used it last. The root caches the smallest done it has seen,
//!   so a root that is not far ahead reads no peer's word at all.
//!
//! # Memory ordering
//! - The root writes the descriptor and payload with plain (relaxed) stores, then stores the sequence word
//!   with `SeqCst` (a Release store, and the store half of the wake protocol of `shmem_core::wake`: a sleeper
//!   registers, then re-reads the word). A member that Acquire-loads the sequence word of call `s` therefore
//!   sees the whole entry of call `s`.
//! - A member reads the entry, copies the payload out, and only then stores its done word (`SeqCst`, hence
//!   Release): every read of the entry happens before that store.
//! - The root Acquire-loads the done words before it overwrites an entry or a ring line: the members' reads
//!   of the previous call there happen before the root's writes of the next one, so no member ever sees a torn
//!   entry or payload.
//!
//! # Stale entries and team re-creation
//! The sequence word carries the team handle (slot and generation), so an entry written for a destroyed team
//! whose slot was reused never matches; done words carry the handle too (a word of another generation counts
//! as "nothing done"). `team_destroy` syncs the team before the slot is freed and `finalize` runs a
//! `barrier_all` before the segment goes away, and a member enters those only after its own broadcasts are
//! done, so no ring is reused or unmapped while a member still reads it.
//!
//! # Mismatches (what the members must still agree on)
//! The root cannot know what the other members passed without waiting for them, so a root never fails for
//! what they did. A non-root fails with INVALID_VALUE, writing nothing, when the root's entry of call `s`
//! describes another type, count or byte length; when the root it names finished call `s` without posting
//! (it named another root); or when that root entered a barrier on the team (a team sync, barrier or a
//! barrier-based collective) that this PE has not: the root's published barrier arrival says so. A root that
//! is elsewhere (an allocation, another team) is not detected: the member ends with the control timeout naming
//! the root. Two members that both think they are the root each serve the members that name them. Every
//! member must still make the team's broadcasts in the same order (as OpenSHMEM requires), since `s` pairs
//! them.
//!
//! Argument errors (a range outside the heap, a root outside the team, an absurd count) are checked locally
//! before anything moves. A root outside the team or an absurd count is the same on every member that passes
//! the same arguments, so each fails alike; a root with a bad `source` or `dest` posts its error, and every
//! member naming it fails with INVALID_PARAM naming it; a non-root's own bad `dest` fails that member only
//! (the others cannot know without waiting for it).

use super::coop;
use super::{local_copy, local_ptr, DataType, INLINE_BYTES, LINE_BYTES, SIGNAL_BYTES};
use crate::runtime::teams::TeamInfo;
use crate::runtime::Runtime;
use shmem_core::engine::DataOpEngine;
use shmem_core::heap::layout::CACHE_LINE;
use shmem_core::{Error, HeapOffset, Pe, Result};
use shmem_sync::barrier::ARRIVAL_WORD;
use std::sync::atomic::Ordering;

/// Entries of a root's ring: how many calls a root may run ahead of the slowest member. Measured on the loaded
/// 2-core VM (coll-bench --quick, 8 B, 3 alternated runs each, range of the medians): 32 entries of 128 B gave
/// 0.54-1.79 us per call at 4 PEs and 0.83-1.41 at 8, 64 entries of 64 B 0.39-0.47 and 0.58-0.89, 128 entries
/// 0.27-0.36 and 0.51-0.61: with PEs sharing cores, the further a root runs ahead in its time slice, the fewer
/// switches per call. Payloads above an entry's share a ring of 8 KiB in whole lines, so that small ones pipeline
/// as deep (a 64 B broadcast had two buffers of 4 KiB before: the root ran two calls ahead at most, 1.3 us per
/// call at 4 PEs against OSHMEM's 0.44) and a 4 KiB one two calls deep as before.
pub(crate) const ENTRIES: u64 = 128;
/// Bytes of one ring entry: a header line, then the inline payload.
const ENTRY_BYTES: u64 = 64;
/// Bytes of an entry's header (the sequence word and the descriptor).
const ENTRY_HEADER: u64 = 32;
/// Most payload bytes carried inline in an entry; larger ones go to the payload ring.
pub(crate) const ENTRY_INLINE: usize = (ENTRY_BYTES - ENTRY_HEADER) as usize;
pub(crate) use crate::runtime::posted_state::{Posted, PAYLOAD_RING_BYTES, RING_LINE};
/// Bytes of the done line at the start of a block (one word used; a line of its own, and its neighbour, which
/// the spatial prefetcher fetches with it).
const DONE_BYTES: u64 = 2 * CACHE_LINE;
/// Bytes of the ready record of shared copies after the done lines (see `collectives/coop.rs`), with a spare line
/// for the same reason.
const RECORD_AREA: u64 = 2 * CACHE_LINE;
const _: () = assert!(coop::RECORD_BYTES <= CACHE_LINE);

/// Where the ring starts in a block.
const RING_AT: u64 = DONE_BYTES + RECORD_AREA;
/// Bytes of one team slot's posted block: the done line, the ready record, the ring of entries, the payload ring.
pub(crate) const POST_BYTES: u64 = RING_AT + ENTRIES * ENTRY_BYTES + PAYLOAD_RING_BYTES as u64;
const _: () = assert!(PAYLOAD_RING_BYTES >= INLINE_BYTES, "the payload ring holds the largest ring payload");

/// Header words of an entry: four, so that a payload of up to 32 bytes shares the entry's first cache line with
/// them (a member's copy of a small broadcast then costs one line from the root's cache).
const W_SEQ: u64 = 0;
/// The element type's code (bits 0..8), where the payload is (bits 8..16: [`INLINE`], [`DIRECT`] or
/// [`RING`]), the root's own argument error (bits 16..32: 0, or the negated code), the root's
/// team index (bits 32..64).
const W_DESC: u64 = 1;
const W_NELEMS: u64 = 2;
/// The root's barrier epoch on the team when it posted: members that make the same calls in the same order
/// have made as many barriers on the team before call `s`.
const W_EPOCH: u64 = 3;
/// The root's `source` offset, in the payload's place (read by the members when the payload is [`DIRECT`]).
const W_SOURCE: u64 = 4;
const _: () = assert!(8 * W_SOURCE == ENTRY_HEADER, "the header words fill the entry's header");
const INLINE: u64 = 0;
/// The payload is the root's `source` itself (above [`INLINE_BYTES`]).
const DIRECT: u64 = 1;
/// The payload is in the root's payload ring, at the ring offset in the payload's place ([`W_SOURCE`]).
const RING: u64 = 2;

/// Whether a team broadcast on team `t` takes the posted path: a team whose members are all mapped here (one
/// node). Every member answers alike (the mapping is the node's).
pub(crate) fn applies(rt: &Runtime, t: &TeamInfo) -> bool {
    *t.posted
        .mapped
        .get_or_init(|| t.members.as_slice().iter().all(|&p| rt.router.peer_ptr(Pe(p), HeapOffset(0)).is_some()))
}

/// The posted block of team slot `slot` (the same offset on every PE).
fn block(rt: &Runtime, slot: u32) -> HeapOffset {
    super::slot_offset(rt, slot).plus(SIGNAL_BYTES + 2 * LINE_BYTES)
}

fn entry(block: HeapOffset, s: u64) -> HeapOffset {
    block.plus(RING_AT + (s % ENTRIES) * ENTRY_BYTES)
}

/// Byte `off` of a block's payload ring.
fn ring(block: HeapOffset, off: u64) -> HeapOffset {
    block.plus(RING_AT + ENTRIES * ENTRY_BYTES + off)
}

/// Where a root's next ring payload of `len` bytes goes: its ring position (the payload starts at this modulo
/// [`PAYLOAD_RING_BYTES`] and fits before the ring's end) and the lines it takes.
fn ring_place(st: &Posted, len: usize) -> (u64, std::ops::Range<usize>) {
    let lines = len.div_ceil(RING_LINE);
    let mut pos = st.ring_pos.load(Ordering::Relaxed);
    let off = (pos % PAYLOAD_RING_BYTES as u64) as usize;
    if off + lines * RING_LINE > PAYLOAD_RING_BYTES {
        // Not across the end: skip to the ring's start.
        pos += (PAYLOAD_RING_BYTES - off) as u64;
    }
    let first = (pos % PAYLOAD_RING_BYTES as u64) as usize / RING_LINE;
    (pos, first..first + lines)
}

/// The ready record of shared copies in a block (see `collectives/coop.rs`).
fn record(block: HeapOffset) -> HeapOffset {
    block.plus(DONE_BYTES)
}

/// Set in every sequence and done word: a handle is a non-negative `i32`, so bit 63 never comes from it. Without
/// it, TEAM_WORLD's (handle 0) word for count `2^32 k` would be 0, the value of an entry never written.
const MARK: u64 = 1 << 63;

/// A sequence or done word: the marker, the team handle (slot and generation) above, the count below.
pub(crate) fn tagged(handle: i32, count: u64) -> u64 {
    MARK | (u64::from(handle as u32) << 32) | (count & 0xffff_ffff)
}

/// The done count a done word says, relative to `near` (a count within 2^31 of it): 0 when the word belongs
/// to another team (another generation of the slot, or never written).
fn done_count(word: u64, handle: i32, near: u64) -> u64 {
    if word >> 32 != (MARK | u64::from(handle as u32) << 32) >> 32 {
        return 0;
    }
    let diff = (word as u32).wrapping_sub(near as u32) as i32;
    near.saturating_add_signed(i64::from(diff))
}

/// What one call passes, as the descriptor an entry carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Call {
    dtype: u64,
    nelems: u64,
    root: u64,
    /// Bytes (follows from the type and the count: not carried in the entry).
    len: u64,
}

impl Call {
    fn describe(&self) -> String {
        let dt = DataType::from_code(self.dtype as u8).map_or("?", |d| d.name());
        format!("broadcast({dt}, nelems={}, root={})", self.nelems, self.root)
    }
}

/// One team broadcast on the posted path (see the module documentation); `local` is this PE's own argument
/// error (the ranges are valid when it is `None`), `root` a team index (checked when `local` is `None`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run(
    rt: &Runtime,
    t: &TeamInfo,
    dt: DataType,
    dst: HeapOffset,
    src: HeapOffset,
    nelems: usize,
    root: i64,
    local: Option<Error>,
) -> Result<()> {
    let handle = t.handle();
    let slot = shmem_team::handle_slot(handle).expect("a live handle has a slot");
    let blk = block(rt, slot);
    let st = &t.posted;
    if st.poisoned.load(Ordering::Relaxed) {
        return Err(Error::Inner(format!(
            "an earlier broadcast on team {handle} ended by a timeout or a job failure, so this PE's broadcasts \
             may be out of step with its peers'; end the job"
        )));
    }
    let s = st.seq.load(Ordering::Relaxed);
    // Counted whatever the outcome: every member's `s` names the same call.
    st.seq.store(s + 1, Ordering::Relaxed);
    let had_local = local.is_some();
    let len = nelems.saturating_mul(dt.size());
    let call = Call { dtype: dt as u64, nelems: nelems as u64, root: root as u64, len: len as u64 };
    let result = if root == i64::from(t.my_index) {
        post(rt, t, st, blk, s, call, dst, src, local)
    } else if let Some(e) = local {
        // A non-root that cannot take part (bad root or range): it reads nothing and only says it is done,
        // so that the root's flow control does not wait for it.
        Err(Abort::Counted(e))
    } else {
        receive(rt, t, blk, s, call, dst)
    };
    if let Err(Abort::Counted(e) | Abort::Uncounted(e)) = &result {
        if !had_local && matches!(e, Error::Timeout { .. } | Error::Inner(_)) {
            // A wait that ended by a timeout or a failed job (not a refused call, nor this PE's own argument
            // error of any kind): nothing later on this team can be trusted.
            st.poisoned.store(true, Ordering::Relaxed);
            t.barrier.poison();
        }
    }
    match result {
        Err(Abort::Uncounted(e)) => {
            // The peer never made broadcast `s` (it is in a barrier instead): this call does not count, so the
            // team's next broadcast pairs with the peer's.
            st.seq.store(s, Ordering::Relaxed);
            Err(e)
        }
        Err(Abort::Counted(e)) => {
            publish_done(rt, blk, handle, s + 1);
            Err(e)
        }
        Ok(()) => {
            publish_done(rt, blk, handle, s + 1);
            Ok(())
        }
    }
}

/// How a posted call failed.
enum Abort {
    /// The call counts as broadcast `s` (the peers it meets made one): this PE still publishes done.
    Counted(Error),
    /// The call does not count: the peer it waited for entered a barrier of the team instead of broadcast `s`.
    Uncounted(Error),
}

impl From<Error> for Abort {
    fn from(e: Error) -> Abort {
        Abort::Counted(e)
    }
}

/// Stores this PE's done count (after every read of the entry: the store is a Release) and wakes a root
/// sleeping on it.
fn publish_done(rt: &Runtime, blk: HeapOffset, handle: i32, done: u64) {
    // SeqCst: Release for the reads before it, and the writer half of the wake protocol (store, then look
    // for sleepers).
    rt.node.word64(rt.me, blk).store(tagged(handle, done), Ordering::SeqCst);
    rt.node.wake(rt.me, blk, 8);
}

/// The root's side of call `s`.
#[allow(clippy::too_many_arguments)]
fn post(
    rt: &Runtime,
    t: &TeamInfo,
    st: &Posted,
    blk: HeapOffset,
    s: u64,
    call: Call,
    dst: HeapOffset,
    src: HeapOffset,
    local: Option<Error>,
) -> Result<(), Abort> {
    let handle = t.handle();
    let payload = local.is_none() && call.len > 0;
    // Above INLINE_BYTES the members copy straight out of the root's `source` (the root waits for them below).
    let direct = payload && call.len as usize > INLINE_BYTES;
    let in_ring = (payload && !direct && call.len as usize > ENTRY_INLINE).then(|| ring_place(st, call.len as usize));
    // The entry's previous user is call s - ENTRIES; a ring line's, the call recorded for it.
    let mut need = (s + 1).saturating_sub(ENTRIES);
    if let Some((_, lines)) = &in_ring {
        need = st.line_free_at[lines.clone()].iter().map(|l| l.load(Ordering::Relaxed)).fold(need, u64::max);
    }
    if need > st.min_done.load(Ordering::Relaxed) {
        // A member in a barrier instead: this root's call does not count (it posted nothing).
        let min = wait_done(rt, t, blk, need, s, None).map_err(|e| match e {
            Abort::Counted(e) | Abort::Uncounted(e) => Abort::Uncounted(e),
        })?;
        st.min_done.store(min, Ordering::Relaxed);
    }
    let e = entry(blk, s);
    let w = |i: u64, v: u64| rt.node.word64(rt.me, e.plus(8 * i)).store(v, Ordering::Relaxed);
    let ring_off = in_ring.map(|(pos, lines)| {
        st.ring_pos.store(pos + (lines.len() * RING_LINE) as u64, Ordering::Relaxed);
        for line in &st.line_free_at[lines.clone()] {
            line.store(s + 1, Ordering::Relaxed);
        }
        (lines.start * RING_LINE) as u64
    });
    let at = ring_off.map_or(e.plus(ENTRY_HEADER), |off| ring(blk, off));
    if payload && !direct {
        // The payload's bytes: nobody reads them before the sequence word below says call s (flow control
        // made sure every member is done with what was there).
        local_copy(rt, at, src, call.len as usize);
    }
    let place = if direct {
        DIRECT
    } else if ring_off.is_some() {
        RING
    } else {
        INLINE
    };
    let err = local.as_ref().map_or(0, |e| u64::from(e.code().unsigned_abs()) & 0xffff);
    w(W_DESC, call.dtype | place << 8 | err << 16 | call.root << 32);
    w(W_NELEMS, call.nelems);
    w(W_EPOCH, t.barrier.epoch());
    if direct {
        w(W_SOURCE, src.0);
    } else if let Some(off) = ring_off {
        w(W_SOURCE, off);
    }
    // Shared copies of a direct payload (see `collectives/coop.rs`): the root's own dest is copied like a
    // member's when it is apart from `source` (in place there is nothing to copy; a partial overlap is copied by
    // the root alone, after every member is done).
    let members = t.members.as_slice();
    let share = (direct && coop::applies(rt, call.len as usize, members.len())).then(|| {
        let ready = shared_call(t, s, call);
        let mine = apart(dst, src, call.len).then(|| coop::publish(rt, record(blk), &ready, dst));
        coop::Share::new(rt, members, t.my_index as usize, record(blk), ready, mine, src, call.len)
    });
    // Publish: SeqCst is a Release (the descriptor and payload above are visible to a member that
    // Acquire-loads this word) and the writer half of the wake protocol.
    rt.node.word64(rt.me, e.plus(8 * W_SEQ)).store(tagged(handle, s + 1), Ordering::SeqCst);
    rt.node.wake(rt.me, e, 8);
    own_ahead(rt, st, blk, s, ring_off.map(|_| call.len as usize));
    match local {
        Some(err) => Err(Abort::Counted(err)),
        None => {
            if direct {
                // This root reads nothing of call s, so it is done with it already: saying so before waiting
                // lets a second PE that also took itself for the root (an erroneous program) finish its own wait
                // instead of both waiting for each other until the timeout. (After the sequence word above, in
                // the order a member's RootSkipped check expects.)
                publish_done(rt, blk, handle, s + 1);
                // 1.5: the root's dest receives the data too. When it does not overlap `source` the root copies
                // it while the members copy theirs (after them, a 2-PE broadcast of 64 MiB cost two memcpys in a
                // row: 1.5-1.7x OSHMEM, whose 1.4 broadcast leaves the root's dest alone); in place (`dest` is
                // `source`) there is nothing to copy.
                let apart = apart(dst, src, call.len);
                // The members read `source` itself: it may change only after every member is done with call s,
                // so a dest that overlaps it (partly) is written only then.
                if let Some(mut share) = share {
                    // Shared copies: the root's dest is one more ready record (published above when apart);
                    // the root copies chunks, its own first, until every member is done with `source`.
                    while share.help_one() {}
                    let finished = wait_done(rt, t, blk, s + 1, s, Some(&mut share)).and_then(|min| {
                        st.min_done.store(min, Ordering::Relaxed);
                        share
                            .finish_own(|| format!("the PEs copying into this root's dest (broadcast #{s})"))
                            .map_err(Abort::Counted)
                    });
                    if finished.is_err() {
                        // As a member's (see `receive`): nobody writes this dest after the call returned.
                        let _ = share.retract();
                    }
                    finished?;
                } else {
                    if apart {
                        let len = call.len as usize;
                        // SAFETY: dst and src are this PE's checked ranges of `len` bytes, apart.
                        unsafe { super::stream::copy_large(local_ptr(rt, dst, len), local_ptr(rt, src, len), len) };
                    }
                    st.min_done.store(wait_done(rt, t, blk, s + 1, s, None)?, Ordering::Relaxed);
                }
                if !apart && dst != src {
                    local_copy(rt, dst, src, call.len as usize);
                }
                return Ok(());
            }
            // 1.5: the root's dest receives the data too (in place allowed: local_copy handles overlap).
            local_copy(rt, dst, src, call.len as usize);
            Ok(())
        }
    }
}

/// Whether a root's `dest` and `source` of `len` bytes do not overlap.
fn apart(dst: HeapOffset, src: HeapOffset, len: u64) -> bool {
    dst.0.saturating_add(len) <= src.0 || src.0.saturating_add(len) <= dst.0
}

/// Call `s` as this PE's ready record of shared copies describes it (see `collectives/coop.rs`).
fn shared_call(t: &TeamInfo, s: u64, call: Call) -> coop::Ready {
    coop::Ready {
        handle: t.handle(),
        s,
        dtype: call.dtype,
        nelems: call.nelems,
        root: call.root,
        epoch: t.barrier.epoch(),
    }
}

/// How many calls ahead a root asks for its next entries' cache lines (see [`own_ahead`]). Measured on the 2-core
/// VM (coll-bench, 2 PEs, 8 B, alternated runs): without it 0.12-0.15 us per call, asking 4 calls ahead
/// 0.06-0.07 us (OSHMEM 0.08-0.09 in the same runs), 8 ahead 0.08-0.09, 16 ahead 0.09-0.15.
const OWN_AHEAD: u64 = 4;

/// Asks for entry `s + OWN_AHEAD`'s cache line in the exclusive state (a prefetch for writing) when flow control
/// already allows writing it. Without it the root's publication of a call (a `SeqCst` store, a full barrier on
/// x86) stalled on taking that line back from the member that read it `ENTRIES` calls before: a cross-core round
/// trip per call, which made the root as slow as the member. A hint only: it reads and writes nothing, and nothing
/// depends on it. Flow control rules out a member still reading the entry's *previous* call; a member that runs
/// ahead (calls whose root was another PE) may already poll this entry's sequence word for the coming call, which
/// then costs it one more line transfer, never a wrong value.
///
/// With `ring_len` (this call's payload went to the payload ring), the same for the ring lines that a payload of
/// the same size `OWN_AHEAD` calls later would take (at most [`AHEAD_LINES`] of them), where every member is done
/// with them.
fn own_ahead(rt: &Runtime, st: &Posted, blk: HeapOffset, s: u64, ring_len: Option<usize>) {
    let ahead = s + OWN_AHEAD;
    let min_done = st.min_done.load(Ordering::Relaxed);
    // The entry's previous user is call `ahead - ENTRIES`: every member must be done with it.
    if (ahead + 1).saturating_sub(ENTRIES) > min_done {
        return;
    }
    if let Some(p) = rt.node.ptr(rt.me, entry(blk, ahead), 8) {
        super::prefetch::for_write(p.as_ptr().cast_const());
    }
    let Some(len) = ring_len else { return };
    let span = len.div_ceil(RING_LINE) * RING_LINE;
    let pos = st.ring_pos.load(Ordering::Relaxed) + ((OWN_AHEAD - 1) as usize * span) as u64;
    let off = (pos % PAYLOAD_RING_BYTES as u64) as usize;
    let first = if off + span > PAYLOAD_RING_BYTES { 0 } else { off / RING_LINE };
    for line in first..(first + span / RING_LINE).min(first + AHEAD_LINES) {
        if st.line_free_at[line].load(Ordering::Relaxed) > min_done {
            break;
        }
        if let Some(p) = rt.node.ptr(rt.me, ring(blk, (line * RING_LINE) as u64), 1) {
            super::prefetch::for_write(p.as_ptr().cast_const());
        }
    }
}

/// Most ring lines [`own_ahead`] asks for per call: a payload of a few lines is where a line's round trip weighs.
const AHEAD_LINES: usize = 4;

/// Waits until every member's done count is at least `need` and returns the smallest one seen. A member that
/// entered a barrier of the team that this PE has not (a team sync or barrier-based collective instead of its
/// broadcast) fails the wait with INVALID_VALUE at once ([`Abort::Counted`]; callers that posted nothing yet
/// make it uncounted).
///
/// With `share` (a root's direct call whose copies are shared, see `collectives/coop.rs`), a member that has not
/// published done yet counts as done with the root's `source` once every chunk of its `dest` is copied (its done
/// count is then taken as `s`, the lower bound its ready record proves), and the wait copies chunks meanwhile.
fn wait_done(
    rt: &Runtime,
    t: &TeamInfo,
    blk: HeapOffset,
    need: u64,
    s: u64,
    mut share: Option<&mut coop::Share<'_>>,
) -> Result<u64, Abort> {
    let handle = t.handle();
    let slot = shmem_team::handle_slot(handle).expect("a live handle has a slot");
    let my_epoch = t.barrier.epoch();
    let mut min = u64::MAX;
    // Asleep, the root watches a member's done word and, when copies are shared, up to its record's copied word:
    // the copier that completes the member's `dest` wakes it, so the root need not wait for the member to run and
    // say it is done.
    let watch = if share.is_some() { record(blk).plus(coop::COPIED_OFFSET + 8).0 - blk.0 } else { 8 };
    for (i, &pe) in t.members.as_slice().iter().enumerate() {
        if i == t.my_index as usize {
            continue;
        }
        let word = rt.node.word64(Pe(pe), blk);
        let arrival = rt.node.word64(Pe(pe), rt.layout.team_word(slot, ARRIVAL_WORD));
        let mut polls = 0u32;
        let poll = || {
            // Acquire: the member's reads of the entry (and ring lines, or the root's source) it is done with
            // happen before the root's writes that follow.
            let done = || done_count(word.load(Ordering::Acquire), handle, s);
            // The common case reads one word; every 64th poll also looks for a member in a barrier instead.
            polls = polls.wrapping_add(1);
            if !polls.is_multiple_of(64) {
                let d = done();
                if d >= need {
                    return Some(Ok(d));
                }
                let sh = share.as_deref_mut()?;
                if sh.copied_all(i) {
                    return Some(Ok(s));
                }
                sh.help_one();
                return None;
            }
            // Arrival first, done last (the member stores them in the other order): a member that finished the
            // call and then entered a barrier shows as done.
            let entered = arrival.load(Ordering::Acquire);
            let d = done();
            if d >= need {
                Some(Ok(d))
            } else if share.as_deref().is_some_and(|sh| sh.copied_all(i)) {
                Some(Ok(s))
            } else if entered > my_epoch {
                Some(Err(entered))
            } else {
                None
            }
        };
        let found = shmem_sync::wait::wait_until_on(&rt.wait_ctx(true), Pe(pe), Some((blk, watch)), poll, || {
            format!("PE {pe} to finish broadcast #{} on team {handle} (this root is at #{s})", need - 1)
        })
        .map_err(|e| name_pe(e, pe))?;
        match found {
            Ok(done) => min = min.min(done),
            Err(epoch) => {
                return Err(Abort::Counted(Error::InvalidValue(format!(
                    "broadcast #{s} on team {handle}: PE {pe} entered barrier {epoch} of the team (a team sync, \
                     barrier or another collective) before finishing broadcast #{}; every member must make the \
                     same calls in the same order",
                    need - 1
                ))))
            }
        }
    }
    // A team of one: nobody else to wait for.
    Ok(if min == u64::MAX { s + 1 } else { min })
}

/// What a non-root found while waiting for call `s`.
enum Found {
    Posted,
    /// The root finished call `s` without posting it: it named another root.
    RootSkipped,
    /// The root entered a barrier on the team (epoch) that this PE has not.
    RootInBarrier(u64),
}

/// A non-root's side of call `s`.
fn receive(rt: &Runtime, t: &TeamInfo, blk: HeapOffset, s: u64, call: Call, dst: HeapOffset) -> Result<(), Abort> {
    // Shared copies (see `collectives/coop.rs`): this PE's dest may be filled by the others from the moment the
    // root posts, so its record goes out before the wait; a way out by an error closes it first.
    let mine = coop::applies(rt, call.len as usize, t.members.as_slice().len())
        .then(|| coop::publish(rt, record(blk), &shared_call(t, s, call), dst));
    let result = receive_posted(rt, t, blk, s, call, dst, mine);
    match (&result, mine) {
        (Err(_), Some(mine)) => {
            // The call's own error stays the one reported; a failure to close is a job failure that the next
            // call reports.
            let _ = coop::retract(rt, record(blk), &mine, call.len);
            result
        }
        _ => result,
    }
}

/// [`receive`] after this PE's ready record (`published`, when its copies are shared) is out.
fn receive_posted(
    rt: &Runtime,
    t: &TeamInfo,
    blk: HeapOffset,
    s: u64,
    call: Call,
    dst: HeapOffset,
    published: Option<coop::Published>,
) -> Result<(), Abort> {
    let handle = t.handle();
    let slot = shmem_team::handle_slot(handle).expect("a live handle has a slot");
    let root_pe = Pe(t.members.as_slice()[call.root as usize]);
    let e = entry(blk, s);
    let node = &rt.node;
    let seq = node.word64(root_pe, e.plus(8 * W_SEQ));
    let root_done = node.word64(root_pe, blk);
    let arrival = node.word64(root_pe, rt.layout.team_word(slot, ARRIVAL_WORD));
    let my_epoch = t.barrier.epoch();
    let want = tagged(handle, s + 1);
    let members = t.members.as_slice();
    let mut polls = 0u32;
    let mut poll = || {
        // The common case reads the one word the root publishes the post with; every 64th poll also looks for a
        // root that will not post.
        polls = polls.wrapping_add(1);
        if !polls.is_multiple_of(64) {
            return (seq.load(Ordering::Acquire) == want).then_some(Found::Posted);
        }
        // In this order: the root stores its post, then its done, then (later) its barrier arrival; a member
        // that Acquire-loads a later word first and the post last sees the post if the root made it.
        let entered = arrival.load(Ordering::Acquire);
        let done = done_count(root_done.load(Ordering::Acquire), handle, s);
        if seq.load(Ordering::Acquire) == want {
            Some(Found::Posted)
        } else if done > s {
            Some(Found::RootSkipped)
        } else if entered > my_epoch {
            Some(Found::RootInBarrier(entered))
        } else {
            None
        }
    };
    let found = match poll() {
        Some(f) => f,
        // Only a post wakes this sleeper (the sequence word of its entry): the root's done and arrival are
        // looked at after each sleep slice, which is soon enough for a call that is wrong anyway.
        None => shmem_sync::wait::wait_until_on(&rt.wait_ctx(true), root_pe, Some((e, 8)), poll, || {
            format!("the root, PE {}, to post broadcast #{s} on team {handle}", root_pe.0)
        })
        .map_err(|e| Abort::Counted(name_pe(e, root_pe.0)))?,
    };
    // Formatted only when a message is made (the success path allocates nothing).
    let mine = Lazy(call);
    match found {
        Found::Posted => {}
        Found::RootSkipped => {
            return Err(Abort::Counted(Error::InvalidValue(format!(
                "{mine} on team {handle} (broadcast #{s}): PE {} made this broadcast without being its root \
                 (it named another root); every member must name the same root",
                root_pe.0
            ))))
        }
        Found::RootInBarrier(epoch) => {
            return Err(Abort::Uncounted(Error::InvalidValue(format!(
                "{mine} on team {handle} (broadcast #{s}): the root, PE {}, entered barrier {epoch} of the team \
                 (a team sync, barrier or another collective) instead; every member must make the same call",
                root_pe.0
            ))))
        }
    }
    let r = |i: u64| node.word64(root_pe, e.plus(8 * i)).load(Ordering::Relaxed);
    let posted_at = r(W_EPOCH);
    if posted_at != my_epoch {
        let why = format!(
            "{mine} on team {handle} (broadcast #{s}): the root, PE {}, posted it after {posted_at} barriers of the \
             team, this PE has made {my_epoch} (a team sync or barrier-based collective in place of a broadcast on \
             one side); every member must make the same calls in the same order",
            root_pe.0
        );
        // The root entered a barrier first: this call is the extra one and does not count (this PE's next
        // broadcast, after that barrier, pairs with the post). Otherwise this PE made a barrier the root had not:
        // the post was meant for a call this PE replaced with it, and this call consumes it.
        return Err(if posted_at > my_epoch {
            Abort::Uncounted(Error::InvalidValue(why))
        } else {
            Abort::Counted(Error::InvalidValue(why))
        });
    }
    let desc = r(W_DESC);
    if (desc >> 16) & 0xffff != 0 {
        return Err(Abort::Counted(Error::invalid(format!(
            "{mine} on team {handle}: the root, PE {}, passed invalid arguments (see its error), so the broadcast \
             fails on every member naming it",
            root_pe.0
        ))));
    }
    let theirs = Call { dtype: desc & 0xff, nelems: r(W_NELEMS), root: desc >> 32, len: call.len };
    if theirs != call {
        return Err(Abort::Counted(Error::InvalidValue(format!(
            "broadcast on team {handle} differs between members (broadcast #{s}): the root, PE {}, called {}, PE {} \
             called {mine}; every member must make the same call with the same type, element count and root",
            root_pe.0,
            theirs.describe(),
            rt.me.0
        ))));
    }
    let len = call.len as usize;
    if len > 0 {
        let at = match (desc >> 8) & 0xff {
            INLINE => e.plus(ENTRY_HEADER),
            DIRECT => HeapOffset(r(W_SOURCE)),
            _ => ring(blk, r(W_SOURCE) % PAYLOAD_RING_BYTES as u64),
        };
        if let (Some(p), DIRECT) = (published, (desc >> 8) & 0xff) {
            let (idx, rec) = (t.my_index as usize, record(blk));
            let mut share = coop::Share::new(rt, members, idx, rec, p.ready, Some(p), at, call.len);
            return share
                .finish_own(|| format!("the PEs copying into this PE's dest (broadcast #{s} on team {handle})"))
                .map_err(Abort::Counted);
        }
        let from = node.ptr(root_pe, at, len as u64).expect("a mapped member's block");
        // SAFETY: `from..from+len` is inside the root's mapped block (or its checked `source`), which the root does
        // not write again before this PE publishes done s + 1 (flow control; a direct root waits for that before
        // it returns); `dst..dst+len` is this PE's checked dest, in another mapping.
        unsafe { super::stream::copy_large(local_ptr(rt, dst, len), from.as_ptr().cast_const(), len) };
    }
    Ok(())
}

/// A call's description for messages, formatted where a message is made.
struct Lazy(Call);

impl std::fmt::Display for Lazy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.describe())
    }
}

/// A timeout of a wait on `pe` names it as the PE holding the call up.
fn name_pe(e: Error, pe: u32) -> Error {
    match e {
        Error::Timeout { what, waited, .. } => Error::Timeout { what, waited, missing_pes: vec![pe] },
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::posted_state::RING_LINES;

    #[test]
    fn done_words_of_another_generation_count_as_nothing_done() {
        assert_eq!(done_count(tagged(0x47, 5), 0x47, 3), 5);
        assert_eq!(done_count(tagged(0x87, 5), 0x47, 3), 0);
        assert_eq!(done_count(0, 0x47, 3), 0);
        // Counts past 2^32 compare relative to the caller's own.
        let big = (1u64 << 32) + 2;
        assert_eq!(done_count(tagged(1, big), 1, big - 5), big);
        assert_eq!(done_count(tagged(1, big - 5), 1, big), big - 5);
    }

    #[test]
    fn ring_payloads_take_whole_lines_and_never_cross_the_end() {
        let st = Posted::default();
        let (pos, lines) = ring_place(&st, 33);
        assert_eq!((pos, lines), (0, 0..1));
        st.ring_pos.store(pos + 64, Ordering::Relaxed);
        assert_eq!(ring_place(&st, 4096), (64, 1..65));
        // 8 KiB - 64 B used: a 4 KiB payload wraps to the ring's start instead of crossing its end.
        st.ring_pos.store(PAYLOAD_RING_BYTES as u64 - 64, Ordering::Relaxed);
        assert_eq!(ring_place(&st, 4096), (PAYLOAD_RING_BYTES as u64, 0..64));
        assert_eq!(ring_place(&st, 64), (PAYLOAD_RING_BYTES as u64 - 64, RING_LINES - 1..RING_LINES));
    }

    #[test]
    fn a_block_fits_its_ring_and_buffers() {
        assert_eq!(POST_BYTES % ENTRY_BYTES, 0);
        const { assert!(ENTRY_INLINE >= 8 && RING_LINES * RING_LINE == PAYLOAD_RING_BYTES) };
    }
}
