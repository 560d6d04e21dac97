//! Runs a scenario as a real multi-process job: N OS processes of this test binary, each with the launch
//! environment shmemrun would give it, a real TCP store, real shared memory. Every job has a deadline; on
//! expiry all PEs are killed and the trial fails. After each job no shared-memory object of the job may be
//! left in /dev/shm.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Environment variable naming the scenario a child process runs.
pub const SCENARIO_VAR: &str = "SHMEM_TEST_SCENARIO";

/// What one PE did.
/// The runner gives PEs `pe / k` the same `SHMEM_NODE_ID`, making nodes of `k` PEs (and passes the variable on,
/// for scenarios that check node teams).
pub const PES_PER_NODE_VAR: &str = "SHMEM_TEST_PES_PER_NODE";

/// Not passed on: a comma-separated list of network namespaces; node i's PEs run inside the i-th.
pub const NETNS_VAR: &str = "SHMEM_TEST_NETNS";

#[derive(Debug)]
pub struct PeResult {
    pub code: i32,
    pub output: String,
}

/// Runs `scenario` on `n` PEs and returns each PE's exit code and output.
pub fn run(n: u32, scenario: &str, extra_env: &[(&str, &str)], deadline: Duration) -> Result<Vec<PeResult>, String> {
    let spec = shmem_run::JobSpec::new(n, std::env::current_exe().unwrap());
    let port = shmem_run::free_port().map_err(|e| e.to_string())?;
    let token = shmem_run::random_hex(16).map_err(|e| e.to_string())?;
    let prefix = format!("shmem-test-{}-{}", std::process::id(), shmem_run::random_hex(3).unwrap());
    let mut children: Vec<Child> = Vec::new();
    for pe in 0..n {
        let netns = extra_env.iter().find(|(k, _)| *k == NETNS_VAR).map(|(_, v)| *v);
        let mut cmd = match netns {
            // PE pe runs inside network namespace number pe / k of the list (k from PES_PER_NODE_VAR).
            Some(list) => {
                let per: u32 = extra_env
                    .iter()
                    .find(|(k, _)| *k == PES_PER_NODE_VAR)
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(1);
                let spaces: Vec<&str> = list.split(',').collect();
                let ns = spaces.get((pe / per.max(1)) as usize).ok_or("fewer network namespaces than nodes")?;
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(std::env::current_exe().unwrap());
                c
            }
            None => Command::new(std::env::current_exe().unwrap()),
        };
        cmd.envs(shmem_run::pe_env(&spec, pe, port, &token, &prefix))
            .env(SCENARIO_VAR, scenario)
            .env("SHMEM_SYMMETRIC_SIZE", "80M")
            .env("SHMEM_INIT_TIMEOUT", "30")
            .env("SHMEM_CONTROL_TIMEOUT", "30")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            if *k == NETNS_VAR {
                continue;
            } else if *k == PES_PER_NODE_VAR {
                // Several "nodes" on this machine: PEs pe/k share one SHMEM_NODE_ID.
                let per: u32 = v.parse().map_err(|_| format!("{PES_PER_NODE_VAR}={v} is not a number"))?;
                cmd.env("SHMEM_NODE_ID", format!("test-node-{}", pe / per.max(1))).env(k, v);
            } else {
                cmd.env(k, v);
            }
        }
        children.push(cmd.spawn().map_err(|e| format!("spawn PE {pe}: {e}"))?);
    }
    let res = wait_job(children, deadline, &format!("job {scenario} on {n} PEs"), || Ok(()));
    if res.is_err() {
        shmem_run::remove_shm_segments(std::path::Path::new(shmem_run::SHM_DIR), &prefix).ok();
    }
    let res = res?;
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|f| f.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    if !left.is_empty() {
        shmem_run::remove_shm_segments(std::path::Path::new(shmem_run::SHM_DIR), &prefix).ok();
        return Err(format!("job {scenario} left shared-memory objects behind: {left:?}"));
    }
    Ok(res)
}

/// Collects the output of started PEs (stdout and stderr piped), runs `during` while they run, and waits for all
/// to exit; past `deadline` every PE is killed and the job is an error (`what` names it) with every output.
pub fn wait_job(
    mut children: Vec<Child>,
    deadline: Duration,
    what: &str,
    during: impl FnOnce() -> Result<(), String>,
) -> Result<Vec<PeResult>, String> {
    let readers: Vec<_> = children
        .iter_mut()
        .map(|c| {
            let (mut out, mut err) = (c.stdout.take().unwrap(), c.stderr.take().unwrap());
            std::thread::spawn(move || {
                let (mut s, mut e) = (String::new(), String::new());
                let _ = out.read_to_string(&mut s);
                let _ = err.read_to_string(&mut e);
                s + &e
            })
        })
        .collect();
    let during_result = during();
    let start = Instant::now();
    let mut codes: Vec<Option<i32>> = vec![None; children.len()];
    while codes.iter().any(Option::is_none) {
        for (i, c) in children.iter_mut().enumerate() {
            if codes[i].is_none() {
                if let Some(st) = c.try_wait().map_err(|e| e.to_string())? {
                    use std::os::unix::process::ExitStatusExt;
                    codes[i] = Some(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)));
                }
            }
        }
        if start.elapsed() > deadline {
            for c in children.iter_mut() {
                let _ = c.kill();
                let _ = c.wait();
            }
            let outs: Vec<String> = readers.into_iter().map(|r| r.join().unwrap_or_default()).collect();
            return Err(format!("{what} passed its deadline of {deadline:?}; outputs: {outs:#?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let outs: Vec<String> = readers.into_iter().map(|r| r.join().unwrap_or_default()).collect();
    during_result?;
    Ok(codes.into_iter().zip(outs).map(|(c, o)| PeResult { code: c.unwrap(), output: o }).collect())
}

/// `Err` listing every PE that did not exit 0, with its output.
pub fn every_pe_ok(res: &[PeResult]) -> Result<(), String> {
    let bad: Vec<String> = res
        .iter()
        .enumerate()
        .filter(|(_, r)| r.code != 0)
        .map(|(i, r)| format!("PE {i} exited {}:\n{}", r.code, r.output))
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad.join("\n"))
    }
}

/// Runs `scenario` and requires every PE to exit 0.
pub fn run_ok(n: u32, scenario: &str, extra_env: &[(&str, &str)]) -> Result<(), String> {
    let res = run(n, scenario, extra_env, Duration::from_secs(90))?;
    every_pe_ok(&res).map_err(|bad| format!("scenario {scenario} on {n} PEs failed:\n{bad}"))
}
