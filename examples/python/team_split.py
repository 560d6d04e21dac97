"""The seed's team split: a strided team of the even PEs, and a 2-D split into rows and columns.

    python -m shmem.run -n 4 examples/python/team_split.py
"""
import shmem

shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
W = shmem.TEAM_WORLD

# team_split_strided(parent, start, stride, size): the even PEs
evens = shmem.team_split_strided(W, 0, 2, (n + 1) // 2)
if evens != shmem.TEAM_INVALID:
    print(f"PE {me}: rank {shmem.team_my_pe(evens)} of {shmem.team_n_pes(evens)} in the even team; "
          f"its PE 0 is world PE {shmem.team_translate_pe(evens, 0, W)}; "
          f"config {shmem.aclshmem_team_get_config(evens)}")
    shmem.aclshmem_team_barrier(evens)
    shmem.team_destroy(evens)
else:
    print(f"PE {me}: not in the even team (team_my_pe = {shmem.team_my_pe(evens)})")

# team_split_2d(parent, x_range): rows of 2 PEs
x_team, y_team = shmem.team_split_2d(W, 2)
print(f"PE {me}: row team rank {shmem.my_pe(x_team)}/{shmem.pe_count(x_team)}, "
      f"column team rank {shmem.my_pe(y_team)}/{shmem.pe_count(y_team)}")
shmem.aclshmem_barrier_all()
shmem.team_destroy(x_team)
shmem.team_destroy(y_team)
shmem.aclshmem_finalize()
