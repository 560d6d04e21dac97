//! Multi-node launching (issue 13 item 4): one `shmemrun --nnodes 2 --node-rank R` per "node", the nodes on
//! loopback (two launchers on this host) and in two network namespaces joined by a veth pair that the test
//! creates and removes (addresses only inside them). The namespace trials need root (CAP_NET_ADMIN);
//! `SHMEM_TEST_SKIP_NETNS=1` skips them elsewhere.
//!
//! The ring example (`crates/shmem/examples/ring.rs`) is the program; the failure trials run this test binary
//! itself as the PE program (`pe_program`, selected by [`ROLE_VAR`]).

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Set in a PE's environment: this test binary then acts as a PE (see [`pe_program`]).
const ROLE_VAR: &str = "SHMEMRUN_NODES_TEST_ROLE";
/// A secret for the test jobs (the same for both launchers, as a user would give it).
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
/// Addresses of the two namespace ends (inside the test's own namespaces only).
const ADDR_A: &str = "10.213.9.1";
const ADDR_B: &str = "10.213.9.2";

fn shmemrun() -> &'static str {
    env!("CARGO_BIN_EXE_shmemrun")
}

/// `target/<profile>/examples/ring`, built once if this run of cargo did not build it.
fn ring_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let ring = profile_dir.join("examples").join("ring");
    if !ring.exists() {
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo.args(["build", "-q", "-p", "shmem", "--example", "ring"]);
        if release {
            cargo.arg("--release");
        }
        let status = cargo.status().expect("run cargo to build the ring example");
        assert!(status.success() && ring.exists(), "cannot build {}", ring.display());
    }
    ring
}

/// A port for the store: inside fresh namespaces any port is free; on loopback the kernel picks one.
fn store_port() -> u16 {
    shmem_run::free_port().unwrap()
}

