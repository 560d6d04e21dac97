//! Teams (OpenSHMEM 1.5 §9.4): `shmem_team_my_pe`, `_n_pes`, `_get_config`, `_translate_pe`, `_split_strided`,
//! `_split_2d`, `_destroy`, `_sync`, over `shmem::team`.
//!
//! Queries answer -1 for a team this PE is not in (the spec's answer, no error); the splits and `sync` return 0
//! or the `api.md` code of the failure (recorded for `shmemx_last_error`), and leave the new team handles at
//! `SHMEM_TEAM_INVALID` on failure, as the spec asks. `shmem_team_destroy` cannot return an error, so a bad
//! handle ends the job with the error on stderr.

use crate::fatal::{record, OrFatal};
use crate::handles::{shmem_team_t, team_handle, team_id};
use core::ffi::{c_int, c_long};
use shmem::team::TEAM_INVALID;
use shmem::TeamConfig;
use shmem_core::Error;

/// `shmem_team_config_t` of `shmem.h`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct shmem_team_config_t {
    /// Contexts the team's creator means to make from it (kept, and enforced by `shmem_team_create_ctx`).
    pub num_contexts: c_int,
}

/// `SHMEM_TEAM_NUM_CONTEXTS`: the config mask bit of `num_contexts`.
pub const TEAM_NUM_CONTEXTS: c_long = 1;

/// The facade's configuration from a C config and mask (null config or a clear mask bit: the default).
///
/// # Safety
/// `config` is null or points to a readable `shmem_team_config_t`.
unsafe fn config_of(config: *const shmem_team_config_t, mask: c_long) -> Result<TeamConfig, Error> {
    if mask & !TEAM_NUM_CONTEXTS != 0 {
        return Err(Error::invalid(format!("team config mask {mask:#x} has bits other than SHMEM_TEAM_NUM_CONTEXTS")));
    }
    if mask & TEAM_NUM_CONTEXTS == 0 {
        return Ok(TeamConfig::default());
    }
    if config.is_null() {
        return Err(Error::invalid("config_mask names SHMEM_TEAM_NUM_CONTEXTS but config is NULL"));
    }
    // SAFETY: non-null, and the caller's contract says it is readable.
    let num_contexts = unsafe { (*config).num_contexts };
    if num_contexts < 0 {
        return Err(Error::invalid(format!("num_contexts {num_contexts} is negative")));
    }
    Ok(TeamConfig { num_contexts })
}

/// Writes `handle` into `*out` when `out` is not null.
///
/// # Safety
/// `out` is null or writable.
unsafe fn set(out: *mut shmem_team_t, handle: shmem_team_t) {
    if !out.is_null() {
        // SAFETY: non-null and writable per the caller's contract.
        unsafe { *out = handle };
    }
}

/// `shmem_team_my_pe`: this PE's number in `team`, -1 when it is not a member.
#[no_mangle]
pub extern "C" fn shmem_team_my_pe(team: shmem_team_t) -> c_int {
    shmem::team::my_pe(team_id(team))
}

/// `shmem_team_n_pes`: the number of PEs in `team`, -1 for an invalid team.
#[no_mangle]
pub extern "C" fn shmem_team_n_pes(team: shmem_team_t) -> c_int {
    shmem::team::n_pes(team_id(team))
}

/// `shmem_team_get_config`: the fields of `team`'s configuration that `config_mask` names.
#[no_mangle]
pub unsafe extern "C" fn shmem_team_get_config(
    team: shmem_team_t,
    config_mask: c_long,
    config: *mut shmem_team_config_t,
) -> c_int {
    if config_mask & !TEAM_NUM_CONTEXTS != 0 {
        return record(&Error::invalid(format!(
            "team config mask {config_mask:#x} has bits other than SHMEM_TEAM_NUM_CONTEXTS"
        )));
    }
    if config.is_null() && config_mask != 0 {
        return record(&Error::invalid("shmem_team_get_config: config is NULL but config_mask is not 0"));
    }
    match shmem::team::get_config(team_id(team)) {
        Ok(c) => {
            // A zero mask asks for nothing (config may then be NULL): only the team's validity is answered.
            if config_mask & TEAM_NUM_CONTEXTS != 0 {
                // SAFETY: non-null, and the caller passes a writable config.
                unsafe { (*config).num_contexts = c.num_contexts };
            }
            0
        }
        Err(e) => record(&e),
    }
}

