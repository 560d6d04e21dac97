"""NumPy views of symmetric memory and array-friendly helpers.

``array``/``zeros`` are collective allocations returned as ndarrays that view the symmetric heap (no copy);
``peer_array`` views a same-node peer's copy. The garbage collector never frees symmetric memory: free
arrays with ``free`` (collective), or let ``aclshmem_finalize`` release everything. An array used after
``free`` still points at heap memory that a later allocation may reuse; after finalize its memory is no
longer shared but stays readable and writable until the array is garbage collected (never a crash).
NumPy arrays support ``__dlpack__``, so ``np.from_dlpack(a)`` and ``torch.from_dlpack(a)`` share the memory.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Optional, Sequence, Union

from . import _shmem
from ._types import INVALID_PARAM, SIGNAL_SET

_WAIT_TYPES = {
    "int8": "int8", "uint8": "uint8", "int16": "int16", "uint16": "uint16", "int32": "int32",
    "uint32": "uint32", "int64": "int64", "uint64": "uint64", "float32": "float", "float64": "double",
}


def _np():
    import numpy

    return numpy


def _shape(shape: Union[int, Sequence[int]]) -> tuple:
    """``shape`` as a tuple of ints: ints and integer-like objects (``operator.index``), never a truncated float."""
    try:
        shape = (operator.index(shape),)
    except TypeError:
        try:
            shape = tuple(operator.index(s) for s in shape)
        except TypeError:
            raise TypeError(f"shape must be an int or a sequence of ints, not {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    return shape


def _dtype(dtype: Any) -> Any:
    """``dtype`` as a NumPy dtype that can view raw memory: object dtypes (and those holding objects) and
    zero-itemsize ones are ShmemError(INVALID_PARAM), before anything is allocated."""
    dt = _np().dtype(dtype)
    if dt.hasobject or dt.itemsize == 0:
        e = _shmem.ShmemError(f"dtype {dt} cannot view symmetric memory (it holds Python objects or has no size) "
                              f"(INVALID_PARAM {INVALID_PARAM})")
        e.code = INVALID_PARAM
        raise e
    return dt


def _view(block: Any, dt: Any, count: int, shape: tuple) -> Any:
    """The ndarray over a new ``block``; the block is freed (collectively) when the view cannot be made."""
    try:
        return _np().frombuffer(block, dtype=dt, count=count).reshape(shape)
    except BaseException:
        _shmem.aclshmem_free(block)
        raise


def array(shape: Union[int, Sequence[int]], dtype: Any = float, *, align: int = 64) -> Any:
    """Collectively allocates an uninitialized symmetric ndarray (every PE calls it with the same shape and
    dtype). It views this PE's heap without a copy; ``peer_array`` views a peer's copy."""
    dt = _dtype(dtype)
    shape = _shape(shape)
    count = math.prod(shape)
    block = _shmem._alloc_block(count * dt.itemsize, max(align, dt.alignment), False)
    return _view(block, dt, count, shape)


def zeros(shape: Union[int, Sequence[int]], dtype: Any = float) -> Any:
    """Like ``array``, zeroed on every PE before it returns (so peers may put into it at once)."""
    dt = _dtype(dtype)
    shape = _shape(shape)
    count = math.prod(shape)
    block = _shmem._alloc_block(count * dt.itemsize, 16, True)
    return _view(block, dt, count, shape)


def is_symmetric(arr: Any) -> bool:
    """Whether ``arr`` views symmetric memory made by ``array``/``zeros``/``peer_array``."""
    return _shmem._block_of(arr) is not None


def peer_array(arr: Any, pe: int) -> Optional[Any]:
    """An ndarray viewing ``pe``'s copy of the symmetric ``arr`` (same shape, dtype and strides), or None when
    ``pe`` is not on this node. Loads and stores go straight to the peer's memory."""
    np = _np()
    peer = _shmem._peer_block(arr, pe)  # ShmemError(INVALID_PARAM) unless arr views this PE's heap
    if peer is None:
        return None
    block = _shmem._block_of(arr)
    offset = arr.__array_interface__["data"][0] - block.addr
    return np.ndarray(arr.shape, dtype=arr.dtype, buffer=peer, offset=offset, strides=arr.strides)


def _nbytes(obj: Any) -> int:
    return memoryview(obj).nbytes


def put(dst: Any, src: Any, pe: int, *, nbi: bool = False) -> None:
    """Puts all of ``src`` (any buffer) into the symmetric ``dst`` (array or address) on ``pe``."""
    n = _nbytes(src)
    (_shmem.aclshmem_putmem_nbi if nbi else _shmem.aclshmem_putmem)(dst, src, n, pe)


def get(dst: Any, src: Any, pe: int, *, nbi: bool = False) -> None:
    """Fills all of the local ``dst`` (writable buffer) from the symmetric ``src`` on ``pe``."""
    n = _nbytes(dst)
    (_shmem.aclshmem_getmem_nbi if nbi else _shmem.aclshmem_getmem)(dst, src, n, pe)


def put_signal(dst: Any, src: Any, sig: Any, signal: int, pe: int, *, sig_op: int = SIGNAL_SET,
               nbi: bool = False) -> None:
    """Puts all of ``src`` into ``dst`` on ``pe``, then updates the 64-bit signal ``sig`` there."""
    n = _nbytes(src)
    fn = _shmem.aclshmemx_putmem_signal_nbi if nbi else _shmem.aclshmemx_putmem_signal
    fn(dst, src, n, sig, signal, sig_op, pe)


def _typed(arr: Any, op: str):
    name = _WAIT_TYPES.get(str(getattr(arr, "dtype", "")))
    if name is None:
        raise TypeError(f"wait/test need an array of a SHMEM wait type ({', '.join(_WAIT_TYPES)}), "
                        f"not {getattr(arr, 'dtype', type(arr).__name__)}")
    return getattr(_shmem, f"aclshmem_{name}_{op}")


def wait_until(ivars: Any, cmp: int, value: Any) -> None:
    """Waits until every element of the symmetric array ``ivars`` compares true against ``value``."""
    size = int(ivars.size)
    if size == 1:
        _typed(ivars, "wait_until")(ivars, cmp, value)
    else:
        _typed(ivars, "wait_until_all")(ivars, size, None, cmp, value)


def test(ivars: Any, cmp: int, value: Any) -> bool:
    """Whether every element of ``ivars`` compares true against ``value`` now."""
    return bool(_typed(ivars, "test_all")(ivars, int(ivars.size), None, cmp, value))
