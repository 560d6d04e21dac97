"""Reads the one type list per family from crates/shmem-core/src/type_table.rs (the `for_each_*!` macros the
facade and the binding expand), so that the stub generator and the tests use the same rows as the Rust code.

    rows("amo")  -> [Row(name="int32", rust="i32", rest=["u32", "W32", "int"]), ...]

A row is one line `name: rust_type <separator> columns...;` (see the Rust file); `for_each_rma_size` rows are
bare numbers.
"""
import pathlib
import re
from typing import Dict, List, NamedTuple

ROOT = pathlib.Path(__file__).resolve().parents[3]
TABLE = ROOT / "crates" / "shmem-core" / "src" / "type_table.rs"

_MACRO = re.compile(r"macro_rules! for_each_(\w+) \{(.*?)\n\}", re.S)
_ROW = re.compile(r"^\s*(\w+): (\w+)(?:,| =>)\s*(.*);\s*$")
_SIZE = re.compile(r"^\s*(\d+);\s*$")


class Row(NamedTuple):
    """One row: the API name, the Rust type and the remaining columns (as written, split at commas)."""

    name: str
    rust: str
    rest: List[str]

    @property
    def cls(self) -> str:
        """The class column (the last one) of the families that have one."""
        return self.rest[-1] if self.rest else ""


def _blocks() -> Dict[str, str]:
    return {m.group(1): m.group(2) for m in _MACRO.finditer(TABLE.read_text())}


def rows(family: str) -> List[Row]:
    """The rows of `for_each_<family>_type!` (family: amo, wait, rma, coll), in order."""
    out = []
    for line in _blocks()[f"{family}_type"].splitlines():
        m = _ROW.match(line)
        if m:
            rest = [c.strip() for c in m.group(3).replace("=>", ",").split(",") if c.strip()]
            out.append(Row(m.group(1), m.group(2), rest))
    if not out:
        raise SystemExit(f"{TABLE}: no rows for for_each_{family}_type")
    return out


def sizes() -> List[int]:
    """The widths in bits of `for_each_rma_size!`."""
    out = [int(m.group(1)) for line in _blocks()["rma_size"].splitlines() if (m := _SIZE.match(line))]
    if not out:
        raise SystemExit(f"{TABLE}: no rows for for_each_rma_size")
    return out


def python_type(row: Row) -> str:
    """The Python type a value of the row's type is passed and returned as."""
    if row.cls == "char":
        return "str"
    if row.rust in ("f16", "bf16", "f32", "f64"):
        return "float"
    return "int"


_NUMPY = {"i8": "int8", "i16": "int16", "i32": "int32", "i64": "int64", "isize": "int64", "u8": "uint8",
          "u16": "uint16", "u32": "uint32", "u64": "uint64", "usize": "uint64", "f16": "float16", "f32": "float32",
          "f64": "float64", "Complex32": "complex64", "Complex64": "complex128"}


def numpy_dtype(row: Row) -> str:
    """The NumPy dtype name of the row's Rust type (for the tests' arrays); bfloat16 has none."""
    if row.rust not in _NUMPY:
        raise KeyError(f"no NumPy dtype for {row.rust} (row {row.name})")
    return _NUMPY[row.rust]
