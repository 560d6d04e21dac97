"""Bad arguments are refused with the documented code before anything is written, allocated or lent (a
reviewer's findings on the bindings): active-set collectives and AMOs bounded by their arrays' sizes, NumPy
collectives and shmem.zeros/array that free what they allocated when they fail, strided RMA that checks the
whole span first, a cmp_values iterable read only as far as nelems, buffers lent to a context released by
finalize, a Buffer that cannot be attached twice."""
from __future__ import annotations

ACTIVE_SET = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
INV = shmem.INVALID_PARAM
ps = shmem.zeros(shmem.ACLSHMEM_BCAST_SYNC_SIZE, np.int64)
guard = shmem.zeros(64, np.int64)      # every dest below is a prefix of it: the rest shows writes past the dest
g32 = guard.view(np.int32)
src = shmem.zeros(16, np.int64)
src[:] = np.arange(16) + 100 * (me + 1)
s32 = src.view(np.int32)

def refused(fn, *args):
    guard[:] = -7
    shmem.aclshmem_barrier_all()
    expect_error(fn, *args, code=INV)
    shmem.aclshmem_barrier_all()
    assert (guard == -7).all(), (fn.__name__, guard)
    assert (ps == shmem.ACLSHMEM_SYNC_VALUE).all(), (fn.__name__, ps)

# fcollect of 2 per PE needs 2 * n elements of dest
refused(shmem.aclshmem_fcollect64, guard[:2], src, 2, 0, 0, n, ps)
refused(shmem.aclshmem_fcollect32, g32[:2], s32, 2, 0, 0, n, ps)
# alltoall of blocks of 2 needs 2 * n elements of dest and of source
refused(shmem.aclshmem_alltoall64, guard[:2], src, 2, 0, 0, n, ps)
refused(shmem.aclshmem_alltoall64, guard[:2 * n], src[:2], 2, 0, 0, n, ps)
refused(shmem.aclshmem_alltoall32, g32[:2], s32, 2, 0, 0, n, ps)
# broadcast of 4 needs 4 elements of dest and of source
refused(shmem.aclshmem_broadcast64, guard[:2], src, 4, 0, 0, 0, n, ps)
refused(shmem.aclshmem_broadcast64, guard[:4], src[:2], 4, 0, 0, 0, n, ps)
refused(shmem.aclshmem_broadcast32, g32[:2], s32, 4, 0, 0, 0, n, ps)
# collect: the result (2 per PE) does not fit a dest of 2 * n - 1
refused(shmem.aclshmem_collect64, guard[:2 * n - 1], src[:2], 2, 0, 0, n, ps)
# a read-only dest
ro = guard[:2 * n].view()
ro.flags.writeable = False
refused(shmem.aclshmem_fcollect64, ro, src[:2], 2, 0, 0, n, ps)
# a read-only pSync
ps_ro = ps.view()
ps_ro.flags.writeable = False
refused(shmem.aclshmem_fcollect64, guard[:2 * n], src[:2], 2, 0, 0, n, ps_ro)
# a pSync of 4 longs (the runtime uses ACLSHMEM_BCAST_SYNC_SIZE): nothing written past it, nor into it
small = shmem.zeros(4 + 64, np.int64)
small[:4] = shmem.ACLSHMEM_SYNC_VALUE
small[4:] = -7
d = shmem.zeros(2 * n, np.int64)
shmem.aclshmem_barrier_all()
expect_error(shmem.aclshmem_fcollect64, d, src[:2], 2, 0, 0, n, small[:4], code=INV)
expect_error(shmem.aclshmem_broadcast64, d, src[:2], 2, 0, 0, 0, n, small[:4], code=INV)
# an absurd PE_size is refused from the arithmetic, before a member list of 2**31 PEs is built (8 GiB, seconds)
import time
t0 = time.monotonic()
expect_error(shmem.aclshmem_broadcast64, guard[:2], src[:2], 2, 0, 0, 0, 2**31 - 1, ps, code=INV)
expect_error(shmem.aclshmem_fcollect64, guard, src[:1], 1, 0, 0, 2**31 - 1, ps, code=INV)
assert time.monotonic() - t0 < 2.0, "refusing PE_size 2**31-1 took %.1f s" % (time.monotonic() - t0)
shmem.aclshmem_barrier_all()
assert (small[:4] == 0).all() and (small[4:] == -7).all(), small
assert (d == 0).all(), d
# *_to_all: pSync and pWrk too small
v = shmem.zeros(3, np.int32)
pwrk = shmem.zeros(shmem.ACLSHMEM_REDUCE_MIN_WRKDATA_SIZE, np.int32)
v[:] = 5
expect_error(shmem.aclshmem_int_sum_to_all, v, v, 3, 0, 0, n, pwrk, small[:4], code=INV)
expect_error(shmem.aclshmem_int_sum_to_all, v, v, 3, 0, 0, n, pwrk[:4], ps, code=INV)
shmem.aclshmem_barrier_all()
assert (small[:4] == 0).all() and (small[4:] == -7).all(), small
assert (v == 5).all(), v
# the exact sizes work
guard[:] = -7
shmem.aclshmem_barrier_all()
shmem.aclshmem_fcollect64(guard[:2 * n], src[:2], 2, 0, 0, n, ps)
assert list(guard[:2 * n]) == [100 * (p + 1) + k for p in range(n) for k in range(2)], guard
assert (guard[2 * n:] == -7).all(), guard
shmem.aclshmem_int_sum_to_all(v, v, 3, 0, 0, n, pwrk, ps)
assert (v == 5 * n).all(), v
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_active_set_collectives_are_bounded_by_their_arrays(job):
    """Active-set broadcast/collect/fcollect/alltoall (32 and 64) and *_to_all refuse arrays too small for the
    call, a read-only dest or pSync, a pSync shorter than the runtime's sync size and a short pWrk with
    INVALID_PARAM, with nothing written (dest, the memory after it, pSync)."""
    p = job(2, ACTIVE_SET, timeout=90)
    assert p.stdout.count(" ok") == 2, p.stdout + p.stderr


