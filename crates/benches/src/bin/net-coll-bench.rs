//! `net-coll-bench`: latency and bandwidth of `sum_reduce` (f64) and `fcollectmem` over TEAM_WORLD when the PEs
//! sit on several nodes, for comparing the across-node algorithms (`SHMEM_COLL_NET_ALGO`) in one build.
//!
//! ```sh
//! # 2 nodes of 2 PEs on this machine (MTE inside a node, TCP between them), the default and the direct pulls:
//! for algo in direct auto; do
//!   SHMEM_COLL_NET_ALGO=$algo SHMEM_DATA_OP_ENGINE='MTE|TCP' SHMEM_SYMMETRIC_SIZE=256M \
//!     target/release/shmemrun -n 4 sh -c 'SHMEM_NODE_ID=n$((SHMEM_PE / 2)) exec "$0"' target/release/net-coll-bench
//! done
//! ```
//! `barrier_all` is measured first, as the floor of every collective (each opens and closes with a team
//! barrier). Every PE makes every call; PE 0 times batches (the iteration count of a batch decided by PE 0 from a trial
//! batch and broadcast, so that every PE makes the same calls) and prints the median per call of 5 batches.
//! `NET_COLL_BENCH_SIZES` (bytes, comma-separated) overrides the sizes; the sum is checked once per size.

use shmem::collectives::collect::fcollectmem;
use shmem::team::TEAM_WORLD;
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Target time of one timed batch.
const BATCH_SECS: f64 = 0.05;

fn main() -> Result<(), BoxError> {
    let sh = shmem::init_from_env()?;
    let n = sh.n_pes() as usize;
    let sizes: Vec<usize> = std::env::var("NET_COLL_BENCH_SIZES")
        .unwrap_or_else(|_| "8,64,512,4096,65536,1048576,8388608".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let ctl = sh.alloc_zeroed::<u64>(2)?;
    let ctl_dst = sh.alloc_zeroed::<u64>(2)?;
    // Runs `f` `iters` times after a barrier; PE 0's seconds per call.
    let batch = |iters: u64, f: &mut dyn FnMut() -> shmem::Result<()>| -> Result<f64, BoxError> {
        sh.barrier_all()?;
        let t = Instant::now();
        for _ in 0..iters {
            f()?;
        }
        Ok(t.elapsed().as_secs_f64() / iters as f64)
    };
    // PE 0's iteration count for a batch of about BATCH_SECS, the same on every PE.
    let plan = |per_call: f64| -> Result<u64, BoxError> {
        ctl.write_local(0, &[(BATCH_SECS / per_call.max(1e-7)).clamp(1.0, 100_000.0) as u64])?;
        sh.broadcast(TEAM_WORLD, &ctl_dst, &ctl, 0)?;
        let mut v = [0u64];
        ctl_dst.read_local(0, &mut v)?;
        Ok(v[0])
    };
    let measure = |f: &mut dyn FnMut() -> shmem::Result<()>| -> Result<f64, BoxError> {
        batch(2, f)?;
        let iters = plan(batch(3, f)?)?;
        let mut per: Vec<f64> = (0..5).map(|_| batch(iters, f)).collect::<Result<_, _>>()?;
        per.sort_by(f64::total_cmp);
        Ok(per[2])
    };
    // The fixed cost every collective pays twice (its opening and closing team barriers), for reference.
    let t = measure(&mut || sh.barrier_all())?;
    let mut lines = vec![format!("barrier_all            {:>10.1} us", t * 1e6)];
    for &bytes in &sizes {
        let count = (bytes / 8).max(1);
        let (s, d) = (sh.alloc_zeroed::<f64>(count)?, sh.alloc_zeroed::<f64>(count)?);
        s.write_local(0, &vec![1.0; count])?;
        let t = measure(&mut || sh.sum_reduce(TEAM_WORLD, &d, &s))?;
        let mut first = [0.0f64];
        d.read_local(0, &mut first)?;
        if first[0] != n as f64 {
            return Err(format!("sum_reduce of {bytes} B gave {} instead of {n}", first[0]).into());
        }
        lines.push(format!("sum_reduce {bytes:>9} B {:>10.1} us {:>9.1} MB/s", t * 1e6, bytes as f64 / t / 1e6));
        s.free()?;
        d.free()?;
        let (s, d) = (sh.alloc_zeroed::<u8>(bytes)?, sh.alloc_zeroed::<u8>(bytes * n)?);
        let t = measure(&mut || fcollectmem(TEAM_WORLD, d.addr(), s.addr(), bytes))?;
        lines.push(format!(
            "fcollect   {bytes:>9} B {:>10.1} us {:>9.1} MB/s (of result)",
            t * 1e6,
            (bytes * n) as f64 / t / 1e6
        ));
        s.free()?;
        d.free()?;
    }
    if sh.my_pe() == 0 {
        for l in lines {
            println!("{l}");
        }
    }
    ctl.free()?;
    ctl_dst.free()?;
    sh.finalize()?;
    Ok(())
}
