//! Reading a NumPy array's data address, element count and dtype without a Python-level lookup, for the
//! NumPy-level collectives (`np_collectives`), where the per-call cost is what a program measures.
//!
//! # Why not the buffer protocol and `arr.dtype.name`
//! An 8-byte broadcast costs the runtime about 50 ns; `dtype.name` alone is computed in Python by NumPy 2
//! (microseconds) and a dict lookup keyed by dtype plus a buffer export per array cost several times the
//! runtime's share. NumPy's array and descriptor objects start with fields that are part of its public C ABI
//! (`PyArrayObject_fields` and the head of `PyArray_Descr` in `ndarraytypes.h`: the same offsets in NumPy 1.x
//! and 2.x), so the fast path reads them directly: a type check against `numpy.ndarray`, then a few loads.
//!
//! # Why it is safe
//! The layout is checked once, at first use, against what NumPy reports through Python for probe arrays of
//! several shapes, orders and dtypes (data address, dimensions, flags, descriptor and its type number). When
//! anything differs (a NumPy with another layout), the fast path is off for the life of the process and every
//! array goes the slow way: `dtype.num` through Python and the data through the buffer protocol. The fields are
//! read only from objects that passed `PyObject_TypeCheck(obj, numpy.ndarray)`, with the GIL held and a
//! reference to the array held by the caller.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PySlice, PyType};
use shmem::collectives::DataType;
use std::ffi::{c_char, c_int, c_long, c_longlong, c_short};

/// The head of NumPy's `PyArrayObject_fields` (ndarraytypes.h): the fields read here, in order.
#[repr(C)]
struct ArrayHead {
    ob_base: ffi::PyObject,
    data: *mut c_char,
    nd: c_int,
    dimensions: *const isize,
    strides: *const isize,
    base: *mut ffi::PyObject,
    descr: *const DescrHead,
    flags: c_int,
}

/// The head of NumPy's `PyArray_Descr` (ndarraytypes.h): identical in 1.x and 2.x up to `type_num`.
#[repr(C)]
struct DescrHead {
    ob_base: ffi::PyObject,
    typeobj: *mut ffi::PyTypeObject,
    kind: c_char,
    type_: c_char,
    byteorder: c_char,
    former_flags: c_char,
    type_num: c_int,
}

/// NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_F_CONTIGUOUS (ndarraytypes.h): `PyArray_ISONESEGMENT`, the test NumPy's
/// buffer export applies for `PyBUF_ANY_CONTIGUOUS`.
const ONE_SEGMENT: c_int = 0x0001 | 0x0002;

/// NumPy's type numbers (`NPY_TYPES`, stable since NumPy 1.0) of the dtypes a collective takes, and their
/// runtime type. `NPY_LONGDOUBLE` (13) and `NPY_CLONGDOUBLE` (16) are absent on purpose: the runtime reduces
/// `long double` as `double`, so `np.longdouble` is refused (pass float64), whatever its size on the platform.
const fn by_type_num(num: c_int) -> Option<DataType> {
    const fn int(signed: bool, bytes: usize) -> Option<DataType> {
        Some(match (signed, bytes) {
            (true, 1) => DataType::I8,
            (true, 2) => DataType::I16,
            (true, 4) => DataType::I32,
            (true, 8) => DataType::I64,
            (false, 1) => DataType::U8,
            (false, 2) => DataType::U16,
            (false, 4) => DataType::U32,
            (false, 8) => DataType::U64,
            _ => return None,
        })
    }
    use std::mem::size_of;
    match num {
        1 => int(true, 1),                         // NPY_BYTE
        2 => int(false, 1),                        // NPY_UBYTE
        3 => int(true, size_of::<c_short>()),      // NPY_SHORT
        4 => int(false, size_of::<c_short>()),     // NPY_USHORT
        5 => int(true, size_of::<c_int>()),        // NPY_INT
        6 => int(false, size_of::<c_int>()),       // NPY_UINT
        7 => int(true, size_of::<c_long>()),       // NPY_LONG
        8 => int(false, size_of::<c_long>()),      // NPY_ULONG
        9 => int(true, size_of::<c_longlong>()),   // NPY_LONGLONG
        10 => int(false, size_of::<c_longlong>()), // NPY_ULONGLONG
        11 => Some(DataType::F32),                 // NPY_FLOAT
        12 => Some(DataType::F64),                 // NPY_DOUBLE
        14 => Some(DataType::C32),                 // NPY_CFLOAT
        15 => Some(DataType::C64),                 // NPY_CDOUBLE
        _ => None, // bool, long double, object, strings, void, datetimes, half, user types
    }
}

/// `numpy.ndarray`, imported once, and whether the layout check passed (decided once per process, at the first
/// object classified).
static NDARRAY: PyOnceLock<(Py<PyType>, bool)> = PyOnceLock::new();

