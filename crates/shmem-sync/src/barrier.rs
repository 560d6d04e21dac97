//! Team barriers over engine atomics: hierarchical by node, a dissemination across nodes.
//!
//! A team's members are grouped by node (`TeamView::node_of`); the member with the lowest team index on a
//! node is that node's *leader*, and the team's block of the leader's sync area holds the node's arrival
//! counter and release word. A barrier has up to three phases:
//!
//! 1. **Gather on the node** (shared memory): every member adds 1 to its leader's counter.
//! 2. **Across nodes** (leaders only, when the team spans several nodes): a dissemination barrier among the
//!    leaders. In round `r` (distance `d = 2^r`) leader `i` adds 1 to the round-`r` counter of leader
//!    `(i + d) % M` and waits until its own round-`r` counter reaches the epoch: `ceil(log2 M)` network round
//!    trips for `M` nodes, whatever the number of PEs per node.
//! 3. **Release on the node**: the leader (or, on a team confined to one node, the member whose addition
//!    completed the count) stores the epoch into the release word; the others wait for it, all on that one
//!    word, so one futex wake releases every sleeper of the node.
//!
//! A collective that needs every member's contribution (a small reduction) can have the member whose addition
//! completes a one-node count compute the result once, from every member's words, and leave it beside the
//! release word ([`barrier_completing`]): the others read it with the release they wait for anyway, instead of
//! each reading every member's line after the barrier.
//!
//! On one node this is a gather-release barrier in which every member waits exactly once, however many PEs
//! share the cores, instead of `ceil(log2 N)` times in a row (each of which needs the right peer to be
//! scheduled). A team of two on one node keeps the plain dissemination barrier (one round, each PE waits on
//! its own word), which is the fastest when each PE has a core.
//!
//! Counters only grow, so no phase needs a reset: after barrier `e` a leader's counter is `e * L` for `L`
//! members on its node, its release word `e`, each round counter `e`. A member racing ahead into the next
//! barrier raises a counter past its target, which `>=` tolerates; it cannot get further ahead, since it
//! cannot finish that barrier without the others.
//!
//! The words live in the team's block of the reserved sync area (see `HeapLayout::team_word`): round
//! counters first, then the node counter and the release word on lines of their own, then, on the last line, the
//! progress and arrival words (read to name the missing PEs when a barrier times out, and by waiters deciding
//! whether to yield). Those two are written several times per barrier: on the release word's line, the leader's
//! stores would take that line from every member polling it (measured, 4 PEs on 2 cores: 8 B reduction 1.66-2.13
//! µs with them there, 1.60-1.80 µs on their own line). A team of two on one node (one
//! round) uses the round-0 counter's line for words its members hand each other ([`barrier_carrying`]). A team
//! slot's words must be zero on every member when a team starts using it.

