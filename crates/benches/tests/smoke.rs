//! End to end: `shmem-bench` runs its jobs (the 2-PE job once with MTE and once with SDMA, the barrier-only
//! job) and its in-process references with a tiny plan, reports a value for every row, writes its JSON through
//! `--json` and its charts through `--plot` (parsed back: valid JSON, valid SVG naming every series).

use std::process::Command;

#[test]
fn shmem_bench_reports_every_row() {
    let json = std::env::temp_dir().join(format!("shmem-bench-smoke-{}.json", std::process::id()));
    let plot = std::env::temp_dir().join(format!("shmem-bench-smoke-{}-plots", std::process::id()));
    std::fs::remove_dir_all(&plot).ok();
    let out = Command::new(env!("CARGO_BIN_EXE_shmem-bench"))
        .args(["--quick", "--batch-ms", "0.2", "--batches", "1", "--max-bw", "64K", "--barrier-pes", "3"])
        .args(["--engines", "mte,sdma", "--timeout", "120", "--json"])
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
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
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let rows = doc["rows"].as_array().expect("rows");
    // Per engine: 4 latency sizes x 4 metrics, 3 fetch-add rows, 3 bandwidth sizes x 3 metrics, 4 put_nbi_issue
    // sizes, 4 overlap rows, the 2-PE barrier; the barrier on 3 PEs (MTE only).
    assert_eq!(rows.len(), 2 * (16 + 3 + 9 + 4 + 4 + 1) + 1, "{text}");
    for r in rows {
        assert!(r["ours"].is_number(), "a row without our value: {r}");
    }
    assert!(rows.iter().any(|r| r["metric"] == "barrier" && r["size"] == 3), "{text}");
    assert!(rows.iter().any(|r| r["metric"] == "overlap[sdma]"), "{text}");
    assert_eq!(doc["plan"]["engines"], serde_json::json!(["mte", "sdma"]), "{text}");
    assert_eq!(doc["plan"]["barrier_pes"], serde_json::json!([3]), "{text}");
    assert!(doc["plan"]["sdma_channels"]["sdma"].as_u64().is_some_and(|c| c >= 1), "{text}");
    let put8 = rows.iter().find(|r| r["metric"] == "put_lat" && r["size"] == 8).expect("put_lat 8");
    assert_eq!(
        (&put8["unit"], &put8["reference_is"], &put8["openshmem"]),
        (&"ns".into(), &"memcpy".into(), &serde_json::Value::Null)
    );
    let ours = doc["ours"].as_array().expect("raw lines");
    assert!(ours.iter().any(|l| l["source"] == "ours" && l["metric"] == "put_lat" && l["value"].is_number()), "{text}");
    assert!(doc["targets"].as_array().is_some_and(|t| t.iter().all(|t| t["bound"].is_number())), "{text}");

    // --plot: one valid SVG per family, each naming every engine set and its physical reference.
    let families = ["latency-put", "latency-get", "latency-put-signal", "bandwidth-put", "bandwidth-get"];
    let mut names: Vec<String> = std::fs::read_dir(&plot)
        .expect("the plot directory")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = families.iter().map(|f| format!("{f}.svg")).collect();
    want.sort();
    assert_eq!(names, want);
    for family in families {
        let svg = std::fs::read_to_string(plot.join(format!("{family}.svg"))).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{family}.svg is not XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg", "{family}");
        let texts: Vec<&str> =
            doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
        let reference = if family == "latency-put-signal" {
            "flag hand-off (physical reference)"
        } else {
            "memcpy (physical reference)"
        };
        for series in ["MTE", "SDMA", reference] {
            assert!(texts.contains(&series), "{family}.svg has no series {series:?}: {texts:?}");
        }
        assert!(!texts.contains(&"Open MPI OSHMEM"), "no OpenSHMEM line without --with-openshmem");
        assert!(
            texts.iter().any(|t| t.contains(" cores; ") && t.contains("quick plan")),
            "{family}.svg caption: {texts:?}"
        );
        // A marker per point: 3 series (MTE, SDMA, the reference) of 4 latency or 3 bandwidth sizes.
        let points = if family.starts_with("latency") { 3 * 4 } else { 3 * 3 };
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), points, "{family}.svg");
    }
    std::fs::remove_dir_all(&plot).ok();
}

