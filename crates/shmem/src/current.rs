//! The process-wide runtime state: which runtime is current, the life-cycle status, and the one state machine
//! that moves between them (init installs a runtime, finalize removes it).
//!
//! Every public function of the raw API reaches the runtime through [`with_current`] (or [`current`]); the
//! typed [`crate::Shmem`] handle holds its runtime directly. This module sits right above `runtime` and below
//! every module of public functions, so that none of them needs another to find the runtime.

use crate::config::Config;
use crate::runtime::Runtime;
use shmem_core::{Error, InitAttr, InitStatus, Result};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{fence, AtomicI32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, TryLockError};

static CURRENT: RwLock<Option<Arc<Runtime>>> = RwLock::new(None);
/// Bumped (under the `CURRENT` write lock) at every init and finalize, so that per-thread caches of the
/// runtime notice a change with one load instead of taking the lock on every call. Starts at 1: a thread's
/// fast slot starts at generation 0 and so never matches before the thread has cached a runtime.
static GENERATION: AtomicU64 = AtomicU64::new(1);
/// The process-wide life-cycle status (`InitStatus` as i32).
static STATUS: AtomicI32 = AtomicI32::new(InitStatus::NotInitialized as i32);

/// A thread's reference to the runtime it last used: it keeps that runtime (its mappings and engines) alive
/// until the thread's next call after an init or finalize, or the thread's exit. Dropping it first clears the
/// thread's [`FAST`] slot, so that the slot never names a runtime this thread no longer holds.
struct Owned(RefCell<Option<Arc<Runtime>>>);

impl Drop for Owned {
    fn drop(&mut self) {
        // FAST has no destructor, so it is reachable during thread exit too.
        FAST.with(|f| f.set(EMPTY));
    }
}

/// The value of a [`FAST`] slot that matches no generation.
const EMPTY: (u64, *const Runtime) = (0, std::ptr::null());

thread_local! {
    /// This thread's owning reference (see [`Owned`]); touched only when the generation changed.
    static OWNED: Owned = const { Owned(RefCell::new(None)) };
    /// This thread's hot-path view of [`OWNED`]: (generation it was taken at, the runtime). A plain `Cell` of
    /// two words without a destructor: reading it is one TLS address lookup and two loads (no lazy destructor
    /// registration, no borrow flag), which is what a C call like `shmem_putmem` pays per call. The pointer is
    /// valid while the generation matches: it is set only together with `OWNED` (which holds the `Arc`) and
    /// reset before `OWNED` lets the `Arc` go; only this thread changes either.
    static FAST: Cell<(u64, *const Runtime)> = const { Cell::new(EMPTY) };
}

/// Runs `f` on the current runtime. The fast path is a thread-local pair compared with the global generation:
/// no lock, no reference count, no borrow flag. A finalize on another thread cannot free a runtime under a
/// call of this thread: this thread's own `Arc` (in `OWNED`) keeps it alive, and the runtime itself answers
/// `NotInited` once finalized. `f` runs runtime code, which sits below this module and never calls back into
/// it: a refresh inside `f` could let go of the runtime `f` is using.
#[inline]
pub(crate) fn with_current<R>(f: impl FnOnce(&Runtime) -> Result<R>) -> Result<R> {
    let generation = GENERATION.load(Ordering::Acquire);
    let (g, rt) = FAST.with(Cell::get);
    if g == generation {
        // SAFETY: a slot whose generation matches was set by `refresh` on this thread together with this
        // thread's `Arc` of the same runtime in OWNED, which is only dropped after the slot is reset (refresh,
        // forget_cached, Owned::drop), all on this thread; so the runtime is alive for the whole call.
        return f(unsafe { &*rt });
    }
    with_refreshed(f)
}

/// The slow path of [`with_current`]: takes the current runtime under the lock and caches it for this thread.
#[cold]
#[inline(never)]
fn with_refreshed<R>(f: impl FnOnce(&Runtime) -> Result<R>) -> Result<R> {
    let (g, rt) = {
        let guard = CURRENT.read().unwrap_or_else(|e| e.into_inner());
        // The generation read under the lock belongs to the runtime read under it (both change under the
        // write lock).
        (GENERATION.load(Ordering::Acquire), guard.as_ref().cloned())
    };
    let Some(rt) = rt else {
        // Drop a stale runtime this thread still caches, so that its mappings can go.
        forget_cached();
        return Err(Error::NotInited("call shmem init first".into()));
    };
    // try_with: during this thread's exit OWNED may be gone; then the call runs on its own reference.
    let _ = OWNED.try_with(|o| {
        FAST.with(|f| f.set(EMPTY));
        let old = o.0.replace(Some(rt.clone()));
        FAST.with(|f| f.set((g, Arc::as_ptr(&rt))));
        drop(old);
    });
    f(&rt)
}

