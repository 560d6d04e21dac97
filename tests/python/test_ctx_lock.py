"""Contexts and distributed locks from Python: exact data through contexts (every option, team contexts,
num_contexts limit), a context's quiet not waiting for another's 64 MiB transfer (SDMA), bad inputs with exact
codes, and N PEs x 1000 lock rounds with an exact count; test_lock never blocks."""
import pytest

CTX_RMA = """
me, n = shmem.my_pe(), shmem.pe_count()
nxt = (me + 1) % n
data = shmem.zeros(4096, np.uint8)
sig = shmem.zeros(1, np.uint64)
cnt = shmem.zeros(1, np.int64)
opts = [0, shmem.ACLSHMEM_CTX_SERIALIZED, shmem.ACLSHMEM_CTX_PRIVATE, shmem.SHMEM_CTX_PRIVATE | shmem.SHMEM_CTX_SERIALIZED]
for r, o in enumerate(opts):
    with shmem.Ctx(o) as c:
        mine = ((np.arange(4096) + me * 7 + r) % 251 + 1).astype(np.uint8)
        c.put(data, mine, nxt, nbi=True)
        c.quiet()
        shmem.aclshmem_barrier_all()
        prev = (me + n - 1) % n
        assert np.array_equal(data, ((np.arange(4096) + prev * 7 + r) % 251 + 1).astype(np.uint8)), r
        back = np.zeros(4096, np.uint8)
        c.get(back, data, nxt, nbi=True)
        c.fence()
        c.quiet()
        assert np.array_equal(back, mine), r
        c.put_signal(data, mine[:64], sig, 1, nxt, sig_op=shmem.SIGNAL_ADD)
        shmem.aclshmem_ctx_int64_atomic_add(c.handle, cnt, me + 1, 0)
        assert shmem.aclshmem_ctx_long_atomic_fetch(c.handle, cnt, 0) >= me + 1
        c.quiet()
        shmem.aclshmem_barrier_all()
        assert int(sig[0]) == r + 1, (r, sig)
        assert c.team == shmem.TEAM_WORLD
        shmem.aclshmem_barrier_all()
want = 4 * n * (n + 1) // 2
assert shmem.shmem_ctx_int64_atomic_fetch(shmem.SHMEM_CTX_DEFAULT, cnt, 0) == want
assert shmem.aclshmem_ctx_int64_atomic_compare_swap(0, cnt, -1, 5, 0) == want
own = shmem.zeros(1, np.int64)
h = shmem.shmem_ctx_create(0)
src = np.array([me + 1000], np.int64)
shmem.aclshmem_ctx_putmem(h, own, src, 8, me)
assert int(own[0]) == me + 1000
shmem.aclshmem_ctx_destroy(h)
shmem.aclshmem_barrier_all()
print("CTXOK", me)
shmem.aclshmem_finalize()
"""


NODES = 'os.environ["SHMEM_NODE_ID"] = "py-node-%d" % (int(os.environ["SHMEM_PE"]) // 2)\n'


@pytest.mark.parametrize("n,env,prefix", [
    (2, {}, ""),
    (4, {"SHMEM_DATA_OP_ENGINE": "SDMA"}, ""),
    # Two "nodes" of two PEs: MTE inside a node, TCP between them.
    (4, {"SHMEM_DATA_OP_ENGINE": "MTE|TCP"}, NODES),
])
def test_ctx_rma_amo(job, n, env, prefix):
    p = job(n, prefix + "shmem.aclshmem_init()\n" + CTX_RMA, env=env)
    assert p.stdout.count("CTXOK") == n


def test_ctx_bad_inputs_and_team(job):
    p = job(3, """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
buf = shmem.zeros(4, np.int64)
expect_error(shmem.aclshmem_ctx_create, 8, code=-1)
expect_error(shmem.aclshmem_ctx_destroy, 0, code=-1)
expect_error(shmem.aclshmem_ctx_quiet, 123456, code=-1)
h = shmem.aclshmem_ctx_create(0)
shmem.aclshmem_ctx_destroy(h)
expect_error(shmem.aclshmem_ctx_quiet, h, code=-1)
expect_error(shmem.aclshmem_ctx_putmem, h, buf, np.zeros(1, np.int64), 8, 0, code=-1)
expect_error(shmem.aclshmem_ctx_destroy, h, code=-1)
ns = shmem.Ctx(shmem.ACLSHMEM_CTX_NOSTORE)
expect_error(ns.put, buf, np.ones(1, np.int64), 0, code=-1)
expect_error(shmem.aclshmem_ctx_int64_atomic_fetch_add, ns.handle, buf, 1, 0, code=-1)
assert shmem.aclshmem_ctx_int64_atomic_fetch(ns.handle, buf, me) == 0
ns.destroy()
expect_error(shmem.aclshmem_ctx_create, "x", exc=TypeError)
# A context of TEAM_NODE takes node-relative PE numbers; an invalid team is INVALID_PARAM.
with shmem.Ctx(0, team=shmem.TEAM_NODE) as c:
    assert c.team == shmem.TEAM_NODE
    c.put(buf, np.array([me + 7], np.int64), shmem.team_my_pe(shmem.TEAM_NODE))
    c.quiet()
    assert int(buf[0]) == me + 7
expect_error(shmem.aclshmem_team_create_ctx, 77, 0, code=-1)
shmem.aclshmem_barrier_all()
print("BADOK", me)
shmem.aclshmem_finalize()
""")
    assert p.stdout.count("BADOK") == 3


