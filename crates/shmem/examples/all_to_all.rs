//! All-to-all: every PE sends a distinct block to every PE (itself included), then checks what it received.
//!
//! Run: `shmemrun -n 4 target/release/examples/all_to_all`

fn main() -> shmem::Result<()> {
    let sh = shmem::init_from_env()?;
    let (me, n) = (sh.my_pe(), sh.n_pes());
    const BLOCK: usize = 1024;
    let inbox = sh.alloc_zeroed::<u32>(BLOCK * n as usize)?;
    for to in 0..n {
        let block: Vec<u32> = (0..BLOCK as u32).map(|i| me * 1_000_000 + to * 1000 + i).collect();
        inbox.put(to, me as usize * BLOCK, &block)?;
    }
    sh.barrier_all()?;
    let all = inbox.to_vec()?;
    for from in 0..n {
        let b = &all[from as usize * BLOCK..(from as usize + 1) * BLOCK];
        assert!(
            b.iter().enumerate().all(|(i, &x)| x == from * 1_000_000 + me * 1000 + i as u32),
            "block from PE {from}"
        );
    }
    println!("PE {me}: received {n} blocks of {BLOCK} words, all correct");
    sh.barrier_all()?;
    inbox.free()?;
    sh.finalize()
}
