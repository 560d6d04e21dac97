//! Multi-process tests of the runtime. Without `SHMEM_TEST_SCENARIO`, this binary is a libtest-mimic harness
//! whose trials each start a job of N processes of itself; with it set, the process is one PE of that job and
//! runs the named scenario.

#![allow(unreachable_pub)]

mod agreement;
mod barriers;
mod binding;
mod coll_back_to_back;
mod coll_hook;
mod coll_posted;
mod coll_tiny;
mod collectives;
mod ctxlock;
mod lifecycle;
mod netns;
mod rma;
mod runner;
mod security;
mod sync;
mod teams;
mod tls;

use libtest_mimic::{Arguments, Failed, Trial};

/// A scenario body: runs as one PE, returns a description of what was wrong.
pub type Scenario = fn() -> Result<(), String>;

/// Fails the scenario with a formatted message unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {{
        let holds: bool = $cond;
        if !holds {
            return Err(format!("{}:{}: {}", file!(), line!(), format!($($fmt)+)));
        }
    }};
}

/// Unwraps a runtime result inside a scenario.
#[macro_export]
macro_rules! ok {
    ($e:expr) => {
        $e.map_err(|e| format!("{}:{}: {} failed: {e} (code {})", file!(), line!(), stringify!($e), e.code()))?
    };
}

/// Exactly this error code, or a description of what came instead (the scenarios' check of a refused call).
pub(crate) fn code_is(r: shmem::Result<()>, code: i32, what: &str) -> Result<(), String> {
    match r {
        Err(e) if e.code() == code => Ok(()),
        other => Err(format!("{what}: expected code {code}, got {other:?}")),
    }
}

fn scenarios() -> Vec<(&'static str, Scenario)> {
    let mut v = Vec::new();
    v.extend(agreement::SCENARIOS.iter().copied());
    v.extend(collectives::SCENARIOS.iter().copied());
    v.extend(coll_back_to_back::SCENARIOS.iter().copied());
    v.extend(coll_hook::SCENARIOS.iter().copied());
    v.extend(coll_posted::SCENARIOS.iter().copied());
    v.extend(coll_tiny::SCENARIOS.iter().copied());
    v.extend(ctxlock::SCENARIOS.iter().copied());
    v.extend(barriers::SCENARIOS.iter().copied());
    v.extend(binding::SCENARIOS.iter().copied());
    v.extend(lifecycle::SCENARIOS.iter().copied());
    v.extend(rma::SCENARIOS.iter().copied());
    v.extend(sync::SCENARIOS.iter().copied());
    v.extend(teams::SCENARIOS.iter().copied());
    v.extend(tls::SCENARIOS.iter().copied());
    v.extend(security::SCENARIOS.iter().copied());
    v.extend(netns::SCENARIOS.iter().copied());
    v
}

/// (trial name, scenario, PE counts) of the engine-independent scenarios.
fn trials() -> Vec<(&'static str, &'static [u32])> {
    let mut v = Vec::new();
    v.extend(agreement::TRIALS.iter().copied());
    v.extend(collectives::TRIALS.iter().copied());
    v.extend(coll_back_to_back::TRIALS.iter().copied());
    v.extend(coll_posted::TRIALS.iter().copied());
    v.extend(coll_tiny::TRIALS.iter().copied());
    v.extend(ctxlock::PLAIN_TRIALS.iter().copied());
    v.extend(lifecycle::TRIALS.iter().copied());
    v.extend(teams::TRIALS.iter().copied());
    v
}

/// The data-path suites, run once per engine set (issue 7: parametrized, not copied).
fn engine_trials() -> Vec<(&'static str, &'static [u32])> {
    let mut v = Vec::new();
    v.extend(rma::TRIALS.iter().copied());
    v.extend(coll_hook::TRIALS.iter().copied());
    v.extend(ctxlock::TRIALS.iter().copied());
    v.extend(sync::TRIALS.iter().copied());
    v
}

