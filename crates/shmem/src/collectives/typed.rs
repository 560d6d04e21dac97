//! Helpers of the typed (`SymVec`) collectives: local length checks that become this PE's argument error in the
//! agreement, so that a too-short array fails every member instead of leaving them waiting.

use shmem_core::Error;

/// `Some(INVALID_PARAM)` when an array of `have` elements cannot hold the `need` the call writes or reads.
pub(crate) fn check_len(what: &str, have: usize, need: usize) -> Option<Error> {
    (have < need).then(|| Error::invalid(format!("{what} has {have} elements but the call needs {need}")))
}
