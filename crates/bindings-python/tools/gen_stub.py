"""Writes python/shmem/__init__.pyi from the built extension (run after `maturin develop`):

    .venv/bin/python crates/bindings-python/tools/gen_stub.py          # regenerate
    .venv/bin/python crates/bindings-python/tools/gen_stub.py --check  # exit 1 if the checked-in stub is stale

Argument and return types follow the API's naming conventions; the docstrings are the extension's own.
"""
import inspect
import pathlib
import sys
import textwrap

import shmem
from shmem import _shmem

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import type_table  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
ADDR = {"dst", "src", "ptr", "ivar", "ivars_ptr", "sig", "sig_addr", "source", "dest", "lock"}
# May be NULL (None or 0): res_out_ptr / status_ptr (api.md); indices_ptr and fetch are required outputs.
OPT_BUF = {"res_out_ptr", "status_ptr", "cmp_values_ptr"}
REQ_BUF = {"indices_ptr", "fetch"}
INT = {"elem_size", "nelems", "size", "nmemb", "alignment", "pe", "peer", "team", "team_id", "parent", "start",
       "stride", "x_range", "src_team", "src_pe", "dest_team", "cmp", "sig_op", "signal", "status", "mype", "npes",
       "mem_size", "my_rank", "n_ranks", "local_mem_size", "offset", "event", "nbytes", "value", "ctx", "options",
       # collectives
       "nreduce", "pe_root", "pe_start", "log_pe_stride", "pe_size"}
# Symmetric work and sync arrays of the active-set collectives.
ADDR |= {"pwrk", "psync"}
# The value types of the point-to-point families (typed p/g, iput/iget, waits, AMOs), read from the one type
# list the Rust code expands (crates/shmem-core/src/type_table.rs): a type added there is typed here.
TYPES = {}
for _family in ("rma", "wait", "amo"):
    for _row in type_table.rows(_family):
        _t = type_table.python_type(_row)
        if TYPES.setdefault(_row.name, _t) != _t:
            raise SystemExit(f"type {_row.name} is {TYPES[_row.name]} in one family and {_t} in {_family}")
LOCAL = {"aclshmem_putmem": "src", "aclshmem_getmem": "dst"}


def value_type(name: str) -> str:
    parts = name.split("_")
    if len(parts) > 1 and parts[0] == "aclshmem" and parts[1] in TYPES:
        return TYPES[parts[1]]
    return "int"


def ret_type(name: str) -> str:
    vt = value_type(name)
    if "_atomic_" in name:
        if name.endswith("_nbi") or name.split("_atomic_")[1] in ("set", "inc", "add", "and", "or", "xor"):
            return "None"
        return vt
    if name.startswith("aclshmem_") and name.endswith("_g") and name.split("_")[1] in TYPES:
        return vt
    if "_wait" in name and not any(k in name for k in ("_any", "_some")):
        return "None"
    if any(k in name for k in ("_wait_until_any", "_wait_until_some", "_test")):
        return "int"
    fixed = {
        "aclshmem_info_get_version": "Tuple[int, int]", "aclshmem_info_get_name": "str",
        "aclshmemx_init_status": "InitStatus", "aclshmem_team_get_config": "TeamConfig",
        "team_split_2d": "Tuple[int, int]", "heap_range": "Tuple[int, int]", "aclshmem_global_exit": "NoReturn",
        "_alloc_block": "SymBlock", "_peer_block": "Optional[SymBlock]", "_block_of": "Optional[SymBlock]",
        "aclshmem_signal_wait_until": "int", "aclshmem_signal_fetch": "int", "get_ffts_config": "int",
        "aclshmem_malloc": "int", "aclshmem_calloc": "int", "aclshmem_align": "int", "aclshmem_ptr": "int",
        "_launch": "int", "aclshmem_get_unique_id": "UniqueId", "aclshmem_init_using_unique_id": "int",
        "aclshmem_finalize": "int", "aclshmemx_finalize": "int", "set_conf_store_tls": "int",
        "aclshmemx_get_heap_base": "int", "aclshmem_ctx_create": "int", "aclshmem_team_create_ctx": "int",
        "aclshmem_ctx_get_team": "int",
    }
    if name in fixed:
        return fixed[name]
    if name.startswith(("team_", "my_pe", "pe_count", "get_", "aclshmemx_team_world_pe")):
        return "int"
    if name in ("aclshmem_init", "init_attr", "shmem_set_attributes", "shmem_set_data_op_engine_type",
                "shmem_set_timeout", "mte_set_ub_params", "set_conf_store_tls_key", "register_decrypt_handler",
                "set_conf_store_tls_info"):
        return "int"
    return "None"


