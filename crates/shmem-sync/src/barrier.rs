//! A dissemination barrier over engine atomics.
//!
//! In round `r` (distance `d = 2^r`), member `i` adds 1 to the round-`r` counter of member `(i + d) % size` and
//! waits until its own round-`r` counter reaches the barrier's epoch. After `ceil(log2 size)` rounds every
//! member has heard, directly or transitively, from every other. Counters only grow, so no round needs a
//! reset: a member that races ahead into the next barrier raises a counter to `epoch + 1`, which still
//! satisfies `>= epoch` (it cannot get further ahead, since it cannot finish that barrier without us).
//!
//! The counters live in the team's block of the reserved sync area (see `HeapLayout::team_word`); the last
//! word of the block records the epoch a member has entered, read only to name the missing PEs when a
//! barrier times out. A team slot's words must be zero on every member when a team starts using it.

use crate::wait::{load_local, wait_until, WaitCtx};
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::heap::layout::{ALLOC_SYNC_SLOT, TEAM_SYNC_WORDS};
use shmem_core::heap::HeapLayout;
use shmem_core::{Error, Pe, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Word of a team block holding the last epoch a member entered (read by peers to tell whether it arrived, and
/// by the facade to tell which collective a peer is in).
pub const ARRIVAL_WORD: u64 = TEAM_SYNC_WORDS - 1;
/// Word of a team block holding how far a member got: `epoch << 6 | round` before each round's signal, and
/// `epoch << 6 | DONE` when it leaves. Read only to name the members that stopped inside a barrier.
const PROGRESS_WORD: u64 = TEAM_SYNC_WORDS - 2;
const DONE: u64 = 63;
/// How often a waiting member runs its probe (see [`barrier_probed`]).
const PROBE_EVERY: Duration = Duration::from_millis(1);

/// A team as the barrier sees it: its members (world PEs in team order), this PE's index, its sync block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TeamView<'a> {
    /// World PE of each member, in team order.
    pub members: &'a [u32],
    /// This PE's index in the team.
    pub my_index: u32,
    /// The team's block in the sync area.
    pub slot: u32,
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

/// How many barriers this PE has completed on one team (per process). A new team starts at zero, with its
/// slot's words zeroed on every member.
#[derive(Debug, Default)]
pub struct BarrierState {
    epoch: AtomicU64,
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
    if state.poisoned.load(Ordering::Acquire) {
        return Err(Error::Inner(format!(
            "an earlier barrier on team slot {} failed part-way, so its synchronization state is unusable; \
             end the job",
            team.slot
        )));
    }
    let epoch = state.epoch.fetch_add(1, Ordering::Relaxed) + 1;
    if team.size() <= 1 {
        return Ok(());
    }
    let result = run_rounds(engine, ctx, team, epoch, probe);
    if result.is_err() {
        state.poisoned.store(true, Ordering::Release);
    }
    result
}

fn run_rounds<E: DataOpEngine + ?Sized>(
    engine: &E,
    ctx: &WaitCtx<'_>,
    team: &TeamView<'_>,
    epoch: u64,
    probe: &mut dyn FnMut() -> Result<()>,
) -> Result<()> {
    let layout = *ctx.node.layout();
    let me = ctx.node.me();
    let progress = ctx.node.word64(me, layout.team_word(team.slot, PROGRESS_WORD));
    ctx.node.word64(me, layout.team_word(team.slot, ARRIVAL_WORD)).store(epoch, Ordering::SeqCst);
    let mut dist = 1u32;
    let mut round = 0u64;
    while dist < team.size() {
        progress.store(epoch << 6 | round, Ordering::SeqCst);
        let to = team.world((team.my_index + dist) % team.size());
        let flag = layout.team_word(team.slot, round);
        engine.atomic(to, flag, AtomicWidth::W64, AtomicOp::FetchAdd(1))?;
        let start = Instant::now();
        let mut last_probe = start;
        let mut polls = 0u32;
        let waited = wait_until(
            ctx,
            Some((flag, 8)),
            || {
                if load_local::<u64>(ctx.node, flag) >= epoch {
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
            },
            || {
                if team.slot == ALLOC_SYNC_SLOT {
                    format!("the barrier of collective allocation call #{epoch} (round {round})")
                } else {
                    format!("barrier #{epoch} of team slot {} (round {round})", team.slot)
                }
            },
        );
        match waited {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(name_missing(engine, &layout, team, epoch, round, e)),
        }
        dist = dist.saturating_mul(2);
        round += 1;
    }
    progress.store(epoch << 6 | DONE, Ordering::SeqCst);
    Ok(())
}

/// Turns a timeout into one that names the members holding the barrier up: those that never entered it, and
/// those that entered but stopped inside it (frozen, e.g. by SIGSTOP, or descheduled): a member stuck in round
/// `r` either already received its round-`r` signal or never sent its own. When neither is found (the state
/// changed while we looked), the member this PE waited for is named.
#[cold]
fn name_missing<E: DataOpEngine + ?Sized>(
    engine: &E,
    layout: &HeapLayout,
    team: &TeamView<'_>,
    epoch: u64,
    my_round: u64,
    err: Error,
) -> Error {
    let Error::Timeout { what, waited, .. } = err else { return err };
    let read = |pe: Pe, word: u64| {
        engine.atomic(pe, layout.team_word(team.slot, word), AtomicWidth::W64, AtomicOp::Fetch).ok()
    };
    let size = team.size();
    let mut absent = Vec::new();
    let mut stuck = Vec::new();
    for i in 0..size {
        let pe = team.world(i);
        if read(pe, ARRIVAL_WORD).is_none_or(|v| v < epoch) {
            absent.push(pe.0);
            continue;
        }
        let Some(p) = read(pe, PROGRESS_WORD) else { continue };
        let (e, r) = (p >> 6, p & 63);
        let frozen = match e.cmp(&epoch) {
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Equal if r == DONE => false,
            std::cmp::Ordering::Equal => {
                let succ = team.world((i + (1u32 << r.min(31))) % size);
                let got_signal = read(pe, r).is_some_and(|v| v >= epoch);
                let sent_signal = read(succ, r).is_some_and(|v| v >= epoch);
                got_signal || !sent_signal
            }
        };
        if frozen {
            stuck.push(pe.0);
        }
    }
    if absent.is_empty() && stuck.is_empty() {
        let dist = 1u32 << my_round.min(31);
        stuck.push(team.world((team.my_index + size - dist % size) % size).0);
    }
    let mut what = what;
    if !stuck.is_empty() {
        what.push_str(&format!(" (PEs {stuck:?} entered it but stopped inside: frozen, stopped or descheduled)"));
    }
    let mut missing_pes = absent;
    missing_pes.extend(stuck);
    missing_pes.sort_unstable();
    Error::Timeout { what, waited, missing_pes }
}
