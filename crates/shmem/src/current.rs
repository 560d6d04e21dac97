//! The process-wide runtime state: which runtime is current, the life-cycle status, and the one state machine
//! that moves between them (init installs a runtime, finalize removes it).
//!
//! Every public function of the raw API reaches the runtime through [`with_current`] (or [`current`]); the
//! typed [`crate::Shmem`] handle holds its runtime directly. This module sits right above `runtime` and below
//! every module of public functions, so that none of them needs another to find the runtime.

use crate::config::Config;
use crate::runtime::Runtime;
use shmem_core::{Error, InitAttr, InitStatus, Result};
use std::cell::RefCell;
use std::sync::atomic::{fence, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

static CURRENT: RwLock<Option<Arc<Runtime>>> = RwLock::new(None);
/// Bumped (under the `CURRENT` write lock) at every init and finalize, so that per-thread caches of the
/// runtime notice a change with one relaxed load instead of taking the lock on every call.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The process-wide life-cycle status (`InitStatus` as i32).
static STATUS: AtomicI32 = AtomicI32::new(InitStatus::NotInitialized as i32);

thread_local! {
    /// This thread's copy of the current runtime and the generation it was taken at. It may keep a finalized
    /// runtime's mappings alive until the thread's next call (which refreshes it) or its exit.
    static CACHED: RefCell<Option<(u64, Arc<Runtime>)>> = const { RefCell::new(None) };
}

/// Runs `f` on the current runtime. The fast path is a thread-local lookup: no lock, no reference count.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Runtime) -> Result<R>) -> Result<R> {
    let generation = GENERATION.load(Ordering::Acquire);
    CACHED.with(|cache| {
        if let Some((g, rt)) = &*cache.borrow() {
            if *g == generation {
                return f(rt);
            }
        }
        let (g, rt) = {
            let guard = CURRENT.read().unwrap_or_else(|e| e.into_inner());
            let Some(rt) = guard.as_ref().cloned() else {
                // Drop a stale runtime this thread still caches, so that its mappings can go.
                drop(guard);
                *cache.borrow_mut() = None;
                return Err(Error::NotInited("call shmem init first".into()));
            };
            (GENERATION.load(Ordering::Acquire), rt)
        };
        *cache.borrow_mut() = Some((g, rt.clone()));
        f(&rt)
    })
}

/// The current runtime's heap as a seqlock (`HEAP_SEQ` odd while it changes), written only under the
/// `CURRENT` write lock at the moments the current runtime changes. A binding checks every local address it
/// gets as an int against it, on every call: this read is four loads, with no lock and no thread-local
/// (inside a Python extension a thread-local is a `__tls_get_addr` call).
static HEAP_SEQ: AtomicU64 = AtomicU64::new(0);
/// Base address of the current runtime's heap (see [`HEAP_SEQ`]).
static HEAP_BASE: AtomicUsize = AtomicUsize::new(0);
/// Size in bytes of the current runtime's heap; 0 when no runtime is current.
static HEAP_SIZE: AtomicU64 = AtomicU64::new(0);

/// The current runtime's heap as (base, size), or `None` when none is current. Consistent with `CURRENT`:
/// it changes under the same write lock.
#[inline]
pub(crate) fn heap_span() -> Option<(usize, u64)> {
    loop {
        let s1 = HEAP_SEQ.load(Ordering::Acquire);
        if s1.is_multiple_of(2) {
            let base = HEAP_BASE.load(Ordering::Relaxed);
            let size = HEAP_SIZE.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if HEAP_SEQ.load(Ordering::Relaxed) == s1 {
                return (size != 0).then_some((base, size));
            }
        }
        std::hint::spin_loop();
    }
}

