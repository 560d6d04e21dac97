"""Upstream's low-level names (issue #12 item 3), written from upstream Ascend SHMEM's extension: the typed
single-element put/get for every TYPE, the stream-ordered calls (the calling thread is the stream: complete and
in order on return), the sized put-with-signal, strided put/get, heap base, and the diff of upstream's exported
names against ours (each one exists, or docs/python-core.md says why not); on 2 and 4 PEs, with bad input."""
from __future__ import annotations

import pathlib
import re

import pytest

import shmem

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Upstream's exported names (src/host/python_wrapper/pyshmem.cpp of hicann/shmem), by its own generator macros.
TYPE = "half float double int8 int16 int32 int64 uint8 uint16 uint32 uint64 char bfloat16".split()
SIZE = ["8", "16", "32", "64", "128"]
P2P = "float int8 int16 int32 int64 uint8 uint16 uint32 uint64 char".split()
PLAIN = """CmpOp InitAttr InitStatus MemType OpEngineType OptionalAttr SignalOp TeamConfig UniqueId aclshmem_align
aclshmem_calloc aclshmem_finalize aclshmem_free aclshmem_get_unique_id aclshmem_getmem aclshmem_getmem_nbi
aclshmem_global_exit aclshmem_info_get_name aclshmem_info_get_version aclshmem_init aclshmem_init_using_unique_id
aclshmem_malloc aclshmem_ptr aclshmem_putmem aclshmem_putmem_nbi aclshmem_signal_wait_until
aclshmem_team_get_config aclshmemx_finalize aclshmemx_get_heap_base aclshmemx_getmem_on_stream
aclshmemx_init_status aclshmemx_putmem_on_stream aclshmemx_putmem_signal aclshmemx_putmem_signal_nbi
aclshmemx_quiet_on_stream aclshmemx_signal_op_on_stream aclshmemx_signal_wait_until_on_stream get_ffts_config
my_pe pe_count set_conf_store_tls set_conf_store_tls_key set_extern_logger set_log_level team_destroy team_my_pe
team_n_pes team_split_2d team_split_strided team_translate_pe""".split()
UPSTREAM = set(PLAIN)
UPSTREAM |= {f"aclshmem_{t}_{op}" for t in TYPE for op in ("p", "g", "iput", "iget")}
UPSTREAM |= {f"aclshmem_{op}{b}{sfx}" for b in SIZE for op in ("put", "get") for sfx in ("", "_nbi")}
UPSTREAM |= {f"aclshmem_{op}{b}" for b in SIZE for op in ("iput", "iget")}
UPSTREAM |= {f"aclshmemx_put{b}_signal{sfx}" for b in SIZE for sfx in ("", "_nbi")}
UPSTREAM |= {f"aclshmem_{t}_{op}" for t in P2P for op in (
    "wait_until", "wait", "wait_until_all", "wait_until_any", "wait_until_some", "wait_until_all_vector",
    "wait_until_any_vector", "wait_until_some_vector", "test", "test_any", "test_some", "test_all_vector",
    "test_any_vector", "test_some_vector")}


def documented_absent() -> set:
    """Names the table of docs/python-core.md marks as not provided."""
    text = (ROOT / "docs/python-core.md").read_text()
    return {m.group(1) for m in re.finditer(r"^\| `([A-Za-z0-9_]+)` \| not provided", text, re.M)}


def test_every_upstream_name_exists_or_is_documented():
    absent = documented_absent()
    missing = sorted(n for n in UPSTREAM if not hasattr(shmem, n) and n not in absent)
    assert not missing, missing
    wrongly_documented = sorted(n for n in absent if hasattr(shmem, n))
    assert not wrongly_documented, wrongly_documented
    assert absent == {"set_extern_logger", "set_log_level"}, absent
    assert len(UPSTREAM) == 282
    import importlib
    assert importlib.import_module("shmem._pyshmem") is shmem._shmem is shmem._pyshmem   # upstream's module name


