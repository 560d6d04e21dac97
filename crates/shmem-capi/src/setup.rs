//! Library setup, exit and queries: `shmem_init` ... `shmem_finalize`, `shmem_my_pe`, `shmem_ptr`, the info
//! routines, and the `SHMEM_VERSION` / `SHMEM_INFO` / `SHMEM_DEBUG` environment variables.

use crate::fatal::{fatal, record, OrFatal};
use core::ffi::{c_char, c_int, c_void};
use shmem_core::Error;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// The library name `shmem_info_get_name` gives (also `SHMEM_VENDOR_STRING`).
pub const VENDOR: &str = "shmem-rs";
/// `SHMEM_MAX_NAME_LEN`.
pub const MAX_NAME_LEN: usize = 256;
/// `SHMEM_THREAD_MULTIPLE`: every call is thread-safe (collectives: one thread per PE at a time, as the spec says).
pub const THREAD_MULTIPLE: c_int = 3;

/// The runtime handle of `shmem_init`, held until `shmem_finalize`.
static RUNTIME: Mutex<Option<shmem::Shmem>> = Mutex::new(None);
/// This PE's number and the job's size, cached at init (`shmem_my_pe` is called in loops); -1 before.
static MY_PE: AtomicI32 = AtomicI32::new(-1);
static N_PES: AtomicI32 = AtomicI32::new(-1);

/// Initializes from the launch environment unless already initialized; reports failure and ends the process.
fn init_once(func: &str) {
    let mut g = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if g.is_some() {
        return; // OpenSHMEM 1.5: later calls have no effect.
    }
    if std::env::var_os("SHMEM_DEBUG").is_some_and(|v| v != "0") && std::env::var_os("SHMEM_LOG_LEVEL").is_none() {
        // SAFETY-free: set_var before the runtime starts its threads; the C program is single-threaded here
        // as far as this library is concerned (the spec asks init to come first).
        std::env::set_var("SHMEM_LOG_LEVEL", "DEBUG");
    }
    // Globals become shared memory before anything else runs (see `statics`), peers are mapped after the
    // facade's init, whose last step is a barrier (every PE's object exists by then).
    crate::statics::prepare();
    let sh = shmem::init_from_env().or_fatal(func);
    crate::statics::connect(func, sh.my_pe(), sh.n_pes());
    // Collective over the world like init itself: the scratch for global/static collective arguments.
    crate::statics_coll::allocate(sh.heap_size());
    MY_PE.store(sh.my_pe() as i32, Ordering::Release);
    N_PES.store(sh.n_pes() as i32, Ordering::Release);
    if sh.my_pe() == 0 {
        print_banner(&sh);
    }
    *g = Some(sh);
}

/// `SHMEM_VERSION` prints the library version, `SHMEM_INFO` also the environment variables it reads (PE 0).
fn print_banner(sh: &shmem::Shmem) {
    let set = |v: &str| std::env::var_os(v).is_some_and(|x| x != "0");
    if set("SHMEM_VERSION") || set("SHMEM_INFO") {
        println!("{VENDOR} {} (OpenSHMEM 1.5, {})", env!("CARGO_PKG_VERSION"), shmem::api::info_name());
    }
    if set("SHMEM_INFO") {
        let heap = sh.heap_size();
        println!("  SHMEM_SYMMETRIC_SIZE  symmetric heap per PE in bytes (K/M/G suffixes): now {heap}");
        println!("  SHMEM_DEBUG           debug messages on stderr (sets SHMEM_LOG_LEVEL=DEBUG)");
        println!("  SHMEM_INFO            this table at init");
        println!("  SHMEM_VERSION         the library version at init");
        println!("  SHMEM_LOG_LEVEL       DEBUG|INFO|WARN|ERROR");
        println!("  SHMEM_DATA_OP_ENGINE  engines: MTE, SDMA, TCP, ROCE, combined with |");
        println!("  SHMEM_INIT_TIMEOUT    seconds init waits for the other PEs");
    }
}

