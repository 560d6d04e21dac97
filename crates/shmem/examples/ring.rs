//! Ring: each PE puts a message into the next PE's buffer and signals it; each PE waits for its signal,
//! checks the message, and passes a token around the ring.
//!
//! Run: `shmemrun -n 4 target/release/examples/ring`

use shmem::{CmpOp, SignalOp};

fn main() -> shmem::Result<()> {
    let sh = shmem::init_from_env()?;
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let next = (me + 1) % n;
    let msg = sh.alloc_zeroed::<u64>(8)?;
    let sig = sh.alloc_zeroed::<u64>(1)?;

    // Round 1: everyone sends to its successor at once.
    let payload: Vec<u64> = (0..8).map(|i| me as u64 * 1000 + i).collect();
    msg.put_signal(next, 0, &payload, &sig, 0, 1, SignalOp::Set)?;
    sig.wait_until(0, CmpOp::Eq, 1)?;
    let got = msg.to_vec()?;
    let prev = (me + n - 1) % n;
    assert_eq!(got[7], prev as u64 * 1000 + 7, "message from PE {prev}");
    sh.barrier_all()?;

    // Round 2: a token travels the ring once, each PE adding its number.
    if me == 0 {
        msg.put_signal(next, 0, &[0], &sig, 0, 2, SignalOp::Set)?;
        sig.wait_until(0, CmpOp::Eq, 2)?;
        let total = msg.to_vec()?[0];
        let expect: u64 = (1..n as u64).sum();
        println!("token came back to PE 0 with {total} (expected {expect}) after visiting {n} PEs");
        assert_eq!(total, expect);
    } else {
        sig.wait_until(0, CmpOp::Eq, 2)?;
        let t = msg.to_vec()?[0] + me as u64;
        msg.put_signal(next, 0, &[t], &sig, 0, 2, SignalOp::Set)?;
    }
    sh.barrier_all()?;
    msg.free()?;
    sig.free()?;
    sh.finalize()
}
