//! A same-node "job" inside one test process: real POSIX shared-memory segments, one per PE, with PE `me`
//! mapping every peer's segment (as a second mapping, as another process would) and the peers' own
//! mappings kept for checking what landed. Names are unlinked as soon as everything is mapped, so no
//! `/dev/shm` entry outlives the setup, even when a test fails.

#![allow(dead_code)] // each test binary uses a different part of the helpers

use shmem_core::heap::{HeapLayout, NodeSegments, Segment};
use shmem_core::Pe;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use transport_sdma::{SdmaConfig, SdmaEngine};

/// The segments of one test job.
pub(crate) struct Job {
    /// PE `me`'s view: its own segment and the peers' (second mappings).
    pub(crate) node: Arc<NodeSegments>,
    /// Each PE's own mapping, indexed by PE (`None` off this node); `views[me]` is `None` (use `node`).
    pub(crate) views: Vec<Option<Segment>>,
    pub(crate) me: Pe,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn name(pe: u32) -> String {
    format!("/sdma-test-{}-{}-{pe}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
}

impl Job {
    /// PE `me` and the same-node `peers`, with `heap` bytes of symmetric heap each. PEs below the largest
    /// number that are neither are "off node".
    pub(crate) fn new(me: u32, peers: &[u32], heap: u64) -> Job {
        let layout = HeapLayout::new(heap);
        let len = layout.segment_len() as usize;
        let n = peers.iter().copied().chain([me]).max().unwrap() as usize + 1;
        let mut segs: Vec<Option<Segment>> = (0..n).map(|_| None).collect();
        let mut views: Vec<Option<Segment>> = (0..n).map(|_| None).collect();
        let mut own = Segment::create(&name(me), len).expect("create own segment");
        own.unlink();
        segs[me as usize] = Some(own);
        for &p in peers {
            let nm = name(p);
            let mut theirs = Segment::create(&nm, len).expect("create peer segment");
            let mine = Segment::open(&nm, len).expect("map peer segment");
            theirs.unlink();
            segs[p as usize] = Some(mine);
            views[p as usize] = Some(theirs);
        }
        Job { node: Arc::new(NodeSegments::new(layout, Pe(me), segs)), views, me: Pe(me) }
    }

    /// An engine for PE `me`.
    pub(crate) fn engine(&self, channels: usize, split_bytes: usize) -> SdmaEngine {
        let cfg = SdmaConfig { channels, split_bytes, ..SdmaConfig::default() };
        SdmaEngine::new(self.node.clone(), cfg).expect("engine")
    }

    /// `pe`'s own mapping (the peer's point of view).
    pub(crate) fn view(&self, pe: Pe) -> &Segment {
        if pe == self.me {
            self.node.local()
        } else {
            self.views[pe.index()].as_ref().expect("peer on node")
        }
    }

    /// Copies `len` bytes at `off` of `pe`'s segment out (as `pe` sees them).
    pub(crate) fn read(&self, pe: Pe, off: u64, len: usize) -> Vec<u8> {
        let p = self.view(pe).span(off, len as u64).expect("in bounds");
        let mut out = vec![0u8; len];
        // SAFETY: span checked the range; `out` is a fresh buffer; no engine writes there meanwhile (tests
        // read after quiet or after a handshake).
        unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), out.as_mut_ptr(), len) };
        out
    }

    /// Writes `data` at `off` of `pe`'s segment (as `pe` would).
    pub(crate) fn write(&self, pe: Pe, off: u64, data: &[u8]) {
        let p = self.view(pe).span(off, data.len() as u64).expect("in bounds");
        // SAFETY: span checked the range; no engine accesses it meanwhile.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p.as_ptr(), data.len()) };
    }

    /// `pe`'s 64-bit word at `off`, as `pe` sees it.
    pub(crate) fn word(&self, pe: Pe, off: u64) -> &std::sync::atomic::AtomicU64 {
        let p = self.view(pe).span(off, 8).expect("in bounds");
        assert_eq!(off % 8, 0);
        // SAFETY: 8 aligned in-bounds bytes of a mapping that lives as long as &self; accessed atomically.
        unsafe { std::sync::atomic::AtomicU64::from_ptr(p.as_ptr().cast()) }
    }
}

/// xorshift64*: a small deterministic generator (no dependency).
pub(crate) struct Rng(pub u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Log-uniform in `1..=max`: as many small sizes as large ones.
    pub(crate) fn size(&mut self, max: u64) -> u64 {
        let bits = 64 - max.leading_zeros() as u64;
        let b = self.below(bits) + 1;
        (self.next() & ((1u64 << b) - 1)).clamp(1, max)
    }
}

/// `len` bytes of a pattern that depends on `seed` and on the position (catches misplaced bytes).
pub(crate) fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&r.next().to_le_bytes());
    }
    v.truncate(len);
    v
}
