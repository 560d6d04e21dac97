"""Point-to-point synchronization: wait_until and test with their all/any/some and _vector forms,
signal_wait_until, the deprecated waits, the SHMEM_CMP_* constants and the C11 generic macros."""
from .common import expand, generic
from . import types

# (operation, return type, parameters) of the typed routines; {T} is the C type.
TYPED = [
    ("wait_until", "void", "{T} *ivar, int cmp, {T} cmp_value"),
    ("wait_until_all", "void", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} cmp_value"),
    ("wait_until_any", "size_t", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} cmp_value"),
    ("wait_until_some", "size_t",
     "{T} *ivars, size_t nelems, size_t *indices, const int *status, int cmp, {T} cmp_value"),
    ("wait_until_all_vector", "void", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} *cmp_values"),
    ("wait_until_any_vector", "size_t", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} *cmp_values"),
    ("wait_until_some_vector", "size_t",
     "{T} *ivars, size_t nelems, size_t *indices, const int *status, int cmp, {T} *cmp_values"),
    ("test", "int", "{T} *ivar, int cmp, {T} cmp_value"),
    ("test_all", "int", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} cmp_value"),
    ("test_any", "size_t", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} cmp_value"),
    ("test_some", "size_t", "{T} *ivars, size_t nelems, size_t *indices, const int *status, int cmp, {T} cmp_value"),
    ("test_all_vector", "int", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} *cmp_values"),
    ("test_any_vector", "size_t", "{T} *ivars, size_t nelems, const int *status, int cmp, {T} *cmp_values"),
    ("test_some_vector", "size_t",
     "{T} *ivars, size_t nelems, size_t *indices, const int *status, int cmp, {T} *cmp_values"),
]

# Distinct C types of the point-to-point table for _Generic (the fixed-width and size types alias these).
GENERIC_P2P = ["short", "int", "long", "longlong", "ushort", "uint", "ulong", "ulonglong"]


def constants():
    return """\
#define SHMEM_CMP_EQ 0
#define SHMEM_CMP_NE 1
#define SHMEM_CMP_GT 2
#define SHMEM_CMP_GE 3
#define SHMEM_CMP_LT 4
#define SHMEM_CMP_LE 5
/* Deprecated spellings the spec still lists. */
#define _SHMEM_CMP_EQ SHMEM_CMP_EQ
#define _SHMEM_CMP_NE SHMEM_CMP_NE
#define _SHMEM_CMP_GT SHMEM_CMP_GT
#define _SHMEM_CMP_GE SHMEM_CMP_GE
#define _SHMEM_CMP_LT SHMEM_CMP_LT
#define _SHMEM_CMP_LE SHMEM_CMP_LE"""


def declarations():
    out = [expand(f"{ret} shmem_{{N}}_{op}({params});", types.P2P) for op, ret, params in TYPED]
    out.append("uint64_t shmem_signal_wait_until(uint64_t *sig_addr, int cmp, uint64_t cmp_value);")
    out.append("/* Deprecated waits the spec still lists (replaced by shmem_TYPENAME_wait_until). */")
    out.append(expand("void shmem_{N}_wait({T} *ivar, {T} cmp_value) _SHMEM_DEPRECATED;", types.P2P_DEPRECATED))
    out.append("void shmem_wait(long *ivar, long cmp_value) _SHMEM_DEPRECATED;")
    # Declared before the C11 generic macro of the same name, which then takes its place in C11 programs.
    out.append("void shmem_wait_until(long *ivar, int cmp, long cmp_value) _SHMEM_DEPRECATED;")
    return "\n".join(out)


def generics():
    return "\n".join(generic(f"shmem_{op}", f"shmem_{{N}}_{op}", GENERIC_P2P) for op, _, _ in TYPED)
