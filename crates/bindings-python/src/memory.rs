//! Symmetric allocation (collective), `ptr`, and `SymBlock`: the buffer object behind `shmem.array`.
//!
//! A `SymBlock` exports a range of the symmetric heap (this PE's, or a same-node peer's mapping) through the
//! buffer protocol, so `np.frombuffer(block, dtype)` views it without a copy and keeps the block alive. The
//! garbage collector never frees symmetric memory: dropping a block only updates the count of live arrays
//! (freeing is collective, so it happens only in `shmem.free` or at finalize). Each block holds a pin of its
//! runtime's heap (`shmem::api::HeapPin`, see `state`), so its memory stays mapped, even after finalize, while
//! Python can reach it; whether the block's runtime is still the current one is asked of that pin.

use crate::blocking::detached;
use crate::buffer::{Count, PeArg, Sym};
use crate::error::{invalid, shmem_err, ResultExt, NOT_INITED};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyInt;
use std::collections::BTreeMap;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// Collective `malloc`: every PE calls it with the same size. Returns the symmetric address (an int), or 0
/// for size 0. Raises ShmemError(MALLOC_FAILED) when the heap is too small.
#[pyfunction]
pub(crate) fn aclshmem_malloc(py: Python<'_>, size: Count) -> PyResult<usize> {
    Ok(detached(py, move || shmem::api::malloc(size.0 as u64))?.unwrap_or(0))
}

/// Collective `calloc`: `nmemb * size` bytes zeroed on every PE. Returns the address, or 0 for size 0.
#[pyfunction]
pub(crate) fn aclshmem_calloc(py: Python<'_>, nmemb: Count, size: Count) -> PyResult<usize> {
    Ok(detached(py, move || shmem::api::calloc(nmemb.0 as u64, size.0 as u64))?.unwrap_or(0))
}

/// Collective aligned allocation (`alignment` a power of two). Returns the address, or 0 for size 0.
#[pyfunction]
pub(crate) fn aclshmem_align(py: Python<'_>, alignment: Count, size: Count) -> PyResult<usize> {
    Ok(detached(py, move || shmem::api::align(alignment.0 as u64, size.0 as u64))?.unwrap_or(0))
}

/// Collective `free` of an address returned by malloc/calloc/align, or of an array from `shmem.array` (its
/// whole block). `free(0)` does nothing.
#[pyfunction]
pub(crate) fn aclshmem_free(py: Python<'_>, ptr: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Some(block) = find_block(ptr)? {
        return block.get().free(py);
    }
    let sym = Sym::from_obj(ptr, "ptr")?;
    if sym.addr == 0 && ptr.is_instance_of::<PyInt>() {
        return Ok(());
    }
    // An int naming a block that arrays still view frees it through that block, so that the arrays know it
    // is gone and a later `free(array)` is a clear error instead of a second free (of whatever was allocated
    // at that address since).
    if let Some(shared) = registered(sym.addr) {
        return shared.free(py);
    }
    detached(py, move || shmem::api::free(sym.addr))
}

/// An address of `pe`'s copy of the symmetric `ptr` that this process can load from and store to, or 0 when
/// `pe` is not on this node.
#[pyfunction]
pub(crate) fn aclshmem_ptr(ptr: Sym, peer: PeArg) -> PyResult<usize> {
    Ok(shmem::api::ptr(ptr.addr, peer.0).py()?.unwrap_or(0))
}

/// Walks `obj` and its `.base` chain (NumPy views, memoryviews) for the `SymBlock` behind it.
pub(crate) fn find_block<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, SymBlock>>> {
    let mut cur = obj.clone();
    for _ in 0..64 {
        if let Ok(b) = cur.cast::<SymBlock>() {
            return Ok(Some(b.clone()));
        }
        let next = match cur.getattr("base") {
            Ok(n) if !n.is_none() => n,
            _ => match cur.getattr("obj") {
                Ok(n) if !n.is_none() && !cur.is_instance_of::<PyInt>() => n,
                _ => return Ok(None),
            },
        };
        cur = next;
    }
    Ok(None)
}

