//! `shmem.ShmemError`: the one exception of the module, carrying the numeric code of `api.md`.

use pyo3::prelude::*;
use pyo3::types::PyAnyMethods;

pyo3::create_exception!(
    _shmem,
    ShmemError,
    pyo3::exceptions::PyException,
    "A SHMEM call failed. `code` is the numeric error code of the API (INVALID_PARAM -1, INVALID_VALUE -2, \
     SMEM_ERROR -3, INNER_ERROR -4, NOT_INITED -5, BOOTSTRAP_ERROR -6, TIMEOUT_ERROR -7, MALLOC_FAILED -8, \
     NOT_SUPPORTED -100); the message says what was wrong and what to do."
);

/// `INVALID_PARAM`: a bad argument.
pub(crate) const INVALID_PARAM: i32 = -1;
/// `NOT_INITED`: the runtime is not running.
pub(crate) const NOT_INITED: i32 = -5;

/// The name of an error code, as `api.md` spells it.
pub(crate) fn code_name(code: i32) -> &'static str {
    match code {
        0 => "SUCCESS",
        -1 => "INVALID_PARAM",
        -2 => "INVALID_VALUE",
        -3 => "SMEM_ERROR",
        -4 => "INNER_ERROR",
        -5 => "NOT_INITED",
        -6 => "BOOTSTRAP_ERROR",
        -7 => "TIMEOUT_ERROR",
        -8 => "MALLOC_FAILED",
        -9 => "DL_FUNC_FAILED",
        -10 => "INNER_TIMEOUT",
        -11 => "UNDER_API_UNLOAD",
        -100 => "NOT_SUPPORTED",
        _ => "UNKNOWN",
    }
}

/// A `ShmemError` with `code` set and the code's name appended to the message.
#[cold]
pub(crate) fn shmem_err(code: i32, msg: impl std::fmt::Display) -> PyErr {
    Python::attach(|py| {
        let err = ShmemError::new_err(format!("{msg} ({} {code})", code_name(code)));
        let value = err.value(py);
        // Setting an attribute on a fresh exception instance cannot fail short of memory exhaustion; the
        // message still carries the code if it does.
        let _ = value.setattr("code", code);
        err
    })
}

/// An `INVALID_PARAM` error.
#[cold]
pub(crate) fn invalid(msg: impl std::fmt::Display) -> PyErr {
    shmem_err(INVALID_PARAM, msg)
}

/// Converts a runtime error into `ShmemError`.
#[cold]
pub(crate) fn from_shmem(e: shmem::Error) -> PyErr {
    shmem_err(e.code(), e)
}

/// `.py()` on runtime results: the error becomes a `ShmemError`.
pub(crate) trait ResultExt<T> {
    /// Maps the error into a `ShmemError`.
    fn py(self) -> PyResult<T>;
}

impl<T> ResultExt<T> for shmem::Result<T> {
    #[inline]
    fn py(self) -> PyResult<T> {
        self.map_err(from_shmem)
    }
}
