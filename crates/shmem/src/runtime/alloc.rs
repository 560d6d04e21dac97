//! Collective symmetric allocation: every PE makes the same call in the same order, and the runtime checks it.
//!
//! Each call writes a record (sequence number, call kind, two arguments) into this PE's allocation record in
//! the sync area, then joins a barrier of its own (sync block `ALLOC_SYNC_SLOT`, never the `barrier_all` one),
//! then reads every PE's record through the engines (direct loads on one
//! node). All PEs see the same records, so all agree on success or on the same error; the allocator is
//! deterministic, so agreeing calls yield the same offset everywhere. Records alternate between two slots:
//! a PE can only rewrite a slot after the next call's barrier, which every reader has passed by then.
//!
//! Because the agreement has its own barrier, an allocation can never pass by meeting a `barrier_all` on
//! another PE. Both barriers probe while they wait: a PE in the agreement that sees a peer in a TEAM_WORLD
//! barrier it has not entered itself (and not in this agreement), or a PE in a TEAM_WORLD barrier that sees a
//! peer in an agreement it has not entered (and not in this barrier), fails at once with INVALID_VALUE naming
//! both calls, so that every PE reports the mismatch.
//!
//! `free` waits in that barrier until no PE can still be writing into the block; `calloc` zeroes its block
//! and joins a second barrier so that no peer's put can land before the zeroing.

use super::Runtime;
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::heap::layout::ALLOC_SYNC_SLOT;
use shmem_core::heap::MAX_HEAP_ALIGN;
use shmem_core::{Error, HeapOffset, Pe, Result};
use shmem_sync::barrier::ARRIVAL_WORD;
use shmem_sync::TeamView;
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
    CallocAligned = 5,
}

impl AllocCall {
    fn from_word(w: u64) -> Option<AllocCall> {
        Some(match w {
            1 => AllocCall::Malloc,
            2 => AllocCall::Calloc,
            3 => AllocCall::Align,
            4 => AllocCall::Free,
            5 => AllocCall::CallocAligned,
            _ => return None,
        })
    }

