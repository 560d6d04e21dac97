"""Producer/consumer with put-with-signal: PE 0 streams chunks into a ring of slots on PE 1; each put carries
its sequence number in the slot's signal word, and PE 1 returns credits with an atomic add.

    python -m shmem.run -n 2 examples/python/producer_consumer.py
"""
import numpy as np

import shmem

shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
assert n >= 2, "run with at least 2 PEs"
SLOTS, CHUNK, TOTAL = 4, 4096, 64
slots = shmem.zeros((SLOTS, CHUNK), np.uint8)   # on the consumer
seq = shmem.zeros(SLOTS, np.uint64)             # one signal word per slot
credits = shmem.zeros(1, np.int64)              # on the producer: slots the consumer has freed
shmem.aclshmem_barrier_all()
if me == 0:
    for i in range(TOTAL):
        # wait for a free slot: i - credits < SLOTS
        shmem.aclshmem_int64_wait_until(credits, shmem.CMP_GT, i - SLOTS)
        chunk = np.full(CHUNK, i % 251, np.uint8)
        s = i % SLOTS
        shmem.put_signal(slots[s], chunk, seq[s:s + 1], i + 1, 1)   # data first, then the signal
    print(f"PE 0: produced {TOTAL} chunks of {CHUNK} B")
elif me == 1:
    total = 0
    for i in range(TOTAL):
        s = i % SLOTS
        shmem.aclshmem_signal_wait_until(seq[s:s + 1], shmem.CMP_EQ, i + 1)
        assert (slots[s] == i % 251).all()
        total += int(slots[s][0])
        shmem.aclshmem_int64_atomic_add(credits, 1, 0)               # give the slot back
    print(f"PE 1: consumed {TOTAL} chunks, checksum {total}")
shmem.aclshmem_barrier_all()
for a in (slots, seq, credits):
    shmem.free(a)
shmem.aclshmem_finalize()
