//! Shared copying for a posted broadcast's direct payload: every PE in the call copies chunks of the root's
//! `source` into any member's `dest` that is ready for them, not only into its own.
//!
//! # Why
//! A one-node broadcast of `len` bytes to `n` members moves `n * len` bytes (the root's `dest` included). When
//! each member copied only its own `dest`, where PEs outnumber cores (8 PEs on 2 cores here) the copies ran
//! only as fast as the scheduler ran each member: a core whose PEs were done (or asleep, waiting for the post)
//! went idle while the other still had copies queued. `perf` of an 8-PE 1 MiB broadcast loop: 49% of both
//! cores in `memmove`, 20% idle. Shared chunks let whichever PE is running do the work that is left.
//!
//! # Protocol (call `s` of a team, payload above [`COOP_MIN`], team of two or more)
//! - **Ready record.** A member publishes, in its own posted block, the call it makes (team handle and `s`), the
//!   `dest` it passed, its call's descriptor (type, count, root) and its barrier epoch on the team, a copied
//!   counter, and last, as a Release, its claim counter. Both counters carry a *generation* that is new for every
//!   record this PE publishes (a call that is repeated after an uncounted failure gets a new one). A non-root
//!   publishes when it enters the call, before it waits for the post, so that its `dest` can be filled while it
//!   sleeps; the root when it posts (when its `dest` is apart from its `source`).
//! - **Who may write a `dest`.** A PE that has itself accepted the root's post of call `s` (the root, or a member
//!   whose checks passed) may copy into member `j`'s `dest` once `j`'s record names call `s` of this team and
//!   `j`'s descriptor and epoch equal its own: then `j`'s own checks of the post pass too (they compare the same
//!   words), so `j` never fails a call whose `dest` was written.
//! - **Claiming.** A helper Acquire-loads `j`'s claim word (generation `g`), then reads the record. Chunk `c` of
//!   `j`'s `dest` belongs to whoever moves the claim word from `(g, c)` to `(g, c + 1)` by compare-and-swap
//!   (AcqRel). It copies chunk `c` of the root's `source`, then adds one to `j`'s copied word (SeqCst, a Release
//!   for the copy), and wakes `j` only when that was a chunk `j` waits for: the last of its `dest`, or any once
//!   `j` has retracted (a wake per chunk cost a futex call and a round trip of the sleeper each time).
//! - **Completion.** `j` returns once its copied word counts every chunk (Acquire: every helper's writes into
//!   its `dest` happen before), and then publishes done as before. The root returns once every member is done
//!   or has every chunk of its `dest` copied: nobody reads `source` any more.
//! - **Leaving by an error** ([`retract`]): `j` marks its claim word "retracted" (a bit above any chunk count,
//!   so nothing more can be claimed) and waits until the chunks claimed before are copied, so nothing writes its
//!   `dest` once the call has returned.
//! - **No stale claims.** A helper's compare-and-swap succeeds only while the claim word still holds the
//!   generation it read the record under. `j` rewrites its record only after that generation is over (every
//!   chunk copied, or the claim word marked retracted and the claimed chunks copied), and the helper's reads of
//!   the record come before its successful claim (a Release that `j`'s retraction or its Acquire of the copied
//!   count synchronizes with): so a successful claim always goes with the `dest`, call and descriptor of its own
//!   generation, and a helper late for call `s` fails its claim instead of writing into a later call's `dest`.
//!
//! The checks a member makes that a helper does not (the root's post of call `s` exists, carries no argument
//! error and is direct) are the helper's own: it copies only within a call whose post it accepted itself.

use super::posted::tagged;
use crate::runtime::Runtime;
use shmem_core::{HeapOffset, Pe};
use std::sync::atomic::Ordering;

