//! `SHMEM_TCP_SPIN_US` on a core shared with the serving thread: a spinning reply waiter (and a spinning progress
//! thread) gives the core away in every round that finds nothing, so the thread that must send the reply runs
//! during the spin, not after it. Its own test binary: it sets the variable and the CPU affinity for the whole
//! process before the engines are built.

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, DataOpEngine};
use shmem_core::{HeapOffset, Pe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use transport_tcp::TcpEngine;

/// Both PEs' threads on one core, a 5 ms spin: each fetch-add's reply comes within the spin (before, the
/// target's progress thread, woken onto the core the initiator spun on, ran only after that spin ended, and
/// the initiator then waited out the target's own spin after serving: about 10 ms per operation). The
/// fetch-adds count exactly; 100 of them take far less than one spin each.
#[test]
fn a_reply_waiter_spinning_on_the_servers_core_lets_it_answer() {
    // SAFETY: set before any other thread of this process exists that reads the environment (the only test of
    // this binary, run before the testbed starts its threads).
    unsafe { std::env::set_var("SHMEM_TCP_SPIN_US", "5000") };
    // SAFETY: set is a plain cpu_set_t filled by the kernel, then narrowed to one of its CPUs; threads created
    // after this inherit the mask.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        assert_eq!(libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set), 0);
        let cpu = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set)).expect("an allowed CPU");
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one), 0);
    }
    let bed: Testbed<TcpEngine> = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    const N: u64 = 100;
    let t = Instant::now();
    for i in 0..N {
        let old = bed.engines[0].atomic(Pe(1), HeapOffset(512), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
        assert_eq!(old, i);
    }
    let took = t.elapsed();
    assert_eq!(bed.word(1, 512).load(Ordering::Acquire), N);
    // 2 ms per operation on average: well above a loaded machine's round trip, well below one spin.
    assert!(took < Duration::from_millis(2) * N as u32, "{N} fetch-adds took {took:?}");
}
