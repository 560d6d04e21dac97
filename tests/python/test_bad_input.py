"""Bad inputs give the documented exception with its exact code (and never crash), and a hypothesis fuzz that
checks RMA, put-with-signal, the wait/test families, the pure-Python wrappers and collectives against a model."""

BAD = r"""
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
a = shmem.aclshmem_malloc(256)
arr = shmem.zeros(8, np.int64)
lo, size = shmem.heap_range()
INV, NI = shmem.INVALID_PARAM, shmem.NOT_INITED
table = [
    # (function, args, expected: error code or exception type)
    (shmem.aclshmem_malloc, (-1,), INV),                       # negative size
    (shmem.aclshmem_malloc, (2**70,), INV),                    # huge size
    (shmem.aclshmem_malloc, ("8",), TypeError),                # wrong type
    (shmem.aclshmem_malloc, (1 << 40,), shmem.MALLOC_FAILED),   # does not fit
    (shmem.aclshmem_calloc, (-1, 8), INV),
    (shmem.aclshmem_align, (3, 8), INV),                       # not a power of two
    (shmem.aclshmem_putmem, (a, b"x" * 8, 8, n), INV),          # bad PE
    (shmem.aclshmem_putmem, (a, b"x" * 8, 8, -1), INV),
    (shmem.aclshmem_putmem, (a, b"x" * 8, 8, 2**80), INV),
    (shmem.aclshmem_putmem, (a, b"x" * 8, -8, 0), INV),         # negative size
    (shmem.aclshmem_putmem, (a, b"x" * 8, 16, 0), INV),         # src smaller than the size
    (shmem.aclshmem_putmem, (a, b"x" * 8, 2**62, 0), INV),      # huge size
    (shmem.aclshmem_putmem, (lo + size - 4, b"x" * 8, 8, 0), INV),  # runs past the heap
    (shmem.aclshmem_putmem, (12345, b"x" * 8, 8, 0), INV),      # foreign int as the symmetric address
    (shmem.aclshmem_putmem, (-5, b"x" * 8, 8, 0), INV),
    (shmem.aclshmem_putmem, (a, 12345, 8, 0), INV),             # foreign int as a local buffer
    (shmem.aclshmem_putmem, (a, id(object()), 8, 0), INV),
    (shmem.aclshmem_putmem, (a, "text", 4, 0), TypeError),     # not a buffer
    (shmem.aclshmem_putmem, (a, np.zeros((4, 4))[:, 1], 8, 0), INV),  # non-contiguous source
    (shmem.aclshmem_putmem, (np.zeros(4), b"x" * 8, 8, 0), INV),  # a local (non-heap) array as symmetric dst
    (shmem.aclshmem_putmem, (arr[:1], b"x" * 16, 16, 0), INV),  # symmetric dst smaller than the size
    (shmem.aclshmem_getmem, (b"immutable", a, 4, 0), INV),      # read-only destination
    (shmem.aclshmem_getmem, (memoryview(bytearray(8)).toreadonly(), a, 4, 0), INV),
    (shmem.aclshmem_getmem, (np.zeros((4, 4))[:, 1], a, 8, 0), INV),  # non-contiguous destination
    (shmem.aclshmem_getmem, (bytearray(4), a, 8, 0), INV),     # destination too small
    (shmem.aclshmem_getmem, (bytearray(8), 999, 8, 0), INV),
    (shmem.aclshmem_put16, (a + 1, b"xx", 1, 0), INV),          # unaligned typed call
    (shmem.aclshmem_put64, (a + 4, b"x" * 8, 1, 0), INV),
    (shmem.aclshmem_get32, (bytearray(4), a + 2, 1, 0), INV),
    (shmem.aclshmem_put128, (a, b"x" * 16, 2**61, 0), INV),     # element count overflow
    (shmem.aclshmemx_putmem_signal, (a, b"x" * 8, 8, a + 4, 1, 0, 0), INV),   # signal overlaps the data
    (shmem.aclshmemx_putmem_signal, (a, b"x" * 8, 8, a + 64, 1, 7, 0), INV),  # bad signal op
    (shmem.aclshmemx_putmem_signal, (a, b"x" * 8, 8, a + 65, 1, 0, 0), INV),  # unaligned signal
    (shmem.aclshmemx_putmem_signal, (a, b"x" * 8, 8, a + 64, -1, 0, 0), OverflowError),
    (shmem.aclshmem_signal_wait_until, (a + 3, 0, 0), INV),
    (shmem.aclshmem_signal_wait_until, (a, 17, 0), INV),
    (shmem.aclshmem_int32_wait_until, (12345, 0, 0), INV),
    (shmem.aclshmem_int32_test_some, (a, 4, bytearray(8), None, 0, 0), INV),  # indices too small
    (shmem.aclshmem_int32_test, (a, 0, 0, b"ro!!"), INV),        # read-only res_out
    (shmem.aclshmem_int32_test_all, (a, 2**40, None, 0, 0), INV),
    (shmem.aclshmem_int64_atomic_add, (a + 4, 1, 0), INV),      # unaligned atomic
    (shmem.aclshmem_int64_atomic_add, (a, 1, 99), INV),
    (shmem.aclshmem_int32_atomic_fetch_add, (a, 2**40, 0), OverflowError),
    (shmem.aclshmem_int64_atomic_fetch_nbi, (b"ro" * 4, a, 0), INV),
    (shmem.aclshmem_ptr, (12345, 0), INV),
    (shmem.aclshmem_ptr, (a, 99), INV),
    (shmem.aclshmem_free, (a + 16,), INV),                      # not the start of a block
    (shmem.aclshmem_free, (12345,), INV),
    (shmem.team_split_strided, (0, 0, 0, 2), INV),              # zero stride
    (shmem.team_split_strided, (0, 0, 1, 2**40), INV),
    (shmem.team_split_2d, (0, 0), INV),
    (shmem.aclshmem_team_get_config, (99,), INV),
    (shmem.team_destroy, (0,), INV),                            # TEAM_WORLD cannot be destroyed
    (shmem.mte_set_ub_params, (0, -1, 0), INV),
    (shmem.shmem_set_timeout, (shmem.InitAttr(), 0), INV),
    # set_conf_store_tls_key keeps the key; the init that uses TLS checks it (test_upstream_startup.py)
    (shmem.register_decrypt_handler, (42,), TypeError),
    (shmem.aclshmem_init, (), -4),                               # already initialized
    (shmem.aclshmem_init, (0, None), INV),
]
for fn, args, want in table:
    try:
        fn(*args)
    except ShmemError as e:
        assert isinstance(want, int) and e.code == want, (fn.__name__, args, e.code, want, str(e))
        assert str(e), fn.__name__
    except Exception as e:
        assert isinstance(want, type) and isinstance(e, want), (fn.__name__, args, type(e), e)
    else:
        raise AssertionError(f"{fn.__name__}{args!r} did not raise")
# team queries return -1 rather than raising
assert shmem.team_my_pe(123) == -1 and shmem.team_n_pes(-7) == -1 and shmem.team_translate_pe(0, 99, 0) == -1
assert shmem.aclshmem_malloc(0) == 0
assert shmem.my_pe(2**40 if False else 55) == -1
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok")
"""

