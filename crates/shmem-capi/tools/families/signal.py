"""Put-with-signal and signal_fetch (signal_wait_until is with the point-to-point waits)."""
from .common import expand
from . import types


def constants():
    return """\
#define SHMEM_SIGNAL_SET 0
#define SHMEM_SIGNAL_ADD 1"""


def declarations():
    out = []
    sig = "uint64_t *sig_addr, uint64_t signal, int sig_op, int pe"
    for nbi in ("", "_nbi"):
        out.append(expand(f"void shmem_{{N}}_put_signal{nbi}({{T}} *dest, const {{T}} *source, size_t nelems, {sig});",
                          types.RMA))
        out.append(expand(f"void shmem_ctx_{{N}}_put_signal{nbi}(shmem_ctx_t ctx, {{T}} *dest, const {{T}} *source, "
                          f"size_t nelems, {sig});", types.RMA))
        for bits in types.RMA_SIZES:
            out.append(f"void shmem_put{bits}_signal{nbi}(void *dest, const void *source, size_t nelems, {sig});")
            out.append(f"void shmem_ctx_put{bits}_signal{nbi}(shmem_ctx_t ctx, void *dest, const void *source, "
                       f"size_t nelems, {sig});")
        out.append(f"void shmem_putmem_signal{nbi}(void *dest, const void *source, size_t nelems, {sig});")
        out.append(f"void shmem_ctx_putmem_signal{nbi}(shmem_ctx_t ctx, void *dest, const void *source, "
                   f"size_t nelems, {sig});")
    out.append("uint64_t shmem_signal_fetch(const uint64_t *sig_addr);")
    return "\n".join(out)


def generics():
    from .common import generic, GENERIC_RMA
    return "\n".join([
        generic("shmem_put_signal", "shmem_{N}_put_signal", GENERIC_RMA, "shmem_ctx_{N}_put_signal"),
        generic("shmem_put_signal_nbi", "shmem_{N}_put_signal_nbi", GENERIC_RMA, "shmem_ctx_{N}_put_signal_nbi"),
    ])
