//! Collectives over teams (OpenSHMEM 1.5): broadcast, collect, fcollect, alltoall(s), reductions, team sync, and
//! the older active-set forms (`*_to_all`, `broadcast32/64`, ...) as adapters.
//!
//! # How every collective runs
//! Except the team broadcast on one node, which is *posted* without any agreement or barrier (see
//! `collectives/posted.rs`):
//! 1. **Agree.** Each member writes a small descriptor (call kind, element type, element count, root, strides or
//!    operator, destination capacity, the code of a local argument error if it found one, and the call's tag)
//!    into its collective line, then the members meet at the team barrier. Each member reads every member's
//!    descriptor (on one node straight through the node's mappings; across nodes one get per member, issued
//!    together and completed by one quiet) and checks them. Every member reads the same lines, so all reach
//!    the same verdict: a PE with bad arguments (a range outside the heap, a root outside the team, an
//!    operator the type lacks) fails with its own INVALID_PARAM and every other member with INVALID_PARAM
//!    naming it; members that disagree (other sizes, types, roots, operators, another collective altogether,
//!    or no collective: a member whose line does not carry this call's tag met the barrier from a team sync)
//!    fail with INVALID_VALUE on every member. No data moves when the verdict is an error, so a refused call
//!    has no side effect.
//! 2. **Move.** The family's algorithm (see its file) moves the data through the runtime's router, so the same
//!    code runs on one node (MTE: gets and puts are copies straight from and into peers' mapped heaps) and across
//!    nodes (TCP). Gets are issued deferred and completed by one quiet, so a network engine pipelines them.
//!    **Small payloads on one node** (every member's heap mapped here, at most [`INLINE_BYTES`] per member) travel
//!    inline instead: before the barrier each member that contributes copies its `source` into its own line
//!    (the broadcast root, every member of a reduction or a collect), and after it every member reads only the
//!    lines and writes only its own `dest`.
//! 3. **Close.** A last team barrier (after a quiet when data was pushed), so that no member reuses its
//!    source or destination while a peer may still read or write it. Calls that moved nothing between members'
//!    user buffers (the inline path, zero elements, a refused call on a team) skip it: nobody touches another
//!    member's `source` or `dest`, and the lines are double-buffered (below), so one barrier per call is enough.
//!
//! # Scratch (decision)
//! Collectives use no symmetric heap memory of the user's beyond `dest` and `source`. Their only state is a
//! reserved block per team slot at the end of the runtime's sync area (after the heap; see [`slot_offset`]):
//! one signal line for the tree broadcast, then two collective lines of [`LINE_BYTES`] (a 128-byte header with
//! the descriptor and tag, then [`INLINE_BYTES`] of inline payload), then the posted broadcast's block (its
//! done line, ring and big buffers: `posted::POST_BYTES`). A call uses line `e % 2`, where `e` is the
//! epoch of its opening barrier on the team (every member counts the team's barriers alike). A member writes
//! line `e % 2` again only for a call opening at `e + 2` or later, that is after it has passed barrier `e + 1`,
//! which no member enters before it has finished reading the lines of call `e`: so the closing barrier of a
//! call that read only lines is the opening barrier of the next. The tag (team handle and epoch) tells a line
//! written for this call from a stale one. Reductions fold into private (non-symmetric) buffers or straight
//! into the caller's `dest`. Active-set calls keep their state in the caller's `pSync`, without inline payloads,
//! and always close with a barrier (the caller may reuse `pSync` for another set right after).
//!
//! # Bounds on concurrency
//! As in OpenSHMEM, a PE makes its collectives on one team in the same order as the other members, from one
//! thread at a time; collectives on different teams may interleave only as far as the program orders them the
//! same way on every PE.

pub mod active_set;
pub mod alltoall;
pub mod broadcast;
pub mod collect;
mod coop;
pub(crate) mod net;
pub(crate) mod posted;
mod prefetch;
pub mod reduce;
mod stream;
mod typed;
pub mod types;

pub use types::{Complex32, Complex64, DataType, Element, ReduceOp, Reducible};

