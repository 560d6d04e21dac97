//! SVG charts of a run (`shmem-bench --plot DIR`): people compare curves faster than they read tables.
//!
//! One chart per metric family that has a message-size axis (put/get/put-with-signal latency, put/get
//! bandwidth), both axes logarithmic, with one line per engine set (MTE, SDMA, MTE|SDMA; the remote engines
//! when they exist), the physical reference of the row (memcpy or the flag hand-off) and, when it was run, Open
//! MPI's OpenSHMEM. The caption names the machine (CPU model, cores), the date and the plan, because a chart
//! without them cannot be compared with another.
//!
//! Only `plotters`' SVG backend is used, without its TrueType feature: text goes into the SVG as `<text>`
//! elements in a generic font family that the viewer resolves, so nothing here needs system fonts or
//! fontconfig.

use crate::engines::EngineSet;
use crate::report::{format_size, Row, SizeKind, Unit};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

/// Width and height of every chart, in SVG pixels.
pub const CHART_SIZE: (u32, u32) = (900, 560);

/// Name of the Open MPI OpenSHMEM line (with `--with-openshmem`).
pub const OPENSHMEM_SERIES: &str = "Open MPI OSHMEM";

/// One metric family drawn as one chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    /// File name without the extension, e.g. `latency-put`.
    pub file: &'static str,
    /// The chart's title.
    pub title: &'static str,
    /// The base metric (the MTE row's name; other engine sets append their suffix).
    pub metric: &'static str,
}

/// The families drawn, in this order.
pub const FAMILIES: [Family; 5] = [
    Family { file: "latency-put", title: "putmem + quiet latency", metric: "put_lat" },
    Family { file: "latency-get", title: "getmem latency", metric: "get_lat" },
    Family { file: "latency-put-signal", title: "put-with-signal one-way latency", metric: "put_signal_oneway" },
    Family { file: "bandwidth-put", title: "putmem + quiet bandwidth", metric: "put_bw" },
    Family { file: "bandwidth-get", title: "getmem bandwidth", metric: "get_bw" },
];

/// One line of a chart: a name for the legend and its (message size in bytes, value) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's text.
    pub name: String,
    /// (size in bytes, value), sizes ascending; only positive finite values (the axes are logarithmic).
    pub points: Vec<(f64, f64)>,
}

/// A chart ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Which family it draws.
    pub family: Family,
    /// The unit of every value.
    pub unit: Unit,
    /// The lines: engine sets first (in the run's order), then the reference, then the peer.
    pub series: Vec<Series>,
}

impl Chart {
    /// The y axis' description: the quantity, its unit and which direction is better.
    pub fn y_label(&self) -> String {
        match self.unit {
            Unit::Ns => "latency per operation (ns, log scale; lower is better)".to_owned(),
            Unit::GbPerS => "bandwidth (GB/s = 1e9 B/s, log scale; higher is better)".to_owned(),
            Unit::Fraction => "fraction (higher is better)".to_owned(),
        }
    }
}

/// The name an engine set has in the charts' legends: the runtime's own spelling (`MTE`, `SDMA`, `MTE|SDMA`).
pub fn engine_series_name(e: EngineSet) -> &'static str {
    match e {
        EngineSet::Tcp => "MTE|TCP (2 nodes, loopback)",
        EngineSet::TcpNetns => "MTE|TCP (2 network namespaces)",
        _ => e.env_value(),
    }
}

/// The legend of the TCP references of a TCP set's rows.
fn tcp_reference_name(e: EngineSet, unit: Unit) -> String {
    let what = if unit == Unit::GbPerS { "raw TCP stream" } else { "raw TCP" };
    let place = if e == EngineSet::TcpNetns { "2 network namespaces" } else { "loopback" };
    format!("{what} ({place})")
}

/// The legend of Open MPI OSHMEM forced onto TCP.
pub const OPENSHMEM_TCP_SERIES: &str = "Open MPI OSHMEM over TCP";

fn points<'a>(rows: impl Iterator<Item = &'a Row>, value: impl Fn(&Row) -> Option<f64>) -> Vec<(f64, f64)> {
    let mut p: Vec<(f64, f64)> = rows
        .filter(|r| r.size_kind == SizeKind::Bytes && r.size > 0)
        .filter_map(|r| value(r).filter(|v| v.is_finite() && *v > 0.0).map(|v| (r.size as f64, v)))
        .collect();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p
}

