//! What the binding remembers between calls: the heap range of the running runtime, the life-cycle epoch and
//! lock, the keeper that keeps mappings alive for arrays, and the buffers of `_nbi` operations in flight.
//!
//! # Why a lock and an epoch
//! A local buffer given as an `int` is accepted only when it lies inside this PE's symmetric heap (anything
//! else could be any address of the process). The check reads the heap range cached here under the GIL; a
//! copy that then releases the GIL must not outlive the mapping. `finalize` bumps [`EPOCH`] under the GIL and
//! then takes [`LIFECYCLE`] for writing; a detached copy takes it for reading and re-checks the epoch, so it
//! either runs entirely before the heap goes away or fails with NOT_INITED. `init` takes no lock (no heap int
//! is accepted before it records the new heap), so user callbacks that run inside it may call the API.
//!
//! # Why a keeper
//! The runtime unmaps its heap when its last reference goes, at finalize. NumPy arrays that view the heap may
//! still be alive then; touching them must not crash. The keeper holds a [`shmem::api::HeapPin`] of the
//! runtime it was made for; every array holds the keeper, so the mappings go only when the last array of that
//! runtime is gone and finalize has run.

use pyo3::buffer::PyUntypedBuffer;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

/// Base address of the running runtime's heap (0 when none runs). Written and read under the GIL.
static HEAP_BASE: AtomicUsize = AtomicUsize::new(0);
/// Size of that heap in bytes (0 when none runs).
static HEAP_LEN: AtomicUsize = AtomicUsize::new(0);
/// Bumped at every init and finalize.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Held for writing by finalize, for reading by detached copies that use heap addresses.
static LIFECYCLE: RwLock<()> = RwLock::new(());
/// The keeper of the running runtime.
static KEEPER: Mutex<Option<Arc<Keeper>>> = Mutex::new(None);
/// Buffers lent to `_nbi` operations, released at the next quiet (or barrier, or finalize).
static PENDING: Mutex<Vec<PyUntypedBuffer>> = Mutex::new(Vec::new());

/// The heap range `(base, len)` of the running runtime, or `None`.
#[inline]
pub(crate) fn heap() -> Option<(usize, usize)> {
    let len = HEAP_LEN.load(Ordering::Acquire);
    (len != 0).then(|| (HEAP_BASE.load(Ordering::Acquire), len))
}

/// The current life-cycle epoch.
#[inline]
pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::Acquire)
}

/// Takes the life-cycle lock for reading (inside a detached section); `None` when an init or finalize started
/// since `seen` was read (the heap that was checked may be gone).
pub(crate) fn stay_alive(seen: u64) -> Option<RwLockReadGuard<'static, ()>> {
    let guard = LIFECYCLE.read().unwrap_or_else(|e| e.into_inner());
    (epoch() == seen).then_some(guard)
}

/// Runs `f` (finalize) holding the life-cycle lock for writing. Call it detached from Python.
pub(crate) fn exclusive<R>(f: impl FnOnce() -> R) -> R {
    let _w = LIFECYCLE.write().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Forgets the heap range (before finalize): from now on heap ints are refused.
pub(crate) fn leave_heap() {
    EPOCH.fetch_add(1, Ordering::AcqRel);
    HEAP_LEN.store(0, Ordering::Release);
    HEAP_BASE.store(0, Ordering::Release);
}

/// Records the heap of a runtime that just started, and starts its keeper.
pub(crate) fn enter_heap(base: usize, len: usize) {
    EPOCH.fetch_add(1, Ordering::AcqRel);
    HEAP_BASE.store(base, Ordering::Release);
    HEAP_LEN.store(len, Ordering::Release);
    let keeper = Keeper::start();
    *KEEPER.lock().unwrap_or_else(|e| e.into_inner()) = Some(keeper);
}

/// The keeper of the running runtime, if any.
pub(crate) fn keeper() -> Option<Arc<Keeper>> {
    KEEPER.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Detaches the keeper from the binding (at finalize); it lives on while arrays hold it.
pub(crate) fn take_keeper() -> Option<Arc<Keeper>> {
    KEEPER.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Keeps `buf` alive until the next quiet.
pub(crate) fn lend(buf: PyUntypedBuffer) {
    PENDING.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
}

/// Releases the buffers lent to completed `_nbi` operations. Call with the GIL held, after a quiet.
pub(crate) fn release_lent(_py: Python<'_>) {
    let lent = std::mem::take(&mut *PENDING.lock().unwrap_or_else(|e| e.into_inner()));
    drop(lent);
}

/// Keeps the heap mappings of one runtime alive while arrays view them; see the module docs.
#[derive(Debug)]
pub(crate) struct Keeper {
    /// The pin (absent only if the runtime was already gone when the keeper was made).
    _pin: Option<shmem::api::HeapPin>,
    /// Symmetric blocks of this runtime that are allocated and still referenced from Python.
    pub(crate) live_blocks: AtomicUsize,
}

impl Keeper {
    fn start() -> Arc<Keeper> {
        Arc::new(Keeper { _pin: shmem::api::pin_heap().ok(), live_blocks: AtomicUsize::new(0) })
    }
}
