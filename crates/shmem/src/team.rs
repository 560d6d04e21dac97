//! Teams: TEAM_WORLD, TEAM_NODE (the PEs of this node), and teams split from them.
//!
//! A team id is a slot of the reserved sync area; every member of a team has the same id because the id is
//! agreed collectively when the team is made: each member of the parent publishes its free slots (and a
//! digest of the split's arguments) in its sync area, the parent runs a barrier, and everyone takes the lowest
//! slot free on every parent member. New members zero that slot's sync words, and a second barrier over the
//! parent makes sure nobody uses the team before that. Disjoint teams made by one split (the rows of a 2-D
//! split) share a slot number: a PE is in only one of them.
//!
//! A PE outside a team gets TEAM_INVALID from the split and -1 from the queries, as `api.md` says.

use crate::api::with_current;
use crate::runtime::Runtime;
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::heap::layout::{MAX_TEAMS, TEAM_SYNC_WORDS};
use shmem_core::{Error, Pe, Result, TeamConfig};
use shmem_sync::{BarrierState, TeamView};
use shmem_team::{Members, SlotMask};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use shmem_team::{TEAM_INVALID, TEAM_NODE, TEAM_WORLD};

/// One live team as this PE sees it.
#[derive(Debug)]
pub(crate) struct TeamInfo {
    members: Members,
    my_index: u32,
    config: TeamConfig,
    barrier: BarrierState,
}

/// The live teams of this PE, by slot.
#[derive(Debug)]
pub(crate) struct TeamTable {
    free: SlotMask,
    slots: Vec<Option<Arc<TeamInfo>>>,
}

impl TeamTable {
    /// TEAM_WORLD of `n` PEs and TEAM_NODE of `node_pes` (sorted world PEs of this node).
    pub(crate) fn new(n: u32, me: u32, node_pes: Vec<u32>) -> TeamTable {
        let mut slots: Vec<Option<Arc<TeamInfo>>> = (0..MAX_TEAMS).map(|_| None).collect();
        let node = Members::new(node_pes);
        let node_index = node.index_of(me).expect("this PE is on its node");
        slots[TEAM_WORLD as usize] = Some(Arc::new(TeamInfo {
            members: Members::world(n),
            my_index: me,
            config: TeamConfig::default(),
            barrier: BarrierState::default(),
        }));
        slots[TEAM_NODE as usize] = Some(Arc::new(TeamInfo {
            members: node,
            my_index: node_index,
            config: TeamConfig::default(),
            barrier: BarrierState::default(),
        }));
        TeamTable { free: SlotMask::initial(), slots }
    }

    fn get(&self, team: i32) -> Option<Arc<TeamInfo>> {
        usize::try_from(team).ok().and_then(|t| self.slots.get(t)).and_then(|s| s.clone())
    }
}

impl Runtime {
    fn team(&self, team: i32) -> Result<Arc<TeamInfo>> {
        self.check_live()?;
        self.teams.lock().unwrap_or_else(|e| e.into_inner()).get(team).ok_or_else(|| {
            Error::invalid(format!(
                "team {team} does not exist on PE {} (never created, destroyed, or this PE is not a member)",
                self.me.0
            ))
        })
    }

    /// A barrier over `team` without quiet, bounded by control_operation_timeout.
    pub(crate) fn team_sync(&self, team: i32) -> Result<()> {
        let t = self.team(team)?;
        let view = TeamView { members: t.members.as_slice(), my_index: t.my_index, slot: team as u32 };
        shmem_sync::barrier::barrier(&self.router, &self.wait_ctx(true), &view, &t.barrier)
    }

