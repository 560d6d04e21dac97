"""Every function of both seed documents called with a checked result, on real PEs (2 and 4)."""
import pytest

BODY = r"""
assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
assert shmem.aclshmem_init() == 0
assert shmem.shmem_init_status() == shmem.InitStatus.INITIALIZED == shmem.ACLSHMEM_STATUS_IS_INITIALIZED
me, n = shmem.my_pe(), shmem.pe_count()
assert me == shmem.get_my_pe() and n == shmem.get_pe_count() and n == int(os.environ["SHMEM_N_PES"])
right, left = (me + 1) % n, (me - 1) % n
assert shmem.aclshmem_info_get_version() == shmem.shmem_info_get_version() == (1, 5)
assert shmem.aclshmem_info_get_name().startswith("shmem-rs")
assert shmem.get_ffts_config() == 0
assert shmem.mte_set_ub_params(0, 1 << 16, 0) == 0
expect_error(shmem.mte_set_ub_params, -1, 0, 0, code=-1)

# allocation
assert shmem.aclshmem_malloc(0) == 0 and shmem.shmem_malloc(0) == 0
a = shmem.aclshmem_malloc(4096); assert a
c = shmem.aclshmem_calloc(16, 8); assert c
al = shmem.aclshmem_align(4096, 100); assert al % 4096 == 0
al2 = shmem.shmem_align(256, 8); assert al2 % 256 == 0
c2 = shmem.shmem_calloc(4, 4)
z = bytearray(128); shmem.aclshmem_getmem(z, c, 128, me); assert z == bytearray(128)
assert shmem.aclshmem_ptr(a, me) == a
p = shmem.aclshmem_ptr(a, right); assert p != 0  # same node
assert shmem.shmem_ptr(a, left) != 0
expect_error(shmem.aclshmem_align, 3, 64, code=-1)

# putmem / getmem, blocking and nbi, both generations
payload = bytes((me * 7 + i) % 256 for i in range(1000))
shmem.aclshmem_putmem(a, payload, 1000, right)
shmem.aclshmem_barrier_all()
got = bytearray(1000); shmem.aclshmem_getmem(got, a, 1000, me)
assert bytes(got) == bytes((left * 7 + i) % 256 for i in range(1000))
got2 = bytearray(1000); shmem.shmem_getmem(got2, a, 1000, right)
assert bytes(got2) == payload
shmem.aclshmem_barrier_all()
src = np.arange(100, dtype=np.uint8) + me
shmem.aclshmem_putmem_nbi(a + 2000, src, 100, right)
shmem.shmem_putmem_nbi(a + 2100, memoryview(bytes(src)), 100, left)
shmem.aclshmem_quiet()
shmem.aclshmem_barrier_all()
out = np.zeros(200, np.uint8)
shmem.aclshmem_getmem_nbi(out, a + 2000, 200, me); shmem.shmem_quiet()
assert (out[:100] == np.arange(100, dtype=np.uint8) + left).all()
assert (out[100:] == np.arange(100, dtype=np.uint8) + right).all()
out2 = np.zeros(100, np.uint8); shmem.shmem_getmem_nbi(out2, a + 2000, 100, right); shmem.aclshmem_quiet()
assert (out2 == src).all()
shmem.aclshmem_barrier_all()

# typed put/get{BITS}(_nbi): element counts
for bits, dt in [(8, np.uint8), (16, np.uint16), (32, np.uint32), (64, np.uint64), (128, np.uint64)]:
    k = 5
    per = 2 if bits == 128 else 1
    vals = (np.arange(k * per, dtype=dt) * 3 + me + bits).astype(dt)
    buf = shmem.aclshmem_align(16, 512)
    getattr(shmem, f"aclshmem_put{bits}")(buf, vals, k, right)
    getattr(shmem, f"aclshmem_put{bits}_nbi")(buf + 256, vals, k, right)
    shmem.aclshmem_quiet(); shmem.aclshmem_barrier_all()
    exp = (np.arange(k * per, dtype=dt) * 3 + left + bits).astype(dt)
    r1 = np.zeros(k * per, dt); getattr(shmem, f"aclshmem_get{bits}")(r1, buf, k, me)
    r2 = np.zeros(k * per, dt); getattr(shmem, f"aclshmem_get{bits}_nbi")(r2, buf + 256, k, me); shmem.aclshmem_quiet()
    assert (r1 == exp).all() and (r2 == exp).all(), (bits, r1, exp)
    r3 = np.zeros(k * per, dt); getattr(shmem, f"aclshmem_get{bits}")(r3, buf, k, right)
    assert (r3 == vals).all()
    expect_error(getattr(shmem, f"aclshmem_put{bits}"), buf, vals, k * 100, right, code=-1)  # src too small
    if bits > 8:
        expect_error(getattr(shmem, f"aclshmem_put{bits}"), buf + 1, vals, 1, right, code=-1)  # unaligned
    shmem.aclshmem_barrier_all()
    shmem.aclshmem_free(buf)

# put with signal (both generations, blocking and nbi), signal wait returns the value
sig = shmem.aclshmem_calloc(1, 8)
data = shmem.aclshmem_malloc(64)
shmem.aclshmem_barrier_all()
msg = f"hello from {me}".encode().ljust(32, b".")
shmem.aclshmemx_putmem_signal(data, msg, 32, sig, 10 + me, shmem.SIGNAL_SET, right)
v = shmem.aclshmem_signal_wait_until(sig, shmem.CMP_EQ, 10 + left); assert v == 10 + left
b = bytearray(32); shmem.aclshmem_getmem(b, data, 32, me); assert bytes(b) == f"hello from {left}".encode().ljust(32, b".")
shmem.aclshmem_barrier_all()
shmem.aclshmemx_putmem_signal_nbi(data + 32, msg, 32, sig, 5, shmem.SIGNAL_ADD, right)
shmem.aclshmem_quiet()
assert 15 + left <= shmem.aclshmem_signal_wait_until(sig, shmem.CMP_GE, 15 + left) <= 17 + left
shmem.shmem_putmem_signal(data, msg, 8, sig, 1, shmem.SIGNAL_ADD, right)
shmem.shmem_putmem_signal_nbi(data, msg, 8, sig, 1, shmem.SIGNAL_ADD, right); shmem.aclshmem_quiet()
assert shmem.signal_wait_until(sig, shmem.CMP_EQ, 17 + left) == 17 + left
assert shmem.aclshmem_signal_fetch(sig) == 17 + left
shmem.aclshmem_barrier_all()

# teams
W = shmem.TEAM_WORLD
assert shmem.team_my_pe(W) == me and shmem.team_n_pes(W) == n
assert shmem.my_pe(W) == me and shmem.pe_count(W) == n
assert shmem.get_team_my_pe(W) == me and shmem.get_team_pe_count(W) == n
assert shmem.team_n_pes(shmem.TEAM_NODE) == n
evens = shmem.team_split_strided(W, 0, 2, (n + 1) // 2)
if me % 2 == 0:
    assert evens >= 0 and shmem.team_my_pe(evens) == me // 2 and shmem.team_n_pes(evens) == (n + 1) // 2
    assert shmem.team_translate_pe(evens, shmem.team_my_pe(evens), W) == me
    assert shmem.team_translate_pe(W, me, evens) == me // 2
    cfg = shmem.aclshmem_team_get_config(evens); assert isinstance(cfg, shmem.TeamConfig)
    cfg2 = shmem.shmem_team_get_config(evens)
    # splits take no config: the team was made with the default one (num_contexts 0), as TEAM_WORLD
    assert cfg.num_contexts == 0 and cfg2.num_contexts == 0, (cfg.num_contexts, cfg2.num_contexts)
    assert shmem.aclshmem_team_get_config(W).num_contexts == 0
    shmem.aclshmem_team_barrier(evens)
else:
    assert evens == shmem.TEAM_INVALID
    assert shmem.team_my_pe(evens) == -1 and shmem.team_n_pes(evens) == -1
    assert shmem.team_translate_pe(W, me, 1234) == -1
shmem.aclshmem_barrier_all()
if evens != shmem.TEAM_INVALID:
    shmem.team_destroy(evens)
xr = 2
xt, yt = shmem.team_split_2d(W, xr)
assert shmem.team_my_pe(xt) == me % xr and shmem.team_n_pes(xt) == min(xr, n - (me // xr) * xr)
assert shmem.team_my_pe(yt) == me // xr
shmem.aclshmem_barrier_all()
shmem.team_destroy(xt); shmem.team_destroy(yt)
expect_error(shmem.aclshmem_team_get_config, 77, code=-1)

# atomics
w = shmem.aclshmem_calloc(1, 8); shmem.aclshmem_barrier_all()
shmem.aclshmem_int64_atomic_add(w, me + 1, 0)
shmem.aclshmem_barrier_all()
if me == 0:
    assert shmem.aclshmem_int64_atomic_fetch(w, 0) == n * (n + 1) // 2
    assert shmem.aclshmem_int64_atomic_compare_swap(w, n * (n + 1) // 2, -5, 0) == n * (n + 1) // 2
    assert shmem.aclshmem_long_atomic_fetch_inc(w, 0) == -5
    assert shmem.aclshmem_int64_atomic_swap(w, 0b1100, 0) == -4
    assert shmem.aclshmem_int64_atomic_fetch_and(w, 0b0110, 0) == 0b1100
    assert shmem.aclshmem_int64_atomic_fetch_or(w, 1, 0) == 0b0100
    assert shmem.aclshmem_int64_atomic_fetch_xor(w, 0b1111, 0) == 0b0101
    assert shmem.aclshmem_int64_atomic_fetch(w, 0) == 0b1010
    f = np.zeros(1, np.int64); shmem.aclshmem_int64_atomic_fetch_add_nbi(f, w, 1, 0); shmem.aclshmem_quiet()
    assert f[0] == 0b1010
    shmem.aclshmem_double_atomic_set(w, 2.5, 0)
    assert shmem.aclshmem_double_atomic_fetch(w, 0) == 2.5
shmem.aclshmem_barrier_all()

# frees, fence, sync, finalize (the seed's spelling too), then init again from attributes
for addr in (a, c, al, al2, c2, sig, data, w):
    shmem.aclshmem_free(addr)
shmem.shmem_free(0)
shmem.aclshmem_fence(); shmem.aclshmem_sync_all()
if me % 2:
    assert shmem.aclshmem_finialize() == 0       # 0, as upstream (api.md)
else:
    assert shmem.shmem_finalize() == 0
assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
attr = shmem.InitAttr()
url = f"tcp://{os.environ['SHMEM_MASTER_ADDR']}:{os.environ['SHMEM_MASTER_PORT']}"
assert shmem.shmem_set_attributes(me, n, 8 << 20, url, attr) == 0
assert shmem.shmem_set_data_op_engine_type(attr, shmem.OpEngineType.SDMA) == 0
assert shmem.shmem_set_timeout(attr, 30000) == 0
assert shmem.init_attr(attr) == 0
assert shmem.pe_count() == n and shmem.heap_range()[1] >= (8 << 20) - 4096
# Through the SDMA copy engine: a 1 MiB nbi put is complete after quiet, a blocking get reads it back.
y = shmem.aclshmem_malloc(1 << 20)
src = bytes((i * 7 + me) % 251 for i in range(1 << 20))
shmem.aclshmem_putmem_nbi(y, src, len(src), (me + 1) % n)
shmem.aclshmem_quiet()
shmem.aclshmem_barrier_all()
back = bytearray(1 << 20)
shmem.aclshmem_getmem(back, y, len(back), (me + 1) % n)
assert bytes(back) == src
shmem.aclshmem_free(y)
x = shmem.aclshmem_calloc(1, 8)
shmem.aclshmem_uint64_atomic_inc(x, 0)
shmem.aclshmem_barrier_all()
assert shmem.aclshmem_uint64_atomic_fetch(x, 0) == n
shmem.aclshmem_finalize()
# and the older init with explicit rank and size (store address from the environment)
assert shmem.shmem_init(me, n, 4 << 20) == 0
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_every_seed_function(job, n):
    p = job(n, BODY, timeout=90)
    assert p.stdout.count(" ok") == n


GLOBAL_EXIT = """
shmem.aclshmem_init()
me = shmem.my_pe()
shmem.aclshmem_barrier_all()
if me == int(os.environ["CALLER"]):
    print("exiting", flush=True)
    getattr(shmem, os.environ["EXIT_FN"])(int(os.environ["STATUS"]))
    print("global_exit returned", flush=True)
    sys.exit(99)
