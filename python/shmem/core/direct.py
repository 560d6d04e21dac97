"""``shmem.core.direct``: thin queries of the running job, as upstream's ``shmem.core.direct`` has them.

``my_pe``/``n_pes`` raise ``AclshmemError`` (NOT_INITED) before init; the team queries return -1 for a team this
PE is not in (or that does not exist), as the API does.
"""
from __future__ import annotations

from .. import _shmem
from .._types import CmpOp as ComparisonType
from .._types import InitStatus, SignalOp
from ._errors import raising

__all__ = ["ComparisonType", "SignalOp", "InitStatus", "my_pe", "team_my_pe", "team_n_pes", "n_pes", "init_status"]


@raising
def my_pe() -> int:
    """This PE's number in the world team."""
    return int(_shmem.my_pe())


@raising
def n_pes() -> int:
    """Number of PEs in the world team."""
    return int(_shmem.pe_count())


@raising
def team_my_pe(team: int) -> int:
    """This PE's number in ``team``; -1 when this PE is not in it (or the team is invalid)."""
    return int(_shmem.team_my_pe(team))


@raising
def team_n_pes(team: int) -> int:
    """Number of PEs in ``team``; -1 when the team is invalid here."""
    return int(_shmem.team_n_pes(team))


def init_status() -> InitStatus:
    """The life-cycle status of this process (``InitStatus.INITIALIZED`` once init has completed)."""
    return _shmem.aclshmemx_init_status()