use crate::placement;
use crate::wait::{wait_until_advised, WaitCtx};
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::heap::layout::{ALLOC_SYNC_SLOT, TEAM_SYNC_WORDS};
use shmem_core::heap::HeapLayout;
use shmem_core::{Error, Pe, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Word of a team block holding the last epoch a member entered (read by peers to tell whether it arrived, and
/// by the facade to tell which collective a peer is in).
pub const ARRIVAL_WORD: u64 = TEAM_SYNC_WORDS - 1;
/// Word of a team block holding how far a member got: `epoch << 6 | round` before each round's signal, and
/// `epoch << 6 | DONE` when it leaves. Read to name the members that stopped inside a barrier, and by the waiters
/// of an oversubscribed node to tell whether a member on their CPU is still needed ([`still_needed`]).
const PROGRESS_WORD: u64 = TEAM_SYNC_WORDS - 2;
const DONE: u64 = 63;
/// Progress state: entered, its addition to the node counter not yet made (or, for the member that completed
/// the count on a one-node team, the release not yet stored). Every other member waits for it.
const ARRIVING: u64 = 60;
/// Progress state: counted on its node, waiting for the release (holds nobody up).
const WAITING: u64 = 61;
/// Progress state: a leader waiting for its node's members to arrive.
const GATHERING: u64 = 62;
/// Word of the leader's team block counting the arrivals on its node (`epoch * L` after barrier `epoch`).
const NODE_COUNT: u64 = 16;
/// Word of the leader's team block holding the epoch of the last barrier released on its node.
const NODE_RELEASE: u64 = 24;
/// Round counters of the dissemination use words `0..MAX_ROUNDS` (up to 2^16 nodes, or members when flat).
const MAX_ROUNDS: u64 = NODE_COUNT;
/// How often a waiting member runs its probe (see [`barrier_probed`]).
const PROBE_EVERY: Duration = Duration::from_millis(1);
/// Words a barrier of two members on one node carries from each member to the other ([`barrier_carrying`]).
pub const CARRY_WORDS: usize = 3;
/// First word of a team block where the peer leaves its carried words: right after the round-0 counter, in its
/// cache line, two sets by the parity of the barrier's epoch. A team of two has one round, so these round
/// counters are never used as such.
const CARRY_AT: u64 = 1;
const _: () = assert!(CARRY_AT + 2 * CARRY_WORDS as u64 <= 8, "the carried words share the round-0 counter's line");
/// Words the member that completes a one-node barrier leaves for every member beside the release word
/// ([`barrier_completing`]).
pub const RELEASE_CARRY_WORDS: usize = 5;
/// First word of the leader's team block where [`barrier_completing`] leaves its words: right after the release
/// word, in its cache line, so a member reads them with the release it waits for.
const RELEASE_CARRY_AT: u64 = NODE_RELEASE + 1;
const _: () = assert!(
    RELEASE_CARRY_AT + RELEASE_CARRY_WORDS as u64 <= NODE_RELEASE + 8 && NODE_RELEASE.is_multiple_of(8),
    "the completer's words share the release word's line"
);
const _: () = assert!(
    PROGRESS_WORD / 8 == ARRIVAL_WORD / 8 && PROGRESS_WORD / 8 > NODE_RELEASE / 8 && NODE_RELEASE / 8 > NODE_COUNT / 8,
    "the progress and arrival words have a line of their own, after the release word's"
);

/// What the member completing a one-node barrier computes for every member ([`barrier_completing`]).
pub type Complete<'a> = &'a mut dyn FnMut() -> [u64; RELEASE_CARRY_WORDS];

/// A team as the barrier sees it: its members (world PEs in team order), this PE's index, its sync block, and
/// which node each PE is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamView<'a> {
    /// World PE of each member, in team order.
    pub members: &'a [u32],
    /// This PE's index in the team.
    pub my_index: u32,
    /// The team's block in the sync area.
    pub slot: u32,
    /// Node index of every world PE (the same on every PE; PEs of one node have mapped each other's
    /// segments). Empty when unknown: the barrier is then a flat dissemination over all members.
    pub node_of: &'a [u32],
}

impl TeamView<'_> {
    /// Number of members.
    pub fn size(&self) -> u32 {
        self.members.len() as u32
    }

    /// The world PE of member `i`.
    pub fn world(&self, i: u32) -> Pe {
        Pe(self.members[i as usize])
    }
}

/// How many barriers this PE has completed on one team (per process), and the team's barrier plan, worked out
/// at its first barrier. A new team starts at zero, with its slot's words zeroed on every member.
#[derive(Debug, Default)]
pub struct BarrierState {
    epoch: AtomicU64,
    plan: OnceLock<Plan>,
    /// Set when a barrier on this team failed part-way: its counters may be out of step with the peers', so a
    /// later barrier could pass without synchronizing. Every later barrier fails instead.
    poisoned: AtomicBool,
}

impl BarrierState {
    /// The number of barriers this PE has entered on the team (the epoch of the latest one).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Makes every later barrier on the team fail at once, as after a barrier that failed part-way: for
    /// callers that found the team's collectives out of step (e.g. a barrier on one PE met an allocation on
    /// another), so that nothing later waits for a peer that will never come.
    pub fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }
}

/// Waits until every member of `team` has entered this barrier. Does not complete outstanding puts: call
/// `quiet` first for `barrier_all` semantics.
///
/// One barrier per team at a time per PE (OpenSHMEM's rule); concurrent barriers on different teams are
/// independent.
///
/// # Errors
/// `Timeout` naming the members that had not arrived when `ctx.timeout` expired; engine errors.
pub fn barrier<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    state: &BarrierState,
) -> Result<()> {
    barrier_probed(engine, ctx, team, state, &mut || Ok(()))
}

/// [`barrier`], running `probe` about every millisecond while it waits: an error from the probe (e.g. "a peer
/// is in another collective that this barrier can never meet") ends the barrier with that error at once
/// instead of at the timeout.
///
/// # Errors
/// As [`barrier`], and the probe's error.
pub fn barrier_probed<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    state: &BarrierState,
    probe: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    enter(engine, ctx, team, state, probe, Extra::Nothing).map(|_| ())
}

