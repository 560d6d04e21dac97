//! `_BufferBase`: the buffer-protocol half of `shmem.core.Buffer` (the Python class adds the rest).
//!
//! # Why in Rust
//! On Python < 3.12 a class written in Python cannot export the buffer protocol, and `shmem.core` buffers must
//! work with `memoryview`, `numpy.frombuffer` and DLPack consumers. So the base class exports a range of a
//! `SymBlock` (this PE's block or a same-node peer's view); the Python subclass keeps upstream's attributes.
//!
//! # Safety of the export
//! A buffer only exports memory of the `SymBlock` it was attached to, and holds that block (which holds the
//! runtime's heap mapping) for as long as any export lives, so a view can never point at unmapped memory. A
//! Buffer made from a bare address (upstream's external descriptor) exports nothing.

use crate::buffer::Count;
use crate::error::invalid;
use crate::memory::SymBlock;
use pyo3::ffi;
use pyo3::prelude::*;
use std::os::raw::c_int;

/// The exporting base of `shmem.core.Buffer`; see the module docs.
#[pyclass(module = "shmem._shmem", name = "_BufferBase", subclass, weakref)]
pub(crate) struct BufferBase {
    /// (block kept alive, start address, length) once attached.
    view: Option<(Py<SymBlock>, usize, usize)>,
}

#[pymethods]
impl BufferBase {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, pyo3::types::PyTuple>, _kwargs: Option<&Bound<'_, pyo3::types::PyDict>>) -> Self {
        BufferBase { view: None }
    }

    /// Makes this buffer export `length` bytes of `block` from `offset` on; once only (a second attach would
    /// let go of the block that live exports still point into).
    fn _attach(&mut self, block: &Bound<'_, SymBlock>, offset: Count, length: Count) -> PyResult<()> {
        if self.view.is_some() {
            return Err(invalid("this Buffer is already attached to a block; attach a new Buffer instead"));
        }
        let addr: usize = block.getattr("addr")?.extract()?;
        let nbytes: usize = block.getattr("nbytes")?.extract()?;
        let end = offset.0.checked_add(length.0).filter(|&e| e <= nbytes);
        if end.is_none() || length.0 == 0 {
            return Err(invalid(format!(
                "range {}+{} is not inside the {nbytes}-byte block (or is empty)",
                offset.0, length.0
            )));
        }
        self.view = Some((block.clone().unbind(), addr + offset.0, length.0));
        Ok(())
    }

    /// The block this buffer exports, or None (an external descriptor).
    #[getter]
    fn _block<'py>(&self, py: Python<'py>) -> Option<Bound<'py, SymBlock>> {
        self.view.as_ref().map(|(b, _, _)| b.bind(py).clone())
    }

    /// Exports the attached range as writable unsigned bytes.
    ///
    /// # Safety
    /// Called by CPython with a valid `view` to fill.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(pyo3::exceptions::PyBufferError::new_err("null view"));
        }
        let Some((_, addr, len)) = slf.borrow().view.as_ref().map(|(b, a, l)| (b.as_ptr(), *a, *l)) else {
            return Err(pyo3::exceptions::PyBufferError::new_err(
                "this Buffer describes an external address; only buffers from shmem.core.buffer/get_peer_buffer \
                 export memory",
            ));
        };
        // SAFETY: view is valid (CPython's contract); [addr, addr+len) lies inside the attached block, whose
        // mapping stays alive while the block does, and the export holds a reference to this object, which
        // holds the block.
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(view, slf.as_ptr(), addr as *mut std::ffi::c_void, len as ffi::Py_ssize_t, 0, flags)
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

/// Registers this module's classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<BufferBase>()
}
