//! The typed, safe Rust API: [`SymVec<T>`], an array of `T` that exists at the same offset on every PE.

use crate::runtime::Runtime;
use crate::Shmem;
use bytemuck::Pod;
use shmem_core::engine::{AtomicOp, AtomicWidth, Completion, DataOpEngine, Get, Put, SignalOp, SignalUpdate};
use shmem_core::{Error, HeapOffset, Result};
use shmem_sync::CmpOp;
use std::marker::PhantomData;
use std::sync::Arc;

/// A symmetric array of `len` values of `T`: allocated collectively, one copy per PE, addressed by index.
///
/// Local and remote accesses copy: no Rust reference is ever made over memory that peers may write.
/// Dropping a `SymVec` does not free it (freeing is collective): call [`SymVec::free`] on every PE, or let
/// `finalize` release it.
#[derive(Debug)]
pub struct SymVec<T: Pod> {
    rt: Arc<Runtime>,
    off: HeapOffset,
    len: usize,
    _t: PhantomData<T>,
}

impl Shmem {
    /// Collectively allocates a zeroed symmetric array of `len` values.
    pub fn alloc_zeroed<T: Pod>(&self, len: usize) -> Result<SymVec<T>> {
        if std::mem::align_of::<T>() > 16 {
            return self.alloc_zeroed_aligned(len, std::mem::align_of::<T>());
        }
        let size = std::mem::size_of::<T>() as u64;
        let off = if len == 0 || size == 0 {
            // Still a collective call, so that mismatches are caught; an empty array needs no memory.
            self.rt.calloc(0, size)?;
            HeapOffset(0)
        } else {
            self.rt.calloc(len as u64, size)?.expect("non-empty calloc returns a block")
        };
        Ok(SymVec { rt: self.rt.clone(), off, len, _t: PhantomData })
    }

    /// Collectively allocates a zeroed symmetric array of `len` values whose first element is aligned to
    /// `align` bytes (at least `T`'s alignment; a power of two up to `shmem_core::heap::MAX_HEAP_ALIGN`), e.g.
    /// to a cache line or a huge page. The same offset on every PE, so the address is aligned on every PE.
    ///
    /// # Errors
    /// INVALID_PARAM on every PE for an alignment that is not a power of two or above the maximum, or a size
    /// that overflows; MALLOC_FAILED when no aligned block fits.
    pub fn alloc_zeroed_aligned<T: Pod>(&self, len: usize, align: usize) -> Result<SymVec<T>> {
        let total = (len as u64).checked_mul(std::mem::size_of::<T>() as u64);
        // A bad alignment is passed on as it is, so that every PE refuses it the same way.
        let align = align as u64;
        let align = if align.is_power_of_two() { align.max(std::mem::align_of::<T>() as u64) } else { align };
        let Some(total) = total else {
            // Still collective (an empty call), so that no PE is left waiting; then this PE's error.
            self.rt.calloc_aligned(0, align)?;
            return Err(Error::invalid(format!("{len} elements of {} overflow 64 bits", std::any::type_name::<T>())));
        };
        let off = self.rt.calloc_aligned(total, align)?.unwrap_or(HeapOffset(0));
        Ok(SymVec { rt: self.rt.clone(), off, len, _t: PhantomData })
    }
}