/// What an object is, as a collective argument. A flat value of two words and two 32-bit codes rather than
/// an enum: it moves through registers and the stack with whole-word copies (an enum with a one-byte type in
/// its payload was copied in odd-sized pieces, and reading it back stalled on store forwarding: measured).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct Class {
    /// The data address (`arr.ctypes.data`) of a usable array.
    pub(crate) addr: usize,
    /// The element count (`arr.size`) of a usable array.
    pub(crate) size: usize,
    /// The runtime type's code (`DataType as u32`), 0 when the dtype is not a collective one.
    code: u32,
    /// [`FOREIGN`], [`OTHER_DTYPE`], [`STRIDED`] or [`ARRAY`].
    state: u32,
}

/// Not a NumPy array.
const FOREIGN: u32 = 0;
/// A NumPy array whose dtype no collective takes.
const OTHER_DTYPE: u32 = 1;
/// A NumPy array of a collective dtype that is not one segment: only the buffer protocol's error fits it.
const STRIDED: u32 = 2;
/// A usable array: one segment, a collective dtype.
const ARRAY: u32 = 3;

/// The runtime types by code (`DataType` is `repr(u8)` with codes 1..=13).
const BY_CODE: [Option<DataType>; 14] = {
    let mut t = [None; 14];
    let all = [
        DataType::Bytes,
        DataType::I8,
        DataType::I16,
        DataType::I32,
        DataType::I64,
        DataType::U8,
        DataType::U16,
        DataType::U32,
        DataType::U64,
        DataType::F32,
        DataType::F64,
        DataType::C32,
        DataType::C64,
    ];
    let mut i = 0;
    while i < all.len() {
        t[all[i] as usize] = Some(all[i]);
        i += 1;
    }
    t
};

impl Class {
    const fn new(state: u32, dt: Option<DataType>, addr: usize, size: usize) -> Class {
        let code = match dt {
            Some(d) => d as u32,
            None => 0,
        };
        Class { addr, size, code, state }
    }

    /// The runtime type, when the object is an array of a collective dtype (one segment or not).
    #[inline(always)]
    pub(crate) fn dtype(&self) -> Option<DataType> {
        BY_CODE.get(self.code as usize).copied().flatten()
    }

    /// Whether it is a NumPy array of a collective dtype (one segment or not).
    #[inline(always)]
    pub(crate) fn is_collective_array(&self) -> bool {
        self.state >= STRIDED
    }

    /// Whether it is a one-segment NumPy array of a collective dtype (`addr` and `size` are set).
    #[inline(always)]
    pub(crate) fn is_usable(&self) -> bool {
        self.state == ARRAY
    }

    /// Bytes of data (`arr.nbytes`) of a usable array: the room a buffer export would report.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> usize {
        self.size * self.dtype().map_or(0, DataType::size)
    }
}

/// `numpy.ndarray` and whether the fast path is on.
fn ndarray_type(py: Python<'_>) -> PyResult<(&Bound<'_, PyType>, bool)> {
    let (t, fast) = NDARRAY.get_or_try_init(py, || {
        let t = py.import("numpy")?.getattr("ndarray")?.cast_into::<PyType>()?.unbind();
        Ok::<_, PyErr>((t, layout_ok(py)?))
    })?;
    Ok((t.bind(py), *fast))
}

/// Reads the head of an array.
///
/// # Safety
/// `obj` must be an instance of `numpy.ndarray` (or a subclass) and the layout check must have passed.
unsafe fn head<'a>(obj: &'a Bound<'_, PyAny>) -> (usize, &'a [isize], c_int, c_int) {
    // SAFETY: the caller guarantees that obj is an ndarray, whose object starts with PyArrayObject_fields
    // (verified against Python-level values by `layout_ok`); we hold a reference, so the object and its
    // dimensions array (owned by the array, never reallocated while it lives) outlive this borrow; the
    // descriptor is referenced by the array.
    unsafe {
        let a = &*(obj.as_ptr() as *const ArrayHead);
        let nd = usize::try_from(a.nd).unwrap_or(0);
        let dims =
            if nd == 0 || a.dimensions.is_null() { &[][..] } else { std::slice::from_raw_parts(a.dimensions, nd) };
        (a.data as usize, dims, a.flags, (*a.descr).type_num)
    }
}

/// The slow way of [`classify`]: Python-level `dtype.num`, `flags`, `size`, and the data address through the
/// buffer protocol only when needed (by the caller).
#[cold]
#[inline(never)]
fn classify_slow(obj: &Bound<'_, PyAny>) -> PyResult<Class> {
    let num: c_int = obj.getattr("dtype")?.getattr("num")?.extract()?;
    let Some(dt) = by_type_num(num) else { return Ok(Class::new(OTHER_DTYPE, None, 0, 0)) };
    let flags = obj.getattr("flags")?;
    let one_segment = flags.getattr("c_contiguous")?.is_truthy()? || flags.getattr("f_contiguous")?.is_truthy()?;
    if !one_segment {
        return Ok(Class::new(STRIDED, Some(dt), 0, 0));
    }
    let size: usize = obj.getattr("size")?.extract()?;
    let addr: usize = obj.getattr("__array_interface__")?.get_item("data")?.get_item(0)?.extract()?;
    Ok(Class::new(ARRAY, Some(dt), addr, size))
}

