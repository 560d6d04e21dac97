"""NumPy-level collectives: symmetric arrays in, symmetric arrays out.

Each function picks the typed ``aclshmem_<TYPE>_<collective>`` call from the array's dtype and passes the whole
array (its ``size`` elements). ``dest`` may be given (a symmetric array viewing the heap, e.g. from
``shmem.zeros``); when it is omitted on a TEAM_WORLD call, a new symmetric array is allocated collectively and
returned (allocation is collective over every PE, so on another team ``dest`` is required). Every member must
pass arrays of the same dtype and count (``collect`` may differ in count); a mismatch raises ``ShmemError``
with code INVALID_VALUE (-2) on every member, a bad argument INVALID_PARAM (-1) on every member.

``np.longdouble`` is refused (TypeError): the runtime reduces ``long double`` as ``double``, so pass float64.
"""
from __future__ import annotations

from typing import Any, Optional

from . import _shmem
from ._numpy import zeros

TEAM_WORLD = _shmem.TEAM_WORLD

_NAMES = {
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "float32": "float", "float64": "double", "complex64": "complexf", "complex128": "complexd",
}
# shmem::collectives::DataType codes.
_CODES = {"int8": 2, "int16": 3, "int32": 4, "int64": 5, "uint8": 6, "uint16": 7, "uint32": 8, "uint64": 9,
          "float": 10, "double": 11, "complexf": 12, "complexd": 13}
# shmem::collectives::ReduceOp codes are the positions in this tuple.
OPS = ("and", "or", "xor", "max", "min", "sum", "prod")


def _error(msg: str, code: int = -1) -> Exception:
    e = _shmem.ShmemError(f"{msg} (INVALID_PARAM {code})")
    e.code = code
    return e


# The per-call lookups are cached: `dtype.name` is computed in Python by NumPy 2 (about 2 µs per call, more
# than the whole 8-byte collective), while a dtype is a hashable C object. Each dtype (byte order included)
# gets its entry on first use, from its name, so the accepted dtypes are exactly those of _NAMES.
_BY_DTYPE: dict = {}
_FNS: dict = {}
_NDARRAY: Any = None


def _tname(arr: Any) -> str:
    global _NDARRAY
    if _NDARRAY is None:
        import numpy as np
        _NDARRAY = np.ndarray
    if not isinstance(arr, _NDARRAY):
        raise TypeError(f"expected a NumPy array viewing the symmetric heap, got {type(arr).__name__}")
    dt = arr.dtype
    name = _BY_DTYPE.get(dt)
    if name is None:
        name = _NAMES.get(dt.name)
        if name is None:
            raise TypeError(f"no collective for dtype {dt} (long double reduces as float64: pass float64)")
        _BY_DTYPE[dt] = name
    return name


def _fn(tname: str, what: str):
    fn = _FNS.get((tname, what))
    if fn is None:
        fn = getattr(_shmem, f"aclshmem_{tname}_{what}", None)
        if fn is None:
            raise TypeError(f"{what} is not defined on {tname}")
        _FNS[(tname, what)] = fn
    return fn


def _dest(dest: Optional[Any], team: int, shape: Any, dtype: Any) -> Any:
    if dest is not None:
        return dest
    if team != TEAM_WORLD:
        raise _error("dest is required on a team other than TEAM_WORLD (allocation is collective over all PEs)")
    return zeros(shape, dtype)


def broadcast(dest: Any, source: Any, root: int = 0, team: int = TEAM_WORLD) -> Any:
    """Copies ``source`` of team PE ``root`` into ``dest`` on every member (the root's too); returns ``dest``."""
    t = _tname(source)
    _tname(dest)
    _fn(t, "broadcast")(team, dest, source, source.size, root)
    return dest


def reduce(source: Any, op: str = "sum", dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any:
    """Reduces ``source`` of every member with ``op`` (and/or/xor/max/min/sum/prod); returns ``dest`` (new when
    omitted). ``dest`` may be ``source`` (in place)."""
    if op not in OPS:
        raise ValueError(f"op {op!r} is not one of {OPS}")
    t = _tname(source)
    dest = _dest(dest, team, source.shape, source.dtype)
    # The generic entry: an operator the dtype lacks (xor of floats) is refused by the runtime on every member
    # alike (INVALID_PARAM), so a member with another dtype is not left waiting.
    _shmem._reduce(team, OPS.index(op), _CODES[t], dest, source, source.size)
    return dest


def _named(op: str):
    def f(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any:
        return reduce(source, op, dest, team)
    f.__name__ = f"{op}_reduce"
    f.__doc__ = f"``reduce(source, {op!r}, dest, team)``: the {op} of every member's ``source``."
    return f


and_reduce, or_reduce, xor_reduce, max_reduce, min_reduce, sum_reduce, prod_reduce = (_named(o) for o in OPS)


def fcollect(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any:
    """Concatenates every member's ``source`` (same size everywhere) in team order; returns ``dest``."""
    t = _tname(source)
    n = _shmem.team_n_pes(team)
    dest = _dest(dest, team, (max(n, 0) * source.size,), source.dtype)
    _fn(t, "fcollect")(team, dest, source, source.size)
    return dest


def collect(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any:
    """Concatenates every member's ``source`` (sizes may differ) in team order; returns ``dest``. Without
    ``dest`` the sizes are gathered first to size the new array."""
    t = _tname(source)
    if dest is None:
        import numpy as np
        if team != TEAM_WORLD:
            raise _error("dest is required on a team other than TEAM_WORLD (allocation is collective over all PEs)")
        mine = zeros(1, np.int64)
        mine[0] = source.size
        counts = fcollect(mine)
        dest = zeros(int(counts.sum()), source.dtype)
        _shmem.aclshmem_free(counts)
        _shmem.aclshmem_free(mine)
    _fn(t, "collect")(team, dest, source, source.size)
    return dest


def alltoall(source: Any, dest: Optional[Any] = None, team: int = TEAM_WORLD) -> Any:
    """Sends block ``j`` of ``source`` (``source.size // team size`` elements) to member ``j``; block ``i`` of
    ``dest`` comes from member ``i``. Returns ``dest``."""
    t = _tname(source)
    n = _shmem.team_n_pes(team)
    dest = _dest(dest, team, source.shape, source.dtype)
    _fn(t, "alltoall")(team, dest, source, source.size // n if n > 0 else 0)
    return dest
