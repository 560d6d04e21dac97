//! Python arguments that name memory: symmetric addresses and local buffers. The unsafe core of the binding.
//!
//! - A **symmetric address** is an `int` (a local virtual address inside the symmetric heap, as returned by
//!   `aclshmem_malloc`) or a buffer object viewing the heap (a NumPy array from `shmem.array`). The runtime
//!   checks every symmetric range against the heap, so any int is safe to pass: a foreign one is refused.
//! - A **local buffer** (the source of a put, the destination of a get) is a buffer object (bytes, bytearray,
//!   memoryview, NumPy array, ...), held exported for the duration of the call, or an `int` only when it lies
//!   inside this PE's symmetric heap. Any other int could be any address of the process and is refused.
//!
//! Memory in the heap may be written by other PEs at any time; the binding only moves it with
//! `ptr::copy_nonoverlapping` into or out of its own buffers, never through Rust references (an accepted,
//! documented race, as in C SHMEM: concurrent access to the same bytes gives unspecified values, never UB
//! in the binding's own code).

use crate::error::{invalid, shmem_err, NOT_INITED};
use crate::state;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyInt;
use std::mem::MaybeUninit;

/// Whether an operation reads or writes a local buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The buffer is a source.
    Read,
    /// The buffer is a destination: read-only buffers are refused.
    Write,
}

/// A local memory range, valid while the closure of [`with_local`] runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    /// First byte.
    pub(crate) ptr: usize,
    /// Bytes available from `ptr`.
    pub(crate) len: usize,
    /// Whether the range is inside the symmetric heap (it then lives only as long as the runtime).
    pub(crate) in_heap: bool,
}

impl Span {
    /// Checks that `n` bytes are available.
    pub(crate) fn need(&self, n: usize, what: &str) -> PyResult<()> {
        if n > self.len {
            return Err(invalid(format!("{what} holds {} B but the call moves {n} B", self.len)));
        }
        Ok(())
    }

    /// Copies the first `n` bytes out.
    pub(crate) fn read(&self, n: usize) -> Vec<u8> {
        debug_assert!(n <= self.len);
        let mut out = vec![0u8; n];
        // SAFETY: `need`/the caller checked n <= len; the range is readable while the export (or the runtime,
        // for heap ranges) lives, which the caller of `with_local` guarantees; `out` is a fresh allocation.
        unsafe { std::ptr::copy_nonoverlapping(self.ptr as *const u8, out.as_mut_ptr(), n) };
        out
    }

    /// Writes `bytes` at the start of the range.
    pub(crate) fn write(&self, bytes: &[u8], what: &str) -> PyResult<()> {
        self.need(bytes.len(), what)?;
        // SAFETY: checked above that the bytes fit; the range is writable (with_local refused read-only
        // exports for Access::Write) and alive during the closure.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr as *mut u8, bytes.len()) };
        Ok(())
    }
}

/// Extracts an address from a Python int (non-negative, below 2**64).
pub(crate) fn int_addr(i: &Bound<'_, PyInt>, what: &str) -> PyResult<usize> {
    match i.extract::<u64>() {
        Ok(v) => usize::try_from(v).map_err(|_| invalid(format!("{what} {v:#x} does not fit this address space"))),
        Err(_) => Err(invalid(format!("{what} {i} is not an address (an int in 0..2**64)"))),
    }
}

/// A buffer export held for the duration of a call; released (with the GIL held) when dropped.
struct Export {
    view: MaybeUninit<ffi::Py_buffer>,
}

impl Export {
    /// Exports `obj`'s buffer as a contiguous (C or Fortran order) block.
    fn get(&mut self, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
        // SAFETY: obj is a live object (we hold a reference); view points to writable memory for a Py_buffer;
        // on success the export must be released once, which Drop does; on failure nothing is held.
        let rc = unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), self.view.as_mut_ptr(), ffi::PyBUF_ANY_CONTIGUOUS) };
        if rc != 0 {
            let py = obj.py();
            let err = PyErr::take(py).unwrap_or_else(|| PyTypeError::new_err("buffer export failed"));
            // SAFETY: obj is a live object.
            let has_buffer = unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } != 0;
            if !has_buffer || obj.is_instance_of::<PyInt>() {
                let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
                return Err(PyTypeError::new_err(format!(
                    "{what} must be a buffer object (bytes, bytearray, memoryview, NumPy array) or an int \
                     address, not {ty}"
                )));
            }
            return Err(invalid(format!(
                "{what} is not a contiguous buffer ({err}); pass a contiguous array, e.g. np.ascontiguousarray(x) \
                 as a source, or copy through a contiguous destination"
            )));
        }
        Ok(())
    }

    fn raw(&self) -> &ffi::Py_buffer {
        // SAFETY: only called after a successful `get`, which initialized the view.
        unsafe { self.view.assume_init_ref() }
    }
}

