"""One-sided data movement: ``put``, ``get``, ``put_signal``, ``signal_op``, ``signal_wait``, ``quiet``.

``stream`` is accepted as upstream has it (None or 0 = the default stream, a non-negative int handle, or an
object with ``npu_stream``/``cuda_stream``). On the host the calling thread is the stream: every call is
complete when it returns (see docs/python-core.md). Signal words are 64-bit (``signal_var`` at least 8 bytes,
8-byte aligned, or a whole allocation of at least 4 bytes as upstream's 4-byte signals); the other side of each transfer is any ``Buffer`` (or, for the local side, any buffer object
such as a NumPy array).
"""
from __future__ import annotations

from typing import Any

from .. import _shmem
from .._types import CmpOp as ComparisonType
from .._types import SignalOp
from ._errors import AclshmemInvalid, check_int, raising
from .memory import Buffer

__all__ = ["put_signal", "signal_op", "signal_wait", "put", "get", "quiet"]

_SIGNAL_WORD_SIZE = 8


def _sym(buf: Any, name: str) -> Buffer:
    if not isinstance(buf, Buffer):
        raise AclshmemInvalid(f"{name} must be a Buffer (symmetric memory), not {type(buf).__name__}.")
    buf._ensure_usable(name)
    return buf


def _local(buf: Any, name: str) -> int:
    """The byte length of a local operand (a Buffer or any buffer object)."""
    if isinstance(buf, Buffer):
        buf._ensure_usable(name)
        return buf.length
    try:
        return memoryview(buf).nbytes
    except TypeError:
        raise AclshmemInvalid(f"{name} must be a Buffer or a buffer object, not {type(buf).__name__}.") from None


def _capacity(dst_len: int, src_len: int) -> None:
    if dst_len < src_len:
        raise AclshmemInvalid(f"dst length ({dst_len}) must be greater than or equal to src length ({src_len}).")


def _pe(remote_pe: Any) -> int:
    check_int(remote_pe, "remote_pe", lo=0)
    n = raising(_shmem.pe_count)()
    if remote_pe >= n:
        raise AclshmemInvalid(f"remote_pe must satisfy 0 <= remote_pe < {n}, not {remote_pe}.")
    return remote_pe


def _signal_var(buf: Any) -> int:
    """The address of the 64-bit signal word ``buf`` names. Upstream programs allocate 4-byte signals
    (``core.buffer(4)``); such a buffer is accepted when it starts an allocation, whose 16-byte granule holds the
    whole word. A value below 2**32 then reads back as the same int32 from the buffer's 4 bytes."""
    b = _sym(buf, "signal_var")
    whole_block = b._block is not None and b._block.addr == b.addr and b.length >= 4
    if b.addr % _SIGNAL_WORD_SIZE or not (b.length >= _SIGNAL_WORD_SIZE or whole_block):
        raise AclshmemInvalid(f"signal_var must hold a {_SIGNAL_WORD_SIZE}-byte aligned 64-bit word: at least "
                              f"{_SIGNAL_WORD_SIZE} bytes, or a whole allocation of at least 4 bytes.")
    return b.addr


def _enum(value: Any, cls: Any, name: str) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AclshmemInvalid(f"{name} must be a {cls.__name__}, not {type(value).__name__}.")
    try:
        return cls(value)
    except ValueError:
        raise AclshmemInvalid(f"{name} {value} is not a {cls.__name__} "
                              f"({', '.join(m.name for m in cls)}).") from None


def _signal_val(value: Any) -> int:
    return check_int(value, "signal_val", lo=0, hi=(1 << 64) - 1)


@raising
def put(dst: Buffer, src: Any, remote_pe: int, stream: Any = None) -> None:
    """Copies all of ``src`` (local) into the symmetric ``dst`` on ``remote_pe``; complete on return."""
    d = _sym(dst, "dst")
    n = _local(src, "src")
    _capacity(d.length, n)
    pe = _pe(remote_pe)
    _shmem.aclshmemx_putmem_on_stream(d, src, n, pe, stream)


@raising
def get(dst: Any, src: Buffer, remote_pe: int, stream: Any = None) -> None:
    """Copies all of the symmetric ``src`` on ``remote_pe`` into the local ``dst``; complete on return."""
    s = _sym(src, "src")
    n = _local(dst, "dst")
    _capacity(n, s.length)
    pe = _pe(remote_pe)
    _shmem.aclshmemx_getmem_on_stream(dst, s, s.length, pe, stream)


@raising
def put_signal(dst: Buffer, src: Any, signal_var: Buffer, signal_val: int, signal_operation: SignalOp,
               remote_pe: int, stream: Any = None) -> None:
    """Copies all of ``src`` into ``dst`` on ``remote_pe``, then updates its signal word ``signal_var``
    (``SignalOp.SIGNAL_SET`` / ``SIGNAL_ADD``): the data is visible there before the signal. Complete on return;
    ``stream`` is reserved (ignored), as upstream."""
    d = _sym(dst, "dst")
    n = _local(src, "src")
    _capacity(d.length, n)
    sig = _signal_var(signal_var)
    val = _signal_val(signal_val)
    op = _enum(signal_operation, SignalOp, "signal_operation")
    pe = _pe(remote_pe)
    _shmem.aclshmemx_putmem_signal(d, src, n, sig, val, int(op), pe)


@raising
def signal_op(signal_var: Buffer, signal_val: int, signal_operation: SignalOp, remote_pe: int,
              stream: Any = None) -> None:
    """Updates ``remote_pe``'s copy of the signal word ``signal_var`` (``SIGNAL_SET`` / ``SIGNAL_ADD``); waiters
    there wake. Complete on return."""
    sig = _signal_var(signal_var)
    val = _signal_val(signal_val)
    op = _enum(signal_operation, SignalOp, "signal_operation")
    pe = _pe(remote_pe)
    _shmem.aclshmemx_signal_op_on_stream(sig, val, int(op), pe, stream)


@raising
def signal_wait(signal_var: Buffer, signal_val: int, signal_operation: ComparisonType, stream: Any = None) -> None:
    """Waits until this PE's signal word ``signal_var`` compares true (``ComparisonType.CMP_EQ`` ... ``CMP_LE``)
    against ``signal_val``; returns once it does (the GIL is released; Ctrl-C interrupts)."""
    sig = _signal_var(signal_var)
    val = _signal_val(signal_val)
    cmp = _enum(signal_operation, ComparisonType, "signal_operation")
    _shmem.aclshmemx_signal_wait_until_on_stream(sig, int(cmp), val, stream)


@raising
def quiet(stream: Any = None) -> None:
    """Completes every earlier operation of this PE; complete on return."""
    _shmem.aclshmemx_quiet_on_stream(stream)