TYPED_BODY = r"""
import struct
me, n = shmem.my_pe(), shmem.pe_count()
right, left = (me + 1) % n, (me - 1) % n
TYPES = {"half": 2, "float": 4, "double": 8, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "uint8": 1,
         "uint16": 2, "uint32": 4, "uint64": 8, "char": 1, "bfloat16": 2}
slot = shmem.aclshmem_calloc(len(TYPES), 16)
def value(t, pe):
    return {"half": 1.5 + pe, "float": 0.25 * (pe + 1), "double": -1e300 * (pe + 1), "int8": -100 + pe,
            "int16": -30000 + pe, "int32": -2**31 + pe, "int64": -2**63 + pe, "uint8": 250 + pe % 5,
            "uint16": 65000 + pe, "uint32": 2**32 - 1 - pe, "uint64": 2**64 - 1 - pe, "char": chr(ord("a") + pe),
            "bfloat16": 2.0 ** (pe + 1) + 2.0 ** (pe - 6)}[t]
for i, t in enumerate(TYPES):
    getattr(shmem, f"aclshmem_{t}_p")(slot + 16 * i, value(t, me), right)
shmem.aclshmem_barrier_all()
for i, t in enumerate(TYPES):
    mine = getattr(shmem, f"aclshmem_{t}_g")(slot + 16 * i, me)
    theirs = getattr(shmem, f"aclshmem_{t}_g")(slot + 16 * i, right)
    assert mine == value(t, left), (t, mine, value(t, left))
    assert theirs == value(t, me), (t, theirs, value(t, me))
shmem.aclshmem_barrier_all()                       # everyone has read before anyone rewrites its own slots
# the bytes in memory are the TYPE's own encoding
raw = bytearray(16 * len(TYPES)); shmem.aclshmem_getmem(raw, slot, len(raw), me)
assert struct.unpack_from("<e", raw, 0)[0] == 1.5 + left
assert struct.unpack_from("<q", raw, 16 * 6)[0] == -2**63 + left
assert raw[16 * 12: 16 * 12 + 2] == struct.pack("<f", 2.0 ** (left + 1) + 2.0 ** (left - 6))[2:]   # bf16: top half
# rounding to nearest-even, char spellings
shmem.aclshmem_half_p(slot, 0.1, me); assert shmem.aclshmem_half_g(slot, me) == 0.0999755859375
shmem.aclshmem_bfloat16_p(slot, 1.00390625, me); assert shmem.aclshmem_bfloat16_g(slot, me) == 1.0
shmem.aclshmem_char_p(slot, b"Z", me); assert shmem.aclshmem_char_g(slot, me) == "Z"
shmem.aclshmem_char_p(slot, -1, me); assert shmem.aclshmem_char_g(slot, me) == "\xff"
# bad input: exact codes and classes, nothing written
shmem.aclshmem_int32_p(slot, 77, me)
expect_error(shmem.aclshmem_int8_p, slot, 128, me, exc=OverflowError)
expect_error(shmem.aclshmem_uint64_p, slot, -1, me, exc=OverflowError)
expect_error(shmem.aclshmem_char_p, slot, 256, me, exc=OverflowError)
expect_error(shmem.aclshmem_char_p, slot, "ab", me, code=-1)
expect_error(shmem.aclshmem_char_p, slot, "\u20ac", me, code=-1)
expect_error(shmem.aclshmem_int32_p, slot, 1, n, code=-1)
expect_error(shmem.aclshmem_int32_p, 12345, 1, me, code=-1)
expect_error(shmem.aclshmem_int32_g, slot, -1, code=-1)
expect_error(shmem.aclshmem_float_p, slot, "x", me, exc=TypeError)
assert shmem.aclshmem_int32_g(slot, me) == 77
shmem.aclshmem_barrier_all()
shmem.aclshmem_free(slot)
assert shmem.aclshmem_finalize() == 0
print("PE", me, "typed ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_typed_p_and_g_for_every_type(job, n):
    p = job(n, "shmem.aclshmem_init()\n" + TYPED_BODY)
    assert p.stdout.count("typed ok") == n, p.stdout


STREAM_BODY = r"""
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
right = (me + 1) % n
class NpuStream:                                   # what torch.npu.current_stream() looks like to us
    npu_stream = 0x5000
data = shmem.aclshmem_calloc(64, 8)
sig = shmem.aclshmem_calloc(n, 8)
cnt = shmem.aclshmem_calloc(1, 8)
shmem.aclshmem_barrier_all()
# in order on the calling thread: the data put before the signal is there when the signal is
for k, stream in enumerate((None, 0, 12345, NpuStream())):
    src = np.full(64, 1000 * me + k, np.int64)
    shmem.aclshmemx_putmem_on_stream(data, src, 512, right, stream)
    shmem.aclshmemx_signal_op_on_stream(sig + 8 * me, k + 1, shmem.SIGNAL_SET, right, stream)
    left = (me - 1) % n
    shmem.aclshmemx_signal_wait_until_on_stream(sig + 8 * left, shmem.CMP_EQ, k + 1, stream)
    got = np.zeros(64, np.int64)
    shmem.aclshmemx_getmem_on_stream(got, data, 512, me, stream)
    assert (got == 1000 * left + k).all(), (k, got[:3])
    shmem.aclshmemx_quiet_on_stream(stream)
    shmem.aclshmem_barrier_all()
