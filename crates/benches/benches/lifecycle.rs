//! Criterion benchmarks of the runtime's life cycle and collective allocation, for 2 and 8 PEs, next to the
//! raw shared-memory flag round trip measured in the same run.
//!
//! The bench process is PE 0; it starts the other PEs as children of this same binary (marked by
//! [`ROLE_VAR`]). Groups:
//! - `init_finalize/{2,8}`: one `init` + `sync_all` + `finalize` cycle of the whole job (the sync carries
//!   PE 0's command word to the others).
//! - `malloc_free/{2,8}`: one collective `malloc(4096)` + `free` pair (target: under 20 µs for 2 PEs).
//! - `flag_round_trip`: the physical reference, a release-store/acquire-spin round trip between two processes.
//!
//! Protocol: PE 0 writes a command (kind, count) at offset 0 of its heap before a `sync_all`; the others read
//! it with a get after that sync. Kinds: 0 = finalize and init again, 1 = do `count` malloc+free pairs,
//! 2 = finalize and exit.

use benches::raw::FlagPeer;
use criterion::{BenchmarkId, Criterion};
use shmem::api;
use std::time::{Duration, Instant};

/// Marks the child processes (PEs 1..n).
const ROLE_VAR: &str = "SHMEM_BENCH_LIFECYCLE_PE";
const HEAP: u64 = 4 << 20;
const CYCLE: u64 = 0;
const ALLOC: u64 = 1;
const EXIT: u64 = 2;

type Res<T> = Result<T, shmem::Error>;

fn read_cmd() -> Res<[u64; 2]> {
    let (base, _) = api::heap_range()?;
    let mut cmd = [0u64; 2];
    // SAFETY: cmd is a live local buffer of 16 bytes; base..base+16 is inside PE 0's heap.
    unsafe { api::getmem(cmd.as_mut_ptr().cast(), base, 16, 0)? };
    Ok(cmd)
}

fn write_cmd(kind: u64, count: u64) -> Res<()> {
    let (base, _) = api::heap_range()?;
    let cmd = [kind, count];
    // SAFETY: cmd lives across the call; base..base+16 is inside this PE's heap.
    unsafe { api::putmem(base, cmd.as_ptr().cast(), 16, 0) }
}

fn malloc_free(n: u64) -> Res<()> {
    for _ in 0..n {
        let a = api::malloc(4096)?.expect("non-zero size");
        api::free(a)?;
    }
    Ok(())
}

fn serve() -> Res<()> {
    loop {
        let sh = shmem::init_from_env()?;
        sh.sync_all()?;
        let mut cmd = read_cmd()?;
        while cmd[0] == ALLOC {
            malloc_free(cmd[1])?;
            sh.sync_all()?;
            cmd = read_cmd()?;
        }
        sh.finalize()?;
        if cmd[0] == EXIT {
            return Ok(());
        }
    }
}

fn bench_job(c: &mut Criterion, n: u32) {
    let mut g = c.benchmark_group("init_finalize");
    g.bench_function(BenchmarkId::from_parameter(n), |b| {
        b.iter_custom(|iters| {
            let t = Instant::now();
            for _ in 0..iters {
                let sh = shmem::init_from_env().expect("init");
                write_cmd(CYCLE, 0).expect("command");
                sh.sync_all().expect("sync");
                sh.finalize().expect("finalize");
            }
            t.elapsed()
        })
    });
    g.finish();
    let sh = shmem::init_from_env().expect("init");
    let mut g = c.benchmark_group("malloc_free");
    g.bench_function(BenchmarkId::from_parameter(n), |b| {
        b.iter_custom(|iters| {
            write_cmd(ALLOC, iters).expect("command");
            sh.sync_all().expect("sync");
            let t = Instant::now();
            malloc_free(iters).expect("malloc+free");
            t.elapsed()
        })
    });
    g.finish();
    write_cmd(EXIT, 0).expect("command");
    sh.sync_all().expect("sync");
    sh.finalize().expect("finalize");
}

fn main() {
    if std::env::var_os(ROLE_VAR).is_some() {
        if let Err(e) = serve() {
            eprintln!("lifecycle bench PE: {e}");
            std::process::exit(1);
        }
        return;
    }
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    for n in [2, 8] {
        // Each job needs its own launch environment; start_job rewrites PE 0's variables.
        let (children, prefix) = benches::spawn::start_job(n, HEAP, ROLE_VAR).expect("start the job");
        bench_job(&mut c, n);
        benches::spawn::reap(children, Duration::from_secs(30));
        let _ = shmem_run::remove_shm_segments(std::path::Path::new(shmem_run::SHM_DIR), &prefix);
    }
    let mut peer = FlagPeer::spawn(Duration::from_secs(10)).expect("fork the hand-off peer");
    let mut g = c.benchmark_group("flag_round_trip");
    g.bench_function("0", |b| b.iter_custom(|n| peer.round_trips(0, n).expect("hand-off")));
    g.finish();
    c.final_summary();
}
