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


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_unlaunched(tmp_path: pathlib.Path, n: int, body: str, *, timeout: float = 60,
                   env: dict | None = None) -> list:
    """Starts `n` PEs of `body` as plain processes with the launch environment set by hand (no launcher that
    could end the others itself); returns `[(exit_status, output)]` per PE. Every PE is killed at `timeout`."""
    import secrets
    import time
    script = tmp_path / f"pe_unlaunched_{n}.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    port = free_port()
    token = secrets.token_hex(16)
    prefix = f"shmem-pytest-{os.getpid()}-{secrets.token_hex(3)}"
    procs = []
    for pe in range(n):
        e = dict(os.environ)
        for k in [k for k in e if k.startswith("SHMEM_") or k in ("RANK", "WORLD_SIZE", "MASTER_ADDR",
                                                                   "MASTER_PORT", "LOCAL_RANK")]:
            del e[k]
        e.update({"SHMEM_PE": str(pe), "SHMEM_N_PES": str(n), "SHMEM_LOCAL_PE": str(pe),
                  "SHMEM_LOCAL_N_PES": str(n), "SHMEM_MASTER_ADDR": "127.0.0.1", "SHMEM_MASTER_PORT": str(port),
                  "SHMEM_JOB_TOKEN": token, "SHMEM_SHM_PREFIX": prefix, "SHMEM_SYMMETRIC_SIZE": "16M"})
        e.update(env or {})
        procs.append(subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True, env=e))
    deadline = time.monotonic() + timeout
    out = []
    for p in procs:
        try:
            o, _ = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                if q.poll() is None:
                    q.kill()
            o, _ = p.communicate()
            out.append((None, o))
            continue
        out.append((p.returncode, o))
    return out
