//! Producer/consumer pipeline with put-with-signal: PE 0 produces numbered batches into PE 1's slots; each
//! slot's signal says which batch it holds; PE 1 consumes and acknowledges with an atomic counter so that
//! PE 0 never overwrites a slot that was not consumed yet.
//!
//! Run: `shmemrun -n 2 target/release/examples/pipeline`

use shmem::{CmpOp, SignalOp};

const SLOTS: usize = 4;
const BATCH: usize = 256;
const BATCHES: u64 = 1000;

fn main() -> shmem::Result<()> {
    let sh = shmem::init_from_env()?;
    if sh.n_pes() < 2 {
        eprintln!("pipeline needs at least 2 PEs: shmemrun -n 2 ...");
        std::process::exit(2);
    }
    let me = sh.my_pe();
    let slots = sh.alloc_zeroed::<u64>(SLOTS * BATCH)?;
    let ready = sh.alloc_zeroed::<u64>(SLOTS)?;
    let consumed = sh.alloc_zeroed::<u64>(1)?;
    if me == 0 {
        for b in 1..=BATCHES {
            // Wait until the consumer has room (at most SLOTS batches in flight).
            if b > SLOTS as u64 {
                consumed.wait_until(0, CmpOp::Ge, b - SLOTS as u64)?;
            }
            let slot = (b as usize - 1) % SLOTS;
            let data: Vec<u64> = (0..BATCH as u64).map(|i| b * 10_000 + i).collect();
            slots.put_signal(1, slot * BATCH, &data, &ready, slot, b, SignalOp::Set)?;
        }
        println!("PE 0 produced {BATCHES} batches");
    } else if me == 1 {
        let mut sum = 0u64;
        let mut buf = vec![0u64; BATCH];
        for b in 1..=BATCHES {
            let slot = (b as usize - 1) % SLOTS;
            ready.wait_until(slot, CmpOp::Eq, b)?;
            slots.read_local(slot * BATCH, &mut buf)?;
            assert!(buf.iter().enumerate().all(|(i, &x)| x == b * 10_000 + i as u64), "batch {b} intact");
            sum += buf.iter().sum::<u64>();
            consumed.fetch_add(0, 0, 1)?;
        }
        println!("PE 1 consumed {BATCHES} batches, checksum {sum}");
    }
    sh.barrier_all()?;
    slots.free()?;
    ready.free()?;
    consumed.free()?;
    sh.finalize()
}
