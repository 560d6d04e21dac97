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
/// NPY_ARRAY_WRITEABLE (ndarraytypes.h): `arr.flags.writeable`.
const WRITEABLE: c_int = 0x0400;

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
    /// The runtime type's code (`DataType as u32`, the low byte), 0 when the dtype is not a collective one;
    /// [`SWAPPED`] set when the dtype's byte order is not the machine's.
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
/// In [`Class::code`]: the array's dtype has the other byte order (`dtype.isnative` is false, e.g. `'>f8'` on a
/// little-endian machine). Data moves (broadcast, collect, alltoall) copy its bytes exactly; a reduction would
/// compute on them as native values, so reductions refuse it.
const SWAPPED: u32 = 1 << 16;
/// In [`Class::code`]: a usable array that is read-only (`arr.flags.writeable` is false): refused as a `dest`.
const READ_ONLY: u32 = 1 << 17;

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

    /// The same class, marked as holding values in the other byte order when `swapped`.
    const fn byte_order(mut self, swapped: bool) -> Class {
        if swapped {
            self.code |= SWAPPED;
        }
        self
    }

    /// The same class, marked read-only unless `writeable`.
    const fn writeable(mut self, writeable: bool) -> Class {
        if !writeable {
            self.code |= READ_ONLY;
        }
        self
    }

    /// Whether a usable array may be written (`arr.flags.writeable`); true for anything else (whose own path
    /// checks it).
    #[inline(always)]
    pub(crate) fn is_writeable(&self) -> bool {
        self.code & READ_ONLY == 0
    }

    /// Whether the array's values are in the machine's byte order (what a reduction computes on).
    #[inline(always)]
    pub(crate) fn is_native(&self) -> bool {
        self.code & SWAPPED == 0
    }

    /// The runtime type, when the object is an array of a collective dtype (one segment or not).
    #[inline(always)]
    pub(crate) fn dtype(&self) -> Option<DataType> {
        BY_CODE.get((self.code & 0xff) as usize).copied().flatten()
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
/// Whether [`classify`] reads arrays without running Python code (NumPy's array head has the layout this
/// binding reads); when not, it reads Python attributes, which may run a subclass's code (and let another thread
/// run), so callers read an array classified earlier again before using its address.
pub(crate) fn classifies_without_python(py: Python<'_>) -> PyResult<bool> {
    Ok(ndarray_type(py)?.1)
}

fn ndarray_type(py: Python<'_>) -> PyResult<(&Bound<'_, PyType>, bool)> {
    let (t, fast) = NDARRAY.get_or_try_init(py, || {
        let t = py.import("numpy")?.getattr("ndarray")?.cast_into::<PyType>()?.unbind();
        Ok::<_, PyErr>((t, layout_ok(py)?))
    })?;
    Ok((t.bind(py), *fast))
}

/// What [`head`] reads of an array: data address, element count, flags, dtype number and byte order character.
type Head = (usize, usize, c_int, c_int, c_char);

/// Reads the head of an array, following its `dimensions` and `descr` pointers.
///
/// # Safety
/// `obj` must be an instance of `numpy.ndarray` (or a subclass) and the layout check must have passed (or, in
/// that check, the pointer fields must already have matched NumPy's answers).
unsafe fn head(obj: &Bound<'_, PyAny>) -> Head {
    // SAFETY: the caller guarantees that obj is an ndarray whose object starts with PyArrayObject_fields; we
    // hold a reference and the GIL, and no Python code runs while we read, so the dimensions array and the
    // descriptor (both owned or referenced by the array, but replaced by `arr.shape = ...` / `arr.dtype = ...`)
    // stay valid for these few loads; nothing read is kept as a reference.
    unsafe {
        let a = &*(obj.as_ptr() as *const ArrayHead);
        let nd = usize::try_from(a.nd).unwrap_or(0);
        // A live array's element count fits (NumPy checks the product against its intp when it makes the
        // array); a 0-d array has one element.
        let size = if a.dimensions.is_null() { 1 } else { (0..nd).map(|i| *a.dimensions.add(i) as usize).product() };
        (a.data as usize, size, a.flags, (*a.descr).type_num, (*a.descr).byteorder)
    }
}

/// The slow way of [`classify`]: Python-level `dtype.num`, `flags`, `size`, and the data address through the
/// buffer protocol only when needed (by the caller).
#[cold]
#[inline(never)]
fn classify_slow(obj: &Bound<'_, PyAny>) -> PyResult<Class> {
    let num: c_int = obj.getattr("dtype")?.getattr("num")?.extract()?;
    let Some(dt) = by_type_num(num) else { return Ok(Class::new(OTHER_DTYPE, None, 0, 0)) };
    let swapped = !obj.getattr("dtype")?.getattr("isnative")?.is_truthy()?;
    let flags = obj.getattr("flags")?;
    let one_segment = flags.getattr("c_contiguous")?.is_truthy()? || flags.getattr("f_contiguous")?.is_truthy()?;
    if !one_segment {
        return Ok(Class::new(STRIDED, Some(dt), 0, 0).byte_order(swapped));
    }
    let size: usize = obj.getattr("size")?.extract()?;
    let addr: usize = obj.getattr("__array_interface__")?.get_item("data")?.get_item(0)?.extract()?;
    let writeable = flags.getattr("writeable")?.is_truthy()?;
    Ok(Class::new(ARRAY, Some(dt), addr, size).byte_order(swapped).writeable(writeable))
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
        let want_addr: usize = p.getattr("__array_interface__")?.get_item("data")?.get_item(0)?.extract()?;
        let want_descr = p.getattr("dtype")?.as_ptr() as usize;
        let want_nd: c_int = p.getattr("ndim")?.extract()?;
        let shape: Vec<usize> = p.getattr("shape")?.extract()?;
        // First the plain fields, without following a pointer: should NumPy's layout differ, the words read
        // here are not pointers, and following them could fault.
        // SAFETY: every probe is an ndarray, an object larger than ArrayHead in every NumPy; reading its first
        // words reads memory of a live object we hold a reference to.
        let (data, nd, descr, dims) = unsafe {
            let a = &*(p.as_ptr() as *const ArrayHead);
            (a.data as usize, a.nd, a.descr as usize, a.dimensions)
        };
        if data != want_addr || nd != want_nd || descr != want_descr || (nd > 0 && dims.is_null()) {
            return Ok(false);
        }
        // SAFETY: `dimensions` is non-null with `nd` entries when nd > 0 (checked above against NumPy's ndim; the
        // descriptor pointer is p.dtype's identity), read with the GIL held and no Python code in between.
        let dims_ok = (0..shape.len()).all(|i| unsafe { *dims.add(i) } as usize == shape[i]);
        // SAFETY: the pointer fields matched NumPy's answers above, so following them is what `head` assumes.
        let (_, _, flags, num, _) = unsafe { head(p) };
        let want_num: c_int = p.getattr("dtype")?.getattr("num")?.extract()?;
        let f = p.getattr("flags")?;
        let want_one = f.getattr("c_contiguous")?.is_truthy()? || f.getattr("f_contiguous")?.is_truthy()?;
        let want_writeable = f.getattr("writeable")?.is_truthy()?;
        if !dims_ok
            || (flags & ONE_SEGMENT != 0) != want_one
            || (flags & WRITEABLE != 0) != want_writeable
            || num != want_num
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
    let (addr, size, flags, num, order) = unsafe { head(obj) };
    let Some(dt) = by_type_num(num) else { return Ok(Class::new(OTHER_DTYPE, None, 0, 0)) };
    // NumPy's byte order characters: '=' native, '|' not applicable, '<' / '>' explicit (a descriptor in the
    // machine's order is normalized to '=', but '<' on a little-endian machine is native too).
    let swapped = order as u8 == if cfg!(target_endian = "little") { b'>' } else { b'<' };
    if flags & ONE_SEGMENT == 0 {
        return Ok(Class::new(STRIDED, Some(dt), 0, 0).byte_order(swapped));
    }
    Ok(Class::new(ARRAY, Some(dt), addr, size).byte_order(swapped).writeable(flags & WRITEABLE != 0))
}

/// [`classify`] by the slow way (Python-level attributes) or the fast way, as `(type code or 0, with 65536
/// added for the other byte order, state, addr, size)`: for tests that hold the two ways against each other and
/// against NumPy.
pub(crate) fn classify_for_test(obj: &Bound<'_, PyAny>, slow: bool) -> PyResult<(u32, u32, usize, usize)> {
    let (nd, _) = ndarray_type(obj.py())?;
    // SAFETY: both are live objects; PyObject_TypeCheck only reads their types.
    let c = if slow && unsafe { ffi::PyObject_TypeCheck(obj.as_ptr(), nd.as_type_ptr()) } != 0 {
        classify_slow(obj)?
    } else {
        classify(obj)?
    };
    Ok((c.code & !READ_ONLY, c.state, c.addr, c.size))
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
