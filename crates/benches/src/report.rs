//! The result table (text) and its JSON form.

use std::fmt::Write as _;

/// Unit of a row; says which direction is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per operation: lower is better.
    Ns,
    /// GB/s (1e9 bytes per second): higher is better.
    GbPerS,
}

impl Unit {
    /// The unit as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::GbPerS => "GB/s",
        }
    }

    fn value(self, v: f64) -> String {
        match self {
            Unit::Ns => format!("{v:.1}"),
            Unit::GbPerS => format!("{v:.2}"),
        }
    }
}

/// How a row's size column reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeKind {
    /// A message size in bytes.
    Bytes,
    /// A number of PEs (barriers).
    Pes,
}

/// One line of the table: our value next to its physical reference and Open MPI OpenSHMEM's value.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Metric name (`put_lat`, `put_bw`, `barrier`, ...).
    pub metric: String,
    /// Message size in bytes, or the number of PEs for barriers.
    pub size: u64,
    /// How to read `size`.
    pub size_kind: SizeKind,
    /// Unit of every value of the row.
    pub unit: Unit,
    /// Our value.
    pub ours: Option<f64>,
    /// The physical reference measured in the same run.
    pub reference: Option<f64>,
    /// What the reference is (`memcpy`, `flag hand-off`, ...); empty when there is none.
    pub reference_kind: &'static str,
    /// Open MPI OpenSHMEM's value (with `--with-openshmem`).
    pub openshmem: Option<f64>,
}

impl Row {
    /// ours / reference.
    pub fn ratio_reference(&self) -> Option<f64> {
        ratio(self.ours, self.reference)
    }

    /// ours / OpenSHMEM.
    pub fn ratio_openshmem(&self) -> Option<f64> {
        ratio(self.ours, self.openshmem)
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a.is_finite() && b.is_finite() => Some(a / b),
        _ => None,
    }
}

/// `8 B`, `4 KiB`, `256 MiB`, or `8 PEs`.
pub fn format_size(size: u64, kind: SizeKind) -> String {
    if kind == SizeKind::Pes {
        return format!("{size} PEs");
    }
    for (shift, unit) in [(30, "GiB"), (20, "MiB"), (10, "KiB")] {
        if size >> shift > 0 && size & ((1 << shift) - 1) == 0 {
            return format!("{} {unit}", size >> shift);
        }
    }
    format!("{size} B")
}

fn opt(v: Option<f64>, unit: Unit) -> String {
    v.map_or_else(|| "-".to_owned(), |v| unit.value(v))
}

fn opt_ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}x"))
}

