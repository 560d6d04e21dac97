//! The segments of the PEs on this node, mapped into this process, indexed by world PE number.

use super::layout::HeapLayout;
use super::segment::Segment;
use crate::engine::{AtomicOp, AtomicWidth};
use crate::error::{Error, Result};
use crate::types::{HeapOffset, Pe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// This PE's own segment and the mapped segments of its node's peers. Engines that load/store peers' memory
/// directly hold it in an `Arc`; the mappings go away when the last holder drops it.
#[derive(Debug)]
pub struct NodeSegments {
    layout: HeapLayout,
    me: Pe,
    /// `segs[pe]` is `Some` for PEs on this node (this PE included).
    segs: Vec<Option<Segment>>,
    local_pes: u32,
}

impl NodeSegments {
    /// Collects the mappings; `segs[me]` must be `Some`.
    pub fn new(layout: HeapLayout, me: Pe, segs: Vec<Option<Segment>>) -> NodeSegments {
        assert!(segs.get(me.index()).is_some_and(Option::is_some), "own segment missing");
        let local_pes = segs.iter().flatten().count() as u32;
        NodeSegments { layout, me, segs, local_pes }
    }

    /// The layout shared by all segments.
    pub fn layout(&self) -> &HeapLayout {
        &self.layout
    }

    /// This PE.
    pub fn me(&self) -> Pe {
        self.me
    }

    /// Number of PEs in the job.
    pub fn n_pes(&self) -> u32 {
        self.segs.len() as u32
    }

    /// Number of PEs on this node (whose segments are mapped here).
    pub fn local_pes(&self) -> u32 {
        self.local_pes
    }

    /// This PE's own segment.
    #[inline]
    pub fn local(&self) -> &Segment {
        self.segs[self.me.index()].as_ref().expect("own segment present")
    }

    /// `pe`'s segment when it is mapped here.
    #[inline]
    pub fn peer(&self, pe: Pe) -> Option<&Segment> {
        self.segs.get(pe.index()).and_then(Option::as_ref)
    }

    /// Removes every segment's name (after all local peers mapped them).
    pub fn unlink_all(&mut self) {
        for s in self.segs.iter_mut().flatten() {
            s.unlink();
        }
    }

    /// Pointer to `pe`'s byte at `off`, if mapped and `off..off+len` lies inside the segment.
    #[inline]
    pub fn ptr(&self, pe: Pe, off: HeapOffset, len: u64) -> Option<NonNull<u8>> {
        self.peer(pe)?.span(off.0, len).ok()
    }

    /// The 64-bit word at `off` of `pe`'s segment, as an atomic.
    ///
    /// # Panics
    /// If `pe` is not mapped or `off` is out of the segment or not 8-aligned (callers have checked).
    #[inline]
    pub fn word64(&self, pe: Pe, off: HeapOffset) -> &AtomicU64 {
        let p = self.ptr(pe, off, 8).expect("mapped, in-bounds word");
        assert!(off.0.is_multiple_of(8), "unaligned 64-bit word");
        // SAFETY: p is 8-aligned (segments are page-aligned and off % 8 == 0), inside a mapping that lives as
        // long as &self, and all accesses to sync words by any process are atomic.
        unsafe { AtomicU64::from_ptr(p.as_ptr().cast()) }
    }

    /// The 32-bit word at `off` of `pe`'s segment, as an atomic (same rules as [`NodeSegments::word64`]).
    #[inline]
    pub fn word32(&self, pe: Pe, off: HeapOffset) -> &AtomicU32 {
        let p = self.ptr(pe, off, 4).expect("mapped, in-bounds word");
        assert!(off.0.is_multiple_of(4), "unaligned 32-bit word");
        // SAFETY: as in word64, with 4-byte alignment.
        unsafe { AtomicU32::from_ptr(p.as_ptr().cast()) }
    }

    /// Performs the atomic `op` on `pe`'s mapped word of `width` at `at` with sequentially consistent ordering
    /// (which also orders it before the wake check, see [`crate::wake`]), wakes sleepers watching it, and
    /// returns the previous value. The shared implementation of every engine that maps peers' memory.
    ///
    /// # Errors
    /// `NotSupported` when `pe` is not mapped here, `InvalidParam` when the word is outside the segment or not
    /// aligned to its width. The facade never lets the last two through; they stay real checks (not
    /// `debug_assert!`) because this is a safe function, and a misaligned or out-of-bounds word would be
    /// undefined behaviour, not just a wrong answer (two compares next to a SeqCst read-modify-write).
    #[inline]
    pub fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        let seg = self
            .peer(pe)
            .ok_or_else(|| Error::NotSupported(format!("{pe} is not on this node: its memory is not mapped here")))?;
        let p = seg.span(at.0, width.bytes())?.as_ptr();
        if !(p as usize).is_multiple_of(width.bytes() as usize) {
            return Err(Error::invalid(format!("atomic word {at} of {pe} is not aligned to {} B", width.bytes())));
        }
        macro_rules! apply {
            ($w:expr) => {{
                let w = $w;
                match op {
                    AtomicOp::Fetch => w.load(Ordering::SeqCst) as u64,
                    AtomicOp::Swap(v) => w.swap(v as _, Ordering::SeqCst) as u64,
                    AtomicOp::CompareSwap { cond, value } => {
                        match w.compare_exchange(cond as _, value as _, Ordering::SeqCst, Ordering::SeqCst) {
                            Ok(v) | Err(v) => v as u64,
                        }
                    }
                    AtomicOp::FetchAdd(v) => w.fetch_add(v as _, Ordering::SeqCst) as u64,
                    AtomicOp::FetchAnd(v) => w.fetch_and(v as _, Ordering::SeqCst) as u64,
                    AtomicOp::FetchOr(v) => w.fetch_or(v as _, Ordering::SeqCst) as u64,
                    AtomicOp::FetchXor(v) => w.fetch_xor(v as _, Ordering::SeqCst) as u64,
                }
            }};
        }
        // SAFETY: p is in bounds (span) and aligned to the width (checked); the mapping lives as long as
        // &self; words used by atomics are only accessed atomically by the runtime, from any process.
        let old = unsafe {
            match width {
                AtomicWidth::W64 => apply!(AtomicU64::from_ptr(p.cast())),
                AtomicWidth::W32 => apply!(AtomicU32::from_ptr(p.cast())),
            }
        };
        if !matches!(op, AtomicOp::Fetch) {
            self.wake(pe, at, width.bytes());
        }
        Ok(old)
    }

    /// The wake line of `pe` (see [`crate::wake`]).
    #[inline]
    pub fn wake_line(&self, pe: Pe) -> crate::wake::WakeLine<'_> {
        let l = &self.layout;
        crate::wake::WakeLine {
            seq: self.word32(pe, l.wake_seq()),
            sleepers: self.word32(pe, l.sleepers()),
            asleep: self.word32(pe, l.asleep()),
            lo: self.word64(pe, l.watch_lo()),
            hi: self.word64(pe, l.watch_hi()),
        }
    }

    /// Wakes the sleepers of `pe` that watch bytes `off..off+len` (after a write there).
    #[inline]
    pub fn wake(&self, pe: Pe, off: HeapOffset, len: u64) {
        let l = &self.layout;
        if self.word32(pe, l.sleepers()).load(std::sync::atomic::Ordering::SeqCst) != 0 {
            self.wake_line(pe).wake_if_watching(off.0, len);
        }
    }
}
