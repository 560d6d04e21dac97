//! Remote memory access: putmem/getmem (bytes), put/get{8,16,32,64,128} (elements), their `_nbi` forms,
//! put-with-signal, and the ordering/completion calls (quiet, fence, barrier_all, sync_all).
//!
//! Copies below [`DETACH_BYTES`] run with the GIL held (releasing it costs more than the copy); larger ones
//! release it. Buffers handed to `_nbi` operations stay exported until the next quiet/barrier. Every argument
//! (buffer exports included) is resolved and checked before data moves: a refused call has no side effect.

use crate::blocking::{detached, detached_when_blocking};
use crate::buffer::{hold_for_nbi, lend_until_quiet, with_local, Access, Count, I32Arg, PeArg, Span, Sym};
use crate::error::{invalid, shmem_err, ResultExt, NOT_INITED};
use crate::state;
use pyo3::prelude::*;

/// Copies of at least this many bytes release the GIL.
const DETACH_BYTES: usize = 64 << 10;

/// The raw API's data-moving calls all have this shape: (symmetric or local, local or symmetric, count, pe).
type PutFn = unsafe fn(usize, *const u8, usize, i64) -> shmem::Result<()>;
type GetFn = unsafe fn(*mut u8, usize, usize, i64) -> shmem::Result<()>;

/// Runs `op(local_ptr)`; for large copies with the GIL released, and then for heap addresses with the
/// heap's runtime pinned (so its mappings cannot go away mid-copy; see `state`).
fn run_copy(py: Python<'_>, n: usize, span: Span, op: impl FnOnce(usize) -> shmem::Result<()> + Send) -> PyResult<()> {
    if n < DETACH_BYTES {
        return op(span.ptr).py();
    }
    let gone = || shmem_err(NOT_INITED, "shmem was finalized while the copy waited to start");
    let ptr = span.ptr;
    // The pin must be of the runtime whose heap holds the range (checked an instant ago, under the GIL).
    let pin = match span.in_heap {
        true => Some(shmem::api::pin_heap().ok().filter(|p| p.contains(ptr, n)).ok_or_else(gone)?),
        false => None,
    };
    let r = py.detach(move || {
        if pin.as_ref().is_some_and(|p| !p.is_current()) {
            return None;
        }
        let r = op(ptr);
        drop(pin);
        Some(r)
    });
    r.ok_or_else(gone)?.py()
}

fn bytes_of(count: usize, width: usize) -> PyResult<usize> {
    count.checked_mul(width).ok_or_else(|| invalid(format!("{count} elements of {width} B overflow")))
}

/// A put of `count` elements of `width` bytes from local `src` to symmetric `dst` on `pe`.
#[allow(clippy::too_many_arguments)]
fn put_with(
    py: Python<'_>,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    count: usize,
    width: usize,
    pe: i64,
    nbi: bool,
    f: PutFn,
) -> PyResult<()> {
    let n = bytes_of(count, width)?;
    dst.need(n, "dst")?;
    with_local(src, Access::Read, "src", |span| {
        span.need(n, "src")?;
        let held = if nbi { hold_for_nbi(src)? } else { None };
        // SAFETY: span is readable for n bytes while this closure runs (with_local holds the export, or the
        // range is in the heap and run_copy keeps the heap alive); the count passed matches n.
        run_copy(py, n, span, move |p| unsafe { f(dst.addr, p as *const u8, count, pe) })?;
        lend_until_quiet(held);
        Ok(())
    })
}

/// A get of `count` elements of `width` bytes from symmetric `src` on `pe` into local `dst`.
#[allow(clippy::too_many_arguments)]
fn get_with(
    py: Python<'_>,
    dst: &Bound<'_, PyAny>,
    src: Sym,
    count: usize,
    width: usize,
    pe: i64,
    nbi: bool,
    f: GetFn,
) -> PyResult<()> {
    let n = bytes_of(count, width)?;
    src.need(n, "src")?;
    with_local(dst, Access::Write, "dst", |span| {
        span.need(n, "dst")?;
        let held = if nbi { hold_for_nbi(dst)? } else { None };
        // SAFETY: span is writable for n bytes while this closure runs (read-only exports were refused).
        run_copy(py, n, span, move |p| unsafe { f(p as *mut u8, src.addr, count, pe) })?;
        lend_until_quiet(held);
        Ok(())
    })
}

