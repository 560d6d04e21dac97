//! The process-wide API mirroring `api.md` (the shape the Python binding and C-style callers use).
//!
//! One runtime per process at a time, held in a global. Symmetric addresses are `usize` local addresses; local
//! buffers are raw pointers, so the data-moving calls are `unsafe` with the buffer contract spelled out.
//! Rust programs usually prefer the [`crate::Shmem`] handle and its typed [`crate::SymVec`].

use crate::alloc::AllocCall;
use crate::config::Config;
use crate::runtime::{Runtime, STATUS};
use crate::Shmem;
use shmem_core::engine::{AtomicOp, AtomicWidth, SignalOp};
use shmem_core::launch_env::{vars, LaunchEnv};
use shmem_core::{Error, InitAttr, InitStatus, Result};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

// Contexts and locks in the raw API's shape (defined in their own modules).
pub use crate::ctx::{
    ctx_atomic, ctx_create, ctx_destroy, ctx_fence, ctx_get_team, ctx_getmem, ctx_putmem, ctx_putmem_signal, ctx_quiet,
    team_create_ctx, CTX_DEFAULT, CTX_INVALID, CTX_NOSTORE, CTX_PRIVATE, CTX_SERIALIZED,
};
pub use crate::lock::{clear_lock, set_lock, test_lock};

static CURRENT: RwLock<Option<Arc<Runtime>>> = RwLock::new(None);
/// Bumped (under the `CURRENT` write lock) at every init and finalize, so that per-thread caches of the
/// runtime notice a change with one relaxed load instead of taking the lock on every call.
static GENERATION: AtomicU64 = AtomicU64::new(0);

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

/// Default symmetric heap per PE for [`init_from_env`] when `SHMEM_SYMMETRIC_SIZE` is unset.
pub const DEFAULT_HEAP_BYTES: u64 = crate::config::DEFAULT_HEAP_BYTES;

/// The SHMEM API version this library implements (major, minor).
pub const API_VERSION: (i32, i32) = (1, 5);

/// The running runtime, or `NotInited`.
pub(crate) fn current() -> Result<Arc<Runtime>> {
    let g = CURRENT.read().unwrap_or_else(|e| e.into_inner());
    match g.as_ref() {
        Some(rt) => Ok(rt.clone()),
        None => Err(Error::NotInited("call shmem init first".into())),
    }
}

/// Initializes this PE from explicit attributes. Collective over the job.
///
/// # Errors
/// `InvalidParam` for bad attributes or a malformed `SHMEM_*` variable (before anything else happens),
/// `Inner` when already initialized, `Bootstrap`/`Timeout` when peers cannot be reached, `Smem` when shared
/// memory fails. A failed init leaves the status `Invalid`.
pub fn init(attr: InitAttr) -> Result<Shmem> {
    init_with_config(attr, Config::from_env()?)
}

/// [`init`] with an explicit configuration instead of the one the environment describes.
///
/// # Errors
/// As [`init`].
pub fn init_with_config(attr: InitAttr, config: Config) -> Result<Shmem> {
    // One init at a time, but without holding CURRENT: init can take as long as shm_init_timeout, and it runs
    // user code (the TLS decrypt callback) that may itself call into the API.
    static INITIALIZING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = INITIALIZING.try_lock().map_err(|_| {
        Error::Inner(
            "shmem init is already running in this process (another thread, or init called from a callback)".into(),
        )
    })?;
    if CURRENT.read().unwrap_or_else(|e| e.into_inner()).is_some() {
        return Err(Error::Inner("shmem is already initialized in this process; call finalize first".into()));
    }
    match Runtime::start(attr, config) {
        Ok(rt) => {
            let mut g = CURRENT.write().unwrap_or_else(|e| e.into_inner());
            *g = Some(rt.clone());
            GENERATION.fetch_add(1, Ordering::AcqRel);
            drop(g);
            STATUS.store(InitStatus::Initialized as i32, Ordering::Release);
            Ok(Shmem { rt })
        }
        Err(e) => {
            STATUS.store(InitStatus::Invalid as i32, Ordering::Release);
            Err(e)
        }
    }
}

/// The attributes the environment describes: the launcher's rank/size/store variables (shmemrun, torchrun,
/// Slurm, Open MPI), `SHMEM_SYMMETRIC_SIZE`, `SHMEM_INIT_TIMEOUT` and `SHMEM_CONTROL_TIMEOUT` (seconds), `SHMEM_DATA_OP_ENGINE`; a lone process with no launcher variables is PE 0 of 1.
pub fn attr_from_env() -> Result<InitAttr> {
    attr_from(&Config::from_env()?)
}

