//! Unique-ID start-up from Python: `UniqueId`, `aclshmem_get_unique_id()` and
//! `aclshmem_init_using_unique_id(mype, npes, mem_size, uid)`, as upstream's extension has them.
//!
//! The ID is made on PE 0 (which binds the store's port then, see `shmem::uid`), passed to the other PEs by
//! the program's own channel (pickle, `torch.distributed.broadcast_object_list`, a file), and every PE inits
//! with it; its secret authenticates the job's connections.

use crate::error::{invalid, ResultExt};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use shmem::uid::{self, UID_INNER_LEN, UID_VERSION};

/// Bytes of `bytes(uid)`: upstream's `sizeof(aclshmemx_uniqueid_t)`, three int32 and the internal bytes.
const UID_SERIALIZED_LEN: usize = 12 + UID_INNER_LEN;

/// An opaque unique ID for `aclshmem_init_using_unique_id`, made by `aclshmem_get_unique_id` on one process.
/// Picklable; `bytes(uid)` is upstream's 136-byte layout (version, my_pe, n_pes as little-endian int32, then
/// the 124 `internal` bytes), and it iterates and measures as those bytes, so `list(uid)` /
/// `torch.tensor(list(uid))` work as with upstream's bytes. `UniqueId.from_bytes(b)` takes them back (bytes
/// after the first 136 are ignored, as upstream does, so a padded broadcast buffer works). `UniqueId()` is an
/// empty ID whose `internal` bytes may be set (upstream's way to rebuild a received ID).
#[pyclass(module = "shmem._shmem", name = "UniqueId", eq)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PyUniqueId {
    /// Layout version (upstream's magic: `(1 << 16) + internal length`).
    #[pyo3(get, set)]
    version: i32,
    /// Kept for upstream's layout; unused.
    #[pyo3(get, set)]
    my_pe: i32,
    /// Kept for upstream's layout; unused.
    #[pyo3(get, set)]
    n_pes: i32,
    internal: Vec<u8>,
}

impl PyUniqueId {
    fn of(id: &uid::UniqueId) -> PyUniqueId {
        PyUniqueId { version: UID_VERSION, my_pe: -1, n_pes: -1, internal: id.to_bytes() }
    }

    /// Upstream's layout: version, my_pe, n_pes (little-endian int32), internal.
    fn serialized(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(UID_SERIALIZED_LEN);
        for v in [self.version, self.my_pe, self.n_pes] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.internal);
        out
    }

    /// Parses upstream's layout (bytes beyond it ignored).
    fn parse(data: &[u8]) -> PyResult<PyUniqueId> {
        if data.len() < UID_SERIALIZED_LEN {
            return Err(invalid(format!(
                "a unique ID has {UID_SERIALIZED_LEN} bytes, these are only {} (not from aclshmem_get_unique_id?)",
                data.len()
            )));
        }
        let word = |i: usize| i32::from_le_bytes([data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]]);
        let id = PyUniqueId {
            version: word(0),
            my_pe: word(1),
            n_pes: word(2),
            internal: data[12..UID_SERIALIZED_LEN].to_vec(),
        };
        id.decode()?;
        Ok(id)
    }

    /// The runtime's ID this object encodes.
    pub(crate) fn decode(&self) -> PyResult<uid::UniqueId> {
        if self.version != UID_VERSION {
            return Err(invalid(format!("unique ID version {:#x} is not {UID_VERSION:#x}", self.version)));
        }
        uid::UniqueId::from_bytes(&self.internal).py()
    }
}

#[pymethods]
impl PyUniqueId {
    #[new]
    fn new() -> Self {
        PyUniqueId { version: UID_VERSION, my_pe: -1, n_pes: -1, internal: vec![0; UID_INNER_LEN] }
    }

