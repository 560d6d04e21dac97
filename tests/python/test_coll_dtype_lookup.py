"""The dtype rule of the NumPy-level collectives, now read in the extension from the array itself
(crates/bindings-python/src/ndarray.rs; issue 15: the Python-level lookup cost more than an 8-byte broadcast).
It must accept and refuse exactly what the former name lookup did (``_NAMES[dtype.name]``): every NumPy scalar
type in both byte orders and in every layout, with the same TypeError messages. ``_shmem._coll_type_name`` is
that rule (no runtime needed)."""
from __future__ import annotations

import numpy as np
import pytest

from shmem import _shmem

# The former Python-level table (dtype.name -> name of the typed calls).
NAMES = {"int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "uint8": "uint8",
         "uint16": "uint16", "uint32": "uint32", "uint64": "uint64", "float32": "float", "float64": "double",
         "complex64": "complexf", "complex128": "complexd"}


def every_dtype():
    out = set()
    for t in set(np.sctypeDict.values()):
        try:
            dt = np.dtype(t)
        except TypeError:
            continue
        out.add(dt)
        out.add(dt.newbyteorder())
    return sorted(out, key=str)


def former_rule(dt: np.dtype):
    if dt in (np.dtype(np.longdouble), np.dtype(np.clongdouble)) or dt.type in (np.longdouble, np.clongdouble):
        return None   # documented: refused whatever its size (on x86-64 its name is not in the table either)
    return NAMES.get(dt.name)


@pytest.mark.parametrize("dt", every_dtype(), ids=str)
def test_every_numpy_dtype_as_the_name_table_says(dt):
    want = former_rule(dt)
    arrays = [np.zeros(6, dt), np.zeros((2, 3), dt), np.zeros((2, 3), dt, order="F"), np.zeros((), dt),
              np.zeros((4, 4), dt)[:, 1], np.zeros(0, dt)]
    for a in arrays:
        if want is None:
            with pytest.raises(TypeError, match=r"no collective for dtype .* \(long double reduces as float64"):
                _shmem._coll_type_name(a)
        else:
            assert _shmem._coll_type_name(a) == want, (dt, a.shape, a.flags)


def test_platform_aliases_and_subclasses():
    for t in (np.byte, np.short, np.intc, np.int_, np.longlong, np.ubyte, np.ushort, np.uintc, np.uint,
              np.ulonglong, np.single, np.double, np.csingle, np.cdouble):
        dt = np.dtype(t)
        assert _shmem._coll_type_name(np.zeros(3, t)) == NAMES[dt.name], t

    class Sub(np.ndarray):
        pass

    assert _shmem._coll_type_name(np.zeros(3, np.int16).view(Sub)) == "int16"


@pytest.mark.parametrize("bad,msg", [
    (np.float64(1.0), "expected a NumPy array viewing the symmetric heap, got float64"),
    ([1.0, 2.0], "expected a NumPy array viewing the symmetric heap, got list"),
    (3, "expected a NumPy array viewing the symmetric heap, got int"),
    (memoryview(bytearray(8)), "expected a NumPy array viewing the symmetric heap, got memoryview"),
    (np.zeros(2, np.longdouble), "no collective for dtype float128"),
    (np.zeros(2, np.clongdouble), "no collective for dtype complex256"),
    (np.zeros(2, bool), "no collective for dtype bool"),
    (np.zeros(2, "U3"), "no collective for dtype <U3"),
    (np.zeros(2, np.float16), "no collective for dtype float16"),
    (np.zeros(2, "M8[s]"), "no collective for dtype datetime64[s]"),
    (np.zeros(2, object), "no collective for dtype object"),
    (np.zeros(2, [("a", "i4"), ("b", "f8")]), "no collective for dtype "),
])
def test_refusals_are_unchanged(bad, msg):
    if getattr(bad, "dtype", None) in (np.longdouble, np.clongdouble) and np.dtype(np.longdouble).itemsize != 16:
        pytest.skip("long double is not 16 bytes here (its name differs; still refused)")
    for _ in range(2):                  # also after a first refusal (nothing remembered for it)
        with pytest.raises(TypeError) as e:
            _shmem._coll_type_name(bad)
        assert str(e.value).startswith(msg), e.value


def test_fast_and_slow_reading_agree_with_numpy():
    """The array head read directly (the fast way) and through Python-level attributes (the way taken when
    NumPy's layout is not the expected one) give the same answer, and it is NumPy's: data address, size, dtype,
    whether the array is one segment."""
    base = np.arange(60, dtype=np.float64)
    arrays = [np.zeros(5, np.int8), np.zeros((3, 4), np.uint32), np.zeros((3, 4), np.complex64, order="F"),
              np.zeros((), np.int64), np.zeros(0, np.float32), base[3:13], base.reshape(6, 10)[:, 2],
              base.reshape(6, 10)[1:3], base.reshape(3, 4, 5).transpose(1, 0, 2), np.zeros(4, ">i2"),
              np.zeros(3, np.longdouble), np.zeros(3, bool), np.zeros((2, 2), "U2")]
    for a in arrays:
        fast = _shmem._coll_classify(a)
        slow = _shmem._coll_classify(a, slow=True)
        assert fast == slow, (a.dtype, a.shape, a.strides, fast, slow)
        code, state, addr, size = fast
        assert (code >= 65536) == (not a.dtype.isnative and code != 0), (a.dtype, fast)   # byte order flag
        code %= 65536
        one_segment = a.flags.c_contiguous or a.flags.f_contiguous
        if code == 0:
            assert state == 1 and former_rule(a.dtype) is None, (a.dtype, fast)
        elif not one_segment:
            assert state == 2, (a.shape, a.strides, fast)
        else:
            assert state == 3 and addr == a.ctypes.data and size == a.size, (a.shape, fast)
    for other in ([1, 2], 3, b"xy", memoryview(b"ab")):
        assert _shmem._coll_classify(other) == _shmem._coll_classify(other, slow=True) == (0, 0, 0, 0)


def test_the_collectives_pickle_by_reference():
    """The NumPy-level collectives are extension functions now; like the former Python functions they pickle
    (by name, as functions do), e.g. to hand one to a process pool."""
    import pickle

    import shmem
    for name in ("broadcast", "reduce", "fcollect", "collect", "alltoall", "sum_reduce", "xor_reduce"):
        f = getattr(shmem, name)
        assert pickle.loads(pickle.dumps(f)) is f, name