/// The attributes `config` and the launcher's variables describe (see [`attr_from_env`]).
fn attr_from(config: &Config) -> Result<InitAttr> {
    let heap = config.heap_size()?;
    let env = LaunchEnv::from_env()?;
    let (pe, n, url) = match env {
        Some(e) => (e.pe, e.n_pes, e.store_url),
        None => (0, 1, None),
    };
    let option_attr = config.optional_attr()?;
    let attr =
        InitAttr { my_rank: pe, n_ranks: n, local_mem_size: heap, store_url: url, option_attr, job_secret: None };
    attr.validate()?;
    Ok(attr)
}

/// The optional attributes the environment sets (see [`Config::optional_attr`]).
pub(crate) fn options_from_env() -> Result<shmem_core::OptionalAttr> {
    Config::from_env()?.optional_attr()
}

/// Initializes from the environment (see [`attr_from_env`]).
pub fn init_from_env() -> Result<Shmem> {
    let config = Config::from_env()?;
    init_with_config(attr_from(&config)?, config)
}

/// `shmem_init(mype, npes, mem_size)`: explicit rank and size, store address from the environment.
pub fn init_with(my_pe: i64, n_pes: i64, mem_size: i64) -> Result<Shmem> {
    let env = LaunchEnv::from_lookup(|k| match k {
        vars::PE => Some(my_pe.to_string()),
        vars::N_PES => Some(n_pes.to_string()),
        _ => std::env::var(k).ok(),
    })?;
    let url = env.and_then(|e| e.store_url).map(|u| u.to_string()).unwrap_or_default();
    let mut attr = InitAttr::new(my_pe, n_pes, mem_size, &url)?;
    let config = Config::from_env()?;
    attr.option_attr = config.optional_attr()?;
    attr.validate()?;
    init_with_config(attr, config)
}

/// Ends this PE's part in the job: collective barrier, then everything is released.
///
/// # Errors
/// `NotInited` before init or after finalize.
pub fn finalize() -> Result<()> {
    finalize_runtime(None)
}

/// Finalizes the current runtime; with `expected`, only if it is that runtime (a stale handle of an earlier
/// init must not finalize the job's new one).
pub(crate) fn finalize_runtime(expected: Option<&Arc<Runtime>>) -> Result<()> {
    let rt = {
        let mut g = CURRENT.write().unwrap_or_else(|e| e.into_inner());
        let current = g.as_ref().ok_or_else(|| Error::NotInited("finalize called before init (or twice)".into()))?;
        if expected.is_some_and(|e| !Arc::ptr_eq(e, current)) {
            return Err(Error::NotInited(
                "this handle's runtime was already finalized; it cannot finalize another".into(),
            ));
        }
        let rt = g.take().expect("checked above");
        GENERATION.fetch_add(1, Ordering::AcqRel);
        rt
    };
    CACHED.with(|c| c.borrow_mut().take());
    let r = rt.finalize();
    STATUS.store(InitStatus::NotInitialized as i32, Ordering::Release);
    r
}

/// Life-cycle status of this process.
pub fn init_status() -> InitStatus {
    crate::runtime::init_status()
}

/// This PE's number.
pub fn my_pe() -> Result<u32> {
    Ok(current()?.me.0)
}

/// Number of PEs.
pub fn n_pes() -> Result<u32> {
    Ok(current()?.n_pes)
}

/// The vendor string: this library's name and version.
pub fn info_name() -> String {
    format!(
        "shmem-rs {} (Rust SHMEM runtime; engines: {})",
        env!("CARGO_PKG_VERSION"),
        crate::engine::compiled_engines()
    )
}

/// Collective `malloc`: the symmetric address, or `None` for size 0.
pub fn malloc(size: u64) -> Result<Option<usize>> {
    let rt = current()?;
    Ok(rt.alloc(size, 16, AllocCall::Malloc)?.map(|o| rt.base + o.get()))
}

/// Collective `calloc`: zeroed on every PE.
pub fn calloc(nmemb: u64, size: u64) -> Result<Option<usize>> {
    let rt = current()?;
    Ok(rt.calloc(nmemb, size)?.map(|o| rt.base + o.get()))
}