    /// The encoded ID: exactly `UID_INNER_LEN` (124) bytes.
    #[getter]
    fn internal<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.internal)
    }

    #[setter]
    fn set_internal(&mut self, value: &[u8]) -> PyResult<()> {
        if value.len() != UID_INNER_LEN {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "internal must be exactly {UID_INNER_LEN} bytes, not {}",
                value.len()
            )));
        }
        self.internal = value.to_vec();
        Ok(())
    }

    /// Rebuilds an ID from `bytes(uid)` (extra trailing bytes ignored); raises ShmemError(INVALID_PARAM) for
    /// bytes that are not one.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<PyUniqueId> {
        PyUniqueId::parse(data)
    }

    /// Upstream's 136-byte layout (as `bytes(uid)`).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.serialized())
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        self.to_bytes(py)
    }

    fn __len__(&self) -> usize {
        UID_SERIALIZED_LEN
    }

    /// Iterates the bytes of `bytes(uid)` as ints (so `list(uid)` is what upstream's bytes give).
    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.to_bytes(py).try_iter().map(Bound::into_any)
    }

    /// Pickles as the class, the version and the encoded bytes.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let me = slf.borrow();
        let args = (me.version, me.my_pe, me.n_pes, PyBytes::new(py, &me.internal));
        let rebuild = py.import("shmem._shmem")?.getattr("_unique_id_rebuild")?;
        PyTuple::new(py, [rebuild.into_any(), args.into_pyobject(py)?.into_any()])
    }

    fn __repr__(&self) -> String {
        match self.decode() {
            Ok(id) => format!("UniqueId(store={}, interface={:?})", id.url(), id.interface()),
            Err(_) => "UniqueId(<empty>)".to_string(),
        }
    }
}

/// Unpickles a `UniqueId` (the target of its `__reduce__`).
#[pyfunction]
fn _unique_id_rebuild(version: i32, my_pe: i32, n_pes: i32, internal: &[u8]) -> PyResult<PyUniqueId> {
    let mut id = PyUniqueId::new();
    id.set_internal(internal)?;
    id.version = version;
    id.my_pe = my_pe;
    id.n_pes = n_pes;
    Ok(id)
}

/// Makes a unique ID for a new job; call it on the process that will be PE 0. It binds the store's port now
/// (`SHMEM_UID_SESSION_ID=host:port`, `SHMEM_UID_SOCK_IFNAME=<ifname>[:inet4|inet6]`, else loopback when the
/// launcher's variables say the job runs on one node, else the interface of the default route) and draws the
/// job's secret. The ID is a credential: hand it only to the job's ranks. Raises ShmemError (INVALID_PARAM
/// naming the candidate interfaces when none fits).
#[pyfunction]
fn aclshmem_get_unique_id(py: Python<'_>) -> PyResult<PyUniqueId> {
    let id = py.detach(uid::UniqueId::generate).py()?;
    Ok(PyUniqueId::of(&id))
}

/// The ID `uid` names: a `UniqueId` or its bytes.
pub(crate) fn uid_arg(uid: &Bound<'_, PyAny>) -> PyResult<uid::UniqueId> {
    if let Ok(u) = uid.cast::<PyUniqueId>() {
        return u.borrow().decode();
    }
    if let Ok(b) = uid.extract::<Vec<u8>>() {
        if !uid.is_instance_of::<pyo3::types::PyList>() {
            return PyUniqueId::parse(&b)?.decode();
        }
    }
    Err(pyo3::exceptions::PyTypeError::new_err("uid must be a UniqueId or the bytes of one"))
}

/// Initializes PE `mype` of `npes` with `mem_size` bytes of symmetric heap from the unique ID `uid` (a
/// `UniqueId` or its bytes, possibly padded, e.g. a broadcast `uint8` buffer), on every PE. The ID's secret authenticates the job's connections. Returns 0.
#[pyfunction]
fn aclshmem_init_using_unique_id(
    py: Python<'_>,
    mype: i64,
    npes: i64,
    mem_size: i64,
    uid: &Bound<'_, PyAny>,
) -> PyResult<i32> {
    let id = uid_arg(uid)?;
    let attr = id.init_attr(mype, npes, mem_size).py()?;
    crate::lifecycle::start(py, attr)
}

/// Registers this module's functions and classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyUniqueId>()?;
    m.add_function(wrap_pyfunction!(_unique_id_rebuild, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_get_unique_id, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_init_using_unique_id, m)?)?;
    Ok(())
}
