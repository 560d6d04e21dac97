//! The C-level comparison: `benches/reference/osh_bench.c`, one source, measured twice in the same run of
//! `run.sh` — compiled and launched by Open MPI's `oshcc`/`oshrun` (OSHMEM, lines `osh ...`) and by ours
//! (`crates/shmem-capi`'s `oshcc`/`oshrun` and `libshmem_capi.so`, lines `ours_c ...`). The bar is
//! that existing OpenSHMEM C programs get at least OSHMEM's latency and bandwidth on our library; this module
//! turns the two sets of lines into one row per metric and size with the ratio, plus the targets.

use crate::reference::{lookup, RefLine};
use crate::report::{self, format_size, BoundUnit, SizeKind, TargetCheck, Unit, BW_TARGET_FROM};
use serde_json::{json, Value};

/// Source of Open MPI OSHMEM's lines in the script's output.
pub const SOURCE_OPENSHMEM: &str = "osh";
/// Source of the lines of osh_bench.c built and run with our tools.
pub const SOURCE_OURS_C: &str = "ours_c";

/// osh_bench's metrics in table order, each with our Rust-API metric that measures the same operation (for
/// the informative column: what the C layer costs over the Rust API).
const METRICS: [(&str, &str); 7] = [
    ("put_lat", "put_lat"),
    ("get_lat", "get_lat"),
    ("putsig_lat", "put_signal_oneway"),
    ("fadd_lat", "fetch_add"),
    ("put_bw", "put_bw"),
    ("get_bw", "get_bw"),
    ("barrier_lat", "barrier"),
];

/// One metric and size of osh_bench under both implementations.
#[derive(Debug, Clone, PartialEq)]
pub struct CRow {
    /// osh_bench's metric name (`put_lat`, `putsig_lat`, `barrier_lat`, ...).
    pub metric: String,
    /// Message size in bytes, or the number of PEs for `barrier_lat`.
    pub size: u64,
    /// How to read `size`.
    pub size_kind: SizeKind,
    /// Unit of the values.
    pub unit: Unit,
    /// Open MPI OSHMEM's value.
    pub openshmem: Option<f64>,
    /// Ours: the same C program on our library.
    pub ours_c: Option<f64>,
    /// Ours through the Rust API (shmem-bench's own job), when it measured the same metric and size.
    pub ours_rust: Option<f64>,
}

