//! Running a compiled tests/c program as a job of two "nodes" on this host: one `oshrun --nnodes 2
//! --node-rank R` per node, so that the operations between the two nodes' PEs go over the TCP engine (its
//! progress threads apply the remote atomics, puts and signals) while same-node ones stay on MTE.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The job secret both launchers share (a multi-node job refuses to start without one).
const TOKEN: &str = "shmem-capi-two-nodes-test-token-0123456789";

fn launcher(exe: &Path, rank: u32, port: u16, per_node: u32) -> Child {
    Command::new(env!("CARGO_BIN_EXE_oshrun"))
        .args(["--nnodes", "2", "--node-rank", &rank.to_string(), "--master-addr", "127.0.0.1"])
        .args(["--master-port", &port.to_string(), "-np", &per_node.to_string(), "--timeout", "60"])
        .args(["--mem-size", "64M"])
        .arg(exe)
        .env("SHMEM_JOB_TOKEN", TOKEN)
        .env_remove("SHMEM_NODE_ID")
        .env_remove("SHMEM_DATA_OP_ENGINE")
        // The PEs must load the library they were linked against, not a copy cargo test has on LD_LIBRARY_PATH.
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start oshrun")
}

/// Runs `exe` with `per_node` PEs on each of two nodes and asserts both launchers exited 0 within two
/// minutes; returns node 0's output (PE 0 prints there).
pub(crate) fn run_ok_two_nodes(exe: &Path, per_node: u32) -> Output {
    let port = shmem_run::free_port().expect("a free port for the store");
    let kids = [launcher(exe, 0, port, per_node), launcher(exe, 1, port, per_node)];
    let t = Instant::now();
    let mut kids = kids.map(Some);
    while kids.iter_mut().any(|k| k.as_mut().unwrap().try_wait().unwrap().is_none()) {
        if t.elapsed() > Duration::from_secs(120) {
            for k in kids.iter_mut() {
                let _ = k.as_mut().unwrap().kill();
            }
            panic!("{}: the two launchers did not end within 120 s", exe.display());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let [a, b] = kids.map(|k| k.unwrap().wait_with_output().unwrap());
    for (rank, out) in [(0, &a), (1, &b)] {
        assert!(
            out.status.success(),
            "{} node {rank}: {:?}\nstdout:\n{}\nstderr:\n{}",
            exe.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    a
}
