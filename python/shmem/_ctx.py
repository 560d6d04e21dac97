"""Contexts and distributed locks, the Pythonic way.

``Ctx`` wraps a context handle of ``aclshmem_ctx_create`` / ``aclshmem_team_create_ctx``: NumPy-friendly
``put``/``get`` (``nbi=True`` for the non-blocking forms), ``quiet``/``fence`` that complete or order only this
context's operations, and ``destroy`` (also on leaving a ``with`` block). ``locked(lock)`` holds a distributed
lock (a zeroed symmetric 8-byte word, e.g. ``shmem.zeros(1, np.int64)``) for the duration of a ``with`` block.

The C type names of the context AMOs (``aclshmem_ctx_long_atomic_fetch_add`` ...) are aliases of the sized
ones, as for the plain AMOs.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional

from . import _shmem
from ._types import SIGNAL_SET


def _nbytes(obj: Any) -> int:
    return memoryview(obj).nbytes


class Ctx:
    """A communication context: its operations complete at its own ``quiet``, independently of other contexts'.

    ``Ctx(options)`` makes a context of TEAM_WORLD; ``Ctx(options, team=t)`` one whose PE numbers are relative
    to team ``t``. ``options`` is a bit set of ``ACLSHMEM_CTX_SERIALIZED``, ``_PRIVATE`` and ``_NOSTORE``.
    """

    def __init__(self, options: int = 0, *, team: Optional[int] = None) -> None:
        if team is None:
            self.handle = _shmem.aclshmem_ctx_create(options)
        else:
            self.handle = _shmem.aclshmem_team_create_ctx(team, options)

    def put(self, dst: Any, src: Any, pe: int, *, nbi: bool = False) -> None:
        """Copies all of local ``src`` into the symmetric ``dst`` on ``pe`` (bytes: ``src``'s size)."""
        f = _shmem.aclshmem_ctx_putmem_nbi if nbi else _shmem.aclshmem_ctx_putmem
        f(self.handle, dst, src, _nbytes(src), pe)

    def get(self, dst: Any, src: Any, pe: int, *, nbi: bool = False) -> None:
        """Fills local ``dst`` from the symmetric ``src`` on ``pe`` (bytes: ``dst``'s size)."""
        f = _shmem.aclshmem_ctx_getmem_nbi if nbi else _shmem.aclshmem_ctx_getmem
        f(self.handle, dst, src, _nbytes(dst), pe)

    def put_signal(self, dst: Any, src: Any, sig: Any, signal: int, pe: int, *, sig_op: int = SIGNAL_SET,
                   nbi: bool = False) -> None:
        """``put``, then the 64-bit word ``sig`` on ``pe`` is set/added (after the data)."""
        f = _shmem.aclshmemx_ctx_putmem_signal_nbi if nbi else _shmem.aclshmemx_ctx_putmem_signal
        f(self.handle, dst, src, _nbytes(src), sig, signal, sig_op, pe)

    def quiet(self) -> None:
        """Completes this context's operations (not other contexts')."""
        _shmem.aclshmem_ctx_quiet(self.handle)

    def fence(self) -> None:
        """Orders this context's puts to each PE."""
        _shmem.aclshmem_ctx_fence(self.handle)

    @property
    def team(self) -> int:
        """The team the context was made from."""
        return _shmem.aclshmem_ctx_get_team(self.handle)

    def destroy(self) -> None:
        """Completes this context's operations and destroys it."""
        _shmem.aclshmem_ctx_destroy(self.handle)

    def __enter__(self) -> "Ctx":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.destroy()


def ctx_create(options: int = 0, *, team: Optional[int] = None) -> Ctx:
    """A new :class:`Ctx` (of TEAM_WORLD, or of ``team``)."""
    return Ctx(options, team=team)


@contextlib.contextmanager
def locked(lock: Any) -> Iterator[None]:
    """Holds the distributed lock at the symmetric ``lock`` for the ``with`` block (FIFO among PEs)."""
    _shmem.aclshmem_set_lock(lock)
    try:
        yield
    finally:
        _shmem.aclshmem_clear_lock(lock)


_C_NAMES = {"int": "int32", "long": "int64", "longlong": "int64", "uint": "uint32", "ulong": "uint64",
            "ulonglong": "uint64", "size": "uint64", "ptrdiff": "int64"}


def _ctx_aliases() -> dict:
    out = {}
    for name in dir(_shmem):
        if not name.startswith("aclshmem_ctx_") or "_atomic_" not in name:
            continue
        sized, _, op = name[len("aclshmem_ctx_"):].partition("_atomic_")
        for alias, target in _C_NAMES.items():
            if target == sized:
                out[f"aclshmem_ctx_{alias}_atomic_{op}"] = getattr(_shmem, name)
    return out


CTX_AMO_ALIASES = _ctx_aliases()
