"""All-to-all with NumPy arrays: PE i sends row j of its `send` matrix into row i of PE j's `recv`.

    python -m shmem.run -n 4 examples/python/all_to_all.py
"""
import numpy as np

import shmem

shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
k = 1024
send = shmem.array((n, k), np.float32)       # the source does not need to be symmetric; this one is
recv = shmem.zeros((n, k), np.float32)
send[:] = me * 1000 + np.arange(n)[:, None]  # row j is destined to PE j
for j in range(n):
    shmem.put(recv[me], send[j], j, nbi=True)   # recv[me] is a view: its address is the same on every PE
shmem.aclshmem_barrier_all()                    # completes the nbi puts and synchronizes
expected = np.arange(n)[:, None] * 1000.0 + me
assert (recv == expected).all()
checksum = int(recv.sum(dtype=np.float64))     # k * sum_j (1000 j + me): exact, checkable by a test
print(f"PE {me}: all-to-all of {n}x{k} float32 ok; checksum {checksum}")
shmem.free(send)
shmem.free(recv)
shmem.aclshmem_finalize()
