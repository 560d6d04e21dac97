//! `coll-bench`: latency and bandwidth of the team collectives (broadcast, sum-reduce) beside `barrier_all`,
//! at several PE counts, optionally next to Open MPI OSHMEM (`shmem_broadcast64`, `shmem_double_sum_to_all`,
//! `shmem_barrier_all`) measured in the same run, with the ratio per row.
//!
//! ```sh
//! cargo run --release -p benches --bin coll-bench -- --quick --with-openshmem          # 2, 4, 8 PEs
//! cargo run --release -p benches --bin coll-bench -- --pes 4 --max 1M --json out.json
//! SHMEM_SYMMETRIC_SIZE=200M target/release/shmemrun -n 4 target/release/coll-bench     # one job, our rows only
//! ```
//! Run without the launcher's environment, the program is the driver: it starts itself as the PEs of one job per
//! PE count (`shmem_run::run_job`), reads what PE 0 measured, runs `benches/reference/run.sh --coll <n>` right
//! after each of our jobs when asked, and prints one table. Started as a PE (by the driver or by `shmemrun`), it measures: every PE makes every
//! call, PE 0 times batches of calls by the method of `benches::measure` (calibration, warm-up, median of
//! timed batches), the iteration count decided by PE 0 and broadcast, as `osh_bench.c` does.

use benches::coll::{self, coll_sizes, metric, COLLECTIVES, COLL_MAX};
use benches::measure::{median, Plan};
use benches::reference::{self, RefLine};
use clap::Parser;
use shmem::team::TEAM_WORLD;
use shmem::{Shmem, SymVec};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// File PE 0 appends its result lines to (set by the driver; without it PE 0 prints them).
const OUT_VAR: &str = "COLL_BENCH_OUT";
/// Largest message in bytes.
const MAX_VAR: &str = "COLL_BENCH_MAX";
/// `1`: the quick size plan.
const QUICK_VAR: &str = "COLL_BENCH_QUICK";
/// Target time of one batch in nanoseconds.
const BATCH_NS_VAR: &str = "COLL_BENCH_BATCH_NS";
/// Number of timed batches.
const BATCHES_VAR: &str = "COLL_BENCH_BATCHES";

/// Collectives of the SHMEM runtime beside Open MPI OSHMEM's, at several PE counts.
#[derive(Debug, Parser)]
#[command(name = "coll-bench", version)]
struct Args {
    /// PE counts, one job each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "2,4,8", value_parser = clap::value_parser!(u32).range(1..=64))]
    pes: Vec<u32>,
    /// Largest message, e.g. 64M or 4096 (at least 8).
    #[arg(long, value_parser = parse_max, default_value = "64M")]
    max: usize,
    /// Quick plan: 4 ms x 5 batches, sizes 8 B, 4 KiB, 1 MiB and --max (full: 20 ms x 7, 8 B x8 to 64 KiB, x4).
    #[arg(long)]
    quick: bool,
    /// Also run `benches/reference/run.sh --coll` (Open MPI OSHMEM) and print the ratios.
    #[arg(long)]
    with_openshmem: bool,
    /// Directory holding `benches/reference/run.sh` (default: the workspace this program was built in).
    #[arg(long, value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Write the rows as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Target time of one batch in milliseconds (overrides the plan's).
    #[arg(long, value_name = "MS")]
    batch_ms: Option<f64>,
    /// Number of timed batches (overrides the plan's).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    batches: Option<u32>,
    /// Limit of each job and of the reference script in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    timeout: u64,
}

fn parse_max(s: &str) -> Result<usize, String> {
    match benches::parse_size(s) {
        Some(v) if v >= 8 => Ok(v),
        _ => Err(format!("{s:?} is not a size of at least 8 bytes like 4096, 64K or 64M")),
    }
}