/// The TCP section: PE 0 and PE 1 as two nodes on loopback (and, as root, in two network namespaces); every
/// TCP row has our value and the raw TCP reference measured in the same job, the TCP targets are checked, and
/// the charts carry the TCP lines beside the MTE ones.
#[test]
fn shmem_bench_tcp_section() {
    let netns = std::env::var("SHMEM_TEST_SKIP_NETNS").as_deref() != Ok("1") && is_root();
    let sets = if netns { "mte,tcp,tcp-netns" } else { "mte,tcp" };
    let json = std::env::temp_dir().join(format!("shmem-bench-smoke-tcp-{}.json", std::process::id()));
    let plot = std::env::temp_dir().join(format!("shmem-bench-smoke-tcp-{}-plots", std::process::id()));
    std::fs::remove_dir_all(&plot).ok();
    let out = Command::new(env!("CARGO_BIN_EXE_shmem-bench"))
        .args(["--quick", "--batch-ms", "0.2", "--batches", "1", "--max-bw", "1M", "--barrier-pes", "2"])
        .args(["--engines", sets, "--timeout", "120", "--json"])
        .arg(&json)
        .arg("--plot")
        .arg(&plot)
        .output()
        .expect("run shmem-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "shmem-bench failed: {}\n{stdout}\n{stderr}", out.status);
    let text = std::fs::read_to_string(&json).expect("the JSON file");
    std::fs::remove_file(&json).ok();
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let rows = doc["rows"].as_array().expect("rows");
    let suffixes: &[&str] = if netns { &["[tcp]", "[tcp-netns]"] } else { &["[tcp]"] };
    for sfx in suffixes {
        let of = |m: &str| rows.iter().filter(|r| r["metric"] == format!("{m}{sfx}")).collect::<Vec<_>>();
        // 4 latency sizes of put/get/put-signal, fetch-add, 5 bandwidth sizes (4 KiB to 1 MiB) of put/get, each
        // also as a stream.
        let counts = [("put_lat", 4), ("get_lat", 4), ("put_signal_oneway", 4), ("fetch_add", 1)];
        let bw = [("put_bw", 5), ("put_stream_bw", 5), ("get_bw", 5), ("get_stream_bw", 5)];
        for (m, n) in counts.into_iter().chain(bw) {
            let rs = of(m);
            assert_eq!(rs.len(), n, "{m}{sfx}: {text}");
            for r in rs {
                assert!(r["ours"].is_number() && r["reference"].is_number(), "{m}{sfx} without values: {r}");
            }
        }
        let put8 = of("put_lat")[0];
        assert_eq!(put8["reference_is"], "raw TCP round trip", "{put8}");
        assert_eq!(of("put_signal_oneway")[0]["reference_is"], "raw TCP one-way");
        assert_eq!(of("put_bw")[0]["reference_is"], "raw TCP stream");
        let targets = doc["targets"].as_array().expect("targets");
        for what in [
            format!("put_lat{sfx} 8 B / raw TCP round trip"),
            format!("put_stream_bw{sfx} >= 1 MiB / raw TCP stream"),
            format!("get_stream_bw{sfx} >= 1 MiB / raw TCP stream"),
        ] {
            assert!(
                targets.iter().any(|t| t["target"] == what.as_str() && t["value"].is_number()),
                "no target {what}: {text}"
            );
        }
    }
    let svg = std::fs::read_to_string(plot.join("latency-put.svg")).expect("latency-put.svg");
    let doc = roxmltree::Document::parse(&svg).expect("XML");
    let texts: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
    for series in ["MTE", "MTE|TCP (2 nodes, loopback)", "raw TCP (loopback)"] {
        assert!(texts.contains(&series), "no series {series:?}: {texts:?}");
    }
    if netns {
        assert!(texts.contains(&"MTE|TCP (2 network namespaces)") && texts.contains(&"raw TCP (2 network namespaces)"));
    }
    std::fs::remove_dir_all(&plot).ok();
}

/// Whether this process runs as root (network namespaces need it).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}
