//! Latency and bandwidth of the team collectives (broadcast, sum-reduce, fcollect) beside `barrier_all` in the
//! same job: one PE program, run under the launcher, PE 0 prints the table.
//!
//! ```sh
//! cargo build --release -p shmem-run -p benches
//! SHMEM_SYMMETRIC_SIZE=400M target/release/shmemrun -n 4 target/release/coll-bench [max-bytes]
//! ```
//! Each row is the median over repetitions of the time per call (every PE makes the call; PE 0's clock).

use shmem::team::TEAM_WORLD;
use std::time::Instant;

type BoxError = Box<dyn std::error::Error>;

/// Median seconds per call of `f`, over 5 repetitions of `iters` calls, separated by barriers.
fn time(sh: &shmem::Shmem, iters: usize, mut f: impl FnMut() -> shmem::Result<()>) -> Result<f64, BoxError> {
    let mut samples = Vec::new();
    f()?;
    for _ in 0..5 {
        sh.barrier_all()?;
        let t = Instant::now();
        for _ in 0..iters {
            f()?;
        }
        samples.push(t.elapsed().as_secs_f64() / iters as f64);
    }
    samples.sort_by(f64::total_cmp);
    Ok(samples[2])
}

fn main() -> Result<(), BoxError> {
    let sh = shmem::init_from_env()?;
    let max: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(64 << 20);
    let n = sh.n_pes();
    let me = sh.my_pe();
    let src = sh.alloc_zeroed::<f64>(max / 8)?;
    let dst = sh.alloc_zeroed::<f64>(max / 8)?;
    let all = sh.alloc_zeroed::<f64>((n as usize * 4096).max(1))?;
    let mut rows = vec![("barrier_all".to_string(), 0usize, time(&sh, 2000, || sh.barrier_all())?)];
    let mut bytes = 8;
    while bytes <= max {
        let iters = (200_000_000 / (bytes * n as usize + 20_000)).clamp(3, 2000);
        let count = bytes / 8;
        let (s, d) = (sh.alloc_zeroed::<f64>(count)?, sh.alloc_zeroed::<f64>(count)?);
        rows.push(("broadcast".into(), bytes, time(&sh, iters, || sh.broadcast(TEAM_WORLD, &d, &s, 0))?));
        rows.push(("sum_reduce".into(), bytes, time(&sh, iters, || sh.sum_reduce(TEAM_WORLD, &d, &s))?));
        if count <= 4096 {
            rows.push(("fcollect".into(), bytes, time(&sh, iters, || sh.fcollect(TEAM_WORLD, &all, &s, count))?));
        }
        s.free()?;
        d.free()?;
        bytes = if bytes < 65536 { bytes * 8 } else { bytes * 4 };
    }
    if me == 0 {
        println!("{n} PEs, engines {:?}", shmem::api::engines()?);
        println!("| collective | bytes | µs per call | MB/s (bytes / time) |");
        println!("|---|---:|---:|---:|");
        for (name, b, t) in rows {
            let bw = if b > 0 { format!("{:.0}", b as f64 / t / 1e6) } else { "-".into() };
            println!("| {name} | {b} | {:.2} | {bw} |", t * 1e6);
        }
    }
    src.free()?;
    dst.free()?;
    all.free()?;
    sh.finalize()?;
    Ok(())
}