time.sleep(30)   # the others must be ended by the exit, not by finishing
print("still alive", flush=True)
sys.exit(98)
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize("caller,fn,status", [(1, "aclshmem_global_exit", 7), (0, "aclshmem_global_exit", 5),
                                              (2, "shmem_global_exit", 3), (0, "shmem_global_exit", 4)])
def test_global_exit_ends_every_pe(tmp_path, caller, fn, status):
    """PEs started without the launcher (which could end the others itself): global_exit on any PE, PE 0 (the
    store host) included, ends every PE promptly with the caller's status."""
    import time
    from conftest import run_unlaunched
    t0 = time.monotonic()
    res = run_unlaunched(tmp_path, 3, GLOBAL_EXIT, timeout=40,
                         env={"CALLER": str(caller), "EXIT_FN": fn, "STATUS": str(status)})
    took = time.monotonic() - t0
    assert [rc for rc, _ in res] == [status] * 3, res
    assert took < 20, (took, res)
    assert "exiting" in res[caller][1] and not any("still alive" in o or "returned" in o for _, o in res), res


SEGMENT_MODE = """
import stat
os.umask(0)                      # a permissive umask: the mode must come from the runtime, not the umask
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
shmem.aclshmem_barrier_all()
# The segments are unlinked once every PE mapped them; the mappings still name them, and
# /proc/self/map_files/<range> opens the very object each one maps.
segs = {}
for line in open("/proc/self/maps"):
    if "/dev/shm/" in line:
        rng, path = line.split()[0], line.split()[5]
        st = os.stat(f"/proc/self/map_files/{rng}")
        segs[path] = (stat.S_IMODE(st.st_mode), st.st_uid)
assert len(segs) == n, segs                 # this PE's own segment and every same-node peer's
for path, (mode, uid) in segs.items():
    assert mode == 0o600 and uid == os.getuid(), (path, oct(mode), uid)
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok", len(segs), "segments 0600")
"""


def test_segments_are_0600(job):
    """Every shared-memory segment of the job is created mode 0600 and owned by the user, even under umask 0."""
    p = job(3, SEGMENT_MODE, timeout=60)
    assert p.stdout.count("3 segments 0600") == 3