fn main() -> ExitCode {
    let result = if std::env::var_os(shmem_core_pe_var()).is_some() { pe_main().map(|()| true) } else { driver() };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("coll-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The launcher's variable that makes a process a PE.
fn shmem_core_pe_var() -> &'static str {
    "SHMEM_PE"
}

// ---------------------------------------------------------------------------------------------------------------
// PE side

/// The plan from the driver's variables (or the defaults).
fn env_plan(quick: bool) -> Plan {
    let mut plan = Plan::new(quick);
    if let Some(ns) = std::env::var(BATCH_NS_VAR).ok().and_then(|v| v.parse::<u64>().ok()) {
        plan.target = Duration::from_nanos(ns);
    }
    if let Some(b) = std::env::var(BATCHES_VAR).ok().and_then(|v| v.parse::<usize>().ok()).filter(|&b| b > 0) {
        plan.batches = b;
    }
    plan
}

/// Times collectives: every PE runs every batch; PE 0 decides the iteration counts.
struct Timer<'a> {
    sh: &'a Shmem,
    plan: Plan,
    /// The iteration count PE 0 shares (source and destination of a one-word broadcast).
    ctl_src: SymVec<u64>,
    ctl_dst: SymVec<u64>,
}

impl Timer<'_> {
    /// One batch of `iters` calls of `f` on every PE after a barrier; PE 0's elapsed time. With `closing`, a
    /// barrier after the calls is timed too (amortized over the batch): the batch ends when every PE is done,
    /// so that a root that returns before the others have their data is not timed short (OSHMEM's and MPI's
    /// are timed the same way).
    fn batch(&self, iters: u64, closing: bool, f: &mut dyn FnMut() -> shmem::Result<()>) -> shmem::Result<Duration> {
        self.sh.barrier_all()?;
        let t = Instant::now();
        for _ in 0..iters {
            f()?;
        }
        if closing {
            self.sh.barrier_all()?;
        }
        Ok(t.elapsed())
    }

    /// PE 0's `v`, on every PE.
    fn share(&self, v: u64) -> shmem::Result<u64> {
        self.ctl_src.write_local(0, &[v])?;
        self.sh.broadcast(TEAM_WORLD, &self.ctl_dst, &self.ctl_src, 0)?;
        let mut out = [0u64];
        self.ctl_dst.read_local(0, &mut out)?;
        Ok(out[0])
    }

    /// Median ns per call of `f` (meaningful on PE 0): calibration, a warm-up batch, the timed batches.
    fn measure(&self, closing: bool, mut f: impl FnMut() -> shmem::Result<()>) -> shmem::Result<f64> {
        let mut iters = 1;
        loop {
            let t = self.batch(iters, closing, &mut f)?;
            let next = if self.sh.my_pe() == 0 { self.plan.next_iters(iters, t).unwrap_or(0) } else { 0 };
            match self.share(next)? {
                0 => break,
                n => iters = n,
            }
        }
        self.batch(iters, closing, &mut f)?;
        let mut per = Vec::with_capacity(self.plan.batches);
        for _ in 0..self.plan.batches {
            per.push(self.batch(iters, closing, &mut f)?.as_nanos() as f64 / iters as f64);
        }
        Ok(median(&mut per))
    }
}

