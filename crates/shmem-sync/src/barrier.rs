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
use shmem_core::heap::layout::TEAM_SYNC_WORDS;
use shmem_core::heap::HeapLayout;
use shmem_core::{Error, Pe, Result};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Word of a team block holding the last epoch a member entered.
const ARRIVAL_WORD: u64 = TEAM_SYNC_WORDS - 1;

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
    let result = run_rounds(engine, ctx, team, epoch);
    if result.is_err() {
        state.poisoned.store(true, Ordering::Release);
    }
    result
}

fn run_rounds<E: DataOpEngine + ?Sized>(engine: &E, ctx: &WaitCtx<'_>, team: &TeamView<'_>, epoch: u64) -> Result<()> {
    let layout = *ctx.node.layout();
    let me = ctx.node.me();
    ctx.node.word64(me, layout.team_word(team.slot, ARRIVAL_WORD)).store(epoch, Ordering::Release);
    let mut dist = 1u32;
    let mut round = 0u64;
    while dist < team.size() {
        let to = team.world((team.my_index + dist) % team.size());
        let flag = layout.team_word(team.slot, round);
        engine.atomic(to, flag, AtomicWidth::W64, AtomicOp::FetchAdd(1))?;
        let waited = wait_until(
            ctx,
            Some((flag, 8)),
            || (load_local::<u64>(ctx.node, flag) >= epoch).then_some(()),
            || format!("barrier #{epoch} of team slot {} (round {round})", team.slot),
        );
        if let Err(e) = waited {
            return Err(name_missing(engine, &layout, team, epoch, e));
        }
        dist = dist.saturating_mul(2);
        round += 1;
    }
    Ok(())
}

#[cold]
fn name_missing<E: DataOpEngine + ?Sized>(
    engine: &E,
    layout: &HeapLayout,
    team: &TeamView<'_>,
    epoch: u64,
    err: Error,
) -> Error {
    let Error::Timeout { what, waited, .. } = err else { return err };
    let arrival = layout.team_word(team.slot, ARRIVAL_WORD);
    let missing_pes = (0..team.size())
        .map(|i| team.world(i))
        .filter(|&pe| engine.atomic(pe, arrival, AtomicWidth::W64, AtomicOp::Fetch).map_or(true, |v| v < epoch))
        .map(|pe| pe.0)
        .collect();
    Error::Timeout { what, waited, missing_pes }
}
