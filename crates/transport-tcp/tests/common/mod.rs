//! Helpers shared by the TCP engine's test binaries (each `tests/*.rs` is its own crate: `mod common;`).

use shmem_core::conformance::Testbed;
use shmem_core::engine::{Completion, DataOpEngine, Get, Put};
use shmem_core::{HeapOffset, Pe};
use transport_tcp::TcpEngine;

/// The job still works: PE 0 puts 64 bytes of `round` into PE 1, completes them, and reads exactly them back.
pub(crate) fn job_still_works(bed: &Testbed<TcpEngine>, round: u8) {
    let e = &bed.engines[0];
    let data = [round; 64];
    let put = Put { pe: Pe(1), dst: HeapOffset(8192), src: data.as_ptr(), len: 64, signal: None };
    // SAFETY: data outlives the quiet.
    unsafe { e.put(put, Completion::Blocking) }.unwrap();
    e.quiet().unwrap();
    let mut back = [0u8; 64];
    let get = Get { pe: Pe(1), src: HeapOffset(8192), dst: back.as_mut_ptr(), len: 64 };
    // SAFETY: back outlives the call.
    unsafe { e.get(get, Completion::Blocking) }.unwrap();
    assert_eq!(back, data);
}
