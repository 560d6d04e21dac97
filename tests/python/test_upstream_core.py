"""``shmem.core`` (issue #12 item 2), written from upstream Ascend SHMEM's ``shmem.core`` docs and tests: init by
unique ID or attributes, buffers (addr/length, buffer protocol, NumPy and DLPack views, peer buffers), put/get,
put_signal, signal_op, signal_wait, quiet, barriers, the ``direct`` submodule, and the error classes with exact
codes; on 2 and 4 PEs."""
from __future__ import annotations

import ast
import pathlib
import textwrap

import pytest

from test_upstream_startup import run_ranks

ROOT = pathlib.Path(__file__).resolve().parents[2]

CORE_BODY = """
import shmem.core as core
from shmem.core import AclshmemError, AclshmemInvalid

def invalid(fn, *args, **kw):
    e = expect_error(fn, *args, exc=AclshmemInvalid, **kw)
    assert e.code == -1 and isinstance(e, AclshmemError) and isinstance(e, ShmemError), (fn, args, e)
    return e

def failed(fn, *args, code, **kw):
    e = expect_error(fn, *args, exc=AclshmemError, **kw)
    assert e.code == code and not isinstance(e, AclshmemInvalid), (fn, args, e.code, e)
    return e

me, n = core.direct.my_pe(), core.direct.n_pes()
assert core.direct.init_status() == core.direct.InitStatus.INITIALIZED
assert core.direct.team_my_pe(core.ACLSHMEM_TEAM_WORLD) == me and core.direct.team_n_pes(0) == n
assert core.direct.team_my_pe(77) == -1 and core.direct.team_n_pes(77) == -1
assert core.get_version() == "libaclshmem_version=1.5"
right, left = (me + 1) % n, (me - 1) % n

# buffers: addr/length, buffer protocol, NumPy and DLPack views of the same memory
buf = core.buffer(1024)
sig = core.calloc(1, 8)
al = core.align(4096, 256, core.MemType.HOST_SIDE)
assert buf.length == 1024 and buf.owned and not buf.release_called and buf.instance_id == 0
assert al.addr % 4096 == 0 and al.mem_type == core.MemType.HOST_SIDE
mv = memoryview(buf)
assert mv.nbytes == 1024 and not mv.readonly and len(buf) == 1024
a64 = buf.numpy(np.int64)
a64[:] = -1
assert np.frombuffer(buf, np.int64)[5] == -1 and np.from_dlpack(buf).nbytes == 1024
assert buf.__dlpack_device__() == (1, 0)
assert memoryview(sig).tobytes() == bytes(8)                          # calloc is zeroed everywhere
core.barrier_all()

# put / get around the ring (local side: a NumPy array or a Buffer)
payload = np.arange(128, dtype=np.int64) + 1000 * me
core.put(buf, payload, right)                                        # stream=None: the default stream
core.barrier_all()
assert a64.tolist() == (np.arange(128) + 1000 * left).tolist()
got = np.zeros(128, np.int64)
core.get(got, buf, right, 0)                                         # stream 0
assert got.tolist() == (np.arange(128) + 1000 * me).tolist()
core.barrier_all()

# put_signal: data visible before the signal; signal_wait sees it
core.put_signal(buf, payload[:16], sig, 7, core.SignalOp.SIGNAL_SET, right)
core.signal_wait(sig, 7, core.ComparisonType.CMP_EQ, 0)
assert a64[:16].tolist() == (np.arange(16) + 1000 * left).tolist()
core.barrier_all()

# signal_op ADD from everyone into PE 0's word; PE 0 waits until all arrived
cnt = core.calloc(1, 8)
core.signal_op(cnt, me + 1, core.SignalOp.SIGNAL_ADD, 0)
if me == 0:
    core.signal_wait(cnt, n * (n + 1) // 2, core.ComparisonType.CMP_GE)
    assert cnt.numpy(np.uint64)[0] == n * (n + 1) // 2
core.quiet(0)
core.barrier(core.ACLSHMEM_TEAM_WORLD); core.sync_all(); core.sync(0)
core.barrier_on_stream(0, 0); core.barrier_all_on_stream(None)

# upstream's 4-byte signal buffers: a whole small allocation holds the 64-bit word
s4 = core.buffer(4)
s4.numpy(np.int32)[0] = 0
core.barrier_all()
core.signal_op(s4, 3, core.SignalOp.SIGNAL_SET, right)
core.signal_wait(s4, 3, core.ComparisonType.CMP_EQ)
assert s4.numpy(np.int32)[0] == 3
core.barrier_all()

# peer buffers: loads and stores straight into the neighbour's copy
peer = core.get_peer_buffer(buf, right)
assert not peer.owned and peer.length == buf.length
peer.numpy(np.int64)[0] = 4242 + me
core.barrier_all()
assert a64[0] == 4242 + left
assert core.get_peer_buffer(buf, me).addr == buf.addr

# bad input: exact classes and codes, nothing done
invalid(core.put, buf, payload, n)                                   # PE out of range
invalid(core.put, buf, payload, -1)
invalid(core.put, buf, payload, True)
invalid(core.put, buf, np.zeros(2048, np.int64), right)              # dst too small
invalid(core.put, payload, payload, right)                           # dst not symmetric
invalid(core.get, np.zeros(1, np.int64), buf, right)                 # dst too small
invalid(core.put, buf, payload, right, -1)                           # negative stream
invalid(core.put, buf, payload, right, True)                         # bool stream
expect_error(core.put, buf, payload, right, "s", exc=TypeError)
invalid(core.put_signal, buf, payload, core.Buffer(sig.addr, 4), 1, core.SignalOp.SIGNAL_SET, right)  # 4 B, no block
invalid(core.signal_op, core.Buffer(sig.addr + 4, 8), 1, core.SignalOp.SIGNAL_SET, right)      # misaligned
invalid(core.signal_op, sig, 1, 7, right)
invalid(core.signal_op, sig, -1, core.SignalOp.SIGNAL_SET, right)
invalid(core.signal_op, sig, 1, core.SignalOp.SIGNAL_SET, n)
invalid(core.signal_wait, sig, 1, 9)
invalid(core.signal_wait, sig, 1, True)
invalid(core.quiet, -5)
invalid(core.buffer, 0)
invalid(core.buffer, True)
invalid(core.buffer, 16, mem_type=3)
invalid(core.align, 3, 8)
invalid(core.calloc, 2**63, 2**63)
invalid(core.barrier, 77)
invalid(core.get_peer_buffer, buf, -1)
invalid(core.free, core.Buffer(0x1000, 8))                           # not owned
invalid(core.free, peer)
invalid(core.Buffer, 0, 8)
expect_error(memoryview, core.Buffer(0x1000, 8), exc=BufferError)      # an external address exports nothing
failed(core.buffer, 1 << 40, code=-8)                                 # does not fit: MALLOC_FAILED
invalid(core.get_peer_buffer, buf, 1000)

# free: collective; afterwards the buffer refuses use
core.free(buf); core.free(sig); core.free(al); core.free(cnt)
assert buf.release_called and peer.release_called
invalid(core.free, buf)
invalid(core.put, buf, payload, right)
invalid(core.get_peer_buffer, buf, right)
core.finalize()
failed(core.finalize, code=-5)
failed(core.direct.my_pe, code=-5)
assert core.direct.init_status() == core.direct.InitStatus.NOT_INITIALIZED
print("PE", me, "core ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_core_by_attributes(job, n):
    p = job(n, textwrap.dedent("""
    import shmem.core as core
    me, n = int(os.environ["SHMEM_PE"]), int(os.environ["SHMEM_N_PES"])
    url = f"tcp://{os.environ['SHMEM_MASTER_ADDR']}:{os.environ['SHMEM_MASTER_PORT']}"
    attr = shmem.InitAttr()
    shmem.shmem_set_attributes(me, n, 8 << 20, url, attr)
    for bad in (dict(attributes=attr, initializer_method="uid"), dict(attributes=attr, uid=b"x"),
                dict(initializer_method="attr"), dict(attributes=attr, instance_id=1), dict(attributes=object()),
                dict(initializer_method="mpi")):
        e = expect_error(core.init, exc=core.AclshmemInvalid, **bad)
        assert e.code == -1, (bad, e)
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
    core.init(attributes=attr, initializer_method="attr")
    """) + CORE_BODY)
    assert p.stdout.count("core ok") == n, p.stdout


@pytest.mark.parametrize("n", [2, 4])
def test_core_by_unique_id(tmp_path, n):
    """Upstream's start: get_unique_id on rank 0 (bytes), broadcast, init(..., initializer_method="uid")."""
    outs = run_ranks(tmp_path, n, textwrap.dedent("""
    import shmem.core as core
    assert shmem.set_conf_store_tls(False, "") == 0
    uid = core.get_unique_id() if RANK == 0 else None
    assert RANK != 0 or (isinstance(uid, bytes) and len(uid) == 136)
    uid = share_uid(uid)
    for bad in (dict(uid=uid, rank=RANK, nranks=WORLD, mem_size=1 << 22, initializer_method="mpi"),
                dict(uid=uid, rank=WORLD, nranks=WORLD, mem_size=1 << 22, initializer_method="uid"),
                dict(uid=uid, rank=RANK, nranks=0, mem_size=1 << 22, initializer_method="uid"),
                dict(uid=uid, rank=RANK, nranks=WORLD, mem_size=0, initializer_method="uid"),
                dict(uid=uid, rank=RANK, nranks=WORLD, initializer_method="uid"),
                dict(uid=123, rank=RANK, nranks=WORLD, mem_size=1 << 22, initializer_method="uid"),
                dict(uid=b"garbage", rank=RANK, nranks=WORLD, mem_size=1 << 22, initializer_method="uid"),
                dict(uid=uid, rank=RANK, nranks=WORLD, mem_size=1 << 22, initializer_method="uid", instance_id=3)):
        e = expect_error(core.init, exc=core.AclshmemInvalid, **bad)
        assert e.code == -1, (bad, e)
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
    native = core.UniqueID.from_bytes(uid)                   # a UniqueID works as well as its bytes
    core.init(uid=native if RANK % 2 else uid, rank=RANK, nranks=WORLD, mem_size=8 << 20, initializer_method="uid")
    """) + CORE_BODY)
    for r, out in enumerate(outs):
        assert f"PE {r} core ok" in out, out


def _declared(path: pathlib.Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


def test_core_is_covered_by_the_typed_stub():
    import shmem.core as core
    import shmem.core.direct as direct

    missing = [n for n in core.__all__ if n not in _declared(ROOT / "python/shmem/core/__init__.pyi")]
    assert not missing, missing
    missing = [n for n in direct.__all__ if n not in _declared(ROOT / "python/shmem/core/direct.pyi")]
    assert not missing, missing
    assert "core" in _declared(ROOT / "python/shmem/__init__.pyi")
    undocumented = [n for n in core.__all__ if callable(getattr(core, n)) and not (getattr(core, n).__doc__ or "")]
    assert not undocumented, undocumented
