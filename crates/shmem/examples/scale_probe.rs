//! Measures how init, barrier_all and finalize grow with the job size (numbers for docs/scaling.md).
//! `shmemrun -n 64 -- sh -c 'SHMEM_NODE_ID=n$((SHMEM_PE / 4)) exec target/release/examples/scale_probe'`
//! makes 16 "nodes" of 4 PEs (give `SHMEM_DATA_OP_ENGINE=MTE|TCP`). PE 0 prints one line.

use std::time::Instant;

fn main() -> shmem::Result<()> {
    let t = Instant::now();
    let sh = shmem::init_from_env()?;
    let init = t.elapsed();
    let rounds = 200;
    sh.barrier_all()?;
    let t = Instant::now();
    for _ in 0..rounds {
        sh.barrier_all()?;
    }
    let barrier = t.elapsed() / rounds;
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let local = shmem::team::n_pes(shmem::team::TEAM_NODE);
    let t = Instant::now();
    sh.finalize()?;
    if me == 0 {
        println!(
            "scale_probe: {n} PEs, {} nodes of {local}: init {:.1} ms, barrier_all {:.1} us, finalize {:.1} ms",
            n / local.max(1) as u32,
            init.as_secs_f64() * 1e3,
            barrier.as_secs_f64() * 1e6,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    Ok(())
}