/// [`barrier_probed`] that also hands `carry` to the other member and returns the words it carried in its own
/// call, when the barrier is a single round between two members of one node (each signals the other's round-0
/// word, which this PE can write directly): the words travel in the cache line of that signal, written before
/// it and read after this PE's wait for the peer's, so they cost no line of their own. `None` when the barrier
/// has another shape (it is still a complete barrier). The words returned are whatever the peer last stored in
/// this epoch's set: when the peer entered this barrier some other way (a plain team sync), they are stale, from
/// two or more barriers before, or zero on a new team. This function cannot tell: callers must carry a stamp
/// (such as the epoch) in their words and compare it with what they expected.
///
/// The words are double-buffered by the epoch's parity: the peer overwrites this PE's set of epoch `e` only in
/// barrier `e + 2`, which it cannot enter before this PE has signalled `e + 1`, after reading them.
///
/// # Errors
/// As [`barrier_probed`].
pub fn barrier_carrying<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    state: &BarrierState,
    probe: &mut dyn FnMut() -> Result<()>,
    carry: [u64; CARRY_WORDS],
) -> Result<Option<[u64; CARRY_WORDS]>> {
    let mut words = carry;
    let carried = enter(engine, ctx, team, state, probe, Extra::Carry(&mut words))?;
    Ok(carried.then_some(words))
}

/// [`barrier_probed`] on which the member that completes the count of a one-node gather (a team of three or more
/// members on one node with the default, hierarchical algorithm) runs `complete` before it releases the others,
/// and leaves the words it returns beside the release word; every member returns them (`None` when the barrier
/// has another shape, and `complete` did not run: it is still a complete barrier). `complete` runs on at most one
/// member (the completing one, if it entered through this function), after every member has entered (so it may
/// read what each wrote before entering; it must not wait), and its words are read by the others after the
/// release they waited for. Only a later barrier's `complete` writes them again, and no later barrier completes
/// before every member has left this one. Should `complete` panic, the others are released with zeros.
///
/// When the completing member entered this barrier some other way (a plain team sync), nobody wrote the words
/// for this barrier: they are stale, from an earlier barrier, or zero on a new team. Callers must carry a stamp
/// (such as the epoch, marked so that it is never zero) in their words and compare it with what they expected.
///
/// # Errors
/// As [`barrier_probed`].
pub fn barrier_completing<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    state: &BarrierState,
    probe: &mut dyn FnMut() -> Result<()>,
    complete: Complete<'_>,
) -> Result<Option<[u64; RELEASE_CARRY_WORDS]>> {
    let mut out = None;
    enter(engine, ctx, team, state, probe, Extra::Complete(complete, &mut out))?;
    Ok(out)
}

/// What a barrier carries besides synchronizing, if anything.
enum Extra<'a, 'b> {
    /// Nothing.
    Nothing,
    /// Words handed to the peer of a two-member one-node team ([`barrier_carrying`]).
    Carry(&'a mut [u64; CARRY_WORDS]),
    /// The completer's result of a one-node gather ([`barrier_completing`]), and where it goes.
    Complete(Complete<'b>, &'a mut Option<[u64; RELEASE_CARRY_WORDS]>),
}

/// Ends this PE's use of a team slot after the team's last barrier (its destruction), so that the slot can be
/// reused, and its words zeroed, without pulling a word from under a member still reading it: a node's members
/// wait for their leader's release word, and a member descheduled there would, once the leader had reused the
/// slot for a new team and zeroed its block, wait for a release that never comes. Each member but the leader adds
/// 1 to its leader's node counter once it left the barrier (`epoch * L` after barrier `epoch`); the leader waits
/// until all of them did (`epoch * L + L - 1`). Nothing to do where no member waits on another's words: a team
/// of one, a flat dissemination (each member waits on its own words, which nobody writes after it left), or a
/// team that never had a barrier. No barrier may follow on the slot: the node counter is past its pattern.
///
/// # Errors
/// `Timeout` naming the members that did not depart (they are gone or stopped), as a barrier's.
pub fn depart<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    state: &BarrierState,
) -> Result<()> {
    let epoch = state.epoch();
    let Some(plan) = state.plan.get().filter(|p| p.local > 1 && team.size() > 1) else {
        return Ok(());
    };
    let count = ctx.node.layout().team_word(team.slot, NODE_COUNT);
    if plan.leader != ctx.node.me() {
        ctx.node.atomic(plan.leader, count, AtomicWidth::W64, AtomicOp::FetchAdd(1))?;
        return Ok(());
    }
    let all = epoch * plan.local + plan.local - 1;
    let result = wait_word(ctx, team, plan.leader, NODE_COUNT, all, epoch, Stage::Gather, &mut || Ok(()), None);
    result.map_err(|e| name_missing(engine, ctx.node.layout(), team, plan, epoch, Stage::Gather, e))
}

