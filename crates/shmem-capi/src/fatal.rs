//! Reporting an error from a C call that has no way to return one: a clear line on stderr, then the job ends.

use shmem_core::Error;

/// Exit status of a job ended by an erroneous call.
pub const FATAL_STATUS: i32 = 1;

/// Reports `err` from the C function `func` on stderr (with this PE's number and the `api.md` code) and ends
/// the job: every PE exits (`shmem_global_exit`), or this process alone before init.
#[cold]
pub fn fatal(func: &str, err: &Error) -> ! {
    let pe = shmem::api::my_pe().ok();
    match pe {
        Some(pe) => eprintln!("shmem: PE {pe}: {func}: {err} (error code {})", err.code()),
        None => eprintln!("shmem: {func}: {err} (error code {})", err.code()),
    }
    if pe.is_some() {
        shmem::api::global_exit(FATAL_STATUS)
    }
    std::process::exit(FATAL_STATUS)
}

/// `Result` → value, or [`fatal`] naming the C function.
pub trait OrFatal<T> {
    /// The value, or the job ends with the error reported as coming from `func`.
    fn or_fatal(self, func: &str) -> T;
}

impl<T> OrFatal<T> for shmem_core::Result<T> {
    #[inline]
    fn or_fatal(self, func: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => fatal(func, &e),
        }
    }
}

/// `nelems * elem_size` bytes, or [`fatal`] (INVALID_PARAM) when the product overflows.
#[inline]
pub fn byte_len(func: &str, nelems: usize, elem_size: usize) -> usize {
    match nelems.checked_mul(elem_size) {
        Some(n) => n,
        None => {
            fatal(func, &Error::invalid(format!("{nelems} elements of {elem_size} bytes overflow the address space")))
        }
    }
}

/// A C `int pe` as the facade's PE number (the facade checks the range).
#[inline]
pub fn pe(pe: core::ffi::c_int) -> i64 {
    i64::from(pe)
}

thread_local! {
    static LAST_ERROR: std::cell::RefCell<(i32, String)> = const { std::cell::RefCell::new((0, String::new())) };
}

/// Records `err` as this thread's last error (for `shmemx_last_error`) and returns its code.
pub fn record(err: &Error) -> i32 {
    let code = err.code();
    LAST_ERROR.with(|l| *l.borrow_mut() = (code, err.to_string()));
    code
}

/// This thread's last recorded error: code and message.
pub fn last_error() -> (i32, String) {
    LAST_ERROR.with(|l| l.borrow().clone())
}
