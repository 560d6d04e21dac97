//! The collectives benchmark (`coll-bench`): its size plan, shared with `benches/reference/osh_bench.c` (group
//! `coll`) and `benches/reference/mpi4py_bench.py --coll`, and the side-by-side table of our broadcast,
//! sum-reduce and barrier next to Open MPI OSHMEM's `shmem_broadcast64`, `shmem_double_sum_to_all` and
//! `shmem_barrier_all`, measured in the same run.

use crate::reference::{lookup, RefLine};
use std::fmt::Write;

/// Default largest collective message (the 64 MiB).
pub const COLL_MAX: usize = 64 << 20;

/// The message sizes of the collectives, up to `max`: 8 B, then x8 up to 64 KiB, then x4 (full); 8 B, 4 KiB,
/// 1 MiB and `max` (quick). The same rule as `coll_next` in `osh_bench.c` and `coll_sizes` in
/// `mpi4py_bench.py`, so that every row has its reference.
pub fn coll_sizes(max: usize, quick: bool) -> Vec<usize> {
    let next = |s: usize| -> Option<usize> {
        if quick {
            match s {
                s if s < 4096 => Some(4096),
                s if s < 1 << 20 => Some(1 << 20),
                s if s < max => Some(max),
                _ => None,
            }
        } else if s < 65536 {
            s.checked_mul(8)
        } else {
            s.checked_mul(4)
        }
    };
    std::iter::successors(Some(8usize), |&s| next(s)).take_while(|&s| s <= max).collect()
}

/// One collective of the table: our metric, Open MPI OSHMEM's metric and what the OSHMEM call is.
#[derive(Debug, Clone, Copy)]
pub struct Collective {
    /// Row name, e.g. `broadcast`.
    pub name: &'static str,
    /// Metric stem of our lines and of OSHMEM's (`<stem>_<N>pe`).
    pub stem: &'static str,
    /// The OpenSHMEM call of the reference.
    pub reference_call: &'static str,
}

/// The collectives measured per message size.
pub const COLLECTIVES: [Collective; 2] = [
    Collective { name: "broadcast", stem: "broadcast", reference_call: "shmem_broadcast64" },
    Collective { name: "sum_reduce (f64)", stem: "sum_reduce", reference_call: "shmem_double_sum_to_all" },
];

/// The metric name of `stem` in an `n`-PE job (the PE count is part of the name, the size is the bytes).
pub fn metric(stem: &str, n: u32) -> String {
    format!("{stem}_{n}pe")
}

/// One row of the side-by-side table.
#[derive(Debug, Clone, PartialEq)]
pub struct CollRow {
    /// `barrier_all`, `broadcast`, `sum_reduce (f64)`.
    pub collective: String,
    /// PEs of the job.
    pub pes: u32,
    /// Message bytes (0 for the barrier).
    pub bytes: usize,
    /// Our time per call in ns.
    pub ours_ns: Option<f64>,
    /// Open MPI OSHMEM's time per call in ns.
    pub osh_ns: Option<f64>,
}

impl CollRow {
    /// ours / OSHMEM (time per call; below 1.0 we are faster).
    pub fn ratio(&self) -> Option<f64> {
        Some(self.ours_ns? / self.osh_ns?).filter(|r| r.is_finite())
    }
}

/// Builds the rows for every PE count and size from our lines (source `ours`) and OSHMEM's (source `osh`).
pub fn rows(ours: &[RefLine], osh: &[RefLine], pes: &[u32], sizes: &[usize]) -> Vec<CollRow> {
    let mut out = Vec::new();
    for &n in pes {
        out.push(CollRow {
            collective: "barrier_all".into(),
            pes: n,
            bytes: 0,
            ours_ns: lookup(ours, "ours", "barrier_lat", n.into()),
            osh_ns: lookup(osh, "osh", "barrier_lat", n.into()),
        });
        for c in COLLECTIVES {
            let m = metric(c.stem, n);
            for &s in sizes {
                out.push(CollRow {
                    collective: c.name.into(),
                    pes: n,
                    bytes: s,
                    ours_ns: lookup(ours, "ours", &m, s as u64),
                    osh_ns: lookup(osh, "osh", &m, s as u64),
                });
            }
        }
    }
    out
}

