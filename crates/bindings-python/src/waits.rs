//! The point-to-point synchronization families: `aclshmem_{TYPE}_wait*` and `aclshmem_{TYPE}_test*` for every
//! TYPE, plus the signal waits. One macro emits the type matrix; the behaviour lives in generic helpers.
//!
//! Waits are the runtime's limited waits run in slices by [`wait_in_slices`]: the GIL is released while waiting and
//! Ctrl-C interrupts them. Conventions (api.md): `status` masks out element i where `status[i] != 0`;
//! `_any` returns the index (-1 when none, or every element is masked); `_some` returns the count and writes
//! the indices (as size_t / uint64) into `indices` (required); `res_out`, when given (a writable buffer or a
//! heap int), also receives the result: a C int (1/0) for `test`/`test_all`, a size_t for `_any`/`_some`.
//! NULL — `None` or the int 0 — for `res_out` means "no output stored", for `status` "no mask" (api.md).
//! Every output is checked before the call waits or reads anything.

use crate::blocking::wait_in_slices;
use crate::buffer::{read_values, with_local, Access, Count, I32Arg, Sym};
use crate::error::{invalid, ResultExt};
use crate::state;
use pyo3::prelude::*;
use pyo3::types::PyInt;
use shmem::waits;
use shmem_sync::WaitValue;

type Opt<'a, 'py> = Option<&'a Bound<'py, PyAny>>;

/// Whether `o` is a NULL pointer argument: `None` or the int 0 (api.md, "NULL in Python").
fn is_null(o: &Bound<'_, PyAny>) -> bool {
    o.is_none() || o.cast::<PyInt>().is_ok_and(|i| i.extract::<u64>().is_ok_and(|v| v == 0))
}

/// An optional pointer argument (`res_out_ptr`, `status_ptr`): `None` when omitted or NULL.
fn given<'a, 'py>(o: Opt<'a, 'py>) -> Option<&'a Bound<'py, PyAny>> {
    o.filter(|o| !is_null(o))
}

/// Checks the ivars argument for `n` elements of `T` (they must fit in the heap, which also bounds every
/// per-element allocation of the call); returns the address.
fn ivars<T>(ivars: Sym, n: usize) -> PyResult<usize> {
    let bytes = n.checked_mul(std::mem::size_of::<T>()).ok_or_else(|| invalid(format!("nelems {n} overflows")))?;
    ivars.need(bytes, "ivars")?;
    let heap = state::heap().map_or(0, |(_, len)| len);
    if bytes > heap {
        return Err(invalid(format!("nelems {n} ({bytes} B) exceeds the symmetric heap ({heap} B)")));
    }
    Ok(ivars.addr)
}

fn status_of(status: Opt<'_, '_>, n: usize) -> PyResult<Option<Vec<i32>>> {
    given(status).map(|s| read_values::<i32>(s, n, "status")).transpose()
}

/// Checks, before the call does anything, that a given `res_out` can take `width` bytes.
fn check_res_out(res_out: Opt<'_, '_>, width: usize) -> PyResult<()> {
    match given(res_out) {
        Some(r) => with_local(r, Access::Write, "res_out", |span| span.need(width, "res_out")),
        None => Ok(()),
    }
}

fn store(res_out: Opt<'_, '_>, bytes: &[u8]) -> PyResult<()> {
    match given(res_out) {
        Some(r) => with_local(r, Access::Write, "res_out", |span| span.write(bytes, "res_out")),
        None => Ok(()),
    }
}

fn store_flag(res_out: Opt<'_, '_>, v: bool) -> PyResult<i64> {
    store(res_out, &i32::from(v).to_ne_bytes())?;
    Ok(i64::from(v))
}

fn store_index(res_out: Opt<'_, '_>, idx: Option<usize>) -> PyResult<i64> {
    store(res_out, &idx.map_or(u64::MAX, |i| i as u64).to_ne_bytes())?;
    Ok(idx.map_or(-1, |i| i as i64))
}

/// The required `indices` output of a `_some` call, checked (before a wait starts) to take `n` size_t entries.
/// NULL (`None` or 0) is refused: api.md keeps this output required.
fn indices_of<'a, 'py>(indices: Opt<'a, 'py>, n: usize) -> PyResult<&'a Bound<'py, PyAny>> {
    let i = given(indices).ok_or_else(|| {
        invalid("indices_ptr is required: pass a writable buffer of nelems size_t (e.g. np.zeros(n, np.uint64))")
    })?;
    with_local(i, Access::Write, "indices", |span| span.need(n.saturating_mul(8), "indices"))?;
    Ok(i)
}

