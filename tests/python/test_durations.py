"""Issue 10, defect 1: durations no deadline can hold (1e19, 2**63, nan, inf, -1, above one year) are refused
with INVALID_PARAM where they are set (shmem_set_timeout, the OptionalAttr timeouts at init), never a panic at
finalize; the launcher refuses them as a usage error (exit 2)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

BODY = r"""
import math, shmem
from shmem import ShmemError

def refused(fn, *args):
    try:
        fn(*args)
    except ShmemError as e:
        assert e.code == -1, (args, e.code, e)
        assert "31536000" in str(e), e
        return
    except OverflowError:
        return                      # an int beyond int64 does not even reach the check
    raise AssertionError(f"{args!r} was accepted")

ONE_YEAR_MS = 365 * 24 * 3600 * 1000
attr = shmem.InitAttr()
shmem.shmem_set_attributes(0, 1, 1 << 20, "", attr)
for ms in (ONE_YEAR_MS + 1, 10**19 // 1000, 2**62):
    refused(shmem.shmem_set_timeout, attr, ms)
assert shmem.shmem_set_timeout(attr, ONE_YEAR_MS) == 0
try:
    shmem.shmem_set_timeout(attr, 2**63)
    raise AssertionError("2**63 ms accepted")
except (OverflowError, ShmemError):
    pass

for field in ("shm_init_timeout", "shm_create_timeout", "control_operation_timeout"):
    for bad in (1e19, 2.0**63, 2**63, float("nan"), float("inf"), -1.0, 0.0, 31536001.0):
        a = shmem.InitAttr()
        shmem.shmem_set_attributes(0, 1, 1 << 20, "", a)
        setattr(a.option_attr, field, bad)
        refused(shmem.init_attr, a)
        # Nothing happened: the process can still init (a panic or half-init would make this fail).
        assert shmem.init_status() == 0, (field, bad, shmem.init_status())

# The largest allowed value works end to end, finalize included (it panicked with 1e19).
a = shmem.InitAttr()
shmem.shmem_set_attributes(0, 1, 1 << 20, "", a)
a.option_attr.control_operation_timeout = 31536000.0
a.option_attr.shm_init_timeout = 31536000.0
assert shmem.init_attr(a) == 0
x = shmem.zeros(4, "int64")
shmem.aclshmem_barrier_all()
shmem.free(x)
assert shmem.aclshmem_finalize() in (0, None)
print("durations ok")
"""


def _clean_env():
    return {k: v for k, v in os.environ.items() if not k.startswith("SHMEM_") and k not in ("RANK", "WORLD_SIZE")}


def test_out_of_range_timeouts_are_invalid_param(tmp_path):
    s = tmp_path / "durations.py"
    s.write_text(BODY)
    p = subprocess.run([sys.executable, str(s)], capture_output=True, text=True, timeout=60, env=_clean_env())
    assert p.returncode == 0, p.stdout + p.stderr
    assert "durations ok" in p.stdout
    assert "panicked" not in p.stderr


@pytest.mark.parametrize("opt", ["--timeout", "--grace"])
@pytest.mark.parametrize("bad", ["1e19", "-1", "nan", "inf", str(2**63), "31536001"])
def test_launcher_refuses_out_of_range_durations(tmp_path, opt, bad):
    s = tmp_path / "never.py"
    s.write_text("print('the job ran')\n")
    p = subprocess.run([sys.executable, "-m", "shmem.run", "-n", "1", opt, bad, str(s)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "31536000" in p.stderr and "panicked" not in p.stderr, p.stderr
    assert "the job ran" not in p.stdout
