//! Ordering and completion: `shmem_fence`, `shmem_quiet` (and their ctx forms), `shmem_barrier_all`,
//! `shmem_sync_all`.

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
