/* RMA: every typed form (put, get, p, g, iput, iget, _nbi, ctx_) for each type of the spec's table, the sized
 * and mem forms, the C11 generic macros, exact values. `rma bad-pe` and `rma not-symmetric` are erroneous on
 * purpose: the job must end with the library's error. */
#include <shmem.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "check.h"

#define N 16

/* One function per type: PE me writes into the next PE, reads back from the previous one. */
#define TYPED_TEST(T, NAME)                                                                          \
    static void test_##NAME(int me, int n) {                                                         \
        int next = (me + 1) % n, prev = (me + n - 1) % n;                                            \
        T *a = shmem_calloc(N, sizeof(T)), *b = shmem_calloc(N, sizeof(T)), *c = shmem_calloc(N, sizeof(T)); \
        T *d = shmem_calloc(2 * N, sizeof(T));                                                       \
        T src[N], got[N];                                                                            \
        for (int i = 0; i < N; i++) src[i] = (T)(me * 3 + i);                                         \
        shmem_barrier_all();                                                                         \
        shmem_##NAME##_put(a, src, N, next);                                                         \
        shmem_##NAME##_put_nbi(b, src, N / 2, next);                                                 \
        shmem_ctx_##NAME##_put(SHMEM_CTX_DEFAULT, c, src, 3, next);                                  \
        shmem_##NAME##_iput(d, src, 2, 1, N, next);       /* every other element of d */            \
        shmem_##NAME##_p(&c[5], (T)(me + 40), next);                                                 \
        shmem_quiet();                                                                               \
        shmem_barrier_all();                                                                         \
        for (int i = 0; i < N; i++) CHECK(a[i] == (T)(prev * 3 + i));                                \
        for (int i = 0; i < N / 2; i++) CHECK(b[i] == (T)(prev * 3 + i));                            \
        for (int i = 0; i < 3; i++) CHECK(c[i] == (T)(prev * 3 + i));                                \
        CHECK(c[5] == (T)(prev + 40));                                                               \
        for (int i = 0; i < N; i++) CHECK(d[2 * i] == (T)(prev * 3 + i) && d[2 * i + 1] == (T)0);  \
        memset(got, 0, sizeof got);                                                                  \
        shmem_##NAME##_get(got, a, N, next); /* next holds what I put there */                       \
        for (int i = 0; i < N; i++) CHECK(got[i] == src[i]);                                         \
        memset(got, 0, sizeof got);                                                                  \
        shmem_##NAME##_get_nbi(got, a, N, prev);                                                     \
        shmem_quiet();                                                                               \
        for (int i = 0; i < N; i++) CHECK(got[i] == (T)(((prev + n - 1) % n) * 3 + i));            \
        memset(got, 0, sizeof got);                                                                  \
        shmem_ctx_##NAME##_iget(SHMEM_CTX_DEFAULT, got, d, 1, 2, N, next); /* back from strided d */ \
        for (int i = 0; i < N; i++) CHECK(got[i] == src[i]);                                         \
        CHECK(shmem_##NAME##_g(&c[5], next) == (T)(me + 40));                                        \
        CHECK(shmem_ctx_##NAME##_g(SHMEM_CTX_DEFAULT, &a[2], me) == (T)(prev * 3 + 2));              \
        shmem_barrier_all();                                                                         \
        shmem_free(d);                                                                               \
        shmem_free(c);                                                                               \
        shmem_free(b);                                                                               \
        shmem_free(a);                                                                               \
    }

#define TYPES(X)                                                                                     \
    X(float, float) X(double, double) X(long double, longdouble) X(char, char) X(signed char, schar) \
    X(short, short) X(int, int) X(long, long) X(long long, longlong) X(unsigned char, uchar)         \
    X(unsigned short, ushort) X(unsigned int, uint) X(unsigned long, ulong)                          \
    X(unsigned long long, ulonglong) X(int8_t, int8) X(int16_t, int16) X(int32_t, int32)             \
    X(int64_t, int64) X(uint8_t, uint8) X(uint16_t, uint16) X(uint32_t, uint32) X(uint64_t, uint64)  \
    X(size_t, size) X(ptrdiff_t, ptrdiff)

TYPES(TYPED_TEST)

/* Sized and mem forms, on 64-bit words and bytes. */
static void test_sized(int me, int n) {
    int next = (me + 1) % n, prev = (me + n - 1) % n;
    unsigned char *buf = shmem_calloc(1024, 1);
    unsigned char src[1024];
    for (int i = 0; i < 1024; i++) src[i] = (unsigned char)(me * 7 + i);
    shmem_barrier_all();
    shmem_put8(buf, src, 8, next);
    shmem_put16(buf + 16, src + 16, 8, next);
    shmem_put32(buf + 32, src + 32, 8, next);
    shmem_put64(buf + 64, src + 64, 8, next);
    shmem_put128(buf + 128, src + 128, 8, next);
    shmem_putmem(buf + 256, src + 256, 100, next);
    shmem_putmem_nbi(buf + 512, src + 512, 512, next);
    shmem_ctx_put64_nbi(SHMEM_CTX_DEFAULT, buf + 400, src + 400, 4, next);
    shmem_quiet();
    shmem_barrier_all();
    for (int i = 0; i < 8; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    for (int i = 16; i < 32; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    for (int i = 32; i < 64; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    for (int i = 64; i < 128; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    for (int i = 128; i < 256; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    for (int i = 256; i < 356; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    for (int i = 400; i < 432; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    for (int i = 512; i < 1024; i++) CHECK(buf[i] == (unsigned char)(prev * 7 + i));
    unsigned char got[1024];
    memset(got, 0, sizeof got);
    shmem_getmem(got, buf, 1024, next);
    shmem_get32(got, buf, 2, next);
    CHECK(memcmp(got, src, 8) == 0 && memcmp(got + 512, src + 512, 512) == 0);
    memset(got, 0, sizeof got);
    shmem_getmem_nbi(got, buf + 512, 512, next);
    shmem_get128_nbi(got + 600, buf + 128, 2, next);
    shmem_quiet();
    CHECK(memcmp(got, src + 512, 512) == 0 && memcmp(got + 600, src + 128, 32) == 0);
    /* Strided 32-bit: every third word. */
    uint32_t *w = shmem_calloc(64, 4), ws[16];
    for (int i = 0; i < 16; i++) ws[i] = 0xABC00000u + (uint32_t)(me * 100 + i);
    shmem_barrier_all();
    shmem_iput32(w, ws, 3, 1, 16, next);
    shmem_barrier_all();
    for (int i = 0; i < 16; i++) CHECK(w[3 * i] == 0xABC00000u + (uint32_t)(prev * 100 + i) && w[3 * i + 1] == 0);
    uint32_t wg[16];
    shmem_iget32(wg, w, 1, 3, 16, me);
    for (int i = 0; i < 16; i++) CHECK(wg[i] == 0xABC00000u + (uint32_t)(prev * 100 + i));
    /* Zero elements move nothing and are not an error. */
    shmem_putmem(buf, src, 0, next);
    shmem_barrier_all();
    shmem_free(w);
    shmem_free(buf);
}

/* The C11 type-generic macros pick the typed function from the pointer type, with and without a context. */
static void test_generic(int me, int n) {
    int next = (me + 1) % n, prev = (me + n - 1) % n;
    double *x = shmem_calloc(4, sizeof(double));
    long *y = shmem_calloc(4, sizeof(long));
    double xs[4] = {me + 0.5, me + 1.5, me + 2.5, me + 3.5};
    long ys[4] = {me, -me, 2 * me, 3};
    shmem_barrier_all();
    shmem_put(x, xs, 4, next);
    shmem_put(SHMEM_CTX_DEFAULT, y, ys, 4, next);
    shmem_barrier_all();
    CHECK(x[0] == prev + 0.5 && x[3] == prev + 3.5 && y[1] == -prev && y[3] == 3);
    shmem_p(&y[2], 77L, next);
    shmem_barrier_all();
    CHECK(y[2] == 77 && shmem_g(&y[2], next) == 77 && shmem_g(SHMEM_CTX_DEFAULT, &x[1], me) == prev + 1.5);
    double xg[4];
    shmem_get(xg, x, 4, next);
    CHECK(xg[0] == me + 0.5);
    shmem_barrier_all();
    shmem_free(y);
    shmem_free(x);
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    if (argc > 1 && strcmp(argv[1], "bad-pe") == 0) {
        int *x = shmem_malloc(sizeof(int)), v = 1;
        shmem_int_put(x, &v, 1, n); /* PE n does not exist */
        return 0;                   /* not reached */
    }
    if (argc > 1 && strcmp(argv[1], "not-symmetric") == 0) {
        int local = 0, v = 1;
        shmem_int_put(&local, &v, 1, 0); /* a stack address is not symmetric */
        return 0;
    }
#define RUN(T, NAME) test_##NAME(me, n);
    TYPES(RUN)
    test_sized(me, n);
    test_generic(me, n);
    shmem_barrier_all();
    shmem_finalize();
    return 0;
}
