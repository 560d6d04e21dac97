//! Collectives: tests/c/coll.c at 1, 2, 3, 4 and 8 PEs (3: uneven strided teams and active sets; 8: a
//! strided team of 4) and on two nodes of 2 PEs, the header's pSync constants against the facade's, and the
//! erroneous active-set calls that end the job.

mod harness;
mod two_nodes;
use harness::{compile, run_fails, run_ok};
use std::path::PathBuf;
use std::sync::OnceLock;

/// coll.c, compiled once for every test of this file.
fn exe() -> &'static PathBuf {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| compile("coll.c", &[]))
}

#[test]
fn collectives_exact_values_at_1_2_3_4_8_pes() {
    for out in run_ok(exe(), &[1, 2, 3, 4, 8]) {
        assert_eq!(String::from_utf8_lossy(&out.stdout).matches("coll ok").count(), 1);
    }
}

#[test]
fn active_set_bad_input_ends_the_job_with_the_error_code() {
    run_fails(exe(), 2, &["as-bad-set"], 1, "shmem_broadcast64: ");
    run_fails(exe(), 2, &["as-bad-set"], 1, "(error code -1)");
    run_fails(exe(), 2, &["ld-bad-set"], 1, "shmem_longdouble_sum_to_all: ");
    run_fails(exe(), 2, &["ld-bad-set"], 1, "(error code -1)");
    run_fails(exe(), 2, &["to-all-negative"], 1, "shmem_int_sum_to_all: ");
    run_fails(exe(), 2, &["to-all-negative"], 1, "(error code -1)");
}

#[test]
fn psync_constants_match_the_facade() {
    use shmem::collectives::active_set::{REDUCE_MIN_WRKDATA_SIZE, SYNC_SIZE, SYNC_VALUE};
    let h = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/include/shmem.h")).unwrap();
    let define = |name: &str| -> String {
        let line = h.lines().find(|l| l.starts_with(&format!("#define {name} "))).unwrap_or_else(|| panic!("{name}"));
        line.split_whitespace().nth(2).unwrap().to_string()
    };
    for s in ["BCAST", "BARRIER", "REDUCE", "COLLECT", "ALLTOALL", "ALLTOALLS"] {
        assert_eq!(define(&format!("SHMEM_{s}_SYNC_SIZE")), SYNC_SIZE.to_string(), "{s}");
    }
    assert_eq!(define("SHMEM_SYNC_SIZE"), SYNC_SIZE.to_string());
    assert_eq!(define("SHMEM_SYNC_VALUE"), format!("{SYNC_VALUE}L"));
    assert_eq!(define("SHMEM_REDUCE_MIN_WRKDATA_SIZE"), REDUCE_MIN_WRKDATA_SIZE.to_string());
    assert_eq!(define("_SHMEM_BCAST_SYNC_SIZE"), "SHMEM_BCAST_SYNC_SIZE");
}

/// coll.c on two nodes of 2 PEs (two oshruns joined by `--nnodes 2`, see tests/two_nodes): the
/// collectives' cross-node paths (tree broadcast, network gets) and the long double gathers over the network
/// engine.
#[test]
fn collectives_across_two_nodes() {
    let node0 = two_nodes::run_ok_two_nodes(exe(), 2);
    assert_eq!(String::from_utf8_lossy(&node0.stdout).matches("coll ok").count(), 1);
}
