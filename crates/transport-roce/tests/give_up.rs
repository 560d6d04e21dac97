//! A peer the engine gives up on (no completion within the control timeout) has its queue pair stopped (the error
//! state): the device then writes nothing more for the requests still outstanding. Without that, the READ of a
//! zero-copy get that timed out could still land in the destination after the caller had been told the get
//! failed and had reused the buffer (a slow peer, a congested link): silent corruption.
//!
//! Soft-RoCE runs a request inline in the posting thread, so a slow answer cannot be staged here; instead the
//! peer's own queue pair is stopped, so that it answers nothing and this PE's wait gives up.
//!
//! It needs a verbs device, so it builds only with the `device-tests` feature: the VM test
//! (`scripts/test-roce-vm.sh`) runs it on soft-RoCE.

use shmem_core::conformance::Testbed;
use shmem_core::engine::{BuildEngine, Completion, DataOpEngine, Get};
use shmem_core::engine_setup::EngineSetup;
use shmem_core::{Error, HeapOffset, Pe};
use std::time::Duration;
use transport_roce::RoceEngine;

#[test]
fn a_peer_given_up_on_has_its_queue_pair_stopped() {
    let bed = Testbed::on_nodes(vec![0, 1], |s: &EngineSetup<'_>| {
        let mut s = *s;
        s.timeouts.control = Duration::from_millis(300);
        RoceEngine::build(&s)
    });
    const LEN: usize = 64 << 10;
    let off = 4096u64;
    bed.set_local_bytes(1, off, &vec![0xab; LEN]);
    let dst = bed.nodes[0].ptr(Pe(0), HeapOffset(off), LEN as u64).expect("in the heap").as_ptr();
    let get = Get { pe: Pe(1), src: HeapOffset(off), dst, len: LEN };
    // A get that works first: the pair is connected and answers.
    // SAFETY: dst..dst+LEN is PE 0's own heap (zero-copy), which nothing else accesses during the case.
    unsafe { bed.engines[0].get(get, Completion::Blocking) }.expect("a get from a live peer");
    assert_eq!(bed.local_bytes(0, off, LEN), vec![0xab; LEN]);
    assert!(!bed.engines[0].queue_pair_stopped(Pe(1)).unwrap(), "a working queue pair reads as stopped");
    // PE 1 stops answering; PE 0's next get times out and stops its queue pair to PE 1. The control timeout,
    // 300 ms, must stay below the queue pair's own retries (7 tries of 67 ms, about 470 ms): a retry-exceeded
    // completion would move the queue pair to the error state by itself and prove nothing.
    bed.engines[1].stop_queue_pair_for_tests(Pe(0)).unwrap();
    bed.set_local_bytes(0, off, &vec![0; LEN]);
    // SAFETY: as above.
    let r = unsafe { bed.engines[0].get(get, Completion::Blocking) };
    match r {
        Err(Error::Timeout { missing_pes, .. }) => assert_eq!(missing_pes, vec![1]),
        other => panic!("a get from a peer that answers nothing: {other:?}, expected a timeout naming PE 1"),
    }
    assert!(
        bed.engines[0].queue_pair_stopped(Pe(1)).unwrap(),
        "the engine gave up on PE 1 but left its queue pair running"
    );
    // The peer stays failed: the next operation says so at once and moves nothing.
    // SAFETY: as above.
    let again = unsafe { bed.engines[0].get(get, Completion::Blocking) };
    assert!(matches!(again, Err(Error::Inner(_))), "after the timeout: {again:?}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(bed.local_bytes(0, off, LEN), vec![0; LEN], "bytes arrived after the get timed out");
}