/// A guard that owns an initialized export and releases it.
struct Held<'a>(&'a mut Export);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        // SAFETY: the view was initialized by a successful PyObject_GetBuffer and is released exactly once
        // here; the GIL is held because Held never leaves the attached function that created it (it is not
        // Send: it holds raw pointers).
        unsafe { ffi::PyBuffer_Release(self.0.view.as_mut_ptr()) };
    }
}

/// Resolves `obj` as a local buffer and runs `f` on it while it is guaranteed alive.
pub(crate) fn with_local<R>(
    obj: &Bound<'_, PyAny>,
    access: Access,
    what: &str,
    f: impl FnOnce(Span) -> PyResult<R>,
) -> PyResult<R> {
    if let Ok(i) = obj.cast::<PyInt>() {
        let addr = int_addr(i, what)?;
        let (base, len) = state::heap()
            .ok_or_else(|| shmem_err(NOT_INITED, format!("{what} is an int address but shmem is not initialized")))?;
        if addr < base || addr - base >= len {
            return Err(invalid(format!(
                "{what} {addr:#x} is an int but not inside the symmetric heap {base:#x}..{:#x}; pass local memory \
                 as a buffer object (bytes, bytearray, memoryview, NumPy array)",
                base + len
            )));
        }
        return f(Span { ptr: addr, len: base + len - addr, in_heap: true });
    }
    let mut export = Export { view: MaybeUninit::uninit() };
    export.get(obj, what)?;
    let held = Held(&mut export);
    let raw = held.0.raw();
    if access == Access::Write && raw.readonly != 0 {
        let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        return Err(invalid(format!(
            "{what} is read-only ({ty}); pass a writable buffer such as a bytearray or a NumPy array"
        )));
    }
    let span = Span { ptr: raw.buf as usize, len: usize::try_from(raw.len).unwrap_or(0), in_heap: false };
    let r = f(span);
    drop(held);
    r
}

/// A symmetric address argument: an int, or a buffer object whose memory is the address (and whose size
/// bounds the operation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sym {
    /// The address (checked against the heap by the runtime).
    pub(crate) addr: usize,
    /// Bytes available when given as a buffer object.
    pub(crate) room: Option<usize>,
    /// Given as a read-only buffer object (a NumPy array with `writeable=False`, `bytes`): refused where the
    /// call writes it (a collective's `dest`).
    pub(crate) read_only: bool,
}

impl Sym {
    /// Checks that `n` bytes fit in the object the address came from (ints are checked by the runtime).
    pub(crate) fn need(&self, n: usize, what: &str) -> PyResult<()> {
        match self.room {
            Some(room) if n > room => Err(invalid(format!("{what} holds {room} B but the call needs {n} B"))),
            _ => Ok(()),
        }
    }

    /// Resolves `obj` as a symmetric address.
    pub(crate) fn from_obj(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Sym> {
        if let Ok(i) = obj.cast::<PyInt>() {
            return Ok(Sym { addr: int_addr(i, what)?, room: None, read_only: false });
        }
        let mut export = Export { view: MaybeUninit::uninit() };
        export.get(obj, what)?;
        let held = Held(&mut export);
        let raw = held.0.raw();
        Ok(Sym {
            addr: raw.buf as usize,
            room: Some(usize::try_from(raw.len).unwrap_or(0)),
            read_only: raw.readonly != 0,
        })
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Sym {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Sym::from_obj(&obj, "symmetric address")
    }
}

/// A non-negative byte or element count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count(pub(crate) usize);

impl<'a, 'py> FromPyObject<'a, 'py> for Count {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<u64>() {
            Ok(v) if v <= isize::MAX as u64 => Ok(Count(v as usize)),
            Ok(v) => Err(invalid(format!("size {v} exceeds the address space"))),
            Err(e) if obj.is_instance_of::<PyInt>() => {
                drop(e);
                Err(invalid(format!("size {} must be >= 0", &*obj)))
            }
            Err(e) => Err(e),
        }
    }
}

/// A PE number (the runtime checks its range).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeArg(pub(crate) i64);

impl<'a, 'py> FromPyObject<'a, 'py> for PeArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<i64>() {
            Ok(v) => Ok(PeArg(v)),
            Err(e) if obj.is_instance_of::<PyInt>() => {
                drop(e);
                Err(invalid(format!("PE {} is out of range", &*obj)))
            }
            Err(e) => Err(e),
        }
    }
}