/// Blocking put of `elem_size` bytes from local `src` (buffer object or heap int) to the symmetric `dst` on
/// PE `pe`. On return `src` may be reused.
#[pyfunction]
pub(crate) fn aclshmem_putmem(
    py: Python<'_>,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    pe: PeArg,
) -> PyResult<()> {
    put_with(py, dst, src, elem_size.0, 1, pe.0, false, shmem::api::putmem)
}

/// Blocking get of `elem_size` bytes from the symmetric `src` on PE `pe` into local `dst` (a writable buffer
/// object or heap int).
#[pyfunction]
pub(crate) fn aclshmem_getmem(
    py: Python<'_>,
    dst: &Bound<'_, PyAny>,
    src: Sym,
    elem_size: Count,
    pe: PeArg,
) -> PyResult<()> {
    get_with(py, dst, src, elem_size.0, 1, pe.0, false, shmem::api::getmem)
}

/// Non-blocking put: complete (and `src` reusable) after the next quiet or barrier. The binding keeps `src`
/// exported until then.
#[pyfunction]
pub(crate) fn aclshmem_putmem_nbi(
    py: Python<'_>,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    pe: PeArg,
) -> PyResult<()> {
    put_with(py, dst, src, elem_size.0, 1, pe.0, true, shmem::api::putmem_nbi)
}

/// Non-blocking get: `dst` holds the data after the next quiet or barrier.
#[pyfunction]
pub(crate) fn aclshmem_getmem_nbi(
    py: Python<'_>,
    dst: &Bound<'_, PyAny>,
    src: Sym,
    elem_size: Count,
    pe: PeArg,
) -> PyResult<()> {
    get_with(py, dst, src, elem_size.0, 1, pe.0, true, shmem::api::getmem_nbi)
}

macro_rules! sized_rma {
    ($($bits:literal;)*) => { paste::paste! {$(
        #[doc = concat!("Blocking put of `elem_size` ", stringify!($bits), "-bit elements (an element count; `dst` \
                         aligned to the element width) from local `src` to the symmetric `dst` on `pe`.")]
        #[pyfunction]
        pub(crate) fn [<aclshmem_put $bits>](py: Python<'_>, dst: Sym, src: &Bound<'_, PyAny>, elem_size: Count, pe: PeArg) -> PyResult<()> {
            put_with(py, dst, src, elem_size.0, $bits / 8, pe.0, false, shmem::api::[<put $bits>])
        }
        #[doc = concat!("Non-blocking put of ", stringify!($bits), "-bit elements; complete after the next quiet.")]
        #[pyfunction]
        pub(crate) fn [<aclshmem_put $bits _nbi>](py: Python<'_>, dst: Sym, src: &Bound<'_, PyAny>, elem_size: Count, pe: PeArg) -> PyResult<()> {
            put_with(py, dst, src, elem_size.0, $bits / 8, pe.0, true, shmem::api::[<put $bits _nbi>])
        }
        #[doc = concat!("Blocking get of `elem_size` ", stringify!($bits), "-bit elements from the symmetric `src` on \
                         `pe` into local `dst`.")]
        #[pyfunction]
        pub(crate) fn [<aclshmem_get $bits>](py: Python<'_>, dst: &Bound<'_, PyAny>, src: Sym, elem_size: Count, pe: PeArg) -> PyResult<()> {
            get_with(py, dst, src, elem_size.0, $bits / 8, pe.0, false, shmem::api::[<get $bits>])
        }
        #[doc = concat!("Non-blocking get of ", stringify!($bits), "-bit elements; complete after the next quiet.")]
        #[pyfunction]
        pub(crate) fn [<aclshmem_get $bits _nbi>](py: Python<'_>, dst: &Bound<'_, PyAny>, src: Sym, elem_size: Count, pe: PeArg) -> PyResult<()> {
            get_with(py, dst, src, elem_size.0, $bits / 8, pe.0, true, shmem::api::[<get $bits _nbi>])
        }
    )*
        fn register_sized(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmem_put $bits>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_put $bits _nbi>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_get $bits>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_get $bits _nbi>], m)?)?;
            )*
            Ok(())
        }
    }};
}

