//! End to end: `shmem-bench` runs its jobs (the 2-PE job once with MTE and once with SDMA, the barrier-only
//! job) and its in-process references with a tiny plan and reports a value for every row.

use std::process::Command;

#[test]
fn shmem_bench_reports_every_row() {
    let json = std::env::temp_dir().join(format!("shmem-bench-smoke-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_shmem-bench"))
        .args(["--quick", "--batch-ms", "0.2", "--batches", "1", "--max-bw", "64K", "--barrier-pes", "3"])
        .args(["--engines", "mte,sdma", "--timeout", "120", "--json"])
        .arg(&json)
        .output()
        .expect("run shmem-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "shmem-bench failed: {}\n{stdout}\n{stderr}", out.status);
    for metric in ["put_lat", "get_lat", "put_signal_oneway", "fetch_add", "put_bw", "get_bw", "barrier"] {
        assert!(stdout.lines().any(|l| l.starts_with(metric)), "no {metric} row in\n{stdout}");
    }
    for metric in ["put_nbi_issue", "overlap", "put_lat[sdma]", "put_nbi_issue[sdma]", "overlap[sdma]"] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{metric} "))), "no {metric} row in\n{stdout}");
    }
    assert!(stdout.contains("Engines side by side") && stdout.contains("sdma/mte"), "{stdout}");
    assert!(stdout.contains("engines: mte, sdma ("), "no SDMA channel count in\n{stdout}");
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    std::fs::remove_file(&json).ok();
    let rows: Vec<&str> = text.lines().filter(|l| l.trim_start().starts_with("{\"metric\"")).collect();
    // Per engine: 4 latency sizes x 4 metrics, 3 fetch-add rows, 3 bandwidth sizes x 3 metrics, 4 put_nbi_issue
    // sizes, 4 overlap rows, the 2-PE barrier; the barrier on 3 PEs (MTE only).
    assert_eq!(rows.len(), 2 * (16 + 3 + 9 + 4 + 4 + 1) + 1, "{text}");
    for r in &rows {
        assert!(!r.contains("\"ours\": null"), "a row without our value: {r}");
    }
    assert!(rows.iter().any(|r| r.contains("\"metric\": \"barrier\", \"size\": 3")), "{text}");
    assert!(rows.iter().any(|r| r.contains("\"metric\": \"overlap[sdma]\"")), "{text}");
    assert!(text.contains("\"engines\": [\"mte\", \"sdma\"]"), "{text}");
}
