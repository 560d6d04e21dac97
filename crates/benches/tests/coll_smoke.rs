//! End to end: `coll-bench` runs one job per PE count with a tiny plan and prints one complete table (every row
//! with our value; with `--with-openshmem`, the reference's value and the ratio). The reference script is a stub
//! here (it prints fixed OSHMEM lines and records its arguments), so the test needs no Open MPI; a second test
//! runs the real `benches/reference/run.sh` when `oshrun` is installed and is skipped otherwise.

use std::path::Path;
use std::process::Command;

/// Runs `coll-bench` with `args`; returns (stdout, the JSON document).
fn run(tag: &str, args: &[&str]) -> (String, serde_json::Value) {
    let json = std::env::temp_dir().join(format!("coll-bench-smoke-{tag}-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_coll-bench"))
        .args(["--quick", "--batch-ms", "0.2", "--batches", "1", "--timeout", "120", "--json"])
        .arg(&json)
        .args(args)
        .output()
        .expect("run coll-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "coll-bench failed: {}\n{stdout}\n{stderr}", out.status);
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    std::fs::remove_file(&json).ok();
    (stdout, serde_json::from_str(&text).expect("valid JSON"))
}

/// The rows every (PE count, size) must have: the barrier once per PE count, broadcast and sum-reduce per size.
fn expected(pes: &[u32], sizes: &[u64]) -> Vec<(String, u32, u64)> {
    let mut want = Vec::new();
    for &n in pes {
        want.push(("barrier_all".to_string(), n, 0));
        for c in ["broadcast", "sum_reduce (f64)"] {
            for &s in sizes {
                want.push((c.to_string(), n, s));
            }
        }
    }
    want
}

fn keys(doc: &serde_json::Value) -> Vec<(String, u32, u64)> {
    let rows = doc["rows"].as_array().expect("rows");
    rows.iter()
        .map(|r| {
            let c = r["collective"].as_str().expect("collective").to_string();
            (c, r["pes"].as_u64().expect("pes") as u32, r["bytes"].as_u64().expect("bytes"))
        })
        .collect()
}

#[test]
fn coll_bench_table_is_complete_with_ratios() {
    let dir = std::env::temp_dir().join(format!("coll-bench-smoke-ws-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("benches/reference")).unwrap();
    let argfile = dir.join("args.txt");
    // The stub answers like run.sh --coll: per PE count a barrier line and a line per collective and size.
    let stub = format!(
        "#!/usr/bin/env bash\necho \"$@\" >> {}\nfor np in ${{2//,/ }}; do\n  echo \"osh barrier_lat $np 1000.0 ns\"\n  \
         for s in 8 4096; do\n    echo \"osh broadcast_${{np}}pe $s 2000.0 ns\"\n    \
         echo \"osh sum_reduce_${{np}}pe $s 4000.0 ns\"\n  done\ndone\n",
        argfile.display()
    );
    std::fs::write(dir.join("benches/reference/run.sh"), stub).unwrap();
    let ws = dir.display().to_string();
    let (stdout, doc) = run("stub", &["--pes", "2,3", "--max", "4K", "--with-openshmem", "--workspace", &ws]);
    let args = std::fs::read_to_string(&argfile).expect("the stub ran");
    std::fs::remove_dir_all(&dir).ok();
    // One reference run per PE count, right after our job of that count.
    assert_eq!(
        args,
        "--coll 2 --coll-max 4096 --timeout 300 --quick\n--coll 3 --coll-max 4096 --timeout 300 --quick\n"
    );
    assert_eq!(keys(&doc), expected(&[2, 3], &[8, 4096]), "{doc}");
    for r in doc["rows"].as_array().unwrap() {
        let (ours, osh) = (r["ours_ns"].as_f64(), r["osh_ns"].as_f64());
        let ours = ours.unwrap_or_else(|| panic!("a row without our value: {r}"));
        assert!(ours > 0.0, "{r}");
        let want_osh = match (r["collective"].as_str().unwrap(), r["bytes"].as_u64().unwrap()) {
            ("barrier_all", _) => 1000.0,
            ("broadcast", _) => 2000.0,
            _ => 4000.0,
        };
        assert_eq!(osh, Some(want_osh), "{r}");
        // (serde_json's default parser may round the last bit differently: compare with a tolerance.)
        let ratio = r["ratio"].as_f64().unwrap_or_else(|| panic!("no ratio: {r}"));
        assert!((ratio - ours / want_osh).abs() <= 1e-12 * ratio, "{r}");
    }
    // The printed table: a header, a separator and one line per row, each with a ratio.
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(lines.len(), 2 + 10, "{stdout}");
    assert!(lines[0].contains("ours/OSHMEM"), "{stdout}");
    assert!(lines[2..].iter().all(|l| l.contains("x |")), "a row without a ratio:\n{stdout}");
    assert!(stdout.contains("target ours/OSHMEM <= 1.0x: ") && stdout.contains(" of 10 rows met"), "{stdout}");
    assert!(stdout.contains("load average"), "no load in the header:\n{stdout}");
}

#[test]
fn coll_bench_beside_open_mpi_when_installed() {
    let have = |tool: &str| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| Path::new(&d).join(tool).exists()))
    };
    if !(have("oshrun") && have("oshcc")) {
        eprintln!("skipped: Open MPI's oshrun/oshcc are not installed (benches/reference/install.sh)");
        return;
    }
    let (stdout, doc) = run("osh", &["--pes", "2", "--max", "4K", "--with-openshmem"]);
    assert_eq!(keys(&doc), expected(&[2], &[8, 4096]), "{doc}");
    for r in doc["rows"].as_array().unwrap() {
        assert!(r["ours_ns"].as_f64().is_some_and(|v| v > 0.0), "no value of ours: {r}");
        assert!(r["osh_ns"].as_f64().is_some_and(|v| v > 0.0), "no value of OSHMEM: {r}\n{stdout}");
        assert!(r["ratio"].is_number(), "{r}");
    }
}
