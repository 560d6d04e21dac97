"""`aclshmem_align` (issue 10 defect 3): every power of two up to the largest accepted alignment (1 GiB) gives an
address aligned that much, at the same heap offset on every PE; anything else is INVALID_PARAM on every PE."""
from __future__ import annotations

import pytest

BODY = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
MAX = 1 << 30
offs = []
base = shmem.aclshmem_malloc(16); shmem.aclshmem_free(base)   # offset 0 of an empty heap: the heap base
k = 1
while k <= MAX:
    a = shmem.aclshmem_align(k, 64)
    assert a % k == 0, (k, hex(a))
    offs.append(a - base)
    shmem.aclshmem_free(a)
    k *= 2
for bad in (2 * MAX, 1 << 40, 0, 3, 48, -1, -4096):
    expect_error(shmem.aclshmem_align, bad, 64, code=-1)
table = shmem.zeros(len(offs) * n, np.int64)
shmem.aclshmem_putmem(table.ctypes.data + 8 * len(offs) * me, np.array(offs, np.int64), 8 * len(offs), 0)
shmem.aclshmem_barrier_all()
if me == 0:
    rows = table.reshape(n, len(offs))
    assert all((rows[p] == rows[0]).all() for p in range(n)), rows
    assert list(rows[0]) == offs
shmem.aclshmem_barrier_all()
shmem.free(table)
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [1, 2])
def test_align_every_power_of_two(job, n):
    p = job(n, BODY, timeout=60)
    assert p.stdout.count(" ok") == n