use crate::current::with_current;
use crate::runtime::Runtime;
use shmem_core::engine::{Completion, DataOpEngine, Get, Put};
use shmem_core::heap::layout::{ALLOC_SYNC_SLOT, MAX_TEAMS, TEAM_SYNC_WORDS};
use shmem_core::{Error, HeapOffset, Pe, Result};
use std::sync::atomic::Ordering;

/// Bytes of a collective line's header: the descriptor (8 words), the call's tag, spare words to a second
/// cache line (the payload starts on a line of its own).
const HEADER_BYTES: u64 = 128;
/// Word of the header holding the call's tag (team handle and barrier epoch).
const TAG_WORD: u64 = 8;
/// Most bytes a member publishes inline in its line (small payloads on one node): the small reductions
/// (up to 4 KiB) and broadcasts and collects up to this size per member then cost one barrier.
pub(crate) const INLINE_BYTES: usize = 4096;
/// Most bytes a member of a team of two publishes inline (see [`Group::inline_limit`]).
pub(crate) const PAIR_INLINE_BYTES: usize = 1024;
/// Bytes of one collective line: header and inline payload.
pub(crate) const LINE_BYTES: u64 = HEADER_BYTES + INLINE_BYTES as u64;
/// Bytes of the tree broadcast's signal line at the start of a slot's block.
pub(crate) const SIGNAL_BYTES: u64 = 128;
/// Bytes of one team slot's block: the signal line, two collective lines, and the posted broadcasts' block
/// (see `collectives/posted.rs`).
const SLOT_BYTES: u64 = SIGNAL_BYTES + 2 * LINE_BYTES + posted::POST_BYTES;
/// Bytes reserved at the end of the sync area for every team slot's block.
pub(crate) const SCRATCH_BYTES: u64 = MAX_TEAMS as u64 * SLOT_BYTES;

const _: () = assert!(
    SCRATCH_BYTES + shmem_core::heap::layout::SYNC_WORDS_BYTES <= shmem_core::heap::layout::SYNC_AREA_BYTES,
    "the sync area has no room for the collectives' lines"
);

/// The block of team slot `slot`: in the last `SCRATCH_BYTES` of the segment's sync area, past the team sync
/// blocks and the allocation block (checked), the same offset on every PE.
pub(crate) fn slot_offset(rt: &Runtime, slot: u32) -> HeapOffset {
    let base = rt.layout.segment_len() - SCRATCH_BYTES;
    debug_assert!(base >= rt.layout.team_word(ALLOC_SYNC_SLOT, TEAM_SYNC_WORDS - 1).0 + 8);
    HeapOffset(base + slot as u64 * SLOT_BYTES)
}

/// The collective line of team slot `slot` that a call opening at barrier epoch `epoch` uses.
pub(crate) fn desc_offset(rt: &Runtime, slot: u32, epoch: u64) -> HeapOffset {
    slot_offset(rt, slot).plus(SIGNAL_BYTES + (epoch % 2) * LINE_BYTES)
}

/// The kind of collective in a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum Kind {
    Broadcast = 1,
    Collect = 2,
    Fcollect = 3,
    Alltoall = 4,
    Alltoalls = 5,
    Reduce = 6,
}

impl Kind {
    fn name(w: u64) -> &'static str {
        match w {
            1 => "broadcast",
            2 => "collect",
            3 => "fcollect",
            4 => "alltoall",
            5 => "alltoalls",
            6 => "reduce",
            _ => "an unknown collective",
        }
    }
}

/// What a member says about its call (8 words, the descriptor line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Desc {
    pub(crate) kind: u64,
    pub(crate) dtype: u64,
    pub(crate) nelems: u64,
    pub(crate) root: u64,
    /// Family-specific: the reduction operator, alltoalls' destination stride.
    pub(crate) a: u64,
    /// Family-specific: alltoalls' source stride.
    pub(crate) b: u64,
    /// Elements the member's destination can hold (collect checks the total against it).
    pub(crate) cap: u64,
    /// 0, or the negated error code of the member's local argument check.
    pub(crate) err: u64,
    /// The call's tag (see [`Group::tag`]); not one of the 8 descriptor words of an active set's `pSync`.
    pub(crate) tag: u64,
}

impl Desc {
    pub(crate) fn new(kind: Kind, dt: DataType, nelems: usize, root: u64) -> Desc {
        Desc { kind: kind as u64, dtype: dt as u64, nelems: nelems as u64, root, ..Desc::default() }
    }

