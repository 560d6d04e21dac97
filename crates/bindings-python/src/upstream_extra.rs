//! Names upstream's extension exports beyond the seeds that map directly onto this runtime: the sized
//! put-with-signal family `aclshmemx_put{8,16,32,64,128}_signal[_nbi]`, `aclshmemx_get_heap_base` and
//! `aclshmemx_finalize(instance_id)` (one instance, id 0, exists here). See docs/python-core.md for the table of
//! upstream names and what became of each.

use crate::buffer::{Count, I32Arg, PeArg, Sym};
use crate::error::invalid;
use crate::rma;
use pyo3::prelude::*;

fn elems(nelems: Count, width: usize) -> PyResult<Count> {
    nelems
        .0
        .checked_mul(width)
        .map(Count)
        .ok_or_else(|| invalid(format!("{} elements of {width} B overflow", nelems.0)))
}

macro_rules! sized_signal {
    ($($bits:literal;)*) => { paste::paste! {$(
        #[doc = concat!("Puts `nelems` ", stringify!($bits), "-bit elements from local `src` to the symmetric `dst` \
                         on `pe`, then updates the 64-bit signal `sig` there (`sig_op`: SIGNAL_SET 0 / SIGNAL_ADD 1).")]
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmemx_put $bits _signal>](py: Python<'_>, dst: Sym, src: &Bound<'_, PyAny>, nelems: Count, sig: Sym,
                                          signal: u64, sig_op: I32Arg, pe: PeArg) -> PyResult<()> {
            rma::aclshmemx_putmem_signal(py, dst, src, elems(nelems, $bits / 8)?, sig, signal, sig_op, pe)
        }
        #[doc = concat!("Non-blocking put of ", stringify!($bits), "-bit elements with a signal; complete after the \
                         next quiet.")]
        #[pyfunction]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmemx_put $bits _signal_nbi>](py: Python<'_>, dst: Sym, src: &Bound<'_, PyAny>, nelems: Count,
                                              sig: Sym, signal: u64, sig_op: I32Arg, pe: PeArg) -> PyResult<()> {
            rma::aclshmemx_putmem_signal_nbi(py, dst, src, elems(nelems, $bits / 8)?, sig, signal, sig_op, pe)
        }
    )*
        fn register_sized_signal(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmemx_put $bits _signal>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmemx_put $bits _signal_nbi>], m)?)?;
            )*
            Ok(())
        }
    }};
}

shmem_core::for_each_rma_size!(sized_signal);

/// The start address of this PE's symmetric heap (0 before init). `mem_type` (`MemType.DEVICE_SIDE` /
/// `HOST_SIDE`, default device) selects upstream's heap; on the host both are the one heap.
#[pyfunction]
#[pyo3(signature = (mem_type=None))]
fn aclshmemx_get_heap_base(mem_type: Option<I32Arg>) -> PyResult<usize> {
    if let Some(t) = mem_type {
        if !(0..=1).contains(&t.0) {
            return Err(invalid(format!("mem_type {} is not MemType.HOST_SIDE 0 or DEVICE_SIDE 1", t.0)));
        }
    }
    Ok(shmem::api::heap_range().map(|(base, _)| base).unwrap_or(0))
}

/// Finalizes instance `instance_id`. This runtime has one instance per process, id 0: `aclshmemx_finalize(0)`
/// is `aclshmem_finalize()` (returns 0); any other id is INVALID_PARAM.
#[pyfunction]
fn aclshmemx_finalize(py: Python<'_>, instance_id: i64) -> PyResult<i32> {
    if instance_id != 0 {
        return Err(invalid(format!("instance {instance_id} does not exist: this runtime has one instance, id 0")));
    }
    crate::lifecycle::aclshmem_finalize(py)
}

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    register_sized_signal(m)?;
    m.add_function(wrap_pyfunction!(aclshmemx_get_heap_base, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_finalize, m)?)?;
    Ok(())
}