    /// The collective part of every split: agree on a slot over `parent`, install this PE's new team (if any)
    /// in it. `digest` summarizes the split's arguments so that PEs calling with different ones are caught.
    fn make_teams(&self, parent: i32, digest: u64, mine: Option<Members>, config: TeamConfig) -> Result<i32> {
        let p = self.team(parent)?;
        let layout = self.layout;
        let free = self.teams.lock().unwrap_or_else(|e| e.into_inner()).free;
        self.node.word64(self.me, layout.team_agree(0)).store(free.0, Ordering::Relaxed);
        self.node.word64(self.me, layout.team_agree(1)).store(digest, Ordering::Relaxed);
        self.quiet()?;
        self.team_sync(parent)?;
        let mut common = SlotMask(u64::MAX);
        let mut differ = Vec::new();
        for &pe in p.members.as_slice() {
            let pe = Pe(pe);
            let e = self.router.to(pe);
            common = common.and(SlotMask(e.atomic(pe, layout.team_agree(0), AtomicWidth::W64, AtomicOp::Fetch)?));
            if e.atomic(pe, layout.team_agree(1), AtomicWidth::W64, AtomicOp::Fetch)? != digest {
                differ.push(pe.0);
            }
        }
        // Every member read the same words, so all reach the same verdict; the closing barrier keeps anyone from
        // rewriting its words (in a later split) before everyone has read them.
        let verdict = if !differ.is_empty() {
            Err(Error::InvalidValue(format!(
                "team split over team {parent}: PEs {differ:?} passed other arguments than PE {}; every member of \
                 the parent must make the same split call",
                self.me.0
            )))
        } else {
            common.lowest().map(|slot| {
                if let Some(members) = mine {
                    for w in 0..TEAM_SYNC_WORDS {
                        self.node.word64(self.me, layout.team_word(slot, w)).store(0, Ordering::Relaxed);
                    }
                    let my_index = members.index_of(self.me.0).expect("a PE's own team contains it");
                    let mut t = self.teams.lock().unwrap_or_else(|e| e.into_inner());
                    t.free.take(slot);
                    t.slots[slot as usize] =
                        Some(Arc::new(TeamInfo { members, my_index, config, barrier: BarrierState::default() }));
                    slot as i32
                } else {
                    TEAM_INVALID
                }
            })
        };
        self.quiet()?;
        self.team_sync(parent)?;
        verdict
    }

    fn destroy_team(&self, team: i32) -> Result<()> {
        if team == TEAM_WORLD || team == TEAM_NODE {
            return Err(Error::invalid(format!(
                "team {team} is predefined (TEAM_WORLD or TEAM_NODE) and cannot be destroyed"
            )));
        }
        self.team(team)?;
        self.quiet()?;
        self.team_sync(team)?;
        let mut t = self.teams.lock().unwrap_or_else(|e| e.into_inner());
        t.slots[team as usize] = None;
        t.free.release(team as u32);
        Ok(())
    }
}

