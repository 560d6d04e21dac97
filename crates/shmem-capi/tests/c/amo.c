/* AMOs: every PE hammers PE 0's counters with the standard AMOs of each type (exact totals), compare_swap
 * (one winner, and a CAS loop with an exact total), the bitwise AMOs (exact masks), the extended fetch/set/swap
 * on float and double, the fetching _nbi forms (values after quiet), the ctx_ forms, the deprecated forms and
 * the C11 generic macros. `amo bad-pe`, `amo not-symmetric`, `amo misaligned`, `amo bad-ctx` and
 * `amo bad-fetch` are erroneous on purpose: the job must end with the library's error. */
#include <shmem.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "check.h"

#define ITER 1000

/* Standard AMOs of one type: each PE adds exactly ITER to PE 0's counter, ITER / 4 through each of fetch_add,
 * add, fetch_inc and inc (half of them through the ctx_ forms); every fetched value is below the total. */
#define STANDARD_TEST(T, NAME)                                                                       \
    static void standard_##NAME(int me, int n) {                                                     \
        T *c = shmem_calloc(4, sizeof(T));                                                           \
        T total = (T)(ITER * n);                                                                     \
        shmem_barrier_all();                                                                         \
        for (int i = 0; i < ITER / 4; i++) {                                                         \
            T a = (i & 1) ? shmem_##NAME##_atomic_fetch_add(&c[0], (T)1, 0)                          \
                          : shmem_ctx_##NAME##_atomic_fetch_add(SHMEM_CTX_DEFAULT, &c[0], (T)1, 0);  \
            T b = (i & 1) ? shmem_##NAME##_atomic_fetch_inc(&c[0], 0)                                \
                          : shmem_ctx_##NAME##_atomic_fetch_inc(SHMEM_CTX_DEFAULT, &c[0], 0);        \
            CHECK(a < total && b < total && a != b);                                                 \
            if (i & 1) {                                                                             \
                shmem_##NAME##_atomic_add(&c[0], (T)1, 0);                                           \
                shmem_##NAME##_atomic_inc(&c[0], 0);                                                 \
            } else {                                                                                 \
                shmem_ctx_##NAME##_atomic_add(SHMEM_CTX_DEFAULT, &c[0], (T)1, 0);                    \
                shmem_ctx_##NAME##_atomic_inc(SHMEM_CTX_DEFAULT, &c[0], 0);                          \
            }                                                                                        \
        }                                                                                            \
        /* compare_swap: one PE wins the 0 -> me + 1 race. */                                        \
        T old = shmem_##NAME##_atomic_compare_swap(&c[1], (T)0, (T)(me + 1), 0);                     \
        if (old == 0) shmem_##NAME##_atomic_inc(&c[2], 0);                                           \
        else CHECK(old >= (T)1 && old <= (T)n);                                                      \
        /* A compare_swap loop: each PE adds 3, 50 times, through CAS only. */                       \
        for (int i = 0; i < 50; i++) {                                                               \
            T seen = shmem_ctx_##NAME##_atomic_fetch(SHMEM_CTX_DEFAULT, &c[3], 0), got;              \
            while ((got = shmem_ctx_##NAME##_atomic_compare_swap(SHMEM_CTX_DEFAULT, &c[3], seen,     \
                                                                 (T)(seen + 3), 0)) != seen)         \
                seen = got;                                                                          \
        }                                                                                            \
        shmem_barrier_all();                                                                         \
        CHECK(shmem_##NAME##_atomic_fetch(&c[0], 0) == total);                                       \
        CHECK(shmem_##NAME##_atomic_fetch(&c[2], 0) == (T)1);                                        \
        T w = shmem_##NAME##_atomic_fetch(&c[1], 0);                                                 \
        CHECK(w >= (T)1 && w <= (T)n);                                                               \
        CHECK(shmem_##NAME##_atomic_fetch(&c[3], 0) == (T)(150 * n));                                \
        /* A failed compare_swap changes nothing. */                                                 \
        CHECK(shmem_##NAME##_atomic_compare_swap(&c[1], (T)(n + 5), (T)99, 0) == w);                 \
        shmem_barrier_all();                                                                         \
        CHECK(c[0] == (me == 0 ? total : 0));                                                        \
        shmem_free(c);                                                                               \
    }

/* Extended AMOs of one type (fetch, set, swap; floating point too): PE me owns slot me of PE 0's array. */
#define EXTENDED_TEST(T, NAME)                                                                       \
    static void extended_##NAME(int me, int n) {                                                     \
        T *s = shmem_calloc((size_t)n, sizeof(T));                                                   \
        shmem_barrier_all();                                                                         \
        shmem_##NAME##_atomic_set(&s[me], (T)(me + 0.5), 0);                                          \
        CHECK(shmem_##NAME##_atomic_fetch(&s[me], 0) == (T)(me + 0.5));                               \
        CHECK(shmem_##NAME##_atomic_swap(&s[me], (T)(me * 2 + 1.25), 0) == (T)(me + 0.5));            \
        CHECK(shmem_ctx_##NAME##_atomic_swap(SHMEM_CTX_DEFAULT, &s[me], (T)(me + 7), 0) ==             \
              (T)(me * 2 + 1.25));                                                                   \
        shmem_ctx_##NAME##_atomic_set(SHMEM_CTX_DEFAULT, &s[me], (T)(me + 3.75), 0);                  \
        shmem_barrier_all();                                                                         \
        for (int i = 0; i < n; i++)                                                                  \
            CHECK(shmem_ctx_##NAME##_atomic_fetch(SHMEM_CTX_DEFAULT, &s[i], 0) == (T)(i + 3.75));     \
        if (me == 0)                                                                                 \
            for (int i = 0; i < n; i++) CHECK(s[i] == (T)(i + 3.75));                                \
        shmem_barrier_all();                                                                         \
        shmem_free(s);                                                                               \
    }

/* Bitwise AMOs of one type: or sets bit me, and clears it, xor toggles it, on PE 0's words. */
#define BITWISE_TEST(T, NAME)                                                                        \
    static void bitwise_##NAME(int me, int n) {                                                      \
        T *w = shmem_calloc(4, sizeof(T));                                                           \
        T bit = (T)((T)1 << me), all = (T)(((T)1 << n) - 1);                                         \
        if (me == 0) w[1] = (T)~(T)0;                                                                \
        shmem_barrier_all();                                                                         \
        T o = shmem_##NAME##_atomic_fetch_or(&w[0], bit, 0);                                         \
        CHECK((o & bit) == 0 && (o & ~all) == 0);                                                    \
        shmem_ctx_##NAME##_atomic_or(SHMEM_CTX_DEFAULT, &w[2], bit, 0);                              \
        T a = shmem_ctx_##NAME##_atomic_fetch_and(SHMEM_CTX_DEFAULT, &w[1], (T)~bit, 0);             \
        CHECK((a & bit) == bit);                                                                     \
        shmem_##NAME##_atomic_xor(&w[3], bit, 0);                                                    \
        T x = shmem_##NAME##_atomic_fetch_xor(&w[3], (T)(bit << n), 0);                              \
        CHECK((x & bit) == bit);                                                                     \
        shmem_barrier_all();                                                                         \
        CHECK(shmem_##NAME##_atomic_fetch(&w[0], 0) == all);                                         \
        CHECK(shmem_##NAME##_atomic_fetch(&w[1], 0) == (T)~all);                                     \
        CHECK(shmem_##NAME##_atomic_fetch(&w[2], 0) == all);                                         \
        CHECK(shmem_##NAME##_atomic_fetch(&w[3], 0) == (T)(all | (T)(all << n)));                    \
        shmem_barrier_all();                                                                         \
        shmem_##NAME##_atomic_and(&w[0], (T)~bit, 0);                                                \
        shmem_ctx_##NAME##_atomic_xor(SHMEM_CTX_DEFAULT, &w[2], bit, 0);                             \
        shmem_barrier_all();                                                                         \
        CHECK(shmem_##NAME##_atomic_fetch(&w[0], 0) == 0 && shmem_##NAME##_atomic_fetch(&w[2], 0) == 0); \
        /* The fetching bitwise _nbi forms, on this PE's own words of the next PE. */                 \
        T *v = shmem_calloc(3, sizeof(T)), f[3];                                                     \
        int next = (me + 1) % n;                                                                     \
        v[0] = (T)0x0F; v[1] = (T)0x33; v[2] = (T)0x55;                                              \
        shmem_barrier_all();                                                                         \
        shmem_##NAME##_atomic_fetch_and_nbi(&f[0], &v[0], (T)0x3C, next);                            \
        shmem_ctx_##NAME##_atomic_fetch_or_nbi(SHMEM_CTX_DEFAULT, &f[1], &v[1], (T)0x0C, next);      \
        shmem_##NAME##_atomic_fetch_xor_nbi(&f[2], &v[2], (T)0xFF, next);                            \
        shmem_quiet();                                                                               \
        CHECK(f[0] == (T)0x0F && f[1] == (T)0x33 && f[2] == (T)0x55);                                \
        shmem_barrier_all();                                                                         \
        CHECK(v[0] == (T)0x0C && v[1] == (T)0x3F && v[2] == (T)0xAA);                                \
        shmem_barrier_all();                                                                         \
        shmem_free(v);                                                                               \
        shmem_free(w);                                                                               \
    }

/* Fetching _nbi forms of one standard type, each on its own word of the next PE; values after quiet. */
#define NBI_TEST(T, NAME)                                                                            \
    static void nbi_##NAME(int me, int n) {                                                          \
        T *v = shmem_calloc(5, sizeof(T)), f[5];                                                     \
        int next = (me + 1) % n;                                                                     \
        for (int i = 0; i < 5; i++) v[i] = (T)(10 * i + me);                                         \
        memset(f, 0, sizeof f);                                                                      \
        shmem_barrier_all();                                                                         \
        shmem_##NAME##_atomic_fetch_add_nbi(&f[0], &v[0], (T)5, next);                               \
        shmem_ctx_##NAME##_atomic_compare_swap_nbi(SHMEM_CTX_DEFAULT, &f[1], &v[1], (T)(10 + next), (T)42, next); \
        shmem_##NAME##_atomic_swap_nbi(&f[2], &v[2], (T)77, next);                                   \
        shmem_ctx_##NAME##_atomic_fetch_inc_nbi(SHMEM_CTX_DEFAULT, &f[3], &v[3], next);              \
        shmem_##NAME##_atomic_fetch_nbi(&f[4], &v[4], next);                                         \
        shmem_quiet();                                                                               \
        for (int i = 0; i < 5; i++) CHECK(f[i] == (T)(10 * i + next));                               \
        shmem_barrier_all();                                                                         \
        CHECK(v[0] == (T)(me + 5) && v[1] == (T)42 && v[2] == (T)77 && v[3] == (T)(31 + me) &&      \
              v[4] == (T)(40 + me));                                                                 \
        shmem_barrier_all();                                                                         \
        shmem_free(v);                                                                               \
    }

#define STANDARD(X)                                                                                  \
    X(int, int) X(long, long) X(long long, longlong) X(unsigned int, uint) X(unsigned long, ulong)   \
    X(unsigned long long, ulonglong) X(int32_t, int32) X(int64_t, int64) X(uint32_t, uint32)         \
    X(uint64_t, uint64) X(size_t, size) X(ptrdiff_t, ptrdiff)
#define EXTENDED(X) X(float, float) X(double, double) STANDARD(X)
#define BITWISE(X)                                                                                   \
    X(unsigned int, uint) X(unsigned long, ulong) X(unsigned long long, ulonglong) X(int32_t, int32) \
    X(int64_t, int64) X(uint32_t, uint32) X(uint64_t, uint64)

STANDARD(STANDARD_TEST)
EXTENDED(EXTENDED_TEST)
BITWISE(BITWISE_TEST)
STANDARD(NBI_TEST)

/* The float and double _nbi forms of the extended AMOs. */
static void nbi_floating(int me, int n) {
    double *d = shmem_calloc(2, sizeof(double));
    float *f = shmem_calloc(2, sizeof(float));
    int next = (me + 1) % n;
    d[0] = me + 0.125; d[1] = me + 0.25; f[0] = me + 0.5f; f[1] = me + 0.75f;
    double dd[2];
    float ff[2];
    shmem_barrier_all();
    shmem_double_atomic_fetch_nbi(&dd[0], &d[0], next);
    shmem_ctx_double_atomic_swap_nbi(SHMEM_CTX_DEFAULT, &dd[1], &d[1], -2.5, next);
    shmem_ctx_float_atomic_fetch_nbi(SHMEM_CTX_DEFAULT, &ff[0], &f[0], next);
    shmem_float_atomic_swap_nbi(&ff[1], &f[1], -1.5f, next);
    shmem_quiet();
    CHECK(dd[0] == next + 0.125 && dd[1] == next + 0.25 && ff[0] == next + 0.5f && ff[1] == next + 0.75f);
    shmem_barrier_all();
    CHECK(d[0] == me + 0.125 && d[1] == -2.5 && f[0] == me + 0.5f && f[1] == -1.5f);
    shmem_barrier_all();
    shmem_free(f);
    shmem_free(d);
}

/* The deprecated forms the spec still lists, on PE 0's words: exact totals. */
static void deprecated(int me, int n) {
    int *i = shmem_calloc(2, sizeof(int));
    long *l = shmem_calloc(2, sizeof(long));
    long long *ll = shmem_calloc(2, sizeof(long long));
    double *d = shmem_calloc((size_t)n, sizeof(double));
    float *f = shmem_calloc((size_t)n, sizeof(float));
    shmem_barrier_all();
    for (int k = 0; k < 10; k++) {
        (void)shmem_int_fadd(&i[0], 2, 0);
        shmem_int_add(&i[0], 1, 0);
        (void)shmem_int_finc(&i[0], 0);
        shmem_int_inc(&i[0], 0);
        (void)shmem_long_fadd(&l[0], 5, 0);
        shmem_longlong_inc(&ll[0], 0);
        (void)shmem_longlong_finc(&ll[0], 0);
        shmem_long_add(&l[0], 1, 0);
        (void)shmem_long_finc(&l[0], 0);
        shmem_long_inc(&l[0], 0);
        shmem_longlong_add(&ll[0], 3, 0);
        (void)shmem_longlong_fadd(&ll[0], 4, 0);
    }
    if (shmem_int_cswap(&i[1], 0, me + 1, 0) == 0) shmem_int_inc(&i[1], 0);
    (void)shmem_long_cswap(&l[1], 0, 7, 0);
    (void)shmem_longlong_cswap(&ll[1], 0, 9, 0);
    shmem_double_set(&d[me], me * 1.5, 0);
    CHECK(shmem_double_swap(&d[me], me + 0.5, 0) == me * 1.5);
    shmem_float_set(&f[me], me * 2.5f, 0);
    CHECK(shmem_float_fetch(&f[me], 0) == me * 2.5f && shmem_float_swap(&f[me], 1.0f, 0) == me * 2.5f);
    shmem_barrier_all();
    CHECK(shmem_int_fetch(&i[0], 0) == 50 * n);
    int w = shmem_int_fetch(&i[1], 0);
    CHECK(w >= 2 && w <= n + 1); /* the winner's me + 1, plus its one increment */
    CHECK(shmem_long_fetch(&l[0], 0) == 80L * n && shmem_long_fetch(&l[1], 0) == 7);
    CHECK(shmem_longlong_fetch(&ll[0], 0) == 90LL * n && shmem_longlong_fetch(&ll[1], 0) == 9);
    CHECK(shmem_double_fetch(&d[me], 0) == me + 0.5 && shmem_float_fetch(&f[me], 0) == 1.0f);
    shmem_barrier_all();
    if (me == 0) {
        shmem_long_set(&l[0], -1, 0);
        CHECK(shmem_long_swap(&l[0], 3, 0) == -1 && l[0] == 3);
        shmem_int_set(&i[0], 0, 0);
        CHECK(i[0] == 0);
    }
    shmem_barrier_all();
    shmem_free(f);
    shmem_free(d);
    shmem_free(ll);
    shmem_free(l);
    shmem_free(i);
}

/* The C11 generic macros choose the typed function from the pointer type, with and without a context. */
static void generic(int me, int n) {
    long *l = shmem_calloc(4, sizeof(long));
    unsigned int *u = shmem_calloc(2, sizeof(unsigned int));
    int *b = shmem_calloc(1, sizeof(int));
    double *d = shmem_calloc((size_t)n, sizeof(double));
    shmem_barrier_all();
    for (int k = 0; k < 10; k++) {
        (void)shmem_atomic_fetch_add(&l[0], 1L, 0);
        shmem_atomic_add(SHMEM_CTX_DEFAULT, &l[0], 2L, 0);
        shmem_atomic_inc(&l[0], 0);
        (void)shmem_atomic_fetch_inc(SHMEM_CTX_DEFAULT, &l[0], 0);
    }
    if (shmem_atomic_compare_swap(&l[1], 0L, (long)(me + 1), 0) == 0) shmem_atomic_inc(SHMEM_CTX_DEFAULT, &l[2], 0);
    (void)shmem_atomic_fetch_or(&u[0], 1u << me, 0);
    shmem_atomic_xor(SHMEM_CTX_DEFAULT, &u[1], 1u << me, 0);
    shmem_atomic_or(b, 1 << me, 0); /* int* selects the int32 function */
    shmem_atomic_set(&d[me], me + 0.5, 0);
    CHECK(shmem_atomic_swap(SHMEM_CTX_DEFAULT, &d[me], me + 0.75, 0) == me + 0.5);
    long lf;
    shmem_atomic_fetch_nbi(&lf, &l[3], 0);
    shmem_quiet();
    CHECK(lf == 0);
    shmem_barrier_all();
    CHECK(shmem_atomic_fetch(&l[0], 0) == 50L * n && shmem_atomic_fetch(SHMEM_CTX_DEFAULT, &l[2], 0) == 1);
    unsigned int all = (1u << n) - 1;
    CHECK(shmem_atomic_fetch(&u[0], 0) == all && shmem_atomic_fetch(&u[1], 0) == all);
    CHECK(shmem_atomic_fetch(b, 0) == (int)all);
    CHECK(shmem_atomic_fetch(&d[me], 0) == me + 0.75);
    CHECK(shmem_fetch(&l[0], 0) == 50L * n); /* the deprecated generic */
    shmem_barrier_all();
    shmem_free(d);
    shmem_free(b);
    shmem_free(u);
    shmem_free(l);
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    if (argc > 1) {
        long *x = shmem_calloc(2, sizeof(long)), local = 0, f;
        if (strcmp(argv[1], "bad-pe") == 0) (void)shmem_long_atomic_fetch_add(x, 1, n); /* PE n does not exist */
        if (strcmp(argv[1], "not-symmetric") == 0) shmem_long_atomic_inc(&local, 0);  /* a stack address */
        if (strcmp(argv[1], "misaligned") == 0) shmem_long_atomic_add((long *)((char *)x + 4), 1, 0);
        if (strcmp(argv[1], "bad-ctx") == 0) shmem_ctx_long_atomic_add(SHMEM_CTX_INVALID, x, 1, 0);
        if (strcmp(argv[1], "bad-fetch") == 0) shmem_long_atomic_fetch_nbi((long *)((char *)&f + 1), x, 0);
        return 0; /* not reached */
    }
#define RUN_STANDARD(T, NAME) standard_##NAME(me, n);
#define RUN_EXTENDED(T, NAME) extended_##NAME(me, n);
#define RUN_BITWISE(T, NAME) bitwise_##NAME(me, n);
#define RUN_NBI(T, NAME) nbi_##NAME(me, n);
    STANDARD(RUN_STANDARD)
    EXTENDED(RUN_EXTENDED)
    BITWISE(RUN_BITWISE)
    STANDARD(RUN_NBI)
    nbi_floating(me, n);
    deprecated(me, n);
    generic(me, n);
    shmem_barrier_all();
    if (me == 0) printf("amo ok\n");
    shmem_finalize();
    return 0;
}
