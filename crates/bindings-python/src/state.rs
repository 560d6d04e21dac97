//! What the binding remembers between calls: only the buffers of `_nbi` operations in flight.
//!
//! The life cycle (which runtime is current, its status, its heap) is not kept here: the facade's state
//! machine (`shmem::api::init_status`, `shmem::api::heap_range`, [`shmem::api::HeapPin`]) is the only one,
//! and the binding asks it on every call (the fast path is a thread-local lookup, no lock).
//!
//! # Why heap ints are safe without a lock of ours
//! A local buffer given as an `int` is accepted only when it lies inside this PE's symmetric heap, as the
//! facade reports it at that moment. A copy that then releases the GIL first pins that runtime's mappings
//! (`HeapPin`): however finalize races with it, the memory it reads or writes stays mapped until the copy
//! returns, and a copy that starts after the runtime it checked stopped being current fails with NOT_INITED.
//!
//! # Why arrays hold a pin
//! The runtime unmaps its heap when its last reference goes, at finalize. NumPy arrays that view the heap may
//! still be alive then; touching them must not crash. Every array's block holds a `HeapPin` of the runtime it
//! was allocated from (see `memory`), so the mappings go only when the last array of that runtime is gone and
//! finalize has run.

use pyo3::buffer::PyUntypedBuffer;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// Buffers lent to `_nbi` operations, each with its number in lending order, released by a later quiet (or
/// barrier, or finalize) that began after it was lent.
static PENDING: Mutex<Vec<(u64, PyUntypedBuffer)>> = Mutex::new(Vec::new());
/// The number of the last buffer lent (set under `PENDING`'s lock): a quiet reads it before it starts
/// ([`lent_mark`]) and afterwards releases only buffers up to it ([`release_lent`]). A buffer lent by another
/// thread while the quiet ran belongs to an operation that the quiet may not have completed (a thread's `_nbi`
/// call lends its buffer after issuing the operation, so any buffer numbered up to the mark belongs to an
/// operation issued before the quiet began).
static LENT: AtomicU64 = AtomicU64::new(0);
/// Whether `PENDING` may hold buffers (set and cleared under its lock): a quiet or barrier with nothing lent,
/// the common case, skips the lock (measured: about a tenth of a 1-PE `aclshmem_barrier_all` from Python).
static ANY_PENDING: AtomicBool = AtomicBool::new(false);

/// The heap range `(base, len)` of the current runtime, or `None` (asked of the facade).
#[inline]
pub(crate) fn heap() -> Option<(usize, usize)> {
    let (base, len) = shmem::api::heap_range().ok()?;
    Some((base, usize::try_from(len).ok()?))
}

/// Keeps `buf` alive until a quiet that begins after this call. Call after issuing the operation.
pub(crate) fn lend(buf: PyUntypedBuffer) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let n = LENT.load(Ordering::Relaxed) + 1;
    LENT.store(n, Ordering::Relaxed);
    pending.push((n, buf));
    ANY_PENDING.store(true, Ordering::Relaxed);
}

/// What a quiet (or barrier) may release once it completes: the buffers lent so far. Read with the GIL held,
/// before the quiet starts.
#[inline]
pub(crate) fn lent_mark() -> u64 {
    if ANY_PENDING.load(Ordering::Relaxed) {
        LENT.load(Ordering::Relaxed)
    } else {
        0
    }
}

/// Releases the buffers lent up to `mark` ([`lent_mark`], read before a quiet that has now completed their
/// operations); later ones stay lent. Call with the GIL held.
pub(crate) fn release_lent(_py: Python<'_>, mark: u64) {
    if mark == 0 || !ANY_PENDING.load(Ordering::Relaxed) {
        return;
    }
    let lent: Vec<(u64, PyUntypedBuffer)> = {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        // Lent in order: the released ones are a prefix.
        let upto = pending.partition_point(|(n, _)| *n <= mark);
        let lent = pending.drain(..upto).collect();
        if pending.is_empty() {
            ANY_PENDING.store(false, Ordering::Relaxed);
        }
        lent
    };
    drop(lent);
}
