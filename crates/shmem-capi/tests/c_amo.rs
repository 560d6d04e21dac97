//! AMOs through the C interface: tests/c/amo.c at 1, 2 and 4 PEs (exact totals, compare_swap, bitwise masks,
//! float/double swap and fetch, the fetching _nbi forms, the deprecated forms, the C11 generics) and its bad
//! input cases, which must end the job with the library's error.

mod harness;
mod two_nodes;
use harness::{compile, run_fails, run_ok};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// amo.c compiled once: the tests run in parallel and must not rewrite the program another one runs.
fn exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("amo.c", &["-Wno-deprecated-declarations"]))
}

#[test]
fn amo_every_form_and_type_exact() {
    for (n, out) in [1u32, 2, 4].into_iter().zip(run_ok(exe(), &[1, 2, 4])) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("amo ok").count(), 1, "{n} PEs: {stdout}");
    }
}

#[test]
fn amo_across_two_nodes_over_tcp() {
    // 2 nodes x 2 PEs: PE 0's words are reached over TCP by PEs 2 and 3, over MTE by PE 1.
    let out = two_nodes::run_ok_two_nodes(exe(), 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("amo ok").count(), 1, "{stdout}");
}

#[test]
fn amo_bad_input_ends_the_job_with_the_error_code() {
    let exe = exe();
    // A PE out of range: INVALID_PARAM (-1), named by the C function.
    run_fails(exe, 2, &["bad-pe"], 1, "shmem_long_atomic_fetch_add: ");
    run_fails(exe, 2, &["bad-pe"], 1, "(error code -1)");
    // A destination outside the symmetric heap, a misaligned one, a misaligned fetch destination.
    run_fails(exe, 2, &["not-symmetric"], 1, "(error code -1)");
    run_fails(exe, 2, &["misaligned"], 1, "(error code -1)");
    run_fails(exe, 2, &["bad-fetch"], 1, "(error code -1)");
    // SHMEM_CTX_INVALID is not a context.
    run_fails(exe, 2, &["bad-ctx"], 1, "shmem_ctx_long_atomic_add: ");
}
