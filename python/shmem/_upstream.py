"""Classes of upstream Ascend SHMEM's extension that the seeds do not have.

``MemType`` selects upstream's host-side or device-side symmetric heap; this runtime has one heap per PE (in host
memory), so both values name it.
"""
from __future__ import annotations

import enum

__all__ = ["MemType"]


class MemType(enum.IntEnum):
    """Which symmetric heap an allocation comes from (upstream ``aclshmem_mem_type_t``). On the host both are
    the one heap of this PE."""

    HOST_SIDE = 0
    DEVICE_SIDE = 1