/// The barrier; with [`Extra::Carry`], hands those words to the peer of a two-member one-node team and replaces
/// them with the peer's (see [`barrier_carrying`]); `true` when it did. With [`Extra::Complete`], see
/// [`barrier_completing`].
fn enter<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    state: &BarrierState,
    probe: &mut dyn FnMut() -> Result<()>,
    extra: Extra<'_, '_>,
) -> Result<bool> {
    if state.poisoned.load(Ordering::Acquire) {
        return Err(Error::Inner(format!(
            "an earlier barrier on team slot {} failed part-way, so its synchronization state is unusable; \
             end the job",
            team.slot
        )));
    }
    let epoch = state.epoch.fetch_add(1, Ordering::Relaxed) + 1;
    if team.size() <= 1 {
        return Ok(false);
    }
    let plan =
        state.plan.get_or_init(|| Plan::new(team, &|pe| ctx.node.peer(Pe(pe)).is_some(), ctx.config.flat_barrier));
    let extra = match extra {
        Extra::Carry(_) if !plan.carries(ctx) => Extra::Nothing,
        Extra::Complete(..) if !(plan.one_node() && plan.local > 1) => Extra::Nothing,
        e => e,
    };
    let carried = matches!(extra, Extra::Carry(_));
    let result = run(engine, ctx, team, plan, epoch, probe, extra);
    if result.is_err() {
        state.poisoned.store(true, Ordering::Release);
    }
    result.map(|()| carried)
}

/// The shape of one team's barrier, the same for every barrier on the team.
#[derive(Debug)]
struct Plan {
    /// The members of the cross-node dissemination (world PEs): the node leaders in team order, or every
    /// member for a flat barrier (which has no node phases: `local` is 1).
    ring: Vec<u32>,
    /// This PE's index in `ring`, when it is in it.
    ring_index: Option<u32>,
    /// This PE's node leader (world PE) and the number of members on this node.
    leader: Pe,
    local: u64,
    /// Members per node, by the node's leader (world PE): to judge a leader's gather when naming PEs.
    node_sizes: Vec<(u32, u64)>,
}

impl Plan {
    /// The plan of `team` for this PE; `mapped(pe)` tells whether `pe`'s segment is mapped here (on this node).
    /// `force_flat` (`SHMEM_BARRIER_ALGO=flat`) makes every barrier a flat dissemination over all members (the
    /// algorithm before the hierarchical one), for comparing the two on a given machine.
    fn new(team: &TeamView<'_>, mapped: &dyn Fn(u32) -> bool, force_flat: bool) -> Plan {
        let me = team.members[team.my_index as usize];
        // Flat when the nodes are unknown, or for two members on one node (one round, each waits on its own
        // word). The node-local phases need every member of this node mapped and no other: node_of must agree
        // with the mappings.
        let known = team.members.iter().all(|&pe| {
            team.node_of.get(pe as usize).is_some_and(|&node| (node == team.node_of[me as usize]) == mapped(pe))
        });
        let one_node = known && team.members.iter().all(|&pe| team.node_of[pe as usize] == team.node_of[me as usize]);
        if !known || (one_node && team.size() <= 2) || force_flat {
            return Plan {
                ring: team.members.to_vec(),
                ring_index: Some(team.my_index),
                leader: Pe(me),
                local: 1,
                node_sizes: Vec::new(),
            };
        }
        let mut node_sizes: Vec<(u32, u64)> = Vec::new(); // (leader, members), leaders in team order
        let mut node_leader: Vec<(u32, u32)> = Vec::new(); // (node, leader)
        for &pe in team.members {
            let node = team.node_of[pe as usize];
            match node_leader.iter().position(|&(n, _)| n == node) {
                Some(i) => node_sizes[i].1 += 1,
                None => {
                    node_leader.push((node, pe));
                    node_sizes.push((pe, 1));
                }
            }
        }
        let mine = node_leader.iter().position(|&(n, _)| n == team.node_of[me as usize]).expect("own node");
        let ring: Vec<u32> = node_sizes.iter().map(|&(l, _)| l).collect();
        let ring_index = ring.iter().position(|&l| l == me).map(|i| i as u32);
        Plan { leader: Pe(ring[mine]), local: node_sizes[mine].1, ring, ring_index, node_sizes }
    }

