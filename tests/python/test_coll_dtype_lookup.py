"""The cached dtype lookup of the NumPy-level collectives (benchmark fix of issue 15: ``dtype.name`` cost about
2 µs per call under NumPy 2, more than an 8-byte broadcast): the cache must accept and refuse exactly what the
name lookup did, whatever the order of first use, and map every dtype to its own typed call."""
from __future__ import annotations

import numpy as np
import pytest

from shmem import _collectives as c

NAMES = {"int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64", "uint8": "uint8",
         "uint16": "uint16", "uint32": "uint32", "uint64": "uint64", "float32": "float", "float64": "double",
         "complex64": "complexf", "complex128": "complexd"}


def test_every_dtype_maps_to_its_name_twice_in_any_order():
    for order in (list(NAMES), list(reversed(NAMES))):
        c._BY_DTYPE.clear()
        for _ in range(2):              # the second round is served by the cache
            for dt in order:
                assert c._tname(np.zeros(2, dt)) == NAMES[dt], dt
    # Byte order is a different dtype object with the same name: accepted as before, cached separately.
    assert c._tname(np.zeros(2, ">f8")) == "double"
    assert c._tname(np.zeros(2, "<f8")) == "double"
    assert c._fn("double", "broadcast") is c._fn("double", "broadcast")
    assert c._fn("int8", "broadcast") is not c._fn("double", "broadcast")


@pytest.mark.parametrize("bad", [np.float64(1.0), [1.0, 2.0], 3, np.zeros(2, np.longdouble), np.zeros(2, bool),
                                 np.zeros(2, "U3")])
def test_refusals_are_unchanged(bad):
    for _ in range(2):                  # also after a first refusal (nothing cached for it)
        with pytest.raises(TypeError):
            c._tname(bad)
    with pytest.raises(TypeError):
        c._fn("double", "xor_to_nothing")
