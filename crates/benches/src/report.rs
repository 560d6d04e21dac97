//! The result table (text) and its JSON form (built with `serde_json`, so every string is escaped and every
//! number is valid JSON without hand-written formatting).

use serde_json::{json, Value};
use std::fmt::Write as _;

/// Unit of a row; says which direction is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds per operation: lower is better.
    Ns,
    /// GB/s (1e9 bytes per second): higher is better.
    GbPerS,
    /// A fraction in [0, 1] (the overlap row): higher is better.
    Fraction,
}

impl Unit {
    /// The unit as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::GbPerS => "GB/s",
            Unit::Fraction => "fraction",
        }
    }

    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        self != Unit::Ns
    }

    fn value(self, v: f64) -> String {
        match self {
            Unit::Ns => format!("{v:.1}"),
            Unit::GbPerS | Unit::Fraction => format!("{v:.2}"),
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

/// Lays out `cells` (first row: the header) as a text table: columns 0 and 3 left-aligned, the others
/// right-aligned.
pub fn layout(cells: &[Vec<String>]) -> String {
    layout_left(cells, &[0, 3])
}

/// Lays out `cells` (first row: the header) as a text table with the columns `left` left-aligned and the
/// others right-aligned.
pub fn layout_left(cells: &[Vec<String>], left: &[usize]) -> String {
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
            if left.contains(&i) {
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

/// A number for the JSON form: `null` for a missing or non-finite value (JSON has no NaN or infinity).
pub fn json_num(v: Option<f64>) -> Value {
    v.filter(|v| v.is_finite()).map_or(Value::Null, Value::from)
}

/// One row as a JSON object (key order as in the text table).
pub fn row_json(r: &Row) -> Value {
    json!({
        "metric": r.metric,
        "size": r.size,
        "size_is": match r.size_kind {
            SizeKind::Bytes => "bytes",
            SizeKind::Pes => "pes",
        },
        "unit": r.unit.as_str(),
        "ours": json_num(r.ours),
        "reference": json_num(r.reference),
        "reference_is": if r.reference_kind.is_empty() { Value::Null } else { r.reference_kind.into() },
        "ratio_ours_reference": json_num(r.ratio_reference()),
        "openshmem": json_num(r.openshmem),
        "ratio_ours_openshmem": json_num(r.ratio_openshmem()),
    })
}

/// One target of the issue, checked against a run's rows.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCheck {
    /// What is compared, e.g. `put_lat 8 B / OpenSHMEM`.
    pub what: String,
    /// The measured value: a ratio (`unit` [`BoundUnit::Ratio`]; for bandwidth targets the worst one over the
    /// sizes concerned) or an absolute value.
    pub value: Option<f64>,
    /// Where the worst value was found, or why the target does not apply; else empty.
    pub at: String,
    /// The bound.
    pub limit: f64,
    /// `true`: the value must be at least `limit`; `false`: at most.
    pub at_least: bool,
    /// What `value` and `limit` are.
    pub unit: BoundUnit,
    /// `false` when the target does not apply to this run (e.g. a bound that needs a free core on a machine
    /// without one): the verdict is then `n/a` whatever the value, and `at` says why.
    pub applies: bool,
}

/// The kind of value a [`TargetCheck`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundUnit {
    /// A ratio of two measurements, printed `1.23x`.
    Ratio,
    /// Microseconds, printed `1.23 us`.
    Micros,
    /// A plain number (a fraction), printed `0.93`.
    Plain,
}

impl BoundUnit {
    /// `v` as printed in the targets table.
    pub fn format(self, v: f64) -> String {
        match self {
            BoundUnit::Ratio => format!("{v:.2}x"),
            BoundUnit::Micros => format!("{v:.2} us"),
            BoundUnit::Plain => format!("{v:.2}"),
        }
    }

    /// The name in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            BoundUnit::Ratio => "ratio",
            BoundUnit::Micros => "us",
            BoundUnit::Plain => "plain",
        }
    }
}

