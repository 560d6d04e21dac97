"""The life cycle seen from Python: one state machine (the runtime's), so every status and error code the
binding reports comes from it. Init and finalize twice, finalize without init, status after a failed init,
re-init, threads that copy from heap ints while another thread finalizes (issue 11, item 1), and SHMEM_BIND."""
import pytest
from conftest import run_unlaunched

LIFECYCLE = r"""
import threading
NI, INV = shmem.NOT_INITED, shmem.INVALID_PARAM
S = shmem.InitStatus
me_env = int(os.environ["SHMEM_PE"])

# Before init: the status, finalize, data calls and heap ints are all NOT_INITED / NOT_INITIALIZED.
assert shmem.aclshmemx_init_status() == S.NOT_INITIALIZED
expect_error(shmem.aclshmem_finalize, code=NI)
expect_error(shmem.aclshmem_putmem, 4096, bytearray(8), 8, 0, code=NI)

for round_ in range(2):                      # the second round is a re-init after a finalize
    assert shmem.aclshmem_init() == 0
    assert shmem.aclshmemx_init_status() == S.INITIALIZED
    expect_error(shmem.aclshmem_init, code=-4)              # init twice
    assert shmem.aclshmemx_init_status() == S.INITIALIZED   # a refused init changes nothing
    me, n = shmem.my_pe(), shmem.pe_count()
    assert me == me_env
    right = (me + 1) % n
    N = 256 << 10                            # above the binding's GIL-release threshold (64 KiB)
    src = shmem.aclshmem_malloc(N * 4)
    dst = shmem.aclshmem_malloc(N * 4)
    base, size = shmem.heap_range()
    assert base <= src < base + size
    # Threads: each copies its own quarter from a heap int (the detached, pinned path) and 8 B from a
    # bytearray (the GIL-held path), to the right neighbour.
    pattern = bytes((me * 7 + round_ + i) % 251 for i in range(N * 4))
    shmem.aclshmem_putmem(src, pattern, N * 4, me)
    shmem.aclshmem_barrier_all()
    errors = []
    def work(t):
        try:
            for _ in range(20):
                shmem.aclshmem_putmem(dst + t * N, src + t * N, N, right)
                shmem.aclshmem_putmem(dst + t * N, pattern[t * N:t * N + 8], 8, right)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
    ts = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    [t.start() for t in ts]; [t.join(30) for t in ts]
    assert not errors and not any(t.is_alive() for t in ts), errors
    shmem.aclshmem_barrier_all()
    got = bytearray(N * 4); shmem.aclshmem_getmem(got, dst, N * 4, me)
    left = (me - 1) % n
    assert got == bytes((left * 7 + round_ + i) % 251 for i in range(N * 4))
    assert shmem.aclshmem_finalize() == 0
    assert shmem.aclshmemx_init_status() == S.NOT_INITIALIZED
    expect_error(shmem.aclshmem_finalize, code=NI)          # finalize twice
    expect_error(shmem.aclshmem_putmem, dst, bytearray(8), 8, 0, code=NI)
    expect_error(shmem.aclshmem_getmem, bytearray(8), dst, 8, 0, code=NI)
    expect_error(shmem.aclshmem_getmem, src, dst, 8, 0, code=NI)  # a heap int of the old heap: refused
    expect_error(shmem.heap_range, code=NI)                  # the facade's heap snapshot was cleared

# A thread that keeps copying from a heap int while the main thread finalizes: every copy either completes
# (exact data) or fails with NOT_INITED, never crashes; the process stays usable.
assert shmem.aclshmem_init() == 0
me, n = shmem.my_pe(), shmem.pe_count()
N = 1 << 20
src = shmem.aclshmem_malloc(N); dst = shmem.aclshmem_malloc(N)
shmem.aclshmem_putmem(src, bytes([me + 1]) * N, N, me)
shmem.aclshmem_barrier_all()
outcome = []
started = threading.Event()
def spin():
    copies = 0
    while True:
        try:
            shmem.aclshmem_putmem(dst, src, N, me)
            copies += 1
            started.set()
        except ShmemError as e:
            outcome.append((e.code, copies)); started.set(); return
t = threading.Thread(target=spin); t.start()
assert started.wait(30)
assert shmem.aclshmem_finalize() == 0
t.join(30)
assert not t.is_alive() and outcome and outcome[0][0] == NI, outcome
assert outcome[0][1] >= 1, outcome
print("PE", me_env, "ok")
"""


