//! Where the host has no verbs device (these build machines: the kernel has no RDMA subsystem and answers
//! ENOSYS), building the engine fails with `NotSupported` saying why, and without touching anything else. On a
//! host that has a device, the same one-PE build succeeds and moves bytes through its loopback queue pair.

use shmem_core::engine::{BuildEngine, Completion, DataOpEngine, Get, Put};
use shmem_core::engine_setup::{EngineSetup, EngineTimeouts};
use shmem_core::error::code;
use shmem_core::heap::{HeapLayout, NodeSegments, Segment};
use shmem_core::{HeapOffset, Pe};
use std::sync::Arc;
use std::time::Duration;
use transport_roce::RoceEngine;

fn have_device() -> bool {
    std::fs::read_dir("/sys/class/infiniband").map(|mut d| d.next().is_some()).unwrap_or(false)
}

#[test]
fn build_without_a_device_is_not_supported_and_says_why() {
    let layout = HeapLayout::new(1 << 20);
    let name = format!("/shmem-roce-nodev-{}", std::process::id());
    let seg = Segment::create(&name, layout.segment_len() as usize).expect("segment");
    let mut node = NodeSegments::new(layout, Pe(0), vec![Some(seg)]);
    node.unlink_all();
    let node = Arc::new(node);
    let setup = EngineSetup {
        me: Pe(0),
        n_pes: 1,
        node_of: &[0],
        heap: &node,
        exchange: None,
        timeouts: EngineTimeouts { init: Duration::from_secs(5), control: Duration::from_secs(5) },
        job_secret: b"",
        local_ip: None,
        settings: &shmem_core::Settings::from_env(),
    };
    match RoceEngine::build(&setup) {
        Err(e) => {
            assert!(!have_device(), "a device exists but the build failed: {e}");
            assert_eq!(e.code(), code::NOT_SUPPORTED, "{e}");
            let msg = e.to_string();
            assert!(msg.contains("ROCE") && msg.contains("RDMA verbs device"), "{msg}");
            assert!(msg.contains("ibv_get_device_list") || msg.contains("no verbs device"), "{msg}");
        }
        Ok(engine) => {
            assert!(have_device(), "built without a device?");
            // One PE: a put and a get through the loopback queue pair, byte-exact.
            let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
            let put = Put { pe: Pe(0), dst: HeapOffset(4096), src: data.as_ptr(), len: data.len(), signal: None };
            // SAFETY: data outlives the quiet.
            unsafe { engine.put(put, Completion::Blocking) }.unwrap();
            engine.quiet().unwrap();
            let mut back = vec![0u8; data.len()];
            let get = Get { pe: Pe(0), src: HeapOffset(4096), dst: back.as_mut_ptr(), len: back.len() };
            // SAFETY: back is untouched until the call returns (blocking).
            unsafe { engine.get(get, Completion::Blocking) }.unwrap();
            assert!(back == data, "loopback bytes differ");
        }
    }
}