# SIGNAL_ADD from every PE into PE 0
shmem.aclshmemx_signal_op_on_stream(cnt, me + 1, shmem.SIGNAL_ADD, 0, 0)
if me == 0:
    shmem.aclshmemx_signal_wait_until_on_stream(cnt, shmem.CMP_GE, n * (n + 1) // 2, 0)
    assert shmem.aclshmem_signal_fetch(cnt) == n * (n + 1) // 2
shmem.aclshmem_barrier_all()
# sized put-with-signal (element counts), strided put/get, heap base
a = shmem.aclshmem_calloc(32, 8)
b32 = np.arange(8, dtype=np.int32) + 100 * me
shmem.aclshmemx_put32_signal(a, b32, 4, cnt, 99, shmem.SIGNAL_SET, right)       # 4 elements = 16 bytes
shmem.aclshmem_barrier_all()
got = np.zeros(8, np.int32); shmem.aclshmem_getmem(got, a, 32, me)
assert got.tolist() == [100 * ((me - 1) % n) + i for i in range(4)] + [0] * 4, got
assert shmem.aclshmem_signal_fetch(cnt) == 99
shmem.aclshmem_barrier_all()
src = np.arange(12, dtype=np.int64) + 10 * me
shmem.aclshmem_int64_iput(a, src, 2, 3, 4, right)         # dest[0,2,4,6] = src[0,3,6,9]
shmem.aclshmem_barrier_all()
mine = np.zeros(8, np.int64); shmem.aclshmem_getmem(mine, a, 64, me)
l10 = 10 * ((me - 1) % n)
assert mine[[0, 2, 4, 6]].tolist() == [l10, l10 + 3, l10 + 6, l10 + 9], mine
back = np.full(6, -1, np.int64)
shmem.aclshmem_iget64(back, a, 3, 2, 2, me)               # back[0,3] = a[0,2]
assert back.tolist() == [l10, -1, -1, l10 + 3, -1, -1], back
base = shmem.aclshmemx_get_heap_base()
assert base == shmem.heap_range()[0] == shmem.aclshmemx_get_heap_base(shmem.MemType.HOST_SIDE)
assert base <= a < base + shmem.heap_range()[1]
shmem.aclshmem_barrier_all()
# bad input: exact codes and classes
for bad in (-1, True):
    expect_error(shmem.aclshmemx_putmem_on_stream, data, src, 8, right, bad, code=-1)
    expect_error(shmem.aclshmemx_quiet_on_stream, bad, code=-1)
expect_error(shmem.aclshmemx_getmem_on_stream, got, data, 8, right, "stream", exc=TypeError)
expect_error(shmem.aclshmemx_signal_op_on_stream, sig, 1, 7, right, 0, code=-1)
expect_error(shmem.aclshmemx_signal_op_on_stream, sig, 1, shmem.SIGNAL_SET, n, 0, code=-1)
expect_error(shmem.aclshmemx_signal_op_on_stream, sig, -1, shmem.SIGNAL_SET, right, 0, exc=OverflowError)
expect_error(shmem.aclshmemx_signal_wait_until_on_stream, sig, 9, 0, 0, code=-1)
expect_error(shmem.aclshmemx_putmem_on_stream, data, src, 10**6, right, 0, code=-1)
expect_error(shmem.aclshmem_int64_iput, a, src, 0, 1, 2, right, code=-1)          # zero stride
expect_error(shmem.aclshmem_int64_iget, back, a, 1, 1, 7, me, code=-1)            # dest too small
expect_error(shmem.aclshmem_int64_iput, a, src, 1, 5, 4, right, code=-1)          # source too small
expect_error(shmem.aclshmemx_put64_signal, a, src, 2**62, cnt, 1, 0, right, code=-1)
expect_error(shmem.aclshmemx_get_heap_base, 5, code=-1)
shmem.aclshmem_barrier_all()
assert shmem.aclshmem_finalize() == 0
assert shmem.aclshmemx_get_heap_base() == 0
expect_error(shmem.aclshmemx_quiet_on_stream, 0, code=shmem.NOT_INITED)
print("PE", me, "stream ok")
"""


@pytest.mark.parametrize("n", [2, 4])
def test_on_stream_sized_signal_strided_and_heap_base(job, n):
    p = job(n, STREAM_BODY)
    assert p.stdout.count("stream ok") == n, p.stdout
