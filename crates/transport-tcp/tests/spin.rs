//! `SHMEM_TCP_SPIN_US`: a reply waiter's spin serves without parking the progress thread. Its own test binary:
//! it sets the variable for the whole process before the engines are built.

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, DataOpEngine};
use shmem_core::{HeapOffset, Pe};
use std::sync::atomic::Ordering;
use transport_tcp::TcpEngine;

/// With a spin set and no thread driving progress, every reply wait sleeps in `recv` with the progress thread
/// on the sockets: none takes the serving mode (a spin that parked the progress thread, as it did when it
/// called `drive`, put the waits after it in that mode). The fetch-adds count exactly.
#[test]
fn a_spinning_reply_waiter_does_not_park_the_progress_thread() {
    // SAFETY: set before any other thread of this process exists that reads the environment (the only test of
    // this binary, run before the testbed starts its threads).
    unsafe { std::env::set_var("SHMEM_TCP_SPIN_US", "20") };
    let bed: Testbed<TcpEngine> = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    const N: u64 = 300;
    for i in 0..N {
        let old = bed.engines[0].atomic(Pe(1), HeapOffset(512), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
        assert_eq!(old, i);
    }
    assert_eq!(bed.word(1, 512).load(Ordering::Acquire), N);
    assert_eq!(bed.engines[0].serving_waits(), 0, "reply waits took the serving mode with no driver");
}
