"""Team splits as upstream Ascend SHMEM programs use them (issue 12 item 4) and stale team handles (issue 10).

Each PE may pass its own triplet to `team_split_strided` as long as the teams they describe are disjoint (PEs
that name the same team pass the same triplet); overlapping but different teams are an error on every PE.
"""
from __future__ import annotations

import pytest

SOLO = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
W = shmem.TEAM_WORLD
assert W == 0 and shmem.TEAM_INVALID == -1
# upstream's idiom: every PE in a one-PE team of its own
t = shmem.team_split_strided(W, me, 1, 1)
assert isinstance(t, int) and t > 0, t
assert shmem.team_my_pe(t) == 0 and shmem.team_n_pes(t) == 1, (shmem.team_my_pe(t), shmem.team_n_pes(t))
assert shmem.team_translate_pe(t, 0, W) == me
shmem.aclshmem_team_barrier(t)
shmem.team_destroy(t)
# a destroyed team's handle is an error even after a new team reuses its slot
t2 = shmem.team_split_strided(W, me, 1, 1)
assert t2 != t and shmem.team_n_pes(t2) == 1
expect_error(shmem.aclshmem_team_barrier, t, code=-1)
expect_error(shmem.aclshmem_team_sync, t, code=-1)
expect_error(shmem.team_destroy, t, code=-1)
expect_error(shmem.aclshmem_team_get_config, t, code=-1)
expect_error(shmem.team_split_strided, t, 0, 1, 1, code=-1)
assert shmem.team_my_pe(t) == -1 and shmem.team_n_pes(t) == -1 and shmem.team_translate_pe(t, 0, W) == -1
shmem.team_destroy(t2)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_each_pe_in_a_team_of_its_own(job, n):
    p = job(n, SOLO, timeout=60)
    assert p.stdout.count(" ok") == n


PAIRS = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
assert n == 4
W = shmem.TEAM_WORLD
# two disjoint pairs {0, 1} and {2, 3}: each pair passes its own triplet
pair = shmem.team_split_strided(W, me - me % 2, 1, 2)
assert shmem.team_n_pes(pair) == 2 and shmem.team_my_pe(pair) == me % 2
assert shmem.team_translate_pe(pair, 1 - me % 2, W) == me ^ 1
buf = shmem.zeros(2, np.int64)
for rnd in range(1, 21):
    shmem.aclshmemx_team_putmem(pair, buf.ctypes.data + 8 * (me % 2), np.array([rnd * 100 + me], np.int64), 8,
                                1 - me % 2)
    shmem.aclshmem_team_barrier(pair)
    assert buf[1 - me % 2] == rnd * 100 + (me ^ 1), (rnd, buf)
    shmem.aclshmem_team_barrier(pair)
got = np.zeros(1, np.int64)
shmem.aclshmemx_team_getmem(pair, got, buf.ctypes.data + 8, 8, 0)
assert got[0] == 2000 + (me - me % 2) + 1, got
# the pair ids agree within each pair
ids = shmem.zeros(4, np.int64)
shmem.aclshmem_putmem(ids.ctypes.data + 8 * me, np.array([pair], np.int64), 8, 0)
shmem.aclshmem_barrier_all()
if me == 0:
    assert ids[0] == ids[1] and ids[2] == ids[3], ids
shmem.aclshmem_barrier_all()
shmem.team_destroy(pair)

# overlapping but different teams: INVALID_VALUE (-2) on every PE, PE 0 naming {0, 1} and the others themselves
s, z = (0, 2) if me == 0 else (me, 1)
e = expect_error(shmem.team_split_strided, W, s, 1, z, code=-2)
assert "overlap" in str(e), e
# a triplet outside the parent on one PE: INVALID_PARAM (-1) on every PE
expect_error(shmem.team_split_strided, W, n if me == 3 else me, 1, 1, code=-1)
# splits still work afterwards
t = shmem.team_split_strided(W, me, 1, 1)
assert shmem.team_n_pes(t) == 1
shmem.team_destroy(t)
shmem.free(buf); shmem.free(ids)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_disjoint_pairs_rma_barrier_and_overlap_errors(job):
    p = job(4, PAIRS, timeout=90)
    assert p.stdout.count(" ok") == 4
