//! Memory management: `shmem_malloc` and friends over the facade's collective allocator.
//!
//! Every call is collective, as the spec says; a call whose size (or kind) differs between PEs is reported by
//! the facade on every PE (INVALID_PARAM) and ends the job, instead of handing out overlapping memory. An
//! allocation the heap cannot satisfy returns null (the spec's answer); other errors are fatal.

use crate::fatal::{fatal, OrFatal};
use core::ffi::{c_long, c_void};
use shmem_core::Error;
use std::collections::HashMap;
use std::sync::Mutex;

/// Size of every live allocation made through this interface (for `shmem_realloc`).
static SIZES: Mutex<Option<HashMap<usize, usize>>> = Mutex::new(None);

fn remember(addr: usize, size: usize) {
    SIZES.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(HashMap::new).insert(addr, size);
}

fn forget(addr: usize) -> Option<usize> {
    SIZES.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|m| m.remove(&addr))
}

/// The address, null for size 0 or an exhausted heap, fatal for other errors.
fn finish(func: &str, r: shmem_core::Result<Option<usize>>, size: usize) -> *mut c_void {
    match r {
        Ok(Some(addr)) => {
            remember(addr, size);
            addr as *mut c_void
        }
        Ok(None) => std::ptr::null_mut(),
        Err(Error::MallocFailed { .. }) => std::ptr::null_mut(),
        Err(e) => fatal(func, &e),
    }
}

/// `shmem_malloc`.
#[no_mangle]
pub extern "C" fn shmem_malloc(size: usize) -> *mut c_void {
    finish("shmem_malloc", shmem::api::malloc(size as u64), size)
}

/// `shmem_calloc`: zeroed.
#[no_mangle]
pub extern "C" fn shmem_calloc(count: usize, size: usize) -> *mut c_void {
    let total = count.saturating_mul(size);
    finish("shmem_calloc", shmem::api::calloc(count as u64, size as u64), total)
}

/// `shmem_align`: `alignment` must be a power of two.
#[no_mangle]
pub extern "C" fn shmem_align(alignment: usize, size: usize) -> *mut c_void {
    finish("shmem_align", shmem::api::align(alignment as u64, size as u64), size)
}

/// `shmem_malloc_with_hints`: hints only describe use; every allocation serves every use here.
#[no_mangle]
pub extern "C" fn shmem_malloc_with_hints(size: usize, _hints: c_long) -> *mut c_void {
    finish("shmem_malloc_with_hints", shmem::api::malloc(size as u64), size)
}

/// `shmem_free`: null is a no-op (on every PE, so the call stays collective).
#[no_mangle]
pub extern "C" fn shmem_free(ptr: *mut c_void) {
    if ptr.is_null() {
        return;
    }
    forget(ptr as usize);
    shmem::api::free(ptr as usize).or_fatal("shmem_free");
}

/// `shmem_realloc`: a new block holding the old one's contents up to the smaller size; the old block is freed.
/// Null `ptr` allocates; size 0 frees and returns null.
#[no_mangle]
pub unsafe extern "C" fn shmem_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    if ptr.is_null() {
        return shmem_malloc(size);
    }
    if size == 0 {
        shmem_free(ptr);
        return std::ptr::null_mut();
    }
    let Some(old_size) =
        SIZES.lock().unwrap_or_else(|e| e.into_inner()).as_ref().and_then(|m| m.get(&(ptr as usize)).copied())
    else {
        fatal("shmem_realloc", &Error::invalid(format!("{ptr:p} was not returned by a shmem allocation routine")));
    };
    let new = shmem_malloc(size);
    if new.is_null() {
        return new; // The old block stays valid, as with C's realloc.
    }
    // SAFETY: both blocks are live symmetric allocations of at least `min(old_size, size)` bytes, distinct.
    unsafe { std::ptr::copy_nonoverlapping(ptr.cast::<u8>(), new.cast::<u8>(), old_size.min(size)) };
    shmem_free(ptr);
    new
}

/// `shmalloc` (deprecated).
#[no_mangle]
pub extern "C" fn shmalloc(size: usize) -> *mut c_void {
    shmem_malloc(size)
}

/// `shmemalign` (deprecated).
#[no_mangle]
pub extern "C" fn shmemalign(alignment: usize, size: usize) -> *mut c_void {
    shmem_align(alignment, size)
}

/// `shrealloc` (deprecated).
#[no_mangle]
pub unsafe extern "C" fn shrealloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    // SAFETY: forwarded contract.
    unsafe { shmem_realloc(ptr, size) }
}

/// `shfree` (deprecated).
#[no_mangle]
pub extern "C" fn shfree(ptr: *mut c_void) {
    shmem_free(ptr)
}
