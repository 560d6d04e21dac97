//! Strided put and get of upstream's extension: `aclshmem_<TYPE>_iput/_iget(dest, source, dst, sst, nelems,
//! pe)` for every TYPE and `aclshmem_iput{8,16,32,64,128}/iget{..}`. `dst` and `sst` are strides in elements
//! (>= 1) of the destination and source arrays; element i goes from `source[i * sst]` to `dest[i * dst]`.
//!
//! The host engines move one element per runtime call (the runtime checks each element against the heap);
//! the whole call completes before it returns, with the GIL held. The symmetric side's whole span is checked
//! against the heap first, so a refused call moves no element.

use crate::buffer::{with_local, Access, Count, PeArg, Sym};
use crate::error::{invalid, shmem_err, ResultExt, NOT_INITED};
use pyo3::prelude::*;

/// The byte span `nelems` elements of `width` bytes at `stride` elements cover; checks the stride.
fn span_of(nelems: usize, stride: i64, width: usize, what: &str) -> PyResult<usize> {
    if stride < 1 {
        return Err(invalid(format!("{what} stride {stride} must be >= 1 (elements)")));
    }
    if nelems == 0 {
        return Ok(0);
    }
    (nelems - 1)
        .checked_mul(stride as usize)
        .and_then(|x| x.checked_add(1))
        .and_then(|x| x.checked_mul(width))
        .ok_or_else(|| invalid(format!("{nelems} elements at stride {stride} overflow the address space")))
}

/// Checks that the `span` bytes from the symmetric `sym` lie inside the heap. The runtime checks each element
/// as it moves it, so without this a span leaving the heap would move its first elements and then fail.
fn within_heap(sym: &Sym, span: usize, what: &str) -> PyResult<()> {
    if span == 0 {
        return Ok(());
    }
    let (base, len) = crate::state::heap()
        .ok_or_else(|| shmem_err(NOT_INITED, format!("{what} is symmetric but shmem is not initialized")))?;
    let inside = sym.addr >= base && sym.addr.checked_add(span).is_some_and(|end| end <= base + len);
    if !inside {
        return Err(invalid(format!(
            "{what} {:#x}+{span} B is not inside the symmetric heap {base:#x}..{:#x}",
            sym.addr,
            base + len
        )));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn iput(
    dest: Sym,
    source: &Bound<'_, PyAny>,
    dst: i64,
    sst: i64,
    nelems: Count,
    pe: PeArg,
    width: usize,
) -> PyResult<()> {
    let n = nelems.0;
    let dst_span = span_of(n, dst, width, "dst")?;
    dest.need(dst_span, "dest")?;
    within_heap(&dest, dst_span, "dest")?;
    let src_span = span_of(n, sst, width, "sst")?;
    with_local(source, Access::Read, "source", |span| {
        span.need(src_span, "source")?;
        for i in 0..n {
            let (d, s) = (dest.addr + i * dst as usize * width, span.ptr + i * sst as usize * width);
            // SAFETY: element i of the source lies inside the span checked above, alive during this closure.
            unsafe { shmem::api::putmem(d, s as *const u8, width, pe.0) }.py()?;
        }
        Ok(())
    })
}

#[allow(clippy::too_many_arguments)]
fn iget(
    dest: &Bound<'_, PyAny>,
    source: Sym,
    dst: i64,
    sst: i64,
    nelems: Count,
    pe: PeArg,
    width: usize,
) -> PyResult<()> {
    let n = nelems.0;
    let src_span = span_of(n, sst, width, "sst")?;
    source.need(src_span, "source")?;
    within_heap(&source, src_span, "source")?;
    let dst_span = span_of(n, dst, width, "dst")?;
    with_local(dest, Access::Write, "dest", |span| {
        span.need(dst_span, "dest")?;
        for i in 0..n {
            let (d, s) = (span.ptr + i * dst as usize * width, source.addr + i * sst as usize * width);
            // SAFETY: element i of the destination lies inside the writable span checked above.
            unsafe { shmem::api::getmem(d as *mut u8, s, width, pe.0) }.py()?;
        }
        Ok(())
    })
}

/// The typed forms, `aclshmem_<TYPE>_iput`/`_iget`, one per row of the RMA type list.
macro_rules! strided_typed {
    ($($name:ident: $t:ident, $width:literal, $class:ident;)*) => { paste::paste! {$(
        #[doc = concat!("Strided put of `nelems` ", stringify!($name), " elements: `source[i * sst]` (local) to \
                         `dest[i * dst]` (symmetric) on `pe`; strides in elements, >= 1.")]
        #[pyfunction]
        fn [<aclshmem_ $name _iput>](dest: Sym, source: &Bound<'_, PyAny>, dst: i64, sst: i64, nelems: Count,
                                     pe: PeArg) -> PyResult<()> {
            iput(dest, source, dst, sst, nelems, pe, $width)
        }
        #[doc = concat!("Strided get of `nelems` ", stringify!($name), " elements: `source[i * sst]` (symmetric, \
                         on `pe`) to `dest[i * dst]` (local); strides in elements, >= 1.")]
        #[pyfunction]
        fn [<aclshmem_ $name _iget>](dest: &Bound<'_, PyAny>, source: Sym, dst: i64, sst: i64, nelems: Count,
                                     pe: PeArg) -> PyResult<()> {
            iget(dest, source, dst, sst, nelems, pe, $width)
        }
    )*
        fn register_typed(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _iput>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _iget>], m)?)?;
            )*
            Ok(())
        }
    }};
}

/// The sized forms, `aclshmem_iput<BITS>`/`iget<BITS>`, one per row of the sized width list.
macro_rules! strided_sized {
    ($($bits:literal;)*) => { paste::paste! {$(
        #[doc = concat!("Strided put of `nelems` ", stringify!($bits), "-bit elements: `source[i * sst]` (local) to \
                         `dest[i * dst]` (symmetric) on `pe`; strides in elements, >= 1.")]
        #[pyfunction]
        fn [<aclshmem_iput $bits>](dest: Sym, source: &Bound<'_, PyAny>, dst: i64, sst: i64, nelems: Count,
                                   pe: PeArg) -> PyResult<()> {
            iput(dest, source, dst, sst, nelems, pe, $bits / 8)
        }
        #[doc = concat!("Strided get of `nelems` ", stringify!($bits), "-bit elements: `source[i * sst]` (symmetric, \
                         on `pe`) to `dest[i * dst]` (local); strides in elements, >= 1.")]
        #[pyfunction]
        fn [<aclshmem_iget $bits>](dest: &Bound<'_, PyAny>, source: Sym, dst: i64, sst: i64, nelems: Count,
                                   pe: PeArg) -> PyResult<()> {
            iget(dest, source, dst, sst, nelems, pe, $bits / 8)
        }
    )*
        fn register_sized(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmem_iput $bits>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_iget $bits>], m)?)?;
            )*
            Ok(())
        }
    }};
}

shmem_core::for_each_rma_type!(strided_typed);
shmem_core::for_each_rma_size!(strided_sized);

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    register_typed(m)?;
    register_sized(m)
}