/// Smallest payload whose copies are shared. Below it a member's own copy is short (a 64 KiB `memcpy` is a few
/// microseconds) and the record, claims and scans would cost more than the balance gains.
pub(crate) const COOP_MIN: usize = 64 * 1024;
/// Smallest number of bytes a call copies in all (the payload times the members) for its copies to be shared.
/// Below it the destinations stay in the cores' caches from call to call, and a chunk copied by a PE on another
/// core moves every line of it between the caches. Measured (coll-bench, 8 PEs on the 2-core VM, 2 MiB L2 per
/// core, alternated runs): 256 KiB (2 MiB in all) took 44-57 us shared against 28-29 us unshared; 1 MiB at 4
/// PEs (4 MiB in all) 95-152 against 86-94.
const COOP_TOTAL_MIN: usize = 8 << 20;
/// Largest payload whose copies are shared. Above it each member's own copy lasts a good part of a time slice,
/// so the scheduler's slices balance the cores by themselves, and sharing only adds claims and lines that move
/// between cores. Measured (8 PEs on the 2-core VM, alternated runs): 4 MiB took 1041-1179 us shared against
/// 1116-1340 unshared (coll-bench), 16 MiB 7870-9045 against 8722-9729 and 7989-8194 against 7337-7970, 64 MiB
/// (Python) 36-42 ms against 33-39 ms.
const COOP_MAX: usize = 4 << 20;
/// Smallest chunk: a claim (a compare-and-swap on a line other PEs touch) is small next to its copy.
const MIN_CHUNK: u64 = 64 * 1024;
/// Largest chunk: a PE holds no chunk longer than a small part of a time slice.
const MAX_CHUNK: u64 = 1024 * 1024;

/// Largest payload whose chunks are copied with streaming stores (`shmem_core::copy`). The PEs that share a core
/// each run Python (or the caller's code) between two calls, and a chunk written through the cache evicts what
/// that code needs next; writing around the cache leaves it. At larger payloads the copies dominate and the
/// write-allocate reads no longer cost more than the evictions. Measured (8 PEs on the 2-core VM, a Python loop
/// of broadcasts, 8 alternated runs each, median µs per call): 1 MiB 354 against 340 and 397 against 359 (two
/// series, plain copies first); Rust `coll-bench`, 8 alternated runs, 404 against 350. In session 13, 4 MiB
/// took 1417 plain against 1501 streaming.
const STREAM_CHUNKS_MAX: u64 = 1 << 20;

// Words of a ready record (one cache line of a member's posted block, written by its owner except the two
// counters).

/// The call: team handle and `s + 1`, as the posted ring's sequence words.
const R_CALL: u64 = 0;
const R_DST: u64 = 1;
/// The type's code (bits 0..8) and the root's team index (bits 32..64).
const R_DESC: u64 = 2;
const R_NELEMS: u64 = 3;
const R_EPOCH: u64 = 4;
/// Chunks claimed so far, with the record's generation (see [`counter`]); stored last when the record is
/// published.
const R_CLAIM: u64 = 5;
/// Chunks copied so far, with the record's generation.
const R_COPIED: u64 = 6;
/// Bytes of a ready record.
pub(crate) const RECORD_BYTES: u64 = 64;
/// Offset in a ready record of the copied word, the one whose last update wakes the record's owner (and a root
/// waiting for the owner: [`crate::collectives::posted`] watches it too).
pub(crate) const COPIED_OFFSET: u64 = 8 * R_COPIED;
const _: () = assert!(8 * (R_COPIED + 1) <= RECORD_BYTES);

/// Whether this PE shares the copies of a direct payload of `len` bytes to a team of `members`: where this
/// node's PEs outnumber its cores (with a core per PE, every member copies its own in parallel and nothing is
/// left to balance), for payloads of [`COOP_MIN`] to [`COOP_MAX`] that copy at least [`COOP_TOTAL_MIN`] in all.
///
/// The members need not answer alike (a PE's cores are its own affinity): a member without a ready record copies
/// its own `dest` and the others never write it, and a root that does not share waits for every member's done.
pub(crate) fn applies(rt: &Runtime, len: usize, members: usize) -> bool {
    members > 1
        && (COOP_MIN..=COOP_MAX).contains(&len)
        && len.saturating_mul(members) >= COOP_TOTAL_MIN
        && shmem_sync::wait::cores_shared(&rt.wait_ctx(false))
}