    fn words(&self) -> [u64; 8] {
        [self.kind, self.dtype, self.nelems, self.root, self.a, self.b, self.cap, self.err]
    }

    fn from_words(w: [u64; 8], tag: u64) -> Desc {
        Desc { kind: w[0], dtype: w[1], nelems: w[2], root: w[3], a: w[4], b: w[5], cap: w[6], err: w[7], tag }
    }

    /// The fields every member must pass alike (collect's element count may differ per PE).
    fn agreed(&self) -> [u64; 6] {
        let n = if self.kind == Kind::Collect as u64 { 0 } else { self.nelems };
        // (f)collect carries the member's dest and source offsets in a/b (for the overlap check), not agreed.
        let gathers = self.kind == Kind::Collect as u64 || self.kind == Kind::Fcollect as u64;
        let (a, b) = if gathers { (0, 0) } else { (self.a, self.b) };
        [self.kind, self.dtype, n, self.root, a, b]
    }

    fn describe(&self) -> String {
        let dt = DataType::from_code(self.dtype as u8).map_or("?", |d| d.name());
        let mut s = format!("{}({dt}, nelems={}", Kind::name(self.kind), self.nelems);
        match self.kind {
            k if k == Kind::Broadcast as u64 => s += &format!(", root={}", self.root as i64),
            k if k == Kind::Reduce as u64 => {
                s += &format!(", op={}", ReduceOp::from_code(self.a as u8).map_or("?", |o| o.name()))
            }
            k if k == Kind::Alltoalls as u64 => s += &format!(", dst_stride={}, sst={}", self.a, self.b),
            _ => {}
        }
        s + ")"
    }
}

/// How a group's members meet.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Meet {
    /// The team barrier of a live team.
    Team(i32),
    /// An active set's barrier on its `pSync` words (see [`active_set`]).
    ActiveSet(HeapOffset),
}

/// The inline payloads of one call on one node: where every member's staged bytes are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lines {
    /// The payload's offset in every member's segment (the same on all).
    payload: HeapOffset,
}

impl Lines {
    /// The `len` bytes member `i` staged, read in place through the node's mapping. They stay unchanged until
    /// this PE enters its next barrier on the team.
    pub(crate) fn payload<'a>(&self, rt: &'a Runtime, g: &Group, i: usize, len: usize) -> &'a [u8] {
        assert!(len <= INLINE_BYTES, "a staged payload fits the line");
        let p = rt.node.ptr(g.pe(i), self.payload, len as u64).expect("a mapped member's line");
        // SAFETY: p..p+len is inside member i's mapped line; member i wrote it before the barrier this PE has
        // passed and does not write it again before this PE has entered its next barrier on the team (the lines
        // are double-buffered by barrier epoch), which happens only after the caller drops the slice.
        unsafe { std::slice::from_raw_parts(p.as_ptr().cast_const(), len) }
    }
}

/// The world PEs of a group's members, in team order: a team's own list (no copy per call: a small reduction
/// costs a few hundred nanoseconds, and an allocation and a free were a measurable part of it) or an active set's.
#[derive(Debug)]
pub(crate) enum Members {
    /// A live team's members (and its cached facts, such as whether they are all mapped here).
    Team(std::sync::Arc<crate::runtime::teams::TeamInfo>),
    /// An active set's members.
    Set(Vec<u32>),
}

impl std::ops::Deref for Members {
    type Target = [u32];

    fn deref(&self) -> &[u32] {
        match self {
            Members::Team(t) => t.members.as_slice(),
            Members::Set(v) => v,
        }
    }
}

/// The PEs of one collective call and where their shared state lives.
#[derive(Debug)]
pub(crate) struct Group {
    /// World PEs of the members, in team order.
    pub(crate) members: Members,
    /// This PE's index in `members`.
    pub(crate) me: usize,
    pub(crate) meet: Meet,
    /// The descriptor line (same offset on every member): for a team, the line of this call's parity.
    pub(crate) desc: HeapOffset,
    /// What a team member writes beside its descriptor to say it is in this call: the team handle and the
    /// epoch of the call's opening barrier, never 0. 0 for an active set (not checked).
    pub(crate) tag: u64,
    /// The 64-bit signal word of the tree broadcast (same offset on every member).
    pub(crate) signal: HeapOffset,
    /// For messages: "team 3" or "active set (0, 1, 4)".
    pub(crate) label: Label,
}

