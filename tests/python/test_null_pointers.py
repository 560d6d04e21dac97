"""NULL pointer arguments (api.md, "NULL in Python"): `res_out_ptr` and `status_ptr` given as `0` or `None` mean
"no output stored" / "no mask" in every test / wait form of every TYPE, while the required `indices_ptr` of the
`_some` forms refuses NULL with INVALID_PARAM. The forms are generated from the module (every name of the
wait/test families whose signature has the parameter), not hand-picked; one job checks them all and each form
is reported as its own test."""
import inspect
import json
import pathlib
import re
import sys

import pytest

import shmem

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "crates" / "bindings-python" / "tools"))
import type_table  # noqa: E402

# The wait types are the rows of the one list (crates/shmem-core/src/type_table.rs), plus their C-name aliases.
_DTYPES = {r.name: type_table.numpy_dtype(r) for r in type_table.rows("wait")}
_TYPES = {*_DTYPES, *shmem.WAIT_TYPE_ALIASES}
_FORM = re.compile(r"aclshmem_([a-z0-9]+)_((?:test|wait_until)(?:_all|_any|_some)?(?:_vector)?)")


def _forms(param):
    out = []
    for name in sorted(dir(shmem)):
        m = _FORM.fullmatch(name)
        if m and m.group(1) in _TYPES and param in inspect.signature(getattr(shmem, name)).parameters:
            out.append(name)
    return out


RES_OUT_FORMS = _forms("res_out_ptr")
STATUS_FORMS = _forms("status_ptr")
SOME_FORMS = [n for n in _forms("indices_ptr")]
CASES = ([(n, "res_out_ptr", null) for n in RES_OUT_FORMS for null in ("0", "None")]
         + [(n, "status_ptr", null) for n in STATUS_FORMS for null in ("0", "None")]
         + [(n, "indices_ptr", null) for n in SOME_FORMS for null in ("0", "None")])

BODY = r"""
import inspect, json, re
shmem.aclshmem_init()
ALIASES = shmem.WAIT_TYPE_ALIASES
DT = {name: np.dtype(dt).type for name, dt in json.loads(os.environ["NULL_DTYPES"]).items()}
cases = json.loads(os.environ["NULL_CASES"])
ivs = {}
results = {}
for name, param, null in cases:
    ty, op = re.fullmatch(r"aclshmem_([a-z0-9]+)_(.*)", name).groups()
    dt = DT[ALIASES.get(ty, ty)]
    if dt not in ivs:
        ivs[dt] = shmem.array(4, dt)
    iv = ivs[dt]
    iv[:] = np.array([5, 0, 5, 5], dtype=dt)       # with CMP_GE 1: true, false, true, true
    fn = getattr(shmem, name)
    v = 0 if op.startswith("wait_until_all") else 1  # an unmasked wait for all must be satisfied at once
    res32 = np.full(1, -7, np.int32); res64 = np.full(1, 77, np.uint64); idx = np.full(4, 99, np.uint64)
    res = res32 if op in ("test", "test_all", "test_all_vector") else res64
    values = {"ivar": iv[0:1], "ivars_ptr": iv, "nelems": 4, "status_ptr": np.zeros(4, np.int32),
              "indices_ptr": idx, "cmp": shmem.CMP_GE, "cmp_val": dt(v), "cmp_value": dt(v),
              "cmp_values_ptr": np.full(4, v, dt), "res_out_ptr": res}
    values[param] = None if null == "None" else 0
    kw = {p: values[p] for p in inspect.signature(fn).parameters}
    try:
        r = fn(**kw)
    except ShmemError as e:
        results[f"{name}|{param}|{null}"] = f"ShmemError {e.code}: {e}"
        continue
    except Exception as e:  # noqa: BLE001
        results[f"{name}|{param}|{null}"] = f"{type(e).__name__}: {e}"
        continue
    if op == "test":
        want_ok = r == 1
    elif op in ("test_all", "test_all_vector"):
        want_ok = r == 0                                 # element 1 is false and nothing is masked
    elif op.startswith("wait_until_all"):
        want_ok = r is None
    elif "_any" in op:
        want_ok = r in (0, 2, 3)
    else:
        want_ok = r == 3 and sorted(idx[:3].tolist()) == [0, 2, 3]
    if param != "res_out_ptr" and "res_out_ptr" in kw:   # a real res_out still receives the result
        want_ok = want_ok and int(res[0]) == r
    if param == "res_out_ptr":                            # NULL res_out: nothing stored anywhere
        want_ok = want_ok and res32[0] == -7 and res64[0] == 77
    results[f"{name}|{param}|{null}"] = "ok" if want_ok else f"returned {r!r}, res={res.tolist()} idx={idx.tolist()}"
open(os.environ["NULL_RESULTS"], "w").write(json.dumps(results))
shmem.aclshmem_finalize()
"""


@pytest.fixture(scope="module")
def null_results(tmp_path_factory):
    from conftest import run_job
    d = tmp_path_factory.mktemp("null")
    run_job(d, 1, BODY, timeout=120, env={"NULL_CASES": json.dumps(CASES), "NULL_DTYPES": json.dumps(_DTYPES),
                                     "NULL_RESULTS": str(d / "r.json")})
    return json.loads((d / "r.json").read_text())


def test_every_form_is_covered():
    # 10 types + 13 C aliases; res_out: test, test_all/any/some (+vector), wait_until_any/some (+vector) = 11 each;
    # status: the 12 family forms (test/wait_until x all/any/some x scalar/vector) each.
    n_types = len(_TYPES)
    assert len(RES_OUT_FORMS) == 11 * n_types and len(STATUS_FORMS) == 12 * n_types, (n_types,)
    assert len(SOME_FORMS) == 4 * n_types


@pytest.mark.parametrize("name,param,null", CASES, ids=[f"{n}-{p}-{v}" for n, p, v in CASES])
def test_null_pointer(null_results, name, param, null):
    got = null_results[f"{name}|{param}|{null}"]
    if param == "indices_ptr":
        assert got.startswith("ShmemError -1:") and "indices_ptr is required" in got, got
    else:
        assert got == "ok", got
