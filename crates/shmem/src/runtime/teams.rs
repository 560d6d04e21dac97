//! The team table of one runtime and the `impl Runtime` methods that make, look up, synchronize and destroy
//! teams (the agreement protocol is described in `crate::team`, whose public functions forward here).

use super::Runtime;
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::heap::layout::{MAX_TEAMS, TEAM_SYNC_WORDS};
use shmem_core::{Error, Pe, Result, TeamConfig};
use shmem_sync::{BarrierState, TeamView};
use shmem_team::{handle_slot, team_handle, Members, SlotMask, Triplet, TEAM_INVALID, TEAM_NODE, TEAM_WORLD};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One live team as this PE sees it.
#[derive(Debug)]
pub(crate) struct TeamInfo {
    /// The handle the members agreed on (slot and generation).
    handle: i32,
    pub(crate) members: Members,
    pub(crate) my_index: u32,
    pub(crate) config: TeamConfig,
    pub(crate) barrier: BarrierState,
    /// The contexts reserved for this team (`config.num_contexts` completion domains, opened on every engine
    /// when the team was made): the ones no live context of the team holds. `None` once the team is destroyed
    /// (a context destroyed later closes its domain instead of returning it). See `crate::ctx`.
    pub(crate) reserved: std::sync::Mutex<Option<Vec<shmem_core::engine::DomainId>>>,
    /// This PE's side of the team's posted broadcasts (sequence number, flow control; see
    /// `crate::collectives::posted`; state in `runtime/posted_state.rs`): a new team (a re-created slot too) starts from zero.
    pub(crate) posted: super::posted_state::Posted,
}

/// The live teams of this PE, by slot, and the state of the allocation agreement's own barrier.
#[derive(Debug)]
pub(crate) struct TeamTable {
    free: SlotMask,
    slots: Vec<Option<Arc<TeamInfo>>>,
    /// The largest team generation this PE has seen in an agreement (handles of later teams are larger).
    generation: u64,
    /// Barrier state of the collective allocation agreement (sync block `ALLOC_SYNC_SLOT`).
    pub(crate) alloc_barrier: Arc<BarrierState>,
}

impl TeamTable {
    /// TEAM_WORLD of `n` PEs and TEAM_NODE of `node_pes` (sorted world PEs of this node).
    pub(crate) fn new(n: u32, me: u32, node_pes: Vec<u32>) -> TeamTable {
        let mut slots: Vec<Option<Arc<TeamInfo>>> = (0..MAX_TEAMS).map(|_| None).collect();
        let node = Members::new(node_pes);
        let node_index = node.index_of(me).expect("this PE is on its node");
        slots[TEAM_WORLD as usize] = Some(Arc::new(TeamInfo {
            handle: TEAM_WORLD,
            members: Members::world(n),
            my_index: me,
            config: TeamConfig::default(),
            barrier: BarrierState::default(),
            reserved: Default::default(),
            posted: Default::default(),
        }));
        slots[TEAM_NODE as usize] = Some(Arc::new(TeamInfo {
            handle: TEAM_NODE,
            members: node,
            my_index: node_index,
            config: TeamConfig::default(),
            barrier: BarrierState::default(),
            reserved: Default::default(),
            posted: Default::default(),
        }));
        TeamTable { free: SlotMask::initial(), slots, generation: 0, alloc_barrier: Arc::default() }
    }

    /// TEAM_WORLD's entry and the allocation agreement's barrier state (for the barriers that must notice
    /// each other, see `alloc.rs`).
    pub(crate) fn sync_states(&self) -> (Arc<TeamInfo>, Arc<BarrierState>) {
        let world = self.slots[TEAM_WORLD as usize].clone().expect("TEAM_WORLD is always live");
        (world, self.alloc_barrier.clone())
    }

    fn get(&self, team: i32) -> Option<Arc<TeamInfo>> {
        let slot = handle_slot(team)?;
        self.slots[slot as usize].as_ref().filter(|t| t.handle == team).cloned()
    }
}

