//! Setup, RMA and the C++ header: the C programs tests/c/{setup,rma}.c and cxx.cpp at 1, 2 and 4 PEs.

mod harness;
use harness::{compile, run_fails, run_ok};

#[test]
fn setup_and_queries() {
    let exe = compile("setup.c", &["-Wno-deprecated-declarations"]);
    for (n, out) in [1, 2, 4].into_iter().zip(run_ok(&exe, &[1, 2, 4])) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("setup ok").count(), n as usize, "{stdout}");
    }
}

#[test]
fn rma_every_form_and_type() {
    let exe = compile("rma.c", &[]);
    run_ok(&exe, &[1, 2, 4]);
}

#[test]
fn rma_bad_input_ends_the_job_with_the_error_code() {
    let exe = compile("rma.c", &[]);
    // A PE out of range: INVALID_PARAM (-1), every PE ends.
    run_fails(&exe, 2, &["bad-pe"], 1, "shmem_int_put: invalid argument");
    run_fails(&exe, 2, &["bad-pe"], 1, "(error code -1)");
    // A destination outside the symmetric heap.
    run_fails(&exe, 2, &["not-symmetric"], 1, "(error code -1)");
}

#[test]
fn header_compiles_as_cpp() {
    let exe = compile("cxx.cpp", &[]);
    run_ok(&exe, &[2]);
}
