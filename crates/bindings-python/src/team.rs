//! Teams: split (strided, 2-D), queries, translation, configuration, destroy, team barriers and team-relative
//! put/get. Team queries return -1 where `api.md` says so; collective calls release the GIL.

use crate::blocking::detached;
use crate::buffer::{with_local, Access, Count, I32Arg, Sym};
use crate::error::{invalid, ResultExt};
use pyo3::prelude::*;
use shmem::team;

/// Collectively splits `parent` into the PEs `start + k*stride` (k < `size`). Each PE may pass its own triplet
/// when the teams they describe are disjoint (PEs of one team pass the same triplet). Returns the new team id
/// on its members, TEAM_INVALID (-1) on the other PEs of the parent; a destroyed team's id stays invalid.
/// `config` (a `TeamConfig`): `num_contexts` contexts are reserved for the team when it is made, so that
/// creating that many with `aclshmem_team_create_ctx` cannot fail for lack of resources (INVALID_VALUE beyond).
#[pyfunction]
#[pyo3(signature = (parent, start, stride, size, config = None))]
pub(crate) fn team_split_strided(
    py: Python<'_>,
    parent: I32Arg,
    start: I32Arg,
    stride: I32Arg,
    size: I32Arg,
    config: Option<&Bound<'_, PyAny>>,
) -> PyResult<i32> {
    let config = team_config(config)?;
    detached(py, move || team::split_strided_with(parent.0, start.0, stride.0, size.0, config))
}

/// Collectively splits `parent` into a 2-D grid with rows of `x_range` PEs; returns `(x_team, y_team)`: this
/// PE's row and column teams. `x_config` and `y_config` (`TeamConfig`) configure the row and column teams as
/// `team_split_strided`'s `config` does.
#[pyfunction]
#[pyo3(signature = (parent, x_range, x_config = None, y_config = None))]
pub(crate) fn team_split_2d(
    py: Python<'_>,
    parent: I32Arg,
    x_range: I32Arg,
    x_config: Option<&Bound<'_, PyAny>>,
    y_config: Option<&Bound<'_, PyAny>>,
) -> PyResult<(i32, i32)> {
    let (x, y) = (team_config(x_config)?, team_config(y_config)?);
    detached(py, move || team::split_2d_with(parent.0, x_range.0, x, y))
}

/// A `TeamConfig` (or any object with an integer `num_contexts`; `None`: the default) as the runtime's. A
/// negative count is passed on: the split fails on every PE with INVALID_PARAM, so that no PE is left waiting.
fn team_config(config: Option<&Bound<'_, PyAny>>) -> PyResult<shmem::TeamConfig> {
    let Some(c) = config.filter(|c| !c.is_none()) else { return Ok(shmem::TeamConfig::default()) };
    let k = c.getattr("num_contexts").map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err("config must be a shmem.TeamConfig (an object with num_contexts)")
    })?;
    let k: i64 = k.extract().map_err(|_| pyo3::exceptions::PyTypeError::new_err("num_contexts must be an int"))?;
    let num_contexts = i32::try_from(k).unwrap_or(if k < 0 { -1 } else { i32::MAX });
    Ok(shmem::TeamConfig { num_contexts })
}

/// This PE's number in `team_id`, or -1 when it is not a member (or the team does not exist).
#[pyfunction]
pub(crate) fn team_my_pe(team_id: I32Arg) -> i32 {
    team::my_pe(team_id.0)
}

/// Number of PEs in `team_id`, or -1 when the team does not exist here.
#[pyfunction]
pub(crate) fn team_n_pes(team_id: I32Arg) -> i32 {
    team::n_pes(team_id.0)
}

/// The number in `dest_team` of PE `src_pe` of `src_team`, or -1 when it is outside either team.
#[pyfunction]
pub(crate) fn team_translate_pe(src_team: I32Arg, src_pe: I32Arg, dest_team: I32Arg) -> i32 {
    team::translate_pe(src_team.0, src_pe.0, dest_team.0)
}