/// How messages name a group (formatted only when a message is made: no allocation on every call).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Label {
    /// A team, by handle.
    Team(i32),
    /// An active set: start, log2 of the stride, size.
    ActiveSet(i32, i32, i32),
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Label::Team(t) => write!(f, "team {t}"),
            Label::ActiveSet(start, log_stride, size) => write!(f, "active set ({start}, {log_stride}, {size})"),
        }
    }
}

impl Group {
    /// The group of a live team this PE belongs to.
    pub(crate) fn team(rt: &Runtime, team: i32) -> Result<Group> {
        let t = rt.team(team)?;
        let slot = shmem_team::handle_slot(team).expect("a live handle has a slot");
        // The epoch the call's opening barrier will have (one thread per team at a time: nothing else meets
        // this team before it).
        let epoch = t.barrier.epoch() + 1;
        let me = t.my_index as usize;
        Ok(Group {
            members: Members::Team(t),
            me,
            meet: Meet::Team(team),
            desc: desc_offset(rt, slot, epoch),
            tag: (u64::from(team as u32) << 32) | (epoch & 0xffff_ffff),
            signal: slot_offset(rt, slot),
            label: Label::Team(team),
        })
    }

    /// Number of members.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// The world PE of member `i`.
    pub(crate) fn pe(&self, i: usize) -> Pe {
        Pe(self.members[i])
    }

    /// Meets every member (no quiet).
    pub(crate) fn meet(&self, rt: &Runtime) -> Result<()> {
        match (self.meet, &self.members) {
            (Meet::Team(team), Members::Team(t)) => rt.team_sync_with(team, t, None).map(drop),
            (Meet::Team(team), _) => rt.team_sync(team),
            (Meet::ActiveSet(psync), _) => active_set::barrier(rt, self, psync),
        }
    }

    /// Whether every member's heap is mapped here (one node): then algorithms read peers directly.
    pub(crate) fn all_mapped(&self, rt: &Runtime) -> bool {
        match &self.members {
            // Decided once per team (the same criterion).
            Members::Team(t) => posted::applies(rt, t),
            Members::Set(m) => m.iter().all(|&p| rt.router.peer_ptr(Pe(p), HeapOffset(0)).is_some()),
        }
    }

    /// Whether small payloads may travel inline in the lines: a team (not an active set) whose members' heaps
    /// are all mapped here. The same answer on every member (members of one node map each other).
    pub(crate) fn inline_capable(&self, rt: &Runtime) -> bool {
        matches!(self.meet, Meet::Team(_)) && self.all_mapped(rt)
    }

    /// Most bytes per member that a call on this group sends inline: [`INLINE_BYTES`], or [`PAIR_INLINE_BYTES`]
    /// for a team of two, whose barrier is a single cheap round trip when each PE has a core: there, copying a
    /// larger payload into the line and out again (with the line's cache lines crossing cores) costs about as
    /// much as the closing barrier it saves (measured: benches/results/issue15-one-barrier.md). The same on every
    /// member (the team size is).
    pub(crate) fn inline_limit(&self) -> usize {
        if self.len() <= 2 {
            PAIR_INLINE_BYTES
        } else {
            INLINE_BYTES
        }
    }

    /// Runs one collective: agree on the descriptors (with `check` for family rules that need every member's
    /// descriptor), then `body`, then the closing barrier (which a refused call on a team skips: see the module
    /// documentation). `local` is this PE's own argument error.
    pub(crate) fn run(
        &self,
        rt: &Runtime,
        mine: Desc,
        local: Option<Error>,
        check: impl FnOnce(&[Desc]) -> Option<Error>,
        body: impl FnOnce(&[Desc]) -> Result<()>,
    ) -> Result<()> {
        self.run_staged(rt, mine, local, None, check, |_, _| None, body)
    }

