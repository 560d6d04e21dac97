//! Locks through the C interface: tests/c/lock.c at 1, 2 and 4 PEs (n x 1000 get/put increments under the
//! lock are exact, test_lock returns 0 when it takes the lock and 1 while another PE holds it) and its bad
//! input cases.

mod harness;
mod two_nodes;
use harness::{compile, run_fails, run_ok};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// lock.c compiled once: the tests run in parallel and must not rewrite the program another one runs.
fn exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("lock.c", &[]))
}

#[test]
fn lock_mutual_exclusion_is_exact() {
    for (n, out) in [1u32, 2, 4].into_iter().zip(run_ok(exe(), &[1, 2, 4])) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches("lock ok").count(), 1, "{n} PEs: {stdout}");
    }
}

#[test]
fn lock_across_two_nodes_over_tcp() {
    // 2 nodes x 2 PEs: PE 0's words are reached over TCP by PEs 2 and 3, over MTE by PE 1.
    let out = two_nodes::run_ok_two_nodes(exe(), 2);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.matches("lock ok").count(), 1, "{stdout}");
}

#[test]
fn lock_bad_input_ends_the_job_with_the_error_code() {
    let exe = exe();
    // A lock outside the symmetric heap: INVALID_PARAM (-1), named by the C function.
    run_fails(exe, 2, &["not-symmetric"], 1, "shmem_set_lock: ");
    run_fails(exe, 2, &["not-symmetric"], 1, "(error code -1)");
    // Clearing a lock this PE does not hold; taking a lock this PE already holds.
    run_fails(exe, 2, &["clear-unheld"], 1, "shmem_clear_lock: ");
    run_fails(exe, 2, &["twice"], 1, "shmem_set_lock: ");
}
