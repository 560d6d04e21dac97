"""The OpenSHMEM type tables: one list of (TYPENAME, C type, Rust type) and the spec's tables naming which
types each family takes. The header generator and the Rust `for_each_*` macros (src/types.rs) both come from
here, so a type cannot be in the header without its function in the library, or the reverse."""

# TYPENAME -> (C type, Rust type). The Rust type has the C type's size and alignment on LP64 Linux.
TYPES = {
    "float": ("float", "f32"),
    "double": ("double", "f64"),
    "longdouble": ("long double", "LongDouble"),
    "char": ("char", "core::ffi::c_char"),
    "schar": ("signed char", "i8"),
    "short": ("short", "i16"),
    "int": ("int", "i32"),
    "long": ("long", "i64"),
    "longlong": ("long long", "i64"),
    "uchar": ("unsigned char", "u8"),
    "ushort": ("unsigned short", "u16"),
    "uint": ("unsigned int", "u32"),
    "ulong": ("unsigned long", "u64"),
    "ulonglong": ("unsigned long long", "u64"),
    "int8": ("int8_t", "i8"),
    "int16": ("int16_t", "i16"),
    "int32": ("int32_t", "i32"),
    "int64": ("int64_t", "i64"),
    "uint8": ("uint8_t", "u8"),
    "uint16": ("uint16_t", "u16"),
    "uint32": ("uint32_t", "u32"),
    "uint64": ("uint64_t", "u64"),
    "size": ("size_t", "usize"),
    "ptrdiff": ("ptrdiff_t", "isize"),
    "complexf": ("_SHMEM_COMPLEXF", "shmem::Complex32"),
    "complexd": ("_SHMEM_COMPLEXD", "shmem::Complex64"),
}

# Standard RMA types (spec table "Standard RMA Types and Names").
RMA = [
    "float", "double", "longdouble", "char", "schar", "short", "int", "long", "longlong", "uchar", "ushort", "uint",
    "ulong", "ulonglong", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "size", "ptrdiff",
]
# The RMA types whose single-element forms (shmem_TYPENAME_p / _g) the Rust side defines: `long double` travels
# by value in x87 form, which Rust cannot express, so csrc/longdouble.c defines those two (and their ctx forms).
RMA_SCALAR = [t for t in RMA if t != "longdouble"]
# Sizes of the sized RMA routines (shmem_put8 ... shmem_put128) in bits.
RMA_SIZES = [8, 16, 32, 64, 128]

# Standard AMO types.
AMO_STANDARD = ["int", "long", "longlong", "uint", "ulong", "ulonglong", "int32", "int64", "uint32", "uint64", "size",
                "ptrdiff"]
# Extended AMO types (fetch, set, swap also on floating point).
AMO_EXTENDED = ["float", "double"] + AMO_STANDARD
# Bitwise AMO types.
AMO_BITWISE = ["uint", "ulong", "ulonglong", "int32", "int64", "uint32", "uint64"]

# The deprecated AMOs (shmem_TYPENAME_fadd, finc, add, inc, cswap) the spec still lists, and the deprecated
# swap, fetch and set, which also take float and double.
AMO_DEPRECATED = ["int", "long", "longlong"]
AMO_DEPRECATED_EXTENDED = ["float", "double"] + AMO_DEPRECATED

# Point-to-point synchronization types (wait_until, test families).
P2P = ["short", "int", "long", "longlong", "ushort", "uint", "ulong", "ulonglong", "int32", "int64", "uint32", "uint64",
       "size", "ptrdiff"]

# The deprecated shmem_TYPENAME_wait.
P2P_DEPRECATED = ["short", "int", "long", "longlong"]

# Team-based reductions: operator -> types.
_BITWISE_RED = ["uchar", "ushort", "uint", "ulong", "ulonglong", "int8", "int16", "int32", "int64", "uint8", "uint16",
                "uint32", "uint64", "size"]
_MINMAX_RED = ["char", "schar", "short", "int", "long", "longlong", "ptrdiff", "uchar", "ushort", "uint", "ulong",
               "ulonglong", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "size", "float",
               "double", "longdouble"]
REDUCE = {
    "and": _BITWISE_RED,
    "or": _BITWISE_RED,
    "xor": _BITWISE_RED,
    "max": _MINMAX_RED,
    "min": _MINMAX_RED,
    "sum": _MINMAX_RED + ["complexd", "complexf"],
    "prod": _MINMAX_RED + ["complexd", "complexf"],
}

# Active-set (deprecated) reductions, shmem_TYPENAME_OP_to_all: operator -> types.
_AS_INT = ["short", "int", "long", "longlong"]
REDUCE_TO_ALL = {
    "and": _AS_INT,
    "or": _AS_INT,
    "xor": _AS_INT,
    "max": _AS_INT + ["float", "double", "longdouble"],
    "min": _AS_INT + ["float", "double", "longdouble"],
    "sum": _AS_INT + ["float", "double", "longdouble", "complexd", "complexf"],
    "prod": _AS_INT + ["float", "double", "longdouble", "complexd", "complexf"],
}


def ctype(name):
    """The C type of TYPENAME."""
    return TYPES[name][0]


def rust_list_macro(macro, names):
    """A Rust `macro_rules!` that calls `$m!(TYPENAME, RustType)` for each name."""
    rows = "\n".join(f"        $m!({n}, {TYPES[n][1]});" for n in names)
    return f"macro_rules! {macro} {{\n    ($m:ident) => {{\n{rows}\n    }};\n}}\npub(crate) use {macro};\n"


def rust_reduce_macro(macro, table):
    """A Rust `macro_rules!` that calls `$m!(op, TYPENAME, RustType)` for each (operator, type) pair."""
    rows = "\n".join(f"        $m!({op}, {n}, {TYPES[n][1]});" for op, names in table.items() for n in names)
    return f"macro_rules! {macro} {{\n    ($m:ident) => {{\n{rows}\n    }};\n}}\npub(crate) use {macro};\n"


def rust_types_rs():
    """src/types.rs: the type lists for the Rust side."""
    head = (
        "//! Generated by tools/gen_headers.py from tools/families/types.py: do not edit.\n"
        "//! The OpenSHMEM type tables as `macro_rules!` lists; each typed C function is one macro call per row.\n"
        "#![allow(unused_macros, unused_imports)]\n\n"
    )
    parts = [
        rust_list_macro("for_each_rma_type", RMA),
        rust_list_macro("for_each_rma_scalar_type", RMA_SCALAR),
        rust_list_macro("for_each_amo_standard_type", AMO_STANDARD),
        rust_list_macro("for_each_amo_extended_type", AMO_EXTENDED),
        rust_list_macro("for_each_amo_bitwise_type", AMO_BITWISE),
        rust_list_macro("for_each_amo_deprecated_type", AMO_DEPRECATED),
        rust_list_macro("for_each_amo_deprecated_extended_type", AMO_DEPRECATED_EXTENDED),
        rust_list_macro("for_each_p2p_type", P2P),
        rust_list_macro("for_each_p2p_deprecated_type", P2P_DEPRECATED),
        rust_reduce_macro("for_each_reduce_type", REDUCE),
        rust_reduce_macro("for_each_reduce_to_all_type", REDUCE_TO_ALL),
    ]
    return head + "\n".join(parts)
