//! Teams: TEAM_WORLD, TEAM_NODE (the PEs of this node), and teams split from them.
//!
//! A team handle names a slot of the reserved sync area and the team's generation (see `shmem_team`'s
//! `team_handle`); every member of a team has the same handle because both are agreed collectively when the
//! team is made: each member of the parent publishes its free slots, its latest team generation, a digest of
//! the kind of split and its split arguments in its sync area, the parent runs a barrier, and everyone reads
//! every member's words: the slot is the lowest free on every parent member, the generation one more than
//! the largest published. New members zero that slot's sync words, and a second barrier over the parent makes
//! sure nobody uses the team before that. Disjoint teams made by one split (the rows of a 2-D split, or
//! strided splits where PEs pass different triplets) share a slot number: a PE is in only one of them.
//!
//! A handle kept after its team was destroyed stays invalid (INVALID_PARAM) even when the slot is reused:
//! the new team has a larger generation. A PE outside a team gets TEAM_INVALID from the split and -1 from the
//! queries, as `api.md` says.

use crate::current::with_current;
use crate::runtime::{digest, SplitArgs};
use shmem_core::{Error, Result, TeamConfig};
use shmem_team::Triplet;

pub use shmem_team::{TEAM_INVALID, TEAM_NODE, TEAM_WORLD};

/// Collectively splits `parent` into teams of its PEs `start + k*stride` (`k < size`). PEs that name the same
/// team pass the same triplet; others may name another team disjoint from it (each PE in a team of its own,
/// as upstream programs do). Returns the new team's id on its members, TEAM_INVALID on PEs whose triplet
/// names a team without them.
///
/// # Errors
/// INVALID_PARAM on every PE when a PE's triplet is outside the parent (or the parent handle is not a live
/// team here: then only on this PE); INVALID_VALUE on every PE when triplets describe overlapping but
/// different teams.
pub fn split_strided(parent: i32, start: i32, stride: i32, size: i32) -> Result<i32> {
    split_strided_with(parent, start, stride, size, TeamConfig::default())
}

/// [`split_strided`] with a team configuration (kept and returned by [`get_config`]).
pub fn split_strided_with(parent: i32, start: i32, stride: i32, size: i32, config: TeamConfig) -> Result<i32> {
    with_current(|rt| {
        let p = rt.team(parent)?;
        let t: Triplet = (start.into(), stride.into(), size.into());
        let checked = shmem_team::split_strided(&p.members, t.0, t.1, t.2);
        let (args, err) = match checked {
            Ok(_) => (SplitArgs::Strided(Some(t)), None),
            Err(e) => (SplitArgs::Strided(None), Some(e)),
        };
        rt.make_teams(parent, args, None, config, err)
    })
}

/// Collectively splits `parent` in a 2-D grid with rows of `x_range` PEs; returns this PE's (row, column)
/// teams: the x-team (its row) and the y-team (its column).
pub fn split_2d(parent: i32, x_range: i32) -> Result<(i32, i32)> {
    split_2d_with(parent, x_range, TeamConfig::default(), TeamConfig::default())
}

/// [`split_2d`] with a configuration for each axis team (`num_contexts` of the rows and of the columns).
pub fn split_2d_with(parent: i32, x_range: i32, x_config: TeamConfig, y_config: TeamConfig) -> Result<(i32, i32)> {
    with_current(|rt| {
        let p = rt.team(parent)?;
        let (xs, ys) = match shmem_team::split_2d(&p.members, x_range.into(), rt.me.0) {
            Ok((xs, ys)) => (Some(xs), Some(ys)),
            Err(e) => {
                // Still collective, so that PEs with a good x_range are not left waiting; it fails on this PE.
                let args = SplitArgs::Same(digest(&[2, x_range.into(), 0]));
                return rt
                    .make_teams(parent, args, None, TeamConfig::default(), Some(e))
                    .and_then(|_| Err(Error::Inner("a split with bad arguments made a team".into())));
            }
        };
        let x = rt.make_teams(parent, SplitArgs::Same(digest(&[2, x_range.into(), 0])), xs, x_config, None)?;
        match rt.make_teams(parent, SplitArgs::Same(digest(&[2, x_range.into(), 1])), ys, y_config, None) {
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
    with_current(|rt| unsafe { rt.putmem(dst, src, len, w, false) })
}

/// Get of `len` bytes from team PE `pe` of `team`.
///
/// # Safety
/// `dst..dst+len` must be writable for the duration of the call.
pub unsafe fn getmem(team: i32, dst: *mut u8, src: usize, len: usize, pe: i32) -> Result<()> {
    let w = world_pe(team, pe)?;
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.getmem(dst, src, len, w, false) })
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
    sig_op: impl shmem_core::engine::IntoSignalOp,
    pe: i32,
) -> Result<()> {
    let w = world_pe(team, pe)?;
    let op = sig_op.into_signal_op()?;
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.putmem_signal(dst, src, len, sig_addr, signal, op, w, false) })
}
