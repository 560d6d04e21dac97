"""Atomic memory operations: the standard, extended and bitwise AMOs, their fetching _nbi forms, every ctx_
form, the deprecated forms the spec still lists, and the C11 type-generic macros."""
from .common import expand, generic
from . import types

# (operation, return type, parameters after the ctx) per family; {T} is the C type.
STANDARD = [
    ("atomic_compare_swap", "{T}", "{T} *dest, {T} cond, {T} value, int pe"),
    ("atomic_fetch_inc", "{T}", "{T} *dest, int pe"),
    ("atomic_inc", "void", "{T} *dest, int pe"),
    ("atomic_fetch_add", "{T}", "{T} *dest, {T} value, int pe"),
    ("atomic_add", "void", "{T} *dest, {T} value, int pe"),
    ("atomic_compare_swap_nbi", "void", "{T} *fetch, {T} *dest, {T} cond, {T} value, int pe"),
    ("atomic_fetch_inc_nbi", "void", "{T} *fetch, {T} *dest, int pe"),
    ("atomic_fetch_add_nbi", "void", "{T} *fetch, {T} *dest, {T} value, int pe"),
]
EXTENDED = [
    ("atomic_fetch", "{T}", "const {T} *source, int pe"),
    ("atomic_set", "void", "{T} *dest, {T} value, int pe"),
    ("atomic_swap", "{T}", "{T} *dest, {T} value, int pe"),
    ("atomic_fetch_nbi", "void", "{T} *fetch, const {T} *source, int pe"),
    ("atomic_swap_nbi", "void", "{T} *fetch, {T} *dest, {T} value, int pe"),
]
BITWISE = []
for _op in ("and", "or", "xor"):
    BITWISE += [
        (f"atomic_fetch_{_op}", "{T}", "{T} *dest, {T} value, int pe"),
        (f"atomic_{_op}", "void", "{T} *dest, {T} value, int pe"),
        (f"atomic_fetch_{_op}_nbi", "void", "{T} *fetch, {T} *dest, {T} value, int pe"),
    ]
DEPRECATED = [
    ("cswap", "{T}", "{T} *dest, {T} cond, {T} value, int pe"),
    ("finc", "{T}", "{T} *dest, int pe"),
    ("inc", "void", "{T} *dest, int pe"),
    ("fadd", "{T}", "{T} *dest, {T} value, int pe"),
    ("add", "void", "{T} *dest, {T} value, int pe"),
]
DEPRECATED_EXTENDED = [
    ("swap", "{T}", "{T} *dest, {T} value, int pe"),
    ("fetch", "{T}", "const {T} *source, int pe"),
    ("set", "void", "{T} *dest, {T} value, int pe"),
]

# Distinct C types of each table for _Generic (the fixed-width and size types alias these on LP64 Linux).
GENERIC_STANDARD = ["int", "long", "longlong", "uint", "ulong", "ulonglong"]
GENERIC_EXTENDED = ["float", "double"] + GENERIC_STANDARD
# The bitwise table names int32_t and int64_t, which are int and long: those pointers select the int32/int64
# functions.
GENERIC_BITWISE = {"int": "int32", "long": "int64", "uint": "uint", "ulong": "ulong", "ulonglong": "ulonglong"}
GENERIC_DEPRECATED = ["int", "long", "longlong"]
GENERIC_DEPRECATED_EXTENDED = ["float", "double"] + GENERIC_DEPRECATED


def _decls(table, names, ctx=True, deprecated=False):
    out = []
    tail = " _SHMEM_DEPRECATED;" if deprecated else ";"
    for op, ret, params in table:
        out.append(expand(f"{ret} shmem_{{N}}_{op}({params}){tail}", names))
        if ctx:
            out.append(expand(f"{ret} shmem_ctx_{{N}}_{op}(shmem_ctx_t ctx, {params}){tail}", names))
    return out


def declarations():
    out = []
    out += _decls(STANDARD, types.AMO_STANDARD)
    out += _decls(EXTENDED, types.AMO_EXTENDED)
    out += _decls(BITWISE, types.AMO_BITWISE)
    out.append("/* Deprecated AMOs the spec still lists (replaced by the shmem_TYPENAME_atomic_* forms). */")
    out += _decls(DEPRECATED, types.AMO_DEPRECATED, ctx=False, deprecated=True)
    out += _decls(DEPRECATED_EXTENDED, types.AMO_DEPRECATED_EXTENDED, ctx=False, deprecated=True)
    return "\n".join(out)


def _mapped(name, pattern, ctx_pattern, mapping):
    """`generic` for a table whose C type selects a function of another TYPENAME (int* -> int32)."""
    def assoc(p):
        rows = [f"{types.ctype(c)}*: {p.format(N=n)}" for c, n in mapping.items()]
        rows.append("default: _shmem_generic_type_not_supported")
        return ", \\\n    ".join(rows)
    return (f"#define {name}(...) _Generic((_SHMEM_ARG0(__VA_ARGS__, 0)), \\\n"
            f"    shmem_ctx_t: _Generic((_SHMEM_ARG1(__VA_ARGS__, 0, 0)), \\\n    {assoc(ctx_pattern)}), \\\n"
            f"    {assoc(pattern)})(__VA_ARGS__)")


def generics():
    g = []
    for table, names in ((STANDARD, GENERIC_STANDARD), (EXTENDED, GENERIC_EXTENDED)):
        for op, _, params in table:
            # atomic_fetch's typed pointer is its (const) source; the _nbi forms dispatch on `fetch`.
            const = params.startswith("const")
            g.append(generic(f"shmem_{op}", f"shmem_{{N}}_{op}", names, f"shmem_ctx_{{N}}_{op}", const=const))
    for op, _, _ in BITWISE:
        g.append(_mapped(f"shmem_{op}", f"shmem_{{N}}_{op}", f"shmem_ctx_{{N}}_{op}", GENERIC_BITWISE))
    for table, names in ((DEPRECATED, GENERIC_DEPRECATED), (DEPRECATED_EXTENDED, GENERIC_DEPRECATED_EXTENDED)):
        for op, _, params in table:
            g.append(generic(f"shmem_{op}", f"shmem_{{N}}_{op}", names, const=params.startswith("const")))
    return "\n".join(g)