/// Checks the assumed layout against NumPy's own answers for a few probe arrays.
fn layout_ok(py: Python<'_>) -> PyResult<bool> {
    let np = py.import("numpy")?;
    let zeros = np.getattr("zeros")?;
    let probes = [
        zeros.call1(((3, 5), "i2"))?,
        zeros.call1(((2, 3, 4), "f8"))?.getattr("T")?, // Fortran order
        zeros.call1(((7,), "c16"))?,
        zeros.call1(((4, 6), "u8"))?.get_item((PySlice::full(py), PySlice::new(py, 1, 5, 1)))?, // not one segment
        zeros.call1(((), "i4"))?,                                                               // 0-d
    ];
    for p in &probes {
        // SAFETY: every probe is an ndarray (numpy.zeros and its views return ndarrays); the answer is only
        // compared with Python's, never used to access memory.
        let (addr, dims, flags, num) = unsafe { head(p) };
        let shape: Vec<usize> = p.getattr("shape")?.extract()?;
        let want_num: c_int = p.getattr("dtype")?.getattr("num")?.extract()?;
        let want_addr: usize = p.getattr("__array_interface__")?.get_item("data")?.get_item(0)?.extract()?;
        let f = p.getattr("flags")?;
        let want_one = f.getattr("c_contiguous")?.is_truthy()? || f.getattr("f_contiguous")?.is_truthy()?;
        // SAFETY: as above; the descriptor pointer is compared with the identity of `p.dtype`.
        let descr = unsafe { (*(p.as_ptr() as *const ArrayHead)).descr } as usize;
        let want_descr = p.getattr("dtype")?.as_ptr() as usize;
        if addr != want_addr
            || dims != shape.iter().map(|&d| d as isize).collect::<Vec<_>>().as_slice()
            || (flags & ONE_SEGMENT != 0) != want_one
            || num != want_num
            || descr != want_descr
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Classifies `obj` as a collective argument (the fast way once the layout check passed). Inlined into the
/// callers so that the result stays in registers (returned through memory it cost store-forwarding stalls).
#[inline(always)]
pub(crate) fn classify(obj: &Bound<'_, PyAny>) -> PyResult<Class> {
    let (nd, fast) = ndarray_type(obj.py())?;
    // SAFETY: both are live objects; PyObject_TypeCheck only reads their types.
    if unsafe { ffi::PyObject_TypeCheck(obj.as_ptr(), nd.as_type_ptr()) } == 0 {
        return Ok(Class::new(FOREIGN, None, 0, 0));
    }
    if !fast {
        return classify_slow(obj);
    }
    // SAFETY: obj passed the ndarray type check and the layout check passed.
    let (addr, dims, flags, num) = unsafe { head(obj) };
    let Some(dt) = by_type_num(num) else { return Ok(Class::new(OTHER_DTYPE, None, 0, 0)) };
    if flags & ONE_SEGMENT == 0 {
        return Ok(Class::new(STRIDED, Some(dt), 0, 0));
    }
    // A live array's element count fits (NumPy checks the product against its intp when it makes the array).
    let size = dims.iter().map(|&d| d as usize).product();
    Ok(Class::new(ARRAY, Some(dt), addr, size))
}

/// [`classify`] by the slow way (Python-level attributes) or the fast way, as `(type code or 0, state, addr,
/// size)`: for tests that hold the two ways against each other and against NumPy.
pub(crate) fn classify_for_test(obj: &Bound<'_, PyAny>, slow: bool) -> PyResult<(u32, u32, usize, usize)> {
    let (nd, _) = ndarray_type(obj.py())?;
    // SAFETY: both are live objects; PyObject_TypeCheck only reads their types.
    let c = if slow && unsafe { ffi::PyObject_TypeCheck(obj.as_ptr(), nd.as_type_ptr()) } != 0 {
        classify_slow(obj)?
    } else {
        classify(obj)?
    };
    Ok((c.code, c.state, c.addr, c.size))
}

/// The TypeError of a collective's `source` (or broadcast `dest`) that is not a NumPy array of a collective
/// dtype: the messages of the former Python-level check.
#[cold]
#[inline(never)]
pub(crate) fn refuse_type(obj: &Bound<'_, PyAny>, class: &Class) -> PyErr {
    match class.state {
        FOREIGN => {
            let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
            PyTypeError::new_err(format!("expected a NumPy array viewing the symmetric heap, got {ty}"))
        }
        _ => {
            let dt = obj.getattr("dtype").and_then(|d| d.str()).map(|s| s.to_string()).unwrap_or_default();
            PyTypeError::new_err(format!("no collective for dtype {dt} (long double reduces as float64: pass float64)"))
        }
    }
}
