//! Collective symmetric allocation: every PE makes the same call in the same order, and the runtime checks it.
//!
//! Each call writes a record (sequence number, call kind, two arguments) into this PE's allocation record in
//! the sync area, then joins a barrier, then reads every PE's record through the engines (direct loads on one
//! node). All PEs see the same records, so all agree on success or on the same error; the allocator is
//! deterministic, so agreeing calls yield the same offset everywhere. Records alternate between two slots:
//! a PE can only rewrite a slot after the next call's barrier, which every reader has passed by then.
//!
//! `free` waits in that barrier until no PE can still be writing into the block; `calloc` zeroes its block
//! and joins a second barrier so that no peer's put can land before the zeroing.

use crate::runtime::Runtime;
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::{Error, HeapOffset, Pe, Result};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// The kind of a collective allocation call, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub(crate) enum AllocCall {
    Malloc = 1,
    Calloc = 2,
    Align = 3,
    Free = 4,
}

impl AllocCall {
    fn from_word(w: u64) -> Option<AllocCall> {
        Some(match w {
            1 => AllocCall::Malloc,
            2 => AllocCall::Calloc,
            3 => AllocCall::Align,
            4 => AllocCall::Free,
            _ => return None,
        })
    }

    fn describe(self, a: u64, b: u64) -> String {
        match self {
            AllocCall::Malloc => format!("malloc(size={a})"),
            AllocCall::Calloc => format!("calloc(nmemb={a}, size={b})"),
            AllocCall::Align => format!("align(alignment={a}, size={b})"),
            AllocCall::Free => format!("free(heap offset {a:#x})"),
        }
    }
}

impl Runtime {
    /// Writes this PE's record, joins the barrier, and checks that every PE made the same call.
    fn agree(&self, call: AllocCall, a: u64, b: u64) -> Result<u64> {
        let seq = self.alloc_seq.fetch_add(1, Ordering::Relaxed) + 1;
        let rec = self.layout.alloc_record(seq);
        for (i, w) in [seq, call as u64, a, b].into_iter().enumerate() {
            self.node.word64(self.me, rec.plus(8 * i as u64)).store(w, Ordering::Relaxed);
        }
        // The barrier's atomics order the record stores before every peer's reads below.
        self.barrier_all()?;
        let mut groups: BTreeMap<[u64; 4], Vec<u32>> = BTreeMap::new();
        for pe in (0..self.n_pes).map(Pe) {
            let mut r = [0u64; 4];
            for (i, w) in r.iter_mut().enumerate() {
                *w = self.router.to(pe).atomic(pe, rec.plus(8 * i as u64), AtomicWidth::W64, AtomicOp::Fetch)?;
            }
            groups.entry(r).or_default().push(pe.0);
        }
        if groups.len() == 1 {
            return Ok(seq);
        }
        let mut parts = Vec::new();
        for (r, pes) in &groups {
            let what = match (r[0] == seq, AllocCall::from_word(r[1])) {
                (true, Some(c)) => format!("called {}", c.describe(r[2], r[3])),
                _ => format!("had not made this call (its last allocation call was #{})", r[0]),
            };
            parts.push(format!("PE {} {what}", list(pes)));
        }
        Err(Error::InvalidValue(format!(
            "collective allocation call #{seq} differs between PEs: {}; every PE must make the same \
             malloc/calloc/align/free calls in the same order",
            parts.join("; ")
        )))
    }

    /// Collective `malloc`/`align`: `Ok(None)` for size 0.
    pub(crate) fn alloc(&self, size: u64, align: u64, call: AllocCall) -> Result<Option<HeapOffset>> {
        self.check_live()?;
        let (a, b) = match call {
            AllocCall::Align => (align, size),
            _ => (size, 0),
        };
        if call == AllocCall::Align && !align.is_power_of_two() {
            // Checked before the barrier would be nicer, but all PEs must still agree; the check is local and
            // deterministic, so every PE that made this call fails the same way after agreeing.
            self.agree(call, a, b)?;
            return Err(Error::invalid(format!("alignment {align} is not a power of two")));
        }
        self.agree(call, a, b)?;
        if size == 0 {
            return Ok(None);
        }
        let off = self.allocator.lock().unwrap_or_else(|e| e.into_inner()).alloc(size, align)?;
        Ok(Some(HeapOffset(off)))
    }

    /// Collective `calloc`: zeroed on every PE when it returns; `Ok(None)` when the product is 0.
    pub(crate) fn calloc(&self, nmemb: u64, size: u64) -> Result<Option<HeapOffset>> {
        self.check_live()?;
        self.agree(AllocCall::Calloc, nmemb, size)?;
        let total = nmemb
            .checked_mul(size)
            .ok_or_else(|| Error::invalid(format!("calloc({nmemb}, {size}): the product overflows 64 bits")))?;
        if total == 0 {
            return Ok(None);
        }
        let off = self.allocator.lock().unwrap_or_else(|e| e.into_inner()).alloc(total, 16)?;
        let p = self.node.local().span(off, total)?;
        // SAFETY: the block was just reserved for this call inside the local heap; no peer writes into it
        // before the barrier below, and this process holds no reference into it.
        unsafe { std::ptr::write_bytes(p.as_ptr(), 0, total as usize) };
        self.sync_all()?;
        Ok(Some(HeapOffset(off)))
    }

    /// Collective `free` of the block starting at `off`.
    pub(crate) fn free(&self, off: HeapOffset) -> Result<()> {
        self.check_live()?;
        self.agree(AllocCall::Free, off.0, 0)?;
        self.allocator.lock().unwrap_or_else(|e| e.into_inner()).free(off.0)
    }
}

impl Runtime {
    /// The collective part of a free whose address is not in the heap (the caller reports that error).
    pub(crate) fn free_unknown(&self) -> Result<()> {
        self.check_live()?;
        self.agree(AllocCall::Free, u64::MAX - 1, 0).map(|_| ())
    }

    /// The collective free of an empty typed array (no block; still checked like every allocation call).
    pub(crate) fn free_empty(&self) -> Result<()> {
        self.check_live()?;
        self.agree(AllocCall::Free, u64::MAX, 0).map(|_| ())
    }
}

fn list(pes: &[u32]) -> String {
    const SHOWN: usize = 16;
    let mut s: Vec<String> = pes.iter().take(SHOWN).map(u32::to_string).collect();
    if pes.len() > SHOWN {
        s.push(format!("... ({} PEs)", pes.len()));
    }
    s.join(", ")
}