def param_type(fname: str, p: str) -> str:
    vt = value_type(fname)
    if fname.endswith("_alltoalls") and p in ("dst", "sst"):
        return "int"  # strides in elements
    if p == "value" and fname == "aclshmem_char_p":
        return "Union[str, bytes, int]"
    if p in OPT_BUF:
        return "Optional[_Local]" if p != "cmp_values_ptr" else "Optional[_Values]"
    if p in REQ_BUF:
        return "_Local"
    if p in ("cmp_val", "cmp_value", "cond") or (p == "value" and fname.startswith("aclshmem_")):
        if fname.endswith(("_any_vector",)) and p == "cmp_val":
            return "Union[_Values, " + vt + ", None]"
        return vt
    if p == "cmp_values_ptr":
        return "_Values"
    if p in ("src", "dst") and fname.startswith(("aclshmem_put", "aclshmemx_putmem", "aclshmemx_team_putmem")):
        return "_Local" if p == "src" else "_Addr"
    if p in ("src", "dst") and fname.startswith(("aclshmem_get", "aclshmemx_team_getmem")):
        return "_Local" if p == "dst" else "_Addr"
    if p in ADDR:
        return "_Addr"
    if p in ("attr", "attributes"):
        return "InitAttr"
    if p == "uid":
        return "Union[UniqueId, bytes]"
    if p == "stream":
        return "_Stream"
    if p == "enable":
        return "bool"
    if p == "tls_info":
        return "str"
    if p == "mem_type":
        return "int"
    if p == "instance_id":
        return "int"
    if p == "mype" and fname == "aclshmem_init":
        return "Union[int, InitAttr]"

    if p == "ip_port" or p == "tls_pk" or p == "info":
        return "str"
    if p == "tls_pk_pw":
        return "Optional[str]"
    if p == "py_decrypt_func":
        return "Optional[Callable[[str], str]]" if fname == "set_conf_store_tls_key" else "Callable[[str], str]"
    if p == "zero":
        return "bool"
    if p == "argv":
        return "List[str]"
    if p == "python":
        return "Optional[str]"
    if p == "block":
        return "SymBlock"
    if p == "obj":
        return "Any"
    if p in INT:
        return "int"
    return "Any"


def stub_fn(name: str, obj, alias_of: str = "") -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return f"def {name}(*args: Any, **kwargs: Any) -> Any: ...\n"
    params = []
    for p in sig.parameters.values():
        t = param_type(obj.__name__, p.name)
        if p.default is not inspect.Parameter.empty:
            if "Optional" not in t and p.default is None:
                t = f"Optional[{t}]"
            params.append(f"{p.name}: {t} = ...")
        else:
            params.append(f"{p.name}: {t}")
    doc = (obj.__doc__ or "").strip()
    if alias_of:
        doc = f"Alias of ``{alias_of}``."
    body = textwrap.indent('"""' + doc + '"""', "    ") + "\n    ..." if doc else "    ..."
    return f"def {name}({', '.join(params)}) -> {ret_type(obj.__name__)}:\n{body}\n"


STUB = ROOT / "python/shmem/__init__.pyi"


