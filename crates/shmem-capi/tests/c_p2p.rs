//! Point-to-point synchronization through the C interface: tests/c/p2p.c at 1, 2 and 4 PEs (producer/consumer
//! with exact values, any/some index sets, status masks, vector forms, signal_wait_until after put_signal,
//! tests that do not block, the deprecated waits, the C11 generics) and its bad input cases.

mod harness;
mod two_nodes;
use harness::{compile, run_fails, run_ok};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// p2p.c compiled once: the tests run in parallel and must not rewrite the program another one runs.
fn exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("p2p.c", &["-Wno-deprecated-declarations"]))
}

#[test]
fn p2p_every_form_and_type_exact() {
    for (n, out) in [1u32, 2, 4].into_iter().zip(run_ok(exe(), &[1, 2, 4])) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("p2p ok").count(), 1, "{n} PEs: {stdout}");
    }
}

#[test]
fn p2p_across_two_nodes_over_tcp() {
    // 2 nodes x 2 PEs: PE 0's words are reached over TCP by PEs 2 and 3, over MTE by PE 1.
    let out = two_nodes::run_ok_two_nodes(exe(), 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("p2p ok").count(), 1, "{stdout}");
}

#[test]
fn p2p_bad_input_ends_the_job_with_the_error_code() {
    let exe = exe();
    // A comparison code outside SHMEM_CMP_EQ..SHMEM_CMP_LE: INVALID_PARAM (-1), named by the C function.
    run_fails(exe, 2, &["bad-cmp"], 1, "shmem_long_wait_until: ");
    run_fails(exe, 2, &["bad-cmp"], 1, "(error code -1)");
    run_fails(exe, 2, &["bad-cmp-test"], 1, "shmem_long_test_any: ");
    run_fails(exe, 2, &["bad-signal-cmp"], 1, "(error code -1)");
    // A variable outside the symmetric heap.
    run_fails(exe, 2, &["not-symmetric"], 1, "(error code -1)");
}
