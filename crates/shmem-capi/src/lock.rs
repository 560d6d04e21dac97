//! Distributed locks: `shmem_set_lock`, `shmem_test_lock`, `shmem_clear_lock` on a symmetric `long`,
//! forwarded to the facade's locks (`shmem::api::set_lock` ...), which check the address and that this PE
//! holds the lock it clears.

use crate::fatal::OrFatal;
use core::ffi::c_int;

/// `shmem_set_lock`: waits until this PE holds the lock at `lock`.
#[no_mangle]
pub unsafe extern "C" fn shmem_set_lock(lock: *mut i64) {
    shmem::api::set_lock(lock as usize).or_fatal("shmem_set_lock")
}

/// `shmem_test_lock`: takes the lock if it is free: 0 when this PE now holds it, 1 when another PE does.
#[no_mangle]
pub unsafe extern "C" fn shmem_test_lock(lock: *mut i64) -> c_int {
    shmem::api::test_lock(lock as usize).or_fatal("shmem_test_lock")
}

/// `shmem_clear_lock`: completes this PE's operations and releases the lock to the next PE waiting for it.
#[no_mangle]
pub unsafe extern "C" fn shmem_clear_lock(lock: *mut i64) {
    shmem::api::clear_lock(lock as usize).or_fatal("shmem_clear_lock")
}
