//! Criterion benchmarks of the MTE (same-node) engine, each group next to its physical reference in the
//! same run.
//!
//! The bench process is PE 0 of a 2-PE job; it starts PE 1 as a child process of this same binary (the
//! environment variable [`PE1_VAR`] marks it), which serves pings and commands (see `benches::pair`) until
//! PE 0 says it is done. Groups: `put_lat`, `get_lat`, `put_signal_pingpong` (round trip), `fetch_add`,
//! `barrier`, `put_bw`, `get_bw`, and the references `memcpy` (same sizes) and `flag_handoff` (raw
//! release-store/acquire-spin round trip between two processes).

use benches::pair::Pair;
use benches::raw::{FlagPeer, Memcpy};
use criterion::{BenchmarkId, Criterion, Throughput};
use std::time::Duration;

/// Marks the child process that is PE 1.
const PE1_VAR: &str = "SHMEM_BENCH_CRITERION_PE1";
/// Latency sizes.
const LAT: [usize; 4] = [8, 64, 512, 4096];
/// Bandwidth sizes with their labels.
const BW: [(usize, &str); 3] = [(4 << 10, "4K"), (1 << 20, "1M"), (16 << 20, "16M")];
/// The payload array: the largest bandwidth message.
const DATA: usize = 16 << 20;
/// How long PE 0 waits for PE 1 to exit at the end before killing it.
const CHILD_EXIT_LIMIT: Duration = Duration::from_secs(30);

fn serve_as_pe1() -> Result<(), Box<dyn std::error::Error>> {
    let sh = shmem::init_from_env()?;
    let mut pair = Pair::setup(sh, DATA)?;
    pair.serve()?;
    pair.finish()?;
    Ok(())
}

fn shmem_groups(c: &mut Criterion, pair: &mut Pair) {
    let mut g = c.benchmark_group("put_lat");
    for s in LAT {
        g.bench_with_input(BenchmarkId::from_parameter(s), &s, |b, &s| {
            b.iter_custom(|n| pair.put_batch(s, n).expect("put"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("get_lat");
    for s in LAT {
        g.bench_with_input(BenchmarkId::from_parameter(s), &s, |b, &s| {
            b.iter_custom(|n| pair.get_batch(s, n).expect("get"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("put_signal_pingpong");
    for s in LAT {
        g.bench_with_input(BenchmarkId::from_parameter(s), &s, |b, &s| {
            b.iter_custom(|n| pair.pingpong_batch(s, n).expect("ping-pong"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("fetch_add");
    g.bench_function("8", |b| b.iter_custom(|n| pair.fetch_add_batch(n).expect("fetch_add")));
    g.finish();

    let mut g = c.benchmark_group("barrier");
    g.bench_function("2", |b| b.iter_custom(|n| pair.barrier_batch(n).expect("barrier")));
    g.finish();

    let mut g = c.benchmark_group("put_bw");
    for (s, label) in BW {
        g.throughput(Throughput::Bytes(s as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &s, |b, &s| {
            b.iter_custom(|n| pair.put_batch(s, n).expect("put"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("get_bw");
    for (s, label) in BW {
        g.throughput(Throughput::Bytes(s as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &s, |b, &s| {
            b.iter_custom(|n| pair.get_batch(s, n).expect("get"))
        });
    }
    g.finish();
}

fn reference_groups(c: &mut Criterion) {
    let mut m = Memcpy::new(DATA);
    let mut g = c.benchmark_group("memcpy");
    let sizes = LAT
        .iter()
        .map(|&s| (s, s.to_string()))
        .chain(BW.iter().filter(|(s, _)| !LAT.contains(s)).map(|&(s, l)| (s, l.to_owned())));
    for (s, label) in sizes {
        g.throughput(Throughput::Bytes(s as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &s, |b, &s| b.iter_custom(|n| m.batch(s, n)));
    }
    g.finish();
    drop(m);

    let mut peer = FlagPeer::spawn(Duration::from_secs(10)).expect("fork the hand-off peer");
    let mut g = c.benchmark_group("flag_handoff");
    for s in std::iter::once(0).chain(LAT) {
        g.bench_with_input(BenchmarkId::from_parameter(s), &s, |b, &s| {
            b.iter_custom(|n| peer.round_trips(s, n).expect("hand-off"))
        });
    }
    g.finish();
}

fn main() {
    if std::env::var_os(PE1_VAR).is_some() {
        if let Err(e) = serve_as_pe1() {
            eprintln!("PE 1: {e}");
            std::process::exit(1);
        }
        return;
    }
    let (children, prefix) = benches::spawn::start_job(2, benches::heap_bytes(DATA), PE1_VAR).expect("start PE 1");
    let sh = shmem::init_from_env().expect("init PE 0");
    let mut pair = Pair::setup(sh, DATA).expect("allocate the benchmark buffers");
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    shmem_groups(&mut c, &mut pair);
    reference_groups(&mut c);
    if let Err(e) = pair.finish() {
        eprintln!("PE 0 finalize: {e}");
    }
    benches::spawn::reap(children, CHILD_EXIT_LIMIT);
    let _ = shmem_run::remove_shm_segments(std::path::Path::new(shmem_run::SHM_DIR), &prefix);
    c.final_summary();
}
