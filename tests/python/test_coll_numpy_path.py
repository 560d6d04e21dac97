"""The NumPy-level collectives as one call into the extension (issue 15, "make the Python collective calls
lean"): the same results, errors and codes as the former Python functions, whatever the array's layout.

- every dtype x every named reduction (and ``reduce(op)``) against NumPy, with C-order, Fortran-order and 0-d
  arrays, ``dest`` as an array, an int address or omitted;
- bad inputs: each gives its exact exception or code on every PE and writes nothing (wrong dtype, not an array,
  non-contiguous, outside the heap, too small, absurd root/team such as 2**63 and -1, explicit None, bad op);
- the GIL is released while a PE waits in a collective (another Python thread runs).
These bodies use only the public API, so they also ran against the former Python implementation
(PYTHONPATH pointing at a copy of it) with the same outcome.
"""
from __future__ import annotations

import pytest

EVERY_DTYPE_LAYOUT = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64",
          "complex64", "complex128", "intc", "longlong", "ulonglong"]
NAMED = {"and": (shmem.and_reduce, np.bitwise_and), "or": (shmem.or_reduce, np.bitwise_or),
         "xor": (shmem.xor_reduce, np.bitwise_xor), "max": (shmem.max_reduce, np.maximum),
         "min": (shmem.min_reduce, np.minimum), "sum": (shmem.sum_reduce, np.add),
         "prod": (shmem.prod_reduce, np.multiply)}

def vals(pe, shape, dt, order="C"):
    i = np.arange(int(np.prod(shape))).reshape(shape, order=order)
    v = (pe * 5 + i * 3) % 13 - 4
    if dt.kind == "c":
        return (v + 1j * ((pe + i) % 3)).astype(dt)
    if dt.kind == "f":
        return (v / 4).astype(dt)
    return v.astype(dt)

def folded(f, shape, dt, order):
    with np.errstate(over="ignore"):
        want = vals(0, shape, dt, order)
        for p in range(1, n):
            want = f(want, vals(p, shape, dt, order)).astype(dt)
    return want

checked = 0
for name in DTYPES:
    dt = np.dtype(name)
    for shape, order in (((3, 4), "C"), ((3, 4), "F"), ((), "C"), ((5,), "C")):
        src = shmem.zeros(shape, dt)
        if order == "F":
            src = shmem.zeros(shape[::-1], dt).T       # Fortran-order view of symmetric memory
        src[...] = vals(me, shape, dt, order)
        dst = shmem.zeros(shape, dt) if order == "C" else shmem.zeros(shape[::-1], dt).T   # the same layout
        for op, (fn, f) in NAMED.items():
            defined = not (op in ("and", "or", "xor") and dt.kind in "fc") and not (op in ("max", "min") and dt.kind == "c")
            dst[...] = 0
            if not defined:
                expect_error(fn, src, dst, code=-1)
                expect_error(shmem.reduce, src, op, dst, code=-1)
                assert not dst.any(), (name, op)
                continue
            want = folded(f, shape, dt, order)
            got = fn(src, dst)
            assert got is dst and np.array_equal(got, want), (name, op, shape, order, got, want)
            dst[...] = 0
            got = shmem.reduce(src, op, dest=dst)
            assert got is dst and np.array_equal(got, want), (name, op, shape, order)
            if shape == (5,) and op in ("sum", "max"):
                new = fn(src)                                  # dest omitted: a new symmetric array
                assert shmem.is_symmetric(new) and new.dtype == dt and new.shape == shape, (new.dtype, new.shape)
                assert np.array_equal(new, want), (name, op)
                shmem.free(new)
                addr = dst.__array_interface__["data"][0]      # dest as an int address
                dst[...] = 0
                assert fn(src, addr) == addr and np.array_equal(dst, want), (name, op)
            checked += 1
        # broadcast from the last PE into a dest of another layout (C order), and fcollect/alltoall of 0-d/2-D
        out = shmem.zeros(shape, dt)
        assert shmem.broadcast(out, src, root=n - 1) is out
        # (elements move in memory order: a Fortran-order source fills a C-order dest in its memory order)
        assert np.array_equal(out.ravel(), vals(n - 1, shape, dt, order).ravel(order="K")), (name, shape, order)
        fc = shmem.zeros(n * int(np.prod(shape)), dt)
        assert shmem.fcollect(src, fc) is fc
        mem = np.concatenate([vals(p, shape, dt, order).ravel(order="K") for p in range(n)])
        assert np.array_equal(fc, mem), (name, shape, order)
        shmem.aclshmem_barrier_all()
        for a in (fc, out, dst, src):
            shmem.free(a)