/// What a PE publishes for a split, beside its free slots and generation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SplitArgs {
    /// A strided split: this PE's triplet (`None` when it is out of range for the parent).
    Strided(Option<Triplet>),
    /// A split that every member makes with the same arguments, summarized by a digest.
    Same(u64),
}

/// Words of the team-creation line: free slots, digest, generation, start, stride, size, triplet state.
const AGREE_FREE: u64 = 0;
const AGREE_DIGEST: u64 = 1;
const AGREE_GEN: u64 = 2;
const AGREE_TRIPLET: u64 = 3;
const AGREE_TRIPLET_STATE: u64 = 6;
/// 0, or the code (negated) of this PE's failure to take the new team's configuration: a negative
/// `num_contexts`, or contexts it could not reserve. Any non-zero word fails the split on every PE.
const AGREE_CONFIG: u64 = 7;
const TRIPLET_VALID: u64 = 1;
const TRIPLET_INVALID: u64 = 2;
const STRIDED_DIGEST: u64 = 0x5354_5249_4445_4431;

impl TeamInfo {
    /// The handle the members agreed on (slot and generation).
    pub(crate) fn handle(&self) -> i32 {
        self.handle
    }
}

/// A stamp no runtime of this process has used: [`Runtime::teams_version`] values are unique, so a stamp cached
/// by a thread can only match the runtime and table contents it was taken from.
pub(crate) fn next_teams_version() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

thread_local! {
    /// The team this thread looked up last through [`Runtime::with_team`]: (teams version, handle, team).
    static LAST_TEAM: std::cell::RefCell<Option<(u64, i32, Arc<TeamInfo>)>> = const { std::cell::RefCell::new(None) };
}

impl Runtime {
    /// Runs `f` on live team `team`, like [`Runtime::team`] but without the table's lock or a reference count
    /// change when this thread's last lookup was the same team and no team was made or destroyed since (the hot
    /// path of back-to-back collectives: a posted broadcast costs well under a microsecond, and the lock and the
    /// `Arc` were four of its atomic read-modify-writes).
    pub(crate) fn with_team<R>(&self, team: i32, f: impl FnOnce(&TeamInfo) -> R) -> Result<R> {
        self.check_live()?;
        if team == TEAM_WORLD {
            // The runtime holds TEAM_WORLD's entry for its whole life: no thread-local (a `__tls_get_addr` call
            // inside a Python extension) and no reference count.
            if let Some(world) = self.world_team.get() {
                return Ok(f(world));
            }
        }
        // Acquire: pairs with the Release store of a new version after the table changed.
        let version = self.teams_version.load(Ordering::Acquire);
        LAST_TEAM.with(|cell| {
            let Ok(mut last) = cell.try_borrow_mut() else {
                // A nested call (`f` looking a team up): the plain lookup.
                let t = self.team(team)?;
                return Ok(f(&t));
            };
            match &*last {
                Some((v, h, _)) if *v == version && *h == team => {}
                _ => *last = Some((version, team, self.team(team)?)),
            }
            Ok(f(&last.as_ref().expect("filled above").2))
        })
    }

    pub(crate) fn team(&self, team: i32) -> Result<Arc<TeamInfo>> {
        self.check_live()?;
        if team == TEAM_WORLD {
            // The lock and the lookup were a measurable part of a 2-PE barrier_all (two per world collective).
            let world = self.world_team.get_or_init(|| {
                self.teams.lock().unwrap_or_else(|e| e.into_inner()).get(TEAM_WORLD).expect("TEAM_WORLD is always live")
            });
            return Ok(world.clone());
        }
        self.teams.lock().unwrap_or_else(|e| e.into_inner()).get(team).ok_or_else(|| {
            Error::invalid(format!(
                "team {team} does not exist on PE {} (never created, destroyed, or this PE is not a member; a \
                 destroyed team's handle stays invalid even after a new team reuses its slot)",
                self.me.0
            ))
        })
    }

