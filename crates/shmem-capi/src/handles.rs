//! `shmem_ctx_t` and `shmem_team_t`: the facade's integer handles as the opaque pointers of `shmem.h`.
//!
//! A handle pointer is the facade's number plus one, so that the facade's INVALID (-1) is the null pointer
//! (`SHMEM_CTX_INVALID`, `SHMEM_TEAM_INVALID`), `SHMEM_CTX_DEFAULT` is 1 and `SHMEM_TEAM_WORLD` is 1,
//! `SHMEM_TEAM_SHARED` 2 (the facade's TEAM_NODE).

use core::ffi::c_void;

/// `shmem_ctx_t`.
pub type shmem_ctx_t = *mut c_void;
/// `shmem_team_t`.
pub type shmem_team_t = *mut c_void;

/// The facade's context number of `ctx`.
#[inline]
pub fn ctx_id(ctx: shmem_ctx_t) -> i64 {
    (ctx as usize as i64).wrapping_sub(1)
}

/// The `shmem_ctx_t` of the facade's context number `id`.
#[inline]
pub fn ctx_handle(id: i64) -> shmem_ctx_t {
    id.wrapping_add(1) as usize as shmem_ctx_t
}

/// The facade's team number of `team` (out-of-range pointers become an invalid number the facade rejects).
#[inline]
pub fn team_id(team: shmem_team_t) -> i32 {
    i32::try_from((team as usize as i64).wrapping_sub(1)).unwrap_or(shmem::team::TEAM_INVALID)
}

/// The `shmem_team_t` of the facade's team number `id`.
#[inline]
pub fn team_handle(id: i32) -> shmem_team_t {
    (i64::from(id) + 1) as usize as shmem_team_t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_handles_are_null_and_defaults_match_the_header() {
        assert!(ctx_handle(shmem::api::CTX_INVALID).is_null());
        assert_eq!(ctx_handle(shmem::api::CTX_DEFAULT) as usize, 1);
        assert!(team_handle(shmem::team::TEAM_INVALID).is_null());
        assert_eq!(team_handle(shmem::team::TEAM_WORLD) as usize, 1);
        assert_eq!(team_handle(shmem::team::TEAM_NODE) as usize, 2);
        assert_eq!(ctx_id(ctx_handle(7)), 7);
        assert_eq!(team_id(team_handle(5)), 5);
        assert_eq!(team_id(usize::MAX as shmem_team_t), -2);
    }
}
