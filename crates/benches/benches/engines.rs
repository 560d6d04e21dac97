//! Criterion benchmarks of the data-op engines side by side: the same kernels on a 2-PE job run with MTE and
//! with SDMA (and optionally MTE|SDMA), next to `memcpy` measured in the same run.
//!
//! Groups, per engine set `E` (`mte`, `sdma`, `mte+sdma`):
//! - `E/put_lat/{8,64,512,4096}`: blocking put + quiet into PE 1 (`api::putmem`);
//! - `E/put_bw/{4K,1M,16M}`: the same at bandwidth sizes (criterion prints the throughput);
//! - `E/put_nbi_issue/{8,4K,1M,64M}`: one `api::putmem_nbi` call, timed without its completion: issues go out
//!   in chunks (at most 256, at most 8 MiB queued), each followed by an untimed quiet
//!   (`Pair::put_nbi_issue_batch`). Criterion reports the timed part, but plans its iteration counts from the
//!   wall time of each sample (quiets included), so a 64 MiB sample stays a few dozen transfers;
//!
//! and the reference `memcpy/{8,64,512,4096,1M,16M,64M}` (single-thread copy between private buffers).
//!
//! Processes: the bench process is a driver. For each engine set it starts itself again with [`PE0_VAR`] and
//! the runtime's `SHMEM_DATA_OP_ENGINE` set (and criterion's arguments): that process is PE 0 of a fresh 2-PE
//! job. It gives itself PE 0's launch environment while it is still single-threaded (`benches::spawn`), starts
//! PE 1 as a child marked by [`PE1_VAR`] (which inherits the engine set), runs the set's groups, tells PE 1
//! to finish, and both finalize. A fresh process per set is what keeps `set_var` before any thread exists: after
//! a first set, criterion's analysis threads would be running. Then the driver runs the `memcpy` groups.
//!
//! The engine sets are `mte,sdma` unless [`SETS_VAR`] names others (e.g. `mte,sdma,mte+sdma`); the SDMA
//! channel count is the engine's default or `SHMEM_SDMA_CHANNELS` from the environment, and is printed.

use benches::engines::{EngineSet, DATA_OP_ENGINE_VAR};
use benches::pair::Pair;
use benches::raw::Memcpy;
use criterion::{BenchmarkId, Criterion, Throughput};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

/// Marks the process that is PE 0 of one engine set's job; the value is the set's label.
const PE0_VAR: &str = "SHMEM_BENCH_ENGINES_PE0";
/// Marks the child process that is PE 1.
const PE1_VAR: &str = "SHMEM_BENCH_ENGINES_PE1";
/// The engine sets to run, comma-separated (default `mte,sdma`).
const SETS_VAR: &str = "SHMEM_BENCH_ENGINE_SETS";
/// Latency sizes.
const LAT: [usize; 4] = [8, 64, 512, 4096];
/// Bandwidth sizes with their labels.
const BW: [(usize, &str); 3] = [(4 << 10, "4K"), (1 << 20, "1M"), (16 << 20, "16M")];
/// `put_nbi_issue` sizes with their labels.
const NBI: [(usize, &str); 4] = [(8, "8"), (4 << 10, "4K"), (1 << 20, "1M"), (64 << 20, "64M")];
/// The payload array: the largest message.
const DATA: usize = 64 << 20;
/// How long PE 0 waits for PE 1 to exit at the end before killing it.
const CHILD_EXIT_LIMIT: Duration = Duration::from_secs(30);
/// How long the driver lets one engine set's PE 0 run before killing it.
const SET_LIMIT: Duration = Duration::from_secs(600);

type BoxError = Box<dyn std::error::Error>;

fn criterion() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args()
}

fn serve_as_pe1() -> Result<(), BoxError> {
    let sh = shmem::init_from_env()?;
    let mut pair = Pair::setup(sh, DATA)?;
    pair.serve()?;
    pair.finish()?;
    Ok(())
}

