"""All TYPE x comparison combinations of the wait/test families, with masks, vectors, res_out and indices,
plus real cross-PE waits; on 2 and 4 PEs. The types are the rows of the one wait type list
(crates/shmem-core/src/type_table.rs) plus some C-name aliases of them."""
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "crates" / "bindings-python" / "tools"))
import type_table  # noqa: E402

_ROWS = {r.name: type_table.numpy_dtype(r) for r in type_table.rows("wait")}
_ALIASES = {"char": "int8", "int": "int32", "long": "int64", "ulonglong": "uint64", "short": "int16", "size": "uint64",
            "ptrdiff": "int64", "ushort": "uint16"}
WAIT_TYPES = list(_ROWS.items()) + [(alias, _ROWS[row]) for alias, row in _ALIASES.items()]

BODY = r"""
import json, operator
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
OPS = [operator.eq, operator.ne, operator.gt, operator.ge, operator.lt, operator.le]
TYPES = [(name, np.dtype(dt).type) for name, dt in json.loads(os.environ["WAIT_TYPES"])]
checks = 0
for name, dt in TYPES:
    f = lambda op: getattr(shmem, f"aclshmem_{name}_{op}")
    iv = shmem.zeros(4, dt)
    iv[:] = np.array([1, 2, 3, 4], dtype=dt)
    base = iv.__array_interface__["data"][0]
    w = iv.itemsize
    status = np.array([0, 1, 0, 0], dtype=np.int32)
    vec = np.array([2, 2, 2, 5], dtype=dt)
    res32 = np.zeros(1, np.int32); res64 = np.zeros(1, np.uint64); idx = np.zeros(4, np.uint64)
    one = dt(2)
    for c, op in enumerate(OPS):
        truth = [bool(op(x, one)) for x in [1, 2, 3, 4]]
        for k in range(4):
            assert f("test")(base + k * w, c, one) == int(truth[k]), (name, c, k)
            assert f("test")(iv[k:k + 1], c, one, res32) == res32[0] == int(truth[k])
            if truth[k]:
                f("wait_until")(base + k * w, c, one)   # already satisfied: returns at once
        active = [t for t, s in zip(truth, status) if s == 0]
        assert f("test_all")(iv, 4, status, c, one, res32) == int(all(active)) == res32[0]
        assert f("test_all")(base, 4, None, c, one) == int(all(truth))
        hits = [i for i in range(4) if truth[i] and status[i] == 0]
        r = f("test_any")(iv, 4, status, c, one, res64)
        assert (r in hits) if hits else (r == -1 and res64[0] == np.uint64(2**64 - 1)), (name, c, r, hits)
        cnt = f("test_some")(iv, 4, idx, status, c, one, res64)
        assert cnt == len(hits) == res64[0] and sorted(idx[:cnt].tolist()) == hits
        vtruth = [bool(op(x, v)) for x, v in zip([1, 2, 3, 4], vec.tolist())]
        vhits = [i for i in range(4) if vtruth[i] and status[i] == 0]
        assert f("test_all_vector")(iv, 4, status, c, vec) == int(all(t for t, s in zip(vtruth, status) if s == 0))
        assert f("test_all_vector")(iv, 4, None, c, list(vec.tolist())) == int(all(vtruth))
        r = f("test_any_vector")(iv, 4, status, c, None, vec, res64)       # the seed's 7-argument form
        assert (r in vhits) if vhits else r == -1
        r2 = f("test_any_vector")(iv, 4, status, c, vec)                   # the short form
        assert r2 == r
        cnt = f("test_some_vector")(iv, 4, idx, status, c, vec)
        assert cnt == len(vhits) and sorted(idx[:cnt].tolist()) == vhits
        if all(active):
            f("wait_until_all")(iv, 4, status, c, one)
        if hits:
            assert f("wait_until_any")(iv, 4, status, c, one, res64) in hits
            assert f("wait_until_some")(iv, 4, idx, status, c, one, res64) == len(hits)
        if all(t for t, s in zip(vtruth, status) if s == 0):
            f("wait_until_all_vector")(iv, 4, status, c, vec)
        if vhits:
            assert f("wait_until_any_vector")(iv, 4, status, c, None, vec, res64) in vhits
            assert f("wait_until_some_vector")(iv, 4, idx, status, c, vec, res64) == len(vhits)
        checks += 1
    # every element masked: _any gives -1, _some gives 0, without waiting
    allmask = np.ones(4, np.int32)
    assert f("wait_until_any")(iv, 4, allmask, 0, dt(99)) == -1
    assert f("wait_until_some")(iv, 4, idx, allmask, 0, dt(99)) == 0
    assert f("wait_until_any_vector")(iv, 4, allmask, 0, vec) == -1
    # a real wait across PEs: PE me waits for its left neighbour's typed put
    shmem.aclshmem_barrier_all()
    right = (me + 1) % n
    flag = shmem.zeros(2, dt)
    if n > 1:
        time.sleep(0.005 * me)
        v = np.array([42, 7], dtype=dt)
        shmem.aclshmem_putmem(flag, v, 2 * w, right)
        f("wait_until")(flag, shmem.CMP_EQ, dt(42))
        f("wait")(flag[1:], dt(0))
        f("wait_until_all_vector")(flag, 2, None, shmem.CMP_EQ, v)
        assert flag.tolist() == v.tolist()
    shmem.aclshmem_barrier_all()
    shmem.free(flag); shmem.free(iv)
assert checks == len(TYPES) * 6
# bad comparison codes and type mismatches are errors, not hangs
iv = shmem.zeros(1, np.int32)
expect_error(shmem.aclshmem_int32_wait_until, iv, 9, 0, code=-1)
expect_error(shmem.aclshmem_int32_test, iv, -1, 0, code=-1)
expect_error(shmem.aclshmem_int32_test_all_vector, iv, 1, None, 0, np.zeros(1, np.int64), code=-1)
expect_error(shmem.aclshmem_int32_wait_until_all, iv, 2, None, 0, 0, code=-1)   # nelems beyond the array
expect_error(shmem.aclshmem_uint8_wait_until, iv, 0, 300, exc=OverflowError)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_wait_test_matrix(job, n):
    p = job(n, BODY, timeout=120, env={"WAIT_TYPES": json.dumps(WAIT_TYPES)})
    assert p.stdout.count(" ok") == n


WATCHDOG_BODY = r"""
shmem.aclshmem_init()
me = shmem.my_pe()
flag = shmem.zeros(1, np.int64)
shmem.aclshmem_barrier_all()
if me == 0:
    t0 = time.monotonic()
    shmem.aclshmem_int64_wait_until(flag, shmem.CMP_EQ, np.int64(7))
    waited = time.monotonic() - t0
    assert 2.0 <= waited < 30, waited
    assert int(flag[0]) == 7
    print("PE 0 waited", round(waited, 1), file=sys.stderr)
else:
    time.sleep(2.5)
    shmem.aclshmem_int64_p(flag, np.int64(7), 0)
shmem.aclshmem_barrier_all()
shmem.free(flag)
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_watchdog_measures_the_whole_python_wait(job):
    """The Python wait runs in 20 ms slices; the stuck-wait watchdog must still measure the whole wait: with
    SHMEM_WAIT_WARN_SECS=1 a 2.5 s wait logs its warning exactly once (PE 1 does not wait, so it logs none)."""
    p = job(2, WATCHDOG_BODY, timeout=60, env={"SHMEM_WAIT_WARN_SECS": "1", "SHMEM_LOG_LEVEL": "WARN"})
    assert p.stdout.count(" ok") == 2, p.stdout
    warnings = [line for line in p.stderr.splitlines() if "is a peer stuck or did it never write?" in line]
    assert len(warnings) == 1, p.stderr
    assert "PE 0 has waited" in warnings[0], warnings