    /// [`Group::run`] with an inline path: when [`Group::inline_capable`], `stage` (a range of this PE's heap of
    /// at most [`INLINE_BYTES`], checked by the caller) is copied into this PE's line before the barrier, and
    /// after an agreeing verdict `inline` gets the [`Lines`] to read every member's staged bytes from. When it
    /// answers `Some`, the call is done without the closing barrier; when it answers `None` (or the group is not
    /// inline capable), `body` runs and the closing barrier follows. Whether a member stages, and whether
    /// `inline` answers `Some`, must follow from the agreed descriptors alone (so every member decides alike);
    /// `inline` may read only the lines and write only this PE's own memory.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_staged(
        &self,
        rt: &Runtime,
        mine: Desc,
        local: Option<Error>,
        stage: Option<(HeapOffset, usize)>,
        check: impl FnOnce(&[Desc]) -> Option<Error>,
        inline: impl FnOnce(&[Desc], &Lines) -> Option<Result<()>>,
        body: impl FnOnce(&[Desc]) -> Result<()>,
    ) -> Result<()> {
        rt.check_live()?;
        let mut mine = mine;
        if let Some(e) = &local {
            mine.err = e.code().unsigned_abs() as u64;
        }
        let mapped = self.inline_capable(rt);
        for (i, w) in mine.words().into_iter().enumerate() {
            // Only when it changed (a repeated call writes nothing): the peers read this line every call, and a
            // store would first take it back from their caches, one cross-core round trip on the call's path.
            let word = rt.node.word64(rt.me, self.desc.plus(8 * i as u64));
            if word.load(Ordering::Relaxed) != w {
                word.store(w, Ordering::Relaxed);
            }
        }
        if let (Some((src, len)), None, true) = (stage, &local, mapped) {
            assert!(len <= INLINE_BYTES, "a staged payload fits the line");
            local_copy(rt, self.desc.plus(HEADER_BYTES), src, len);
        }
        if matches!(self.meet, Meet::Team(_)) {
            rt.node.word64(rt.me, self.desc.plus(8 * TAG_WORD)).store(self.tag, Ordering::Relaxed);
        }
        self.meet(rt)?;
        if mapped {
            self.ask_for_next_lines(rt, stage.map_or(0, |(_, len)| len));
        }
        let all = if mapped { self.read_descs_mapped(rt) } else { self.read_descs(rt)? };
        let verdict = self.verdict(&all, local).or_else(|| check(&all));
        if let Some(e) = verdict {
            // Every member reached the same verdict and nobody moved data: on a team the next call's opening
            // barrier closes this one (the lines are double-buffered). An active set's pSync may be reused by
            // another set right after, so it still closes here.
            return match self.meet {
                Meet::Team(_) => Err(e),
                Meet::ActiveSet(_) => Err::<(), _>(e).and(self.meet(rt)),
            };
        }
        if mapped {
            if let Some(done) = inline(&all, &Lines { payload: self.desc.plus(HEADER_BYTES) }) {
                return done;
            }
        }
        let result = body(&all);
        let closed = self.meet(rt);
        result.and(closed)
    }

    /// Asks for this PE's lines of the team's next call (the other parity: its tag line and the first lines of
    /// a `len`-byte payload) in the exclusive state, a prefetch for writing: the peers read them in the call
    /// before this one and are done with them once this call's opening barrier has passed, so that the next
    /// call's stores find them here instead of taking each back from a peer's cache on its path (2 PEs, 64 B
    /// f64 sum: see `benches/results/session12.md`). A hint only: it reads and writes nothing.
    pub(crate) fn ask_for_next_lines(&self, rt: &Runtime, len: usize) {
        let Meet::Team(_) = self.meet else { return };
        let first = self.signal.plus(SIGNAL_BYTES);
        let next = if self.desc == first { first.plus(LINE_BYTES) } else { first };
        let lines =
            std::iter::once(8 * TAG_WORD).chain((0..len.min(4 * 64)).step_by(64).map(|off| HEADER_BYTES + off as u64));
        for off in lines {
            if let Some(p) = rt.node.ptr(rt.me, next.plus(off), 1) {
                prefetch::for_write(p.as_ptr().cast_const());
            }
        }
    }

    fn read_descs(&self, rt: &Runtime) -> Result<Vec<Desc>> {
        // A team's line carries the tag after the 8 descriptor words; an active set's pSync only the 8 words.
        let words = if matches!(self.meet, Meet::Team(_)) { 9 } else { 8 };
        let mut raw = vec![[0u64; 9]; self.len()];
        for (i, w) in raw.iter_mut().enumerate() {
            // SAFETY: w is a live, exclusively borrowed buffer of 9 words until the quiet below.
            unsafe { get(rt, self.pe(i), self.desc, w.as_mut_ptr().cast(), 8 * words, true)? };
        }
        rt.quiet()?;
        Ok(raw.into_iter().map(|w| Desc::from_words(w[..8].try_into().expect("8 words"), w[8])).collect())
    }

    /// [`Group::read_descs`] for a group whose members are all mapped here: loads straight from their lines.
    fn read_descs_mapped(&self, rt: &Runtime) -> Vec<Desc> {
        (0..self.len())
            .map(|i| {
                let word = |w: u64| rt.node.word64(self.pe(i), self.desc.plus(8 * w)).load(Ordering::Acquire);
                Desc::from_words(std::array::from_fn(|w| word(w as u64)), word(TAG_WORD))
            })
            .collect()
    }

    /// The error every member reports, or `None` when the call may go on.
    fn verdict(&self, all: &[Desc], local: Option<Error>) -> Option<Error> {
        if let Some(e) = local {
            return Some(e);
        }
        let mine = &all[self.me];
        if self.tag != 0 {
            let absent: Vec<u32> =
                (0..all.len()).filter(|&i| all[i].tag != self.tag).map(|i| self.members[i]).collect();
            if !absent.is_empty() {
                return Some(Error::InvalidValue(format!(
                    "{} on {}: PEs {absent:?} met it without making a collective call (a team sync or barrier?); \
                     every member must make the same call",
                    mine.describe(),
                    self.label
                )));
            }
        }
        let bad: Vec<u32> = (0..all.len()).filter(|&i| all[i].err != 0).map(|i| self.members[i]).collect();
        let differ: Vec<usize> = (0..all.len()).filter(|&i| all[i].agreed() != all[0].agreed()).collect();
        if !bad.is_empty() {
            return Some(Error::invalid(format!(
                "{} on {}: PEs {bad:?} passed invalid arguments (see their error), so the collective fails on \
                 every member",
                mine.describe(),
                self.label
            )));
        }
        if !differ.is_empty() {
            let parts: Vec<String> = std::iter::once(0)
                .chain(differ)
                .map(|i| format!("PE {} called {}", self.members[i], all[i].describe()))
                .collect();
            return Some(Error::InvalidValue(format!(
                "collective on {} differs between members: {}; every member must make the same call with the \
                 same type, element count, root and operator (PE {} called {})",
                self.label,
                parts.join(", "),
                self.members[self.me],
                mine.describe()
            )));
        }
        None
    }
}

