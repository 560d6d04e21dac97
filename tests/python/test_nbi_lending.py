"""Buffers lent to `_nbi` calls stay exported until a quiet that began after the call, also across threads."""

LENT_ACROSS_THREADS = """
import threading, time
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
a = shmem.aclshmem_malloc(64)
shmem.aclshmem_putmem(a, bytes(range(64)), 64, me)
shmem.aclshmem_barrier_all()
for completer in ("barrier", "quiet", "ctx_quiet"):
    if me == 0:
        # Thread B enters a completer that began before thread A lends a buffer: B's completion covers only
        # operations issued before it began, so A's buffer stays lent after B returns.
        entered = threading.Event()
        def b():
            entered.set()
            shmem.aclshmem_barrier_all()          # quiet, then wait until PE 1 arrives (after 2 s)
        t = threading.Thread(target=b)
        t.start()
        entered.wait(10)
        time.sleep(0.5)                           # B is inside its barrier now (PE 1 arrives after 2 s)
        ba = bytearray(16)
        shmem.aclshmem_getmem_nbi(ba, a + 8, 16, 1)
        t.join(30)
        assert not t.is_alive()
        expect_error(ba.extend, b"x", exc=BufferError)   # still lent: B's barrier began before the nbi call
        if completer == "barrier":
            shmem.aclshmem_barrier_all()
        elif completer == "quiet":
            shmem.aclshmem_quiet()
            shmem.aclshmem_barrier_all()
        else:
            shmem.aclshmem_ctx_quiet(shmem.ACLSHMEM_CTX_DEFAULT)
            shmem.aclshmem_barrier_all()
        ba.extend(b"x")                           # released by a completer that began after the call
        assert bytes(ba) == bytes(range(8, 24)) + b"x", ba
    else:
        time.sleep(2.0)
        shmem.aclshmem_barrier_all()              # B's barrier on PE 0
        shmem.aclshmem_barrier_all()              # PE 0's closing barrier of this round
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


def test_a_quiet_releases_only_buffers_lent_before_it_began(job):
    """A buffer lent by one thread while another thread's barrier (quiet + barrier) was already running is not
    released when that barrier returns (its operation may have been issued after the barrier's quiet), but by
    the next quiet, barrier or default-context quiet."""
    p = job(2, LENT_ACROSS_THREADS, timeout=90)
    assert p.stdout.count(" ok") == 2, p.stdout + p.stderr