def render() -> str:
    """The stub's text for the extension as built now."""
    out = [
        '"""Type stubs of the shmem package (generated by crates/bindings-python/tools/gen_stub.py)."""',
        "from typing import Any, Callable, List, NoReturn, Optional, Sequence, Tuple, Union",
        "",
        "from ._types import *",
        "from ._types import CmpOp as CmpOp, InitAttr as InitAttr, InitStatus as InitStatus",
        "from ._types import OpEngineType as OpEngineType, OptionalAttr as OptionalAttr",
        "from ._types import SignalOp as SignalOp, TeamConfig as TeamConfig",
        "from ._numpy import array as array, zeros as zeros, peer_array as peer_array, put as put, get as get",
        "from ._numpy import put_signal as put_signal, wait_until as wait_until, test as test",
        "from ._numpy import is_symmetric as is_symmetric",
        "from ._collectives import broadcast as broadcast, collect as collect, fcollect as fcollect",
        "from ._collectives import alltoall as alltoall, reduce as reduce, sum_reduce as sum_reduce",
        "from ._collectives import prod_reduce as prod_reduce, max_reduce as max_reduce, min_reduce as min_reduce",
        "from ._collectives import and_reduce as and_reduce, or_reduce as or_reduce, xor_reduce as xor_reduce",
        "from ._ctx import Ctx as Ctx, ctx_create as ctx_create, locked as locked",
        "from ._upstream import MemType as MemType",
        "from . import core as core",
        "",
        "_Stream = Any",
        '"""A stream handle as upstream takes it: None, a non-negative int, or an object with npu_stream."""',
        "_Addr = Union[int, Any]",
        '"""A symmetric address: an int from aclshmem_malloc, or a buffer object viewing the heap."""',
        "_Local = Any",
        '"""Local memory: a buffer object (bytes, bytearray, memoryview, NumPy array) or an int inside the heap."""',
        "_Values = Union[Sequence[Any], Any]",
        "",
        "__version__: str",
        "WAIT_TYPE_ALIASES: dict",
        "AMO_TYPE_ALIASES: dict",
        "TEAM_WORLD: int",
        "TEAM_INVALID: int",
        "TEAM_NODE: int",
        "",
        "class ShmemError(Exception):",
        '    """A SHMEM call failed; ``code`` is the numeric error code of the API."""',
        "    code: int",
        "",
        "class SymBlock:",
        '    """A range of symmetric memory exported through the buffer protocol (behind shmem.array)."""',
        "    @property",
        "    def addr(self) -> int: ...",
        "    @property",
        "    def nbytes(self) -> int: ...",
        "    @property",
        "    def pe(self) -> Optional[int]: ...",
        "    @property",
        "    def freed(self) -> bool: ...",
        "    def __buffer__(self, flags: int) -> memoryview: ...",
        "",
        "class UniqueId:",
        '    """A unique ID for aclshmem_init_using_unique_id (picklable; bytes(uid) is its 124-byte encoding)."""',
        "    version: int",
        "    my_pe: int",
        "    n_pes: int",
        "    internal: bytes",
        "    def __init__(self) -> None: ...",
        "    @staticmethod",
        "    def from_bytes(data: bytes) -> UniqueId: ...",
        "    def to_bytes(self) -> bytes: ...",
        "    def __bytes__(self) -> bytes: ...",
        "",
    ]
    ext_names = {k for k in dir(_shmem) if not k.startswith("__")}
    done = set()
    for name in sorted(dir(shmem)):
        if name.startswith("__") or name in ("ShmemError", "SymBlock") or name in done:
            continue
        obj = getattr(shmem, name)
        if getattr(shmem._collectives, name, None) is obj:
            continue  # the NumPy-level collectives: extension functions, typed in _collectives.py (imported above)
        if callable(obj) and type(obj).__name__ == "builtin_function_or_method":
            alias = obj.__name__ if obj.__name__ != name else ""
            if name.startswith("_") and name not in ext_names:
                continue
            if name.startswith("_"):
                continue
            out.append(stub_fn(name, obj, alias))
            done.add(name)
        elif isinstance(obj, int) and not isinstance(obj, bool) and name.isupper():
            if name not in ("TEAM_WORLD", "TEAM_INVALID", "TEAM_NODE") and (name.startswith(("ACLSHMEM_", "SHMEM_"))):
                out.append(f"{name}: {type(obj).__name__ if type(obj).__module__ != 'builtins' else 'int'}")
                done.add(name)
    return "\n".join(out) + "\n"


def main() -> None:
    text = render()
    if "--check" in sys.argv[1:]:
        if STUB.read_text() != text:
            sys.exit(f"{STUB} is stale: regenerate it with {pathlib.Path(__file__).name} after building")
        return
    STUB.write_text(text)


if __name__ == "__main__":
    main()
