"""Helpers the family modules share: expanding a prototype over a type list, and C11 _Generic dispatch."""
from . import types


def expand(template, names):
    """`template` with {T} (the C type) and {N} (the TYPENAME) filled in, once per name."""
    return "\n".join(template.format(T=types.ctype(n), N=n) for n in names)


# TYPENAMEs that are distinct C types (the fixed-width and size types alias them, so _Generic cannot list them).
GENERIC_RMA = ["float", "double", "longdouble", "char", "schar", "short", "int", "long", "longlong", "uchar", "ushort",
               "uint", "ulong", "ulonglong"]


def _assoc(pattern, names, const):
    rows = []
    for n in names:
        t = types.ctype(n)
        rows.append(f"{t}*: {pattern.format(N=n)}")
        if const:
            rows.append(f"const {t}*: {pattern.format(N=n)}")
    rows.append("default: _shmem_generic_type_not_supported")
    return ", \\\n    ".join(rows)


def generic(name, pattern, names, ctx_pattern=None, const=False):
    """`#define name(...)` choosing `pattern` (with {N}) by the type of the first pointer argument; with
    `ctx_pattern`, a leading shmem_ctx_t argument chooses the ctx form by the second argument's type.
    `const` also accepts pointers to const (for calls whose typed pointer is a source)."""
    plain = _assoc(pattern, names, const)
    if ctx_pattern is None:
        return f"#define {name}(...) _Generic((_SHMEM_ARG0(__VA_ARGS__, 0)), \\\n    {plain})(__VA_ARGS__)"
    ctx = _assoc(ctx_pattern, names, const)
    return (f"#define {name}(...) _Generic((_SHMEM_ARG0(__VA_ARGS__, 0)), \\\n"
            f"    shmem_ctx_t: _Generic((_SHMEM_ARG1(__VA_ARGS__, 0, 0)), \\\n    {ctx}), \\\n"
            f"    {plain})(__VA_ARGS__)")