    /// A barrier over `team` without quiet, bounded by control_operation_timeout. On TEAM_WORLD it also
    /// notices a peer that is in a collective allocation instead (see `alloc.rs`).
    pub(crate) fn team_sync(&self, team: i32) -> Result<()> {
        self.team_sync_carrying(team, None).map(|_| ())
    }

    /// [`Runtime::team_sync`] that hands `carry` to the other member of a two-member team on one node and returns
    /// the words that member carried (see `shmem_sync::barrier_carrying`); `None` when the team has another
    /// shape or `carry` is `None`.
    pub(crate) fn team_sync_carrying(
        &self,
        team: i32,
        carry: Option<[u64; shmem_sync::CARRY_WORDS]>,
    ) -> Result<Option<[u64; shmem_sync::CARRY_WORDS]>> {
        let t = self.team(team)?;
        self.team_sync_with(team, &t, carry)
    }

    /// [`Runtime::team_sync_carrying`] on `t`, the entry of live team `team` that the caller already holds (a
    /// collective's group: no second lookup per call).
    pub(crate) fn team_sync_with(
        &self,
        team: i32,
        t: &TeamInfo,
        carry: Option<[u64; shmem_sync::CARRY_WORDS]>,
    ) -> Result<Option<[u64; shmem_sync::CARRY_WORDS]>> {
        // The barrier's waits call the "about to block" hook themselves; its atomics block only on an engine
        // that is not the CPU's.
        self.router.before_engine_block();
        let slot = handle_slot(team).expect("a live handle");
        let view = TeamView { members: t.members.as_slice(), my_index: t.my_index, slot, node_of: &self.node_of };
        let ctx = self.wait_ctx(true);
        let mut no_probe = || Ok(());
        let mut world_probe;
        let probe: &mut dyn FnMut() -> Result<()> = if team == TEAM_WORLD {
            world_probe = self.alloc_mismatch_probe(None);
            &mut world_probe
        } else {
            &mut no_probe
        };
        match carry {
            Some(words) => shmem_sync::barrier_carrying(&self.router, &ctx, &view, &t.barrier, probe, words),
            None => shmem_sync::barrier_probed(&self.router, &ctx, &view, &t.barrier, probe).map(|()| None),
        }
    }

    /// A barrier on `team` whose completing member, on a one-node team of three or more, runs `complete` before
    /// the release and hands its words to every member (`shmem_sync::barrier_completing`); `None` when the
    /// barrier has another shape (then `complete` did not run).
    pub(crate) fn team_sync_completing(
        &self,
        team: i32,
        t: &TeamInfo,
        complete: shmem_sync::barrier::Complete<'_>,
    ) -> Result<Option<[u64; shmem_sync::RELEASE_CARRY_WORDS]>> {
        self.router.before_engine_block();
        let slot = handle_slot(team).expect("a live handle");
        let view = TeamView { members: t.members.as_slice(), my_index: t.my_index, slot, node_of: &self.node_of };
        let ctx = self.wait_ctx(true);
        if team == TEAM_WORLD {
            let mut probe = self.alloc_mismatch_probe(None);
            shmem_sync::barrier_completing(&self.router, &ctx, &view, &t.barrier, &mut probe, complete)
        } else {
            shmem_sync::barrier_completing(&self.router, &ctx, &view, &t.barrier, &mut || Ok(()), complete)
        }
    }