fn store_some(indices: &Bound<'_, PyAny>, res_out: Opt<'_, '_>, hits: &[usize]) -> PyResult<i64> {
    let bytes: Vec<u8> = hits.iter().flat_map(|&h| (h as u64).to_ne_bytes()).collect();
    with_local(indices, Access::Write, "indices", |span| span.write(&bytes, "indices"))?;
    store(res_out, &(hits.len() as u64).to_ne_bytes())?;
    Ok(hits.len() as i64)
}

/// The comparison values of a `_vector` call: `cmp_values`, or (in the short form) `cmp_val` when
/// `cmp_values` is omitted.
fn vector_values<'py, T>(cmp_val: &Bound<'py, PyAny>, cmp_values: Opt<'_, 'py>, n: usize) -> PyResult<Vec<T>>
where
    T: WaitValue + Default + for<'a> FromPyObject<'a, 'py>,
{
    read_values::<T>(given(cmp_values).unwrap_or(cmp_val), n, "cmp_values")
}

/// Parses the comparison code once, here at the edge; the typed value goes down (nothing parses it again).
fn check_cmp(cmp: i32) -> PyResult<shmem::CmpOp> {
    shmem::CmpOp::from_code(cmp).py()
}

fn wait_until<T: WaitValue>(py: Python<'_>, ivar: Sym, cmp: i32, v: T) -> PyResult<()> {
    let a = ivars::<T>(ivar, 1)?;
    let cmp = check_cmp(cmp)?;
    wait_in_slices(py, |slice| waits::wait_until_timeout::<T>(a, cmp, v, slice)).map(|_| ())
}

/// The comparison operand(s) of a family call: one value for every element, or one per element.
enum Vals<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: WaitValue> Vals<T> {
    /// The values as the runtime's limited waits take them: one for every element, or one per element.
    fn as_slice(&self) -> &[T] {
        match self {
            Vals::One(v) => std::slice::from_ref(v),
            Vals::Many(v) => v,
        }
    }
}

fn wait_all<T: WaitValue>(
    py: Python<'_>,
    a: usize,
    n: usize,
    st: Option<Vec<i32>>,
    cmp: i32,
    vals: Vals<T>,
) -> PyResult<()> {
    let cmp = check_cmp(cmp)?;
    let (st, vals) = (st.as_deref(), vals.as_slice());
    wait_in_slices(py, |slice| {
        waits::wait_until_all_timeout::<T>(a, n, st, cmp, vals, slice).map(|ok| ok.then_some(()))
    })
}

fn wait_any<T: WaitValue>(
    py: Python<'_>,
    a: usize,
    n: usize,
    st: Option<Vec<i32>>,
    cmp: i32,
    vals: Vals<T>,
) -> PyResult<Option<usize>> {
    let cmp = check_cmp(cmp)?;
    let (st, vals) = (st.as_deref(), vals.as_slice());
    wait_in_slices(py, |slice| waits::wait_until_any_timeout::<T>(a, n, st, cmp, vals, slice))
}

fn wait_some<T: WaitValue>(
    py: Python<'_>,
    a: usize,
    n: usize,
    st: Option<Vec<i32>>,
    cmp: i32,
    vals: Vals<T>,
) -> PyResult<Vec<usize>> {
    let cmp = check_cmp(cmp)?;
    let (st, vals) = (st.as_deref(), vals.as_slice());
    wait_in_slices(py, |slice| waits::wait_until_some_timeout::<T>(a, n, st, cmp, vals, slice))
}

