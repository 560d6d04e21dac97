//! `barrier_all` latency the way the benches' OpenSHMEM reference measures it (batches of back-to-back
//! barriers, the median batch), in a job of its own: for quick A/B runs of barrier algorithms on a loaded
//! machine. `shmemrun -n 4 target/release/examples/barrier_probe [batches] [barriers per batch]`; PE 0 prints one line.

use std::time::Instant;

fn main() -> shmem::Result<()> {
    let mut args = std::env::args().skip(1);
    let batches: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    let iters: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let sh = shmem::init_from_env()?;
    sh.barrier_all()?;
    let mut times = Vec::with_capacity(batches);
    for _ in 0..batches {
        sh.barrier_all()?;
        let t = Instant::now();
        for _ in 0..iters {
            sh.barrier_all()?;
        }
        times.push(t.elapsed().as_secs_f64() * 1e9 / iters as f64);
    }
    times.sort_by(f64::total_cmp);
    if sh.my_pe() == 0 {
        let spread: Vec<String> = times.iter().map(|t| format!("{t:.0}")).collect();
        println!(
            "barrier_probe {} PEs: median {:.0} ns (batches: {})",
            sh.n_pes(),
            times[batches / 2],
            spread.join(" ")
        );
    }
    sh.finalize()
}