/// Lays out `cells` (first row: the header) as a text table with right-aligned columns after the first.
pub fn layout(cells: &[Vec<String>]) -> String {
    let n = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; n];
    for row in cells {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for (r, row) in cells.iter().enumerate() {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if i == 0 || i == 3 {
                let _ = write!(line, "{c:<w$}", w = widths[i]);
            } else {
                let _ = write!(line, "{c:>w$}", w = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if r == 0 {
            let total = widths.iter().sum::<usize>() + 2 * n.saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

/// The main table. `with_openshmem` adds the OpenSHMEM columns.
pub fn table(rows: &[Row], with_openshmem: bool) -> String {
    let mut header = vec![
        "metric".to_owned(),
        "size".to_owned(),
        "unit".to_owned(),
        "reference is".to_owned(),
        "ours".to_owned(),
        "reference".to_owned(),
        "ours/ref".to_owned(),
    ];
    if with_openshmem {
        header.push("OpenSHMEM".to_owned());
        header.push("ours/OSH".to_owned());
    }
    let mut cells = vec![header];
    for r in rows {
        let mut line = vec![
            r.metric.clone(),
            format_size(r.size, r.size_kind),
            r.unit.as_str().to_owned(),
            if r.reference_kind.is_empty() { "-".to_owned() } else { r.reference_kind.to_owned() },
            opt(r.ours, r.unit),
            opt(r.reference, r.unit),
            opt_ratio(r.ratio_reference()),
        ];
        if with_openshmem {
            line.push(opt(r.openshmem, r.unit));
            line.push(opt_ratio(r.ratio_openshmem()));
        }
        cells.push(line);
    }
    layout(&cells)
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON number, or `null` for a missing or non-finite value.
pub fn json_num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{v}"),
        _ => "null".to_owned(),
    }
}

/// One row as a JSON object.
pub fn row_json(r: &Row) -> String {
    format!(
        "{{\"metric\": {}, \"size\": {}, \"size_is\": {}, \"unit\": {}, \"ours\": {}, \"reference\": {}, \
         \"reference_is\": {}, \"ratio_ours_reference\": {}, \"openshmem\": {}, \"ratio_ours_openshmem\": {}}}",
        json_str(&r.metric),
        r.size,
        json_str(match r.size_kind {
            SizeKind::Bytes => "bytes",
            SizeKind::Pes => "pes",
        }),
        json_str(r.unit.as_str()),
        json_num(r.ours),
        json_num(r.reference),
        if r.reference_kind.is_empty() { "null".to_owned() } else { json_str(r.reference_kind) },
        json_num(r.ratio_reference()),
        json_num(r.openshmem),
        json_num(r.ratio_openshmem()),
    )
}

/// One target of the issue, checked against a run's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCheck {
    /// What is compared, e.g. `put_lat 8 B / OpenSHMEM`.
    pub what: String,
    /// The measured ratio (for bandwidth targets: the worst one over the sizes concerned).
    pub ratio: Option<f64>,
    /// Where the worst ratio was found (bandwidth targets), else empty.
    pub at: String,
    /// The bound.
    pub limit: f64,
    /// `true`: the ratio must be at least `limit`; `false`: at most.
    pub at_least: bool,
}

impl TargetCheck {
    /// `Some(true)` when met, `Some(false)` when missed, `None` when a value is missing.
    pub fn met(&self) -> Option<bool> {
        self.ratio.map(|r| if self.at_least { r >= self.limit } else { r <= self.limit })
    }
}

/// Smallest size the bandwidth targets apply to.
pub const BW_TARGET_FROM: u64 = 64 << 10;

fn find<'a>(rows: &'a [Row], metric: &str, size: u64) -> Option<&'a Row> {
    rows.iter().find(|r| r.metric == metric && r.size == size)
}

/// The targets: 8-byte put/get latency <= 1.0x OpenSHMEM; 8-byte put+signal one-way <= 1.5x the raw
/// flag hand-off; bandwidth >= 1.0x OpenSHMEM and >= 0.9x memcpy from 64 KiB up; 2-PE barrier <= 1.0x
/// OpenSHMEM and <= 2x the raw flag round trip; fetch-add <= 1.0x OpenSHMEM.
pub fn check_targets(rows: &[Row]) -> Vec<TargetCheck> {
    let mut v = Vec::new();
    let mut point = |metric: &str, size: u64, osh: bool, limit: f64| {
        let r = find(rows, metric, size);
        let (ratio, against) = if osh {
            (r.and_then(Row::ratio_openshmem), "OpenSHMEM")
        } else {
            (r.and_then(Row::ratio_reference), r.map_or("reference", |r| r.reference_kind))
        };
        let size_text =
            if metric == "barrier" { format_size(size, SizeKind::Pes) } else { format_size(size, SizeKind::Bytes) };
        v.push(TargetCheck {
            what: format!("{metric} {size_text} / {against}"),
            ratio,
            at: String::new(),
            limit,
            at_least: false,
        });
    };
    point("put_lat", 8, true, 1.0);
    point("get_lat", 8, true, 1.0);
    point("put_signal_oneway", 8, false, 1.5);
    point("barrier", 2, true, 1.0);
    point("barrier", 2, false, 2.0);
    point("fetch_add", 8, true, 1.0);
    for metric in ["put_bw", "get_bw"] {
        for (osh, limit) in [(true, 1.0), (false, 0.9)] {
            let worst = rows
                .iter()
                .filter(|r| r.metric == metric && r.size >= BW_TARGET_FROM)
                .filter_map(|r| {
                    let q = if osh { r.ratio_openshmem() } else { r.ratio_reference() };
                    q.map(|q| (q, r.size))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            v.push(TargetCheck {
                what: format!(
                    "{metric} >= {} / {}",
                    format_size(BW_TARGET_FROM, SizeKind::Bytes),
                    if osh { "OpenSHMEM" } else { "memcpy" }
                ),
                ratio: worst.map(|w| w.0),
                at: worst.map_or_else(String::new, |w| format!("worst at {}", format_size(w.1, SizeKind::Bytes))),
                limit,
                at_least: true,
            });
        }
    }
    v
}

/// The target checks as a text table.
pub fn targets_table(checks: &[TargetCheck]) -> String {
    let mut cells = vec![vec![
        "target".to_owned(),
        "ours/other".to_owned(),
        "bound".to_owned(),
        "".to_owned(),
        "verdict".to_owned(),
    ]];
    for c in checks {
        cells.push(vec![
            c.what.clone(),
            opt_ratio(c.ratio),
            format!("{} {:.1}x", if c.at_least { ">=" } else { "<=" }, c.limit),
            c.at.clone(),
            match c.met() {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "n/a",
            }
            .to_owned(),
        ]);
    }
    layout(&cells)
}

/// One target check as a JSON object.
pub fn target_json(c: &TargetCheck) -> String {
    format!(
        "{{\"target\": {}, \"ratio\": {}, \"bound\": {}, \"at_least\": {}, \"met\": {}}}",
        json_str(&c.what),
        json_num(c.ratio),
        c.limit,
        c.at_least,
        c.met().map_or_else(|| "null".to_owned(), |m| m.to_string())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ours: Option<f64>, reference: Option<f64>, osh: Option<f64>) -> Row {
        Row {
            metric: "put_lat".into(),
            size: 8,
            size_kind: SizeKind::Bytes,
            unit: Unit::Ns,
            ours,
            reference,
            reference_kind: "memcpy",
            openshmem: osh,
        }
    }

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(format_size(8, SizeKind::Bytes), "8 B");
        assert_eq!(format_size(4096, SizeKind::Bytes), "4 KiB");
        assert_eq!(format_size(256 << 20, SizeKind::Bytes), "256 MiB");
        assert_eq!(format_size(1000, SizeKind::Bytes), "1000 B");
        assert_eq!(format_size(8, SizeKind::Pes), "8 PEs");
    }

    #[test]
    fn missing_values_print_as_dash() {
        let t = table(&[row(Some(20.0), None, Some(10.0))], true);
        let last = t.lines().last().unwrap();
        assert!(last.contains("20.0"), "{last}");
        assert!(last.contains(" - "), "{last}");
        assert!(last.ends_with("2.00x"), "{last}");
        let t = table(&[row(None, Some(1.0), None)], false);
        assert!(!t.contains("OpenSHMEM"));
    }

    #[test]
    fn json_is_well_formed() {
        let j = row_json(&row(Some(20.0), Some(5.0), None));
        assert!(j.contains("\"ratio_ours_reference\": 4"), "{j}");
        assert!(j.contains("\"openshmem\": null"), "{j}");
        assert_eq!(json_str("a\"b\n"), "\"a\\\"b\\u000a\"");
    }

    #[test]
    fn targets_use_the_worst_bandwidth_ratio() {
        let bw = |size, ours, memcpy| Row {
            metric: "put_bw".into(),
            size,
            size_kind: SizeKind::Bytes,
            unit: Unit::GbPerS,
            ours: Some(ours),
            reference: Some(memcpy),
            reference_kind: "memcpy",
            openshmem: None,
        };
        let rows = vec![
            row(Some(10.0), None, Some(20.0)),
            bw(4096, 1.0, 10.0),
            bw(1 << 20, 8.0, 10.0),
            bw(4 << 20, 9.5, 10.0),
        ];
        let checks = check_targets(&rows);
        let put = &checks[0];
        assert_eq!(put.met(), Some(true));
        let memcpy = checks.iter().find(|c| c.what == "put_bw >= 64 KiB / memcpy").unwrap();
        assert_eq!(memcpy.ratio, Some(0.8));
        assert_eq!(memcpy.met(), Some(false));
        assert_eq!(memcpy.at, "worst at 1 MiB");
        let osh = checks.iter().find(|c| c.what == "put_bw >= 64 KiB / OpenSHMEM").unwrap();
        assert_eq!(osh.met(), None);
        assert!(targets_table(&checks).contains("MISSED"));
    }
}