/// What a block and every view made from it share: whether it was freed, and the runtime it belongs to. It
/// counts as one live block (see [`live_blocks`]) from allocation until it is freed or the last view of it is
/// gone.
#[derive(Debug)]
pub(crate) struct Shared {
    addr: usize,
    freed: AtomicBool,
    pin: shmem::api::HeapPin,
}

/// The blocks of the running runtime that Python still references, by address: `free(int)` of such an
/// address must mark the block freed (see [`aclshmem_free`]). Entries of dropped blocks are dead weak
/// references, replaced when the address is allocated again and cleared at finalize.
static BLOCKS: Mutex<BTreeMap<usize, Weak<Shared>>> = Mutex::new(BTreeMap::new());

/// The live, not yet freed block at `addr` of the running runtime, if Python still references one.
fn registered(addr: usize) -> Option<Arc<Shared>> {
    let mut blocks = BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
    let found = blocks.get(&addr).and_then(Weak::upgrade);
    match found {
        Some(s) if s.current() && !s.freed.load(Ordering::Acquire) => Some(s),
        _ => {
            blocks.remove(&addr);
            None
        }
    }
}

/// How many blocks of the current runtime Python still references and did not free (the arrays that
/// outlive a finalize now).
pub(crate) fn live_blocks() -> usize {
    let blocks = BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
    blocks.values().filter_map(Weak::upgrade).filter(|s| s.current() && !s.freed.load(Ordering::Acquire)).count()
}

/// Forgets every registered block (the runtime they belong to is going or gone).
pub(crate) fn forget_blocks() {
    BLOCKS.lock().unwrap_or_else(|e| e.into_inner()).clear();
}

impl Shared {
    fn current(&self) -> bool {
        self.pin.is_current()
    }

    /// The collective free of this block; a second free (through any array or the int) is INVALID_PARAM.
    fn free(&self, py: Python<'_>) -> PyResult<()> {
        if !self.current() {
            return Err(shmem_err(NOT_INITED, "this array's runtime was finalized; its memory is already released"));
        }
        if self.freed.swap(true, Ordering::AcqRel) {
            return Err(invalid(format!("the symmetric block at {:#x} was already freed", self.addr)));
        }
        let addr = self.addr;
        let r = detached(py, move || shmem::api::free(addr));
        if r.is_err() {
            self.freed.store(false, Ordering::Release);
        } else {
            BLOCKS.lock().unwrap_or_else(|e| e.into_inner()).remove(&addr);
        }
        r
    }
}

/// A range of symmetric memory exported through the buffer protocol (see the module docs).
#[pyclass(module = "shmem._shmem", frozen, weakref)]
pub(crate) struct SymBlock {
    addr: usize,
    nbytes: usize,
    /// `None` for this PE's own block; `Some(pe)` for a view of a peer's copy.
    peer: Option<i64>,
    /// The state of the allocation (a peer view shares its owner's).
    shared: Arc<Shared>,
}

impl SymBlock {
    fn free(&self, py: Python<'_>) -> PyResult<()> {
        if self.peer.is_some() {
            return Err(invalid("this array views a peer's copy; free the array it was made from"));
        }
        self.shared.free(py)
    }
}

#[pymethods]
impl SymBlock {
    /// Symmetric address of the block (for a peer view: the local address of the peer's copy).
    #[getter]
    fn addr(&self) -> usize {
        self.addr
    }

    /// Size in bytes.
    #[getter]
    fn nbytes(&self) -> usize {
        self.nbytes
    }

    /// The peer PE whose copy this views, or None for this PE's own block.
    #[getter]
    fn pe(&self) -> Option<i64> {
        self.peer
    }

    /// Whether the block was freed with `shmem.free` (or its runtime finalized).
    #[getter]
    fn freed(&self) -> bool {
        self.shared.freed.load(Ordering::Acquire) || !self.shared.current()
    }