FUZZ = r"""
# A model-based fuzz: hypothesis draws calls (valid or with one fault), a Python model says what each must
# do, and every call's data, result or exact error code is checked against it. The seed comes from the test
# (printed on failure); the example database is off so that every PE draws from the seed alone.
import json, hashlib, operator
from hypothesis import given, settings, seed, strategies as st, HealthCheck
SEED = int(os.environ["FUZZ_SEED"])
EX = int(os.environ.get("FUZZ_EXAMPLES", "150"))
CFG = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=False)
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
INV = shmem.INVALID_PARAM
REGION = 4096
box = shmem.zeros((n, REGION), np.uint8)         # box[p] on every PE is written only by PE p
sigs = shmem.zeros(n, np.uint64)                 # sigs[p] likewise
model = {pe: np.zeros(REGION, np.uint8) for pe in range(n)}
sig_model = {pe: 0 for pe in range(n)}
mine = box[me].__array_interface__["data"][0]
my_sig = sigs[me:me + 1].__array_interface__["data"][0]

def outcome(fn, *args, **kw):
    try:
        return ("ok", fn(*args, **kw))
    except ShmemError as e:
        return ("code", e.code)
    except Exception as e:  # noqa: BLE001
        return ("exc", type(e).__name__)

def region_of(pe):
    got = np.zeros(REGION, np.uint8)
    shmem.aclshmem_getmem(got, mine, REGION, pe)
    return got

WIDTH = {"putmem": 1, "put8": 1, "put16": 2, "put32": 4, "put64": 8, "put128": 16}
FAULTS = [None, None, None, "pe_high", "pe_neg", "count_neg", "src_small", "unaligned", "foreign_dst",
          "not_buffer", "past_heap"]

@settings(max_examples=EX * 2, **CFG)
@seed(SEED + me)
@given(form=st.sampled_from(sorted(WIDTH) + ["wrapper"]), nbi=st.booleans(), get=st.booleans(),
       fault=st.sampled_from(FAULTS), pe=st.integers(0, n - 1), off=st.integers(0, REGION),
       count=st.integers(0, 300), kind=st.sampled_from(["bytes", "bytearray", "numpy", "memoryview"]),
       fill=st.integers(0, 255))
def rma(form, nbi, get, fault, pe, off, count, kind, fill):
    w = 1 if form == "wrapper" else WIDTH[form]
    off -= off % w
    count = min(count, (REGION - off) // w)
    nb = count * w
    data = bytes((fill + 3 * i) % 256 for i in range(nb))
    src = {"bytes": data, "bytearray": bytearray(data), "numpy": np.frombuffer(data, np.uint8).copy(),
           "memoryview": memoryview(data)}[kind]
    dst, cnt, target, want = mine + off, count, pe, ("ok", None)
    if fault == "pe_high": target, want = n + pe, ("code", INV)
    elif fault == "pe_neg": target, want = -1 - pe, ("code", INV)
    elif fault == "count_neg" and form != "wrapper": cnt, want = -1 - count, ("code", INV)
    elif fault == "src_small" and form != "wrapper" and nb > 0: src, want = src[: nb - 1], ("code", INV)
    elif fault == "unaligned" and w > 1 and count > 0: dst, want = dst + 1, ("code", INV)
    elif fault == "foreign_dst": dst, want = 12345, ("code", INV)
    elif fault == "not_buffer": src, want = "text" * 8, ("exc", "TypeError")
    elif fault == "past_heap" and nb > 0:
        lo, size = shmem.heap_range(); dst, want = lo + size - nb + 1, ("code", INV)
    if get:
        if want == ("exc", "TypeError"):
            out = "text"                                   # a str is not a writable buffer
        elif kind in ("bytes", "memoryview"):
            out, want = bytes(nb), ("code", INV) if want == ("ok", None) or nb == 0 else want
        else:
            out = bytearray(len(src)) if kind == "bytearray" else np.zeros(len(src), np.uint8)
        if form == "wrapper":
            r = outcome(shmem.get, out, dst, target, nbi=nbi)
        else:
            name = "aclshmem_getmem" if form == "putmem" else "aclshmem_" + form.replace("put", "get")
            r = outcome(getattr(shmem, name + ("_nbi" if nbi else "")), out, dst, cnt, target)
        shmem.aclshmem_quiet()
        if fault in ("src_small",) and want[0] == "code" and kind not in ("bytes", "memoryview"):
            pass                                           # a short destination is refused alike
        assert r == want, (form, nbi, "get", fault, kind, nb, r, want)
        if r[0] == "ok":
            assert bytes(memoryview(out).cast("B")[:nb]) == model[target][off:off + nb].tobytes()
        return
    if form == "wrapper":
        r = outcome(shmem.put, dst, src, target, nbi=nbi)
    else:
        r = outcome(getattr(shmem, "aclshmem_" + form + ("_nbi" if nbi else "")), dst, src, cnt, target)
    shmem.aclshmem_quiet()
    assert r == want, (form, nbi, "put", fault, kind, nb, off, r, want)
    if r[0] == "ok":
        model[target][off:off + nb] = np.frombuffer(data, np.uint8)
    for p in {pe, target} & set(range(n)):
        assert (region_of(p) == model[p]).all(), (form, fault, "region of PE", p)   # nothing else changed

@settings(max_examples=EX, **CFG)
@seed(SEED + 100 + me)
@given(pe=st.integers(0, n - 1), off=st.integers(0, 512), nb=st.integers(0, 256), op=st.sampled_from([0, 1, 7, -1]),
       signal=st.integers(0, 2**40), nbi=st.booleans(), wrapper=st.booleans(),
       sig_fault=st.sampled_from([None, None, "overlap", "unaligned"]))
def put_signal(pe, off, nb, op, signal, nbi, wrapper, sig_fault):
    data = bytes((signal + i) % 256 for i in range(nb))
    sig = {None: my_sig, "overlap": mine + off, "unaligned": my_sig + 3}[sig_fault]
    if sig_fault == "overlap" and nb < 8:
        sig = my_sig
    want = ("ok", None)
    if op not in (0, 1) or sig != my_sig:
        want = ("code", INV)
    if wrapper:
        r = outcome(shmem.put_signal, mine + off, data, sig, signal, pe, sig_op=op, nbi=nbi)
    else:
        fn = shmem.aclshmemx_putmem_signal_nbi if nbi else shmem.aclshmemx_putmem_signal
        r = outcome(fn, mine + off, data, nb, sig, signal, op, pe)
    shmem.aclshmem_quiet()
    assert r == want, (pe, off, nb, op, nbi, wrapper, sig_fault, r, want)
    if r[0] == "ok":
        model[pe][off:off + nb] = np.frombuffer(data, np.uint8)
        sig_model[pe] = signal if op == 0 else (sig_model[pe] + signal) % 2**64
    assert shmem.aclshmem_uint64_atomic_fetch(my_sig, pe) == sig_model[pe]
    assert (region_of(pe) == model[pe]).all()

OPS = [operator.eq, operator.ne, operator.gt, operator.ge, operator.lt, operator.le]
WT = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "uint16": np.uint16, "int32": np.int32,
      "uint32": np.uint32, "int64": np.int64, "uint64": np.uint64, "float": np.float32, "double": np.float64}
scratch = shmem.zeros(128, np.uint8)

@settings(max_examples=EX * 3, **CFG)
@seed(SEED + 200 + me)
@given(ty=st.sampled_from(sorted(WT) + sorted(shmem.WAIT_TYPE_ALIASES)),
       vals=st.lists(st.integers(0, 9), min_size=1, max_size=8), cmp=st.sampled_from([0, 1, 2, 3, 4, 5, 6, -1]),
       value=st.integers(0, 9), mask=st.one_of(st.none(), st.just(0), st.lists(st.integers(0, 1), min_size=8, max_size=8)),
       vector=st.booleans(), vec=st.lists(st.integers(0, 9), min_size=8, max_size=8),
       fam=st.sampled_from(["test", "all", "any", "some", "wrapper"]), wait=st.booleans())
def waits(ty, vals, cmp, value, mask, vector, vec, fam, wait):
    base = shmem.WAIT_TYPE_ALIASES.get(ty, ty)
    dt = WT[base]
    k = len(vals)
    iv = scratch[: k * np.dtype(dt).itemsize].view(dt)
    iv[:] = np.array(vals, dtype=dt)
    st_arr = None if mask is None or mask == 0 else np.array(mask[:k], np.int32)
    status = mask if st_arr is None else st_arr
    cmpv = vec[:k] if vector else [value] * k
    if cmp not in range(6):
        truth = None
    else:
        truth = [OPS[cmp](x, c) for x, c in zip(vals, cmpv)]
    active = [i for i in range(k) if st_arr is None or st_arr[i] == 0]
    hits = [i for i in active if truth and truth[i]]
    f = lambda op: getattr(shmem, f"aclshmem_{ty}_{op}")
    vecarg = np.array(cmpv, dtype=dt)
    if fam == "wrapper":
        arr = iv                                     # the wrappers compare every element with one value
        if cmp in range(6):
            t = all(OPS[cmp](x, value) for x in vals)
            assert shmem.test(arr, cmp, dt(value)) is t
            if t and wait:
                assert shmem.wait_until(arr, cmp, dt(value)) is None
        else:
            assert outcome(shmem.test, arr, cmp, dt(value)) == ("code", INV)
        return
    if fam == "test":
        r = outcome(f("test"), iv[:1], cmp, dt(cmpv[0]))
        assert r == (("code", INV) if truth is None else ("ok", int(truth[0]))), (ty, cmp, r)
        if truth is not None and truth[0] and wait:
            assert f("wait_until")(iv[:1], cmp, dt(cmpv[0])) is None
        return
    sfx = "_vector" if vector else ""
    idx = np.zeros(8, np.uint64)
    def call(op):
        if op.endswith("some"):
            args = (iv, k, idx, status, cmp) + ((vecarg,) if vector else (dt(value),))
        elif op.endswith("any") and vector:
            args = (iv, k, status, cmp, None, vecarg)
        else:
            args = (iv, k, status, cmp) + ((vecarg,) if vector else (dt(value),))
        return outcome(f(op + sfx), *args)
    name = {"all": "test_all", "any": "test_any", "some": "test_some"}[fam]
    r = call(name)
    if truth is None:
        assert r == ("code", INV), (ty, fam, r)
        assert call("wait_until_" + fam) == ("code", INV)     # refused at once, not a hang
        return
    if fam == "all":
        assert r == ("ok", int(all(truth[i] for i in active))), (ty, r, truth, active)
        if all(truth[i] for i in active) and wait:
            assert call("wait_until_all") == ("ok", None)
    elif fam == "any":
        assert r[0] == "ok" and ((r[1] in hits) if hits else r[1] == -1), (ty, r, hits)
        if (hits or not active) and wait:
            w = call("wait_until_any")
            assert w[0] == "ok" and ((w[1] in hits) if hits else w[1] == -1), (ty, w, hits)
    else:
        assert r == ("ok", len(hits)) and sorted(idx[: len(hits)].tolist()) == hits, (ty, r, hits)
        if (hits or not active) and wait:
            assert call("wait_until_some") == ("ok", len(hits))

rma(); put_signal(); waits()
shmem.aclshmem_barrier_all()

# Collectives in lockstep: PE 0 draws a program, every PE runs it; the results (heap offsets, codes, data
# checks) must match PE 0's model and be identical on every PE.
prog = shmem.zeros(1 << 16, np.uint8)
digests = shmem.zeros((n, 32), np.uint8)
lo, heap = shmem.heap_range()

def run_program(ops):
    live, out = [], []
    for op in ops:
        kind = op[0]
        if kind in ("malloc", "calloc", "align"):
            fn = {"malloc": shmem.aclshmem_malloc, "calloc": shmem.aclshmem_calloc, "align": shmem.aclshmem_align}[kind]
            r = outcome(fn, *op[1:])
            size = op[-1] * (op[1] if kind == "calloc" else 1)
            if kind == "align" and (op[1] <= 0 or op[1] & (op[1] - 1)):
                assert r == ("code", INV), (op, r)
            elif min(op[1:]) < 0:
                assert r == ("code", INV), (op, r)
            elif size > heap:
                assert r == ("code", shmem.MALLOC_FAILED), (op, r)
            elif size == 0:
                assert r == ("ok", 0), (op, r)
            elif r[0] == "ok":
                a = r[1]
                assert lo <= a and a + size <= lo + heap, (op, r)
                if kind == "align":
                    assert a % op[1] == 0, (op, hex(a))
                if kind == "calloc":
                    z = bytearray(size); shmem.aclshmem_getmem(z, a, size, me); assert not any(z), op
                shmem.aclshmem_putmem(a, bytes([0xEE]) * size, size, me)   # dirty it for a later calloc
                live.append(a)
                r = ("ok", a - lo)
            else:
                assert r == ("code", shmem.MALLOC_FAILED), (op, r)     # fragmented: may not fit
            out.append(r)
        elif kind == "free":
            if live:
                a = live.pop(op[1] % len(live))
                assert outcome(shmem.aclshmem_free, a) == ("ok", None)
                again = outcome(shmem.aclshmem_free, a)          # a second free is refused on every PE
                assert again == ("code", INV), (op, again)
                out.append(again)
        elif kind == "barrier":
            shmem.aclshmem_barrier_all(); out.append("b")
        elif kind == "sync":
            shmem.aclshmem_sync_all(); out.append("s")
        elif kind == "split":
            start, stride, size = op[1:]
            r = outcome(shmem.team_split_strided, shmem.TEAM_WORLD, start, stride, size)
            members = [start + j * stride for j in range(size)]
            if stride < 1 or size < 1 or start < 0 or members[-1] >= n:
                assert r == ("code", INV), (op, r)
            else:
                t = r[1]
                if me in members:
                    assert shmem.team_my_pe(t) == members.index(me) and shmem.team_n_pes(t) == size, (op, t)
                    assert shmem.team_translate_pe(t, 0, shmem.TEAM_WORLD) == start
                    shmem.aclshmem_team_barrier(t)
                    shmem.team_destroy(t)
                else:
                    assert t == shmem.TEAM_INVALID, (op, t)
                r = ("ok", t != shmem.TEAM_INVALID and me in members)
            out.append(r[0])
        elif kind == "zeros":
            a = shmem.zeros(op[1], op[2])
            assert a.shape == (op[1],) and a.dtype == np.dtype(op[2]) and not a.any(), (op, a)
            shmem.aclshmem_barrier_all()                     # every PE saw its zeros before peers write
            peer = shmem.peer_array(a, (me + 1) % n)
            peer[:] = 1                                      # into the next PE's copy
            shmem.aclshmem_barrier_all()
            assert (a == 1).all() and shmem.is_symmetric(a), (op, a, hex(a.__array_interface__["data"][0] - lo), out)
            shmem.aclshmem_barrier_all()
            shmem.free(a)
            out.append(("zeros", a.__array_interface__["data"][0] - lo))
    for a in live:
        shmem.aclshmem_free(a)
    return out

def broadcast_and_run(ops):
    raw = json.dumps(ops).encode() if ops is not None else b""
    if me == 0:
        msg = len(raw).to_bytes(4, "little") + raw
        for p in range(n):
            shmem.aclshmem_putmem(prog, msg, len(msg), p)
    shmem.aclshmem_barrier_all()
    ln = int.from_bytes(prog[:4].tobytes(), "little")
    if ln == 0:
        return None
    ops = json.loads(prog[4:4 + ln].tobytes())
    out = run_program([tuple(o) for o in ops])
    d = hashlib.sha256(json.dumps(out).encode()).digest()
    shmem.aclshmem_putmem(digests[me], d, 32, 0)
    shmem.aclshmem_barrier_all()
    if me == 0:
        assert all(digests[p].tobytes() == d for p in range(n)), ("PEs disagree", ops, out)
    return out

op = st.one_of(
    st.tuples(st.just("malloc"), st.one_of(st.integers(-2, 70000), st.just(1 << 40))),
    st.tuples(st.just("calloc"), st.integers(-1, 64), st.integers(-1, 512)),
    st.tuples(st.just("align"), st.sampled_from([0, 1, 3, 8, 64, 256, 4096, 48]), st.integers(-1, 5000)),
    st.tuples(st.just("free"), st.integers(0, 10)),
    st.tuples(st.just("barrier")), st.tuples(st.just("sync")),
    st.tuples(st.just("split"), st.integers(-1, n), st.integers(0, 3), st.integers(0, n + 1)),
    st.tuples(st.just("zeros"), st.integers(1, 64), st.sampled_from(["int32", "float64", "uint8"])))
programs = 0
if me == 0:
    @settings(max_examples=max(10, EX // 4), **CFG)
    @seed(SEED + 300)
    @given(st.lists(op, max_size=10))
    def collectives(ops):
        global programs
        programs += 1
        broadcast_and_run(ops)
    try:
        collectives()
    finally:
        broadcast_and_run(None)
else:
    while broadcast_and_run(True) is not None:
        programs += 1
assert programs >= 10
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", me, "ok", programs, "programs")
"""


