"""NumPy-level collectives: symmetric arrays in, symmetric arrays out.

Each function picks the typed ``aclshmem_<TYPE>_<collective>`` operation from the array's dtype and passes the
whole array (its ``size`` elements). ``dest`` may be given (a symmetric array viewing the heap, e.g. from
``shmem.zeros``); when it is omitted on a TEAM_WORLD call, a new symmetric array is allocated collectively and
returned (allocation is collective over every PE, so on another team ``dest`` is required). Every member must
pass arrays of the same dtype and count (``collect`` may differ in count); a mismatch raises ``ShmemError``
with code INVALID_VALUE (-2) on every member, a bad argument INVALID_PARAM (-1) on every member.

``np.longdouble`` is refused (TypeError): the runtime reduces ``long double`` as ``double``, so pass float64.

The functions are implemented in the extension (crates/bindings-python/src/np_collectives.rs): one call from
Python to the runtime, the dtype read from the array, so that a small collective costs little more than the
runtime's own work. Only allocating an omitted ``dest`` comes back here (``_dest``, ``_collect_dest``); a call
that allocated its ``dest`` and fails frees it again (on every PE: a failed collective fails on every member).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from . import _shmem
from ._numpy import zeros

TEAM_WORLD = _shmem.TEAM_WORLD

# shmem::collectives::ReduceOp codes are the positions in this tuple (the extension uses the same order).
OPS = ("and", "or", "xor", "max", "min", "sum", "prod")


def _error(msg: str, code: int = -1) -> Exception:
    e = _shmem.ShmemError(f"{msg} (INVALID_PARAM {code})")
    e.code = code
    return e


def _dest(dest: Optional[Any], team: Any, shape: Any, dtype: Any) -> Any:
    """``dest``, or a new zeroed symmetric array of ``shape`` and ``dtype`` (collective over every PE: only on
    TEAM_WORLD, INVALID_PARAM on another team)."""
    if dest is not None:
        return dest
    if team != TEAM_WORLD:
        raise _error("dest is required on a team other than TEAM_WORLD (allocation is collective over all PEs)")
    return zeros(shape, dtype)


def _collect_dest(source: Any, team: Any) -> Any:
    """A new symmetric array for ``collect`` of ``source`` on TEAM_WORLD: the sizes of every PE are gathered
    first (an fcollect) to size it."""
    import numpy as np
    if team != TEAM_WORLD:
        raise _error("dest is required on a team other than TEAM_WORLD (allocation is collective over all PEs)")
    mine = zeros(1, np.int64)
    try:
        mine[0] = source.size
        counts = fcollect(mine)  # frees what it allocated when it fails
        try:
            return zeros(int(counts.sum()), source.dtype)
        finally:
            _shmem.aclshmem_free(counts)
    finally:
        _shmem.aclshmem_free(mine)


if TYPE_CHECKING:
    def broadcast(dest: Any, source: Any, root: int = 0, team: int = TEAM_WORLD) -> Any: ...
    def reduce(source: Any, op: str = "sum", dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def and_reduce(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def or_reduce(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def xor_reduce(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def max_reduce(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def min_reduce(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def sum_reduce(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def prod_reduce(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def fcollect(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def collect(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
    def alltoall(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any: ...
else:
    broadcast = _shmem._np_broadcast
    reduce = _shmem._np_reduce
    and_reduce = _shmem._np_and_reduce
    or_reduce = _shmem._np_or_reduce
    xor_reduce = _shmem._np_xor_reduce
    max_reduce = _shmem._np_max_reduce
    min_reduce = _shmem._np_min_reduce
    sum_reduce = _shmem._np_sum_reduce
    prod_reduce = _shmem._np_prod_reduce
    fcollect = _shmem._np_fcollect
    collect = _shmem._np_collect
    alltoall = _shmem._np_alltoall
