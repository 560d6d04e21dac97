"""The errors of ``shmem.core``: it raises instead of returning codes.

``AclshmemError`` is a :class:`shmem.ShmemError` (so ``except shmem.ShmemError`` catches it too) with the API's
numeric ``code``; ``AclshmemInvalid`` is the bad-argument case (``code`` INVALID_PARAM -1), raised before anything
happens.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

from .._shmem import ShmemError
from .._types import INVALID_PARAM

__all__ = ["AclshmemError", "AclshmemInvalid"]


class AclshmemError(ShmemError):
    """A ``shmem.core`` call failed; ``code`` is the API's numeric error code, ``msg`` the message."""

    def __init__(self, msg: str, code: int = -4) -> None:
        super().__init__(msg)
        self.msg = msg
        self.code = code

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.msg} (code {self.code})>"


class AclshmemInvalid(AclshmemError):
    """An argument of a ``shmem.core`` call is invalid (``code`` INVALID_PARAM -1); nothing was done."""

    def __init__(self, msg: str, code: int = INVALID_PARAM) -> None:
        super().__init__(msg, code)


F = TypeVar("F", bound=Callable[..., Any])


def raising(fn: F) -> F:
    """Turns the low-level ``ShmemError`` of ``fn`` into ``AclshmemInvalid`` (INVALID_PARAM) or
    ``AclshmemError`` (any other code), keeping the code and chaining the original."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AclshmemError:
            raise
        except ShmemError as e:
            code = getattr(e, "code", -4)
            cls = AclshmemInvalid if code == INVALID_PARAM else AclshmemError
            raise cls(str(e), code) from e

    return wrapper  # type: ignore[return-value]


def check_int(value: Any, name: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int (bools refused) within ``lo..=hi``, else ``AclshmemInvalid``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise AclshmemInvalid(f"{name} must be an integer, not {type(value).__name__}.")
    if lo is not None and value < lo:
        raise AclshmemInvalid(f"{name} must be >= {lo}, not {value}.")
    if hi is not None and value > hi:
        raise AclshmemInvalid(f"{name} must be <= {hi}, not {value}.")
    return value