/// The charts of a run: for each family, one series per engine set of `engines` that has values, the
/// physical reference (taken from the first set's rows: every set is compared with the same in-process
/// reference) and Open MPI OpenSHMEM's values when there are any. A family without any value gives no chart.
pub fn charts(rows: &[Row], engines: &[EngineSet]) -> Vec<Chart> {
    let mut out = Vec::new();
    for family in FAMILIES {
        let mut series = Vec::new();
        let mut unit = None;
        for &e in engines {
            let name = format!("{}{}", family.metric, e.suffix());
            let of_set = || rows.iter().filter(|r| r.metric == name);
            unit = unit.or_else(|| of_set().next().map(|r| r.unit));
            let p = points(of_set(), |r| r.ours);
            if !p.is_empty() {
                series.push(Series { name: engine_series_name(e).to_owned(), points: p });
            }
        }
        let base = || {
            rows.iter()
                .filter(|r| engines.first().is_some_and(|e| r.metric == format!("{}{}", family.metric, e.suffix())))
        };
        if let Some(kind) = base().map(|r| r.reference_kind).find(|k| !k.is_empty()) {
            let p = points(base(), |r| r.reference);
            if !p.is_empty() {
                series.push(Series { name: format!("{kind} (physical reference)"), points: p });
            }
        }
        let p = points(base(), |r| r.openshmem);
        if !p.is_empty() {
            series.push(Series { name: OPENSHMEM_SERIES.to_owned(), points: p });
        }
        // Each TCP set's raw TCP reference, and OSHMEM over TCP once (the TCP rows carry it), unless the first set
        // already drew them as the base.
        let mut osh_tcp_drawn = engines.first().is_some_and(|e| e.uses_tcp());
        for &e in engines.iter().filter(|e| e.uses_tcp()).skip(usize::from(osh_tcp_drawn)) {
            let name = format!("{}{}", family.metric, e.suffix());
            let of_set = || rows.iter().filter(|r| r.metric == name);
            let p = points(of_set(), |r| r.reference);
            if let (false, Some(u)) = (p.is_empty(), unit) {
                series.push(Series { name: tcp_reference_name(e, u), points: p });
            }
            let p = points(of_set(), |r| r.openshmem);
            if !p.is_empty() && !osh_tcp_drawn {
                series.push(Series { name: OPENSHMEM_TCP_SERIES.to_owned(), points: p });
                osh_tcp_drawn = true;
            }
        }
        if let (Some(unit), false) = (unit, series.is_empty()) {
            out.push(Chart { family, unit, series });
        }
    }
    out
}

/// The colour of the `i`-th series: distinguishable lines, the reference black, the peer green.
fn colour(name: &str, i: usize) -> RGBColor {
    const ENGINES: [RGBColor; 5] = [
        RGBColor(31, 119, 180),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(255, 127, 14),
        RGBColor(140, 86, 75),
    ];
    if name.ends_with("(physical reference)") {
        RGBColor(0, 0, 0)
    } else if name == OPENSHMEM_SERIES {
        RGBColor(44, 160, 44)
    } else {
        ENGINES[i % ENGINES.len()]
    }
}

/// A size on the x axis: `8 B`, `4 KiB`, `16 MiB`.
fn size_label(v: &f64) -> String {
    format_size(v.round() as u64, SizeKind::Bytes)
}

/// A value on the y axis, with as many digits as it needs to be told apart from its neighbours (`500`, `20`,
/// `2.5`, `0.25`).
fn value_label(v: &f64) -> String {
    let a = v.abs();
    let text = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The labelled values of a logarithmic axis over `lo..hi`: the decades, and their 2x and 5x over a range of
/// at most three decades (where decades alone would leave two or three labels).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (lo_e, hi_e) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let steps: &[f64] = if hi_e - lo_e <= 3 { &[1.0, 2.0, 5.0] } else { &[1.0] };
    (lo_e..=hi_e).flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e))).filter(|t| (lo..=hi).contains(t)).collect()
}

/// Draws `chart` as an SVG document. `caption` (the machine, the date, the plan) goes under the plot.
pub fn render_svg(chart: &Chart, caption: &str) -> Result<String, String> {
    let all = chart.series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return Err(format!("chart {} has no points", chart.family.file));
    }
    let x_ticks = {
        let mut xs: Vec<f64> = chart.series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        xs
    };
    // A little room on each side, a range that is never empty (a single size or value), and headroom above the
    // data (about a third of the height) where the legend goes.
    let (x0, x1) = (x0 / 1.5, x1 * 1.5);
    let (y0, y1) = (y0 / 1.5, y1 * (y1 / y0).max(4.0).powf(0.45));
    let y_ticks = log_ticks(y0, y1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, CHART_SIZE).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| format!("drawing {}: {e:?}", chart.family.file);
        root.fill(&WHITE).map_err(e)?;
        let (plot_area, footer) = root.split_vertically(CHART_SIZE.1 - 28);
        let mut ctx = ChartBuilder::on(&plot_area)
            .caption(format!("{} vs message size", chart.family.title), ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(
                (x0..x1).log_scale().base(2.0).with_key_points(x_ticks),
                (y0..y1).log_scale().with_key_points(y_ticks),
            )
            .map_err(e)?;
        ctx.configure_mesh()
            .x_desc("message size (bytes, log scale)")
            .y_desc(chart.y_label())
            .x_label_formatter(&size_label)
            .y_label_formatter(&value_label)
            .x_labels(12)
            .y_labels(8)
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 15))
            // The log coordinate's minor lines are dense bands on short ranges: only the labelled lines are drawn.
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(225, 225, 225))
            .draw()
            .map_err(e)?;
        for (i, s) in chart.series.iter().enumerate() {
            let c = colour(&s.name, i);
            ctx.draw_series(LineSeries::new(s.points.iter().copied(), c.stroke_width(2)).point_size(3))
                .map_err(e)?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], c.stroke_width(2)));
        }
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(160, 160, 160))
            .draw()
            .map_err(e)?;
        footer
            .draw(&Text::new(caption.to_owned(), (14, 4), ("sans-serif", 13).into_font().color(&RGBColor(60, 60, 60))))
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(svg)
}