    fn describe(self, a: u64, b: u64) -> String {
        match self {
            AllocCall::Malloc => format!("malloc(size={a})"),
            AllocCall::Calloc => format!("calloc(nmemb={a}, size={b})"),
            AllocCall::Align => format!("align(alignment={a}, size={b})"),
            AllocCall::Free => format!("free(heap offset {a:#x})"),
            AllocCall::CallocAligned => format!("alloc_zeroed_aligned(alignment={a}, bytes={b})"),
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
        // The barrier's atomics order the record stores before every peer's reads below; quiet first, so that
        // a free returns only when no PE can still be writing into the block.
        self.quiet()?;
        let (world, alloc_barrier) = self.teams.lock().unwrap_or_else(|e| e.into_inner()).sync_states();
        let view = TeamView {
            members: world.members.as_slice(),
            my_index: world.my_index,
            slot: ALLOC_SYNC_SLOT,
            node_of: &self.node_of,
        };
        let mut probe = self.alloc_mismatch_probe(Some(format!("#{seq}: {}", call.describe(a, b))));
        shmem_sync::barrier_probed(&self.router, &self.wait_ctx(true), &view, &alloc_barrier, &mut probe)?;
        let mut groups: BTreeMap<[u64; 4], Vec<u32>> = BTreeMap::new();
        for pe in (0..self.n_pes).map(Pe) {
            let mut r = [0u64; 4];
            for (i, w) in r.iter_mut().enumerate() {
                *w =
                    self.router.for_atomic(pe).atomic(pe, rec.plus(8 * i as u64), AtomicWidth::W64, AtomicOp::Fetch)?;
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
        if call == AllocCall::Align {
            if let Err(e) = check_align(align) {
                // Checked before the barrier would be nicer, but all PEs must still agree; the check is local and
                // deterministic, so every PE that made this call fails the same way after agreeing.
                self.agree(call, a, b)?;
                return Err(e);
            }
        }
        self.agree(call, a, b)?;
        if size == 0 {
            return Ok(None);
        }
        let off = self.allocator.lock().unwrap_or_else(|e| e.into_inner()).alloc(size, align)?;
        self.collapse_huge(off, size);
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
        self.collapse_huge(off, total);
        let p = self.node.local().span(off, total)?;
        // SAFETY: the block was just reserved for this call inside the local heap; no peer writes into it
        // before the barrier below, and this process holds no reference into it.
        unsafe { std::ptr::write_bytes(p.as_ptr(), 0, total as usize) };
        self.sync_all()?;
        Ok(Some(HeapOffset(off)))
    }

    /// Collective zeroed allocation of `total` bytes aligned to `align` (a power of two up to
    /// [`MAX_HEAP_ALIGN`]): `calloc` with an alignment, for typed arrays. `Ok(None)` when `total` is 0.
    pub(crate) fn calloc_aligned(&self, total: u64, align: u64) -> Result<Option<HeapOffset>> {
        self.check_live()?;
        let checked = check_align(align);
        self.agree(AllocCall::CallocAligned, align, total)?;
        checked?;
        if total == 0 {
            return Ok(None);
        }
        let off = self.allocator.lock().unwrap_or_else(|e| e.into_inner()).alloc(total, align)?;
        self.collapse_huge(off, total);
        let p = self.node.local().span(off, total)?;
        // SAFETY: as in calloc: a block just reserved for this call in the local heap, untouched by peers until
        // the barrier below.
        unsafe { std::ptr::write_bytes(p.as_ptr(), 0, total as usize) };
        self.sync_all()?;
        Ok(Some(HeapOffset(off)))
    }

    /// Makes the whole 2 MiB pages of this PE's new block `off..off+len` huge pages when the block is large
    /// enough (`SHMEM_HEAP_COLLAPSE_MIN`): every PE does it for its own block, so every copy of the block is.
    /// Before a calloc's zeroing, so that the zeroing writes the huge pages instead of faulting in 512 small
    /// ones to copy them. Best effort: a refusal leaves small pages (see `Segment::collapse_huge_pages`).
    ///
    /// Not with the RoCE engine: it registers (pins) the whole segment at init, and the kernel never collapses
    /// pinned pages, so every try would fail.
    fn collapse_huge(&self, off: u64, len: u64) {
        let pinned = self.router.all().iter().any(|e| e.kind() == shmem_core::OpEngineType::ROCE);
        if !pinned && self.config.heap_collapse_min.is_some_and(|min| len >= min) {
            match self.node.local().collapse_huge_pages(off, len) {
                Ok(huge) => tracing::debug!("block +{off:#x} of {len} B: {huge} B on 2 MiB pages"),
                Err(e) => tracing::debug!("block +{off:#x} of {len} B: no huge pages: {e}"),
            }
        }
    }

    /// Collective `free` of the block starting at `off`.
    pub(crate) fn free(&self, off: HeapOffset) -> Result<()> {
        self.check_live()?;
        self.agree(AllocCall::Free, off.0, 0)?;
        self.allocator.lock().unwrap_or_else(|e| e.into_inner()).free(off.0)
    }
}

impl Runtime {
    /// The probe a waiting barrier runs to notice an allocation meeting a `barrier_all`/`sync_all` (see the
    /// module doc): `my_call` describes this PE's allocation call when it is in the agreement, `None` when it is
    /// in a TEAM_WORLD barrier.
    ///
    /// The team table is looked up at the probe's first run, not when it is made: most barriers end before
    /// their first probe (about a millisecond of waiting), and the lookup (a lock and two reference counts) was
    /// a measurable part of a 2-PE `barrier_all`.
    pub(crate) fn alloc_mismatch_probe(&self, my_call: Option<String>) -> impl FnMut() -> Result<()> + '_ {
        let mut states = None;
        let layout = self.layout;
        let world_arrival = layout.team_word(shmem_team::TEAM_WORLD as u32, ARRIVAL_WORD);
        let alloc_arrival = layout.team_word(ALLOC_SYNC_SLOT, ARRIVAL_WORD);
        move || {
            let (world, alloc_barrier) =
                states.get_or_insert_with(|| self.teams.lock().unwrap_or_else(|e| e.into_inner()).sync_states());
            let (my_world, my_alloc) = (world.barrier.epoch(), alloc_barrier.epoch());
            let read =
                |pe: Pe, at: HeapOffset| self.router.for_atomic(pe).atomic(pe, at, AtomicWidth::W64, AtomicOp::Fetch);
            // Read the word of the other collective first: a peer that legitimately went on from ours to the
            // other one stored its arrival in ours before, so the second read then shows it.
            let mut others = Vec::new();
            for pe in (0..self.n_pes).map(Pe).filter(|&pe| pe != self.me) {
                if my_call.is_some() {
                    let w = read(pe, world_arrival)?;
                    if w > my_world && read(pe, alloc_arrival)? < my_alloc {
                        others.push((pe.0, format!("barrier_all/sync_all #{w}")));
                    }
                } else {
                    let a = read(pe, alloc_arrival)?;
                    if a > my_alloc && read(pe, world_arrival)? < my_world {
                        let rec = layout.alloc_record(a);
                        let r: Vec<u64> = (0..4).map(|i| read(pe, rec.plus(8 * i))).collect::<Result<_>>()?;
                        let what = match (r[0] == a, AllocCall::from_word(r[1])) {
                            (true, Some(c)) => c.describe(r[2], r[3]),
                            _ => "an allocation call".to_string(),
                        };
                        others.push((pe.0, format!("collective allocation call #{a}: {what}")));
                    }
                }
            }
            if others.is_empty() {
                return Ok(());
            }
            // Both collectives are out of step with the peers now: later barriers (finalize's too) fail at once
            // instead of waiting for PEs that went the other way.
            world.barrier.poison();
            alloc_barrier.poison();
            let theirs: Vec<String> = others.iter().map(|(pe, what)| format!("PE {pe} is in {what}")).collect();
            let mine = match &my_call {
                Some(c) => format!("collective allocation call {c}"),
                None => format!("barrier_all/sync_all #{my_world} over TEAM_WORLD"),
            };
            Err(Error::InvalidValue(format!(
                "PE {} is in {mine} but {}: the collectives do not match; every PE must make the same \
                 malloc/calloc/align/free and barrier calls in the same order",
                self.me.0,
                theirs.join("; ")
            )))
        }
    }

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

/// An alignment the heap can honour: a power of two no larger than the heap base's alignment.
fn check_align(align: u64) -> Result<()> {
    if !align.is_power_of_two() {
        return Err(Error::invalid(format!("alignment {align} is not a power of two")));
    }
    if align > MAX_HEAP_ALIGN as u64 {
        return Err(Error::invalid(format!(
            "alignment {align} is larger than the largest supported alignment {MAX_HEAP_ALIGN} (the heap base is \
             aligned to {MAX_HEAP_ALIGN} B)"
        )));
    }
    Ok(())
}

fn list(pes: &[u32]) -> String {
    const SHOWN: usize = 16;
    let mut s: Vec<String> = pes.iter().take(SHOWN).map(u32::to_string).collect();
    if pes.len() > SHOWN {
        s.push(format!("... ({} PEs)", pes.len()));
    }
    s.join(", ")
}