impl TargetCheck {
    /// `Some(true)` when met, `Some(false)` when missed, `None` when a value is missing or the target does
    /// not apply.
    pub fn met(&self) -> Option<bool> {
        if !self.applies {
            return None;
        }
        self.value.map(|r| if self.at_least { r >= self.limit } else { r <= self.limit })
    }
}

/// Smallest size the bandwidth targets apply to.
pub const BW_TARGET_FROM: u64 = 64 << 10;

/// Smallest size the SDMA bandwidth targets apply to.
pub const SDMA_BW_TARGET_FROM: u64 = 1 << 20;

/// Longest issue of one `put_nbi` the SDMA targets allow, in microseconds.
pub const NBI_ISSUE_LIMIT_US: f64 = 2.0;

/// Smallest overlap fraction the SDMA targets ask for (when a core is free).
pub const OVERLAP_MIN: f64 = 0.8;

fn find<'a>(rows: &'a [Row], metric: &str, size: u64) -> Option<&'a Row> {
    rows.iter().find(|r| r.metric == metric && r.size == size)
}

/// The worst (smallest) of `q(row)` over the rows of `metric` from `from` bytes up, with its size.
fn worst_ratio(rows: &[Row], metric: &str, from: u64, q: impl Fn(&Row) -> Option<f64>) -> Option<(f64, u64)> {
    rows.iter()
        .filter(|r| r.metric == metric && r.size >= from)
        .filter_map(|r| q(r).map(|v| (v, r.size)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
}

fn worst_at(w: Option<(f64, u64)>) -> String {
    w.map_or_else(String::new, |w| format!("worst at {}", format_size(w.1, SizeKind::Bytes)))
}

/// The issue's targets: 8-byte put/get latency <= 1.0x OpenSHMEM; 8-byte put+signal one-way <= 1.5x the raw
/// flag hand-off; bandwidth >= 1.0x OpenSHMEM and >= 0.9x memcpy from 64 KiB up; 2-PE barrier <= 1.0x
/// OpenSHMEM and <= 2x the raw flag round trip; fetch-add <= 1.0x OpenSHMEM. They apply to the MTE rows
/// (the metrics without an engine suffix).
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
            value: ratio,
            at: String::new(),
            limit,
            at_least: false,
            unit: BoundUnit::Ratio,
            applies: true,
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
            let worst =
                worst_ratio(
                    rows,
                    metric,
                    BW_TARGET_FROM,
                    |r| {
                        if osh {
                            r.ratio_openshmem()
                        } else {
                            r.ratio_reference()
                        }
                    },
                );
            v.push(TargetCheck {
                what: format!(
                    "{metric} >= {} / {}",
                    format_size(BW_TARGET_FROM, SizeKind::Bytes),
                    if osh { "OpenSHMEM" } else { "memcpy" }
                ),
                value: worst.map(|w| w.0),
                at: worst_at(worst),
                limit,
                at_least: true,
                unit: BoundUnit::Ratio,
                applies: true,
            });
        }
    }
    v
}

/// Smallest message of the TCP bandwidth targets: from here up a message is a stream (one completion round
/// trip per message is small beside its transfer time), as the raw stream it is compared with.
pub const TCP_BW_TARGET_FROM: u64 = 1 << 20;