AMO = """
shmem.aclshmem_init()
me = shmem.my_pe()
INV = shmem.INVALID_PARAM
a = shmem.zeros(4, np.int32)
a[:] = 5
one = a[:1]                                        # 4 bytes: too small for any 64-bit AMO
for fn, args in [
    (shmem.aclshmem_int64_atomic_set, (one, -1, me)),
    (shmem.aclshmem_uint64_atomic_set, (one, 1, me)),
    (shmem.aclshmem_double_atomic_set, (one, 1.5, me)),
    (shmem.aclshmem_int64_atomic_swap, (one, -1, me)),
    (shmem.aclshmem_int64_atomic_compare_swap, (one, 5, -1, me)),
    (shmem.aclshmem_int64_atomic_fetch_add, (one, 1, me)),
    (shmem.aclshmem_int64_atomic_add, (one, 1, me)),
    (shmem.aclshmem_int64_atomic_inc, (one, me)),
    (shmem.aclshmem_int64_atomic_fetch_inc, (one, me)),
    (shmem.aclshmem_int64_atomic_xor, (one, -1, me)),
    (shmem.aclshmem_int64_atomic_fetch, (one, me)),
    (shmem.aclshmem_int64_atomic_fetch_nbi, (bytearray(8), one, me)),
    (shmem.aclshmem_int64_atomic_swap_nbi, (bytearray(8), one, -1, me)),
    (shmem.aclshmem_int64_atomic_fetch_or_nbi, (bytearray(8), one, -1, me)),
    (shmem.aclshmem_int32_atomic_set, (a[:0], -1, me)),
    (shmem.aclshmem_ctx_int64_atomic_set, (shmem.ACLSHMEM_CTX_DEFAULT, one, -1, me)),
    (shmem.aclshmem_ctx_int64_atomic_fetch_add, (shmem.ACLSHMEM_CTX_DEFAULT, one, 1, me)),
    (shmem.aclshmem_ctx_int64_atomic_fetch, (shmem.ACLSHMEM_CTX_DEFAULT, one, me)),
]:
    expect_error(fn, *args, code=INV)
    assert list(a) == [5, 5, 5, 5], (fn.__name__, a)
# a view of exactly the width works
shmem.aclshmem_int64_atomic_set(a[:2], -1, me)
shmem.aclshmem_int32_atomic_set(a[2:3], 9, me)
assert list(a) == [-1, -1, 9, 5], a
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_amo_is_bounded_by_the_array(job):
    """A 64-bit AMO (plain, fetching, _nbi, ctx) on a 4-byte view is INVALID_PARAM and writes nothing."""
    p = job(1, AMO, timeout=60)
    assert p.stdout.count(" ok") == 1, p.stdout + p.stderr


LEAK_PRELUDE = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
INV = shmem.INVALID_PARAM
src = shmem.zeros(4)                               # float64: no xor
def addr(x):
    return x.__array_interface__["data"][0]
probe = shmem.zeros(4)
where = addr(probe)
shmem.free(probe)
"""