    fn __repr__(&self) -> String {
        match self.peer {
            None => format!("SymBlock(addr={:#x}, nbytes={})", self.addr, self.nbytes),
            Some(pe) => format!("SymBlock(addr={:#x}, nbytes={}, pe={pe})", self.addr, self.nbytes),
        }
    }

    /// Exports the block as writable unsigned bytes.
    ///
    /// # Safety
    /// Called by CPython with a valid `view` to fill.
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(pyo3::exceptions::PyBufferError::new_err("null view"));
        }
        let (addr, len) = (slf.get().addr, slf.get().nbytes);
        // SAFETY: view is valid (CPython's contract); the memory [addr, addr+len) stays mapped while the block
        // lives (it holds a pin of the heap), and the export holds a reference to the block (obj = slf).
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(view, slf.as_ptr(), addr as *mut std::ffi::c_void, len as ffi::Py_ssize_t, 0, flags)
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

fn live_pin() -> PyResult<shmem::api::HeapPin> {
    shmem::api::pin_heap().map_err(|_| shmem_err(NOT_INITED, "shmem is not initialized: call aclshmem_init first"))
}

/// Collectively allocates a block of `nbytes` (at least 1) aligned to `alignment`, zeroed on every PE when
/// `zero` (then at most 16-byte alignment is guaranteed beyond the heap's), and wraps it.
#[pyfunction]
#[pyo3(signature = (nbytes, alignment=Count(64), zero=false))]
pub(crate) fn _alloc_block(py: Python<'_>, nbytes: Count, alignment: Count, zero: bool) -> PyResult<SymBlock> {
    let pin = live_pin()?;
    let n = nbytes.0.max(1) as u64;
    let al = alignment.0 as u64;
    let addr = detached(py, move || if zero { shmem::api::calloc(n, 1) } else { shmem::api::align(al, n) })?
        .ok_or_else(|| shmem_err(-8, "allocation returned no block"))?;
    let shared = Arc::new(Shared { addr, freed: AtomicBool::new(false), pin });
    BLOCKS.lock().unwrap_or_else(|e| e.into_inner()).insert(addr, Arc::downgrade(&shared));
    Ok(SymBlock { addr, nbytes: n as usize, peer: None, shared })
}

/// A view of `pe`'s copy of the block behind `arr` (an array from `shmem.array`/`zeros`, or its block; same
/// node only), or None when `pe`'s memory is not mapped here. Anything else is INVALID_PARAM.
#[pyfunction]
pub(crate) fn _peer_block(arr: &Bound<'_, PyAny>, pe: PeArg) -> PyResult<Option<SymBlock>> {
    let Some(block) = find_block(arr)? else {
        return Err(invalid("peer_array needs an array made by shmem.array/zeros (this one does not view the heap)"));
    };
    let b = block.get();
    if b.peer.is_some() {
        return Err(invalid("peer_array needs an array made by shmem.array/zeros, not a view of a peer's copy"));
    }
    if !b.shared.current() || b.shared.freed.load(Ordering::Acquire) {
        return Err(invalid("the array's block was freed or its runtime finalized"));
    }
    let Some(p) = shmem::api::ptr(b.addr, pe.0).py()? else {
        return Ok(None);
    };
    Ok(Some(SymBlock { addr: p, nbytes: b.nbytes, peer: Some(pe.0), shared: b.shared.clone() }))
}

/// The `SymBlock` behind an array (through its `.base` chain), or None.
#[pyfunction]
pub(crate) fn _block_of<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, SymBlock>>> {
    find_block(obj)
}

/// Registers this module's functions and classes.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<SymBlock>()?;
    m.add_function(wrap_pyfunction!(aclshmem_malloc, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_calloc, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_align, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_free, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ptr, m)?)?;
    m.add_function(wrap_pyfunction!(_alloc_block, m)?)?;
    m.add_function(wrap_pyfunction!(_peer_block, m)?)?;
    m.add_function(wrap_pyfunction!(_block_of, m)?)?;
    Ok(())
}