/// The TCP engine's targets (issue 13) for the rows of `engines` (a TCP set): at 8 B, put + quiet, get and
/// fetch-add (each a round trip) <= 1.3x the raw TCP round trip between the same PEs, put-with-signal one-way
/// <= 1.3x the raw one-way (half the ping-pong; both from the faster of the blocking and the spinning raw
/// ping-pong, as the rows carry it), each <= 1.0x Open MPI OSHMEM over TCP; bandwidth from [`TCP_BW_TARGET_FROM`]
/// up (worst size counts) >= 0.8x the raw TCP stream and >= 1.0x OSHMEM over TCP, each against its like: the raw
/// stream (writes back to back, one acknowledgement at the end) against the streams (`put_stream_bw`,
/// `get_stream_bw`: puts or deferred gets back to back, one quiet at the end), OSHMEM's put + quiet per message and
/// blocking gets (a round trip each) against ours (`put_bw`, `get_bw`; also shown against the raw stream), and
/// OSHMEM's streams against ours.
pub fn check_tcp_targets(rows: &[Row], engines: crate::engines::EngineSet) -> Vec<TargetCheck> {
    let sfx = engines.suffix();
    let mut v = Vec::new();
    for base in ["put_lat", "get_lat", "put_signal_oneway", "fetch_add"] {
        let metric = format!("{base}{sfx}");
        let r = find(rows, &metric, 8);
        for (osh, limit) in [(false, 1.3), (true, 1.0)] {
            let (ratio, against) = if osh {
                (r.and_then(Row::ratio_openshmem), "OSHMEM over TCP")
            } else {
                (r.and_then(Row::ratio_reference), r.map_or("raw TCP", |r| r.reference_kind))
            };
            v.push(TargetCheck {
                what: format!("{metric} 8 B / {against}"),
                value: ratio,
                at: String::new(),
                limit,
                at_least: false,
                unit: BoundUnit::Ratio,
                applies: true,
            });
        }
    }
    let streams = [false, true];
    for (base, against) in
        [("put_bw", &[true][..]), ("put_stream_bw", &streams), ("get_bw", &[true]), ("get_stream_bw", &streams)]
    {
        let metric = format!("{base}{sfx}");
        for (osh, limit) in against.iter().map(|&osh| (osh, if osh { 1.0 } else { 0.8 })) {
            let worst = worst_ratio(rows, &metric, TCP_BW_TARGET_FROM, |r| {
                if osh {
                    r.ratio_openshmem()
                } else {
                    r.ratio_reference()
                }
            });
            v.push(TargetCheck {
                what: format!(
                    "{metric} >= {} / {}",
                    format_size(TCP_BW_TARGET_FROM, SizeKind::Bytes),
                    if osh { "OSHMEM over TCP" } else { "raw TCP stream" }
                ),
                value: worst.map(|w| w.0),
                at: worst_at(worst),
                limit,
                at_least: true,
                unit: BoundUnit::Ratio,
                applies: true,
            });
        }
    }
    v
}

/// What the SDMA targets need to know about the machine and the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdmaContext {
    /// The engine set whose rows are checked (one that includes SDMA).
    pub engines: crate::engines::EngineSet,
    /// Channels of its copy engine (`None`: not reported, e.g. a failed job).
    pub channels: Option<u32>,
    /// Logical cores of this machine.
    pub cores: usize,
}