def test_lifecycle_twice_reinit_threads(job):
    p = job(2, LIFECYCLE, timeout=120)
    assert p.stdout.count(" ok") == 2, p.stdout


FAILED_INIT = r"""
S = shmem.InitStatus
# PE 1 never comes: this init times out, and the status says so.
e = expect_error(shmem.aclshmem_init)
assert isinstance(e, ShmemError) and e.code != 0, e
assert shmem.aclshmemx_init_status() == S.INVALID, shmem.aclshmemx_init_status()
expect_error(shmem.aclshmem_finalize, code=shmem.NOT_INITED)
expect_error(shmem.aclshmem_putmem, 4096, bytearray(8), 8, 0, code=shmem.NOT_INITED)
assert shmem.aclshmemx_init_status() == S.INVALID
print("PE 0 ok")
"""


def test_status_after_a_failed_init(tmp_path):
    # One process of a 2-PE job: its init waits for the missing peer until the init timeout (1 s).
    [(rc, out)] = run_unlaunched(tmp_path, 1, FAILED_INIT, timeout=60,
                                 env={"SHMEM_N_PES": "2", "SHMEM_LOCAL_N_PES": "2", "SHMEM_INIT_TIMEOUT": "1"})
    assert rc == 0 and "PE 0 ok" in out, out


FINALIZE_TWICE_AT_ONCE = r"""
import threading
shmem.aclshmem_init()
me = shmem.my_pe()
a = shmem.zeros(4, np.int64)
shmem.aclshmem_barrier_all()
if me == 1:
    time.sleep(1.5)                          # PE 0's finalize waits for this one meanwhile
    assert shmem.aclshmem_finalize() == 0
else:
    first = []
    t = threading.Thread(target=lambda: first.append(shmem.aclshmem_finalize()))
    t.start()
    time.sleep(0.3)
    # A second finalize while the first runs is refused (INNER_ERROR naming it), and leaves the runtime to the
    # first: the operations it still completes keep their buffers.
    e = expect_error(shmem.aclshmem_finalize, code=-4)
    assert "finalize is running" in str(e), e
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.INITIALIZED
    t.join(20)
    assert first == [0], first
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
print(f"PE {me} ok")
"""


def test_a_second_finalize_while_one_runs_is_refused(job):
    p = job(2, FINALIZE_TWICE_AT_ONCE, timeout=60)
    assert p.stdout.count(" ok") == 2, p.stdout


BIND_BODY = r"""
before = sorted(os.sched_getaffinity(0))
bind = os.environ.get("SHMEM_BIND", "")
if bind not in ("core", "none", ""):
    e = expect_error(shmem.aclshmem_init, code=-1)
    assert "SHMEM_BIND" in str(e) and bind in str(e), e
    print("PE refused", os.environ["SHMEM_PE"])
    sys.exit(0)
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.n_pes()
after = sorted(os.sched_getaffinity(0))
if bind == "core":
    assert after == [before[me * len(before) // n]], (me, before, after)
else:
    assert after == before, (me, before, after)
a = shmem.zeros(1000, np.int64)
if me == 0:
    a[:] = np.arange(1000) * 3
shmem.broadcast(a, a, 0)
assert int(a.sum()) == 3 * 999 * 1000 // 2, a[:5]
shmem.free(a)
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n,bind", [(4, "core"), (2, "none")])
def test_bind_core_binds_each_pe_to_the_cpu_of_its_block(job, n, bind):
    """SHMEM_BIND=core binds every PE's thread to the CPU at position local_index * cpus / local_pes of the set it
    started with (blocks of neighbours where PEs outnumber CPUs); none leaves the set alone."""
    p = job(n, BIND_BODY, env={"SHMEM_BIND": bind})
    assert p.stdout.count(" ok") == n, p.stdout + p.stderr


def test_bind_refuses_an_unknown_value_with_invalid_param(job):
    p = job(2, BIND_BODY, env={"SHMEM_BIND": "socket"})
    assert p.stdout.count("PE refused") == 2, p.stdout + p.stderr
