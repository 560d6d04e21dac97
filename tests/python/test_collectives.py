"""Collectives from Python (issue 15 item 1): NumPy arrays in, NumPy arrays out, checked against NumPy.

Every dtype the binding maps goes through one parametrized body: broadcast, collect (sizes differ per PE),
fcollect, alltoall, every reduction (a NumPy reference; operators a dtype lacks fail with INVALID_PARAM on
every PE), on TEAM_WORLD and on a strided team; the typed ``aclshmem_<TYPE>_*`` names with int addresses;
mismatched counts and dtypes fail on every PE with INVALID_VALUE; the active-set ``*_to_all`` form with pSync.
"""
from __future__ import annotations

import pytest

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
          "complex64", "complex128"]

EVERY_DTYPE = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
W = shmem.TEAM_WORLD
DTYPES = {dtypes!r}
ops = {{"and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor, "max": np.maximum,
        "min": np.minimum, "sum": np.add, "prod": np.multiply}}

def vals(pe, count, dt):
    i = np.arange(count)
    v = ((pe * 7 + i * 3) % 11 - 3)
    if dt.kind == "c":
        return (v + 1j * (pe % 2)).astype(dt)
    if dt.kind == "f":
        return (v / 2).astype(dt)
    return v.astype(dt)

odd = shmem.team_split_strided(W, 1, 2, n // 2)   # odd PEs
for name in DTYPES:
    dt = np.dtype(name)
    for team, members in ((W, list(range(n))), (odd, list(range(1, n, 2)))):
        inside = me in members
        for count in (0, 1, 5, 700):
            src = shmem.zeros(max(count * n, 3), dt)
            src[:] = vals(me, src.size, dt)
            dst = shmem.zeros(max(count * n, 3 * n) + 1, dt)
            if inside:
                ti = members.index(me)
                # broadcast from the last member
                shmem.broadcast(dst[:count], src[:count], root=len(members) - 1, team=team)
                assert np.array_equal(dst[:count], vals(members[-1], count, dt)), (name, team, count)
                # fcollect
                out = shmem.fcollect(src[:count], dst[:count * len(members)], team=team)
                want = np.concatenate([vals(p, count, dt) for p in members])
                assert np.array_equal(out, want), (name, team, count, out, want)
                # collect: member k gives (k + count) % 3 elements
                dst[:] = 0
                mine = (ti + count) % 3
                shmem.collect(src[:mine], dst, team=team)
                want = np.concatenate([vals(p, (k + count) % 3, dt) for k, p in enumerate(members)])
                assert np.array_equal(dst[:len(want)], want), (name, team, count)
                # alltoall
                m = len(members)
                shmem.alltoall(src[:count * m], dst[:count * m], team=team)
                want = np.concatenate([vals(p, count * m, dt)[ti * count:(ti + 1) * count] for p in members])
                assert np.array_equal(dst[:count * m], want), (name, team, count)
                # reductions against NumPy (folded in team order)
                for op, f in ops.items():
                    dst[:] = 0
                    defined = not (op in ("and", "or", "xor") and dt.kind in "fc") and not (
                        op in ("max", "min") and dt.kind == "c")
                    if not defined:
                        expect_error(shmem.reduce, src[:count], op, dst[:count], team, code=-1)
                        continue
                    with np.errstate(over="ignore"):
                        want = vals(members[0], count, dt)
                        for p in members[1:]:
                            want = f(want, vals(p, count, dt)).astype(dt)
                    got = shmem.reduce(src[:count], op, dst[:count], team)
                    assert np.array_equal(got, want), (name, op, team, count, got, want)
                    assert dst[count] == 0, "wrote past the count"
            shmem.aclshmem_barrier_all()
            shmem.free(dst)
            shmem.free(src)
if odd != shmem.TEAM_INVALID:
    shmem.team_destroy(odd)
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_every_dtype_world_and_strided(job, n):
    p = job(n, EVERY_DTYPE.format(dtypes=DTYPES), timeout=170)
    assert p.stdout.count(" ok") == n


ARRAYS_OUT = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
x = shmem.zeros(8, np.float64)
x[:] = np.arange(8) * (me + 1)
s = shmem.sum_reduce(x)                        # a new symmetric array
assert shmem.is_symmetric(s) and s.dtype == np.float64 and s.shape == (8,)
assert np.array_equal(s, np.arange(8) * n * (n + 1) / 2), s
mx = shmem.max_reduce(x)
assert np.array_equal(mx, np.arange(8) * n)
shmem.prod_reduce(x, dest=x)                   # in place
assert np.array_equal(x, np.arange(8) ** n * float(np.prod(np.arange(1, n + 1))))
f = shmem.fcollect(shmem.zeros(2, np.int32))
assert f.shape == (2 * n,)
c_src = shmem.zeros(n, np.int16)[:me + 1]     # symmetric allocation, a per-PE slice of it
c_src[:] = me
c = shmem.collect(c_src)                       # sizes gathered first, then a new array
assert np.array_equal(c, np.concatenate([np.full(p + 1, p, np.int16) for p in range(n)])), c
# typed C-style names with int addresses, and their shmem_ aliases
a = shmem.aclshmem_malloc(8 * n)
b = shmem.aclshmem_malloc(8 * n)
shmem.put(a, np.full(n, 10 + me, np.int64), me)
shmem.aclshmem_long_sum_reduce(shmem.TEAM_WORLD, b, a, n)
got = np.zeros(n, np.int64)
shmem.get(got, b, me)
assert (got == sum(10 + p for p in range(n))).all(), got
shmem.shmem_int64_max_reduce(shmem.TEAM_WORLD, b, a, n)
shmem.get(got, b, me)
assert (got == 10 + n - 1).all(), got
shmem.aclshmem_broadcastmem(shmem.TEAM_WORLD, b, a, 8, 1)
shmem.get(got[:1], b, me)
assert got[0] == 11, got
shmem.aclshmem_team_sync(shmem.TEAM_WORLD)
# mismatched counts, dtypes: INVALID_VALUE on every PE, nothing written
d = shmem.zeros(8, np.float32)
d[:] = -1
expect_error(shmem.aclshmem_float_sum_reduce, shmem.TEAM_WORLD, d, d, 4 if me else 3, code=-2)
src32 = shmem.zeros(4, np.int32)
e = expect_error((shmem.aclshmem_int_sum_reduce if me else shmem.aclshmem_float_sum_reduce),
                 shmem.TEAM_WORLD, d if me == 0 else src32, d if me == 0 else src32, 4, code=-2)
assert "differs" in str(e), e
assert (d == -1).all()
# a dest array smaller than the count on one PE: INVALID_PARAM on that PE; on one node the broadcast is posted
# (the root does not wait to hear from the members), so the others get the data
if me == n - 1:
    expect_error(shmem.aclshmem_float_broadcast, shmem.TEAM_WORLD, d[:2], d, 4, 0, code=-1)
else:
    shmem.aclshmem_float_broadcast(shmem.TEAM_WORLD, d, d, 4, 0)
assert (d == -1).all()
# the same on the root: every member naming it fails with INVALID_PARAM and nothing is written
expect_error(shmem.aclshmem_float_broadcast, shmem.TEAM_WORLD, d[:2] if me == 0 else d, d, 4, 0, code=-1)
assert (d == -1).all()
# longdouble moves float64 values; np.longdouble arrays are refused with TypeError
ld = shmem.zeros(2, np.float64)
ld[:] = me + 0.5
shmem.aclshmem_longdouble_sum_reduce(shmem.TEAM_WORLD, ld, ld, 2)
assert (ld == sum(p + 0.5 for p in range(n))).all(), ld
expect_error(shmem.sum_reduce, np.zeros(2, np.longdouble), exc=TypeError)
# active-set form: every PE, pSync reused, restored to SHMEM_SYNC_VALUE
psync = shmem.zeros(shmem.ACLSHMEM_REDUCE_SYNC_SIZE, np.int64)
pwrk = shmem.zeros(shmem.ACLSHMEM_REDUCE_MIN_WRKDATA_SIZE, np.int32)
v = shmem.zeros(3, np.int32)
for r in range(3):
    v[:] = me + r
    shmem.shmem_int_sum_to_all(v, v, 3, 0, 0, n, pwrk, psync)
    assert (v == sum(p + r for p in range(n))).all(), v
    # back to SYNC_VALUE, except PE 0's (the set's first) arrival counter, which PEs that already returned
    # may be using for the next call
    assert (psync[0 if me else 1:] == shmem.ACLSHMEM_SYNC_VALUE).all(), psync
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_arrays_out_typed_names_errors_active_set(job, n):
    p = job(n, ARRAYS_OUT, timeout=90)
    assert p.stdout.count(" ok") == n


BACK_TO_BACK = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
W = shmem.TEAM_WORLD
src = shmem.zeros(600, np.int64)
dst = shmem.zeros(600 * n, np.int64)
f = shmem.zeros(16, np.float64)
fd = shmem.zeros(16 * n, np.float64)
def val(pe, r, k):
    return pe * 1000003 + r * 131 + np.arange(k, dtype=np.int64) * 7
for r in range(1500):
    c = 1 + r % 9
    kind = r % 4
    if kind == 0:
        # broadcast from a moving root; every 50th round past the inline size (600 int64 = 4.8 KB)
        root = (r // 4) % n
        k = 600 if r % 50 == 0 else c
        src[:k] = val(me, r, k)
        shmem.broadcast(dst[:k], src[:k], root=root)
        assert np.array_equal(dst[:k], val(root, r, k)), (r, dst[:k])
    elif kind == 1:
        # sum, in place every other time; the source is rewritten right after the call returns
        src[:c] = val(me, r, c)
        out = shmem.sum_reduce(src[:c], dest=src[:c] if r % 8 == 1 else dst[:c])
        assert np.array_equal(out, sum(val(p, r, c) for p in range(n))), (r, out)
        src[:c] = -1
    elif kind == 2:
        f[:c] = val(me, r, c) % 1000
        out = shmem.fcollect(f[:c], fd[:c * n])
        assert np.array_equal(out, np.concatenate([val(p, r, c) % 1000 for p in range(n)]).astype(np.float64)), r
    else:
        f[:c] = (val(me, r, c) * 37) % 1001
        out = shmem.max_reduce(f[:c], dest=fd[:c])
        assert np.array_equal(out, np.max([(val(p, r, c) * 37) % 1001 for p in range(n)], axis=0)), r
        if r % 12 == 3:
            shmem.team_sync(W)
# The root meets a broadcast with a team sync: the members fail with INVALID_VALUE at once (they see the root's
# barrier arrival), write nothing, and meet the root's sync with their own.
dst[:4] = -5
for _ in range(2):
    if me == 0:
        shmem.team_sync(W)
    else:
        try:
            shmem.broadcast(dst[:3], src[:3], root=0)
            raise AssertionError("a broadcast against the root's team sync passed")
        except shmem.ShmemError as e:
            assert e.code == -2, e
        shmem.team_sync(W)
    assert np.array_equal(dst[:4], [-5] * 4), dst[:4]
src[:5] = val(me, 7, 5)
assert np.array_equal(shmem.sum_reduce(src[:5], dest=dst[:5]), sum(val(p, 7, 5) for p in range(n)))
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 3, 4])
def test_back_to_back_small_collectives(job, n):
    """Thousands of small collectives in a row (one barrier each on one node), alternating the collective, the
    root and the count, every result checked exactly; a root's team sync against a broadcast fails the members."""
    p = job(n, BACK_TO_BACK, timeout=170)
    assert p.stdout.count(" ok") == n