    /// The collective part of every split: agree on a slot and a generation over `parent`, check the
    /// members' arguments, install this PE's new team (if any). `mine` is this PE's team for a `Same` split
    /// (for a strided one it follows from every member's triplet).
    pub(crate) fn make_teams(
        &self,
        parent: i32,
        args: SplitArgs,
        mine: Option<Members>,
        config: TeamConfig,
        my_error: Option<Error>,
    ) -> Result<i32> {
        let p = self.team(parent)?;
        let layout = self.layout;
        let (free, generation) = {
            let t = self.teams.lock().unwrap_or_else(|e| e.into_inner());
            (t.free, t.generation)
        };
        let word = |w: u64| self.node.word64(self.me, layout.team_agree(w));
        // Reserve the configuration's contexts before the agreement, so that a PE that cannot fails the split
        // on every PE (released again below unless the team is made here).
        let mut reserved = match usize::try_from(config.num_contexts) {
            Err(_) => Err(Error::invalid(format!(
                "TeamConfig.num_contexts {} is negative; pass 0 (no reserved contexts) or more",
                config.num_contexts
            ))),
            Ok(k) => super::domains::reserve_domains(self, k),
        };
        let config_code = reserved.as_ref().err().map_or(0, |e| u64::from(e.code().unsigned_abs()));
        word(AGREE_CONFIG).store(config_code, Ordering::Relaxed);
        word(AGREE_FREE).store(free.0, Ordering::Relaxed);
        word(AGREE_GEN).store(generation, Ordering::Relaxed);
        match args {
            SplitArgs::Same(d) => {
                word(AGREE_DIGEST).store(d, Ordering::Relaxed);
            }
            SplitArgs::Strided(t) => {
                word(AGREE_DIGEST).store(STRIDED_DIGEST, Ordering::Relaxed);
                let (a, b, c) = t.unwrap_or_default();
                for (i, v) in [a, b, c].into_iter().enumerate() {
                    word(AGREE_TRIPLET + i as u64).store(v as u64, Ordering::Relaxed);
                }
                let state = if t.is_some() { TRIPLET_VALID } else { TRIPLET_INVALID };
                word(AGREE_TRIPLET_STATE).store(state, Ordering::Relaxed);
            }
        }
        let my_digest = match args {
            SplitArgs::Same(d) => d,
            SplitArgs::Strided(_) => STRIDED_DIGEST,
        };
        self.quiet()?;
        self.team_sync(parent)?;
        let mut common = SlotMask(u64::MAX);
        let mut max_gen = generation;
        let mut differ = Vec::new();
        let mut triplets = Vec::new();
        let mut bad_triplets = Vec::new();
        let mut bad_configs: Vec<(u32, u64)> = Vec::new();
        for &pe in p.members.as_slice() {
            let pe = Pe(pe);
            let e = self.router.for_atomic(pe);
            let read = |w: u64| e.atomic(pe, layout.team_agree(w), AtomicWidth::W64, AtomicOp::Fetch);
            common = common.and(SlotMask(read(AGREE_FREE)?));
            max_gen = max_gen.max(read(AGREE_GEN)?);
            let config_code = read(AGREE_CONFIG)?;
            if config_code != 0 {
                bad_configs.push((pe.0, config_code));
            }
            if read(AGREE_DIGEST)? != my_digest {
                differ.push(pe.0);
            } else if let SplitArgs::Strided(_) = args {
                let t = (read(AGREE_TRIPLET)? as i64, read(AGREE_TRIPLET + 1)? as i64, read(AGREE_TRIPLET + 2)? as i64);
                if read(AGREE_TRIPLET_STATE)? != TRIPLET_VALID {
                    bad_triplets.push(pe.0);
                }
                triplets.push(t);
            }
        }
        // Every member read the same words, so all reach the same verdict; the closing barrier keeps anyone from
        // rewriting its words (in a later split) before everyone has read them.
        let new_gen = max_gen + 1;
        let verdict = if !differ.is_empty() {
            Err(Error::InvalidValue(format!(
                "team split over team {parent}: PEs {differ:?} made another kind of split call than PE {} \
                 (passed other arguments); every member of the parent must make the same split call",
                self.me.0
            )))
        } else if let Some(e) = my_error {
            Err(e)
        } else if let Some(&(_, code)) = bad_configs.first() {
            let pes: Vec<u32> = bad_configs.iter().map(|&(pe, _)| pe).collect();
            let why = format!(
                "team split over team {parent}: PEs {pes:?} could not take the team configuration (num_contexts \
                 = {}: negative, or that many contexts could not be reserved), so the split fails on every PE",
                config.num_contexts
            );
            Err(match (&mut reserved, code as i32) {
                (Err(e), _) => std::mem::replace(e, Error::invalid("")),
                (Ok(_), 1) => Error::InvalidParam(why),
                (Ok(_), _) => Error::InvalidValue(why),
            })
        } else if !bad_triplets.is_empty() {
            Err(Error::invalid(format!(
                "team_split_strided over team {parent}: PEs {bad_triplets:?} passed triplets outside the parent \
                 team of {} PEs, so the split fails on every PE",
                p.members.len()
            )))
        } else {
            let mine = match args {
                SplitArgs::Same(_) => Ok(mine),
                SplitArgs::Strided(_) => shmem_team::agree_strided(&p.members, &triplets, self.me.0),
            };
            mine.and_then(|mine| common.lowest().map(|slot| (slot, mine))).map(|(slot, mine)| {
                let mut t = self.teams.lock().unwrap_or_else(|e| e.into_inner());
                t.generation = new_gen;
                if let Some(members) = mine {
                    for w in 0..TEAM_SYNC_WORDS {
                        self.node.word64(self.me, layout.team_word(slot, w)).store(0, Ordering::Relaxed);
                    }
                    let my_index = members.index_of(self.me.0).expect("a PE's own team contains it");
                    let handle = team_handle(slot, new_gen);
                    t.free.take(slot);
                    let reserved = std::mem::replace(&mut reserved, Ok(Vec::new())).unwrap_or_default();
                    self.teams_version.store(next_teams_version(), Ordering::Release);
                    t.slots[slot as usize] = Some(Arc::new(TeamInfo {
                        handle,
                        members,
                        my_index,
                        config,
                        barrier: BarrierState::default(),
                        reserved: std::sync::Mutex::new(Some(reserved)),
                        posted: Default::default(),
                    }));
                    handle
                } else {
                    TEAM_INVALID
                }
            })
        };
        if let Ok(left) = reserved {
            // Not made here (an error, or this PE is outside its team): the reservation goes back.
            super::domains::release_domains(self, left);
        }
        self.quiet()?;
        self.team_sync(parent)?;
        verdict
    }

