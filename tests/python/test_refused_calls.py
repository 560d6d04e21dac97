"""A refused call has no side effect: every argument is checked before the remote word or data changes (the
fetching `_nbi` AMOs, gets, put-with-signal, waits with a bad output). Also: `peer_array` errors carry their
code, and `free(int)` of a block a live array views marks the array freed (either order is safe)."""
import inspect
import re

import shmem

# Every fetching `_nbi` AMO of every AMO TYPE (aliases included), generated from the module.
NBI_AMOS = sorted(n for n in dir(shmem) if re.fullmatch(r"aclshmem_[a-z0-9]+_atomic_[a-z_]+_nbi", n))
SIGS = {n: list(inspect.signature(getattr(shmem, n)).parameters) for n in NBI_AMOS}

BODY = r"""
import re
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
assert n == 2
ALIASES = shmem.AMO_TYPE_ALIASES
DT = {"int32": np.int32, "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64,
      "float": np.float32, "double": np.float64}
words = {dt: shmem.zeros(1, dt) for dt in DT.values()}
shmem.aclshmem_barrier_all()
checked = 0
if me == 0:
    for name, params in NBI_AMOS.items():
        ty = re.fullmatch(r"aclshmem_([a-z0-9]+)_atomic_.*", name).group(1)
        base = ALIASES.get(ty, ty)
        dt = DT[base]
        w = words[dt]
        fn = getattr(shmem, name)
        bad = [(bytes(8), dict(code=-1)), (None, dict(exc=TypeError)), (bytearray(2), dict(code=-1)),
               (memoryview(bytearray(8)).toreadonly(), dict(code=-1)), (12345, dict(code=-1))]
        for fetch, want in bad:
            getattr(shmem, f"aclshmem_{base}_atomic_set")(w, dt(10), 1)
            vals = {"fetch": fetch, "source": w, "dest": w, "value": dt(3), "cond": dt(10), "pe": 1}
            expect_error(fn, *[vals[p] for p in params], **want)
            after = getattr(shmem, f"aclshmem_{base}_atomic_fetch")(w, 1)
            assert after == 10, (name, fetch, after)       # the remote word did not change
            checked += 1
        # the same call with a usable fetch does apply (so the check above can see a change)
        f = np.zeros(1, dt)
        vals = {"fetch": f, "source": w, "dest": w, "value": dt(3), "cond": dt(10), "pe": 1}
        fn(*[vals[p] for p in params]); shmem.aclshmem_quiet()
        assert f[0] == 10, (name, f)
    # gets into unusable destinations, put_signal with a bad signal word: nothing lands, nothing changes
    data = shmem.zeros(64, np.uint8); sig = shmem.zeros(1, np.uint64)
    shmem.aclshmem_barrier_all()
    expect_error(shmem.aclshmem_getmem, bytes(64), data, 64, 1, code=-1)
    expect_error(shmem.aclshmem_getmem_nbi, bytes(64), data, 64, 1, code=-1)
    expect_error(shmem.aclshmem_get64_nbi, bytearray(8), data, 8, 1, code=-1)    # destination too small
    src = np.full(64, 0xAB, np.uint8)
    heap_base, heap_len = shmem.heap_range()
    expect_error(shmem.aclshmemx_putmem_signal, data, src, 64, heap_base + heap_len + 64, 1, shmem.SIGNAL_SET, 1,
                 code=-1)
    expect_error(shmem.aclshmemx_putmem_signal_nbi, data, src, 64, sig, 1, 7, 1, code=-1)   # bad sig_op
    expect_error(shmem.aclshmemx_putmem_signal, data, src, 64, bytearray(4), 1, shmem.SIGNAL_SET, 1, code=-1)
    expect_error(shmem.aclshmem_putmem, data, src, 65, 1, code=-1)                # source too small
    shmem.aclshmem_quiet()
    back = np.zeros(64, np.uint8); shmem.aclshmem_getmem(back, data, 64, 1)
    assert (back == 0).all() and shmem.aclshmem_uint64_atomic_fetch(sig, 1) == 0
    # a wait with an unusable output is refused before it waits (this one could never be satisfied)
    t0 = time.monotonic()
    expect_error(shmem.aclshmem_uint64_wait_until_any, sig, 1, None, shmem.CMP_EQ, 5, bytes(8), code=-1)
    expect_error(shmem.aclshmem_uint64_wait_until_some, sig, 1, np.zeros(1, np.uint64), None, shmem.CMP_EQ, 5,
                 bytes(8), code=-1)
    expect_error(shmem.aclshmem_uint64_wait_until_some, sig, 1, bytes(8), None, shmem.CMP_EQ, 5, code=-1)
    assert time.monotonic() - t0 < 5
    print("checked", checked, flush=True)
else:
    data = shmem.zeros(64, np.uint8); sig = shmem.zeros(1, np.uint64)
    shmem.aclshmem_barrier_all()
shmem.aclshmem_barrier_all()

# peer_array: exact codes
x = shmem.zeros(4, np.int64)
e = expect_error(shmem.peer_array, np.zeros(4, np.int64), 1 - me, code=-1)
assert isinstance(e.code, int)
pv = shmem.peer_array(x, 1 - me)
expect_error(shmem.peer_array, pv, me, code=-1)           # a peer view is not an array made by shmem.array
expect_error(shmem.peer_array, x, 99, code=-1)            # no such PE
shmem.aclshmem_barrier_all()

# free(int) of a block that arrays view marks them freed; a later free(array) is a clear error, not a second
# free of whatever was allocated there since
a = shmem.zeros(8, np.int64)
view = a[2:]
addr = a.__array_interface__["data"][0]
shmem.free(addr)
assert shmem._shmem._block_of(a).freed
b = shmem.zeros(8, np.int64)                              # may reuse the same address
b[:] = 7
e = expect_error(shmem.free, a, code=-1); assert "already freed" in str(e), e
expect_error(shmem.free, view, code=-1)
expect_error(shmem.free, addr, code=-1) if b.__array_interface__["data"][0] != addr else None
assert (b == 7).all()
shmem.aclshmem_barrier_all()
# the other order: free(array), then free(int) is refused by the heap (no live block there)
shmem.free(b)
expect_error(shmem.free, b.__array_interface__["data"][0], code=-1)
c = shmem.zeros(8, np.int64); d = shmem.zeros(8, np.int64)
ca, da = c.__array_interface__["data"][0], d.__array_interface__["data"][0]
assert ca + 64 <= da or da + 64 <= ca                      # no two live blocks overlap
shmem.free(c); shmem.free(d)
# a peer view outliving its array: free(int) still finds the block, marks the view freed, and counts it once
e = shmem.zeros(4, np.int64)
ea = e.__array_interface__["data"][0]
pv2 = shmem.peer_array(e, 1 - me)
del e; gc.collect()
shmem.free(ea)
assert shmem._shmem._block_of(pv2).freed
shmem.free(x)
for arr in (*words.values(), data, sig):
    shmem.free(arr)
shmem.aclshmem_barrier_all()
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    shmem.aclshmem_finalize()
assert not caught, [str(w.message) for w in caught]     # every block was freed: nothing left to warn about
print("PE", me, "ok")
"""


def test_refused_calls_have_no_side_effect(job):
    p = job(2, f"NBI_AMOS = {SIGS!r}\n" + BODY, timeout=120)
    assert p.stdout.count(" ok") == 2
    checked = int(re.search(r"checked (\d+)", p.stdout).group(1))
    assert checked == 5 * len(NBI_AMOS) and len(NBI_AMOS) >= 6 * 5, (checked, len(NBI_AMOS))