/// Lets this thread's cached runtime go (its slot first, then its reference).
fn forget_cached() {
    FAST.with(|f| f.set(EMPTY));
    let old = OWNED.try_with(|o| o.0.take()).ok().flatten();
    drop(old);
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

/// Held for the whole of an init or a finalize: one of them at a time per process, but without holding
/// `CURRENT` (init can take as long as shm_init_timeout and runs user code, the TLS decrypt callback, that may
/// itself call into the API; finalize waits for the other PEs). Without it, an init on one thread during a
/// finalize on another started a new runtime, and the finalize then stored `NotInitialized` over its status.
static LIFECYCLE: Mutex<()> = Mutex::new(());

/// Which of them holds [`LIFECYCLE`] now (0 none or not yet named, 1 init, 2 finalize), for the refusal's
/// message. An atomic: a lock here could be taken twice by one thread (a signal handler).
static RUNNING: AtomicU8 = AtomicU8::new(0);

/// [`LIFECYCLE`] held for an init or a finalize.
struct LifecycleGuard {
    _held: std::sync::MutexGuard<'static, ()>,
}

impl Drop for LifecycleGuard {
    fn drop(&mut self) {
        // Before the lock itself is released (fields drop after this).
        RUNNING.store(0, Ordering::Release);
    }
}

/// Takes [`LIFECYCLE`] for `what` (`"init"` or `"finalize"`), or says which one is running (never waits: a
/// callback of an init that called finalize would wait for itself).
fn one_at_a_time(what: &'static str) -> Result<LifecycleGuard> {
    let held = match LIFECYCLE.try_lock() {
        Ok(g) => g,
        // A panic inside an init or finalize leaves nothing half-done that this lock protects.
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        Err(TryLockError::WouldBlock) => {
            let running = match RUNNING.load(Ordering::Acquire) {
                1 => "an init",
                2 => "a finalize",
                _ => "an init or finalize",
            };
            return Err(Error::Inner(format!(
                "shmem {what} called while {running} is running in this process (on another thread, or from a \
                 callback of init); call it once that one has returned"
            )));
        }
    };
    RUNNING.store(if what == "init" { 1 } else { 2 }, Ordering::Release);
    Ok(LifecycleGuard { _held: held })
}

/// Starts a runtime from `attr` and `config` and makes it the current one. Collective over the job.
///
/// # Errors
/// `Inner` when a runtime is current or another init or a finalize is running; whatever the runtime's start
/// returns (then the status is `Invalid`).
pub(crate) fn start(attr: InitAttr, config: Config) -> Result<Arc<Runtime>> {
    // An init that will fail anyway must not hold the lock, even briefly: a finalize on another thread, refused
    // meanwhile, would have consumed its handle (`Shmem::finalize(self)`) for nothing.
    already_running()?;
    let _one = one_at_a_time("init")?;
    already_running()?;
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

/// `Inner` when a runtime is current: this process is initialized already.
fn already_running() -> Result<()> {
    if CURRENT.read().unwrap_or_else(|e| e.into_inner()).is_some() {
        return Err(Error::Inner("shmem is already initialized in this process; call finalize first".into()));
    }
    Ok(())
}

/// Finalizes the current runtime; with `expected`, only if it is that runtime (a stale handle of an earlier
/// init must not finalize the job's new one).
///
/// # Errors
/// `NotInited` when no runtime is current (or another is); `Inner` while an init or another finalize is running;
/// the runtime's finalize errors.
pub(crate) fn finalize(expected: Option<&Arc<Runtime>>) -> Result<()> {
    let _one = one_at_a_time("finalize")?;
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
    forget_cached();
    let r = rt.finalize();
    STATUS.store(InitStatus::NotInitialized as i32, Ordering::Release);
    r
}