    /// Whether the team spans one node only (the release is then stored by the member completing the count).
    fn one_node(&self) -> bool {
        self.ring.len() == 1
    }

    /// Whether barriers carry words ([`barrier_carrying`]): one round between two members, the peer mapped here.
    fn carries(&self, ctx: &WaitCtx<'_>) -> bool {
        self.local == 1 && self.ring.len() == 2 && self.ring.iter().all(|&pe| ctx.node.peer(Pe(pe)).is_some())
    }
}

/// Where this PE waited when its barrier timed out (to name whom it waited for when nothing else is found).
#[derive(Debug, Clone, Copy)]
enum Stage {
    Gather,
    Round(u64),
    Release,
}

fn describe(team: &TeamView<'_>, epoch: u64, stage: Stage) -> String {
    let at = match stage {
        Stage::Gather => "gathering its node".to_string(),
        Stage::Round(r) => format!("round {r}"),
        Stage::Release => "waiting for its node's release".to_string(),
    };
    if team.slot == ALLOC_SYNC_SLOT {
        format!("the barrier of collective allocation call #{epoch} ({at})")
    } else {
        format!("barrier #{epoch} of team slot {} ({at})", team.slot)
    }
}

/// Waits until `owner`'s word `word` of the team block reaches `target`, running `probe` about every
/// millisecond; `yield_may_help` as [`wait_until_advised`]'s.
#[allow(clippy::too_many_arguments)]
fn wait_word(
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    owner: Pe,
    word: u64,
    target: u64,
    epoch: u64,
    stage: Stage,
    probe: &mut dyn FnMut() -> Result<()>,
    yield_may_help: Option<&mut dyn FnMut() -> bool>,
) -> Result<()> {
    let at = ctx.node.layout().team_word(team.slot, word);
    let w = ctx.node.word64(owner, at);
    let mut last_probe = Instant::now();
    let mut polls = 0u32;
    let poll = || {
        if w.load(Ordering::Acquire) >= target {
            return Some(Ok(()));
        }
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(64) {
            let now = Instant::now();
            if now.duration_since(last_probe) >= PROBE_EVERY {
                last_probe = now;
                if let Err(e) = probe() {
                    return Some(Err(e));
                }
            }
        }
        None
    };
    let what = || describe(team, epoch, stage);
    wait_until_advised(ctx, owner, Some((at, 8)), poll, what, yield_may_help)?
}

/// Whether a member whose progress word reads `progress` is still needed for the release of one-node barrier
/// `epoch`: it has not counted itself yet (an earlier epoch's state, `ARRIVING`, or a slot not used yet), or it
/// completed the count and has not stored the release (the completer stays `ARRIVING` until it has). A member
/// `WAITING` or `DONE` in this epoch, or already in a later one, is not.
fn still_needed(progress: u64, epoch: u64) -> bool {
    progress < (epoch << 6 | WAITING)
}

fn run<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    plan: &Plan,
    epoch: u64,
    probe: &mut dyn FnMut() -> Result<()>,
    extra: Extra<'_, '_>,
) -> Result<()> {
    let mut stage = Stage::Gather;
    let result = phases(engine, ctx, team, plan, epoch, probe, &mut stage, extra);
    result.map_err(|e| name_missing(engine, ctx.node.layout(), team, plan, epoch, stage, e))
}