/// Gets `len` bytes from `pe`'s `src` into local `dst` (deferred: complete after the next quiet).
///
/// # Safety
/// `dst..dst+len` must be writable and untouched until the data has arrived.
pub(crate) unsafe fn get(
    rt: &Runtime,
    pe: Pe,
    src: HeapOffset,
    dst: *mut u8,
    len: usize,
    deferred: bool,
) -> Result<()> {
    if len == 0 {
        return Ok(());
    }
    let op = Get { pe, src, dst, len };
    // SAFETY: forwarded contract; src is a checked range of the symmetric heap or the sync area.
    let r = unsafe { rt.router.get(op, Completion::of_nbi(deferred)) };
    if r.is_err() && deferred {
        // The caller returns this error at once and frees or reuses the destinations of its earlier deferred
        // gets: complete (or drop) them first, so that no reply lands there later.
        let _ = rt.quiet();
    }
    r
}

/// Puts `len` bytes from local `src` into `pe`'s `dst` (blocking: `src` is free on return), then optionally
/// sets `pe`'s signal word to 1.
///
/// # Safety
/// `src..src+len` must be readable for the call.
pub(crate) unsafe fn put(
    rt: &Runtime,
    pe: Pe,
    dst: HeapOffset,
    src: *const u8,
    len: usize,
    signal: Option<HeapOffset>,
) -> Result<()> {
    let signal =
        signal.map(|at| shmem_core::engine::SignalUpdate { at, value: 1, op: shmem_core::engine::SignalOp::Set });
    if len == 0 && signal.is_none() {
        return Ok(());
    }
    let op = Put { pe, dst, src, len, signal };
    // SAFETY: forwarded contract; dst is a checked range of the symmetric heap.
    unsafe { rt.router.put(op, Completion::Blocking) }
}

