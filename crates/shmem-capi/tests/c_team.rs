//! Teams and contexts: tests/c/team.c at 1, 2, 3 and 4 PEs (3: a strided team of uneven size and a short last
//! row in the 2-D split), and the erroneous calls that end the job with the error code.

mod harness;
use harness::{compile, run_fails, run_ok};
use std::path::PathBuf;
use std::sync::OnceLock;

/// team.c, compiled once for both tests (two compiles to one path race with a running job).
fn exe() -> &'static PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("team.c", &[]))
}

#[test]
fn teams_and_contexts_exact_values() {
    for out in run_ok(exe(), &[1, 2, 3, 4]) {
        assert_eq!(String::from_utf8_lossy(&out.stdout).matches("team ok").count(), 1);
    }
}

#[test]
fn team_and_ctx_bad_input_ends_the_job_with_the_error_code() {
    let exe = exe();
    run_fails(exe, 2, &["destroy-world"], 1, "shmem_team_destroy:");
    run_fails(exe, 2, &["destroy-world"], 1, "(error code -1)");
    run_fails(exe, 2, &["nostore-put"], 1, "NOSTORE");
    run_fails(exe, 2, &["nostore-put"], 1, "(error code -1)");
    run_fails(exe, 2, &["bad-ctx-destroy"], 1, "shmem_ctx_destroy: ");
}

/// team_ctx_statics.c, compiled once.
fn ctx_statics_exe() -> &'static PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("team_ctx_statics.c", &[]))
}

#[test]
fn team_ctx_takes_team_pes_for_statics_and_signal_only_puts() {
    let out = &run_ok(ctx_statics_exe(), &[4])[0];
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("team ctx statics ok").count(), 4);
}

#[test]
fn ctx_checks_apply_to_statics_and_signal_only_puts() {
    let exe = ctx_statics_exe();
    run_fails(exe, 2, &["invalid-signal"], 1, "shmem_ctx_putmem_signal: invalid argument");
    run_fails(exe, 2, &["invalid-signal"], 1, "(error code -1)");
    run_fails(exe, 2, &["nostore-static"], 1, "shmem_ctx_int_p: invalid argument");
    run_fails(exe, 2, &["nostore-static"], 1, "NOSTORE");
    run_fails(exe, 2, &["nostore-signal"], 1, "shmem_ctx_putmem_signal: invalid argument");
    run_fails(exe, 2, &["nostore-signal"], 1, "NOSTORE");
    run_fails(exe, 2, &["outside-team"], 1, "PE 2 is not in team");
    run_fails(exe, 2, &["outside-team"], 1, "(error code -1)");
}