/// Collective `align`: `alignment` must be a power of two.
pub fn align(alignment: u64, size: u64) -> Result<Option<usize>> {
    let rt = current()?;
    Ok(rt.alloc(size, alignment, AllocCall::Align)?.map(|o| rt.base + o.get()))
}

/// Collective `free` of an address returned by malloc/calloc/align.
pub fn free(addr: usize) -> Result<()> {
    let rt = current()?;
    match rt.offset_of(addr, 1, 1, rt.me) {
        Ok(off) => rt.free(off),
        Err(e) => {
            // Still take part in the collective call, so that the other PEs learn of the mismatch instead of
            // waiting for this one; then report the bad address.
            let _ = rt.free_unknown();
            Err(e)
        }
    }
}

/// `shmem_ptr`: a directly usable address of `pe`'s copy, or `None` when `pe` is not on this node.
pub fn ptr(addr: usize, pe: i64) -> Result<Option<usize>> {
    with_current(|rt| rt.ptr(addr, pe))
}

/// Blocking put of `len` bytes.
///
/// # Safety
/// `src..src+len` must be readable for the duration of the call.
pub unsafe fn putmem(dst: usize, src: *const u8, len: usize, pe: i64) -> Result<()> {
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.putmem(dst, src, len, pe, false) })
}

/// Non-blocking put, complete after [`quiet`].
///
/// # Safety
/// `src..src+len` must stay readable and unmodified until the next `quiet`.
pub unsafe fn putmem_nbi(dst: usize, src: *const u8, len: usize, pe: i64) -> Result<()> {
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.putmem(dst, src, len, pe, true) })
}

/// Blocking get of `len` bytes.
///
/// # Safety
/// `dst..dst+len` must be writable for the duration of the call.
pub unsafe fn getmem(dst: *mut u8, src: usize, len: usize, pe: i64) -> Result<()> {
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.getmem(dst, src, len, pe, false) })
}

/// Non-blocking get, complete after [`quiet`].
///
/// # Safety
/// `dst..dst+len` must stay writable and untouched until the next `quiet`.
pub unsafe fn getmem_nbi(dst: *mut u8, src: usize, len: usize, pe: i64) -> Result<()> {
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.getmem(dst, src, len, pe, true) })
}

/// Put-with-signal (`nbi` selects the non-blocking form).
///
/// # Safety
/// As for [`putmem`] / [`putmem_nbi`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn putmem_signal(
    dst: usize,
    src: *const u8,
    len: usize,
    sig_addr: usize,
    signal: u64,
    sig_op: i32,
    pe: i64,
    nbi: bool,
) -> Result<()> {
    let op = SignalOp::from_code(sig_op)?;
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.putmem_signal(dst, src, len, sig_addr, signal, op, pe, nbi) })
}

/// An atomic operation on `pe`'s word at `addr`; returns the previous value.
pub fn atomic(addr: usize, width: AtomicWidth, op: AtomicOp, pe: i64) -> Result<u64> {
    with_current(|rt| rt.atomic(addr, width, op, pe))
}

/// Completes all outstanding operations of this PE.
pub fn quiet() -> Result<()> {
    with_current(|rt| {
        rt.check_live()?;
        rt.quiet()
    })
}

/// Orders puts to each PE.
pub fn fence() -> Result<()> {
    with_current(|rt| rt.fence())
}

/// quiet + barrier over all PEs.
pub fn barrier_all() -> Result<()> {
    let rt = current()?;
    rt.check_live()?;
    rt.barrier_all()
}

/// Barrier over all PEs without quiet.
pub fn sync_all() -> Result<()> {
    let rt = current()?;
    rt.check_live()?;
    rt.sync_all()
}

/// Ends every PE of the job with `status` (does not return).
pub fn global_exit(status: i32) -> ! {
    match current() {
        Ok(rt) => rt.global_exit(status),
        Err(_) => crate::runtime::exit_now(status),
    }
}

/// Sets the MTE engine's copy chunk (`mte_set_ub_params`).
pub fn mte_set_ub_params(offset: i64, size: i64, event: i64) -> Result<()> {
    #[cfg(feature = "mte")]
    {
        let cfg = transport_mte::ChunkConfig::new(offset, size, event)?;
        let rt = current()?;
        for e in rt.router.all() {
            #[allow(irrefutable_let_patterns)]
            if let crate::engine::Engine::Mte(m) = e {
                m.set_chunk(cfg);
            }
        }
        Ok(())
    }
    #[cfg(not(feature = "mte"))]
    {
        let _ = (offset, size, event);
        Err(Error::NotSupported("mte_set_ub_params: the MTE engine is not compiled in".into()))
    }
}

