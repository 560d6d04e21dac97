"""Start-up and shut-down: ``get_unique_id``, ``init`` (by unique ID or by attributes), ``finalize``,
``get_version``."""
from __future__ import annotations

from typing import Any, Optional, Union

from .. import _shmem
from .._types import InitAttr
from ._errors import AclshmemError, AclshmemInvalid, check_int, raising

__all__ = ["get_unique_id", "init", "finalize", "get_version", "UniqueID"]

UniqueID = _shmem.UniqueId
"""The unique ID class (``shmem.UniqueId``): picklable; ``bytes(uid)`` is its encoding."""


def get_version() -> str:
    """The library's API version as ``"libaclshmem_version=X.Y"``."""
    major, minor = _shmem.aclshmem_info_get_version()
    return f"libaclshmem_version={major}.{minor}"


def get_unique_id(empty: bool = False) -> bytes:
    """Makes the unique ID of a new job, on one process (the future PE 0), which broadcasts it to the others
    (e.g. ``torch.distributed.broadcast_object_list``). It binds PE 0's store port now and carries the job's
    secret. Returns the ID's bytes (picklable); ``init`` takes them or a ``UniqueID``.

    ``empty`` is reserved (ignored), as upstream. Raises ``AclshmemError`` when no ID can be made (e.g.
    ``SHMEM_UID_SOCK_IFNAME`` names an interface without an address: the message lists the candidates)."""
    try:
        return bytes(_shmem.aclshmem_get_unique_id())
    except _shmem.ShmemError as e:
        raise AclshmemError(f"Generate a unique ID failed: {e}", getattr(e, "code", -4)) from e


def init(device: Any = None, uid: Optional[Union[Any, bytes]] = None, rank: Optional[int] = None,
         nranks: Optional[int] = None, mpi_comm: Any = None, initializer_method: str = "",
         mem_size: Optional[int] = None, instance_id: int = 0, *, attributes: Optional[InitAttr] = None) -> None:
    """Initializes this PE (collective over the job).

    - ``initializer_method="uid"`` (upstream's form): ``uid`` (a ``UniqueID`` or its bytes), ``rank``,
      ``nranks`` and ``mem_size`` (bytes of symmetric heap per PE) are required.
    - ``initializer_method="attr"`` with ``attributes=`` an ``InitAttr`` (e.g. filled by
      ``shmem.shmem_set_attributes``).
    - ``initializer_method=""`` picks the form from what is given (``uid`` or ``attributes``).

    ``device`` and ``mpi_comm`` are reserved (ignored); ``instance_id`` must be 0 (one instance per process).
    Raises ``AclshmemInvalid`` for missing or bad arguments, ``AclshmemError`` when init fails."""
    if initializer_method not in ("", "uid", "attr"):
        raise AclshmemInvalid(f"Invalid init method requested: {initializer_method!r} (use 'uid' or 'attr').")
    if check_int(instance_id, "instance_id") != 0:
        raise AclshmemInvalid(f"instance_id {instance_id} is not supported: this runtime has one instance, 0.")
    method = initializer_method or ("attr" if attributes is not None and uid is None else "uid")
    if method == "attr":
        if not isinstance(attributes, InitAttr) or uid is not None:
            raise AclshmemInvalid("initializer_method 'attr' takes attributes= (an InitAttr) and no uid.")
        raising(_shmem.aclshmem_init)(attributes)
        return
    if attributes is not None:
        raise AclshmemInvalid("initializer_method 'uid' takes uid, rank, nranks and mem_size, not attributes.")
    if uid is None or rank is None or nranks is None or mem_size is None:
        raise AclshmemInvalid("uid, rank, nranks and mem_size must be specified.")
    check_int(nranks, "nranks", lo=1)
    check_int(rank, "rank", lo=0, hi=nranks - 1)
    check_int(mem_size, "mem_size", lo=1)
    if isinstance(uid, (bytearray, memoryview)):
        uid = bytes(uid)
    if not isinstance(uid, (UniqueID, bytes)):
        raise AclshmemInvalid(f"uid must be a UniqueID or its bytes, not {type(uid).__name__}.")
    raising(_shmem.aclshmem_init_using_unique_id)(rank, nranks, mem_size, uid)


def finalize(instance_id: Optional[int] = None) -> None:
    """Ends this PE's part of the job (collective); every buffer is released. ``instance_id``, when given, must
    be 0. Raises ``AclshmemError`` (NOT_INITED) when not initialized."""
    if instance_id is not None and check_int(instance_id, "instance_id") != 0:
        raise AclshmemInvalid(f"instance {instance_id} does not exist: this runtime has one instance, 0.")
    raising(_shmem.aclshmem_finalize)()
