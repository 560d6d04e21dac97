//! `shmemrun --timeout` / `--grace` with durations no deadline can hold (issue 10, defect 1): a usage error
//! (exit 2) naming the limit, never a panic (exit 101) and never a started job. A `JobSpec` built in code
//! with a huge timeout or grace runs without panicking too.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn out_of_range_durations_are_usage_errors() {
    for opt in ["--timeout", "--grace"] {
        for bad in ["1e19", "-1", "nan", "inf", "9223372036854775808", "31536001"] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_shmemrun"))
                .args(["-n", "1", opt, bad, "--", "sh", "-c", "echo started"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let t = Instant::now();
            while child.try_wait().unwrap().is_none() {
                assert!(t.elapsed() < Duration::from_secs(10), "shmemrun {opt} {bad} did not end");
                std::thread::sleep(Duration::from_millis(5));
            }
            let out = child.wait_with_output().unwrap();
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(2), "{opt} {bad}: {stderr}");
            assert!(stderr.contains("31536000") && !stderr.contains("panicked"), "{opt} {bad}: {stderr}");
            assert!(!stdout.contains("started"), "{opt} {bad}: the job ran");
        }
    }
}

#[test]
fn a_job_spec_with_huge_durations_runs() {
    let mut spec = shmem_run::JobSpec::new(2, "sh");
    spec.args = vec!["-c".into(), "exit 0".into()];
    spec.timeout = Some(Duration::MAX);
    spec.grace = Duration::MAX;
    spec.prefix_output = true;
    let out = shmem_run::run_job(&spec).unwrap();
    assert_eq!(out.exit_code(), 0);
}
