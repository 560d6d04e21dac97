//! Ordering and completion: `shmem_fence`, `shmem_quiet` (and their ctx forms), `shmem_barrier_all`,
//! `shmem_sync_all`.
//!
//! `shmem_ctx_fence`/`shmem_ctx_quiet` on `SHMEM_CTX_INVALID` do nothing: no operation can have been issued on
//! it, and the spec's own team-context example (a PE outside a team gets `SHMEM_CTX_INVALID` from
//! `shmem_team_create_ctx` and still calls `shmem_ctx_quiet` on it) relies on that. A destroyed or never
//! created context is still an error.

use crate::fatal::OrFatal;
use crate::handles::{ctx_id, shmem_ctx_t};

/// `shmem_fence`: this PE's puts to each PE arrive in order.
#[no_mangle]
pub extern "C" fn shmem_fence() {
    shmem::api::fence().or_fatal("shmem_fence")
}

/// `shmem_ctx_fence`.
#[no_mangle]
pub extern "C" fn shmem_ctx_fence(ctx: shmem_ctx_t) {
    if ctx.is_null() {
        return; // SHMEM_CTX_INVALID: nothing to order
    }
    shmem::api::ctx_fence(ctx_id(ctx)).or_fatal("shmem_ctx_fence")
}

/// `shmem_quiet`: every put, AMO and nbi call of this PE has completed.
#[no_mangle]
pub extern "C" fn shmem_quiet() {
    shmem::api::quiet().or_fatal("shmem_quiet")
}

/// `shmem_ctx_quiet`: the context's operations have completed.
#[no_mangle]
pub extern "C" fn shmem_ctx_quiet(ctx: shmem_ctx_t) {
    if ctx.is_null() {
        return; // SHMEM_CTX_INVALID: nothing to complete
    }
    shmem::api::ctx_quiet(ctx_id(ctx)).or_fatal("shmem_ctx_quiet")
}

/// `shmem_barrier_all`: quiet, then every PE waits for all.
#[no_mangle]
pub extern "C" fn shmem_barrier_all() {
    shmem::api::barrier_all().or_fatal("shmem_barrier_all")
}

/// `shmem_sync_all`: every PE waits for all (no completion of outstanding puts).
#[no_mangle]
pub extern "C" fn shmem_sync_all() {
    shmem::api::sync_all().or_fatal("shmem_sync_all")
}