#[allow(clippy::too_many_arguments)]
fn phases<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    plan: &Plan,
    epoch: u64,
    probe: &mut dyn FnMut() -> Result<()>,
    stage: &mut Stage,
    extra: Extra<'_, '_>,
) -> Result<()> {
    let (mut carry, mut complete) = match extra {
        Extra::Nothing => (None, None),
        Extra::Carry(words) => (Some(words), None),
        Extra::Complete(f, out) => (None, Some((f, out))),
    };
    let layout = *ctx.node.layout();
    let me = ctx.node.me();
    let progress = ctx.node.word64(me, layout.team_word(team.slot, PROGRESS_WORD));
    // Release, not SeqCst: these words are only read by diagnostics, probes and hints (the timeout naming the
    // missing PEs, the allocation-mismatch probe, the yield advice below), which poll again; the synchronization
    // itself is the SeqCst read-modify-writes below. A SeqCst store is a full fence on x86 (xchg), which waits for
    // this PE's pending stores (the collective line it has just written, whose cache lines a peer holds): three of
    // them per barrier were a measurable part of a 2-PE barrier and of every small collective.
    ctx.node.word64(me, layout.team_word(team.slot, ARRIVAL_WORD)).store(epoch, Ordering::Release);
    let leader = plan.leader;
    if plan.local > 1 {
        // Where this node's PEs share cores, the CPU this PE runs on, for the others' yield advice (see below).
        let shares_cores = crate::wait::cores_shared(ctx);
        if shares_cores {
            placement::publish(ctx.node);
        }
        progress.store(epoch << 6 | ARRIVING, Ordering::Release);
        let count = layout.team_word(team.slot, NODE_COUNT);
        let before = ctx.node.atomic(leader, count, AtomicWidth::W64, AtomicOp::FetchAdd(1))?;
        let all = epoch * plan.local;
        if plan.one_node() {
            let carried = |i: usize| ctx.node.word64(leader, layout.team_word(team.slot, RELEASE_CARRY_AT + i as u64));
            if before + 1 == all {
                if let Some((f, out)) = complete.as_mut() {
                    // Every member's addition happened before this one's (a chain of SeqCst read-modify-writes
                    // on the counter), so what each wrote before entering is visible to `f`. The words are
                    // stored before the release below (a SeqCst swap: a Release for them).
                    // A panic of `f` must not leave the others waiting for a release that never comes (until
                    // their timeout): they are released with zeros, which callers' stamps never match.
                    let words = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut **f)).unwrap_or_else(|_| {
                        tracing::error!(
                            "barrier #{epoch} of team slot {}: the completing computation panicked",
                            team.slot
                        );
                        [0; RELEASE_CARRY_WORDS]
                    });
                    for (i, &w) in words.iter().enumerate() {
                        carried(i).store(w, Ordering::Relaxed);
                    }
                    **out = Some(words);
                }
                // The last to arrive releases everybody with one store (and one wake of the sleepers).
                let release = layout.team_word(team.slot, NODE_RELEASE);
                ctx.node.atomic(leader, release, AtomicWidth::W64, AtomicOp::Swap(epoch))?;
            } else {
                progress.store(epoch << 6 | WAITING, Ordering::Release);
                *stage = Stage::Release;
                // Yielding helps only a member still needed here that may share this thread's CPU.
                let mut yield_may_help = || {
                    let cpu = placement::current_cpu();
                    team.members.iter().any(|&pe| {
                        let pe = Pe(pe);
                        pe != me
                            && placement::may_share(ctx.node, pe, cpu)
                            && still_needed(
                                ctx.node.word64(pe, layout.team_word(team.slot, PROGRESS_WORD)).load(Ordering::Relaxed),
                                epoch,
                            )
                    })
                };
                let advice: Option<&mut dyn FnMut() -> bool> =
                    if shares_cores { Some(&mut yield_may_help) } else { None };
                wait_word(ctx, team, leader, NODE_RELEASE, epoch, epoch, *stage, probe, advice)?;
                if shares_cores {
                    // The wait may have slept, and the kernel may have woken this PE on another CPU: the hint the
                    // others read until this PE's next barrier should say where it runs now.
                    placement::publish(ctx.node);
                }
                if let Some((_, out)) = complete.as_mut() {
                    // After the wait's Acquire load of the release of this epoch (not of a later one: that needs
                    // this member's next arrival), and nobody stores these words again before then.
                    **out = Some(std::array::from_fn(|i| carried(i).load(Ordering::Relaxed)));
                }
            }
            progress.store(epoch << 6 | DONE, Ordering::Release);
            return Ok(());
        }
        if leader != me {
            progress.store(epoch << 6 | WAITING, Ordering::Release);
            *stage = Stage::Release;
            wait_word(ctx, team, leader, NODE_RELEASE, epoch, epoch, *stage, probe, None)?;
            progress.store(epoch << 6 | DONE, Ordering::Release);
            return Ok(());
        }
        progress.store(epoch << 6 | GATHERING, Ordering::Release);
        wait_word(ctx, team, me, NODE_COUNT, all, epoch, *stage, probe, None)?;
    }
    let my = plan.ring_index.expect("a leader (or a flat member) is in the ring");
    let size = plan.ring.len() as u32;
    let mut dist = 1u32;
    let mut round = 0u64;
    while dist < size {
        if round >= MAX_ROUNDS {
            return Err(Error::Inner(format!("a barrier over {size} nodes needs more than {MAX_ROUNDS} rounds")));
        }
        progress.store(epoch << 6 | round, Ordering::Release);
        let to = Pe(plan.ring[((my + dist) % size) as usize]);
        let flag = layout.team_word(team.slot, round);
        *stage = Stage::Round(round);
        // Carried words (a single round between two members, see `Plan::carries`): this epoch's set in the peer's
        // block, stored before the signal below (a SeqCst read-modify-write on the CPU path: a Release for them;
        // where a NIC engine carries same-node atomics, the ordering is that engine's post path, as for every
        // other word written before a barrier signal).
        let set = CARRY_AT + (epoch % 2) * CARRY_WORDS as u64;
        if let Some(words) = carry.as_deref() {
            for (i, &w) in words.iter().enumerate() {
                ctx.node.word64(to, layout.team_word(team.slot, set + i as u64)).store(w, Ordering::Relaxed);
            }
        }
        engine.atomic(to, flag, AtomicWidth::W64, AtomicOp::FetchAdd(1))?;
        wait_word(ctx, team, me, round, epoch, epoch, *stage, probe, None)?;
        if let Some(words) = carry.as_deref_mut() {
            // After the wait's Acquire load of the peer's signal of this epoch (or of the next: the peer does not
            // write this set again before barrier epoch + 2), so the peer's stores before it are visible.
            for (i, w) in words.iter_mut().enumerate() {
                *w = ctx.node.word64(me, layout.team_word(team.slot, set + i as u64)).load(Ordering::Relaxed);
            }
        }
        dist = dist.saturating_mul(2);
        round += 1;
    }
    if plan.local > 1 {
        let release = layout.team_word(team.slot, NODE_RELEASE);
        ctx.node.atomic(me, release, AtomicWidth::W64, AtomicOp::Swap(epoch))?;
    }
    progress.store(epoch << 6 | DONE, Ordering::Release);
    Ok(())
}