assert checked > 100, checked
shmem.aclshmem_finalize()
print("PE", me, "ok", checked)
"""


@pytest.mark.parametrize("n", [2, 3])
def test_every_dtype_every_named_reduction_every_layout(job, n):
    p = job(n, EVERY_DTYPE_LAYOUT, timeout=170)
    assert p.stdout.count(" ok") == n


BAD_INPUTS = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
W = shmem.TEAM_WORLD
src = shmem.zeros(4, np.float64)
src[:] = me + 1
dst = shmem.zeros(8, np.float64)
grid = shmem.zeros((4, 4), np.float64)
ro = dst[:4].view()
ro.flags.writeable = False
INV = -1
cases = [
    # (call, expected: an exception type or a ShmemError code); every PE makes the same call
    (lambda: shmem.broadcast(dst[:4], [1.0] * 4), TypeError),             # source not an array
    (lambda: shmem.broadcast([0.0] * 4, src), TypeError),                 # dest not an array
    (lambda: shmem.broadcast(dst[:4], np.float64(1.0)), TypeError),       # a NumPy scalar
    (lambda: shmem.broadcast(dst, np.zeros(2, np.longdouble)), TypeError),
    (lambda: shmem.broadcast(np.zeros(2, np.longdouble), src), TypeError),
    (lambda: shmem.broadcast(dst, np.zeros(2, bool)), TypeError),
    (lambda: shmem.broadcast(dst, np.zeros(2, np.float16)), TypeError),
    (lambda: shmem.sum_reduce(np.zeros(2, np.clongdouble), dst), TypeError),
    (lambda: shmem.sum_reduce(src.tolist(), dst), TypeError),
    (lambda: shmem.fcollect(3, dst), TypeError),
    (lambda: shmem.collect("x", dst), TypeError),
    (lambda: shmem.alltoall(None, dst), TypeError),
    (lambda: shmem.broadcast(dst[:4], src, root=None), TypeError),        # explicit None is not the default
    (lambda: shmem.broadcast(dst[:4], src, root=1.0), TypeError),
    (lambda: shmem.broadcast(dst[:4], src, team="w"), TypeError),
    (lambda: shmem.sum_reduce(src, dst[:4], team=None), TypeError),
    (lambda: shmem.fcollect(src, dst, team="w"), TypeError),
    (lambda: shmem.reduce(src, "bogus", dst[:4]), ValueError),
    (lambda: shmem.reduce(src, "SUM", dst[:4]), ValueError),
    (lambda: shmem.reduce(src, None, dst[:4]), ValueError),
    (lambda: shmem.reduce(src, 5, dst[:4]), ValueError),
    (lambda: shmem.broadcast(dst[:4], src, root=2**63), INV),              # outside 32 bits: refused here
    (lambda: shmem.broadcast(dst[:4], src, root=-2**63 - 1), INV),
    (lambda: shmem.broadcast(dst[:4], src, team=2**63), INV),
    (lambda: shmem.sum_reduce(src, dst[:4], team=2**31), INV),
    (lambda: shmem.alltoall(src, dst[:4], team=-2**40), INV),
    (lambda: shmem.broadcast(dst[:4], src, root=-1), INV),                 # not a PE of the team: every PE
    (lambda: shmem.broadcast(dst[:4], src, root=n), INV),
    (lambda: shmem.broadcast(dst[:4], src, team=-1), INV),                 # TEAM_INVALID
    (lambda: shmem.broadcast(dst[:4], src, team=99), INV),                 # no such team
    (lambda: shmem.sum_reduce(src, dst[:4], team=99), INV),
    (lambda: shmem.fcollect(src, dst, team=99), INV),
    (lambda: shmem.alltoall(src[:n], dst[:n], team=99), INV),
    (lambda: shmem.sum_reduce(src, team=99), INV),                         # dest omitted off TEAM_WORLD
    (lambda: shmem.sum_reduce(src, team="w"), INV),
    (lambda: shmem.fcollect(src, team=-1), INV),
    (lambda: shmem.collect(src, team=-1), INV),
    (lambda: shmem.alltoall(src, team=-1), INV),
    (lambda: shmem.broadcast(dst[:3], src), INV),                          # dest too small
    (lambda: shmem.sum_reduce(src, dst[:3]), INV),
    (lambda: shmem.sum_reduce(src, dst[:4].view(np.float32)[:7]), INV),   # another dtype, too few bytes
    (lambda: shmem.fcollect(src[:2], dst[:2 * n - 1]), INV),
    (lambda: shmem.collect(src[:2], dst[:2 * n - 1]), INV),
    (lambda: shmem.alltoall(src[:n], dst[:n - 1]), INV),
    (lambda: shmem.broadcast(np.zeros(4), src), INV),                      # not symmetric
    (lambda: shmem.broadcast(dst[:4], np.zeros(4)), INV),
    (lambda: shmem.sum_reduce(src, np.zeros(4)), INV),
    (lambda: shmem.sum_reduce(src, bytearray(32)), INV),
    (lambda: shmem.sum_reduce(np.zeros(4), dst[:4]), INV),
    (lambda: shmem.broadcast(dst[:2], grid[:2, 0]), INV),                  # not contiguous
    (lambda: shmem.broadcast(grid[:2, 0], src[:2]), INV),
    (lambda: shmem.sum_reduce(grid[:, 0], dst[:4]), INV),
    (lambda: shmem.sum_reduce(src, grid[:, 0]), INV),
    (lambda: shmem.xor_reduce(src, dst[:4]), INV),                         # no xor on float64
    (lambda: shmem.broadcast(ro, src), INV),                              # a read-only dest: refused, and
    (lambda: shmem.sum_reduce(src, ro), INV),                             # the refusal meets the others
    (lambda: shmem.fcollect(src[:1], ro), INV),
    (lambda: shmem.aclshmem_double_sum_reduce(W, ro, src, 4), INV),       # the typed calls too
    (lambda: shmem.sum_reduce(src, ro if me == 0 else dst[:4]), INV),     # PE 0 alone: every member fails
    # PE 0 alone passes an array the binding cannot read (not contiguous): every member fails at once, the others
    # do not wait for PE 0 until the control timeout
    (lambda: shmem.sum_reduce(src, grid[:, 0] if me == 0 else dst[:4]), INV),
    (lambda: shmem.broadcast(grid[:, 0] if me == 0 else dst[:4], src), INV),
    (lambda: shmem.fcollect(src[:1], grid[:n, 0] if me == 1 else grid[0, :n]), INV),
    (lambda: shmem.alltoall(grid[:n, 0] if me == 0 else src[:n], dst[:n]), INV),
    (lambda: shmem.sum_reduce(src.view(">f8"), dst[:4]), TypeError),       # the other byte order: a reduction
    (lambda: shmem.sum_reduce(src, dst[:4].view(">f8")), TypeError),       # would compute on swapped values
    (lambda: shmem.max_reduce(src.view(">f8")), TypeError),                # (refused before any allocation)
    (lambda: shmem.reduce(src.view(">i8"), "xor", dst[:4].view(np.int64)), TypeError),
    (lambda: shmem.min_reduce(src.astype(np.complex128), dst[:4]), TypeError),  # .astype: not symmetric, but
]                                                                           # its dtype is checked first
cases[-1] = (lambda: shmem.min_reduce(shmem_c, dst_c), INV)
shmem_c = shmem.zeros(4, np.complex128)
dst_c = shmem.zeros(4, np.complex128)
for k, (call, want) in enumerate(cases):
    dst[:] = -7.0
    grid[:] = -7.0
    dst_c[:] = -7.0
    try:
        call()
    except ShmemError as e:
        assert want == e.code, (k, want, e.code, str(e))
    except Exception as e:  # noqa: BLE001
        assert isinstance(want, type) and isinstance(e, want), (k, want, type(e), e)
    else:
        raise AssertionError(f"case {k} did not raise")
    assert (dst == -7.0).all() and (grid == -7.0).all() and (dst_c == -7.0).all(), (k, dst, grid)
    shmem.aclshmem_barrier_all()
# after all that, the collectives still work
dst[:] = 0
assert np.array_equal(shmem.sum_reduce(src, dst[:4]), np.full(4, n * (n + 1) / 2))
assert np.array_equal(shmem.broadcast(dst[4:], src, root=n - 1), np.full(4, float(n)))
# a data move takes arrays of the other byte order: their bytes arrive exactly
dst[:] = 0
shmem.broadcast(dst[:4].view(">f8"), src.view(">f8"), root=n - 1)
assert np.array_equal(dst[:4], np.full(4, float(n))), dst
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 3])
def test_bad_inputs_exact_codes_nothing_written(job, n):
    p = job(n, BAD_INPUTS, timeout=120)
    assert p.stdout.count(" ok") == n


GIL_RELEASED = """
import threading
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
src = shmem.zeros(2, np.int64)
dst = shmem.zeros(2, np.int64)
src[:] = me + 10
for what in ("broadcast", "sum_reduce", "fcollect"):
    ticks = [0]
    stop = threading.Event()
    def spin():
        while not stop.is_set():
            ticks[0] += 1
    shmem.aclshmem_barrier_all()
    if me == 0:
        time.sleep(0.5)           # every other PE waits in the collective meanwhile
        t0 = None
    else:
        th = threading.Thread(target=spin)
        th.start()
        time.sleep(0.05)
        t0 = ticks[0]
    if what == "broadcast":
        shmem.broadcast(dst, src, root=0)
        assert (dst == 10).all(), dst
    elif what == "sum_reduce":
        shmem.sum_reduce(src, dst)
        assert (dst == sum(p + 10 for p in range(n))).all(), dst
    else:
        out = shmem.zeros(2 * n, np.int64)
        shmem.fcollect(src, out)
        assert np.array_equal(out, np.repeat(np.arange(n) + 10, 2)), out
    if me != 0:
        moved = ticks[0] - t0
        stop.set()
        th.join()
        # the thread ran while this PE waited for PE 0 (about 0.45 s): the GIL was released
        assert moved > 1000, (what, moved)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_gil_is_released_while_waiting(job):
    p = job(2, GIL_RELEASED, timeout=60)
    assert p.stdout.count(" ok") == 2


