//! Global and static variables in the AMO, point-to-point, lock and collective families:
//! tests/c/statics_sync.c and tests/c/statics_coll.c at 1, 2 and 4 PEs, and their erroneous cases.

mod harness;
mod two_nodes;
use harness::{compile, run_fails, run_ok};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// statics_sync.c compiled once (the tests run in parallel).
fn sync_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("statics_sync.c", &[]))
}

/// Every PE printed `line`.
fn all_print(exe: &Path, line: &str) {
    for (n, out) in [1u32, 2, 4].into_iter().zip(run_ok(exe, &[1, 2, 4])) {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(stdout.matches(line).count(), n as usize, "{n} PEs: {stdout}");
    }
}

#[test]
fn static_amos_waits_and_locks_are_exact() {
    all_print(sync_exe(), "statics sync ok");
}

#[test]
fn static_amos_waits_and_locks_bad_input() {
    let exe = sync_exe();
    run_fails(exe, 2, &["amo-misaligned"], 1, "shmem_int_atomic_inc: invalid argument: address");
    run_fails(exe, 2, &["amo-misaligned"], 1, "(error code -1)");
    run_fails(exe, 2, &["amo-other-node"], 1, "static/global variables of PE ");
    run_fails(exe, 2, &["amo-other-node"], 1, "(error code -100)");
    run_fails(exe, 2, &["lock-twice"], 1, "shmem_set_lock: invalid argument");
    run_fails(exe, 2, &["lock-twice"], 1, "not recursive");
    run_fails(exe, 2, &["clear-unheld"], 1, "shmem_clear_lock: invalid argument");
    run_fails(exe, 2, &["clear-unheld"], 1, "(error code -1)");
    run_fails(exe, 2, &["wait-bad-cmp"], 1, "shmem_long_wait_until: invalid argument: compare op 99");
    run_fails(exe, 2, &["wait-bad-cmp"], 1, "(error code -1)");
    // A PE dies while the others wait on a static word: the job ends with its status (bounded by the
    // harness's launcher timeout), it does not hang.
    let t0 = std::time::Instant::now();
    run_fails(exe, 3, &["peer-dies"], 7, "exited with status 7");
    assert!(t0.elapsed() < std::time::Duration::from_secs(30), "took {:?}", t0.elapsed());
}

/// statics_coll.c compiled once.
fn coll_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("statics_coll.c", &[]))
}

#[test]
fn static_collective_arguments_are_exact() {
    all_print(coll_exe(), "statics coll ok");
}

#[test]
fn static_collective_larger_than_the_scratch_is_not_supported() {
    run_fails(coll_exe(), 2, &["set-too-big"], 1, "shmem_broadcast64: not supported: ");
    run_fails(coll_exe(), 2, &["set-too-big"], 1, "(error code -100)");
}

/// statics_collect.c: a collect of static dest/source with a different `nelems` per PE, on one node (1, 2 and
/// 4 PEs) and on two nodes (1 and 2 PEs each: the network algorithms put every block at one offset of the
/// bounced `dest`, which must be the same on every member).
#[test]
fn static_collect_of_uneven_sizes_across_nodes_is_exact() {
    let exe = compile("statics_collect.c", &[]);
    all_print(&exe, "statics collect ok");
    for per_node in [1, 2] {
        let node0 = two_nodes::run_ok_two_nodes(&exe, per_node);
        let stdout = String::from_utf8_lossy(&node0.stdout);
        assert_eq!(stdout.matches("statics collect ok").count(), per_node as usize, "{stdout}");
    }
}