/// Bytes of one chunk of a `len`-byte payload: about an eighth of it, a power of two within
/// [`MIN_CHUNK`]..=[`MAX_CHUNK`].
fn chunk_bytes(len: u64) -> u64 {
    (len / 8).next_power_of_two().clamp(MIN_CHUNK, MAX_CHUNK)
}

/// A claim or copied word: the record's generation above, the count below.
fn counter(generation: u32, count: u64) -> u64 {
    u64::from(generation) << 32 | (count & 0xffff_ffff)
}

/// The generation of a claim or copied word.
fn generation_of(word: u64) -> u32 {
    (word >> 32) as u32
}

/// The count of a claim or copied word.
fn count_of(word: u64) -> u64 {
    word & 0xffff_ffff
}

/// The count of a claim word whose owner has [`retract`]ed its record (with the chunks claimed before in the bits
/// below): above every chunk count (a payload has at most [`COOP_MAX`] / [`MIN_CHUNK`] chunks), so that no claim
/// succeeds any more, and told apart from "every chunk claimed" by a copier that must wake the owner.
const RETRACTED: u64 = 1 << 31;
const _: () = assert!((COOP_MAX as u64 / MIN_CHUNK) < RETRACTED);

/// The generation of this process's next ready record: every record a PE publishes gets its own (wrapping after
/// 2^32 records, skipping 0, the value of a record never written).
fn next_generation() -> u32 {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    loop {
        let g = NEXT.fetch_add(1, Ordering::Relaxed);
        if g != 0 {
            return g;
        }
    }
}

/// A record's descriptor word.
fn desc_word(dtype: u64, root: u64) -> u64 {
    dtype | root << 32
}

/// What a call says about itself in its ready record, and what a helper compares it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready {
    pub(crate) handle: i32,
    /// The call's sequence number on the team.
    pub(crate) s: u64,
    /// The element type's code.
    pub(crate) dtype: u64,
    pub(crate) nelems: u64,
    pub(crate) root: u64,
    /// This PE's barrier epoch on the team when it made the call.
    pub(crate) epoch: u64,
}

/// A ready record this PE published: what [`retract`] and [`Share::new`] need of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Published {
    pub(crate) ready: Ready,
    generation: u32,
}

/// Publishes this PE's ready record at `rec` (its own block) for call `ready.s`, with `dst` its checked `dest`:
/// from the Release store of the claim word on, PEs in the same call may fill `dst`.
pub(crate) fn publish(rt: &Runtime, rec: HeapOffset, ready: &Ready, dst: HeapOffset) -> Published {
    let generation = next_generation();
    let w = |i: u64, v: u64| rt.node.word64(rt.me, rec.plus(8 * i)).store(v, Ordering::Relaxed);
    w(R_CALL, tagged(ready.handle, ready.s + 1));
    w(R_DST, dst.0);
    w(R_DESC, desc_word(ready.dtype, ready.root));
    w(R_NELEMS, ready.nelems);
    w(R_EPOCH, ready.epoch);
    w(R_COPIED, counter(generation, 0));
    // Release: a PE that Acquire-loads this generation's claim word sees the words above.
    rt.node.word64(rt.me, rec.plus(8 * R_CLAIM)).store(counter(generation, 0), Ordering::Release);
    Published { ready: *ready, generation }
}

