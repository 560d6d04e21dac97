//! Collectives: tests/c/coll.c at 1, 2, 3, 4 and 8 PEs (3: uneven strided teams and active sets; 8: a
//! strided team of 4) and on two nodes of 2 PEs, the header's pSync constants against the facade's, and the
//! erroneous active-set calls that end the job.

mod harness;
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

/// coll.c on two nodes of 2 PEs (two oshruns joined by `--nnodes 2`, `SHMEM_NODE_ID` 0 and 1): the
/// collectives' cross-node paths (tree broadcast, network gets) and the long double gathers over the network
/// engine.
#[test]
fn collectives_across_two_nodes() {
    use std::process::Stdio;
    let port = {
        // A free port for the store (and port - 11 above 1024): bind, read, release.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let spawn = |rank: u32| {
        harness::oshrun()
            .args(["--nnodes", "2", "--node-rank", &rank.to_string(), "--port", &port.to_string()])
            .args(["-n", "2", "--timeout", "60", "--mem-size", "64M"])
            .arg(exe())
            .env("SHMEM_NODE_ID", rank.to_string())
            .env("SHMEM_JOB_TOKEN", "c-coll-two-nodes-test-token")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oshrun")
    };
    let (a, b) = (spawn(0), spawn(1));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for (rank, out) in [(0, &a), (1, &b)] {
        assert!(
            out.status.success(),
            "node {rank}: {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(String::from_utf8_lossy(&a.stdout).matches("coll ok").count(), 1);
}