def test_bad_input_table(job):
    p = job(2, BAD, timeout=60)
    assert p.stdout.count(" ok") == 2


def test_bad_input_table_4(job):
    p = job(4, BAD, timeout=60)
    assert p.stdout.count(" ok") == 4


def test_fuzz_against_a_model(job):
    """Random (not derandomized) calls checked against a model; the seed is printed on failure and can be
    pinned with FUZZ_SEED."""
    import os
    import random
    fuzz_seed = int(os.environ.get("FUZZ_SEED") or random.randrange(2**31))
    print("FUZZ_SEED", fuzz_seed)
    p = job(2, FUZZ, timeout=240, expect_rc=None, env={"FUZZ_SEED": str(fuzz_seed)})
    assert p.returncode == 0 and p.stdout.count(" ok") == 2, (
        f"fuzz failed; rerun with FUZZ_SEED={fuzz_seed}\n--- stdout\n{p.stdout[-6000:]}\n--- stderr\n{p.stderr[-6000:]}")


MALFORMED_CONFIG_BODY = r"""
# SHMEM_WAIT_WARN_SECS=abc came from the launcher's environment: init refuses it, naming it, before anything.
e = expect_error(shmem.aclshmem_init, code=-1)
assert "SHMEM_WAIT_WARN_SECS" in str(e) and "abc" in str(e), e
assert int(shmem.aclshmemx_init_status()) == 0, shmem.aclshmemx_init_status()
for var, bad in [("SHMEM_WAIT_WARN_SECS", "1.5"), ("SHMEM_LOG_LEVEL", "loud"), ("SHMEM_BARRIER_ALGO", "tree"),
                 ("SHMEM_WAIT_YIELDS", "-1")]:
    os.environ["SHMEM_WAIT_WARN_SECS"] = "5"
    os.environ[var] = bad
    e = expect_error(shmem.aclshmem_init, code=-1)
    assert var in str(e), e
    del os.environ[var]
os.environ["SHMEM_WAIT_WARN_SECS"] = "5"
assert shmem.aclshmem_init() == 0
shmem.aclshmem_barrier_all()
shmem.aclshmem_finalize()
print("PE", os.environ["SHMEM_PE"], "ok")
"""


def test_malformed_config_is_invalid_param(job):
    """A malformed SHMEM_* knob is ShmemError -1 at init (issue 11, item 5), not silently ignored."""
    p = job(2, MALFORMED_CONFIG_BODY, env={"SHMEM_WAIT_WARN_SECS": "abc"})
    assert p.stdout.count(" ok") == 2, p.stdout