def test_team_num_contexts_reserves(job):
    """TeamConfig.num_contexts passed to a split reserves that many contexts: exactly that many team contexts
    can be created (INVALID_VALUE, -2, for one more; a destroyed one's place is reused under a new handle), they
    carry data; a negative count on one PE fails the split on every PE with -1, a count beyond the handle space
    with -2; split_2d takes a config per axis."""
    p = job(3, """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
W = shmem.TEAM_WORLD
buf = shmem.zeros(n, np.int64)
t = shmem.team_split_strided(W, 0, 1, n, shmem.TeamConfig(2))
assert shmem.aclshmem_team_get_config(t).num_contexts == 2
a = shmem.aclshmem_team_create_ctx(t, 0)
b = shmem.aclshmem_team_create_ctx(t, shmem.ACLSHMEM_CTX_PRIVATE)
expect_error(shmem.aclshmem_team_create_ctx, t, 0, code=-2)
shmem.aclshmem_ctx_destroy(b)
expect_error(shmem.aclshmem_ctx_quiet, b, code=-1)
with shmem.Ctx(0, team=t) as c:
    assert c.handle not in (a, b) and c.team == t
    expect_error(shmem.aclshmem_team_create_ctx, t, 0, code=-2)
    c.put(buf, np.array([100 + me], np.int64), (me + 1) % n)
    c.quiet()
shmem.aclshmem_ctx_destroy(a)
shmem.aclshmem_barrier_all()
assert int(buf[0]) == 100 + (me + n - 1) % n, buf
shmem.team_destroy(t)
expect_error(shmem.team_split_strided, W, 0, 1, n, shmem.TeamConfig(-1 if me == 0 else 2), code=-1)
expect_error(shmem.team_split_strided, W, 0, 1, n, shmem.TeamConfig(2**31 - 1), code=-2)
expect_error(shmem.team_split_strided, W, 0, 1, n, "two", exc=TypeError)
x, y = shmem.team_split_2d(W, 1, shmem.TeamConfig(1), shmem.TeamConfig(3))
assert (shmem.aclshmem_team_get_config(x).num_contexts, shmem.aclshmem_team_get_config(y).num_contexts) == (1, 3)
cx = shmem.aclshmem_team_create_ctx(x, 0)
expect_error(shmem.aclshmem_team_create_ctx, x, 0, code=-2)
ys = [shmem.aclshmem_team_create_ctx(y, 0) for _ in range(3)]
expect_error(shmem.aclshmem_team_create_ctx, y, 0, code=-2)
for h in [cx] + ys:
    shmem.aclshmem_ctx_destroy(h)
shmem.team_destroy(x)
shmem.team_destroy(y)
shmem.aclshmem_barrier_all()
print("RESOK", me)
shmem.aclshmem_finalize()
""", env={"SHMEM_DATA_OP_ENGINE": "SDMA"})
    assert p.stdout.count("RESOK") == 3


def test_ctx_quiet_does_not_wait_for_another_context(job):
    p = job(2, """
shmem.aclshmem_init()
me = shmem.my_pe()
BIG, SMALL = 64 << 20, 64 << 10
big_dst = shmem.zeros(BIG, np.uint8)
small_dst = shmem.zeros(SMALL, np.uint8)
a, b = shmem.Ctx(shmem.ACLSHMEM_CTX_PRIVATE), shmem.Ctx(shmem.ACLSHMEM_CTX_PRIVATE)
big = (np.arange(BIG) % 251 + 1).astype(np.uint8)
small = (np.arange(SMALL) % 13 + 1).astype(np.uint8)
in_flight = 0
for r in range(5):
    if me == 0:
        far = shmem.peer_array(big_dst, 1)
        far_small = shmem.peer_array(small_dst, 1)
        b.put(big_dst, big, 1, nbi=True)
        a.put(small_dst, small, 1, nbi=True)
        a.quiet()
        incomplete = not np.array_equal(far, big)
        assert np.array_equal(far_small, small), r
        b.quiet()
        assert np.array_equal(far, big), r
        in_flight += incomplete
    shmem.aclshmem_barrier_all()
    if me == 1:
        assert np.array_equal(big_dst, big) and np.array_equal(small_dst, small)
        big_dst[:] = 0
        small_dst[:] = 0
    shmem.aclshmem_barrier_all()
if me == 0:
    print("IN_FLIGHT_ROUNDS", in_flight)
    assert in_flight > 0, "A's quiet waited for B's 64 MiB transfer in every round"
a.destroy(); b.destroy()
shmem.aclshmem_finalize()
""", env={"SHMEM_DATA_OP_ENGINE": "SDMA", "SHMEM_SYMMETRIC_SIZE": "160M"}, timeout=120)
    assert "IN_FLIGHT_ROUNDS" in p.stdout


