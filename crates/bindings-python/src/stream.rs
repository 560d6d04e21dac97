//! The stream-ordered calls of upstream's extension: `aclshmemx_{putmem,getmem,signal_op,signal_wait_until,
//! quiet}_on_stream`.
//!
//! # On a host the calling thread is the stream
//! Upstream queues these on an ACL stream and the host returns at once; the caller synchronizes the stream
//! to observe completion. This runtime has no device streams: the calling thread is the stream, so each call
//! runs in program order and is complete when it returns (a put is visible at the target, a wait has seen its
//! condition, a quiet has completed every earlier operation). A program that synchronizes its stream
//! afterwards sees exactly what upstream promises; one that does not is still correct here.
//!
//! # Stream handles
//! `stream` is what upstream accepts: `None` or `0` (the default stream), a non-negative int (an `aclrtStream`
//! address), or an object carrying one as `npu_stream` / `cuda_stream` (e.g. `torch.npu.current_stream()`). It
//! selects nothing on the host but is still checked: a negative int or a bool is INVALID_PARAM, anything else
//! TypeError.

use crate::blocking::wait_in_slices;
use crate::buffer::{Count, I32Arg, PeArg, Sym};
use crate::error::{invalid, ResultExt};
use crate::rma;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt};

/// Checks a stream handle (see the module docs); returns its address (0 for the default stream).
fn stream_arg(stream: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    let Some(s) = stream.filter(|s| !s.is_none()) else {
        return Ok(0);
    };
    if s.is_instance_of::<PyBool>() {
        return Err(invalid("stream must be an int stream handle or None, not a bool"));
    }
    let handle = if s.is_instance_of::<PyInt>() {
        s.clone()
    } else if let Some(h) = ["npu_stream", "cuda_stream"].iter().find_map(|a| s.getattr(*a).ok()) {
        h
    } else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "stream must be None, an int stream handle, or an object with npu_stream/cuda_stream",
        ));
    };
    match handle.extract::<i64>() {
        Ok(v) if v >= 0 => Ok(v as u64),
        _ => Err(invalid(format!("stream handle {handle} must be a non-negative int"))),
    }
}

/// Put of `elem_size` bytes from local `src` to the symmetric `dst` on `pe`, ordered on `stream`; complete
/// on return (the calling thread is the stream).
#[pyfunction]
#[pyo3(signature = (dst, src, elem_size, pe, stream=None))]
fn aclshmemx_putmem_on_stream(
    py: Python<'_>,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    pe: PeArg,
    stream: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    stream_arg(stream)?;
    rma::aclshmem_putmem(py, dst, src, elem_size, pe)
}

/// Get of `elem_size` bytes from the symmetric `src` on `pe` into local `dst`, ordered on `stream`; complete
/// on return.
#[pyfunction]
#[pyo3(signature = (dst, src, elem_size, pe, stream=None))]
fn aclshmemx_getmem_on_stream(
    py: Python<'_>,
    dst: &Bound<'_, PyAny>,
    src: Sym,
    elem_size: Count,
    pe: PeArg,
    stream: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    stream_arg(stream)?;
    rma::aclshmem_getmem(py, dst, src, elem_size, pe)
}

/// Updates the 64-bit signal word `sig_addr` on `pe` with `signal` (`sig_op`: SIGNAL_SET 0, SIGNAL_ADD 1),
/// ordered on `stream`; complete on return. Waiters on that word are woken.
#[pyfunction]
#[pyo3(signature = (sig_addr, signal, sig_op, pe, stream=None))]
fn aclshmemx_signal_op_on_stream(
    sig_addr: Sym,
    signal: u64,
    sig_op: I32Arg,
    pe: PeArg,
    stream: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    stream_arg(stream)?;
    sig_addr.need(8, "sig_addr")?;
    let nothing = std::ptr::NonNull::<u8>::dangling().as_ptr();
    // SAFETY: a put of 0 bytes reads nothing from `nothing` (non-null and aligned, as a zero-length copy needs);
    // the signal word is checked by the runtime against the heap.
    unsafe { shmem::api::putmem_signal(sig_addr.addr, nothing, 0, sig_addr.addr, signal, sig_op.0, pe.0, false) }.py()
}

/// Waits until the local 64-bit signal word `sig_addr` compares true (`cmp`: CMP_EQ..CMP_LE) against
/// `cmp_val`, ordered on `stream`: returns once it does. The GIL is released; Ctrl-C interrupts.
#[pyfunction]
#[pyo3(signature = (sig_addr, cmp, cmp_val, stream=None))]
fn aclshmemx_signal_wait_until_on_stream(
    py: Python<'_>,
    sig_addr: Sym,
    cmp: I32Arg,
    cmp_val: u64,
    stream: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    stream_arg(stream)?;
    sig_addr.need(8, "sig_addr")?;
    let op = shmem::CmpOp::from_code(cmp.0).py()?;
    let a = sig_addr.addr;
    wait_in_slices(py, |slice| shmem::waits::signal_wait_until_timeout(a, op, cmp_val, slice)).map(drop)
}

/// Completes every earlier operation of this PE, ordered on `stream`; complete on return.
#[pyfunction]
#[pyo3(signature = (stream=None))]
fn aclshmemx_quiet_on_stream(py: Python<'_>, stream: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
    stream_arg(stream)?;
    rma::aclshmem_quiet(py)
}

/// Checks a stream handle as the `_on_stream` calls do and returns its address (0: the default stream), for
/// `shmem.core`'s stream-taking calls that have no low-level counterpart.
#[pyfunction]
#[pyo3(signature = (stream=None))]
fn _check_stream(stream: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
    stream_arg(stream)
}

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_check_stream, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_putmem_on_stream, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_getmem_on_stream, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_signal_op_on_stream, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_signal_wait_until_on_stream, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_quiet_on_stream, m)?)?;
    Ok(())
}
