"""Helpers: run a Python snippet as every PE of a real job through the launcher (`python -m shmem.run`)."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PRELUDE = """
import sys, os, gc, time
import numpy as np
import shmem
from shmem import ShmemError

def expect_error(fn, *args, code=None, exc=None, **kw):
    try:
        fn(*args, **kw)
    except Exception as e:  # noqa: BLE001
        if exc is not None:
            assert isinstance(e, exc), (fn, args, type(e), e)
        elif code is not None:
            assert isinstance(e, ShmemError) and e.code == code, (getattr(fn, "__name__", fn), args, type(e), e)
        return e
    raise AssertionError(f"{getattr(fn, '__name__', fn)}{args!r} did not raise")
"""


def run_job(tmp_path: pathlib.Path, n: int, body: str, *, timeout: float = 60, env: dict | None = None,
            extra_args: tuple = (), expect_rc: int | None = 0) -> subprocess.CompletedProcess:
    """Writes `body` (after a common prelude) to a script and runs it on `n` PEs; asserts the exit status."""
    script = tmp_path / f"pe_job_{n}.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    cmd = [sys.executable, "-m", "shmem.run", "-n", str(n), "--timeout", str(timeout), *extra_args, str(script)]
    e = dict(os.environ)
    e.setdefault("SHMEM_SYMMETRIC_SIZE", "32M")
    e.update(env or {})
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30, env=e)
    if expect_rc is not None and p.returncode != expect_rc:
        pytest.fail(f"job exited {p.returncode} (expected {expect_rc})\n--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
    return p


@pytest.fixture
def job(tmp_path):
    """`job(n, body, **kw)` runs `body` on n PEs."""
    return lambda n, body, **kw: run_job(tmp_path, n, body, **kw)
