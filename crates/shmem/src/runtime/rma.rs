//! Remote memory access on the runtime: argument checks, then one engine call.
//!
//! Symmetric addresses in this layer are local virtual addresses inside this PE's heap (as the raw API and
//! Python use them); they are translated to a peer by their offset in the heap. Every check failure is an
//! `InvalidParam` that names the address, the heap range and the PE.

use super::Runtime;
use shmem_core::engine::{AtomicOp, AtomicWidth, Completion, DataOpEngine, Get, Put, SignalOp, SignalUpdate};
use shmem_core::{Error, HeapOffset, Pe, Result};
use std::sync::atomic::Ordering;

impl Runtime {
    /// `Err(NotInited)` once finalize has run (stale handles).
    #[inline]
    pub(crate) fn check_live(&self) -> Result<()> {
        if self.finalized.load(Ordering::Relaxed) {
            return Err(Error::NotInited("this PE has called finalize; call init again".into()));
        }
        Ok(())
    }

    /// Checks a PE number.
    #[inline]
    pub(crate) fn check_pe(&self, pe: i64) -> Result<Pe> {
        if pe < 0 || pe >= self.n_pes as i64 {
            return Err(Error::invalid(format!(
                "PE {pe} is not in this job of {} PEs (0..{})",
                self.n_pes, self.n_pes
            )));
        }
        Ok(Pe(pe as u32))
    }

    /// Translates a symmetric address range to a heap offset, checking that `addr..addr+len` lies inside the
    /// symmetric heap and that `addr` is aligned to `align`.
    #[inline]
    pub(crate) fn offset_of(&self, addr: usize, len: usize, align: usize, pe: Pe) -> Result<HeapOffset> {
        let off = addr.wrapping_sub(self.base) as u64;
        if addr < self.base || !self.layout.heap_contains(off, len as u64) {
            return Err(self.out_of_heap(addr, len, pe));
        }
        if align > 1 && !addr.is_multiple_of(align) {
            return Err(Error::invalid(format!(
                "address {addr:#x} (for {pe}) is not aligned to {align} B as this {}-bit operation requires",
                align * 8
            )));
        }
        Ok(HeapOffset(off))
    }

    #[cold]
    fn out_of_heap(&self, addr: usize, len: usize, pe: Pe) -> Error {
        Error::invalid(format!(
            "symmetric range {addr:#x}..{:#x} ({len} B, for {pe}) is not inside the symmetric heap \
             {:#x}..{:#x}; pass an address returned by shmem malloc/calloc/align",
            addr.saturating_add(len),
            self.base,
            self.base + self.layout.heap_size() as usize
        ))
    }

    /// Puts `len` bytes from local `src` to the symmetric `dst` on `pe`.
    ///
    /// # Safety
    /// `src..src+len` must be readable (and, for `nbi`, unmodified until quiet).
    #[inline]
    pub(crate) unsafe fn putmem(&self, dst: usize, src: *const u8, len: usize, pe: i64, nbi: bool) -> Result<()> {
        self.check_live()?;
        let pe = self.check_pe(pe)?;
        let off = self.offset_of(dst, len, 1, pe)?;
        if len == 0 {
            return Ok(());
        }
        let op = Put { pe, dst: off, src, len, signal: None };
        // SAFETY: forwarded contract; the range is inside the peer's heap (checked).
        unsafe { self.router.put(op, Completion::of_nbi(nbi)) }
    }

    /// Gets `len` bytes from the symmetric `src` on `pe` into local `dst`.
    ///
    /// # Safety
    /// `dst..dst+len` must be writable (and, for `nbi`, untouched until quiet).
    #[inline]
    pub(crate) unsafe fn getmem(&self, dst: *mut u8, src: usize, len: usize, pe: i64, nbi: bool) -> Result<()> {
        self.check_live()?;
        let pe = self.check_pe(pe)?;
        let off = self.offset_of(src, len, 1, pe)?;
        if len == 0 {
            return Ok(());
        }
        let op = Get { pe, src: off, dst, len };
        // SAFETY: forwarded contract.
        unsafe { self.router.get(op, Completion::of_nbi(nbi)) }
    }

    /// Put-with-signal: data, then the 64-bit signal at `sig` on `pe` is set/added.
    ///
    /// # Safety
    /// As for [`Runtime::putmem`].
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn putmem_signal(
        &self,
        dst: usize,
        src: *const u8,
        len: usize,
        sig: usize,
        value: u64,
        op: SignalOp,
        pe: i64,
        nbi: bool,
    ) -> Result<()> {
        self.check_live()?;
        let pe = self.check_pe(pe)?;
        let put = self.signal_put(dst, src, len, sig, value, op, pe)?;
        // SAFETY: forwarded contract.
        unsafe { self.router.put(put, Completion::of_nbi(nbi)) }
    }

    /// The checked descriptor of a put-with-signal to `pe` (in range): destination and signal word inside the
    /// heap, the signal 8-byte aligned and outside the destination.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn signal_put(
        &self,
        dst: usize,
        src: *const u8,
        len: usize,
        sig: usize,
        value: u64,
        op: SignalOp,
        pe: Pe,
    ) -> Result<Put> {
        let off = self.offset_of(dst, len, 1, pe)?;
        let sig_off = self.offset_of(sig, 8, 8, pe)?;
        let (d0, d1, s0) = (off.0, off.0 + len as u64, sig_off.0);
        if len > 0 && s0 < d1 && d0 < s0 + 8 {
            return Err(Error::invalid(format!(
                "signal word {sig:#x} overlaps the destination {dst:#x}..{:#x} of the put",
                dst + len
            )));
        }
        Ok(Put { pe, dst: off, src, len, signal: Some(SignalUpdate { at: sig_off, value, op }) })
    }

    /// An atomic operation on the symmetric word at `addr` on `pe`.
    #[inline]
    pub(crate) fn atomic(&self, addr: usize, width: AtomicWidth, op: AtomicOp, pe: i64) -> Result<u64> {
        self.check_live()?;
        let pe = self.check_pe(pe)?;
        let w = width.bytes() as usize;
        let off = self.offset_of(addr, w, w, pe)?;
        self.router.for_atomic(pe).atomic(pe, off, width, op)
    }

    /// `shmem_ptr`: an address of `pe`'s copy of `addr` usable by loads and stores here, or `None`.
    pub(crate) fn ptr(&self, addr: usize, pe: i64) -> Result<Option<usize>> {
        self.check_live()?;
        let pe = self.check_pe(pe)?;
        // One byte: the address must name a byte of the heap (not its end).
        let off = self.offset_of(addr, 1, 1, pe)?;
        Ok(self.router.to(pe).peer_ptr(pe, off).map(|p| p.as_ptr() as usize))
    }

    /// Orders puts to each PE on every engine.
    pub(crate) fn fence(&self) -> Result<()> {
        self.check_live()?;
        for e in self.router.all() {
            e.fence()?;
        }
        Ok(())
    }
}