/// Closes this PE's ready record of call `ready.s` (at `rec`, for a payload of `len` bytes) on a way out of the
/// call by an error: no chunk can be claimed any more, and the chunks already claimed are copied before this
/// returns, so that nobody writes the `dest` after the call has returned it to the caller. (A PE that gave up
/// waiting for the post, for instance, would otherwise have its `dest` filled once the post came.)
///
/// # Errors
/// A timeout or job failure while a claimed chunk is still being copied (its copier stopped).
pub(crate) fn retract(rt: &Runtime, rec: HeapOffset, mine: &Published, len: u64) -> shmem_core::Result<()> {
    let chunks = len.div_ceil(chunk_bytes(len));
    let g = mine.generation;
    let word = rt.node.word64(rt.me, rec.plus(8 * R_CLAIM));
    let copied = rt.node.word64(rt.me, rec.plus(8 * R_COPIED));
    // Nothing of this generation can be claimed from here on (the claims before it, and the record reads before
    // them, happen before); `claimed` chunks went to other PEs before. SeqCst, with the copier's SeqCst add and
    // claim load in `Share::help_one`: either this PE's load of the copied count below sees a copier's add, or that
    // copier sees the retraction and wakes this PE. (Only this PE writes the generation: claims keep it.)
    let before = word.fetch_or(RETRACTED, Ordering::SeqCst);
    debug_assert_eq!(generation_of(before), g, "only this PE publishes its record");
    let claimed = (count_of(before) & !RETRACTED).min(chunks);
    let done = || (copied.load(Ordering::SeqCst) >= counter(g, claimed)).then_some(());
    if claimed == 0 || done().is_some() {
        return Ok(());
    }
    shmem_sync::wait::wait_until_on(&rt.wait_ctx(true), rt.me, Some((rec.plus(8 * R_COPIED), 8)), done, || {
        format!("the PEs copying into this PE's dest to finish the chunks they claimed (broadcast #{})", mine.ready.s)
    })
}

/// What this PE knows of one member's `dest` during the call.
#[derive(Debug, Clone, Copy)]
enum Dest {
    /// No ready record for this call seen yet (the member has not entered it).
    Unknown,
    /// Ready, and its call equals ours: chunks of the record of this generation may be claimed.
    Open(HeapOffset, u32),
    /// Nothing (more) to claim: every chunk claimed, or the member's call differs from ours.
    Closed,
}

/// One PE's part in the shared copies of one call, after it has accepted the root's post.
pub(crate) struct Share<'a> {
    rt: &'a Runtime,
    members: &'a [u32],
    me: usize,
    rec: HeapOffset,
    ready: Ready,
    /// This PE's own record of the call, when it published one.
    mine: Option<Published>,
    root: Pe,
    src: HeapOffset,
    len: u64,
    chunk: u64,
    chunks: u64,
    dests: Vec<Dest>,
    /// Calls of [`Share::help_one`] to skip before the next scan: after a scan that found nothing, a wait's polls
    /// do not read every member's record line each time (those lines are what the copying PEs write).
    skip: u32,
    /// Every member's dest is closed: nothing will ever be left to copy in this call.
    finished: bool,
}

/// Polls a scan that found nothing skips while some member has not published its record yet.
const IDLE_SKIP: u32 = 15;