/// The data-op engines this job runs with (the enabled set that reaches some PE).
pub fn engines() -> Result<shmem_core::OpEngineType> {
    use shmem_core::engine::DataOpEngine;
    with_current(|rt| Ok(rt.router.kind()))
}

/// Keeps this PE's heap (and its peers' mappings) mapped for as long as it lives, even past `finalize`: for
/// bindings whose objects view the heap (NumPy arrays) and may outlive the runtime. After finalize the memory
/// is no longer managed: reading or writing it is harmless to this process but means nothing to the job.
#[derive(Debug, Clone)]
pub struct HeapPin {
    node: Arc<shmem_core::heap::NodeSegments>,
}

impl HeapPin {
    /// The pinned heap as (base address, heap size in bytes).
    pub fn range(&self) -> (usize, u64) {
        (self.node.local().base().as_ptr() as usize, self.node.layout().heap_size())
    }
}

/// Pins the running runtime's mappings (see [`HeapPin`]).
pub fn pin_heap() -> Result<HeapPin> {
    with_current(|rt| Ok(HeapPin { node: rt.node.clone() }))
}

/// The heap range of this PE as (base address, heap size).
pub fn heap_range() -> Result<(usize, u64)> {
    let rt = current()?;
    Ok((rt.base, rt.layout.heap_size()))
}

/// Typed put/get of `nelems` elements of BITS/8 bytes (`put{8,16,32,64,128}` / `get{...}` and their `_nbi`
/// forms): element counts, with the symmetric address aligned to the element width.
macro_rules! sized_rma {
    ($($bits:literal => $put:ident, $put_nbi:ident, $get:ident, $get_nbi:ident;)*) => {$(
        #[doc = concat!("Blocking put of `nelems` ", stringify!($bits), "-bit elements.")]
        ///
        /// # Safety
        /// `src` must be readable for `nelems` elements.
        pub unsafe fn $put(dst: usize, src: *const u8, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(dst, nelems, $bits, |len| putmem(dst, src, len, pe)) }
        }
        #[doc = concat!("Non-blocking put of `nelems` ", stringify!($bits), "-bit elements, complete after quiet.")]
        ///
        /// # Safety
        /// `src` must stay readable and unmodified until the next quiet.
        pub unsafe fn $put_nbi(dst: usize, src: *const u8, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(dst, nelems, $bits, |len| putmem_nbi(dst, src, len, pe)) }
        }
        #[doc = concat!("Blocking get of `nelems` ", stringify!($bits), "-bit elements.")]
        ///
        /// # Safety
        /// `dst` must be writable for `nelems` elements.
        pub unsafe fn $get(dst: *mut u8, src: usize, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(src, nelems, $bits, |len| getmem(dst, src, len, pe)) }
        }
        #[doc = concat!("Non-blocking get of `nelems` ", stringify!($bits), "-bit elements, complete after quiet.")]
        ///
        /// # Safety
        /// `dst` must stay writable and untouched until the next quiet.
        pub unsafe fn $get_nbi(dst: *mut u8, src: usize, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(src, nelems, $bits, |len| getmem_nbi(dst, src, len, pe)) }
        }
    )*};
}

/// Checks the element alignment of the symmetric address and the byte count, then runs `op(len_bytes)`.
///
/// # Safety
/// `op` carries the caller's buffer contract.
unsafe fn sized(sym: usize, nelems: usize, bits: usize, op: impl FnOnce(usize) -> Result<()>) -> Result<()> {
    let width = bits / 8;
    if !sym.is_multiple_of(width) {
        return Err(Error::invalid(format!(
            "symmetric address {sym:#x} is not aligned to {width} B as {bits}-bit elements require"
        )));
    }
    let len = nelems
        .checked_mul(width)
        .ok_or_else(|| Error::invalid(format!("{nelems} elements of {bits} bits overflow the address space")))?;
    op(len)
}

sized_rma! {
    8 => put8, put8_nbi, get8, get8_nbi;
    16 => put16, put16_nbi, get16, get16_nbi;
    32 => put32, put32_nbi, get32, get32_nbi;
    64 => put64, put64_nbi, get64, get64_nbi;
    128 => put128, put128_nbi, get128, get128_nbi;
}