/// A local pointer to this PE's heap byte at `off` (range checked by the caller).
pub(crate) fn local_ptr(rt: &Runtime, off: HeapOffset, len: usize) -> *mut u8 {
    rt.node.local().span(off.0, len as u64).expect("a checked heap range").as_ptr()
}

/// Copies `len` bytes inside this PE's heap (ranges may overlap).
pub(crate) fn local_copy(rt: &Runtime, dst: HeapOffset, src: HeapOffset, len: usize) {
    if len == 0 || dst == src {
        return;
    }
    let (d, s) = (local_ptr(rt, dst, len), local_ptr(rt, src, len));
    // SAFETY: both ranges are inside the local mapping (checked by the callers); copy handles overlap.
    unsafe { std::ptr::copy(s, d, len) }
}

/// Checks a symmetric address range of `nelems` elements of `dt` and returns its heap offset; the error is
/// this PE's own argument error.
pub(crate) fn check_range(rt: &Runtime, what: &str, addr: usize, nelems: usize, dt: DataType) -> Result<HeapOffset> {
    let len = nelems
        .checked_mul(dt.size())
        .ok_or_else(|| Error::invalid(format!("{what}: {nelems} elements of {} overflow", dt.name())))?;
    rt.offset_of(addr, len, dt.size().min(8), rt.me).map_err(|e| match e {
        Error::InvalidParam(m) => Error::InvalidParam(format!("{what}: {m}")),
        e => e,
    })
}

/// `e` with its message prefixed by `what()` when it is this PE's argument error (INVALID_PARAM): lets a caller
/// pass a short static name to [`check_range`] and format its full name only when a message is made.
pub(crate) fn prefixed(e: Error, what: impl FnOnce() -> String) -> Error {
    match e {
        Error::InvalidParam(m) => Error::InvalidParam(format!("{} {m}", what())),
        e => e,
    }
}

/// Whether the byte ranges `a..a+alen` and `b..b+blen` share a byte (empty ranges share none).
pub(crate) fn overlap(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    alen > 0 && blen > 0 && a < b.saturating_add(blen) && b < a.saturating_add(alen)
}

/// Elements of `dt` that fit from `addr` to the end of the heap (0 outside the heap).
pub(crate) fn capacity(rt: &Runtime, addr: usize, dt: DataType) -> u64 {
    let off = addr.wrapping_sub(rt.base) as u64;
    if addr < rt.base || off > rt.layout.heap_size() {
        return 0;
    }
    (rt.layout.heap_size() - off) / dt.size() as u64
}

/// Waits until this PE's signal word of `g` is set, then clears it (tree broadcast).
pub(crate) fn wait_signal(rt: &Runtime, g: &Group) -> Result<()> {
    let node = &rt.node;
    shmem_sync::wait::wait_until(
        &rt.wait_ctx(true),
        Some((g.signal, 8)),
        || (shmem_sync::wait::load_local::<u64>(node, g.signal) != 0).then_some(()),
        || format!("the broadcast data of {}", g.label),
    )?;
    rt.node.word64(rt.me, g.signal).store(0, Ordering::Relaxed);
    Ok(())
}

/// Team sync (OpenSHMEM `shmem_team_sync`): a barrier over `team` without completing outstanding operations.
pub fn team_sync(team: i32) -> Result<()> {
    crate::team::sync(team)
}

/// Joins the next collective on `team` only to fail it: every member fails with INVALID_PARAM (naming this
/// PE) and this PE returns `err`. For callers that find an argument error the runtime cannot see (a NumPy
/// array smaller than the count, in the Python binding) and must not leave the other members waiting.
pub fn refuse(team: i32, err: Error) -> Result<()> {
    with_current(|rt| {
        let g = Group::team(rt, team)?;
        g.run(rt, Desc::default(), Some(err), |_| None, |_| Ok(()))
    })
}