/// (trial-name suffix, environment) per engine set. With MTE|SDMA every transfer from 1 byte (nbi) or 4 KiB
/// (blocking) goes to the copy engine, so that both engines carry traffic in one job.
const ENGINE_SETS: &[(&str, &[(&str, &str)])] = &[
    ("", &[]),
    ("_sdma", &[("SHMEM_DATA_OP_ENGINE", "SDMA")]),
    (
        "_mte_sdma",
        &[("SHMEM_DATA_OP_ENGINE", "MTE|SDMA"), ("SHMEM_SDMA_NBI_MIN", "1"), ("SHMEM_SDMA_BLOCKING_MIN", "4K")],
    ),
    // Every PE on a node of its own: all traffic over TCP.
    ("_tcp", &[("SHMEM_DATA_OP_ENGINE", "TCP"), (runner::PES_PER_NODE_VAR, "1")]),
    // Nodes of two PEs: MTE inside a node, TCP between nodes.
    ("_mte_tcp_2ppn", &[("SHMEM_DATA_OP_ENGINE", "MTE|TCP"), (runner::PES_PER_NODE_VAR, "2")]),
];

/// Engine sets over RDMA verbs: built with the `roce` feature, run where a verbs device exists (the soft-RoCE
/// VM of scripts/test-roce-vm.sh selects them by name). Every PE on a node of its own (all traffic over ROCE),
/// and nodes of two PEs (MTE inside a node, ROCE between nodes).
#[cfg(feature = "roce")]
const ROCE_SETS: &[(&str, &[(&str, &str)])] = &[
    ("_roce", &[("SHMEM_DATA_OP_ENGINE", "ROCE"), (runner::PES_PER_NODE_VAR, "1")]),
    ("_mte_roce_2ppn", &[("SHMEM_DATA_OP_ENGINE", "MTE|ROCE"), (runner::PES_PER_NODE_VAR, "2")]),
];
#[cfg(not(feature = "roce"))]
const ROCE_SETS: &[(&str, &[(&str, &str)])] = &[];

fn main() {
    if let Ok(name) = std::env::var(runner::SCENARIO_VAR) {
        let f = scenarios().into_iter().find(|(n, _)| *n == name).map(|(_, f)| f);
        let Some(f) = f else {
            eprintln!("unknown scenario {name}");
            std::process::exit(101);
        };
        match f() {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("scenario {name} failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let args = Arguments::from_args();
    let mut tests: Vec<Trial> = Vec::new();
    for (name, counts) in trials() {
        for &n in counts {
            tests
                .push(Trial::test(format!("{name}_{n}pe"), move || runner::run_ok(n, name, &[]).map_err(Failed::from)));
        }
    }
    for &(suffix, env) in ENGINE_SETS.iter().chain(ROCE_SETS) {
        for (name, counts) in engine_trials() {
            for &n in counts {
                tests.push(Trial::test(format!("{name}_{n}pe{suffix}"), move || {
                    runner::run_ok(n, name, env).map_err(Failed::from)
                }));
            }
        }
    }
    // Teams across nodes: the node team, splits and team barriers with TCP between nodes.
    for &(suffix, env) in ENGINE_SETS.iter().filter(|(suffix, _)| suffix.contains("tcp")) {
        for &(name, counts) in teams::TRIALS {
            for &n in counts {
                tests.push(Trial::test(format!("{name}_{n}pe{suffix}"), move || {
                    runner::run_ok(n, name, env).map_err(Failed::from)
                }));
            }
        }
    }
    // Collectives across nodes: MTE inside a node, TCP between nodes (and all-TCP).
    for &(suffix, env) in ENGINE_SETS.iter().filter(|(suffix, _)| suffix.contains("tcp")) {
        for &(name, counts) in collectives::CROSS_NODE_TRIALS {
            for &n in counts {
                tests.push(Trial::test(format!("{name}_{n}pe{suffix}"), move || {
                    runner::run_ok(n, name, env).map_err(Failed::from)
                }));
            }
        }
    }
    tests.extend(agreement::special_trials());
    tests.extend(ctxlock::special_trials());
    tests.extend(barriers::special_trials());
    tests.extend(binding::special_trials());
    tests.extend(collectives::special_trials());
    tests.extend(coll_posted::special_trials());
    tests.extend(lifecycle::special_trials());
    tests.extend(netns::special_trials());
    tests.extend(tls::special_trials());
    tests.extend(security::special_trials());
    libtest_mimic::run(&args, tests).exit();
}
