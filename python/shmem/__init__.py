"""shmem: a SHMEM (OpenSHMEM-family) runtime for Python.

Every PE (process) owns a symmetric heap of the same size; any PE can put into, get from, signal and
atomically update any other PE's heap with one-sided operations. Start N PEs with
``python -m shmem.run -n N script.py`` (or ``shmemrun -n N script.py``), then in the script::

    import numpy as np, shmem
    shmem.aclshmem_init()                    # rank and size from the launcher's environment
    me, n = shmem.my_pe(), shmem.pe_count()
    box = shmem.zeros(4, np.int64)           # collective: a NumPy view of the symmetric heap
    shmem.put(box, np.full(4, me), (me + 1) % n)
    shmem.aclshmem_barrier_all()
    print(me, box)
    shmem.free(box)
    shmem.aclshmem_finalize()

Both API generations of the seeds are here: the newer ``aclshmem*`` names are the primary ones, the older
``shmem_*`` / ``get_*`` names are aliases of the same functions (including the seed's ``aclshmem_finialize``).
Failures raise :class:`ShmemError` whose ``code`` is the numeric code of the API; team queries return -1;
wrong argument types raise ``TypeError``, out-of-range typed values (cmp values, AMO operands, signals)
``OverflowError``.
"""
from __future__ import annotations

from . import _shmem
from ._shmem import *  # noqa: F401,F403  (the extension's public functions)
from ._shmem import ShmemError, SymBlock, TEAM_INVALID, TEAM_NODE, TEAM_WORLD, init_attr  # noqa: F401
from ._types import *  # noqa: F401,F403
from ._types import CmpOp, InitAttr, InitStatus, OpEngineType, OptionalAttr, SignalOp, TeamConfig  # noqa: F401
from ._upstream import MemType  # noqa: F401  (upstream's heap selector; one heap on the host)

# Upstream's extension module is ``shmem._pyshmem`` (programs call ``shmem._pyshmem.aclshmem_int32_p``); here it
# is the same module as ``shmem._shmem``.
_pyshmem = _shmem
__import__("sys").modules.setdefault(__name__ + "._pyshmem", _shmem)
from ._numpy import (array, get, is_symmetric, peer_array, put, put_signal, test, wait_until,  # noqa: F401
                     zeros)
from ._collectives import (alltoall, and_reduce, broadcast, collect, fcollect, max_reduce,  # noqa: F401
                           min_reduce, or_reduce, prod_reduce, reduce, sum_reduce, xor_reduce)
from ._ctx import CTX_AMO_ALIASES as _CTX_AMO_ALIASES, Ctx, ctx_create, locked  # noqa: F401
globals().update(_CTX_AMO_ALIASES)
# SHMEM_CTX_DEFAULT, SHMEM_CTX_PRIVATE, ... beside the ACLSHMEM_ names.
globals().update({"SHMEM_" + k[len("ACLSHMEM_"):]: getattr(_shmem, k) for k in dir(_shmem) if k.startswith("ACLSHMEM_CTX_")})

#: The wait/test TYPE names of the API and the type each one is an alias of (C integer names included).
WAIT_TYPE_ALIASES = {
    "char": "int8", "schar": "int8", "short": "int16", "int": "int32", "long": "int64", "longlong": "int64",
    "uchar": "uint8", "ushort": "uint16", "uint": "uint32", "ulong": "uint64", "ulonglong": "uint64",
    "size": "uint64", "ptrdiff": "int64",
}
#: The AMO TYPE names (OpenSHMEM 1.5 standard and extended AMO types) and their aliases.
AMO_TYPE_ALIASES = {
    "int": "int32", "long": "int64", "longlong": "int64", "uint": "uint32", "ulong": "uint64",
    "ulonglong": "uint64", "size": "uint64", "ptrdiff": "int64",
}


def _install_aliases(ns: dict) -> None:
    ext = {k: getattr(_shmem, k) for k in dir(_shmem) if not k.startswith("_")}
    ext.update(_CTX_AMO_ALIASES)
    # C type names of the wait/test and AMO families.
    for name, fn in list(ext.items()):
        for prefix in ("aclshmem_",):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            base, _, op = rest.partition("_")
            table = AMO_TYPE_ALIASES if op.startswith("atomic_") else WAIT_TYPE_ALIASES
            for alias, target in table.items():
                if target == base and (op.startswith(("wait", "test", "atomic_"))):
                    ext[f"{prefix}{alias}_{op}"] = fn
    ns.update({k: v for k, v in ext.items() if k not in ns})
    # Older generation: shmem_X for every aclshmem_X / aclshmemx_X.
    for name, fn in list(ext.items()):
        for prefix in ("aclshmemx_", "aclshmem_"):
            if name.startswith(prefix):
                ns.setdefault("shmem_" + name[len(prefix):], fn)
                break
    explicit = {
        "aclshmem_finialize": ext["aclshmem_finalize"],
        "shmem_init_status": ext["aclshmemx_init_status"],
        "get_team_my_pe": ext["team_my_pe"],
        "get_team_pe_count": ext["team_n_pes"],
        "team_sync": ext["aclshmem_team_sync"],
        "team_barrier": ext["aclshmem_team_barrier"],
        # Short names.
        "init": ext["aclshmem_init"],
        "finalize": ext["aclshmem_finalize"],
        "init_status": ext["aclshmemx_init_status"],
        "n_pes": ext["pe_count"],
        "malloc": ext["aclshmem_malloc"],
        "calloc": ext["aclshmem_calloc"],
        "align": ext["aclshmem_align"],
        "free": ext["aclshmem_free"],
        "ptr": ext["aclshmem_ptr"],
        "putmem": ext["aclshmem_putmem"],
        "getmem": ext["aclshmem_getmem"],
        "putmem_nbi": ext["aclshmem_putmem_nbi"],
        "getmem_nbi": ext["aclshmem_getmem_nbi"],
        "putmem_signal": ext["aclshmemx_putmem_signal"],
        "putmem_signal_nbi": ext["aclshmemx_putmem_signal_nbi"],
        "signal_wait_until": ext["aclshmem_signal_wait_until"],
        "signal_fetch": ext["aclshmem_signal_fetch"],
        "quiet": ext["aclshmem_quiet"],
        "fence": ext["aclshmem_fence"],
        "barrier_all": ext["aclshmem_barrier_all"],
        "sync_all": ext["aclshmem_sync_all"],
        "global_exit": ext["aclshmem_global_exit"],
        "info_get_version": ext["aclshmem_info_get_version"],
        "info_get_name": ext["aclshmem_info_get_name"],
    }
    for k, v in explicit.items():
        ns.setdefault(k, v)
    # Prefixed constants: ACLSHMEM_CMP_EQ, SHMEM_SIGNAL_SET, ACLSHMEM_TEAM_WORLD, ...
    for k in ("SIGNAL_SET", "SIGNAL_ADD", "CMP_EQ", "CMP_NE", "CMP_GT", "CMP_GE", "CMP_LT", "CMP_LE",
              "TEAM_WORLD", "TEAM_INVALID", "TEAM_NODE"):
        ns.setdefault("ACLSHMEM_" + k, ns[k])
        ns.setdefault("SHMEM_" + k, ns[k])
    for name, member in InitStatus.__members__.items():
        ns.setdefault("ACLSHMEM_STATUS_" + name, member)
        ns.setdefault("SHMEM_STATUS_" + name, member)


_install_aliases(globals())
del _install_aliases

__version__ = "0.1.0"