/// This PE's number after init, or [`fatal`] NOT_INITED.
#[inline]
pub(crate) fn my_pe_checked(func: &str) -> c_int {
    let pe = MY_PE.load(Ordering::Acquire);
    if pe < 0 {
        fatal(func, &Error::NotInited("call shmem_init first".into()));
    }
    pe
}

/// Whether `shmem_init` has run and `shmem_finalize` has not.
#[inline]
pub(crate) fn initialized() -> bool {
    MY_PE.load(Ordering::Acquire) >= 0
}

/// `shmem_init`.
#[no_mangle]
pub extern "C" fn shmem_init() {
    init_once("shmem_init");
}

/// `shmem_init_thread`: every thread level is provided as `SHMEM_THREAD_MULTIPLE`.
#[no_mangle]
pub unsafe extern "C" fn shmem_init_thread(requested: c_int, provided: *mut c_int) -> c_int {
    if !(0..=THREAD_MULTIPLE).contains(&requested) {
        return record(&Error::invalid(format!("thread level {requested} is not one of SHMEM_THREAD_*")));
    }
    init_once("shmem_init_thread");
    if !provided.is_null() {
        // SAFETY: the caller passes a writable int (or null, which we skip).
        unsafe { *provided = THREAD_MULTIPLE };
    }
    0
}

/// `shmem_query_thread`.
#[no_mangle]
pub unsafe extern "C" fn shmem_query_thread(provided: *mut c_int) {
    my_pe_checked("shmem_query_thread");
    if !provided.is_null() {
        // SAFETY: the caller passes a writable int.
        unsafe { *provided = THREAD_MULTIPLE };
    }
}

/// `shmem_finalize`: collective; later calls have no effect.
#[no_mangle]
pub extern "C" fn shmem_finalize() {
    let sh = RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(sh) = sh {
        MY_PE.store(-1, Ordering::Release);
        N_PES.store(-1, Ordering::Release);
        if let Err(e) = sh.finalize() {
            eprintln!("shmem: shmem_finalize: {e} (error code {})", e.code());
            std::process::exit(crate::fatal::FATAL_STATUS);
        }
    }
}

/// `shmem_global_exit`: ends every PE of the job with `status`.
#[no_mangle]
pub extern "C" fn shmem_global_exit(status: c_int) -> ! {
    if MY_PE.load(Ordering::Acquire) < 0 {
        std::process::exit(status);
    }
    shmem::api::global_exit(status)
}

/// `shmem_my_pe`.
#[no_mangle]
pub extern "C" fn shmem_my_pe() -> c_int {
    my_pe_checked("shmem_my_pe")
}

/// `shmem_n_pes`.
#[no_mangle]
pub extern "C" fn shmem_n_pes() -> c_int {
    my_pe_checked("shmem_n_pes");
    N_PES.load(Ordering::Acquire)
}

/// `shmem_pe_accessible`: 1 for every PE of the job (every engine reaches every PE), else 0.
#[no_mangle]
pub extern "C" fn shmem_pe_accessible(pe: c_int) -> c_int {
    my_pe_checked("shmem_pe_accessible");
    c_int::from(pe >= 0 && pe < N_PES.load(Ordering::Acquire))
}

/// `shmem_addr_accessible`: 1 when `addr` is symmetric (in the heap, or a global/static variable that `pe`
/// shares with this PE's node) and `pe` a PE of the job.
#[no_mangle]
pub extern "C" fn shmem_addr_accessible(addr: *const c_void, pe: c_int) -> c_int {
    if shmem_pe_accessible(pe) == 0 {
        return 0;
    }
    if let Some(r) = crate::statics::lookup(addr as usize, 1, i64::from(pe)) {
        return c_int::from(r.is_ok());
    }
    let (base, len) = shmem::api::heap_range().or_fatal("shmem_addr_accessible");
    let a = addr as usize;
    c_int::from(a >= base && ((a - base) as u64) < len)
}