impl<T: Pod> SymVec<T> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The symmetric address of element 0 (for the address-based API).
    pub fn addr(&self) -> usize {
        self.rt.base + self.off.get()
    }

    fn range(&self, at: usize, n: usize) -> Result<HeapOffset> {
        match at.checked_add(n) {
            Some(end) if end <= self.len => Ok(self.off.plus((at * std::mem::size_of::<T>()) as u64)),
            _ => Err(Error::invalid(format!(
                "elements {at}..{} are outside this symmetric array of {} elements",
                at.saturating_add(n),
                self.len
            ))),
        }
    }

    /// Copies `src` into `pe`'s copy starting at element `at`. On return `src` may be reused; the data is visible
    /// at the target at once for same-node PEs and after [`crate::Shmem::quiet`] (or a barrier) for all.
    pub fn put(&self, pe: u32, at: usize, src: &[T]) -> Result<()> {
        self.rt.check_live()?;
        let pe = self.rt.check_pe(pe as i64)?;
        let off = self.range(at, src.len())?;
        // SAFETY: src is a live slice for the call; the range is inside the array (checked).
        let op = Put { pe, dst: off, src: src.as_ptr().cast(), len: std::mem::size_of_val(src), signal: None };
        // SAFETY: as above.
        unsafe { self.rt.router.put(op, Completion::Blocking) }
    }

    /// Copies `pe`'s elements `at..at+dst.len()` into `dst`.
    pub fn get(&self, pe: u32, at: usize, dst: &mut [T]) -> Result<()> {
        self.rt.check_live()?;
        let pe = self.rt.check_pe(pe as i64)?;
        let off = self.range(at, dst.len())?;
        // SAFETY: dst is an exclusive live slice; the range is inside the array (checked).
        let op = Get { pe, src: off, dst: dst.as_mut_ptr().cast(), len: std::mem::size_of_val(dst) };
        // SAFETY: as above.
        unsafe { self.rt.router.get(op, Completion::Blocking) }
    }

    /// Puts `src` at element `at` of `pe`, then updates `pe`'s signal word `signal[sig_at]` with `op`: a PE that
    /// sees the signal sees the data.
    #[allow(clippy::too_many_arguments)]
    pub fn put_signal(
        &self,
        pe: u32,
        at: usize,
        src: &[T],
        signal: &SymVec<u64>,
        sig_at: usize,
        value: u64,
        op: SignalOp,
    ) -> Result<()> {
        self.rt.check_live()?;
        let pe = self.rt.check_pe(pe as i64)?;
        if !Arc::ptr_eq(&self.rt, &signal.rt) {
            return Err(Error::invalid("the signal array belongs to another (finalized) runtime than the data array"));
        }
        let off = self.range(at, src.len())?;
        let sig = signal.range(sig_at, 1)?;
        // SAFETY: as in put; the signal word is inside its own array, disjoint from this one.
        let signal = Some(SignalUpdate { at: sig, value, op });
        let put = Put { pe, dst: off, src: src.as_ptr().cast(), len: std::mem::size_of_val(src), signal };
        // SAFETY: as above.
        unsafe { self.rt.router.put(put, Completion::Blocking) }
    }

    /// Reads this PE's own elements `at..at+dst.len()`.
    pub fn read_local(&self, at: usize, dst: &mut [T]) -> Result<()> {
        self.get(self.rt.me.0, at, dst)
    }

    /// This PE's whole copy as a vector.
    pub fn to_vec(&self) -> Result<Vec<T>> {
        let mut v = vec![T::zeroed(); self.len];
        self.read_local(0, &mut v)?;
        Ok(v)
    }

    /// Writes this PE's own elements starting at `at`.
    pub fn write_local(&self, at: usize, src: &[T]) -> Result<()> {
        self.put(self.rt.me.0, at, src)
    }

    /// Collectively frees the array (every PE must call it, in the same order as its other allocation calls).
    pub fn free(self) -> Result<()> {
        if self.len == 0 || std::mem::size_of::<T>() == 0 {
            return self.rt.free_empty();
        }
        self.rt.free(self.off)
    }
}

/// Atomic operations and waits on symmetric arrays of the standard AMO types.
macro_rules! sym_atomics {
    ($($name:ident: $t:ty => $u:ty, $w:ident, $class:ident;)*) => {$(
        sym_atomics!(@$class $t, AtomicWidth::$w);
    )*};
    // The extended (float) AMO types have no SymVec atomics: `as u64` casts would convert, not reinterpret.
    (@float $t:ty, $w:expr) => {};
    (@int $t:ty, $w:expr) => {
        impl SymVec<$t> {
            fn amo(&self, pe: u32, at: usize, op: AtomicOp) -> Result<$t> {
                self.rt.check_live()?;
                let pe = self.rt.check_pe(pe as i64)?;
                let off = self.range(at, 1)?;
                Ok(self.rt.router.for_atomic(pe).atomic(pe, off, $w, op)? as $t)
            }
            /// Atomically adds `v` to `pe`'s element `at`; returns the previous value.
            pub fn fetch_add(&self, pe: u32, at: usize, v: $t) -> Result<$t> {
                self.amo(pe, at, AtomicOp::FetchAdd(v as u64))
            }
            /// Atomically reads `pe`'s element `at`.
            pub fn fetch(&self, pe: u32, at: usize) -> Result<$t> {
                self.amo(pe, at, AtomicOp::Fetch)
            }
            /// Atomically replaces `pe`'s element `at`; returns the previous value.
            pub fn swap(&self, pe: u32, at: usize, v: $t) -> Result<$t> {
                self.amo(pe, at, AtomicOp::Swap(v as u64))
            }
            /// Atomically replaces `pe`'s element `at` if it equals `cond`; returns the previous value.
            pub fn compare_swap(&self, pe: u32, at: usize, cond: $t, v: $t) -> Result<$t> {
                self.amo(pe, at, AtomicOp::CompareSwap { cond: cond as u64, value: v as u64 })
            }
            /// Waits until this PE's element `at` compares true with `value`; returns the value seen.
            pub fn wait_until(&self, at: usize, cmp: CmpOp, value: $t) -> Result<$t> {
                self.rt.check_live()?;
                let off = self.range(at, 1)?;
                let node = &self.rt.node;
                shmem_sync::wait::wait_until(
                    &self.rt.wait_ctx(false),
                    Some((off, std::mem::size_of::<$t>() as u64)),
                    || {
                        let v: $t = shmem_sync::wait::load_local(node, off);
                        cmp.holds(v, value).then_some(v)
                    },
                    || format!("element {at} {cmp:?} {value:?}"),
                )
            }
        }
    };
}

shmem_core::for_each_amo_type!(sym_atomics);