impl<'a> Share<'a> {
    /// This PE's share of call `ready.s`: `members` the team's PEs (this PE is `members[me]`), `rec` the ready
    /// record's offset (the same in every member's block), `mine` this PE's own record of the call (none: its
    /// `dest` is not shared), `src` the root's `source` of `len` bytes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        rt: &'a Runtime,
        members: &'a [u32],
        me: usize,
        rec: HeapOffset,
        ready: Ready,
        mine: Option<Published>,
        src: HeapOffset,
        len: u64,
    ) -> Self {
        let chunk = chunk_bytes(len);
        let mut dests = vec![Dest::Unknown; members.len()];
        if mine.is_none() {
            // An old record of this PE's may still be there: never this call's.
            dests[me] = Dest::Closed;
        }
        Share {
            rt,
            members,
            me,
            rec,
            ready,
            mine,
            root: Pe(members[ready.root as usize]),
            src,
            len,
            chunk,
            chunks: len.div_ceil(chunk),
            dests,
            skip: 0,
            finished: false,
        }
    }

    fn word(&self, j: usize, i: u64) -> &'a std::sync::atomic::AtomicU64 {
        self.rt.node.word64(Pe(self.members[j]), self.rec.plus(8 * i))
    }

    /// Whether member `j`'s ready record is for this call and says the same call as ours.
    fn open(&self, j: usize) -> Dest {
        let r = self.ready;
        // Acquire: the record's words of this generation (or a later one) are seen below.
        let claim = self.word(j, R_CLAIM).load(Ordering::Acquire);
        if self.word(j, R_CALL).load(Ordering::Relaxed) != tagged(r.handle, r.s + 1) {
            return Dest::Unknown;
        }
        let same = self.word(j, R_DESC).load(Ordering::Relaxed) == desc_word(r.dtype, r.root)
            && self.word(j, R_NELEMS).load(Ordering::Relaxed) == r.nelems
            && self.word(j, R_EPOCH).load(Ordering::Relaxed) == r.epoch;
        let dst = HeapOffset(self.word(j, R_DST).load(Ordering::Relaxed));
        if generation_of(self.word(j, R_CLAIM).load(Ordering::Acquire)) != generation_of(claim) {
            // Published again meanwhile: look again later.
            return Dest::Unknown;
        }
        // The owner checked its range; a range its mapping does not hold (never expected) is left to the owner.
        if same && self.rt.node.ptr(Pe(self.members[j]), dst, self.len).is_some() {
            Dest::Open(dst, generation_of(claim))
        } else {
            Dest::Closed
        }
    }

    /// Claims the next chunk of member `j`'s record of generation `g`, if one is left.
    fn claim(&self, j: usize, g: u32) -> Option<u64> {
        let word = self.word(j, R_CLAIM);
        let mut cur = word.load(Ordering::Relaxed);
        loop {
            if generation_of(cur) != g || count_of(cur) >= self.chunks {
                return None;
            }
            // AcqRel: the record reads before it happen before the owner's next record (see the module docs).
            match word.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return Some(count_of(cur)),
                Err(now) => cur = now,
            }
        }
    }

    /// Copies one chunk of the payload into some ready member's `dest` (this PE's own first, then the next
    /// members in team order); `false` when no chunk is left to claim among the members ready so far.
    pub(crate) fn help_one(&mut self) -> bool {
        if self.finished {
            return false;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return false;
        }
        let m = self.members.len();
        for k in 0..m {
            let j = (self.me + k) % m;
            if let Dest::Unknown = self.dests[j] {
                self.dests[j] = self.open(j);
            }
            let Dest::Open(dst, g) = self.dests[j] else { continue };
            let Some(c) = self.claim(j, g) else {
                self.dests[j] = Dest::Closed;
                continue;
            };
            let off = c * self.chunk;
            let len = self.chunk.min(self.len - off);
            let node = &self.rt.node;
            let from = node.ptr(self.root, self.src.plus(off), len).expect("the root's checked source");
            let to = node.ptr(Pe(self.members[j]), dst.plus(off), len).expect("checked when opened");
            // SAFETY: `from` is inside the root's `source`, which the root does not write before every member's
            // chunks are copied (it waits for that); `to` is inside member `j`'s checked `dest` of generation `g`,
            // which it hands to the call until the chunks claimed of that generation are copied, and chunk `c` of
            // it is this PE's alone (claimed above). The two are in different mappings or, for the root's own
            // `dest`, apart (the root publishes a record only then).
            unsafe {
                if self.len <= STREAM_CHUNKS_MAX {
                    shmem_core::copy::copy_streaming(to.as_ptr(), from.as_ptr().cast_const(), len as usize);
                } else {
                    std::ptr::copy_nonoverlapping(from.as_ptr().cast_const(), to.as_ptr(), len as usize);
                }
            }
            // Release: the copy above happens before the owner's (and the root's) Acquire load of the count (a
            // streaming copy ends with its fence, so its weakly ordered stores come before this one too).
            // SeqCst: see `retract`.
            let copied = count_of(self.word(j, R_COPIED).fetch_add(1, Ordering::SeqCst)) + 1;
            // The owner waits for its last chunk, or (retracted) for the chunks claimed before; any other wake only
            // costs a futex call here and a round trip of the sleeper (8 per `dest` and call at first: `perf` of
            // an 8-PE 1 MiB loop had the root in `futex_wake` for 16% of its time).
            if copied == self.chunks || count_of(self.word(j, R_CLAIM).load(Ordering::SeqCst)) & RETRACTED != 0 {
                node.wake(Pe(self.members[j]), self.rec.plus(8 * R_COPIED), 8);
            }
            return true;
        }
        if self.dests.iter().all(|d| matches!(d, Dest::Closed)) {
            self.finished = true;
        } else {
            self.skip = IDLE_SKIP;
        }
        false
    }

    /// [`retract`] of this PE's own record, if it published one.
    ///
    /// # Errors
    /// As [`retract`].
    pub(crate) fn retract(&self) -> shmem_core::Result<()> {
        self.mine.as_ref().map_or(Ok(()), |mine| retract(self.rt, self.rec, mine, self.len))
    }

    /// Whether every chunk of member `j`'s `dest` has been copied in this call (Acquire: the copies happen
    /// before whatever the caller does next).
    pub(crate) fn copied_all(&self, j: usize) -> bool {
        let g = generation_of(self.word(j, R_CLAIM).load(Ordering::Acquire));
        self.word(j, R_CALL).load(Ordering::Relaxed) == tagged(self.ready.handle, self.ready.s + 1)
            && self.word(j, R_COPIED).load(Ordering::Acquire) == counter(g, self.chunks)
    }

    /// Helps until this PE's own `dest` is complete (nothing to wait for when it published no record): chunks of
    /// its own and, while it waits for the PEs copying the rest, of any other ready member's. The wait is a
    /// collective wait (bounded, sleeps when nothing is left to do here).
    pub(crate) fn finish_own(&mut self, what: impl Fn() -> String) -> shmem_core::Result<()> {
        let Some(mine) = self.mine else { return Ok(()) };
        let (rt, watch, whole) = (self.rt, self.rec.plus(8 * R_COPIED), counter(mine.generation, self.chunks));
        let copied = rt.node.word64(rt.me, watch);
        let complete = || copied.load(Ordering::Acquire) == whole;
        while !complete() && self.help_one() {}
        if complete() {
            return Ok(());
        }
        shmem_sync::wait::wait_until_on(
            &rt.wait_ctx(true),
            rt.me,
            Some((watch, 8)),
            || {
                if complete() {
                    return Some(());
                }
                self.help_one();
                None
            },
            what,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_an_eighth_within_bounds() {
        assert_eq!(chunk_bytes(64 * 1024), MIN_CHUNK);
        assert_eq!(chunk_bytes(1 << 20), 128 * 1024);
        assert_eq!(chunk_bytes(1_000_000), 128 * 1024);
        assert_eq!(chunk_bytes(64 << 20), MAX_CHUNK);
        let len = 1_000_000u64;
        assert_eq!(len.div_ceil(chunk_bytes(len)), 8);
    }

    #[test]
    fn counters_keep_their_generation_apart_from_the_count() {
        assert_ne!(counter(1, 5), counter(2, 5));
        assert_eq!(count_of(counter(3, 7)), 7);
        assert_eq!(generation_of(counter(u32::MAX, 0)), u32::MAX);
        // A whole record's chunks never reach the generation's bits.
        assert_eq!(generation_of(counter(9, (1 << 32) - 1)), 9);
    }

    #[test]
    fn every_record_gets_a_new_nonzero_generation() {
        let a = next_generation();
        let b = next_generation();
        assert!(a != 0 && b != 0 && a != b);
    }
}