fn engine_groups(c: &mut Criterion, pair: &Pair, set: EngineSet) {
    let mut g = c.benchmark_group(format!("{set}/put_lat"));
    for s in LAT {
        g.bench_with_input(BenchmarkId::from_parameter(s), &s, |b, &s| {
            b.iter_custom(|n| pair.put_batch(s, n).expect("put"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("{set}/put_bw"));
    for (s, label) in BW {
        g.throughput(Throughput::Bytes(s as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &s, |b, &s| {
            b.iter_custom(|n| pair.put_batch(s, n).expect("put"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group(format!("{set}/put_nbi_issue"));
    for (s, label) in NBI {
        g.bench_with_input(BenchmarkId::from_parameter(label), &s, |b, &s| {
            b.iter_custom(|n| pair.put_nbi_issue_batch(s, n).expect("put_nbi").0)
        });
    }
    g.finish();
}

/// PE 0 of `set`'s job: starts PE 1, runs the set's groups, ends the job.
fn run_set(set: EngineSet) -> Result<(), BoxError> {
    // Still single-threaded here: start_job's set_var is sound.
    let (children, prefix) = benches::spawn::start_job(2, benches::heap_bytes(DATA), PE1_VAR)?;
    let result = (|| -> Result<(), BoxError> {
        let sh = shmem::init_from_env()?;
        let in_use = shmem::api::engines()?;
        if in_use != set.op_type() {
            return Err(format!("asked for engines {set} but the runtime uses {in_use:?}").into());
        }
        let mut note = format!("engines {set} ({DATA_OP_ENGINE_VAR}={})", set.env_value());
        if set.uses_sdma() {
            let channels = transport_sdma::SdmaConfig::from_env()?.channels;
            note.push_str(&format!(", {channels} SDMA channel(s), {} cores", benches::engines::cores()));
        }
        eprintln!("# {note}");
        let pair = Pair::setup(sh, DATA)?;
        let mut c = criterion();
        engine_groups(&mut c, &pair, set);
        pair.finish()?;
        c.final_summary();
        Ok(())
    })();
    benches::spawn::reap(children, CHILD_EXIT_LIMIT);
    let _ = shmem_run::remove_shm_segments(std::path::Path::new(shmem_run::SHM_DIR), &prefix);
    result
}

/// Runs this executable as PE 0 of `set`'s job with the same arguments; waits at most [`SET_LIMIT`].
fn spawn_set(set: EngineSet) -> Result<bool, BoxError> {
    let mut child = Command::new(std::env::current_exe()?)
        .args(std::env::args_os().skip(1))
        .env(PE0_VAR, set.label())
        .env(DATA_OP_ENGINE_VAR, set.env_value())
        .stdin(Stdio::null())
        .spawn()?;
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait()? {
            if !st.success() {
                eprintln!("engines bench: the {set} run ended with {st}");
            }
            return Ok(st.success());
        }
        if start.elapsed() > SET_LIMIT {
            eprintln!("engines bench: the {set} run took over {SET_LIMIT:?}; killing it");
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn reference_groups(c: &mut Criterion) {
    let mut m = Memcpy::new(DATA);
    let mut g = c.benchmark_group("memcpy");
    let sizes = LAT
        .iter()
        .map(|&s| (s, s.to_string()))
        .chain([(1 << 20, "1M"), (16 << 20, "16M"), (64 << 20, "64M")].map(|(s, l)| (s, l.to_owned())));
    for (s, label) in sizes {
        g.throughput(Throughput::Bytes(s as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &s, |b, &s| b.iter_custom(|n| m.batch(s, n)));
    }
    g.finish();
}

fn driver() -> Result<bool, BoxError> {
    let sets = std::env::var(SETS_VAR).unwrap_or_else(|_| "mte,sdma".to_owned());
    let sets: Vec<EngineSet> =
        sets.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect::<Result<_, _>>()?;
    let mut ok = true;
    for set in sets {
        ok &= spawn_set(set)?;
    }
    let mut c = criterion();
    reference_groups(&mut c);
    c.final_summary();
    Ok(ok)
}

fn main() -> ExitCode {
    let result = if std::env::var_os(PE1_VAR).is_some() {
        serve_as_pe1().map(|()| true)
    } else if let Some(label) = std::env::var_os(PE0_VAR) {
        match label.to_string_lossy().parse::<EngineSet>() {
            Ok(set) => run_set(set).map(|()| true),
            Err(e) => Err(format!("{PE0_VAR}: {e}").into()),
        }
    } else {
        driver()
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("engines bench: {e}");
            ExitCode::FAILURE
        }
    }
}