/// Writes every chart of the run into `dir` (created if missing) as `<family>.svg` and returns the paths.
pub fn write_charts(dir: &Path, rows: &[Row], engines: &[EngineSet], caption: &str) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for chart in charts(rows, engines) {
        let svg = render_svg(&chart, caption)?;
        let path = dir.join(format!("{}.svg", chart.family.file));
        std::fs::write(&path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// This machine as the captions name it: the CPU model from `/proc/cpuinfo` (the architecture where there is
/// none) and the number of logical cores.
pub fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
        info.lines()
            .find(|l| l.starts_with("model name") || l.starts_with("Model") || l.starts_with("cpu model"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|v| !v.is_empty())
    });
    let cores = crate::engines::cores();
    format!("{}, {cores} cores", model.unwrap_or_else(|| std::env::consts::ARCH.to_owned()))
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the system clock.
pub fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day number counted from 1970-01-01 (the classic era-based conversion,
/// exact for every day of the 64-bit range used here).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        metric: &str,
        size: u64,
        unit: Unit,
        ours: f64,
        reference: f64,
        kind: &'static str,
        osh: Option<f64>,
    ) -> Row {
        Row {
            metric: metric.into(),
            size,
            size_kind: SizeKind::Bytes,
            unit,
            ours: Some(ours),
            reference: Some(reference),
            reference_kind: kind,
            openshmem: osh,
        }
    }

    fn synthetic() -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, s) in [8u64, 64, 512, 4096].into_iter().enumerate() {
            let f = i as f64;
            rows.push(row("put_lat", s, Unit::Ns, 100.0 + f, 20.0 + f, "memcpy", Some(300.0 + f)));
            rows.push(row("put_lat[sdma]", s, Unit::Ns, 900.0 + f, 20.0 + f, "memcpy", Some(300.0 + f)));
        }
        for s in [4096u64, 65536, 1 << 20] {
            rows.push(row("put_bw", s, Unit::GbPerS, 5.0, 9.0, "memcpy", None));
        }
        rows
    }

    #[test]
    fn series_per_engine_reference_and_peer() {
        let charts = charts(&synthetic(), &[EngineSet::Mte, EngineSet::Sdma]);
        let files: Vec<&str> = charts.iter().map(|c| c.family.file).collect();
        assert_eq!(files, ["latency-put", "bandwidth-put"], "families without values give no chart");
        let lat = &charts[0];
        let names: Vec<&str> = lat.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["MTE", "SDMA", "memcpy (physical reference)", OPENSHMEM_SERIES]);
        assert_eq!(lat.series[1].points, [(8.0, 900.0), (64.0, 901.0), (512.0, 902.0), (4096.0, 903.0)]);
        assert_eq!(lat.series[2].points[3], (4096.0, 23.0));
        assert_eq!(lat.series[3].points[0], (8.0, 300.0));
        let bw = &charts[1];
        assert_eq!(bw.unit, Unit::GbPerS);
        assert_eq!(bw.series.len(), 2, "no SDMA values, no OpenSHMEM values: {bw:?}");
    }

    #[test]
    fn svg_parses_and_names_every_series() {
        let charts = charts(&synthetic(), &[EngineSet::Mte, EngineSet::Sdma]);
        let svg = render_svg(&charts[0], "Test CPU, 2 cores; 2026-01-02; quick plan").unwrap();
        let doc = roxmltree::Document::parse(&svg).expect("valid XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<&str> =
            doc.descendants().filter(|n| n.has_tag_name("text")).filter_map(|n| n.text()).map(str::trim).collect();
        for want in ["MTE", "SDMA", "memcpy (physical reference)", OPENSHMEM_SERIES, "4 KiB", "8 B"] {
            assert!(texts.contains(&want), "no text {want:?} in {texts:?}");
        }
        assert!(texts.iter().any(|t| t.starts_with("latency per operation (ns")), "{texts:?}");
        assert!(texts.contains(&"Test CPU, 2 cores; 2026-01-02; quick plan"), "{texts:?}");
        // A marker per point: 4 series of 4 sizes.
        assert_eq!(doc.descendants().filter(|n| n.has_tag_name("circle")).count(), 16, "{svg}");
    }

    #[test]
    fn dates() {
        assert_eq!(log_ticks(3.0, 60.0), [5.0, 10.0, 20.0, 50.0]);
        assert_eq!(log_ticks(0.5, 20_000.0), [1.0, 10.0, 100.0, 1000.0, 10_000.0]);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(today().len(), 10);
        assert_eq!(
            [value_label(&500.0), value_label(&20.0), value_label(&2.5), value_label(&0.25)],
            ["500", "20", "2.5", "0.25"]
        );
    }
}
