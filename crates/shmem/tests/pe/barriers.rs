//! The hierarchical barrier across node shapes: uneven nodes, one PE per node, 3 and 5 nodes, one node; world
//! and strided teams; with data checks that every barrier separates two phases, and a frozen node leader named
//! in the timeout.
//!
//! A job's node layout comes from `SHMEM_TEST_NODE_SIZES` (e.g. `3,1,2`: PEs 0-2 on one node, PE 3 alone,
//! PEs 4-5 together); the scenario sets `SHMEM_NODE_ID` from it before init.

use crate::{check, ok, runner, Scenario};
use libtest_mimic::Trial;
use shmem::team::{self, TEAM_INVALID, TEAM_WORLD};
use std::time::{Duration, Instant};

pub(crate) const SCENARIOS: &[(&str, Scenario)] =
    &[("barrier_phases", barrier_phases), ("barrier_names_frozen_leader", barrier_names_frozen_leader)];

const SIZES_VAR: &str = "SHMEM_TEST_NODE_SIZES";

/// Sets `SHMEM_NODE_ID` from `SHMEM_TEST_NODE_SIZES` and this PE's rank (before init, one thread).
fn place_on_node() -> Result<Vec<u32>, String> {
    let sizes: Vec<u32> = std::env::var(SIZES_VAR)
        .map_err(|_| format!("{SIZES_VAR} is not set"))?
        .split(',')
        .map(|s| s.parse().map_err(|_| format!("bad {SIZES_VAR} entry {s}")))
        .collect::<Result<_, _>>()?;
    let pe: u32 = std::env::var("SHMEM_PE").ok().and_then(|v| v.parse().ok()).ok_or("SHMEM_PE is not set")?;
    let mut node_of: Vec<u32> = Vec::new();
    for (node, &k) in sizes.iter().enumerate() {
        node_of.extend((0..k).map(|_| node as u32));
    }
    let node = *node_of.get(pe as usize).ok_or("more PEs than the node sizes give")?;
    std::env::set_var("SHMEM_NODE_ID", format!("barrier-node-{node}"));
    Ok(node_of)
}

/// `rounds` barriers over `team` (world PEs `world`, in team order): in round `r` each member writes
/// `tag << 32 | r` into its slot of the round's half of `buf` (two halves, by parity) on every member, then
/// the barrier, then every member's slot of this PE's half must hold exactly that: nobody left the barrier
/// before all had written, and nobody could write round `r + 2` into it before this PE entered barrier
/// `r + 1`. `tag` differs between calls, so values left by an earlier call never pass for this one's.
fn phases(
    sh: &shmem::Shmem,
    buf: &shmem::SymVec<u64>,
    team: i32,
    world: &[u32],
    rounds: u64,
    tag: u64,
    what: &str,
) -> Result<(), String> {
    let n_world = sh.n_pes() as usize;
    let me = team::my_pe(team) as usize;
    check!(world.len() == team::n_pes(team) as usize, "{what}: team size");
    for r in 1..=rounds {
        let base = (r % 2) as usize * n_world;
        let v = tag << 32 | r;
        for &pe in world {
            ok!(buf.put(pe, base + world[me] as usize, &[v]));
        }
        ok!(sh.quiet());
        ok!(team::sync(team));
        let seen = ok!(buf.to_vec());
        for (i, &pe) in world.iter().enumerate() {
            let s = seen[base + pe as usize];
            check!(
                s == v,
                "{what}: round {r}: member {i} (PE {pe})'s slot on PE {} holds {s:#x}, not {v:#x}",
                world[me]
            );
        }
    }
    // Every member has checked its last round before the buffer is used again.
    ok!(team::sync(team));
    Ok(())
}

