"""One cross-node job from Python: 4 PEs on 2 "nodes" (SHMEM_NODE_ID), MTE inside a node, TCP between nodes.
NumPy views, put/get, put-with-signal, atomics, waits and barriers all cross the node boundary."""

BODY = r"""
os.environ["SHMEM_NODE_ID"] = "py-node-%d" % (int(os.environ["SHMEM_PE"]) // 2)
assert shmem.aclshmem_init() == 0
me, n = shmem.my_pe(), shmem.pe_count()
assert n == 4
right, left = (me + 1) % n, (me - 1) % n
other_node = (me + 2) % n
assert shmem.team_n_pes(shmem.TEAM_NODE) == 2 and shmem.team_my_pe(shmem.TEAM_NODE) == me % 2

x = shmem.zeros(1 << 16, np.uint32)
sig = shmem.zeros(1, np.uint64)
# put into the right neighbour (same node for even PEs, the other node for odd ones), then a barrier
shmem.put(x, np.arange(1 << 16, dtype=np.uint32) * 3 + me, right)
shmem.aclshmem_barrier_all()
assert np.array_equal(x, np.arange(1 << 16, dtype=np.uint32) * 3 + left), "put data from the left PE"

# a PE of the other node is not mapped here: ptr is NULL; of this node it is not
assert shmem.aclshmem_ptr(x.ctypes.data, other_node) == 0
assert shmem.aclshmem_ptr(x.ctypes.data, me ^ 1) != 0

# get across nodes
got = np.zeros(1 << 16, np.uint32)
shmem.get(got, x, other_node)
assert np.array_equal(got, np.arange(1 << 16, dtype=np.uint32) * 3 + (other_node - 1) % n)
shmem.aclshmem_barrier_all()

# put-with-signal across nodes, waited on by the target
data = np.full(1000, me + 1, np.uint32)
shmem.aclshmemx_putmem_signal(x.ctypes.data, data, data.nbytes, sig.ctypes.data, me + 1, shmem.SIGNAL_SET, other_node)
shmem.aclshmem_signal_wait_until(sig.ctypes.data, shmem.CMP_EQ, other_node + 1)
assert int(sig[0]) == other_node + 1
assert np.all(x[:1000] == other_node + 1), "data before signal"
shmem.aclshmem_barrier_all()

# atomics from every PE on PE 0's word, exact
ctr = shmem.zeros(1, np.int64)
for _ in range(100):
    shmem.aclshmem_int64_atomic_add(ctr.ctypes.data, 1, 0)
shmem.aclshmem_barrier_all()
if me == 0:
    assert int(ctr[0]) == 100 * n, int(ctr[0])
shmem.aclshmem_barrier_all()
shmem.free(x); shmem.free(sig); shmem.free(ctr)
assert shmem.aclshmem_finalize() in (0, None)
print("cross-node ok", me)
"""


def test_cross_node_job_mte_and_tcp(job):
    p = job(4, BODY, env={"SHMEM_DATA_OP_ENGINE": "MTE|TCP"}, timeout=60)
    assert p.stdout.count("cross-node ok") == 4, p.stdout


EXPLICIT = r"""
me0, n0 = int(os.environ["SHMEM_PE"]), int(os.environ["SHMEM_N_PES"])
os.environ["SHMEM_NODE_ID"] = "py-node-%d" % (me0 // 2)
# The explicit form (rank, size, heap): the engines (and timeouts) still come from the launcher's environment.
assert shmem.aclshmem_init(me0, n0, 64 << 20) == 0
me, n = shmem.my_pe(), shmem.pe_count()
assert (me, n) == (me0, 4)
x = shmem.zeros(1024, np.int64)
shmem.put(x, np.arange(1024, dtype=np.int64) + 1000 * me, (me + 2) % n)
shmem.aclshmem_barrier_all()
assert np.array_equal(x, np.arange(1024, dtype=np.int64) + 1000 * ((me + 2) % n)), x[:4]
shmem.free(x)
assert shmem.aclshmem_finalize() in (0, None)
print("explicit init ok", me)
"""


def test_explicit_init_takes_the_engines_from_the_environment(job):
    """aclshmem_init(mype, npes, mem_size) reads the optional attributes (here the MTE|TCP engines a two-node job
    needs) from the environment as the other init forms do; it took the defaults (MTE only: init failed with "no
    engine reaches PE k")."""
    p = job(4, EXPLICIT, env={"SHMEM_DATA_OP_ENGINE": "MTE|TCP"}, timeout=60)
    assert p.stdout.count("explicit init ok") == 4, p.stdout + p.stderr
