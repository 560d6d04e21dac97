"""The binding's per-type names are exactly those the one type list (crates/shmem-core/src/type_table.rs)
implies, family by family (issue #11 item 4): a site that grows its own list again — a type added to one matrix
but not to the list, or a row the binding skips — fails here, before the stub check."""
import pathlib
import re
import sys

import shmem._shmem as ext

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "crates" / "bindings-python" / "tools"))
import type_table  # noqa: E402

NAMES = {n for n in dir(ext) if not n.startswith("_")}

AMO_COMMON = ["fetch", "set", "swap", "fetch_nbi", "swap_nbi"]
AMO_INT = ["compare_swap", "compare_swap_nbi", "fetch_inc", "inc", "fetch_inc_nbi"] + [
    f for op in ("add", "and", "or", "xor") for f in (f"fetch_{op}", op, f"fetch_{op}_nbi")]
CTX_AMO = ["fetch", "set", "swap", "compare_swap", "fetch_add", "add", "fetch_inc", "inc", "fetch_and", "fetch_or",
           "fetch_xor"]
WAITS = [f"wait_until{s}" for s in ("", "_all", "_any", "_some", "_all_vector", "_any_vector", "_some_vector")] + [
    "wait"] + [f"test{s}" for s in ("", "_all", "_any", "_some", "_all_vector", "_any_vector", "_some_vector")]
OPS = {"bitwise": ["and", "or", "xor", "max", "min", "sum", "prod"], "real": ["max", "min", "sum", "prod"],
       "complex": ["sum", "prod"]}
MOVES = ["broadcast", "collect", "fcollect", "alltoall", "alltoalls"]


def matching(pattern: str) -> set:
    """The first group of every exported name that matches `pattern` in full."""
    return {m.group(1) for n in NAMES if (m := re.fullmatch(pattern, n))}


def missing(expected) -> list:
    return sorted(set(expected) - NAMES)


def test_amo_names_follow_the_list():
    rows = type_table.rows("amo")
    assert matching(r"aclshmem_((?!ctx_)\w+?)_atomic_fetch") == {r.name for r in rows}
    assert {r.cls for r in rows} == {"int", "float"}
    want = [f"aclshmem_{r.name}_atomic_{op}" for r in rows for op in AMO_COMMON + (AMO_INT if r.cls == "int" else [])]
    assert missing(want) == []
    assert matching(r"aclshmem_((?!ctx_)\w+?)_atomic_compare_swap") == {r.name for r in rows if r.cls == "int"}
    assert matching(r"aclshmem_(\w+?)_atomic_\w+") == {r.name for r in rows} | {
        f"ctx_{r.name}" for r in rows if r.cls == "int"}
    # The ctx forms exist for the integer AMO types only.
    assert missing(f"aclshmem_ctx_{r.name}_atomic_{op}" for r in rows if r.cls == "int" for op in CTX_AMO) == []
    assert matching(r"aclshmem_ctx_(\w+?)_atomic_fetch") == {r.name for r in rows if r.cls == "int"}


def test_wait_names_follow_the_list():
    rows = type_table.rows("wait")
    # aclshmem_signal_wait_until is the signal word's wait (always uint64), not a row.
    assert matching(r"aclshmem_(\w+?)_wait_until") - {"signal"} == {r.name for r in rows}
    assert matching(r"aclshmem_(\w+?)_test") == {r.name for r in rows}
    assert missing(f"aclshmem_{r.name}_{f}" for r in rows for f in WAITS) == []


def test_rma_names_follow_the_list():
    rows = type_table.rows("rma")
    names = {r.name for r in rows}
    for suffix in ("p", "g", "iput", "iget"):
        assert matching(rf"aclshmem_(\w+?)_{suffix}") == names, suffix
    sizes = type_table.sizes()
    for pattern in (r"aclshmem_put(\d+)", r"aclshmem_get(\d+)_nbi", r"aclshmem_iput(\d+)", r"aclshmem_iget(\d+)",
                    r"aclshmemx_put(\d+)_signal", r"aclshmemx_put(\d+)_signal_nbi"):
        assert {int(b) for b in matching(pattern)} == set(sizes), pattern


def test_collective_names_follow_the_list():
    rows = type_table.rows("coll")
    names = {r.name for r in rows}
    for move in MOVES:
        assert matching(rf"aclshmem_(\w+?)_{move}") == names, move
    for r in rows:
        for form in ("reduce", "to_all"):
            assert matching(rf"aclshmem_{r.name}_(\w+)_{form}") == set(OPS[r.cls]), (r.name, form)


def test_python_value_types_follow_the_rust_types():
    """The stub's value types come from the rows: the integer types are int, the float ones float, char str."""
    for r in type_table.rows("rma"):
        want = "str" if r.name == "char" else "float" if r.rust[0] in "fb" else "int"
        assert type_table.python_type(r) == want, r
