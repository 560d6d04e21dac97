//! Global and static variables as symmetric data: tests/c/statics.c (and its -pie / -no-pie builds) at 1, 2
//! and 4 PEs, and its erroneous cases.

mod harness;
use harness::{compile, run, run_fails, run_ok};

/// Every PE printed its "statics ok" line.
fn all_ok(exe: &std::path::Path) {
    for (n, out) in [1, 2, 4].into_iter().zip(run_ok(exe, &[1, 2, 4])) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("statics ok").count(), n as usize, "{stdout}");
    }
}

#[test]
fn statics_are_symmetric_and_bad_input_ends_the_job() {
    // One test per source file: parallel tests compiling the same file would overwrite each other's program.
    let exe = compile("statics.c", &[]);
    all_ok(&exe);
    // A range that starts in the static data and runs past its end: INVALID_PARAM.
    run_fails(&exe, 2, &["past-end"], 1, "run past the end of the static/global variables");
    run_fails(&exe, 2, &["past-end"], 1, "(error code -1)");
    // A static signal word that is not 8-byte aligned: INVALID_PARAM, before any data moves.
    run_fails(&exe, 2, &["misaligned-signal"], 1, "shmem_long_put_signal: invalid argument: address");
    run_fails(&exe, 2, &["misaligned-signal"], 1, "(error code -1)");
    // A peer on another node cannot reach this PE's globals: NOT_SUPPORTED, with the advice (whichever PE
    // reports first).
    run_fails(&exe, 2, &["other-node"], 1, "static/global variables of PE ");
    run_fails(&exe, 2, &["other-node"], 1, "shmem_malloc");
    run_fails(&exe, 2, &["other-node"], 1, "(error code -100)");
    // SHMEM_SYMMETRIC_STATICS=0: globals stay private, a peer's are NOT_SUPPORTED (this PE's still work).
    let out = run(&exe, 2, &[("SHMEM_SYMMETRIC_STATICS", "0")], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("shmem_int_p: not supported: static/global variables of PE "), "{stderr}");
    assert!(stderr.contains("(error code -100)"), "{stderr}");
    let out = run(&exe, 1, &[("SHMEM_SYMMETRIC_STATICS", "0")], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("statics ok").count(), 1);
}

#[test]
fn statics_in_a_position_dependent_executable() {
    all_ok(&compile("statics_nopie.c", &["-no-pie", "-fno-pie"]));
}

#[test]
fn statics_in_a_position_independent_executable() {
    all_ok(&compile("statics_pie.c", &["-pie", "-fPIE"]));
}