fn pe_main() -> Result<(), BoxError> {
    let sh = shmem::init_from_env()?;
    let max = std::env::var(MAX_VAR)
        .ok()
        .or_else(|| std::env::args().nth(1))
        .and_then(|v| benches::parse_size(&v))
        .unwrap_or(COLL_MAX)
        .max(8);
    let quick = std::env::var(QUICK_VAR).as_deref() == Ok("1");
    let n = sh.n_pes();
    let timer = Timer { sh: &sh, plan: env_plan(quick), ctl_src: sh.alloc_zeroed(1)?, ctl_dst: sh.alloc_zeroed(1)? };
    let mut lines = vec![format!("ours barrier_lat {n} {:.3} ns", timer.measure(false, || sh.barrier_all())?)];
    for bytes in coll_sizes(max, quick) {
        let count = bytes / 8;
        let (s, d) = (sh.alloc_zeroed::<f64>(count)?, sh.alloc_zeroed::<f64>(count)?);
        s.write_local(0, &vec![1.0; count])?;
        let [bcast, sum] = COLLECTIVES.map(|c| metric(c.stem, n));
        let t = timer.measure(true, || sh.broadcast(TEAM_WORLD, &d, &s, 0))?;
        lines.push(format!("ours {bcast} {bytes} {t:.3} ns"));
        let t = timer.measure(true, || sh.sum_reduce(TEAM_WORLD, &d, &s))?;
        lines.push(format!("ours {sum} {bytes} {t:.3} ns"));
        // The sum is checked once per size, so that a fast but wrong reduction cannot pass unnoticed.
        let mut first = [0.0f64];
        d.read_local(0, &mut first)?;
        if first[0] != f64::from(n) {
            return Err(format!("sum_reduce of {bytes} B gave {} instead of {n}", first[0]).into());
        }
        s.free()?;
        d.free()?;
    }
    if sh.my_pe() == 0 {
        match std::env::var_os(OUT_VAR) {
            Some(path) => {
                let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                for l in &lines {
                    writeln!(f, "{l}")?;
                }
            }
            None => {
                for l in &lines {
                    println!("{l}");
                }
                let ours = reference::parse(&lines.join("\n"));
                print!("{}", coll::table(&coll::rows(&ours, &[], &[n], &coll_sizes(max, quick))));
            }
        }
    }
    timer.ctl_src.free()?;
    timer.ctl_dst.free()?;
    sh.finalize()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// Driver side

/// The share of CPU time (0..1) that was busy over `sample`, from `/proc/stat`.
fn cpu_busy(sample: Duration) -> Option<f64> {
    fn read() -> Option<(u64, u64)> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        Some((fields.iter().sum(), fields.get(3)? + fields.get(4).copied().unwrap_or(0)))
    }
    let (t0, i0) = read()?;
    std::thread::sleep(sample);
    let (t1, i1) = read()?;
    let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
    Some(1.0 - i1.saturating_sub(i0) as f64 / total as f64)
}

/// The machine's load, for the table header: cores, load averages, busy share.
fn load_line() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |c| c.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    let busy = cpu_busy(Duration::from_millis(250)).map_or("?".into(), |b| format!("{:.0}%", b * 100.0));
    format!("{cores} cores, load average {}, CPUs {busy} busy before the run", load.join(" "))
}