macro_rules! wait_family {
    ($($name:ident: $t:ty => $u:ty;)*) => { paste::paste! { $(
        #[doc = concat!("Waits until the `", stringify!($t), "` at the symmetric `ivar` compares true (`cmp`, a CMP_* \
                         constant) against `cmp_val`. The GIL is released; Ctrl-C interrupts.")]
        #[pyfunction]
        fn [<aclshmem_ $name _wait_until>](py: Python<'_>, ivar: Sym, cmp: I32Arg, cmp_val: $t) -> PyResult<()> {
            wait_until::<$t>(py, ivar, cmp.0, cmp_val)
        }

        #[doc = concat!("Waits until the `", stringify!($t), "` at `ivar` differs from `cmp_val`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _wait>](py: Python<'_>, ivar: Sym, cmp_val: $t) -> PyResult<()> {
            wait_until::<$t>(py, ivar, shmem::CmpOp::Ne as i32, cmp_val)
        }

        #[doc = concat!("Waits until every unmasked `", stringify!($t), "` of `ivars[:nelems]` compares true against \
                         `cmp_val` (`status[i] != 0` masks element i; None masks nothing).")]
        #[pyfunction]
        fn [<aclshmem_ $name _wait_until_all>](py: Python<'_>, ivars_ptr: Sym, nelems: Count, status_ptr: Opt<'_, '_>,
                                               cmp: I32Arg, cmp_val: $t) -> PyResult<()> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            wait_all::<$t>(py, a, nelems.0, status_of(status_ptr, nelems.0)?, cmp.0, Vals::One(cmp_val))
        }

        #[doc = concat!("Waits until some unmasked `", stringify!($t), "` of `ivars` compares true; returns its index \
                         (-1 when every element is masked) and stores it (size_t) in `res_out_ptr` when given.")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, status_ptr, cmp, cmp_val, res_out_ptr=None))]
        fn [<aclshmem_ $name _wait_until_any>](py: Python<'_>, ivars_ptr: Sym, nelems: Count, status_ptr: Opt<'_, '_>,
                                               cmp: I32Arg, cmp_val: $t, res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let st = status_of(status_ptr, nelems.0)?;
            let r = wait_any::<$t>(py, a, nelems.0, st, cmp.0, Vals::One(cmp_val))?;
            store_index(res_out_ptr, r)
        }

        #[doc = concat!("Waits until at least one unmasked `", stringify!($t), "` of `ivars` compares true; writes the \
                         satisfying indices (size_t) into `indices_ptr` (required) and returns their count (also \
                         stored in `res_out_ptr` when given).")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, indices_ptr, status_ptr, cmp, cmp_val, res_out_ptr=None))]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmem_ $name _wait_until_some>](py: Python<'_>, ivars_ptr: Sym, nelems: Count, indices_ptr: Opt<'_, '_>,
                                                status_ptr: Opt<'_, '_>, cmp: I32Arg, cmp_val: $t,
                                                res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            let idx = indices_of(indices_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let st = status_of(status_ptr, nelems.0)?;
            let hits = wait_some::<$t>(py, a, nelems.0, st, cmp.0, Vals::One(cmp_val))?;
            store_some(idx, res_out_ptr, &hits)
        }

        #[doc = concat!("Waits until every unmasked `ivars[i]` (", stringify!($t), ") compares true against \
                         `cmp_values[i]` (a sequence, a buffer or a heap address).")]
        #[pyfunction]
        fn [<aclshmem_ $name _wait_until_all_vector>](py: Python<'_>, ivars_ptr: Sym, nelems: Count,
                                                      status_ptr: Opt<'_, '_>, cmp: I32Arg,
                                                      cmp_values_ptr: &Bound<'_, PyAny>) -> PyResult<()> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            let vals = read_values::<$t>(cmp_values_ptr, nelems.0, "cmp_values")?;
            wait_all::<$t>(py, a, nelems.0, status_of(status_ptr, nelems.0)?, cmp.0, Vals::Many(vals))
        }

        #[doc = concat!("Waits until some unmasked `ivars[i]` (", stringify!($t), ") compares true against \
                         `cmp_values[i]`; returns the index (-1 when all are masked). The seed's signature passes \
                         an unused `cmp_val` before `cmp_values_ptr`; the short form `(ivars, n, status, cmp, \
                         values)` works too.")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, status_ptr, cmp, cmp_val, cmp_values_ptr=None, res_out_ptr=None))]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmem_ $name _wait_until_any_vector>](py: Python<'_>, ivars_ptr: Sym, nelems: Count,
                                                      status_ptr: Opt<'_, '_>, cmp: I32Arg, cmp_val: &Bound<'_, PyAny>,
                                                      cmp_values_ptr: Opt<'_, '_>, res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let vals = vector_values::<$t>(cmp_val, cmp_values_ptr, nelems.0)?;
            let r = wait_any::<$t>(py, a, nelems.0, status_of(status_ptr, nelems.0)?, cmp.0, Vals::Many(vals))?;
            store_index(res_out_ptr, r)
        }

        #[doc = concat!("Waits until at least one unmasked `ivars[i]` (", stringify!($t), ") compares true against \
                         `cmp_values[i]`; writes the indices and returns their count.")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, indices_ptr, status_ptr, cmp, cmp_values_ptr, res_out_ptr=None))]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmem_ $name _wait_until_some_vector>](py: Python<'_>, ivars_ptr: Sym, nelems: Count,
                                                       indices_ptr: Opt<'_, '_>, status_ptr: Opt<'_, '_>, cmp: I32Arg,
                                                       cmp_values_ptr: &Bound<'_, PyAny>,
                                                       res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            let idx = indices_of(indices_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let vals = read_values::<$t>(cmp_values_ptr, nelems.0, "cmp_values")?;
            let hits = wait_some::<$t>(py, a, nelems.0, status_of(status_ptr, nelems.0)?, cmp.0, Vals::Many(vals))?;
            store_some(idx, res_out_ptr, &hits)
        }

        #[doc = concat!("Whether the `", stringify!($t), "` at `ivar` compares true against `cmp_value` now: 1 or 0 \
                         (also stored as a C int in `res_out_ptr` when given).")]
        #[pyfunction]
        #[pyo3(signature = (ivar, cmp, cmp_value, res_out_ptr=None))]
        fn [<aclshmem_ $name _test>](ivar: Sym, cmp: I32Arg, cmp_value: $t, res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivar, 1)?;
            check_res_out(res_out_ptr, 4)?;
            store_flag(res_out_ptr, waits::test::<$t>(a, cmp.0, cmp_value).py()?)
        }

        #[doc = concat!("Whether every unmasked `", stringify!($t), "` of `ivars` compares true against `cmp_value`: \
                         1 or 0.")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, status_ptr, cmp, cmp_value, res_out_ptr=None))]
        fn [<aclshmem_ $name _test_all>](ivars_ptr: Sym, nelems: Count, status_ptr: Opt<'_, '_>, cmp: I32Arg,
                                         cmp_value: $t, res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 4)?;
            let st = status_of(status_ptr, nelems.0)?;
            store_flag(res_out_ptr, waits::test_all::<$t>(a, nelems.0, st.as_deref(), cmp.0, cmp_value).py()?)
        }

        #[doc = concat!("The index of some unmasked `", stringify!($t), "` of `ivars` that compares true against \
                         `cmp_value`, or -1 (SIZE_MAX in `res_out_ptr`).")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, status_ptr, cmp, cmp_value, res_out_ptr=None))]
        fn [<aclshmem_ $name _test_any>](ivars_ptr: Sym, nelems: Count, status_ptr: Opt<'_, '_>, cmp: I32Arg,
                                         cmp_value: $t, res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let st = status_of(status_ptr, nelems.0)?;
            store_index(res_out_ptr, waits::test_any::<$t>(a, nelems.0, st.as_deref(), cmp.0, cmp_value).py()?)
        }

        #[doc = concat!("The count of unmasked `", stringify!($t), "` of `ivars` that compare true against \
                         `cmp_value`; their indices go to `indices_ptr` (required).")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, indices_ptr, status_ptr, cmp, cmp_value, res_out_ptr=None))]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmem_ $name _test_some>](ivars_ptr: Sym, nelems: Count, indices_ptr: Opt<'_, '_>,
                                          status_ptr: Opt<'_, '_>, cmp: I32Arg, cmp_value: $t,
                                          res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            let idx = indices_of(indices_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let st = status_of(status_ptr, nelems.0)?;
            let hits = waits::test_some::<$t>(a, nelems.0, st.as_deref(), cmp.0, cmp_value).py()?;
            store_some(idx, res_out_ptr, &hits)
        }

        #[doc = concat!("Whether every unmasked `ivars[i]` (", stringify!($t), ") compares true against \
                         `cmp_values[i]`: 1 or 0.")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, status_ptr, cmp, cmp_values_ptr, res_out_ptr=None))]
        fn [<aclshmem_ $name _test_all_vector>](ivars_ptr: Sym, nelems: Count, status_ptr: Opt<'_, '_>, cmp: I32Arg,
                                                cmp_values_ptr: &Bound<'_, PyAny>,
                                                res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 4)?;
            let vals = read_values::<$t>(cmp_values_ptr, nelems.0, "cmp_values")?;
            let st = status_of(status_ptr, nelems.0)?;
            store_flag(res_out_ptr, waits::test_all_vector::<$t>(a, nelems.0, st.as_deref(), cmp.0, &vals).py()?)
        }

        #[doc = concat!("The index of some unmasked `ivars[i]` (", stringify!($t), ") that compares true against \
                         `cmp_values[i]`, or -1. `cmp_val` is unused (the seed's signature); the short form \
                         `(ivars, n, status, cmp, values)` works too.")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, status_ptr, cmp, cmp_val, cmp_values_ptr=None, res_out_ptr=None))]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmem_ $name _test_any_vector>](ivars_ptr: Sym, nelems: Count, status_ptr: Opt<'_, '_>, cmp: I32Arg,
                                                cmp_val: &Bound<'_, PyAny>, cmp_values_ptr: Opt<'_, '_>,
                                                res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let vals = vector_values::<$t>(cmp_val, cmp_values_ptr, nelems.0)?;
            let st = status_of(status_ptr, nelems.0)?;
            store_index(res_out_ptr, waits::test_any_vector::<$t>(a, nelems.0, st.as_deref(), cmp.0, &vals).py()?)
        }

        #[doc = concat!("The count of unmasked `ivars[i]` (", stringify!($t), ") that compare true against \
                         `cmp_values[i]`; their indices go to `indices_ptr` (required).")]
        #[pyfunction]
        #[pyo3(signature = (ivars_ptr, nelems, indices_ptr, status_ptr, cmp, cmp_values_ptr, res_out_ptr=None))]
        #[allow(clippy::too_many_arguments)]
        fn [<aclshmem_ $name _test_some_vector>](ivars_ptr: Sym, nelems: Count, indices_ptr: Opt<'_, '_>,
                                                 status_ptr: Opt<'_, '_>, cmp: I32Arg,
                                                 cmp_values_ptr: &Bound<'_, PyAny>,
                                                 res_out_ptr: Opt<'_, '_>) -> PyResult<i64> {
            let a = ivars::<$t>(ivars_ptr, nelems.0)?;
            let idx = indices_of(indices_ptr, nelems.0)?;
            check_res_out(res_out_ptr, 8)?;
            let vals = read_values::<$t>(cmp_values_ptr, nelems.0, "cmp_values")?;
            let st = status_of(status_ptr, nelems.0)?;
            let hits = waits::test_some_vector::<$t>(a, nelems.0, st.as_deref(), cmp.0, &vals).py()?;
            store_some(idx, res_out_ptr, &hits)
        }
    )*

        /// Registers the wait/test matrix.
        fn register_matrix(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait_until>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait_until_all>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait_until_any>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait_until_some>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait_until_all_vector>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait_until_any_vector>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _wait_until_some_vector>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _test>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _test_all>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _test_any>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _test_some>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _test_all_vector>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _test_any_vector>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _test_some_vector>], m)?)?;
            )*
            Ok(())
        }
    } };
}

shmem_core::for_each_wait_type!(wait_family);

/// Waits until the 64-bit signal at `sig_addr` compares true against `cmp_val`; returns the signal value
/// that satisfied it. The GIL is released; Ctrl-C interrupts.
#[pyfunction]
fn aclshmem_signal_wait_until(py: Python<'_>, sig_addr: Sym, cmp: I32Arg, cmp_val: u64) -> PyResult<u64> {
    sig_addr.need(8, "sig_addr")?;
    let op = shmem::CmpOp::from_code(cmp.0).py()?;
    let a = sig_addr.addr;
    wait_in_slices(py, |slice| waits::signal_wait_until_timeout(a, op, cmp_val, slice))
}

/// Reads the 64-bit signal at `sig_addr` atomically.
#[pyfunction]
fn aclshmem_signal_fetch(sig_addr: Sym) -> PyResult<u64> {
    sig_addr.need(8, "sig_addr")?;
    waits::signal_fetch(sig_addr.addr).py()
}

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    register_matrix(m)?;
    m.add_function(wrap_pyfunction!(aclshmem_signal_wait_until, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_signal_fetch, m)?)?;
    Ok(())
}