/// The `TeamConfig` the team was made with; raises ShmemError for an unknown team.
#[pyfunction]
pub(crate) fn aclshmem_team_get_config<'py>(py: Python<'py>, team: I32Arg) -> PyResult<Bound<'py, PyAny>> {
    let cfg = team::get_config(team.0).py()?;
    let obj = py.import("shmem._types")?.getattr("TeamConfig")?.call0()?;
    obj.setattr("num_contexts", cfg.num_contexts)?;
    Ok(obj)
}

/// Collectively destroys `team` (every member calls it). TEAM_WORLD and TEAM_NODE cannot be destroyed.
#[pyfunction]
pub(crate) fn team_destroy(py: Python<'_>, team: I32Arg) -> PyResult<()> {
    detached(py, move || team::destroy(team.0))
}

/// A barrier over `team` without completing outstanding operations.
#[pyfunction]
pub(crate) fn aclshmem_team_sync(py: Python<'_>, team: I32Arg) -> PyResult<()> {
    // The GIL is kept unless the barrier waits (see `blocking`).
    crate::blocking::detached_when_blocking(py, move || team::sync(team.0))
}

/// quiet, then a barrier over `team`.
#[pyfunction]
pub(crate) fn aclshmem_team_barrier(py: Python<'_>, team: I32Arg) -> PyResult<()> {
    crate::blocking::detached_when_blocking(py, move || team::barrier(team.0))
}

/// Blocking put of `elem_size` bytes to PE `pe` of `team` (a team-relative number).
#[pyfunction]
pub(crate) fn aclshmemx_team_putmem(
    team: I32Arg,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    pe: I32Arg,
) -> PyResult<()> {
    dst.need(elem_size.0, "dst")?;
    with_local(src, Access::Read, "src", |span| {
        span.need(elem_size.0, "src")?;
        // SAFETY: span is readable for elem_size bytes while the closure runs (with_local's contract).
        unsafe { team::putmem(team.0, dst.addr, span.ptr as *const u8, elem_size.0, pe.0) }.py()
    })
}

/// Blocking get of `elem_size` bytes from PE `pe` of `team` into local `dst`.
#[pyfunction]
pub(crate) fn aclshmemx_team_getmem(
    team: I32Arg,
    dst: &Bound<'_, PyAny>,
    src: Sym,
    elem_size: Count,
    pe: I32Arg,
) -> PyResult<()> {
    src.need(elem_size.0, "src")?;
    with_local(dst, Access::Write, "dst", |span| {
        span.need(elem_size.0, "dst")?;
        // SAFETY: span is writable for elem_size bytes while the closure runs (read-only exports refused).
        unsafe { team::getmem(team.0, span.ptr as *mut u8, src.addr, elem_size.0, pe.0) }.py()
    })
}

/// The world PE number of PE `pe` of `team`.
#[pyfunction]
pub(crate) fn aclshmemx_team_world_pe(team: I32Arg, pe: I32Arg) -> PyResult<i64> {
    team::world_pe(team.0, pe.0).map_err(|e| invalid(e.to_string()))
}

/// Registers this module's functions and constants.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("TEAM_WORLD", team::TEAM_WORLD)?;
    m.add("TEAM_INVALID", team::TEAM_INVALID)?;
    m.add("TEAM_NODE", team::TEAM_NODE)?;
    m.add_function(wrap_pyfunction!(team_split_strided, m)?)?;
    m.add_function(wrap_pyfunction!(team_split_2d, m)?)?;
    m.add_function(wrap_pyfunction!(team_my_pe, m)?)?;
    m.add_function(wrap_pyfunction!(team_n_pes, m)?)?;
    m.add_function(wrap_pyfunction!(team_translate_pe, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_team_get_config, m)?)?;
    m.add_function(wrap_pyfunction!(team_destroy, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_team_sync, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_team_barrier, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_team_putmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_team_getmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_team_world_pe, m)?)?;
    Ok(())
}
