"""Symmetric buffers: ``buffer`` / ``calloc`` / ``align`` (collective), ``free``, ``get_peer_buffer`` and the
``Buffer`` class.

A ``Buffer`` is an address and a byte length, as upstream's; buffers made here also export their memory through
the buffer protocol (``memoryview(buf)``, ``numpy.frombuffer(buf, dtype)``, ``buf.numpy(dtype)``) and DLPack
(``numpy.from_dlpack(buf)``, ``torch.from_dlpack(buf)``), without a copy. The garbage collector never frees
symmetric memory: ``free`` (collective) or ``finalize`` do.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

from .. import _shmem
from .._upstream import MemType
from ._errors import AclshmemError, AclshmemInvalid, check_int, raising

__all__ = ["buffer", "calloc", "align", "free", "get_peer_buffer", "Buffer", "MemType"]

_SIZE_T_MAX = (1 << 64) - 1
_DLPACK_CPU = 1


class Buffer(_shmem._BufferBase):
    """A range of memory by address and byte length.

    Attributes:
        addr: the start address (for a peer buffer: where this process reaches the peer's copy).
        length: the size in bytes.
        mem_type: the heap it came from (``MemType``; one heap on the host).
        owned: whether ``free`` may release it (made by ``buffer``/``calloc``/``align``).
        release_called: whether ``free`` was called for it (or for the buffer it views).

    ``Buffer(addr, length)`` describes an external address: it can be passed where an address is wanted but
    exports no memory and cannot be freed."""

    def __init__(self, addr: int, length: int, mem_type: MemType = MemType.DEVICE_SIDE) -> None:
        check_int(addr, "addr", lo=1, hi=(1 << 63) - 1)
        check_int(length, "length", lo=1, hi=_SIZE_T_MAX)
        if not isinstance(mem_type, MemType):
            raise AclshmemInvalid("mem_type must be MemType.HOST_SIDE or MemType.DEVICE_SIDE.")
        self._setup(addr, length, mem_type, owned=False, owner=None)

    def _setup(self, addr: int, length: int, mem_type: MemType, *, owned: bool, owner: Optional["Buffer"]) -> None:
        self.addr = addr
        self.length = length
        self.mem_type = mem_type
        self._owned = owned
        self._owner = owner
        self._release_called = False

    @classmethod
    def _owning(cls, block: Any, length: int, mem_type: MemType) -> "Buffer":
        obj = cls.__new__(cls)
        obj._attach(block, 0, length)
        obj._setup(block.addr, length, mem_type, owned=True, owner=None)
        return obj

    @classmethod
    def _borrowed(cls, block: Any, owner: "Buffer") -> "Buffer":
        obj = cls.__new__(cls)
        obj._attach(block, 0, owner.length)
        obj._setup(block.addr, owner.length, owner.mem_type, owned=False, owner=owner)
        return obj

    @property
    def owned(self) -> bool:
        """Whether this buffer owns its symmetric allocation (``free`` may release it)."""
        return self._owned

    @property
    def release_called(self) -> bool:
        """Whether ``free`` was called for this allocation (or the one this buffer views)."""
        return self._release_called or (self._owner is not None and self._owner.release_called)

    @property
    def instance_id(self) -> Optional[int]:
        """The instance the allocation belongs to: 0 (the only one) for allocated buffers, None for external."""
        return 0 if (self._owned or self._owner is not None) else None

    def _ensure_usable(self, name: str) -> None:
        if self.release_called:
            raise AclshmemInvalid(f"{name}: the Buffer is no longer usable after free was called.")

    def numpy(self, dtype: Any = "uint8") -> Any:
        """A NumPy array of ``dtype`` viewing this buffer (no copy)."""
        import numpy as np

        return np.frombuffer(self, dtype=dtype)

    def __dlpack__(self, stream: Any = None, **kwargs: Any) -> Any:
        """DLPack export of the bytes (a CPU tensor of uint8), through NumPy."""
        return self.numpy().__dlpack__(**kwargs)

    def __dlpack_device__(self) -> Tuple[int, int]:
        """(kDLCPU, 0): the memory is host memory."""
        return (_DLPACK_CPU, 0)

    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        return (f"Buffer(addr=0x{self.addr:x}, length={self.length}, mem_type={self.mem_type!r}, "
                f"owned={self.owned}, release_called={self.release_called})")

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Buffer) and other.addr == self.addr and other.length == self.length
                and other.mem_type == self.mem_type)

    __hash__ = None  # type: ignore[assignment]


def _size(value: Any, name: str) -> int:
    return check_int(value, name, lo=1, hi=_SIZE_T_MAX)


def _mem_type(mem_type: Any) -> MemType:
    if not isinstance(mem_type, MemType):
        raise AclshmemInvalid("mem_type must be MemType.HOST_SIDE or MemType.DEVICE_SIDE.")
    return mem_type


def buffer(size: int, release: bool = False, except_on_del: bool = True,
           mem_type: MemType = MemType.DEVICE_SIDE) -> Buffer:
    """Allocates ``size`` bytes of symmetric memory (collective: every PE, same size, same order). ``release``
    and ``except_on_del`` are reserved (ignored), as upstream. Raises ``AclshmemError`` (MALLOC_FAILED, naming
    the heap size) when it does not fit."""
    n = _size(size, "size")
    mt = _mem_type(mem_type)
    block = raising(_shmem._alloc_block)(n, 64, False)
    return Buffer._owning(block, n, mt)


def calloc(count: int, size: int, mem_type: MemType = MemType.DEVICE_SIDE) -> Buffer:
    """Allocates ``count * size`` zeroed bytes (collective); zero on every PE when it returns."""
    c, s = _size(count, "count"), _size(size, "size")
    if c > _SIZE_T_MAX // s:
        raise AclshmemInvalid("count * size exceeds the native size_t range.")
    mt = _mem_type(mem_type)
    block = raising(_shmem._alloc_block)(c * s, 16, True)
    return Buffer._owning(block, c * s, mt)


def align(alignment: int, size: int, mem_type: MemType = MemType.DEVICE_SIDE) -> Buffer:
    """Allocates ``size`` bytes aligned to ``alignment`` (a power of two; collective)."""
    a, n = _size(alignment, "alignment"), _size(size, "size")
    if a & (a - 1):
        raise AclshmemInvalid(f"alignment {a} must be a power of two.")
    mt = _mem_type(mem_type)
    block = raising(_shmem._alloc_block)(n, a, False)
    return Buffer._owning(block, n, mt)


def free(buf: Buffer) -> None:
    """Frees a buffer made by ``buffer``/``calloc``/``align`` (collective). A buffer not owned (external, or a
    peer view) or already freed is ``AclshmemInvalid``."""
    if not isinstance(buf, Buffer):
        raise AclshmemInvalid("buf must be a Buffer.")
    if not buf.owned:
        raise AclshmemInvalid("Cannot free a non-owning Buffer (an external address or a peer buffer).")
    if buf.release_called:
        raise AclshmemInvalid("free was already called for this Buffer.")
    buf._release_called = True
    try:
        raising(_shmem.aclshmem_free)(buf._block)
    except AclshmemError:
        buf._release_called = False
        raise


def get_peer_buffer(buf: Buffer, pe: int) -> Buffer:
    """A buffer through which this process loads from and stores to ``pe``'s copy of ``buf`` directly.
    Raises ``AclshmemInvalid`` for a bad buffer or PE and ``AclshmemError`` when ``pe`` is not on this node (its
    memory cannot be mapped here)."""
    if not isinstance(buf, Buffer):
        raise AclshmemInvalid("buf must be a Buffer.")
    buf._ensure_usable("buf")
    check_int(pe, "pe", lo=0)
    owner = buf._owner if buf._owner is not None else buf
    if owner._block is None:
        raise AclshmemInvalid("buf describes an external address; pass a Buffer made by shmem.core.buffer.")
    peer = raising(_shmem._peer_block)(owner._block, pe)
    if peer is None:
        raise AclshmemError(f"PE {pe} is not on this node: its copy cannot be reached by load/store.", -2)
    return Buffer._borrowed(peer, owner)
