"""NumPy views of symmetric memory: zero copy, peer views, DLPack, collective free, the GC never frees,
finalize with live arrays (warning, no crash afterwards)."""
import pytest

BODY = r"""
import warnings, weakref
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
right, left = (me + 1) % n, (me - 1) % n
a = shmem.zeros((3, 4), np.float64)
assert a.shape == (3, 4) and a.dtype == np.float64 and (a == 0).all() and a.flags.writeable
assert shmem.is_symmetric(a) and shmem.is_symmetric(a[1:]) and not shmem.is_symmetric(np.zeros(3))
addr = a.__array_interface__["data"][0]
lo, size = shmem.heap_range(); assert lo <= addr < lo + size
shmem.aclshmem_barrier_all()    # nobody puts into `a` before every PE checked it is zero
# zero copy: a put from the left neighbour lands in our ndarray
shmem.put(a, np.full((3, 4), me, np.float64), right)
shmem.aclshmem_barrier_all()
assert (a == left).all()
# peer views: loads and stores go to the peer's copy
p = shmem.peer_array(a, right)
assert p is not None and p.shape == a.shape and (p == me).all()
shmem.aclshmem_barrier_all()
p[0, 0] = 100 + me
shmem.aclshmem_barrier_all()
assert a[0, 0] == 100 + left
sub = shmem.peer_array(a[1:, ::2], right)        # a strided view of the peer's copy
assert sub.shape == (2, 2) and (sub == me).all()
# DLPack shares the memory
d = np.from_dlpack(a)
d[2, 3] = 7.5
assert a[2, 3] == 7.5 and np.shares_memory(d, a)
# typed arrays through the generic helpers
flag = shmem.zeros(1, np.uint64)
src = np.arange(16, dtype=np.int32) * (me + 1)
dst = shmem.array(16, np.int32)
shmem.aclshmem_barrier_all()
shmem.put_signal(dst, src, flag, 1, right, sig_op=shmem.SIGNAL_ADD)
shmem.wait_until(flag, shmem.CMP_EQ, 1)
assert (dst == np.arange(16, dtype=np.int32) * (left + 1)).all()
back = np.zeros(16, np.int32); shmem.get(back, dst, right); shmem.aclshmem_barrier_all()
assert (back == src).all() and shmem.test(flag, shmem.CMP_GE, 1)
# collective free of an array; the block is marked; double free is an error
blk = shmem._shmem._block_of(dst); assert not blk.freed
shmem.free(dst)
assert blk.freed
expect_error(shmem.free, dst, code=-1)
expect_error(shmem.peer_array, np.zeros(2), 0, exc=ShmemError)
# the GC never frees: drop an array, collect, and check that its memory is still allocated (peers can still
# write it, and new allocations do not reuse it)
g = shmem.zeros(1024, np.uint8)
gaddr = g.__array_interface__["data"][0]
ref = weakref.ref(shmem._shmem._block_of(g))
del g; gc.collect()
assert ref() is None
shmem.aclshmem_putmem(gaddr, bytes([me + 1]) * 1024, 1024, right)
shmem.aclshmem_barrier_all()
for _ in range(8):
    h = shmem.zeros(1024, np.uint8)
    hb = h.__array_interface__["data"][0]
    assert not (gaddr <= hb < gaddr + 1024), "a dropped array's memory was reused: the GC freed it"
    del h
got = bytearray(1024); shmem.aclshmem_getmem(got, gaddr, 1024, me)
assert got == bytes([left + 1]) * 1024
shmem.aclshmem_free(gaddr)   # freeing by address works too
# a large transfer through arrays (releases the GIL)
big = shmem.zeros(4 << 20, np.uint8)
big_src = np.random.default_rng(me).integers(0, 255, 4 << 20, dtype=np.uint8)
shmem.put(big, big_src, right); shmem.aclshmem_barrier_all()
assert (big == np.random.default_rng(left).integers(0, 255, 4 << 20, dtype=np.uint8)).all()
# finalize with live arrays: a RuntimeWarning; afterwards the arrays are still safe to touch
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    shmem.aclshmem_finalize()
assert any("still referenced" in str(w.message) for w in caught), [str(w.message) for w in caught]
a[:] = 3; p[:] = 4; big[:10] = 1
float(a.sum()); float(p.sum()); float(sub.sum()); float(d.sum())   # readable (contents: unspecified)
assert int(big[:10].sum()) == 10
expect_error(shmem.free, a, code=shmem.NOT_INITED)
expect_error(shmem.aclshmem_putmem, 0, a, 8, 0, code=shmem.NOT_INITED)
expect_error(shmem.aclshmem_getmem, addr, 0, 8, 0, code=shmem.NOT_INITED)  # heap ints are refused now
del a, p, sub, d, big; gc.collect()
# init again: new arrays work, old memory stays untouched
shmem.aclshmem_init()
c = shmem.zeros(8, np.int64); c[:] = me
shmem.aclshmem_barrier_all()
shmem.free(c)
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_numpy_views(job, n):
    p = job(n, BODY, timeout=90)
    assert p.stdout.count(" ok") == n
