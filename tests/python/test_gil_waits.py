"""The GIL kept by small collectives that do not wait, and given up by those that do.

Small broadcasts, reductions, (f)collects, alltoalls and barriers keep the GIL when they complete at once and
release it where they would wait (the runtime's "about to block" hook, `shmem_sync::hook`). Holding it across a
real wait would deadlock a PE with more than one Python thread: here PE 0's main thread enters a collective whose peers first wait for a
signal that PE 0's *other* thread sends after a short sleep; that thread needs the GIL to send it. Every call must
complete (well within the bound) with the exact result, for every call and team shape.
"""
from __future__ import annotations

import pytest

BODY = """
import threading
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.n_pes()
flag = shmem.zeros(1, np.int64)
src = shmem.zeros(2, np.float64)
dst = shmem.zeros(2, np.float64)
# Every member's block: the dest of fcollect, collect and alltoall, and alltoall's source.
every = shmem.zeros(2 * n, np.float64)
blocks = shmem.zeros(2 * n, np.float64)
pair = shmem.team_split_strided(shmem.TEAM_WORLD, 0, 1, 2) if n > 2 else shmem.TEAM_WORLD
shmem.aclshmem_barrier_all()
CALLS = ["broadcast_member", "broadcast_root", "sum_reduce", "sum_reduce_1", "barrier_all", "sync_all",
         "team_sync", "fcollect", "collect", "alltoall"]
for k, what in enumerate(CALLS, start=1):
    src[:] = [me + 1.5, 10.0 * me]
    dst[:] = -1.0
    every[:] = -1.0
    # Block j (for member j): [100 me + j, me + 0.25].
    blocks[:] = [v for j in range(n) for v in (100.0 * me + j, me + 0.25)]
    out = dst
    shmem.aclshmem_barrier_all()
    if me == 0:
        # The other thread wakes the peers only after this thread has entered the call and waits in it.
        def wake_peers(k=k):
            time.sleep(0.2)
            for pe in range(1, n):
                shmem.aclshmem_int64_p(flag, k, pe)
        th = threading.Thread(target=wake_peers)
        th.start()
    else:
        shmem.aclshmem_int64_wait_until(flag, shmem.CMP_EQ, k)
    t0 = time.monotonic()
    if what == "broadcast_member":
        shmem.broadcast(dst, src, root=n - 1)
        want = [n - 1 + 1.5, 10.0 * (n - 1)]
    elif what == "broadcast_root":
        # Root 0 posts at once (no wait); the members wait for the thread's signal first, then read the post.
        shmem.broadcast(dst, src, root=0)
        want = [1.5, 0.0]
    elif what == "sum_reduce":
        shmem.sum_reduce(src, dst)
        want = [sum(p + 1.5 for p in range(n)), sum(10.0 * p for p in range(n))]
    elif what == "sum_reduce_1":
        shmem.sum_reduce(src[:1], dst[:1])
        want = [sum(p + 1.5 for p in range(n)), -1.0]
    elif what == "barrier_all":
        shmem.aclshmem_barrier_all()
        want = [-1.0, -1.0]
    elif what == "sync_all":
        shmem.aclshmem_sync_all()
        want = [-1.0, -1.0]
    elif what == "fcollect":
        shmem.fcollect(src, every)
        out, want = every, [v for p in range(n) for v in (p + 1.5, 10.0 * p)]
    elif what == "collect":
        # Counts differ: one element from even members, two from odd ones; the rest of dest stays untouched.
        shmem.collect(src[: 1 + me % 2], every)
        got = [v for p in range(n) for v in (p + 1.5, 10.0 * p)[: 1 + p % 2]]
        out, want = every, got + [-1.0] * (2 * n - len(got))
    elif what == "alltoall":
        shmem.alltoall(blocks, every)
        out, want = every, [v for i in range(n) for v in (100.0 * i + me, i + 0.25)]
    else:
        if pair != shmem.TEAM_INVALID:   # PEs 0 and 1 (a team of two inside a larger job when n > 2)
            shmem.aclshmem_team_sync(pair)
        want = [-1.0, -1.0]
    took = time.monotonic() - t0
    assert out.tolist() == want, (what, me, out.tolist(), want)
    if me == 0:
        th.join()
        # The thread ran while this one waited (0.2 s sleep); a held GIL would have kept it out until the control
        # timeout ended the call with an error. A posting root does not wait at all.
        assert took < 10 and (what == "broadcast_root" or took > 0.15), (what, took)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok", flush=True)
"""


@pytest.mark.parametrize("n", [2, 3])
def test_a_collective_waiting_for_another_thread_of_its_pe_gives_the_gil_up(job, n):
    p = job(n, BODY, timeout=90, env={"SHMEM_CONTROL_TIMEOUT": "20"})
    for pe in range(n):
        assert f"PE {pe} ok" in p.stdout, p.stdout + p.stderr


FAST = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.n_pes()
src = shmem.zeros(1, np.float64)
dst = shmem.zeros(1, np.float64)
every = shmem.zeros(n, np.float64)
blocks = shmem.zeros(n, np.float64)
# Int addresses: the typed call knows no dest size, so its bytes are counted from the team's size.
a_every, a_src = every.__array_interface__["data"][0], src.__array_interface__["data"][0]
total = 0.0
for i in range(2000):
    src[0] = me + i
    shmem.broadcast(dst, src, root=i % n)
    assert dst[0] == (i % n) + i, (i, dst[0])
    shmem.sum_reduce(src, dst)
    assert dst[0] == sum(p + i for p in range(n)), (i, dst[0])
    total += dst[0]
    if i % 4 == 0:
        shmem.fcollect(src, every)
        assert every.tolist() == [p + i for p in range(n)], (i, every.tolist())
    elif i % 4 == 1:
        shmem.collect(src[: me % 2], every[: n // 2])
        assert every.tolist()[: n // 2] == [p + i for p in range(1, n, 2)], (i, every.tolist())
    elif i % 4 == 2:
        blocks[:] = [1000.0 * me + j + i for j in range(n)]
        shmem.alltoall(blocks, every)
        assert every.tolist() == [1000.0 * p + me + i for p in range(n)], (i, every.tolist())
    else:
        shmem._shmem.aclshmem_double_fcollect(shmem.TEAM_WORLD, a_every, a_src, 1)
        assert every.tolist() == [p + i for p in range(n)], (i, every.tolist())
    if i % 100 == 0:
        shmem.aclshmem_barrier_all()
assert total == sum(sum(p + i for p in range(n)) for i in range(2000))
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok", flush=True)
"""


@pytest.mark.parametrize("n", [2, 4])
def test_back_to_back_small_collectives_are_exact(job, n):
    """Calls that keep the GIL (no wait) and calls that give it up mid-call, mixed, with exact results."""
    p = job(n, FAST, timeout=120)
    for pe in range(n):
        assert f"PE {pe} ok" in p.stdout, p.stdout + p.stderr
