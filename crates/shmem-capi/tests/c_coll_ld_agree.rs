//! Long double reductions agree on `nreduce` and the operator like every other reduction: tests/c/coll_ld_agree.c
//! at 1, 2, 3 and 4 PEs (team form: INVALID_VALUE (-2) on every member, dest untouched, later calls exact; on
//! heap and global arrays), and the active-set form's mismatches, which end the job with the error code.

mod harness;
use harness::{compile, run_fails, run_ok};
use std::path::PathBuf;
use std::sync::OnceLock;

/// coll_ld_agree.c, compiled once for every test of this file.
fn exe() -> &'static PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("coll_ld_agree.c", &[]))
}

#[test]
fn team_mismatch_is_invalid_value_on_every_member_at_1_2_3_4_pes() {
    for out in run_ok(exe(), &[1, 2, 3, 4]) {
        assert_eq!(String::from_utf8_lossy(&out.stdout).matches("coll_ld_agree ok").count(), 1);
    }
}

#[test]
fn active_set_mismatch_ends_the_job_with_invalid_value() {
    for n in [2, 3] {
        run_fails(exe(), n, &["set-count"], 1, "shmem_longdouble_sum_to_all: ");
        run_fails(exe(), n, &["set-count"], 1, "(error code -2)");
        run_fails(exe(), n, &["set-op"], 1, "_to_all: invalid value: long double reduction differs between members");
        run_fails(exe(), n, &["set-op"], 1, "(error code -2)");
    }
}
