//! End to end: `shmem-bench` runs its two jobs and its in-process references with a tiny plan and reports a
//! value for every row.

use std::process::Command;

#[test]
fn shmem_bench_reports_every_row() {
    let json = std::env::temp_dir().join(format!("shmem-bench-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_shmem-bench"))
        .args(["--quick", "--batch-ms", "0.2", "--batches", "1", "--max-bw", "64K", "--barrier-pes", "3"])
        .args(["--timeout", "120", "--json"])
        .arg(&json)
        .output()
        .expect("run shmem-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "shmem-bench failed: {}\n{stdout}\n{stderr}", out.status);
    for metric in ["put_lat", "get_lat", "put_signal_oneway", "fetch_add", "put_bw", "get_bw", "barrier"] {
        assert!(stdout.lines().any(|l| l.starts_with(metric)), "no {metric} row in\n{stdout}");
    }
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    std::fs::remove_file(&json).ok();
    let rows: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("{\"metric\"")).collect();
    // 4 latency sizes x 4 metrics, 3 fetch-add rows, 3 bandwidth sizes x 3 metrics, barriers on 2 and 3 PEs.
    assert_eq!(rows.len(), 16 + 3 + 9 + 2, "{text}");
    for r in &rows {
        assert!(!r.contains("\"ours\": null"), "a row without our value: {r}");
    }
    assert!(rows.iter().any(|r| r.contains("\"metric\": \"barrier\", \"size\": 3")), "{text}");
}