/// Turns a timeout into one that names the members holding the barrier up: those that never entered it, and
/// those that entered but stopped inside it (frozen, e.g. by SIGSTOP, or descheduled) where the others need
/// them: a member that has not yet added itself to its node's count; a leader whose node had all arrived
/// but that did not go on; a member of the cross-node ring stuck in round `r` that either already received
/// its round-`r` signal or never sent its own. When none is found (the state changed while we looked), the
/// PE this one waited for is named.
#[cold]
fn name_missing<E: DataOpEngine + ?Sized>(
    engine: &E,
    layout: &HeapLayout,
    team: &TeamView<'_>,
    plan: &Plan,
    epoch: u64,
    stage: Stage,
    err: Error,
) -> Error {
    let Error::Timeout { what, waited, .. } = err else { return err };
    let read = |pe: Pe, word: u64| {
        engine.atomic(pe, layout.team_word(team.slot, word), AtomicWidth::W64, AtomicOp::Fetch).ok()
    };
    let ring_size = plan.ring.len() as u32;
    let me = team.world(team.my_index);
    let mut absent = Vec::new();
    let mut stuck = Vec::new();
    for i in 0..team.size() {
        let pe = team.world(i);
        if read(pe, ARRIVAL_WORD).is_none_or(|v| v < epoch) {
            absent.push(pe.0);
            continue;
        }
        let Some(p) = read(pe, PROGRESS_WORD) else { continue };
        let (e, st) = (p >> 6, p & 63);
        let frozen = match e.cmp(&epoch) {
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal => match st {
                DONE | WAITING => false,
                ARRIVING => true,
                GATHERING => {
                    let members = plan.node_sizes.iter().find(|&&(l, _)| l == pe.0).map_or(1, |&(_, m)| m);
                    read(pe, NODE_COUNT).is_some_and(|c| c >= epoch * members)
                }
                r => match plan.ring.iter().position(|&x| x == pe.0) {
                    Some(k) => {
                        // Judged only on words that could be read (a failed read proves nothing).
                        let succ = Pe(plan.ring[(k + (1usize << r.min(31))) % ring_size as usize]);
                        let got_signal = read(pe, r).is_some_and(|v| v >= epoch);
                        let sent_signal = read(succ, r).map(|v| v >= epoch);
                        got_signal || sent_signal == Some(false)
                    }
                    None => false,
                },
            },
        };
        // This PE is waiting, not frozen, whatever its words say.
        if frozen && pe != me {
            stuck.push(pe.0);
        }
    }
    if absent.is_empty() && stuck.is_empty() {
        match (stage, plan.ring_index) {
            (Stage::Round(r), Some(my)) => {
                let dist = 1u32 << r.min(31);
                stuck.push(plan.ring[((my + ring_size - dist % ring_size) % ring_size) as usize]);
            }
            (Stage::Release, _) if !plan.one_node() => stuck.push(plan.leader.0),
            _ => {}
        }
    }
    let mut what = what;
    if !what.contains("barrier") {
        // A timeout of the engine itself (a peer that does not answer an atomic): say which barrier it was in.
        what = format!("{}: {what}", describe(team, epoch, stage));
    }
    if !stuck.is_empty() {
        what.push_str(&format!(" (PEs {stuck:?} entered it but stopped inside: frozen, stopped or descheduled)"));
    }
    let mut missing_pes = absent;
    missing_pes.extend(stuck);
    missing_pes.sort_unstable();
    missing_pes.dedup();
    Error::Timeout { what, waited, missing_pes }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The yield advice's test, state by state: a member still to count itself (an earlier epoch's state, arriving,
    /// a slot not used yet) or the completer before its release is needed; a member waiting or done in this epoch,
    /// or already in the next, is not.
    #[test]
    fn a_member_is_needed_until_it_waits_or_leaves() {
        let e = 7u64;
        for (progress, needed) in [
            (0, true),
            ((e - 1) << 6 | DONE, true),
            ((e - 1) << 6 | WAITING, true),
            (e << 6 | ARRIVING, true),
            (e << 6 | WAITING, false),
            (e << 6 | DONE, false),
            ((e + 1) << 6 | ARRIVING, false),
        ] {
            assert_eq!(still_needed(progress, e), needed, "progress {progress:#x}");
        }
    }

    fn plan(members: &[u32], me: u32, node_of: &[u32]) -> Plan {
        let my_index = members.iter().position(|&m| m == me).unwrap() as u32;
        let team = TeamView { members, my_index, slot: 2, node_of };
        Plan::new(&team, &|pe| node_of[pe as usize] == node_of[me as usize], false)
    }

    /// Uneven nodes: leaders are the first member of each node in team order, each PE knows its node's size.
    #[test]
    fn uneven_nodes_give_one_leader_per_node() {
        let node_of = [0, 0, 0, 1, 2, 2];
        let all: Vec<u32> = (0..6).collect();
        let p = plan(&all, 4, &node_of);
        assert_eq!((p.ring.clone(), p.ring_index, p.leader, p.local), (vec![0, 3, 4], Some(2), Pe(4), 2));
        let p = plan(&all, 1, &node_of);
        assert_eq!((p.ring_index, p.leader, p.local), (None, Pe(0), 3));
        assert_eq!(p.node_sizes, vec![(0, 3), (3, 1), (4, 2)]);
        let p = plan(&all, 3, &node_of);
        assert_eq!((p.ring_index, p.leader, p.local), (Some(1), Pe(3), 1));
        // A strided team: its leaders are its own first members per node, in team order.
        let p = plan(&[5, 3, 1], 1, &node_of);
        assert_eq!((p.ring.clone(), p.ring_index, p.leader, p.local), (vec![5, 3, 1], Some(2), Pe(1), 1));
    }

    /// One PE per node, unknown nodes, and two PEs on one node: the flat dissemination over all members.
    #[test]
    fn flat_shapes() {
        let p = plan(&[0, 1, 2], 1, &[0, 1, 2]);
        assert_eq!((p.ring.clone(), p.ring_index, p.local), (vec![0, 1, 2], Some(1), 1));
        let team = TeamView { members: &[0, 1, 2], my_index: 0, slot: 2, node_of: &[] };
        let p = Plan::new(&team, &|_| true, false);
        assert_eq!((p.ring.len(), p.local), (3, 1));
        let p = plan(&[0, 1], 0, &[0, 0]);
        assert_eq!((p.ring.len(), p.local), (2, 1));
        // Three on one node: one leader, the node phases only.
        let p = plan(&[0, 1, 2], 2, &[0, 0, 0]);
        assert_eq!((p.ring.clone(), p.ring_index, p.leader, p.local, p.one_node()), (vec![0], None, Pe(0), 3, true));
        // node_of contradicting the mappings: flat.
        let team = TeamView { members: &[0, 1, 2], my_index: 0, slot: 2, node_of: &[0, 0, 0] };
        let p = Plan::new(&team, &|pe| pe == 0, false);
        assert_eq!((p.ring.len(), p.local), (3, 1));
    }
}