shmem_core::for_each_rma_size!(sized_rma);

#[allow(clippy::too_many_arguments)]
fn put_signal(
    py: Python<'_>,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    n: usize,
    sig: Sym,
    signal: u64,
    sig_op: i32,
    pe: i64,
    nbi: bool,
) -> PyResult<()> {
    dst.need(n, "dst")?;
    sig.need(8, "sig")?;
    with_local(src, Access::Read, "src", |span| {
        span.need(n, "src")?;
        let held = if nbi { hold_for_nbi(src)? } else { None };
        // SAFETY: span is readable for n bytes during the closure (see put_with).
        run_copy(py, n, span, move |p| unsafe {
            shmem::api::putmem_signal(dst.addr, p as *const u8, n, sig.addr, signal, sig_op, pe, nbi)
        })?;
        lend_until_quiet(held);
        Ok(())
    })
}

/// Puts `elem_size` bytes from `src` to `dst` on `pe`, then updates the 64-bit signal word `sig` there with
/// `signal` (`sig_op`: SIGNAL_SET 0 or SIGNAL_ADD 1). The data is visible before the signal.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn aclshmemx_putmem_signal(
    py: Python<'_>,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    sig: Sym,
    signal: u64,
    sig_op: I32Arg,
    pe: PeArg,
) -> PyResult<()> {
    put_signal(py, dst, src, elem_size.0, sig, signal, sig_op.0, pe.0, false)
}

/// Non-blocking put-with-signal: complete after the next quiet.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
pub(crate) fn aclshmemx_putmem_signal_nbi(
    py: Python<'_>,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    sig: Sym,
    signal: u64,
    sig_op: I32Arg,
    pe: PeArg,
) -> PyResult<()> {
    put_signal(py, dst, src, elem_size.0, sig, signal, sig_op.0, pe.0, true)
}

/// Completes every outstanding operation of this PE (and releases the buffers lent to `_nbi` calls).
#[pyfunction]
pub(crate) fn aclshmem_quiet(py: Python<'_>) -> PyResult<()> {
    let mark = state::lent_mark();
    detached(py, shmem::api::quiet)?;
    state::release_lent(py, mark);
    Ok(())
}

/// Orders this PE's puts to each target PE.
#[pyfunction]
pub(crate) fn aclshmem_fence() -> PyResult<()> {
    shmem::api::fence().py()
}

/// quiet, then a barrier over all PEs.
#[pyfunction]
pub(crate) fn aclshmem_barrier_all(py: Python<'_>) -> PyResult<()> {
    let mark = state::lent_mark();
    // The GIL is kept unless the barrier waits (see `blocking`).
    detached_when_blocking(py, shmem::api::barrier_all)?;
    state::release_lent(py, mark);
    Ok(())
}

/// A barrier over all PEs without quiet.
#[pyfunction]
pub(crate) fn aclshmem_sync_all(py: Python<'_>) -> PyResult<()> {
    detached_when_blocking(py, shmem::api::sync_all)
}

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(aclshmem_putmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_getmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_putmem_nbi, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_getmem_nbi, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_putmem_signal, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_putmem_signal_nbi, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_quiet, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_fence, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_barrier_all, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_sync_all, m)?)?;
    register_sized(m)
}