fn barrier_phases() -> Result<(), String> {
    let node_of = place_on_node()?;
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    check!(node_of.len() == n as usize, "{SIZES_VAR} covers {} PEs, the job has {n}", node_of.len());
    let rounds: u64 = std::env::var("SHMEM_TEST_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let t = Instant::now();
    let buf = ok!(sh.alloc_zeroed::<u64>(2 * n as usize));
    let world: Vec<u32> = (0..n).collect();
    phases(&sh, &buf, TEAM_WORLD, &world, rounds, 1, "TEAM_WORLD")?;
    let nodes = node_of.iter().max().map_or(0, |&m| m + 1);
    // TEAM_NODE: the node-local phase alone.
    let node_team: Vec<u32> = (0..n).filter(|&p| node_of[p as usize] == node_of[me as usize]).collect();
    phases(&sh, &buf, team::TEAM_NODE, &node_team, rounds / 4, 2, "TEAM_NODE")?;
    ok!(sh.barrier_all());
    // Strided teams of every other PE, starting at 0 and at 1: they cross the nodes unevenly (and, for the
    // layouts of the trials, one of them has one PE per node).
    for start in 0..2u32.min(n) {
        let size = (n - start).div_ceil(2);
        let t = ok!(team::split_strided(TEAM_WORLD, start as i32, 2, size as i32));
        let members: Vec<u32> = (0..size).map(|i| start + 2 * i).collect();
        if members.contains(&me) {
            check!(t != TEAM_INVALID, "PE {me} is in the strided team from {start}");
            let what = format!("strided team from PE {start} over {nodes} nodes");
            phases(&sh, &buf, t, &members, rounds / 2, 3 + start as u64, &what)?;
            ok!(team::destroy(t));
        } else {
            check!(t == TEAM_INVALID, "PE {me} is not in the strided team from {start}");
        }
        ok!(sh.barrier_all());
    }
    ok!(buf.free());
    if me == 0 {
        println!("{n} PEs on nodes {node_of:?}: {:?}", t.elapsed());
    }
    ok!(sh.finalize());
    Ok(())
}

/// 4 PEs on 2 nodes of 2: PE 2 (node 1's leader) enters a barrier and stops itself (SIGSTOP) while its node
/// peer is late; PE 0 waits for node 1 across the network, times out, and names PE 2. PE 0 resumes PE 2 after.
fn barrier_names_frozen_leader() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let pids = ok!(sh.alloc_zeroed::<u64>(4));
    ok!(pids.put(0, me as usize, &[std::process::id() as u64]));
    ok!(sh.barrier_all());
    match me {
        2 => {
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                // SAFETY: plain signal to this process.
                unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
            });
            let _ = sh.barrier_all();
            std::thread::sleep(Duration::from_millis(500));
        }
        0 => {
            std::thread::sleep(Duration::from_millis(600));
            let t = Instant::now();
            let e = sh.barrier_all().unwrap_err();
            let pid2 = ok!(pids.to_vec())[2];
            // SAFETY: plain signal to the PE 2 process of this job.
            unsafe { libc::kill(pid2 as i32, libc::SIGCONT) };
            check!(e.code() == -7, "expected TIMEOUT, got {e}");
            check!(e.to_string().contains("PEs that did not arrive: [2]"), "the message must name PE 2: {e}");
            check!(t.elapsed() < Duration::from_secs(10), "timeout took {:?}", t.elapsed());
        }
        _ => {
            std::thread::sleep(Duration::from_millis(600));
            let _ = sh.barrier_all();
            std::thread::sleep(Duration::from_secs(6));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}

/// Node layouts: 3 uneven nodes; 5 nodes of one PE (flat); 8 PEs on 5 uneven nodes; one node of 5; 3 nodes of 2
/// (the strided team from PE 0 has one PE per node).
const LAYOUTS: &[&str] = &["3,1,2", "1,1,1,1,1", "2,1,1,3,1", "5", "2,2,2"];

pub fn special_trials() -> Vec<Trial> {
    let mut v: Vec<Trial> = LAYOUTS
        .iter()
        .map(|&layout| {
            let n: u32 = layout.split(',').map(|s| s.parse::<u32>().unwrap()).sum();
            let name = format!("barrier_phases_nodes_{}_{n}pe", layout.replace(',', "_"));
            Trial::test(name, move || {
                let env = [("SHMEM_DATA_OP_ENGINE", "MTE|TCP"), (SIZES_VAR, layout)];
                let res = runner::run(n, "barrier_phases", &env, Duration::from_secs(300))?;
                Ok(runner::every_pe_ok(&res)?)
            })
        })
        .collect();
    v.push(Trial::test("barrier_names_frozen_leader_4pe_mte_tcp_2ppn", || {
        let env =
            [("SHMEM_CONTROL_TIMEOUT", "2"), ("SHMEM_DATA_OP_ENGINE", "MTE|TCP"), (runner::PES_PER_NODE_VAR, "2")];
        let res = runner::run(4, "barrier_names_frozen_leader", &env, Duration::from_secs(40))?;
        Ok(runner::every_pe_ok(&res)?)
    }));
    v
}
