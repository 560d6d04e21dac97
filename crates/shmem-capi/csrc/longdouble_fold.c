/* The long double arithmetic of the long double reductions (shmem_longdouble_OP_reduce / _to_all): Rust has no
 * x87 80-bit type, so the library gathers the members' contributions and folds them here, in team order, with
 * the C compiler's own long double. Called from src/coll.rs only (not exported). */
#include <stddef.h>

/* Operator codes: shmem::ReduceOp's (max 3, min 4, sum 5, prod 6). */
void shmem_capi_longdouble_fold(int op, long double *acc, const long double *x, size_t n) {
    size_t i;
    switch (op) {
    case 3:
        for (i = 0; i < n; i++)
            if (x[i] > acc[i]) acc[i] = x[i];
        break;
    case 4:
        for (i = 0; i < n; i++)
            if (x[i] < acc[i]) acc[i] = x[i];
        break;
    case 5:
        for (i = 0; i < n; i++) acc[i] += x[i];
        break;
    case 6:
        for (i = 0; i < n; i++) acc[i] *= x[i];
        break;
    default:
        break;
    }
}
