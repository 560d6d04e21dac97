//! The process-wide API mirroring `api.md` (the shape the Python binding and C-style callers use).
//!
//! A leaf: each function converts its arguments and forwards to the current runtime (`crate::current`) or to
//! the life cycle there; no other module of the crate uses this one. One runtime per process at a time.
//! Symmetric addresses are `usize` local addresses; local buffers are raw pointers, so the data-moving calls
//! are `unsafe` with the buffer contract spelled out. Rust programs usually prefer the [`crate::Shmem`] handle
//! and its typed [`crate::SymVec`].

use crate::config::Config;
use crate::current::{self, current, with_current};
use crate::runtime::AllocCall;
use crate::Shmem;
use shmem_core::engine::{AtomicOp, AtomicWidth, IntoSignalOp};
use shmem_core::launch_env::{vars, LaunchEnv};
use shmem_core::{Error, InitAttr, InitStatus, Result};
use std::sync::Arc;

// Contexts and locks in the raw API's shape (defined in their own modules).
pub use crate::ctx::{
    ctx_atomic, ctx_create, ctx_destroy, ctx_fence, ctx_get_team, ctx_getmem, ctx_putmem, ctx_putmem_signal, ctx_quiet,
    ctx_world_pe, team_create_ctx, CTX_DEFAULT, CTX_INVALID, CTX_NOSTORE, CTX_PRIVATE, CTX_SERIALIZED,
};
pub use crate::lock::{clear_lock, set_lock, test_lock};

/// Default symmetric heap per PE for [`init_from_env`] when `SHMEM_SYMMETRIC_SIZE` is unset.
pub const DEFAULT_HEAP_BYTES: u64 = crate::config::DEFAULT_HEAP_BYTES;

/// The SHMEM API version this library implements (major, minor).
pub const API_VERSION: (i32, i32) = (1, 5);

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
    Shmem::start(attr, config)
}

/// The attributes the environment describes: the launcher's rank/size/store variables (shmemrun, torchrun,
/// Slurm, Open MPI), `SHMEM_SYMMETRIC_SIZE`, `SHMEM_INIT_TIMEOUT` and `SHMEM_CONTROL_TIMEOUT` (seconds), `SHMEM_DATA_OP_ENGINE`; a lone process with no launcher variables is PE 0 of 1.
pub fn attr_from_env() -> Result<InitAttr> {
    Config::from_env()?.init_attr()
}

/// Initializes from the environment (see [`attr_from_env`]).
pub fn init_from_env() -> Result<Shmem> {
    let config = Config::from_env()?;
    init_with_config(config.init_attr()?, config)
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
/// `NotInited` before init or after finalize; `Inner` while an init or another finalize runs on another thread
/// (the runtime then stays current: call finalize again once that one has returned).
pub fn finalize() -> Result<()> {
    current::finalize(None)
}

/// Life-cycle status of this process.
pub fn init_status() -> InitStatus {
    current::status()
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
#[inline]
pub unsafe fn putmem(dst: usize, src: *const u8, len: usize, pe: i64) -> Result<()> {
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.putmem(dst, src, len, pe, false) })
}

/// Non-blocking put, complete after [`quiet`].
///
/// # Safety
/// `src..src+len` must stay readable and unmodified until the next `quiet`.
#[inline]
pub unsafe fn putmem_nbi(dst: usize, src: *const u8, len: usize, pe: i64) -> Result<()> {
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.putmem(dst, src, len, pe, true) })
}

/// Blocking get of `len` bytes.
///
/// # Safety
/// `dst..dst+len` must be writable for the duration of the call.
#[inline]
pub unsafe fn getmem(dst: *mut u8, src: usize, len: usize, pe: i64) -> Result<()> {
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.getmem(dst, src, len, pe, false) })
}

/// Non-blocking get, complete after [`quiet`].
///
/// # Safety
/// `dst..dst+len` must stay writable and untouched until the next `quiet`.
#[inline]
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
    sig_op: impl IntoSignalOp,
    pe: i64,
    nbi: bool,
) -> Result<()> {
    let op = sig_op.into_signal_op()?;
    // SAFETY: forwarded contract.
    with_current(|rt| unsafe { rt.putmem_signal(dst, src, len, sig_addr, signal, op, pe, nbi) })
}