/// `shmem_ptr`: a local address of `pe`'s copy of `dest` when load/store reaches it, else null.
#[no_mangle]
pub extern "C" fn shmem_ptr(dest: *const c_void, pe: c_int) -> *mut c_void {
    my_pe_checked("shmem_ptr");
    if let Some(r) = crate::statics::lookup(dest as usize, 1, i64::from(pe)) {
        return match r {
            Ok(p) => p.cast(),
            Err(e) => {
                record(&e);
                std::ptr::null_mut()
            }
        };
    }
    match shmem::api::ptr(dest as usize, i64::from(pe)) {
        Ok(Some(p)) => p as *mut c_void,
        Ok(None) => std::ptr::null_mut(),
        // Not symmetric or not a PE: the spec's answer is null, not an error.
        Err(e) => {
            record(&e);
            std::ptr::null_mut()
        }
    }
}

/// `shmem_info_get_version`.
#[no_mangle]
pub unsafe extern "C" fn shmem_info_get_version(major: *mut c_int, minor: *mut c_int) {
    let (maj, min) = shmem::api::API_VERSION;
    // SAFETY: the caller passes writable ints (null ones are skipped).
    unsafe {
        if !major.is_null() {
            *major = maj;
        }
        if !minor.is_null() {
            *minor = min;
        }
    }
}

/// `shmem_info_get_name`: the vendor string, NUL-terminated, at most `SHMEM_MAX_NAME_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn shmem_info_get_name(name: *mut c_char) {
    if name.is_null() {
        return;
    }
    let bytes = VENDOR.as_bytes();
    let n = bytes.len().min(MAX_NAME_LEN - 1);
    // SAFETY: the spec asks for a buffer of SHMEM_MAX_NAME_LEN bytes; we write n + 1 <= that many.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), name.cast::<u8>(), n);
        *name.add(n) = 0;
    }
}

/// `shmem_pcontrol`: accepted (this library has no profiling levels). Declared variadic in `shmem.h`; on
/// x86-64 and AArch64 Linux a variadic call passes `level` where this definition reads it.
#[no_mangle]
pub extern "C" fn shmem_pcontrol(_level: c_int) {}

/// `start_pes` (deprecated): `shmem_init`; `npes` is ignored, as the spec says.
#[no_mangle]
pub extern "C" fn start_pes(_npes: c_int) {
    init_once("start_pes");
}

/// `_my_pe` (deprecated).
#[no_mangle]
pub extern "C" fn _my_pe() -> c_int {
    shmem_my_pe()
}

/// `_num_pes` (deprecated).
#[no_mangle]
pub extern "C" fn _num_pes() -> c_int {
    shmem_n_pes()
}

/// The deprecated cache-management routines: no effect (every engine here is cache-coherent), kept so that
/// old programs link.
macro_rules! cache_noop {
    ($($name:ident($($arg:ident: $t:ty)?)),* $(,)?) => {$(
        #[doc = concat!("`", stringify!($name), "` (deprecated): no effect.")]
        #[no_mangle]
        pub extern "C" fn $name($($arg: $t)?) {
            $(let _ = $arg;)?
        }
    )*};
}
cache_noop!(
    shmem_clear_cache_inv(),
    shmem_set_cache_inv(),
    shmem_clear_cache_line_inv(dest: *mut c_void),
    shmem_set_cache_line_inv(dest: *mut c_void),
    shmem_udcflush(),
    shmem_udcflush_line(dest: *mut c_void),
);

/// `shmemx_engines`: the engines of this job (bits of `SHMEMX_ENGINE_*`).
#[no_mangle]
pub extern "C" fn shmemx_engines() -> c_int {
    shmem::api::engines().or_fatal("shmemx_engines").bits() as c_int
}

/// `shmemx_last_error`: this thread's last recorded error code, its message copied into `message`.
#[no_mangle]
pub unsafe extern "C" fn shmemx_last_error(message: *mut c_char, capacity: usize) -> c_int {
    let (code, text) = crate::fatal::last_error();
    if !message.is_null() && capacity > 0 {
        let n = text.len().min(capacity - 1);
        // SAFETY: the caller gives `capacity` writable bytes; we write n + 1 <= capacity.
        unsafe {
            std::ptr::copy_nonoverlapping(text.as_ptr(), message.cast::<u8>(), n);
            *message.add(n) = 0;
        }
    }
    code
}