LOCK = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
lock = shmem.zeros(1, np.int64)
cnt = shmem.zeros(1, np.int64)
one = np.zeros(1, np.int64)
for i in range(1000):
    if i % 2:
        with shmem.locked(lock):
            shmem.get(one, cnt, 0); one[0] += 1; shmem.put(cnt, one, 0)
    else:
        shmem.aclshmem_set_lock(lock)
        shmem.get(one, cnt, 0); one[0] += 1; shmem.put(cnt, one, 0)
        shmem.shmem_clear_lock(lock)
shmem.aclshmem_barrier_all()
if me == 0:
    assert int(cnt[0]) == 1000 * n, int(cnt[0])
    print("LOCKOK", int(cnt[0]))
# test_lock never blocks; clear by a non-holder is INVALID_PARAM.
if me == n - 1:
    assert shmem.aclshmem_test_lock(lock) == 0
shmem.aclshmem_barrier_all()
if me != n - 1:
    t = time.monotonic()
    assert shmem.shmem_test_lock(lock) == 1
    assert time.monotonic() - t < 2
    expect_error(shmem.aclshmem_clear_lock, lock, code=-1)
shmem.aclshmem_barrier_all()
if me == n - 1:
    shmem.aclshmem_clear_lock(lock)
    expect_error(shmem.aclshmem_clear_lock, lock, code=-1)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
"""


@pytest.mark.parametrize("n,env,prefix", [(2, {}, ""), (4, {}, ""), (8, {}, ""),
                                          (4, {"SHMEM_DATA_OP_ENGINE": "MTE|TCP"}, NODES)])
def test_lock_counter(job, n, env, prefix):
    p = job(n, prefix + LOCK, env=env, timeout=120)
    assert f"LOCKOK {1000 * n}" in p.stdout


def test_set_lock_interrupted_keeps_the_queue(job):
    """Ctrl-C (SIGINT) interrupts a queued set_lock with KeyboardInterrupt within a second; the PE does not hold
    the lock (test_lock says held at once, clear_lock is INVALID_PARAM), the lock later passes through its
    abandoned place to the PE queued behind it, and afterwards every PE, the interrupted one included, takes
    the lock 200 times with an exact count. Before, the interrupt waited for the lock, which PE 0 released only
    after it: the job hung."""
    p = job(3, """
import signal, threading
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
lock = shmem.zeros(1, np.int64)
flag = shmem.zeros(1, np.int64)
cnt = shmem.zeros(1, np.int64)
one = np.zeros(1, np.int64)
tail = lambda: shmem.aclshmem_int64_g(lock, 0) & 0xFFFFFFFF
if me == 0:
    shmem.aclshmem_set_lock(lock)
shmem.aclshmem_barrier_all()
if me == 1:
    threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    t = time.monotonic()
    try:
        shmem.aclshmem_set_lock(lock)
        raise AssertionError("set_lock returned while PE 0 holds the lock")
    except KeyboardInterrupt:
        pass
    assert time.monotonic() - t < 1.5, time.monotonic() - t
    t = time.monotonic()
    assert shmem.aclshmem_test_lock(lock) == 1
    assert time.monotonic() - t < 1
    expect_error(shmem.aclshmem_clear_lock, lock, code=-1)
    shmem.aclshmem_int64_p(flag, 1, 0)
    shmem.aclshmem_quiet()
if me == 2:
    while tail() != 2:
        time.sleep(0.001)
    shmem.aclshmem_set_lock(lock)
    shmem.aclshmem_int64_p(flag, 2, 0)
    shmem.aclshmem_quiet()
    shmem.aclshmem_clear_lock(lock)
if me == 0:
    shmem.aclshmem_int64_wait_until(flag, shmem.SHMEM_CMP_EQ, 1)
    while tail() != 3:
        time.sleep(0.001)
    shmem.aclshmem_clear_lock(lock)
    shmem.aclshmem_int64_wait_until(flag, shmem.SHMEM_CMP_EQ, 2)
shmem.aclshmem_barrier_all()
for i in range(200):
    shmem.aclshmem_set_lock(lock)
    shmem.get(one, cnt, 0); one[0] += 1; shmem.put(cnt, one, 0)
    shmem.aclshmem_clear_lock(lock)
shmem.aclshmem_barrier_all()
if me == 0:
    assert int(cnt[0]) == 200 * n, int(cnt[0])
    print("INTOK", int(cnt[0]))
shmem.aclshmem_finalize()
""", timeout=60)
    assert "INTOK 600" in p.stdout