/// The issue's SDMA targets for the rows of `ctx.engines` (metric names with its suffix):
/// - the issue cost of one `put_nbi` is at most 2 us at every size;
/// - the overlap of a 64 MiB `put_nbi` with computation is at least 0.8 when a core is free (`cores >=
///   channels + 1`: the caller computes on one core, PE 1 sleeps, each channel needs one);
/// - for SDMA alone (where blocking puts and gets go through the copy engine): bandwidth at least 0.9x memcpy
///   from 1 MiB up, and put bandwidth above MTE's (`put_bw` without suffix) from 1 MiB up with 2+ channels
///   where the cores allow (`cores >= channels + 1`).
pub fn check_sdma_targets(rows: &[Row], ctx: &SdmaContext) -> Vec<TargetCheck> {
    let sfx = ctx.engines.suffix();
    let mut v = Vec::new();
    let issue = rows
        .iter()
        .filter(|r| r.metric == format!("put_nbi_issue{sfx}"))
        .filter_map(|r| r.ours.map(|ns| (ns / 1e3, r.size)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    v.push(TargetCheck {
        what: format!("put_nbi_issue{sfx} (any size)"),
        value: issue.map(|w| w.0),
        at: worst_at(issue),
        limit: NBI_ISSUE_LIMIT_US,
        at_least: false,
        unit: BoundUnit::Micros,
        applies: true,
    });
    let free = ctx.channels.map(|c| crate::engines::core_free_for(c, ctx.cores));
    let channels_text = |c: Option<u32>| match c {
        Some(1) => "1 channel".to_owned(),
        Some(c) => format!("{c} channels"),
        None => "? channels".to_owned(),
    };
    let overlap_size = crate::OVERLAP_BYTES as u64;
    v.push(TargetCheck {
        what: format!("overlap{sfx} {}", format_size(overlap_size, SizeKind::Bytes)),
        value: find(rows, &format!("overlap{sfx}"), overlap_size).and_then(|r| r.ours),
        at: match free {
            Some(false) => {
                format!("no free core: {} on {} cores", channels_text(ctx.channels), ctx.cores)
            }
            _ => String::new(),
        },
        limit: OVERLAP_MIN,
        at_least: true,
        unit: BoundUnit::Plain,
        applies: free != Some(false),
    });
    if ctx.engines != crate::engines::EngineSet::Sdma {
        return v;
    }
    for metric in ["put_bw", "get_bw"] {
        let worst = worst_ratio(rows, &format!("{metric}{sfx}"), SDMA_BW_TARGET_FROM, Row::ratio_reference);
        v.push(TargetCheck {
            what: format!("{metric}{sfx} >= {} / memcpy", format_size(SDMA_BW_TARGET_FROM, SizeKind::Bytes)),
            value: worst.map(|w| w.0),
            at: worst_at(worst),
            limit: 0.9,
            at_least: true,
            unit: BoundUnit::Ratio,
            applies: true,
        });
    }
    let vs_mte = worst_ratio(rows, &format!("put_bw{sfx}"), SDMA_BW_TARGET_FROM, |r| {
        let mte = find(rows, "put_bw", r.size)?;
        ratio(r.ours, mte.ours)
    });
    let why_not = match ctx.channels {
        Some(c) if c < 2 => Some(format!("needs 2+ channels ({})", channels_text(ctx.channels))),
        Some(c) if !crate::engines::core_free_for(c, ctx.cores) => {
            Some(format!("needs {} cores for {} ({} here)", c + 1, channels_text(ctx.channels), ctx.cores))
        }
        _ => None,
    };
    v.push(TargetCheck {
        what: format!("put_bw{sfx} >= {} / MTE put_bw", format_size(SDMA_BW_TARGET_FROM, SizeKind::Bytes)),
        value: vs_mte.map(|w| w.0),
        at: why_not.clone().unwrap_or_else(|| worst_at(vs_mte)),
        limit: 1.0,
        at_least: true,
        unit: BoundUnit::Ratio,
        applies: why_not.is_none(),
    });
    v
}

/// The target checks as a text table.
pub fn targets_table(checks: &[TargetCheck]) -> String {
    let mut cells =
        vec![vec!["target".to_owned(), "measured".to_owned(), "bound".to_owned(), "".to_owned(), "verdict".to_owned()]];
    for c in checks {
        cells.push(vec![
            c.what.clone(),
            c.value.map_or_else(|| "-".to_owned(), |v| c.unit.format(v)),
            format!("{} {}", if c.at_least { ">=" } else { "<=" }, c.unit.format(c.limit)),
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
pub fn target_json(c: &TargetCheck) -> Value {
    json!({
        "target": c.what,
        "value": json_num(c.value),
        "unit": c.unit.as_str(),
        "bound": json_num(Some(c.limit)),
        "at_least": c.at_least,
        "applies": c.applies,
        "note": c.at,
        "met": c.met(),
    })
}

/// The engines side by side: one line per metric and size measured with the first engine set of `engines`
/// or any other, one value column per set, then each later set's value over the first's (`sdma/mte`).
/// `rows` holds every set's rows (metric names with the sets' suffixes); `metrics` are the base names in the
/// order to print.
pub fn engines_table(rows: &[Row], engines: &[crate::engines::EngineSet], metrics: &[&str]) -> String {
    let Some(&first) = engines.first() else {
        return String::new();
    };
    let mut header = vec!["metric".to_owned(), "size".to_owned(), "unit".to_owned()];
    header.extend(engines.iter().map(|e| e.label().to_owned()));
    header.extend(engines[1..].iter().map(|e| format!("{}/{}", e.label(), first.label())));
    let mut cells = vec![header];
    for &metric in metrics {
        let mut keys: Vec<(u64, SizeKind, Unit)> = Vec::new();
        for e in engines {
            let name = format!("{metric}{}", e.suffix());
            for r in rows.iter().filter(|r| r.metric == name) {
                if !keys.iter().any(|k| k.0 == r.size) {
                    keys.push((r.size, r.size_kind, r.unit));
                }
            }
        }
        for (size, size_kind, unit) in keys {
            let value = |e: &crate::engines::EngineSet| find(rows, &format!("{metric}{}", e.suffix()), size)?.ours;
            let mut line = vec![metric.to_owned(), format_size(size, size_kind), unit.as_str().to_owned()];
            line.extend(engines.iter().map(|e| opt(value(e), unit)));
            let base = value(&first);
            line.extend(engines[1..].iter().map(|e| opt_ratio(ratio(value(e), base))));
            cells.push(line);
        }
    }
    layout_left(&cells, &[0])
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
        assert_eq!(j["ratio_ours_reference"], 4.0);
        assert_eq!(j["openshmem"], Value::Null);
        assert_eq!(j["reference_is"], "memcpy");
        assert_eq!(json_num(Some(f64::NAN)), Value::Null);
        let mut odd = row(Some(f64::INFINITY), None, None);
        odd.metric = "a\"b\n".into();
        let text = j.to_string() + &row_json(&odd).to_string();
        assert!(text.contains(r#""metric":"a\"b\n""#), "{text}");
        let back: Value = serde_json::from_str(&row_json(&odd).to_string()).unwrap();
        assert_eq!((back["metric"].as_str(), &back["ours"]), (Some("a\"b\n"), &Value::Null));
        let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys[..4], ["metric", "size", "size_is", "unit"], "the order of the old hand-written form");
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
        assert_eq!(memcpy.value, Some(0.8));
        assert_eq!(memcpy.met(), Some(false));
        assert_eq!(memcpy.at, "worst at 1 MiB");
        let osh = checks.iter().find(|c| c.what == "put_bw >= 64 KiB / OpenSHMEM").unwrap();
        assert_eq!(osh.met(), None);
        assert!(targets_table(&checks).contains("MISSED"));
    }

    fn engine_row(metric: &str, size: u64, unit: Unit, ours: f64, reference: Option<f64>) -> Row {
        Row {
            metric: metric.into(),
            size,
            size_kind: SizeKind::Bytes,
            unit,
            ours: Some(ours),
            reference,
            reference_kind: "memcpy",
            openshmem: None,
        }
    }

    #[test]
    fn sdma_targets() {
        use crate::engines::EngineSet;
        let rows = vec![
            engine_row("put_bw", 1 << 20, Unit::GbPerS, 10.0, Some(10.0)),
            engine_row("put_bw[sdma]", 64 << 10, Unit::GbPerS, 1.0, Some(10.0)),
            engine_row("put_bw[sdma]", 1 << 20, Unit::GbPerS, 9.5, Some(10.0)),
            engine_row("get_bw[sdma]", 1 << 20, Unit::GbPerS, 8.0, Some(10.0)),
            engine_row("put_nbi_issue[sdma]", 8, Unit::Ns, 300.0, None),
            engine_row("put_nbi_issue[sdma]", 64 << 20, Unit::Ns, 2500.0, None),
            engine_row("overlap[sdma]", 64 << 20, Unit::Fraction, 0.5, None),
        ];
        let ctx = SdmaContext { engines: EngineSet::Sdma, channels: Some(1), cores: 2 };
        let checks = check_sdma_targets(&rows, &ctx);
        let get = |prefix: &str| checks.iter().find(|c| c.what.starts_with(prefix)).unwrap();
        let issue = get("put_nbi_issue[sdma]");
        assert_eq!((issue.value, issue.met(), issue.at.as_str()), (Some(2.5), Some(false), "worst at 64 MiB"));
        assert_eq!(get("overlap[sdma]").met(), Some(false));
        assert_eq!(get("put_bw[sdma] >= 1 MiB / memcpy").met(), Some(true), "64 KiB is below the bound's range");
        assert_eq!(get("get_bw[sdma]").met(), Some(false));
        let vs_mte = get("put_bw[sdma] >= 1 MiB / MTE");
        assert_eq!((vs_mte.value, vs_mte.met()), (Some(0.95), None));
        assert!(vs_mte.at.contains("2+ channels"), "{}", vs_mte.at);
        // Two channels on two cores: no free core for the overlap, nor for beating MTE.
        let checks = check_sdma_targets(&rows, &SdmaContext { channels: Some(2), ..ctx });
        let overlap = checks.iter().find(|c| c.what.starts_with("overlap")).unwrap();
        assert!(!overlap.applies && overlap.at.contains("no free core"), "{overlap:?}");
        assert!(targets_table(&checks).contains("n/a"));
        // MTE|SDMA: only the issue and overlap targets (its blocking puts go to MTE).
        let ctx = SdmaContext { engines: EngineSet::MteSdma, channels: Some(1), cores: 4 };
        assert_eq!(check_sdma_targets(&rows, &ctx).len(), 2);
    }

    /// The TCP bandwidth targets compare like with like: the put and get streams with the raw stream, put + quiet
    /// per message and blocking gets (and the streams) with OSHMEM over TCP; the worst size from 1 MiB up counts.
    #[test]
    fn tcp_bandwidth_targets_compare_like_with_like() {
        use crate::engines::EngineSet;
        let bw = |metric: &str, size: u64, ours: f64, raw: f64, osh: f64| Row {
            openshmem: Some(osh),
            ..engine_row(metric, size, Unit::GbPerS, ours, Some(raw))
        };
        let rows = vec![
            bw("put_bw[tcp]", 1 << 20, 6.0, 10.0, 2.0),
            bw("put_stream_bw[tcp]", 64 << 10, 1.0, 10.0, 2.0),
            bw("put_stream_bw[tcp]", 1 << 20, 9.0, 10.0, 2.0),
            bw("put_stream_bw[tcp]", 16 << 20, 7.0, 10.0, 8.0),
            bw("get_bw[tcp]", 1 << 20, 7.0, 10.0, 8.0),
            bw("get_stream_bw[tcp]", 1 << 20, 8.5, 10.0, 8.0),
        ];
        let checks = check_tcp_targets(&rows, EngineSet::Tcp);
        let get = |what: &str| checks.iter().find(|c| c.what == what).unwrap_or_else(|| panic!("no {what}"));
        assert!(checks.iter().all(|c| c.what != "put_bw[tcp] >= 1 MiB / raw TCP stream"));
        assert_eq!(get("put_bw[tcp] >= 1 MiB / OSHMEM over TCP").met(), Some(true));
        let stream = get("put_stream_bw[tcp] >= 1 MiB / raw TCP stream");
        assert_eq!((stream.value, stream.met(), stream.at.as_str()), (Some(0.7), Some(false), "worst at 16 MiB"));
        assert_eq!(get("put_stream_bw[tcp] >= 1 MiB / OSHMEM over TCP").value, Some(0.875));
        assert!(checks.iter().all(|c| c.what != "get_bw[tcp] >= 1 MiB / raw TCP stream"));
        assert_eq!(get("get_bw[tcp] >= 1 MiB / OSHMEM over TCP").met(), Some(false));
        assert_eq!(get("get_stream_bw[tcp] >= 1 MiB / raw TCP stream").met(), Some(true));
        assert_eq!(get("get_stream_bw[tcp] >= 1 MiB / OSHMEM over TCP").met(), Some(true));
    }

    #[test]
    fn engines_side_by_side() {
        use crate::engines::EngineSet;
        let rows = vec![
            engine_row("put_lat", 8, Unit::Ns, 100.0, None),
            engine_row("put_lat[sdma]", 8, Unit::Ns, 400.0, None),
            engine_row("overlap", 64 << 20, Unit::Fraction, 0.0, None),
        ];
        let t = engines_table(&rows, &[EngineSet::Mte, EngineSet::Sdma], &["put_lat", "overlap"]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("sdma/mte"), "{t}");
        assert!(lines[2].starts_with("put_lat") && lines[2].ends_with("4.00x"), "{t}");
        assert!(lines[3].contains("0.00") && lines[3].ends_with('-'), "{t}");
    }
}