/// `shmem_team_translate_pe`: the number in `dest_team` of `src_team`'s PE `src_pe`, or -1.
#[no_mangle]
pub extern "C" fn shmem_team_translate_pe(src_team: shmem_team_t, src_pe: c_int, dest_team: shmem_team_t) -> c_int {
    shmem::team::translate_pe(team_id(src_team), src_pe, team_id(dest_team))
}

/// `shmem_team_split_strided`: collectively makes the team of `parent_team`'s PEs `start + k*stride`
/// (`k < size`); PEs outside it get `SHMEM_TEAM_INVALID` and 0. A local error (a bad config, a null
/// `new_team`) fails the split on every member, this PE with its own error.
#[no_mangle]
pub unsafe extern "C" fn shmem_team_split_strided(
    parent_team: shmem_team_t,
    start: c_int,
    stride: c_int,
    size: c_int,
    config: *const shmem_team_config_t,
    config_mask: c_long,
    new_team: *mut shmem_team_t,
) -> c_int {
    // SAFETY: the caller's new_team is null or writable.
    unsafe { set(new_team, team_handle(TEAM_INVALID)) };
    // SAFETY: the caller's config is null or readable.
    let cfg = unsafe { config_of(config, config_mask) }.and_then(|cfg| match new_team.is_null() {
        // A local error like a bad config: this PE still takes part (below), or the others would wait for it.
        true => Err(Error::invalid("shmem_team_split_strided: new_team is NULL")),
        false => Ok(cfg),
    });
    let parent = team_id(parent_team);
    let made = match cfg {
        Ok(cfg) => shmem::team::split_strided_with(parent, start, stride, size, cfg),
        // Still collective over the parent, so that the other members fail instead of waiting: an
        // impossible size makes the facade refuse the split on every member; this PE reports its own error.
        Err(e) => {
            let _refused_everywhere = shmem::team::split_strided(parent, start, stride, 0);
            Err(e)
        }
    };
    match made {
        Ok(t) => {
            // SAFETY: checked non-null above.
            unsafe { set(new_team, team_handle(t)) };
            0
        }
        Err(e) => record(&e),
    }
}

/// `shmem_team_split_2d`: collectively splits `parent_team` into a grid with rows of `xrange` PEs; this PE
/// gets its row (`xaxis_team`) and its column (`yaxis_team`).
///
/// Each axis team gets its configuration (`num_contexts` when its mask bit is set).
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn shmem_team_split_2d(
    parent_team: shmem_team_t,
    xrange: c_int,
    xaxis_config: *const shmem_team_config_t,
    xaxis_mask: c_long,
    xaxis_team: *mut shmem_team_t,
    yaxis_config: *const shmem_team_config_t,
    yaxis_mask: c_long,
    yaxis_team: *mut shmem_team_t,
) -> c_int {
    // SAFETY: the caller's handles are null or writable.
    unsafe {
        set(xaxis_team, team_handle(TEAM_INVALID));
        set(yaxis_team, team_handle(TEAM_INVALID));
    }
    // SAFETY: the caller's configs are null or readable.
    let local =
        unsafe { config_of(xaxis_config, xaxis_mask).and_then(|x| Ok((x, config_of(yaxis_config, yaxis_mask)?))) }
            .and_then(|configs| match xaxis_team.is_null() || yaxis_team.is_null() {
                true => Err(Error::invalid("shmem_team_split_2d: xaxis_team or yaxis_team is NULL")),
                false => Ok(configs),
            });
    let parent = team_id(parent_team);
    let made = match local {
        Ok((x_config, y_config)) => shmem::team::split_2d_with(parent, xrange, x_config, y_config),
        // Collective anyway (a zero range fails on every member), then this PE's own error.
        Err(e) => {
            let _refused_everywhere = shmem::team::split_2d(parent, 0);
            Err(e)
        }
    };
    match made {
        Ok((x, y)) => {
            // SAFETY: both checked non-null above.
            unsafe {
                set(xaxis_team, team_handle(x));
                set(yaxis_team, team_handle(y));
            }
            0
        }
        Err(e) => record(&e),
    }
}

/// `shmem_team_destroy`: collectively destroys `team` (`SHMEM_TEAM_INVALID`: nothing to do).
#[no_mangle]
pub extern "C" fn shmem_team_destroy(team: shmem_team_t) {
    if team.is_null() {
        return;
    }
    shmem::team::destroy(team_id(team)).or_fatal("shmem_team_destroy")
}

/// `shmem_team_sync`: a barrier over `team` that does not complete outstanding operations.
#[no_mangle]
pub extern "C" fn shmem_team_sync(team: shmem_team_t) -> c_int {
    match shmem::team::sync(team_id(team)) {
        Ok(()) => 0,
        Err(e) => record(&e),
    }
}