LENT_UNTIL_QUIET = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
a = shmem.aclshmem_malloc(64)
shmem.aclshmem_putmem(a, bytes(range(64)), 64, me)
shmem.aclshmem_barrier_all()
for completer in (shmem.aclshmem_barrier_all, shmem.aclshmem_quiet, shmem.aclshmem_barrier_all,
                  lambda: shmem.aclshmem_ctx_quiet(shmem.ACLSHMEM_CTX_DEFAULT)):
    completer()                              # nothing lent: a no-op for the lent buffers
    ba = bytearray(16)
    shmem.aclshmem_getmem_nbi(ba, a + 8, 16, (me + 1) % n)
    expect_error(ba.extend, b"x", exc=BufferError)   # still exported: lent to the nbi get until a quiet
    completer()
    ba.extend(b"x")                          # released by the quiet (or barrier)
    assert bytes(ba) == bytes(range(8, 24)) + b"x", ba
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_nbi_buffers_are_released_by_the_next_quiet_or_barrier(job):
    """barrier_all and quiet skip the lent-buffer lock when nothing is lent; a buffer lent to an nbi call is still
    held until the next quiet or barrier and released by it."""
    p = job(2, LENT_UNTIL_QUIET, timeout=60)
    assert p.stdout.count(" ok") == 2
