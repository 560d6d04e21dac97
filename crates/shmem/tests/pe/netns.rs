//! Two "nodes" as two network namespaces joined by a veth pair, made by the test and removed after it: the
//! store, the TCP engine's progress threads and every PE-to-PE connection cross a real (virtual) link, with
//! traffic only inside the namespaces. Needs root (CAP_NET_ADMIN), as CI has; `SHMEM_TEST_SKIP_NETNS=1` marks
//! the trials ignored elsewhere.

use crate::runner;
use crate::{check, ok, Scenario};
use libtest_mimic::{Failed, Trial};
use std::process::Command;
use std::time::{Duration, Instant};

pub const SCENARIOS: &[(&str, Scenario)] = &[("node_cut_off", node_cut_off)];

/// Names node B's end of the link to the scenario [`node_cut_off`], which takes it down from inside node B.
const CUT_DEV_VAR: &str = "SHMEM_TEST_CUT_DEV";

/// Addresses of the two ends (inside the test's own namespaces only).
const ADDR_A: &str = "10.213.7.1";
const ADDR_B: &str = "10.213.7.2";

/// The namespaces and link of one trial; removed on drop (removing a namespace removes its veth end).
struct TwoNodes {
    a: String,
    b: String,
    /// Node B's end of the veth pair.
    vb: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(())
}

impl TwoNodes {
    fn create(tag: &str) -> Result<TwoNodes, String> {
        let id = format!("{}{tag}", std::process::id() % 100_000);
        let (va, vb) = (format!("va{id}"), format!("vb{id}"));
        let nodes = TwoNodes { a: format!("shmem-{id}-a"), b: format!("shmem-{id}-b"), vb: vb.clone() };
        ip(&["netns", "add", &nodes.a])?;
        ip(&["netns", "add", &nodes.b])?;
        ip(&["link", "add", &va, "netns", &nodes.a, "type", "veth", "peer", "name", &vb, "netns", &nodes.b])?;
        for (ns, dev, addr) in [(&nodes.a, &va, ADDR_A), (&nodes.b, &vb, ADDR_B)] {
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(nodes)
    }
}

impl Drop for TwoNodes {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// Runs `scenario` on 4 PEs, two per namespace, MTE inside a node and TCP across the link.
fn across_link(tag: &str, scenario: &str) -> Result<(), Failed> {
    let nodes = TwoNodes::create(tag)?;
    let spaces = format!("{},{}", nodes.a, nodes.b);
    let env: Vec<(&str, &str)> = vec![
        (runner::NETNS_VAR, &spaces),
        (runner::PES_PER_NODE_VAR, "2"),
        ("SHMEM_MASTER_ADDR", ADDR_A),
        ("SHMEM_DATA_OP_ENGINE", "MTE|TCP"),
    ];
    runner::run_ok(4, scenario, &env)?;
    drop(nodes);
    Ok(())
}

/// After a first barrier, node B drops off the network without a word: PE 1 takes its node's end of the link
/// down (nothing it sends reaches node A any more: no FIN, no RST) and stays alive. PE 0, waiting for a word
/// that PE 1 would write (a wait with no deadline of its own), must fail with an error naming PE 1 once the
/// store's watch of PE 1 has gone unanswered (TCP keepalive, `shmem_core::liveness::DEAD_PEER_NOTICED_WITHIN`,
/// 11 s), not never (a watch connection is silent: without keepalive nothing would ever time out on it).
fn node_cut_off() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let word = ok!(sh.alloc_zeroed::<u64>(1));
    ok!(sh.barrier_all());
    if sh.my_pe() == 1 {
        let dev = std::env::var(CUT_DEV_VAR).map_err(|_| format!("{CUT_DEV_VAR} is not set"))?;
        ip(&["link", "set", "dev", &dev, "down"])?;
        // Unreachable, not dead: the end of this process would not reach node A either, but it must not be
        // what PE 0 notices. (Its own watch loses the store meanwhile; how it then ends is not checked.)
        std::thread::sleep(Duration::from_secs(20));
        std::process::exit(9);
    }
    let t = Instant::now();
    let e = word.wait_until(0, shmem::CmpOp::Eq, 1).unwrap_err();
    check!(t.elapsed() < Duration::from_secs(30), "noticed after {:?}: {e}", t.elapsed());
    check!(e.to_string().contains("PE 1"), "the error names the lost PE: {e}");
    println!("PE 0 saw after {:?}: {e}", t.elapsed());
    std::process::exit(3)
}

/// Runs [`node_cut_off`] on 2 PEs, one per namespace; PE 0 must exit 3 (it saw the loss in time).
fn cut_off_trial() -> Result<(), Failed> {
    let nodes = TwoNodes::create("9")?;
    let spaces = format!("{},{}", nodes.a, nodes.b);
    let env: Vec<(&str, &str)> = vec![
        (runner::NETNS_VAR, &spaces),
        (runner::PES_PER_NODE_VAR, "1"),
        ("SHMEM_MASTER_ADDR", ADDR_A),
        ("SHMEM_DATA_OP_ENGINE", "MTE|TCP"),
        ("SHMEM_CONTROL_TIMEOUT", "60"),
        ("SHMEM_LOG_LEVEL", "ERROR"),
        (CUT_DEV_VAR, &nodes.vb),
    ];
    let res = runner::run(2, "node_cut_off", &env, Duration::from_secs(90))?;
    if res[0].code != 3 {
        return Err(
            format!("PE 0 exited {} (wanted 3):\n{}\nPE 1:\n{}", res[0].code, res[0].output, res[1].output).into()
        );
    }
    print!("{}", res[0].output);
    drop(nodes);
    Ok(())
}

pub fn special_trials() -> Vec<Trial> {
    let skip = std::env::var("SHMEM_TEST_SKIP_NETNS").is_ok_and(|v| v == "1");
    let mut trials: Vec<Trial> = [("0", "put_get_sizes"), ("1", "amo_contention"), ("2", "team_barriers_disjoint")]
        .into_iter()
        .map(|(tag, scenario)| {
            Trial::test(format!("netns_two_nodes_{scenario}_4pe"), move || across_link(tag, scenario))
                .with_ignored_flag(skip)
        })
        .collect();
    trials.push(Trial::test("netns_node_cut_off_is_noticed_2pe", cut_off_trial).with_ignored_flag(skip));
    trials
}