LEAK_CHECK = """
again = shmem.zeros(4)
assert addr(again) == where, (hex(addr(again)), hex(where))
"""

END = """
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""

NO_LEAK_COLLECTIVES = LEAK_PRELUDE + """
for _ in range(20):
    expect_error(shmem.sum_reduce, np.ones(4), code=INV)       # source not symmetric
    expect_error(shmem.xor_reduce, src, code=INV)              # no xor on float64
    expect_error(shmem.reduce, src, "and", code=INV)
    expect_error(shmem.fcollect, np.ones(4), code=INV)
    expect_error(shmem.collect, np.ones(4), code=INV)
    expect_error(shmem.alltoall, np.ones(4 * n), code=INV)
""" + LEAK_CHECK + END


def test_failed_numpy_collectives_free_the_dest_they_allocated(job):
    """NumPy collectives that allocate their dest and fail (non-symmetric source, an operator the dtype lacks)
    raise INVALID_PARAM on every PE and leave the heap as it was: the next allocation gets the address it got
    before the failing calls."""
    p = job(2, NO_LEAK_COLLECTIVES, timeout=90)
    assert p.stdout.count(" ok") == 2, p.stdout + p.stderr


NO_LEAK_ALLOC = LEAK_PRELUDE + """
for _ in range(20):
    expect_error(shmem.zeros, 4, object, code=INV)
    expect_error(shmem.array, 4, object, code=INV)
    expect_error(shmem.zeros, 4, np.dtype(str), code=INV)      # itemsize 0
    expect_error(shmem.array, (2, 2), np.dtype("V0"), code=INV)
    expect_error(shmem.zeros, (2.9,), exc=TypeError)
    expect_error(shmem.array, 2.5, exc=TypeError)
