"""``shmem.core``: the Pythonic API of upstream Ascend SHMEM (in the spirit of nvshmem4py), on this runtime.

It raises instead of returning codes (``AclshmemError``, a ``shmem.ShmemError`` with ``.code``;
``AclshmemInvalid`` for bad arguments) and works on ``Buffer`` objects rather than raw addresses::

    import pickle, shmem.core as core
    uid = core.get_unique_id() if rank == 0 else None      # then broadcast it by any channel
    core.init(uid=uid, rank=rank, nranks=n, mem_size=1 << 26, initializer_method="uid")
    buf, sig = core.buffer(4096), core.calloc(1, 8)
    core.put_signal(buf, data, sig, 1, core.SignalOp.SIGNAL_SET, (rank + 1) % n)
    core.signal_wait(sig, 1, core.ComparisonType.CMP_EQ)
    core.free(buf); core.free(sig); core.finalize()

Names and argument order are upstream's; where upstream is silent or differs from host reality, the decisions
are in docs/python-core.md (streams: the calling thread is the stream; signals are 64-bit words).
"""
from __future__ import annotations

from . import direct
from ._errors import AclshmemError, AclshmemInvalid
from .direct import ComparisonType, InitStatus, SignalOp
from .init_final import UniqueID, finalize, get_unique_id, get_version, init
from .memory import Buffer, MemType, align, buffer, calloc, free, get_peer_buffer
from .rma import get, put, put_signal, quiet, signal_op, signal_wait
from .sync import (ACLSHMEM_TEAM_INVALID, ACLSHMEM_TEAM_WORLD, barrier, barrier_all, barrier_all_on_stream,
                   barrier_on_stream, sync, sync_all)

__all__ = [
    "get_unique_id", "init", "finalize", "get_version", "UniqueID",
    "buffer", "calloc", "align", "free", "get_peer_buffer", "Buffer", "MemType",
    "put_signal", "signal_op", "signal_wait", "put", "get", "quiet",
    "barrier", "barrier_all", "sync", "sync_all", "barrier_on_stream", "barrier_all_on_stream",
    "ACLSHMEM_TEAM_WORLD", "ACLSHMEM_TEAM_INVALID",
    "AclshmemError", "AclshmemInvalid", "direct", "SignalOp", "ComparisonType", "InitStatus",
]
