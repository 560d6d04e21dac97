//! What the binding remembers between calls: the heap range of the running runtime, the life-cycle epoch and
//! lock, the keeper that keeps mappings alive for arrays, and the buffers of `_nbi` operations in flight.
//!
//! # Why a lock and an epoch
//! A local buffer given as an `int` is accepted only when it lies inside this PE's symmetric heap (anything
//! else could be any address of the process). The check reads the heap range cached here under the GIL; a
//! copy that then releases the GIL must not outlive the mapping. `init` and `finalize` bump [`EPOCH`] under
//! the GIL and then take [`LIFECYCLE`] for writing; a detached copy takes it for reading and re-checks the
//! epoch, so it either runs entirely before the heap goes away or fails with NOT_INITED.
//!
//! # Why a keeper thread
//! The runtime unmaps its heap when its last reference goes, at finalize. NumPy arrays that view the heap may
//! still be alive then; touching them must not crash. The runtime keeps a per-thread reference to itself
//! after any API call on a thread until that thread's next call or its exit, so a parked thread that made one
//! call holds the mappings. Every array holds the keeper; the thread exits (and the mappings go) when the
//! last array of that runtime is gone and finalize has run.

use pyo3::buffer::PyUntypedBuffer;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock, RwLockReadGuard};

/// Base address of the running runtime's heap (0 when none runs). Written and read under the GIL.
static HEAP_BASE: AtomicUsize = AtomicUsize::new(0);
/// Size of that heap in bytes (0 when none runs).
static HEAP_LEN: AtomicUsize = AtomicUsize::new(0);
/// Bumped at every init and finalize.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Held for writing by init/finalize, for reading by detached copies that use heap addresses.
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

/// Runs `f` (init or finalize) holding the life-cycle lock for writing. Call it detached from Python.
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

/// A parked thread whose cached runtime reference keeps the heap mappings alive; see the module docs.
#[derive(Debug)]
pub(crate) struct Keeper {
    /// Dropping the sender wakes the thread, which then exits and drops its runtime reference.
    stop: Mutex<Option<mpsc::Sender<()>>>,
    /// Symmetric blocks of this runtime that are allocated and still referenced from Python.
    pub(crate) live_blocks: AtomicUsize,
}

impl Keeper {
    fn start() -> Arc<Keeper> {
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new().name("shmem-keeper".into()).spawn(move || {
            // Any call through the API's fast path caches the runtime in this thread.
            let _ = shmem::api::fence();
            let _ = ready_tx.send(());
            let _ = stop_rx.recv();
        });
        if spawned.is_ok() {
            let _ = ready_rx.recv();
        }
        Arc::new(Keeper { stop: Mutex::new(Some(stop_tx)), live_blocks: AtomicUsize::new(0) })
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        drop(self.stop.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}