impl CRow {
    /// ours (C) / OSHMEM.
    pub fn ratio(&self) -> Option<f64> {
        match (self.ours_c, self.openshmem) {
            (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
            _ => None,
        }
    }

    /// Whether ours is at least as good as OSHMEM (lower time, or higher bandwidth).
    pub fn at_least_as_good(&self) -> Option<bool> {
        self.ratio().map(|r| if self.unit.higher_is_better() { r >= 1.0 } else { r <= 1.0 })
    }
}

/// The rows from the reference script's lines (`osh`, `ours_c`) and shmem-bench's own (`ours`), for every
/// size that either implementation reported.
pub fn rows(script: &[RefLine], ours_rust: &[RefLine]) -> Vec<CRow> {
    let mut rows = Vec::new();
    for (metric, rust_metric) in METRICS {
        let mut sizes: Vec<u64> = script
            .iter()
            .filter(|l| l.metric == metric && (l.source == SOURCE_OPENSHMEM || l.source == SOURCE_OURS_C))
            .map(|l| l.size)
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        for size in sizes {
            rows.push(CRow {
                metric: metric.to_owned(),
                size,
                size_kind: if metric == "barrier_lat" { SizeKind::Pes } else { SizeKind::Bytes },
                unit: if metric.ends_with("_bw") { Unit::GbPerS } else { Unit::Ns },
                openshmem: lookup(script, SOURCE_OPENSHMEM, metric, size),
                ours_c: lookup(script, SOURCE_OURS_C, metric, size),
                ours_rust: lookup(ours_rust, "ours", rust_metric, size),
            });
        }
    }
    rows
}

fn value(v: Option<f64>, unit: Unit) -> String {
    match (v, unit) {
        (None, _) => "-".to_owned(),
        (Some(v), Unit::Ns) => format!("{v:.1}"),
        (Some(v), _) => format!("{v:.2}"),
    }
}

/// The side-by-side table: OSHMEM, ours via C, the ratio and whether ours is at least as good, and ours
/// through the Rust API.
pub fn table(rows: &[CRow]) -> String {
    let mut cells =
        vec![["metric", "size", "unit", "", "OpenSHMEM (C)", "ours (C)", "ours/OSH", "ours >= OSH", "ours (Rust API)"]
            .map(str::to_owned)
            .to_vec()];
    for r in rows {
        cells.push(vec![
            r.metric.clone(),
            format_size(r.size, r.size_kind),
            r.unit.as_str().to_owned(),
            String::new(),
            value(r.openshmem, r.unit),
            value(r.ours_c, r.unit),
            r.ratio().map_or_else(|| "-".to_owned(), |v| format!("{v:.2}x")),
            match r.at_least_as_good() {
                Some(true) => "yes",
                Some(false) => "NO",
                None => "-",
            }
            .to_owned(),
            value(r.ours_rust, r.unit),
        ]);
    }
    report::layout(&cells)
}

/// The C-level targets: latency (8 B put, get, fetch-add; the 2-PE barrier) at most 1.0x OSHMEM,
/// bandwidth from [`BW_TARGET_FROM`] up at least 1.0x OSHMEM at every size (the worst counts).
pub fn check_targets(rows: &[CRow]) -> Vec<TargetCheck> {
    let find = |metric: &str, size: u64| rows.iter().find(|r| r.metric == metric && r.size == size);
    let mut v = Vec::new();
    for (metric, size) in [("put_lat", 8), ("get_lat", 8), ("putsig_lat", 8), ("fadd_lat", 8), ("barrier_lat", 2)] {
        let kind = if metric == "barrier_lat" { SizeKind::Pes } else { SizeKind::Bytes };
        v.push(TargetCheck {
            what: format!("C {metric} {} / OpenSHMEM", format_size(size, kind)),
            value: find(metric, size).and_then(CRow::ratio),
            at: String::new(),
            limit: 1.0,
            at_least: false,
            unit: BoundUnit::Ratio,
            applies: true,
        });
    }
    for metric in ["put_bw", "get_bw"] {
        let worst = rows
            .iter()
            .filter(|r| r.metric == metric && r.size >= BW_TARGET_FROM)
            .filter_map(|r| r.ratio().map(|q| (q, r.size)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        v.push(TargetCheck {
            what: format!("C {metric} >= {} / OpenSHMEM", format_size(BW_TARGET_FROM, SizeKind::Bytes)),
            value: worst.map(|w| w.0),
            at: worst.map_or_else(String::new, |w| format!("worst at {}", format_size(w.1, SizeKind::Bytes))),
            limit: 1.0,
            at_least: true,
            unit: BoundUnit::Ratio,
            applies: true,
        });
    }
    v
}

/// One row as a JSON object.
pub fn row_json(r: &CRow) -> Value {
    json!({
        "metric": r.metric,
        "size": r.size,
        "unit": r.unit.as_str(),
        "openshmem": report::json_num(r.openshmem),
        "ours_c": report::json_num(r.ours_c),
        "ratio_ours_c_openshmem": report::json_num(r.ratio()),
        "ours_rust": report::json_num(r.ours_rust),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::parse;

    #[test]
    fn pairs_the_two_runs_of_the_c_program() {
        let script = parse(
            "osh put_lat 8 200.0 ns\nours_c put_lat 8 150.0 ns\nosh put_bw 65536 10.0 GB/s\n\
             ours_c put_bw 65536 8.0 GB/s\nours_c put_bw 1048576 20.0 GB/s\nosh barrier_lat 2 1000.0 ns\n\
             raw memcpy_bw 65536 30.0 GB/s\nosh_tcp put_lat 8 9000.0 ns\n",
        );
        let ours = parse("ours put_lat 8 140.0 ns\nours barrier 2 900.0 ns\n");
        let r = rows(&script, &ours);
        let keys: Vec<(&str, u64)> = r.iter().map(|r| (r.metric.as_str(), r.size)).collect();
        assert_eq!(keys, [("put_lat", 8), ("put_bw", 65536), ("put_bw", 1048576), ("barrier_lat", 2)]);
        assert_eq!((r[0].ratio(), r[0].at_least_as_good(), r[0].ours_rust), (Some(0.75), Some(true), Some(140.0)));
        assert_eq!((r[1].ratio(), r[1].at_least_as_good()), (Some(0.8), Some(false)));
        assert_eq!((r[2].openshmem, r[2].ratio()), (None, None));
        assert_eq!((r[3].ours_c, r[3].ours_rust, r[3].size_kind), (None, Some(900.0), SizeKind::Pes));

        let t = check_targets(&r);
        let put_lat = t.iter().find(|c| c.what == "C put_lat 8 B / OpenSHMEM").unwrap();
        assert_eq!((put_lat.value, put_lat.met()), (Some(0.75), Some(true)));
        let bw = t.iter().find(|c| c.what == "C put_bw >= 64 KiB / OpenSHMEM").unwrap();
        assert_eq!((bw.value, bw.met(), bw.at.as_str()), (Some(0.8), Some(false), "worst at 64 KiB"));
        let barrier = t.iter().find(|c| c.what == "C barrier_lat 2 PEs / OpenSHMEM").unwrap();
        assert_eq!(barrier.met(), None);

        let text = table(&r);
        assert!(
            text.lines()
                .nth(2)
                .unwrap()
                .split_whitespace()
                .eq(["put_lat", "8", "B", "ns", "200.0", "150.0", "0.75x", "yes", "140.0"]),
            "{text}"
        );
    }
}
