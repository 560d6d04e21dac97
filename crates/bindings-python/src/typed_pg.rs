//! Single-element typed put and get, `aclshmem_<TYPE>_p(dst, value, pe)` and `aclshmem_<TYPE>_g(src, pe)`, for
//! every TYPE of upstream's extension: half, float, double, int8..int64, uint8..uint64, char, bfloat16.
//!
//! Values are Python numbers converted to the TYPE (an int out of its range is OverflowError, as for the
//! other typed calls); `half`/`bfloat16` round a float to nearest-even. `char` takes a one-character str (code
//! point < 256), a one-byte bytes or an int in -128..=255, and `_g` returns a one-character str, as upstream's
//! pybind `char` does. Both complete before they return (`_p` is a blocking put of one element).

use crate::buffer::{PeArg, Sym};
use crate::error::{invalid, ResultExt};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// Puts the `N` bytes of one element to the symmetric `dst` on `pe`.
fn put_bytes<const N: usize>(dst: Sym, bytes: [u8; N], pe: i64) -> PyResult<()> {
    dst.need(N, "dst")?;
    // SAFETY: `bytes` is a live local array of N readable bytes for the whole call.
    unsafe { shmem::api::putmem(dst.addr, bytes.as_ptr(), N, pe) }.py()
}

/// Gets the `N` bytes of one element from the symmetric `src` on `pe`.
fn get_bytes<const N: usize>(src: Sym, pe: i64) -> PyResult<[u8; N]> {
    src.need(N, "src")?;
    let mut out = [0u8; N];
    // SAFETY: `out` is a live local array of N writable bytes for the whole call.
    unsafe { shmem::api::getmem(out.as_mut_ptr(), src.addr, N, pe) }.py()?;
    Ok(out)
}

macro_rules! typed_pg {
    ($($name:ident: $t:ident, $bytes:literal, $class:ident;)*) => {
        $( typed_pg!(@$class $name, $t); )*
        fn register_table(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $( typed_pg!(@register $class m, $name); )*
            Ok(())
        }
    };
    (@register char $m:ident, $name:ident) => {
        $m.add_function(wrap_pyfunction!(aclshmem_char_p, $m)?)?;
        $m.add_function(wrap_pyfunction!(aclshmem_char_g, $m)?)?;
    };
    (@register $class:ident $m:ident, $name:ident) => { paste::paste! {
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _p>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _g>], $m)?)?;
    }};
    // One byte taken as a one-character string: written by hand below.
    (@char $name:ident, $t:ident) => {};
    (@half16 $name:ident, $t:ident) => { paste::paste! {
        #[doc = concat!("Puts one ", stringify!($name), " value (`value` rounded to nearest-even) into `dst` on `pe`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _p>](dst: Sym, value: f64, pe: PeArg) -> PyResult<()> {
            put_bytes(dst, half::$t::from_f64(value).to_ne_bytes(), pe.0)
        }
        #[doc = concat!("Gets one ", stringify!($name), " value from `src` on `pe`, as a float.")]
        #[pyfunction]
        fn [<aclshmem_ $name _g>](src: Sym, pe: PeArg) -> PyResult<f64> {
            Ok(half::$t::from_ne_bytes(get_bytes(src, pe.0)?).to_f64())
        }
    }};
    (@num $name:ident, $t:ty) => { paste::paste! {
        #[doc = concat!("Puts one ", stringify!($name), " `value` into the symmetric `dst` on `pe` (blocking).")]
        #[pyfunction]
        fn [<aclshmem_ $name _p>](dst: Sym, value: $t, pe: PeArg) -> PyResult<()> {
            put_bytes(dst, value.to_ne_bytes(), pe.0)
        }
        #[doc = concat!("Gets one ", stringify!($name), " from the symmetric `src` on `pe`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _g>](src: Sym, pe: PeArg) -> PyResult<$t> {
            Ok(<$t>::from_ne_bytes(get_bytes(src, pe.0)?))
        }
    }};
}

shmem_core::for_each_rma_type!(typed_pg);

/// The byte a `char` argument stands for.
fn char_byte(value: &Bound<'_, PyAny>) -> PyResult<u8> {
    if let Ok(s) = value.cast::<PyString>() {
        let s = s.to_str()?;
        let mut it = s.chars();
        return match (it.next(), it.next()) {
            (Some(c), None) if (c as u32) < 256 => Ok(c as u32 as u8),
            _ => Err(invalid(format!("a char must be one character with a code point below 256, not {s:?}"))),
        };
    }
    if let Ok(b) = value.cast::<PyBytes>() {
        return match b.as_bytes() {
            [x] => Ok(*x),
            other => Err(invalid(format!("a char must be one byte, not {} bytes", other.len()))),
        };
    }
    let v: i64 = value.extract()?;
    match v {
        -128..=-1 => Ok(v as i8 as u8),
        0..=255 => Ok(v as u8),
        _ => Err(pyo3::exceptions::PyOverflowError::new_err(format!("char value {v} is outside -128..=255"))),
    }
}

/// Puts one char (a one-character str, one byte, or an int in -128..=255) into `dst` on `pe`.
#[pyfunction]
fn aclshmem_char_p(dst: Sym, value: &Bound<'_, PyAny>, pe: PeArg) -> PyResult<()> {
    put_bytes(dst, [char_byte(value)?], pe.0)
}

/// Gets one char from `src` on `pe`, as a one-character str.
#[pyfunction]
fn aclshmem_char_g(src: Sym, pe: PeArg) -> PyResult<String> {
    let [b] = get_bytes::<1>(src, pe.0)?;
    Ok(char::from(b).to_string())
}

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    register_table(m)
}
