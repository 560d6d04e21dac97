"""Barriers and syncs: ``barrier``, ``barrier_all``, ``sync``, ``sync_all`` and their ``_on_stream`` forms (on
the host the calling thread is the stream: they return when the barrier has completed)."""
from __future__ import annotations

from typing import Any

from .. import _shmem
from ._errors import AclshmemInvalid, check_int, raising

__all__ = ["barrier", "barrier_all", "sync", "sync_all", "barrier_on_stream", "barrier_all_on_stream",
           "ACLSHMEM_TEAM_WORLD", "ACLSHMEM_TEAM_INVALID"]

ACLSHMEM_TEAM_WORLD = _shmem.TEAM_WORLD
ACLSHMEM_TEAM_INVALID = _shmem.TEAM_INVALID


def _team(team: Any) -> int:
    check_int(team, "team", lo=0)
    if _shmem.team_n_pes(team) <= 0:
        raise AclshmemInvalid(f"team {team} is not a live team this PE belongs to.")
    return team


@raising
def barrier(team: int) -> None:
    """Completes this PE's operations, then waits for every PE of ``team`` (collective over the team)."""
    _shmem.aclshmem_team_barrier(_team(team))


@raising
def barrier_all() -> None:
    """Completes this PE's operations, then waits for every PE (collective)."""
    _shmem.aclshmem_barrier_all()


@raising
def sync(team: int) -> None:
    """Waits for every PE of ``team`` (collective over the team)."""
    _shmem.aclshmem_team_sync(_team(team))


@raising
def sync_all() -> None:
    """Waits for every PE (collective)."""
    _shmem.aclshmem_sync_all()


@raising
def barrier_on_stream(team: int, stream: Any = None) -> None:
    """``barrier(team)`` ordered on ``stream``; complete on return."""
    _shmem._check_stream(stream)
    _shmem.aclshmem_team_barrier(_team(team))


@raising
def barrier_all_on_stream(stream: Any = None) -> None:
    """``barrier_all()`` ordered on ``stream``; complete on return."""
    _shmem._check_stream(stream)
    _shmem.aclshmem_barrier_all()
