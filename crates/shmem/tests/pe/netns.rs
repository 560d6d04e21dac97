//! Two "nodes" as two network namespaces joined by a veth pair, made by the test and removed after it: the
//! store, the TCP engine's progress threads and every PE-to-PE connection cross a real (virtual) link, with
//! traffic only inside the namespaces. Needs root (CAP_NET_ADMIN), as CI has; `SHMEM_TEST_SKIP_NETNS=1` marks
//! the trials ignored elsewhere.

use crate::runner;
use libtest_mimic::{Failed, Trial};
use std::process::Command;

/// Addresses of the two ends (inside the test's own namespaces only).
const ADDR_A: &str = "10.213.7.1";
const ADDR_B: &str = "10.213.7.2";

/// The namespaces and link of one trial; removed on drop (removing a namespace removes its veth end).
struct TwoNodes {
    a: String,
    b: String,
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
        let nodes = TwoNodes { a: format!("shmem-{id}-a"), b: format!("shmem-{id}-b") };
        let (va, vb) = (format!("va{id}"), format!("vb{id}"));
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

pub fn special_trials() -> Vec<Trial> {
    let skip = std::env::var("SHMEM_TEST_SKIP_NETNS").is_ok_and(|v| v == "1");
    [("0", "put_get_sizes"), ("1", "amo_contention"), ("2", "team_barriers_disjoint")]
        .into_iter()
        .map(|(tag, scenario)| {
            Trial::test(format!("netns_two_nodes_{scenario}_4pe"), move || across_link(tag, scenario))
                .with_ignored_flag(skip)
        })
        .collect()
}