/// Bytes as `8 B`, `4 KiB`, `64 MiB`.
pub fn human_bytes(b: usize) -> String {
    match b {
        0 => "-".into(),
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}

fn us(v: Option<f64>) -> String {
    v.map_or("-".into(), |ns| format!("{:.2}", ns / 1e3))
}

fn mb_s(bytes: usize, v: Option<f64>) -> String {
    match v {
        Some(ns) if bytes >= 4096 => format!("{:.0}", bytes as f64 / ns * 1e3),
        _ => "-".into(),
    }
}

/// The Markdown table: one line per row, our µs, OSHMEM's µs, the ratio, and both bandwidths (bytes / time,
/// MB/s = 1e6 B/s) from 4 KiB up.
pub fn table(rows: &[CollRow]) -> String {
    let mut s = String::new();
    s.push_str("| collective | PEs | bytes | ours µs | OSHMEM µs | ours/OSHMEM | ours MB/s | OSHMEM MB/s |\n");
    s.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in rows {
        let ratio = r.ratio().map_or("-".into(), |x| format!("{x:.2}x"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.collective,
            r.pes,
            human_bytes(r.bytes),
            us(r.ours_ns),
            us(r.osh_ns),
            ratio,
            mb_s(r.bytes, r.ours_ns),
            mb_s(r.bytes, r.osh_ns)
        );
    }
    s
}

/// The target per row: every ratio <= 1.0x OSHMEM. Returns `(rows with a ratio, rows within the
/// target, the worst row)`.
pub fn verdict(rows: &[CollRow]) -> (usize, usize, Option<&CollRow>) {
    let with: Vec<&CollRow> = rows.iter().filter(|r| r.ratio().is_some()).collect();
    let met = with.iter().filter(|r| r.ratio().is_some_and(|x| x <= 1.0)).count();
    let worst = with.iter().copied().max_by(|a, b| a.ratio().unwrap_or(0.0).total_cmp(&b.ratio().unwrap_or(0.0)));
    (with.len(), met, worst)
}

/// The rows as JSON (`collective`, `pes`, `bytes`, `ours_ns`, `osh_ns`, `ratio`).
pub fn rows_json(rows: &[CollRow]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                serde_json::json!({
                    "collective": r.collective, "pes": r.pes, "bytes": r.bytes,
                    "ours_ns": r.ours_ns, "osh_ns": r.osh_ns, "ratio": r.ratio(),
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::parse;

    #[test]
    fn size_plans_match_the_c_reference() {
        assert_eq!(
            coll_sizes(64 << 20, false),
            [8, 64, 512, 4096, 32768, 262144, 1 << 20, 4 << 20, 16 << 20, 64 << 20]
        );
        assert_eq!(coll_sizes(64 << 20, true), [8, 4096, 1 << 20, 64 << 20]);
        assert_eq!(coll_sizes(1 << 20, true), [8, 4096, 1 << 20]);
        assert_eq!(coll_sizes(64, true), [8]);
        assert_eq!(coll_sizes(4096, false), [8, 64, 512, 4096]);
    }

    #[test]
    fn table_pairs_ours_with_oshmem_and_computes_ratios() {
        let ours = parse("ours barrier_lat 2 1000 ns\nours broadcast_2pe 8 250 ns\nours sum_reduce_2pe 8 3000 ns\n");
        let osh = parse("osh barrier_lat 2 2000 ns\nosh broadcast_2pe 8 1000 ns\n");
        let r = rows(&ours, &osh, &[2], &[8]);
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].ratio(), Some(0.5));
        assert_eq!(r[1].ratio(), Some(0.25));
        assert_eq!((r[2].ours_ns, r[2].osh_ns, r[2].ratio()), (Some(3000.0), None, None));
        let t = table(&r);
        assert!(t.contains("| barrier_all | 2 | - | 1.00 | 2.00 | 0.50x | - | - |"), "{t}");
        assert!(t.contains("| sum_reduce (f64) | 2 | 8 B | 3.00 | - | - | - | - |"), "{t}");
        let (with, met, worst) = verdict(&r);
        assert_eq!((with, met), (2, 2));
        assert_eq!(worst.map(|w| w.collective.as_str()), Some("barrier_all"));
        assert_eq!(human_bytes(64 << 20), "64 MiB");
    }
}