/// A 32-bit id or code argument (team ids, cmp/signal ops): out-of-range ints are INVALID_PARAM.
#[derive(Debug, Clone, Copy)]
pub(crate) struct I32Arg(pub(crate) i32);

impl<'a, 'py> FromPyObject<'a, 'py> for I32Arg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        match obj.extract::<i32>() {
            Ok(v) => Ok(I32Arg(v)),
            Err(e) if obj.is_instance_of::<PyInt>() => {
                drop(e);
                Err(invalid(format!("{} is out of the 32-bit range", &*obj)))
            }
            Err(e) => Err(e),
        }
    }
}

/// An export of `obj` taken for an `_nbi` operation (None for heap ints), to hand to [`lend_until_quiet`]
/// once the operation was issued. Taken before the operation so that nothing can fail after it.
pub(crate) fn hold_for_nbi(obj: &Bound<'_, PyAny>) -> PyResult<Option<PyUntypedBuffer>> {
    if obj.is_instance_of::<PyInt>() {
        return Ok(None);
    }
    PyUntypedBuffer::get(obj).map(Some)
}

/// Keeps an export taken by [`hold_for_nbi`] until the next quiet (for `_nbi` operations on buffer objects).
pub(crate) fn lend_until_quiet(held: Option<PyUntypedBuffer>) {
    if let Some(b) = held {
        state::lend(b);
    }
}

/// Reads `n` values of a plain type from a local argument: a sequence of numbers, a buffer of matching item
/// size (or raw bytes), or a heap int. `T` is one of the wait/AMO value types.
pub(crate) fn read_values<'py, T>(obj: &Bound<'py, PyAny>, n: usize, what: &str) -> PyResult<Vec<T>>
where
    T: Copy + Default + for<'a> FromPyObject<'a, 'py>,
{
    let width = std::mem::size_of::<T>();
    let bytes = n.checked_mul(width).ok_or_else(|| invalid(format!("{n} elements overflow")))?;
    let from_buffer = obj.is_instance_of::<PyInt>() || {
        // SAFETY: obj is a live object.
        unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) != 0 }
    };
    if !from_buffer {
        let v: Vec<T> = obj
            .try_iter()
            .map_err(|_| PyTypeError::new_err(format!("{what} must be a sequence, a buffer or a heap address")))?
            // Only the first n are used: an endless iterable (itertools.repeat) is not read to its end.
            .take(n)
            .map(|x| x.and_then(|x| x.extract::<T>().map_err(Into::into)))
            .collect::<PyResult<_>>()?;
        if v.len() < n {
            return Err(invalid(format!("{what} has {} entries but nelems is {n}", v.len())));
        }
        return Ok(v);
    }
    if !obj.is_instance_of::<PyInt>() {
        let item = obj.getattr("itemsize").ok().and_then(|i| i.extract::<usize>().ok());
        if let Some(item) = item.filter(|&i| i != 1 && i != width) {
            return Err(invalid(format!("{what} has {item}-byte items but this call needs {width}-byte values")));
        }
    }
    with_local(obj, Access::Read, what, |span| {
        span.need(bytes, what)?;
        let raw = span.read(bytes);
        let mut out = vec![T::default(); n];
        // SAFETY: `out` holds n * width bytes of plain integer/float values (every bit pattern is valid for
        // them) and `raw` holds exactly that many bytes; the regions do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(raw.as_ptr(), out.as_mut_ptr() as *mut u8, bytes) };
        Ok(out)
    })
}
