"""Remote memory access: put, get, p, g, iput, iget (typed, sized, mem; blocking and _nbi; ctx forms);
fence, quiet, barrier_all and sync_all (the ordering and completion routines)."""
from .common import expand, generic, GENERIC_RMA
from . import types


def _both(decl):
    """`decl` (with {CTX} where `shmem_ctx_t ctx, ` goes and {C} where `ctx_` goes) in plain and ctx form."""
    return [decl.format(CTX="", C="", T="{T}", N="{N}"), decl.format(CTX="shmem_ctx_t ctx, ", C="ctx_", T="{T}", N="{N}")]


LONGDOUBLE_SCALAR = """\
/* long double travels by value in x87 form, which the library's (Rust) C ABI cannot express: these move it
 * through memory with the byte routines. */
static inline void shmem_longdouble_p(long double *dest, long double value, int pe) {
    shmem_putmem(dest, &value, sizeof value, pe);
}
static inline void shmem_ctx_longdouble_p(shmem_ctx_t ctx, long double *dest, long double value, int pe) {
    shmem_ctx_putmem(ctx, dest, &value, sizeof value, pe);
}
static inline long double shmem_longdouble_g(const long double *source, int pe) {
    long double value;
    shmem_getmem(&value, source, sizeof value, pe);
    return value;
}
static inline long double shmem_ctx_longdouble_g(shmem_ctx_t ctx, const long double *source, int pe) {
    long double value;
    shmem_ctx_getmem(ctx, &value, source, sizeof value, pe);
    return value;
}"""


def declarations():
    out = []
    typed = [
        "void shmem_{C}{N}_put({CTX}{T} *dest, const {T} *source, size_t nelems, int pe);",
        "void shmem_{C}{N}_put_nbi({CTX}{T} *dest, const {T} *source, size_t nelems, int pe);",
        "void shmem_{C}{N}_get({CTX}{T} *dest, const {T} *source, size_t nelems, int pe);",
        "void shmem_{C}{N}_get_nbi({CTX}{T} *dest, const {T} *source, size_t nelems, int pe);",
        "void shmem_{C}{N}_p({CTX}{T} *dest, {T} value, int pe);",
        "{T} shmem_{C}{N}_g({CTX}const {T} *source, int pe);",
        "void shmem_{C}{N}_iput({CTX}{T} *dest, const {T} *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, int pe);",
        "void shmem_{C}{N}_iget({CTX}{T} *dest, const {T} *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, int pe);",
    ]
    for d in typed:
        # `long double` by value (x87 form) cannot cross Rust's C ABI: its p and g are inline below.
        names = types.RMA_SCALAR if ("_p(" in d or "_g(" in d) else types.RMA
        for form in _both(d):
            out.append(expand(form, names))
    sized = [
        "void shmem_{C}put{B}({CTX}void *dest, const void *source, size_t nelems, int pe);",
        "void shmem_{C}put{B}_nbi({CTX}void *dest, const void *source, size_t nelems, int pe);",
        "void shmem_{C}get{B}({CTX}void *dest, const void *source, size_t nelems, int pe);",
        "void shmem_{C}get{B}_nbi({CTX}void *dest, const void *source, size_t nelems, int pe);",
        "void shmem_{C}iput{B}({CTX}void *dest, const void *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, int pe);",
        "void shmem_{C}iget{B}({CTX}void *dest, const void *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, int pe);",
    ]
    for d in sized:
        for ctx, c in (("", ""), ("shmem_ctx_t ctx, ", "ctx_")):
            out += [d.format(CTX=ctx, C=c, B=b) for b in types.RMA_SIZES]
    for ctx, c in (("", ""), ("shmem_ctx_t ctx, ", "ctx_")):
        for op in ("put", "put_nbi"):
            out.append(f"void shmem_{c}{op.replace('put', 'putmem')}({ctx}void *dest, const void *source, size_t nelems, int pe);")
        for op in ("get", "get_nbi"):
            out.append(f"void shmem_{c}{op.replace('get', 'getmem')}({ctx}void *dest, const void *source, size_t nelems, int pe);")
    out.append(LONGDOUBLE_SCALAR)
    out.append("""\
void shmem_fence(void);
void shmem_ctx_fence(shmem_ctx_t ctx);
void shmem_quiet(void);
void shmem_ctx_quiet(shmem_ctx_t ctx);
void shmem_barrier_all(void);
void shmem_sync_all(void);""")
    return "\n".join(out)


def generics():
    g = []
    for op in ("put", "put_nbi", "get", "get_nbi", "p", "iput", "iget"):
        g.append(generic(f"shmem_{op}", f"shmem_{{N}}_{op}", GENERIC_RMA, f"shmem_ctx_{{N}}_{op}"))
    # shmem_g(source, pe): the source is the typed pointer; accept pointers to const too.
    g.append(generic("shmem_g", "shmem_{N}_g", GENERIC_RMA, "shmem_ctx_{N}_g", const=True))
    return "\n".join(g)