fn digest(words: &[i64]) -> u64 {
    // FNV-1a over the arguments: equal calls give equal digests on every PE.
    words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

/// Collectively splits `parent` into the team of its PEs `start + k*stride` (`k < size`). Every member of the
/// parent calls it with the same arguments. Returns the new team's id, or TEAM_INVALID on PEs outside it.
pub fn split_strided(parent: i32, start: i32, stride: i32, size: i32) -> Result<i32> {
    split_strided_with(parent, start, stride, size, TeamConfig::default())
}

/// [`split_strided`] with a team configuration (kept and returned by [`get_config`]).
pub fn split_strided_with(parent: i32, start: i32, stride: i32, size: i32, config: TeamConfig) -> Result<i32> {
    with_current(|rt| {
        let p = rt.team(parent)?;
        let new = shmem_team::split_strided(&p.members, start.into(), stride.into(), size.into())?;
        let mine = new.index_of(rt.me.0).is_some().then_some(new);
        rt.make_teams(parent, digest(&[1, start.into(), stride.into(), size.into()]), mine, config)
    })
}

/// Collectively splits `parent` in a 2-D grid with rows of `x_range` PEs; returns this PE's (row, column)
/// teams: the x-team (its row) and the y-team (its column).
pub fn split_2d(parent: i32, x_range: i32) -> Result<(i32, i32)> {
    with_current(|rt| {
        let p = rt.team(parent)?;
        let (xs, ys) = shmem_team::split_2d(&p.members, x_range.into(), rt.me.0)?;
        let x = rt.make_teams(parent, digest(&[2, x_range.into(), 0]), Some(xs), TeamConfig::default())?;
        match rt.make_teams(parent, digest(&[2, x_range.into(), 1]), Some(ys), TeamConfig::default()) {
            Ok(y) => Ok((x, y)),
            Err(e) => {
                let _ = rt.destroy_team(x);
                Err(e)
            }
        }
    })
}

/// This PE's number in `team`, or -1 when it is not a member or the team does not exist.
pub fn my_pe(team: i32) -> i32 {
    with_current(|rt| Ok(rt.team(team)?.my_index as i32)).unwrap_or(-1)
}

/// Number of PEs in `team`, or -1 when the team does not exist here.
pub fn n_pes(team: i32) -> i32 {
    with_current(|rt| Ok(rt.team(team)?.members.len() as i32)).unwrap_or(-1)
}

/// The number in `dest_team` of PE `src_pe` of `src_team`, or -1 when it is outside either team.
pub fn translate_pe(src_team: i32, src_pe: i32, dest_team: i32) -> i32 {
    with_current(|rt| {
        let (s, d) = (rt.team(src_team)?, rt.team(dest_team)?);
        let pe = u32::try_from(src_pe).map_err(|_| Error::invalid("negative PE"))?;
        Ok(s.members.translate(pe, &d.members).map_or(-1, |p| p as i32))
    })
    .unwrap_or(-1)
}

/// The configuration `team` was made with.
pub fn get_config(team: i32) -> Result<TeamConfig> {
    with_current(|rt| Ok(rt.team(team)?.config))
}

/// Collectively destroys `team` (every member calls it); its id becomes free for later splits.
pub fn destroy(team: i32) -> Result<()> {
    with_current(|rt| rt.destroy_team(team))
}

/// A barrier over `team` without completing outstanding operations.
pub fn sync(team: i32) -> Result<()> {
    with_current(|rt| rt.team_sync(team))
}

/// quiet, then a barrier over `team`.
pub fn barrier(team: i32) -> Result<()> {
    with_current(|rt| {
        rt.check_live()?;
        rt.quiet()?;
        rt.team_sync(team)
    })
}

/// The world PE of `team`'s PE `pe`.
pub fn world_pe(team: i32, pe: i32) -> Result<i64> {
    with_current(|rt| {
        let t = rt.team(team)?;
        u32::try_from(pe)
            .ok()
            .and_then(|p| t.members.world_pe(p))
            .map(i64::from)
            .ok_or_else(|| Error::invalid(format!("PE {pe} is not in team {team} of {} PEs", t.members.len())))
    })
}

/// Put of `len` bytes to team PE `pe` of `team`.
///
/// # Safety
/// `src..src+len` must be readable for the duration of the call.
pub unsafe fn putmem(team: i32, dst: usize, src: *const u8, len: usize, pe: i32) -> Result<()> {
    let w = world_pe(team, pe)?;
    // SAFETY: forwarded contract.
    unsafe { crate::api::putmem(dst, src, len, w) }
}

/// Get of `len` bytes from team PE `pe` of `team`.
///
/// # Safety
/// `dst..dst+len` must be writable for the duration of the call.
pub unsafe fn getmem(team: i32, dst: *mut u8, src: usize, len: usize, pe: i32) -> Result<()> {
    let w = world_pe(team, pe)?;
    // SAFETY: forwarded contract.
    unsafe { crate::api::getmem(dst, src, len, w) }
}

/// Put-with-signal to team PE `pe` of `team`.
///
/// # Safety
/// As for [`putmem`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn putmem_signal(
    team: i32,
    dst: usize,
    src: *const u8,
    len: usize,
    sig_addr: usize,
    signal: u64,
    sig_op: i32,
    pe: i32,
) -> Result<()> {
    let w = world_pe(team, pe)?;
    // SAFETY: forwarded contract.
    unsafe { crate::api::putmem_signal(dst, src, len, sig_addr, signal, sig_op, w, false) }
}