/// Runs our job of `n` PEs; returns PE 0's lines and whether the job succeeded.
fn run_ours(args: &Args, n: u32) -> Result<(Vec<RefLine>, bool), BoxError> {
    let out = std::env::temp_dir().join(format!("coll-bench-{}-{n}.txt", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let mut spec = shmem_run::JobSpec::new(n, std::env::current_exe()?);
    spec.timeout = Some(Duration::from_secs(args.timeout));
    // Source and destination of the largest message plus the runtime's own allocations.
    spec.mem_size = Some(2 * args.max as u64 + (32 << 20));
    let mut env = vec![
        (OUT_VAR.to_string(), out.display().to_string()),
        (MAX_VAR.to_string(), args.max.to_string()),
        (QUICK_VAR.to_string(), if args.quick { "1" } else { "0" }.to_string()),
    ];
    if let Some(ms) = args.batch_ms {
        env.push((BATCH_NS_VAR.to_string(), ((ms * 1e6) as u64).max(1).to_string()));
    }
    if let Some(b) = args.batches {
        env.push((BATCHES_VAR.to_string(), b.to_string()));
    }
    spec.extra_env = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
    eprintln!("# coll-bench: our job of {n} PEs, heap {} MiB per PE", spec.mem_size.unwrap_or(0) >> 20);
    let outcome = shmem_run::run_job(&spec)?;
    let ok = outcome.end == shmem_run::JobEnd::Success;
    if !ok {
        eprintln!("coll-bench: the {n}-PE job failed: {}", outcome.end);
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    Ok((reference::parse(&text), ok))
}

/// Runs `benches/reference/run.sh --coll <n>` (Open MPI OSHMEM with `n` PEs); returns its lines and whether it
/// succeeded.
fn run_openshmem(args: &Args, workspace: &Path, n: u32) -> Result<(Vec<RefLine>, bool), BoxError> {
    let script = workspace.join("benches/reference/run.sh");
    let (pes, max) = (n.to_string(), args.max.to_string());
    let mut a = vec!["--coll", &pes, "--coll-max", &max, "--timeout", "300"];
    if args.quick {
        a.push("--quick");
    }
    eprintln!("# coll-bench: bash {} {}", script.display(), a.join(" "));
    let run = reference::run_script_with(workspace, &script, &a, Duration::from_secs(args.timeout))?;
    let ok = run.status.is_some_and(|s| s.success());
    if !ok {
        eprintln!("coll-bench: the reference script failed for {n} PEs ({:?})", run.status);
    }
    Ok((run.lines, ok))
}

fn driver() -> Result<bool, BoxError> {
    let args = Args::parse();
    let load = load_line();
    eprintln!("# coll-bench: {load}");
    let mut ok = true;
    let (mut ours, mut osh) = (Vec::new(), Vec::new());
    let ws = args.workspace.clone().unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."));
    // Ours and OSHMEM's alternate per PE count, so that a change of the machine's load hits both sides of a row
    // alike as far as possible.
    for &n in &args.pes {
        let (lines, fine) = run_ours(&args, n)?;
        ok &= fine;
        ours.extend(lines);
        if args.with_openshmem {
            let (lines, fine) = run_openshmem(&args, &ws, n)?;
            ok &= fine;
            osh.extend(lines);
        }
    }
    let sizes = coll_sizes(args.max, args.quick);
    let rows = coll::rows(&ours, &osh, &args.pes, &sizes);
    let plan = env_plan_of(&args);
    println!(
        "coll-bench: {}; {} plan ({} batches x {:.1} ms, median); engines {}",
        load,
        if args.quick { "quick" } else { "full" },
        plan.batches,
        plan.target.as_secs_f64() * 1e3,
        std::env::var("SHMEM_DATA_OP_ENGINE").unwrap_or_else(|_| "MTE (default)".into())
    );
    println!("ours: shmem::Shmem::broadcast / sum_reduce::<f64> on TEAM_WORLD, barrier_all");
    if args.with_openshmem {
        println!("OSHMEM: Open MPI {} (shmem_broadcast64, shmem_double_sum_to_all, shmem_barrier_all)", ompi_version());
    }
    println!();
    print!("{}", coll::table(&rows));
    if args.with_openshmem {
        let (with, met, worst) = coll::verdict(&rows);
        let worst = worst.map_or("-".into(), |w| {
            format!("{} {} PEs {}: {:.2}x", w.collective, w.pes, coll::human_bytes(w.bytes), w.ratio().unwrap_or(0.0))
        });
        println!("\ntarget ours/OSHMEM <= 1.0x: {met} of {with} rows met; worst {worst}");
    }
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "load": load, "quick": args.quick, "pes": args.pes, "sizes": sizes,
            "with_openshmem": args.with_openshmem, "rows": coll::rows_json(&rows),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    let missing = rows.iter().filter(|r| r.ours_ns.is_none()).count();
    if missing > 0 {
        eprintln!("coll-bench: {missing} rows without our value");
        ok = false;
    }
    Ok(ok)
}

/// The plan the jobs run (for the header).
fn env_plan_of(args: &Args) -> Plan {
    let mut plan = Plan::new(args.quick);
    if let Some(ms) = args.batch_ms {
        plan.target = Duration::from_secs_f64(ms / 1e3);
    }
    if let Some(b) = args.batches {
        plan.batches = b as usize;
    }
    plan
}

/// `ompi_info --version`'s first line, or `?`.
fn ompi_version() -> String {
    std::process::Command::new("ompi_info")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(|l| l.replace("Open MPI ", "")))
        .unwrap_or_else(|| "?".into())
}