/// One node's launcher, optionally inside a network namespace.
fn launcher(netns: Option<&str>, node_rank: u32, addr: &str, port: u16, n: u32, program: &[&str]) -> Command {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, shmemrun()]);
            c
        }
        None => Command::new(shmemrun()),
    };
    let (rank, port, n) = (node_rank.to_string(), port.to_string(), n.to_string());
    cmd.args(["--nnodes", "2", "--node-rank", &rank, "--master-addr", addr, "--master-port", &port])
        .args(["--nproc-per-node", &n, "--timeout", "60", "--"])
        .args(program)
        .env("SHMEM_JOB_TOKEN", TOKEN)
        .env("SHMEM_SYMMETRIC_SIZE", "16M")
        .env("SHMEM_INIT_TIMEOUT", "30")
        .env("SHMEM_CONTROL_TIMEOUT", "60")
        .env_remove("SHMEM_NODE_ID")
        .env_remove("SHMEM_DATA_OP_ENGINE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for both launchers (bounded), returning their outputs and how long the slower one took.
fn wait_both(a: Child, b: Child, limit: Duration) -> (Output, Output, Duration) {
    let t = Instant::now();
    let mut kids = [Some(a), Some(b)];
    while kids.iter_mut().any(|k| k.as_mut().unwrap().try_wait().unwrap().is_none()) {
        if t.elapsed() > limit {
            for k in kids.iter_mut() {
                let _ = k.as_mut().unwrap().kill();
            }
            let outs: Vec<Output> = kids.iter_mut().map(|k| k.take().unwrap().wait_with_output().unwrap()).collect();
            panic!("the launchers did not end within {limit:?}: {outs:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = t.elapsed();
    let [a, b] = kids.map(|k| k.unwrap().wait_with_output().unwrap());
    (a, b, elapsed)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Two network namespaces joined by a veth pair; removed on drop (with their veth ends).
struct TwoNodes {
    a: String,
    b: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("ip {}: {}", args.join(" "), text(&out.stderr).trim()));
    }
    Ok(())
}

impl TwoNodes {
    fn create(tag: &str) -> TwoNodes {
        let id = format!("{}{tag}", std::process::id() % 100_000);
        let nodes = TwoNodes { a: format!("shmemrun-{id}-a"), b: format!("shmemrun-{id}-b") };
        let (va, vb) = (format!("ra{id}"), format!("rb{id}"));
        let setup = || -> Result<(), String> {
            ip(&["netns", "add", &nodes.a])?;
            ip(&["netns", "add", &nodes.b])?;
            ip(&["link", "add", &va, "netns", &nodes.a, "type", "veth", "peer", "name", &vb, "netns", &nodes.b])?;
            for (ns, dev, addr) in [(&nodes.a, &va, ADDR_A), (&nodes.b, &vb, ADDR_B)] {
                ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
                ip(&["-n", ns, "link", "set", dev, "up"])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
            }
            Ok(())
        };
        if let Err(e) = setup() {
            drop(nodes);
            panic!("cannot make two network namespaces (needs root; SHMEM_TEST_SKIP_NETNS=1 skips): {e}");
        }
        nodes
    }
}

impl Drop for TwoNodes {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

fn skip_netns() -> bool {
    std::env::var("SHMEM_TEST_SKIP_NETNS").is_ok_and(|v| v == "1")
}

/// The ring example as a 4-PE job on two nodes (2 PEs each): MTE inside a node, TCP between the nodes (the
/// launchers' default engine set for several nodes). Only PE 0 prints; every PE checks the message it got.
fn ring_on_two_nodes(spaces: Option<(&str, &str)>, addr: &str, port: u16) {
    let ring = ring_example();
    let ring = ring.to_str().unwrap();
    let (ns_a, ns_b) = spaces.map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let a = launcher(ns_a, 0, addr, port, 2, &[ring]).spawn().unwrap();
    let b = launcher(ns_b, 1, addr, port, 2, &[ring]).spawn().unwrap();
    let (a, b, _) = wait_both(a, b, Duration::from_secs(90));
    assert_eq!(a.status.code(), Some(0), "node 0: {}{}", text(&a.stdout), text(&a.stderr));
    assert_eq!(b.status.code(), Some(0), "node 1: {}{}", text(&b.stdout), text(&b.stderr));
    assert_eq!(text(&a.stdout), "[0] token came back to PE 0 with 6 (expected 6) after visiting 4 PEs\n");
    assert_eq!(text(&b.stdout), "", "node 1's PEs print nothing");
}

#[test]
fn ring_on_two_loopback_nodes() {
    ring_on_two_nodes(None, "127.0.0.1", store_port());
}

#[test]
fn ring_on_two_network_namespaces() {
    if skip_netns() {
        return;
    }
    let nodes = TwoNodes::create("r");
    ring_on_two_nodes(Some((&nodes.a, &nodes.b)), ADDR_A, 29611);
}

/// Each PE reports its ranks and node; the launcher's variables must make one job of 4 PEs on 2 nodes.
#[test]
fn global_ranks_and_node_ids() {
    let port = store_port();
    let script = "echo $SHMEM_PE/$SHMEM_N_PES $SHMEM_LOCAL_PE/$SHMEM_LOCAL_N_PES $RANK $LOCAL_RANK $GROUP_RANK \
                  $SHMEM_NODE_ID $SHMEM_DATA_OP_ENGINE $SHMEM_MASTER_PORT ${SHMEM_JOB_TOKEN%%89ab*}";
    let mut cmd_a = launcher(None, 0, "127.0.0.1", port, 2, &["sh", "-c", script]);
    let mut cmd_b = launcher(None, 1, "127.0.0.1", port, 2, &["sh", "-c", script]);
    cmd_b.env("SHMEM_NODE_ID", "mine");
    let (a, b, _) = wait_both(cmd_a.spawn().unwrap(), cmd_b.spawn().unwrap(), Duration::from_secs(30));
    let sorted = |o: &Output| {
        let mut l: Vec<String> = text(&o.stdout).lines().map(str::to_owned).collect();
        l.sort();
        l
    };
    assert_eq!(
        sorted(&a),
        [
            format!("[0] 0/4 0/2 0 0 0 node-0 MTE|TCP {port} 01234567"),
            format!("[1] 1/4 1/2 1 1 0 node-0 MTE|TCP {port} 01234567")
        ]
    );
    // A node id the user set is kept.
    assert_eq!(
        sorted(&b),
        [
            format!("[2] 2/4 0/2 2 0 1 mine MTE|TCP {port} 01234567"),
            format!("[3] 3/4 1/2 3 1 1 mine MTE|TCP {port} 01234567")
        ]
    );
}

/// A multi-node launcher without a user-given secret refuses to start (exit 2), naming both ways to give one;
/// a token file others can read is refused; a private one is used as the job's secret.
#[test]
fn multi_node_needs_a_shared_secret() {
    let port = store_port().to_string();
    let out = Command::new(shmemrun())
        .args(["--nnodes", "2", "--node-rank", "0", "--master-port", &port, "-n", "1", "--", "echo", "started"])
        .env_remove("SHMEM_JOB_TOKEN")
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SHMEM_JOB_TOKEN") && err.contains("--job-token-file"), "{err}");
    assert_eq!(text(&out.stdout), "", "nothing started");

    let dir = std::env::temp_dir().join(format!("shmemrun-token-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "fedcba9876543210fedcba9876543210\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = |extra: &[&str]| {
        Command::new(shmemrun())
            .args(["--job-token-file", file.to_str().unwrap()])
            .args(extra)
            .args(["-n", "1", "--", "sh", "-c", "echo $SHMEM_JOB_TOKEN"])
            .env("SHMEM_JOB_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("chmod 600"), "{}", text(&out.stderr));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(&[]);
    assert_eq!(text(&out.stdout), "[0] fedcba9876543210fedcba9876543210\n", "the file wins over the environment");
    // On one node without a file: a random secret, not the inherited SHMEM_JOB_TOKEN (e.g. of an outer job).
    let out = Command::new(shmemrun())
        .args(["-n", "1", "--", "sh", "-c", "echo $SHMEM_JOB_TOKEN"])
        .env("SHMEM_JOB_TOKEN", TOKEN)
        .output()
        .unwrap();
    let got = text(&out.stdout);
    assert!(got.len() == 4 + 32 + 1 && !got.contains(TOKEN), "{got}");
    std::fs::write(&file, "short\n").unwrap();
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("at least 16 characters"), "{}", text(&out.stderr));
    let out = run(&["--nnodes", "2", "--node-rank", "2", "--master-port", &port]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--node-rank 2 must be below --nnodes 2"), "{}", text(&out.stderr));
    let _ = std::fs::remove_dir_all(&dir);
}

/// PE 3 (on node 1) exits with status 3 after init: node 1's launcher exits 3 naming PE 3, node 0's PEs fail
/// in their barrier naming PE 3 (the store's job event), so node 0's launcher ends non-zero too, in seconds.
fn one_pe_fails(spaces: Option<(&str, &str)>, addr: &str, port: u16) {
    let exe = std::env::current_exe().unwrap();
    let program = [exe.to_str().unwrap(), "pe_program", "--exact", "--nocapture", "--quiet"];
    let (ns_a, ns_b) = spaces.map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let mut a = launcher(ns_a, 0, addr, port, 2, &program);
    let mut b = launcher(ns_b, 1, addr, port, 2, &program);
    a.env(ROLE_VAR, "fail3");
    b.env(ROLE_VAR, "fail3");
    let (a, b, took) = wait_both(a.spawn().unwrap(), b.spawn().unwrap(), Duration::from_secs(60));
    let (out_a, out_b) = (text(&a.stdout) + &text(&a.stderr), text(&b.stdout) + &text(&b.stderr));
    assert_eq!(b.status.code(), Some(3), "node 1: {out_b}");
    assert!(out_b.contains("PE 3 exited with status 3"), "node 1: {out_b}");
    assert!(a.status.code().is_some_and(|c| c != 0), "node 0: {out_a}");
    assert!(out_a.contains("PE 3 left the job"), "node 0 names PE 3: {out_a}");
    assert!(!out_a.contains("barrier passed") && !out_b.contains("barrier passed"));
    // The control timeout is 60 s: only the job event can end node 0 this early.
    assert!(took < Duration::from_secs(15), "took {took:?}");
}

#[test]
fn a_failed_pe_ends_both_loopback_nodes() {
    one_pe_fails(None, "127.0.0.1", store_port());
}

#[test]
fn a_failed_pe_ends_both_network_namespaces() {
    if skip_netns() {
        return;
    }
    let nodes = TwoNodes::create("f");
    one_pe_fails(Some((&nodes.a, &nodes.b)), ADDR_A, 29612);
}

/// The PE program of the failure trials (a no-op test unless [`ROLE_VAR`] is set): every PE initializes and
/// passes one barrier; then PE 3 exits with status 3 and the others enter a second barrier, which must fail.
#[test]
fn pe_program() {
    if std::env::var(ROLE_VAR).as_deref() != Ok("fail3") {
        return;
    }
    let sh = shmem::init_from_env().expect("init");
    sh.barrier_all().expect("first barrier");
    if sh.my_pe() == 3 {
        std::process::exit(3);
    }
    match sh.barrier_all() {
        Ok(()) => {
            println!("barrier passed");
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("PE {}: second barrier failed: {e}", sh.my_pe());
            std::process::exit(1)
        }
    }
}
