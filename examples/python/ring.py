"""Ring: every PE puts its rank into the next PE's symmetric word, then reads what arrived.

    python -m shmem.run -n 4 examples/python/ring.py
"""
import numpy as np

import shmem

shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
box = shmem.zeros(1, np.int64)                                   # collective, zeroed on every PE
shmem.put(box, np.array([me], dtype=np.int64), (me + 1) % n)     # one-sided write into the next PE
shmem.aclshmem_barrier_all()
assert box[0] == (me - 1) % n
print(f"PE {me}/{n}: received {box[0]} from my left neighbour")
shmem.free(box)
shmem.aclshmem_finalize()