/// Publishes the heap of the runtime that becomes current (`None`: none is). Call only while holding the
/// `CURRENT` write lock (the one writer of the seqlock).
fn publish_heap(span: Option<(usize, u64)>) {
    let (base, size) = span.unwrap_or((0, 0));
    let s = HEAP_SEQ.load(Ordering::Relaxed);
    HEAP_SEQ.store(s + 1, Ordering::Relaxed);
    fence(Ordering::Release);
    HEAP_BASE.store(base, Ordering::Relaxed);
    HEAP_SIZE.store(size, Ordering::Relaxed);
    HEAP_SEQ.store(s + 2, Ordering::Release);
}

/// The running runtime, or `NotInited`.
pub(crate) fn current() -> Result<Arc<Runtime>> {
    let g = CURRENT.read().unwrap_or_else(|e| e.into_inner());
    match g.as_ref() {
        Some(rt) => Ok(rt.clone()),
        None => Err(Error::NotInited("call shmem init first".into())),
    }
}

/// The current life-cycle status of this process.
pub(crate) fn status() -> InitStatus {
    match STATUS.load(Ordering::Acquire) {
        0 => InitStatus::NotInitialized,
        1 => InitStatus::ShmCreated,
        2 => InitStatus::Initialized,
        _ => InitStatus::Invalid,
    }
}

/// Starts a runtime from `attr` and `config` and makes it the current one. Collective over the job.
///
/// # Errors
/// `Inner` when a runtime is current or another init is running; whatever the runtime's start returns (then
/// the status is `Invalid`).
pub(crate) fn start(attr: InitAttr, config: Config) -> Result<Arc<Runtime>> {
    // One init at a time, but without holding CURRENT: init can take as long as shm_init_timeout, and it runs
    // user code (the TLS decrypt callback) that may itself call into the API.
    static INITIALIZING: Mutex<()> = Mutex::new(());
    let _one = INITIALIZING.try_lock().map_err(|_| {
        Error::Inner(
            "shmem init is already running in this process (another thread, or init called from a callback)".into(),
        )
    })?;
    if CURRENT.read().unwrap_or_else(|e| e.into_inner()).is_some() {
        return Err(Error::Inner("shmem is already initialized in this process; call finalize first".into()));
    }
    let segment_created = || STATUS.store(InitStatus::ShmCreated as i32, Ordering::Release);
    match Runtime::start(attr, config, &segment_created) {
        Ok(rt) => {
            let mut g = CURRENT.write().unwrap_or_else(|e| e.into_inner());
            *g = Some(rt.clone());
            publish_heap(Some((rt.base, rt.layout.heap_size())));
            GENERATION.fetch_add(1, Ordering::AcqRel);
            drop(g);
            STATUS.store(InitStatus::Initialized as i32, Ordering::Release);
            Ok(rt)
        }
        Err(e) => {
            STATUS.store(InitStatus::Invalid as i32, Ordering::Release);
            Err(e)
        }
    }
}

/// Finalizes the current runtime; with `expected`, only if it is that runtime (a stale handle of an earlier
/// init must not finalize the job's new one).
///
/// # Errors
/// `NotInited` when no runtime is current (or another is); the runtime's finalize errors.
pub(crate) fn finalize(expected: Option<&Arc<Runtime>>) -> Result<()> {
    let rt = {
        let mut g = CURRENT.write().unwrap_or_else(|e| e.into_inner());
        let current = g.as_ref().ok_or_else(|| Error::NotInited("finalize called before init (or twice)".into()))?;
        if expected.is_some_and(|e| !Arc::ptr_eq(e, current)) {
            return Err(Error::NotInited(
                "this handle's runtime was already finalized; it cannot finalize another".into(),
            ));
        }
        let rt = g.take().expect("checked above");
        publish_heap(None);
        GENERATION.fetch_add(1, Ordering::AcqRel);
        rt
    };
    CACHED.with(|c| c.borrow_mut().take());
    let r = rt.finalize();
    STATUS.store(InitStatus::NotInitialized as i32, Ordering::Release);
    r
}
