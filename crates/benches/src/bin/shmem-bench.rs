//! `shmem-bench`: measures the runtime's latencies, bandwidths, barrier and fetch-add on a job of PEs on
//! this machine, next to physical references measured in the same run (memcpy, a raw flag hand-off between
//! two processes, a local atomic) and optionally next to Open MPI's OpenSHMEM (`--with-openshmem`, through
//! `benches/reference/run.sh`).
//!
//! The program starts itself as the PEs of a job (through the `shmem_run` launcher library); PE 0 measures
//! and writes its results to a file that this process reads, then prints the table. The 2-PE job runs once
//! per engine set of `--engines` (MTE, SDMA, MTE|SDMA); the rows of the sets other than MTE carry the set as a
//! suffix (`put_lat[sdma]`), and a second table puts the sets side by side.

use benches::c_level;
use benches::engines::{self, EngineSet};
use benches::job::{BoxError, JobConfig, Role, SDMA_CHANNELS_METRIC};
use benches::measure::{gb_per_s, measure, measure_ok, Plan};
use benches::plot;
use benches::raw::{atomic_batch, FlagPeer, Memcpy};
use benches::reference::{self, lookup, RefLine};
use benches::report::{self, Row, SdmaContext, SizeKind, Unit};
use benches::{bw_sizes, BW_MAX_FULL, BW_MAX_QUICK, LAT_SIZES, NBI_SIZES, OVERLAP_BYTES};
use clap::Parser;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Benchmarks of the SHMEM runtime next to their physical references and (optionally) Open MPI OpenSHMEM.
#[derive(Debug, Parser)]
#[command(name = "shmem-bench", version)]
struct Args {
    /// Short batches (4 ms x 5) and bandwidth only up to 16 MiB (full: 20 ms x 7, up to 256 MiB).
    #[arg(long)]
    quick: bool,
    /// PEs of the main job (PE 0 measures against PE 1; the barrier runs over all of them).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=64))]
    pes: u32,
    /// PE counts of the separate barrier-only jobs, comma-separated (empty: skip them).
    #[arg(long, default_value = "4,8", value_parser = pe_counts)]
    barrier_pes: PeCounts,
    /// Also run `benches/reference/run.sh` (Open MPI OpenSHMEM and the C raw references) and compare.
    #[arg(long)]
    with_openshmem: bool,
    /// Directory the reference script is run from (default: the workspace root this program was built in).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Write every number as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw SVG charts into DIR (created if missing): latency and bandwidth vs message size, one line per
    /// engine set, the physical reference and Open MPI OpenSHMEM (with --with-openshmem).
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Target time of one batch in milliseconds (overrides the plan's).
    #[arg(long, value_name = "MS")]
    batch_ms: Option<f64>,
    /// Number of timed batches (overrides the plan's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    batches: Option<u32>,
    /// Largest bandwidth message, e.g. 64K or 16M (overrides the plan's; at least 4K).
    #[arg(long, value_name = "BYTES", value_parser = parse_max_bw)]
    max_bw: Option<usize>,
    /// Limit for each job in seconds (the launcher terminates a job that runs longer).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Engine sets to run the 2-PE job with, comma-separated: mte, sdma, mte+sdma, tcp (PE 0 and PE 1 as two
    /// nodes on loopback, MTE|TCP), tcp-netns (the two PEs in two network namespaces; needs root) (one job
    /// each; the barrier-only jobs use the first).
    #[arg(long, value_delimiter = ',', default_value = "mte,sdma", value_name = "SETS")]
    engines: Vec<EngineSet>,
    /// SDMA channels (`SHMEM_SDMA_CHANNELS`) of the jobs whose set includes SDMA (default: inherited, else the
    /// engine's own default: the cores minus one, 1 to 4).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    sdma_channels: Option<u32>,
}

/// PE counts given as a comma-separated list; an empty value is an empty list (a clap `Vec` with a delimiter
/// refuses `--barrier-pes ""`, which the help text promises to accept).
#[derive(Debug, Clone, PartialEq, Eq)]
struct PeCounts(Vec<u32>);

/// Parses `4,8` (each 2 to 64), or an empty value as no counts.
fn pe_counts(s: &str) -> Result<PeCounts, String> {
    if s.trim().is_empty() {
        return Ok(PeCounts(Vec::new()));
    }
    s.split(',')
        .map(|p| match p.trim().parse::<u32>() {
            Ok(n) if (2..=64).contains(&n) => Ok(n),
            Ok(n) => Err(format!("{n} is not in 2..=64")),
            Err(e) => Err(format!("{p:?}: {e}")),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(PeCounts)
}

fn parse_max_bw(s: &str) -> Result<usize, String> {
    let v = benches::parse_size(s).ok_or_else(|| format!("{s:?} is not a size like 4096, 64K or 16M"))?;
    if v < benches::BW_MIN {
        return Err(format!("the largest bandwidth message must be at least {}", benches::BW_MIN));
    }
    Ok(v)
}

/// The share of CPU time (0..1) that was busy over a short sample of `/proc/stat`.
fn cpu_busy(sample: Duration) -> Option<f64> {
    fn read() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
        Some((fields.iter().sum(), idle))
    }
    let (t0, i0) = read()?;
    std::thread::sleep(sample);
    let (t1, i1) = read()?;
    let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
    Some(1.0 - (i1.saturating_sub(i0)) as f64 / total as f64)
}

fn main() -> ExitCode {
    match JobConfig::from_env() {
        Ok(Some(cfg)) => {
            return match benches::job::run_pe(&cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("shmem-bench PE: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("shmem-bench: {e}");
            return ExitCode::from(2);
        }
    }
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("shmem-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one job and returns PE 0's result lines (also those of a job that failed part-way) and whether
/// the job succeeded.
fn run_job(cfg: &JobConfig, n_pes: u32, timeout: Duration) -> Result<(Vec<RefLine>, bool), BoxError> {
    eprintln!("# job: {n_pes} PEs, role {}, heap {} MiB per PE", cfg.role.as_str(), cfg.heap_bytes() >> 20);
    let _ = std::fs::remove_file(&cfg.out);
    let outcome = cfg.launch(n_pes, timeout)?;
    let ok = outcome.end == shmem_run::JobEnd::Success;
    if !ok {
        eprintln!("shmem-bench: the {n_pes}-PE job failed: {}", outcome.end);
    }
    let text = std::fs::read_to_string(&cfg.out).unwrap_or_default();
    let _ = std::fs::remove_file(&cfg.out);
    Ok((reference::parse(&text), ok))
}

/// The in-process physical references, as `ref <metric> <size> <value> <unit>` lines.
fn measure_references(plan: &Plan, max_bw: usize) -> Result<Vec<RefLine>, BoxError> {
    let mut copy_sizes: Vec<usize> = LAT_SIZES.iter().chain(&NBI_SIZES).copied().collect();
    copy_sizes.sort_unstable();
    copy_sizes.dedup();
    let mut lines = Vec::new();
    let mut push = |metric: &str, size: usize, value: f64, unit: &str| {
        eprintln!("ref {metric} {size} {value:.3} {unit}");
        lines.push(RefLine {
            source: "ref".into(),
            metric: metric.into(),
            size: size as u64,
            value,
            unit: unit.into(),
        });
    };
    let mut peer = FlagPeer::spawn(Duration::from_secs(10))?;
    for s in std::iter::once(0).chain(LAT_SIZES) {
        let ns = measure(plan, |n| peer.round_trips(s, n))?;
        push("handoff_lat", s, ns / 2.0, "ns");
    }
    drop(peer);
    let mut m = Memcpy::new(max_bw.max(copy_sizes[copy_sizes.len() - 1]));
    for s in copy_sizes {
        let ns = measure_ok(plan, |n| m.batch(s, n));
        push("memcpy_lat", s, ns, "ns");
    }
    for s in bw_sizes(max_bw) {
        let ns = measure_ok(plan, |n| m.batch(s, n));
        push("memcpy_bw", s, gb_per_s(s as u64, ns), "GB/s");
    }
    drop(m);
    let word = AtomicU64::new(0);
    let ns = measure_ok(plan, |n| atomic_batch(&word, n));
    push("atomic_lat", 8, ns, "ns");
    Ok(lines)
}

/// A group of rows: our metric, its sizes, the unit, the in-process reference metric and what it is, and
/// OpenSHMEM's metric.
type RowSpec<'a> = (&'a str, &'a [u64], Unit, &'a str, &'static str, &'a str);

/// The base names of the per-engine metrics, in table order.
const ENGINE_METRICS: [&str; 18] = [
    "put_lat",
    "put_lat_pe1_busy",
    "get_lat",
    "put_signal_oneway",
    "fetch_add",
    "fetch_add_api",
    "fetch_add_pe1_busy",
    "put_bw",
    "put_bw_pe1_busy",
    "put_stream_bw",
    "get_bw",
    "get_stream_bw",
    "put_nbi_issue",
    "overlap_transfer",
    "overlap_compute",
    "overlap_total",
    "overlap",
    "barrier",
];

/// Builds the table rows from our lines, the in-process references and the script's lines: every engine
/// set's rows in turn (metric names with the set's suffix); the barrier-only jobs belong to the first set.
fn rows(
    ours: &[RefLine],
    refs: &[RefLine],
    script: &[RefLine],
    engines: &[EngineSet],
    barrier_pes: &[u32],
    max_bw: usize,
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut add = |metric: &str, size: u64, size_kind, unit, reference: Option<f64>, kind, osh: Option<f64>| {
        rows.push(Row {
            metric: metric.into(),
            size,
            size_kind,
            unit,
            ours: lookup(ours, "ours", metric, size),
            reference,
            reference_kind: kind,
            openshmem: osh,
        });
    };
    let osh = |metric: &str, size: u64| lookup(script, "osh", metric, size);
    let inproc = |metric: &str, size: u64| lookup(refs, "ref", metric, size);
    let lat: Vec<u64> = LAT_SIZES.iter().map(|&s| s as u64).collect();
    let bw: Vec<u64> = bw_sizes(max_bw).into_iter().map(|s| s as u64).collect();
    let nbi: Vec<u64> = NBI_SIZES.iter().map(|&s| s as u64).collect();
    let ov = [OVERLAP_BYTES as u64];
    // (our metric, sizes, unit, in-process reference metric, what it is, OpenSHMEM metric); "" for none.
    let specs: [RowSpec; 15] = [
        ("put_lat", &lat, Unit::Ns, "memcpy_lat", "memcpy", "put_lat"),
        ("put_lat_pe1_busy", &lat, Unit::Ns, "memcpy_lat", "memcpy", "put_lat"),
        ("get_lat", &lat, Unit::Ns, "memcpy_lat", "memcpy", "get_lat"),
        ("put_signal_oneway", &lat, Unit::Ns, "handoff_lat", "flag hand-off", "putsig_lat"),
        ("fetch_add", &[8], Unit::Ns, "atomic_lat", "local atomic", "fadd_lat"),
        ("fetch_add_api", &[8], Unit::Ns, "atomic_lat", "local atomic", "fadd_lat"),
        ("fetch_add_pe1_busy", &[8], Unit::Ns, "atomic_lat", "local atomic", "fadd_lat"),
        ("put_bw", &bw, Unit::GbPerS, "memcpy_bw", "memcpy", "put_bw"),
        ("put_bw_pe1_busy", &bw, Unit::GbPerS, "memcpy_bw", "memcpy", "put_bw"),
        ("get_bw", &bw, Unit::GbPerS, "memcpy_bw", "memcpy", "get_bw"),
        ("put_nbi_issue", &nbi, Unit::Ns, "memcpy_lat", "memcpy", ""),
        ("overlap_transfer", &ov, Unit::Ns, "memcpy_lat", "memcpy", ""),
        ("overlap_compute", &ov, Unit::Ns, "", "", ""),
        ("overlap_total", &ov, Unit::Ns, "", "", ""),
        ("overlap", &ov, Unit::Fraction, "", "", ""),
    ];
    for (i, e) in engines.iter().enumerate() {
        let sfx = e.suffix();
        if e.uses_tcp() {
            // The TCP job's own references: the raw TCP ping-pongs and stream between the same two PEs, measured
            // in the same job; OSHMEM's values from its run over TCP (osh_tcp). The latency reference is the
            // faster of the blocking and the spinning ping-pong: a blocking read may pay a wake-up that the
            // engine's spinning threads avoid, which would flatter the ratios.
            let blocking = |s: u64| lookup(ours, "ours", &format!("raw_tcp_oneway{sfx}"), s);
            let spinning = |s: u64| lookup(ours, "ours", &format!("raw_tcp_oneway_spin{sfx}"), s);
            let one_way = |s: u64| match (blocking(s), spinning(s)) {
                (Some(b), Some(p)) => Some(b.min(p)),
                (b, p) => b.or(p),
            };
            let stream = |s: u64| lookup(ours, "ours", &format!("raw_tcp_stream_bw{sfx}"), s);
            let osh_tcp = |metric: &str, s: u64| lookup(script, "osh_tcp", metric, s);
            // (The labels stay "raw TCP round trip" / "raw TCP one-way": the targets are named after them; the
            // note above the table says which ping-pong they come from.)
            let round_trip = "raw TCP round trip";
            for s in lat.iter().copied() {
                let rt = one_way(s).map(|v| 2.0 * v);
                add(&format!("put_lat{sfx}"), s, SizeKind::Bytes, Unit::Ns, rt, round_trip, osh_tcp("put_lat", s));
            }
            for s in lat.iter().copied() {
                let rt = one_way(s).map(|v| 2.0 * v);
                add(&format!("get_lat{sfx}"), s, SizeKind::Bytes, Unit::Ns, rt, round_trip, osh_tcp("get_lat", s));
            }
            for s in lat.iter().copied() {
                let (name, o) = (format!("put_signal_oneway{sfx}"), osh_tcp("putsig_lat", s));
                add(&name, s, SizeKind::Bytes, Unit::Ns, one_way(s), "raw TCP one-way", o);
            }
            let rt = one_way(8).map(|v| 2.0 * v);
            add(&format!("fetch_add{sfx}"), 8, SizeKind::Bytes, Unit::Ns, rt, round_trip, osh_tcp("fadd_lat", 8));
            // Both raw one-way times, shown as rows of their own (no reference).
            for metric in ["raw_tcp_oneway", "raw_tcp_oneway_spin"] {
                for s in lat.iter().copied() {
                    add(&format!("{metric}{sfx}"), s, SizeKind::Bytes, Unit::Ns, None, "", None);
                }
            }
            for metric in ["put_bw", "put_stream_bw", "get_bw", "get_stream_bw"] {
                for s in bw.iter().copied() {
                    let (name, o) = (format!("{metric}{sfx}"), osh_tcp(metric, s));
                    add(&name, s, SizeKind::Bytes, Unit::GbPerS, stream(s), "raw TCP stream", o);
                }
            }
            add(&format!("barrier{sfx}"), 2, SizeKind::Pes, Unit::Ns, None, "", None);
            continue;
        }
        for (metric, sizes, unit, ref_metric, kind, osh_metric) in specs {
            for &s in sizes {
                let name = format!("{metric}{sfx}");
                add(&name, s, SizeKind::Bytes, unit, inproc(ref_metric, s), kind, osh(osh_metric, s));
            }
        }
        let pes = if i == 0 { barrier_pes } else { &barrier_pes[..1] };
        for &n in pes {
            // The physical floor of a 2-PE barrier: a flag round trip (two one-way hand-offs).
            let (r, kind) =
                if n == 2 { (inproc("handoff_lat", 0).map(|v| 2.0 * v), "flag round trip") } else { (None, "") };
            add(&format!("barrier{sfx}"), n.into(), SizeKind::Pes, Unit::Ns, r, kind, osh("barrier_lat", n.into()));
        }
    }
    rows
}

/// The SDMA channel count PE 0 of `engines`' job reported.
fn sdma_channels(ours: &[RefLine], engines: EngineSet) -> Option<u32> {
    lookup(ours, "ours", &format!("{SDMA_CHANNELS_METRIC}{}", engines.suffix()), 0).map(|c| c as u32)
}

fn channels_text(c: Option<u32>) -> String {
    match c {
        Some(1) => "1 channel".to_owned(),
        Some(c) => format!("{c} channels"),
        None => "channels unknown".to_owned(),
    }
}

/// Our in-process references next to the C program's (a check that both measure the same thing).
fn crosscheck_table(refs: &[RefLine], script: &[RefLine]) -> String {
    let mut cells = vec![vec![
        "reference".to_owned(),
        "size".to_owned(),
        "unit".to_owned(),
        "".to_owned(),
        "in-process".to_owned(),
        "C raw_bench".to_owned(),
        "ratio".to_owned(),
    ]];
    for r in refs {
        let c_metric = match r.metric.as_str() {
            "handoff_lat" | "memcpy_bw" => r.metric.as_str(),
            _ => continue,
        };
        let c = lookup(script, "raw", c_metric, r.size);
        let unit = if r.unit == "GB/s" { Unit::GbPerS } else { Unit::Ns };
        let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        cells.push(vec![
            r.metric.clone(),
            report::format_size(r.size, SizeKind::Bytes),
            unit.as_str().to_owned(),
            String::new(),
            fmt(Some(r.value)),
            fmt(c),
            c.filter(|c| *c > 0.0).map_or_else(|| "-".to_owned(), |c| format!("{:.2}x", r.value / c)),
        ]);
    }
    report::layout(&cells)
}

fn workspace_root(args: &Args) -> PathBuf {
    args.workspace.clone().unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap_or_else(|_| PathBuf::from("."))
    })
}

fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn lines_json(lines: &[RefLine]) -> serde_json::Value {
    lines
        .iter()
        .map(|l| {
            serde_json::json!({
                "source": l.source,
                "metric": l.metric,
                "size": l.size,
                "value": report::json_num(Some(l.value)),
                "unit": l.unit,
            })
        })
        .collect()
}

fn run(args: &Args) -> Result<bool, BoxError> {
    let mut plan = Plan::new(args.quick);
    if let Some(ms) = args.batch_ms.filter(|ms| ms.is_finite() && *ms > 0.0) {
        plan.target = Duration::from_secs_f64(ms / 1e3);
    }
    if let Some(b) = args.batches {
        plan.batches = b as usize;
    }
    let max_bw = args.max_bw.unwrap_or(if args.quick { BW_MAX_QUICK } else { BW_MAX_FULL });
    let timeout = Duration::from_secs(args.timeout.unwrap_or(if args.quick { 300 } else { 900 }));
    let busy = cpu_busy(Duration::from_millis(250));
    if let Some(b) = busy.filter(|b| *b > 0.10) {
        eprintln!("# warning: the CPUs were {:.0}% busy before the start; latencies will be inflated", b * 100.0);
    } else if let Some(load) = load_average().filter(|l| *l > 0.5) {
        eprintln!("# note: load average {load} at start");
    }
    let out =
        std::env::temp_dir().join(format!("shmem-bench-{}-{}.txt", std::process::id(), shmem_run::random_hex(4)?));
    let mut engine_sets: Vec<EngineSet> = Vec::new();
    for &e in &args.engines {
        if !engine_sets.contains(&e) {
            engine_sets.push(e);
        }
    }
    if engine_sets.is_empty() {
        return Err("--engines names no engine set (use mte, sdma or mte+sdma)".into());
    }
    let cores = engines::cores();
    let mut cfg = JobConfig {
        role: Role::All,
        plan,
        max_bw,
        out,
        engines: engine_sets[0],
        sdma_channels: args.sdma_channels,
        netns: None,
    };
    let mut ours = Vec::new();
    let mut all_ok = true;
    // The tcp-netns job's two namespaces live as long as this run (removed on drop).
    let _namespaces = if engine_sets.contains(&EngineSet::TcpNetns) {
        match benches::tcp::TwoNamespaces::create() {
            Ok(ns) => {
                cfg.netns = Some((ns.a.clone(), ns.b.clone()));
                Some(ns)
            }
            Err(e) => {
                eprintln!("shmem-bench: no tcp-netns job: cannot make two network namespaces (needs root): {e}");
                engine_sets.retain(|&s| s != EngineSet::TcpNetns);
                all_ok = false;
                None
            }
        }
    } else {
        None
    };
    for &e in &engine_sets {
        cfg.engines = e;
        eprintln!("# engines: {e} ({}={})", benches::engines::DATA_OP_ENGINE_VAR, e.env_value());
        let (lines, ok) = run_job(&cfg, args.pes, timeout)?;
        ours.extend(lines);
        all_ok &= ok;
    }
    cfg.engines = engine_sets[0];
    let mut barrier_pes = vec![args.pes];
    for &n in args.barrier_pes.0.iter().filter(|&&n| n != args.pes) {
        cfg.role = Role::Barrier;
        let (lines, ok) = run_job(&cfg, n, timeout)?;
        ours.extend(lines);
        all_ok &= ok;
        barrier_pes.push(n);
    }
    // The TCP rows have their own references (measured in their jobs): a TCP-only run needs no in-process ones.
    let refs = if engine_sets.iter().all(|e| e.uses_tcp()) {
        Vec::new()
    } else {
        eprintln!("# in-process references");
        measure_references(&plan, max_bw)?
    };
    let mut script = Vec::new();
    let mut script_note = String::new();
    if args.with_openshmem {
        let root = workspace_root(args);
        let path = root.join("benches/reference/run.sh");
        eprintln!("# running {}", path.display());
        match reference::run_script(&root, &path, args.quick, Duration::from_secs(1800)) {
            Ok(r) => {
                match r.status {
                    Some(st) if st.success() => {}
                    Some(st) => {
                        script_note = format!("reference script ended with {st}; its missing values print as -")
                    }
                    None => script_note = "reference script timed out; its missing values print as -".into(),
                }
                script = r.lines;
            }
            Err(e) => script_note = format!("cannot run the reference script {}: {e}", path.display()),
        }
        if !script_note.is_empty() {
            eprintln!("shmem-bench: {script_note}");
        }
    }
    let rows = rows(&ours, &refs, &script, &engine_sets, &barrier_pes, max_bw);
    let c_rows = c_level::rows(&script, &ours);
    let mut checks = report::check_targets(&rows);
    if args.with_openshmem {
        checks.extend(c_level::check_targets(&c_rows));
    }
    let mut engines_line = Vec::new();
    for &e in &engine_sets {
        if e.uses_tcp() {
            checks.extend(report::check_tcp_targets(&rows, e));
            engines_line.push(e.to_string());
        } else if e.uses_sdma() {
            let channels = sdma_channels(&ours, e);
            engines_line.push(format!("{e} ({})", channels_text(channels)));
            checks.extend(report::check_sdma_targets(&rows, &SdmaContext { engines: e, channels, cores }));
        } else {
            engines_line.push(e.to_string());
        }
    }

    let mut text = String::new();
    text.push_str(&format!(
        "shmem-bench ({} plan: {} batches x {} ms, median; {} PEs; CPUs {} busy before the start)\n\
         engines: {}; this machine has {cores} cores\n\
         ratios are ours/other: for ns lower is better, for GB/s and fractions higher is better\n{}\n",
        if args.quick { "quick" } else { "full" },
        plan.batches,
        plan.target.as_secs_f64() * 1e3,
        args.pes,
        busy.map_or_else(|| "?".to_owned(), |b| format!("{:.0}%", b * 100.0)),
        engines_line.join(", "),
        if engine_sets.iter().any(|e| e.uses_tcp()) {
            "TCP latency references (raw TCP round trip, raw TCP one-way): the faster of the blocking and the \
             spinning raw ping-pong of the same job (rows raw_tcp_oneway, raw_tcp_oneway_spin)\n"
        } else {
            ""
        },
    ));
    text.push_str(&report::table(&rows, args.with_openshmem));
    if engine_sets.len() > 1 {
        text.push_str("\nEngines side by side (ours; the ratio columns are the other set over the first):\n\n");
        text.push_str(&report::engines_table(&rows, &engine_sets, &ENGINE_METRICS));
    }
    if args.with_openshmem {
        text.push_str(
            "\nC level: benches/reference/osh_bench.c built and run by Open MPI's oshcc/oshrun and by ours \
             (crates/shmem-capi), same run;\nours/OSH: for ns lower is better, for GB/s higher; the last column is \
             the Rust API's value from the table above:\n\n",
        );
        text.push_str(&c_level::table(&c_rows));
        text.push_str("\nIn-process references vs the C raw_bench of run.sh:\n\n");
        text.push_str(&crosscheck_table(&refs, &script));
    }
    text.push_str("\nTargets:\n\n");
    text.push_str(&report::targets_table(&checks));
    if engine_sets.iter().any(|e| e.uses_sdma()) {
        text.push_str(&format!(
            "\nnote: this machine has {cores} cores. The overlap runs while PE 1 sleeps; the copy engine has a core of \
             its own\n      only when cores >= channels + 1 (the caller computes on one){}.\n      SDMA bandwidth \
             above MTE needs 2+ channels with a core each (cores >= channels + 1).\n",
            if cores == 2 { ": on 2 cores, only with 1 channel and PE 1 idle" } else { "" }
        ));
    }
    if !script_note.is_empty() {
        text.push_str(&format!("\nnote: {script_note}\n"));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;

    if let Some(path) = &args.json {
        let sdma_channels: serde_json::Map<String, serde_json::Value> = engine_sets
            .iter()
            .filter(|e| e.uses_sdma())
            .map(|&e| (e.label().to_owned(), sdma_channels(&ours, e).into()))
            .collect();
        let doc = serde_json::json!({
            "plan": {
                "quick": args.quick,
                "batches": plan.batches,
                "batch_ms": plan.target.as_secs_f64() * 1e3,
                "max_bw": max_bw,
                "pes": args.pes,
                "barrier_pes": args.barrier_pes.0,
                "cpu_busy_before": report::json_num(busy),
                "engines": engine_sets.iter().map(|e| e.label()).collect::<Vec<_>>(),
                "cores": cores,
                "sdma_channels": sdma_channels,
            },
            "rows": rows.iter().map(report::row_json).collect::<Vec<_>>(),
            "c_level_rows": c_rows.iter().map(c_level::row_json).collect::<Vec<_>>(),
            "targets": checks.iter().map(report::target_json).collect::<Vec<_>>(),
            "ours": lines_json(&ours),
            "in_process_references": lines_json(&refs),
            "reference_script": lines_json(&script),
        });
        let mut text = serde_json::to_string_pretty(&doc)?;
        text.push('\n');
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(dir) = &args.plot {
        let caption = format!(
            "{}; {}; {} plan ({} batches x {} ms, median); CPUs {} busy at the start",
            plot::machine(),
            plot::today(),
            if args.quick { "quick" } else { "full" },
            plan.batches,
            plan.target.as_secs_f64() * 1e3,
            busy.map_or_else(|| "?".to_owned(), |b| format!("{:.0}%", b * 100.0)),
        );
        for path in plot::write_charts(dir, &rows, &engine_sets, &caption)? {
            eprintln!("# wrote {}", path.display());
        }
    }
    Ok(all_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pe_counts_parse_lists_and_the_empty_value() {
        assert_eq!(pe_counts("4,8"), Ok(PeCounts(vec![4, 8])));
        assert_eq!(pe_counts(" 3 "), Ok(PeCounts(vec![3])));
        assert_eq!(pe_counts(""), Ok(PeCounts(Vec::new())));
        assert_eq!(pe_counts("1"), Err("1 is not in 2..=64".to_string()));
        assert_eq!(pe_counts("65"), Err("65 is not in 2..=64".to_string()));
        assert!(pe_counts("4,x").is_err());
        assert!(pe_counts("-2").is_err());
        assert!(pe_counts("4,,8").is_err());
        let args = Args::try_parse_from(["shmem-bench", "--barrier-pes", ""]).expect("an empty list parses");
        assert!(args.barrier_pes.0.is_empty());
        let args = Args::try_parse_from(["shmem-bench"]).expect("defaults");
        assert_eq!(args.barrier_pes.0, vec![4, 8]);
    }
}