""" + LEAK_CHECK + """
# integer-like shapes still work
assert shmem.zeros(np.int64(3)).shape == (3,)
assert shmem.array([np.int32(2), 3], np.int8).shape == (2, 3)
assert shmem.zeros(np.array([2, 2])).shape == (2, 2)
""" + END


def test_zeros_and_array_refuse_bad_dtypes_and_shapes_before_allocating(job):
    """shmem.zeros/array with an object or zero-itemsize dtype are INVALID_PARAM, a float in the shape a
    TypeError (not truncated), and none of them takes heap space."""
    p = job(2, NO_LEAK_ALLOC, timeout=90)
    assert p.stdout.count(" ok") == 2, p.stdout + p.stderr


STRIDED = """
shmem.aclshmem_init()
me = shmem.my_pe()
INV = shmem.INVALID_PARAM
lo, size = shmem.heap_range()
a = shmem.zeros(2, np.int64)
a[:] = 5
at = a.__array_interface__["data"][0]
far = size // 8 + 1                                 # element 1 at this stride lies past the heap's end
expect_error(shmem.aclshmem_int64_iput, at, np.full(2, 7, np.int64), far, 1, 2, me, code=INV)
assert list(a) == [5, 5], a
out = np.full(2, -1, np.int64)
expect_error(shmem.aclshmem_int64_iget, out, at, 1, far, 2, me, code=INV)
assert list(out) == [-1, -1], out
expect_error(shmem.aclshmem_iput64, at, np.full(2, 7, np.int64), far, 1, 2, me, code=INV)
assert list(a) == [5, 5], a
# inside the heap the same calls work
shmem.aclshmem_int64_iput(at, np.array([7, 8], np.int64), 1, 1, 2, me)
shmem.aclshmem_int64_iget(out, at, 1, 1, 2, me)
assert list(a) == [7, 8] and list(out) == [7, 8], (a, out)
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_strided_rma_checks_the_whole_span_first(job):
    """iput/iget with an int symmetric address whose span leaves the heap are INVALID_PARAM with no element
    moved."""
    p = job(1, STRIDED, timeout=60)
    assert p.stdout.count(" ok") == 1, p.stdout + p.stderr


ITERABLE = """
import itertools
shmem.aclshmem_init()
me = shmem.my_pe()
iv = shmem.zeros(2, np.int32)
# an endless iterable of comparison values: only nelems are read
shmem.aclshmem_int32_wait_until_all_vector(iv, 2, None, shmem.CMP_EQ, itertools.repeat(0))
r = shmem.aclshmem_int32_test_all_vector(iv, 2, None, shmem.CMP_EQ, itertools.repeat(0))
assert r == 1, r
# too few is still INVALID_PARAM
expect_error(shmem.aclshmem_int32_wait_until_all_vector, iv, 2, None, shmem.CMP_EQ, iter([0]),
             code=shmem.INVALID_PARAM)
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_cmp_values_iterable_is_read_only_to_nelems(job):
    """An endless iterable as cmp_values is read to nelems (the call returns), a short one is INVALID_PARAM."""
    p = job(1, ITERABLE, timeout=30)
    assert p.stdout.count(" ok") == 1, p.stdout + p.stderr


CTX_LENT = """
shmem.aclshmem_init()
me = shmem.my_pe()
a = shmem.aclshmem_malloc(64)
ctx = shmem.aclshmem_ctx_create(0)
ba = bytearray(8)
shmem.aclshmem_ctx_putmem_nbi(ctx, a, ba, 8, me)   # lent to ctx until its quiet or destroy
expect_error(ba.extend, b"x", exc=BufferError)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()                          # completes every operation: nothing is lent any more
ba.extend(b"x")
assert len(ba) == 9
expect_error(shmem.aclshmem_ctx_destroy, ctx, code=shmem.NOT_INITED)
print("PE", me, "ok")
"""


def test_finalize_releases_buffers_lent_to_a_context(job):
    """A buffer lent to a context's _nbi call and never quieted is released by finalize."""
    p = job(1, CTX_LENT, timeout=60)
    assert p.stdout.count(" ok") == 1, p.stdout + p.stderr


ATTACH = """
shmem.aclshmem_init()
me = shmem.my_pe()
first = shmem._shmem._alloc_block(64, 64, True)
second = shmem._shmem._alloc_block(64, 64, True)
b = shmem._shmem._BufferBase()
b._attach(first, 0, 64)
mv = memoryview(b)
expect_error(b._attach, second, 0, 32, code=shmem.INVALID_PARAM)
assert b._block is first and len(memoryview(b)) == 64
mv.release()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_buffer_cannot_be_attached_twice(job):
    """_BufferBase._attach on an attached buffer is INVALID_PARAM and keeps the first block (and its pin)."""
    p = job(1, ATTACH, timeout=60)
    assert p.stdout.count(" ok") == 1, p.stdout + p.stderr