/// An atomic operation on `pe`'s word at `addr`; returns the previous value.
#[inline]
pub fn atomic(addr: usize, width: AtomicWidth, op: AtomicOp, pe: i64) -> Result<u64> {
    with_current(|rt| rt.atomic(addr, width, op, pe))
}

/// Completes all outstanding operations of this PE.
#[inline]
pub fn quiet() -> Result<()> {
    with_current(|rt| {
        rt.check_live()?;
        rt.quiet()
    })
}

/// Orders puts to each PE.
#[inline]
pub fn fence() -> Result<()> {
    with_current(|rt| rt.fence())
}

/// quiet + barrier over all PEs.
pub fn barrier_all() -> Result<()> {
    // The thread's cached runtime (no lock, no reference count change per call).
    with_current(|rt| {
        rt.check_live()?;
        rt.barrier_all()
    })
}

/// Barrier over all PEs without quiet.
pub fn sync_all() -> Result<()> {
    with_current(|rt| {
        rt.check_live()?;
        rt.sync_all()
    })
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

    /// Whether the pinned runtime is still the current one (no finalize since the pin was taken). Bindings
    /// ask this instead of keeping a life-cycle epoch of their own: the runtime's state machine is the only
    /// one (see `crate::current`).
    pub fn is_current(&self) -> bool {
        with_current(|rt| Ok(Arc::ptr_eq(&rt.node, &self.node))).unwrap_or(false)
    }

    /// Whether `addr..addr+len` lies inside the pinned heap.
    pub fn contains(&self, addr: usize, len: usize) -> bool {
        let (base, size) = self.range();
        addr >= base && ((addr - base) as u64).checked_add(len as u64).is_some_and(|end| end <= size)
    }
}

/// Pins the running runtime's mappings (see [`HeapPin`]).
pub fn pin_heap() -> Result<HeapPin> {
    with_current(|rt| Ok(HeapPin { node: rt.node.clone() }))
}

/// The heap range of this PE as (base address, heap size); `NotInited` when no runtime is current. Cheap (a
/// few loads: no lock, no thread-local), so that bindings ask it on every call instead of caching it.
#[inline]
pub fn heap_range() -> Result<(usize, u64)> {
    current::heap_span().ok_or_else(|| Error::NotInited("call shmem init first".into()))
}

/// Typed put/get of `nelems` elements of BITS/8 bytes (`put{8,16,32,64,128}` / `get{...}` and their `_nbi`
/// forms): element counts, with the symmetric address aligned to the element width.
macro_rules! sized_rma {
    ($($bits:literal;)*) => { paste::paste! {$(
        #[doc = concat!("Blocking put of `nelems` ", stringify!($bits), "-bit elements.")]
        ///
        /// # Safety
        /// `src` must be readable for `nelems` elements.
        pub unsafe fn [<put $bits>](dst: usize, src: *const u8, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(dst, nelems, $bits, |len| putmem(dst, src, len, pe)) }
        }
        #[doc = concat!("Non-blocking put of `nelems` ", stringify!($bits), "-bit elements, complete after quiet.")]
        ///
        /// # Safety
        /// `src` must stay readable and unmodified until the next quiet.
        pub unsafe fn [<put $bits _nbi>](dst: usize, src: *const u8, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(dst, nelems, $bits, |len| putmem_nbi(dst, src, len, pe)) }
        }
        #[doc = concat!("Blocking get of `nelems` ", stringify!($bits), "-bit elements.")]
        ///
        /// # Safety
        /// `dst` must be writable for `nelems` elements.
        pub unsafe fn [<get $bits>](dst: *mut u8, src: usize, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(src, nelems, $bits, |len| getmem(dst, src, len, pe)) }
        }
        #[doc = concat!("Non-blocking get of `nelems` ", stringify!($bits), "-bit elements, complete after quiet.")]
        ///
        /// # Safety
        /// `dst` must stay writable and untouched until the next quiet.
        pub unsafe fn [<get $bits _nbi>](dst: *mut u8, src: usize, nelems: usize, pe: i64) -> Result<()> {
            // SAFETY: forwarded contract.
            unsafe { sized(src, nelems, $bits, |len| getmem_nbi(dst, src, len, pe)) }
        }
    )*}};
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

shmem_core::for_each_rma_size!(sized_rma);
