//! Communication contexts (OpenSHMEM 1.5 §9.5): `shmem_ctx_create`, `shmem_team_create_ctx`,
//! `shmem_ctx_destroy`, `shmem_ctx_get_team`, over `shmem::api`'s integer context handles.
//!
//! The context forms of RMA, AMOs, fence and quiet are with their families ([`crate::rma`],
//! [`crate::ordering`]). A failed creation leaves `*ctx` at `SHMEM_CTX_INVALID` and returns the `api.md` code
//! (recorded for `shmemx_last_error`); the options are the facade's bits (`SHMEM_CTX_SERIALIZED` 1,
//! `SHMEM_CTX_PRIVATE` 2, `SHMEM_CTX_NOSTORE` 4).

use crate::fatal::{record, OrFatal};
use crate::handles::{ctx_handle, ctx_id, shmem_ctx_t, shmem_team_t, team_handle, team_id};
use core::ffi::{c_int, c_long};
use shmem::api::CTX_INVALID;
use shmem_core::{Error, Result};

/// Stores the outcome of a creation in `*ctx` and returns the C status.
///
/// # Safety
/// `ctx` is null (then INVALID_PARAM) or writable.
unsafe fn created(func: &str, made: Result<i64>, ctx: *mut shmem_ctx_t) -> c_int {
    if ctx.is_null() {
        if let Ok(h) = made {
            // Nowhere to hand the context: do not leak it.
            let _ = shmem::api::ctx_destroy(h);
        }
        return record(&Error::invalid(format!("{func}: ctx is NULL")));
    }
    let (handle, status) = match made {
        Ok(h) => (h, 0),
        Err(e) => (CTX_INVALID, record(&e)),
    };
    // SAFETY: non-null, and the caller passes a writable shmem_ctx_t.
    unsafe { *ctx = ctx_handle(handle) };
    status
}

/// `shmem_ctx_create`: a new context of `SHMEM_TEAM_WORLD` with `options`.
#[no_mangle]
pub unsafe extern "C" fn shmem_ctx_create(options: c_long, ctx: *mut shmem_ctx_t) -> c_int {
    // SAFETY: forwarded contract on `ctx`.
    unsafe { created("shmem_ctx_create", shmem::api::ctx_create(options), ctx) }
}

/// `shmem_team_create_ctx`: a new context whose PE numbers are relative to `team`.
#[no_mangle]
pub unsafe extern "C" fn shmem_team_create_ctx(team: shmem_team_t, options: c_long, ctx: *mut shmem_ctx_t) -> c_int {
    // SAFETY: forwarded contract on `ctx`.
    unsafe { created("shmem_team_create_ctx", shmem::api::team_create_ctx(team_id(team), options), ctx) }
}

/// `shmem_ctx_destroy`: completes the context's operations and frees it (`SHMEM_CTX_INVALID`: nothing to do).
#[no_mangle]
pub extern "C" fn shmem_ctx_destroy(ctx: shmem_ctx_t) {
    if ctx.is_null() {
        return;
    }
    shmem::api::ctx_destroy(ctx_id(ctx)).or_fatal("shmem_ctx_destroy")
}

/// `shmem_ctx_get_team`: the team `ctx` was made from (`SHMEM_TEAM_INVALID` and non-zero for an invalid one).
#[no_mangle]
pub unsafe extern "C" fn shmem_ctx_get_team(ctx: shmem_ctx_t, team: *mut shmem_team_t) -> c_int {
    if team.is_null() {
        return record(&Error::invalid("shmem_ctx_get_team: team is NULL"));
    }
    let (t, status) = match shmem::api::ctx_get_team(ctx_id(ctx)) {
        Ok(t) => (t, 0),
        Err(e) => (shmem::team::TEAM_INVALID, record(&e)),
    };
    // SAFETY: non-null, and the caller passes a writable shmem_team_t.
    unsafe { *team = team_handle(t) };
    status
}