    pub(crate) fn destroy_team(&self, team: i32) -> Result<()> {
        if team == TEAM_WORLD || team == TEAM_NODE {
            return Err(Error::invalid(format!(
                "team {team} is predefined (TEAM_WORLD or TEAM_NODE) and cannot be destroyed"
            )));
        }
        let t = self.team(team)?;
        self.quiet()?;
        self.team_sync(team)?;
        let slot = handle_slot(team).expect("a live handle");
        // Before the slot is free here (a new team would zero this PE's words of it): the members reading this
        // PE's words in that barrier (its node's, when this PE leads it) have left.
        let view = TeamView { members: t.members.as_slice(), my_index: t.my_index, slot, node_of: &self.node_of };
        shmem_sync::depart(&self.router, &self.wait_ctx(true), &view, &t.barrier)?;
        let info = {
            let mut t = self.teams.lock().unwrap_or_else(|e| e.into_inner());
            self.teams_version.store(next_teams_version(), Ordering::Release);
            let info = t.slots[slot as usize].take();
            t.free.release(slot);
            info
        };
        // The reserved contexts no live context holds are closed now, the others when they are destroyed. Outside
        // the teams lock: closing a copy engine's domain joins its worker threads, and every collective looks its
        // team up under that lock (a Python caller holding the GIL there would stall its other threads).
        if let Some(info) = info {
            let free = info.reserved.lock().unwrap_or_else(|e| e.into_inner()).take();
            super::domains::release_domains(self, free.unwrap_or_default());
        }
        Ok(())
    }
}

pub(crate) fn digest(words: &[i64]) -> u64 {
    // FNV-1a over the arguments: equal calls give equal digests on every PE.
    words
        .iter()
        .flat_map(|w| w.to_le_bytes())
        .fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}
