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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Buffers lent to `_nbi` operations, released at the next quiet (or barrier, or finalize).
static PENDING: Mutex<Vec<PyUntypedBuffer>> = Mutex::new(Vec::new());
/// Whether `PENDING` may hold buffers (set and cleared under its lock): a quiet or barrier with nothing lent,
/// the common case, skips the lock (measured: about a tenth of a 1-PE `aclshmem_barrier_all` from Python).
/// A buffer lent by another thread while this one reads `false` belongs to an operation concurrent with this
/// quiet, which does not complete it: it is released by a later quiet, as it must be.
static ANY_PENDING: AtomicBool = AtomicBool::new(false);

/// The heap range `(base, len)` of the current runtime, or `None` (asked of the facade).
#[inline]
pub(crate) fn heap() -> Option<(usize, usize)> {
    let (base, len) = shmem::api::heap_range().ok()?;
    Some((base, usize::try_from(len).ok()?))
}

/// Keeps `buf` alive until the next quiet.
pub(crate) fn lend(buf: PyUntypedBuffer) {
    let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    pending.push(buf);
    ANY_PENDING.store(true, Ordering::Relaxed);
}

/// Releases the buffers lent to completed `_nbi` operations. Call with the GIL held, after a quiet.
pub(crate) fn release_lent(_py: Python<'_>) {
    if !ANY_PENDING.load(Ordering::Relaxed) {
        return;
    }
    let lent = {
        let mut pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        ANY_PENDING.store(false, Ordering::Relaxed);
        std::mem::take(&mut *pending)
    };
    drop(lent);
}
