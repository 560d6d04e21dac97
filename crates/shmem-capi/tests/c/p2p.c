/* Point-to-point synchronization: for each type of the spec's table, producer/consumer with exact values
 * (put, fence, flag, wait_until), the all/any/some and _vector waits and tests with their index sets and status
 * masks, tests that do not block; signal_wait_until after put-with-signal; the deprecated waits; the C11
 * generic macros. `p2p bad-cmp`, `p2p bad-cmp-test`, `p2p bad-signal-cmp` and `p2p not-symmetric` are
 * erroneous on purpose: the job must end with the library's error. */
#include <shmem.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "check.h"

#define TYPED_TEST(T, NAME)                                                                          \
    static void p2p_##NAME(int me, int n) {                                                          \
        int next = (me + 1) % n, prev = (me + n - 1) % n;                                            \
        T *flag = shmem_calloc(1, sizeof(T)), *data = shmem_calloc(4, sizeof(T));                    \
        T *iv = shmem_calloc(8, sizeof(T)), src[4], vals[8];                                         \
        size_t idx[8];                                                                               \
        int status[8];                                                                               \
        for (int i = 0; i < 4; i++) src[i] = (T)(me * 4 + i + 1);                                    \
        /* Producer/consumer: the data, a fence, then the flag; the consumer waits for the flag. */   \
        shmem_##NAME##_put(data, src, 4, next);                                                      \
        shmem_fence();                                                                               \
        shmem_##NAME##_p(flag, (T)(me + 1), next);                                                   \
        shmem_##NAME##_wait_until(flag, SHMEM_CMP_EQ, (T)(prev + 1));                                \
        for (int i = 0; i < 4; i++) CHECK(data[i] == (T)(prev * 4 + i + 1));                          \
        CHECK(shmem_##NAME##_test(flag, SHMEM_CMP_GE, (T)(prev + 1)) == 1);                          \
        CHECK(shmem_##NAME##_test(flag, SHMEM_CMP_GT, (T)(prev + 1)) == 0); /* returns at once */    \
        shmem_barrier_all();                                                                         \
        /* Nothing set yet: the tests return at once with nothing found. */                           \
        CHECK(shmem_##NAME##_test_any(iv, 8, NULL, SHMEM_CMP_NE, (T)0) == SIZE_MAX);                  \
        CHECK(shmem_##NAME##_test_some(iv, 8, idx, NULL, SHMEM_CMP_NE, (T)0) == 0);                   \
        CHECK(shmem_##NAME##_test_all(iv, 8, NULL, SHMEM_CMP_EQ, (T)0) == 1);                         \
        CHECK(shmem_##NAME##_test_all(iv, 8, NULL, SHMEM_CMP_NE, (T)0) == 0);                         \
        shmem_barrier_all();                                                                         \
        /* The previous PE sets elements 6, 1 and 4; this PE waits for the three (the others masked). */ \
        shmem_##NAME##_p(&iv[6], (T)3, next);                                                        \
        shmem_##NAME##_p(&iv[1], (T)1, next);                                                        \
        shmem_##NAME##_p(&iv[4], (T)2, next);                                                        \
        for (int i = 0; i < 8; i++) status[i] = !(i == 1 || i == 4 || i == 6);                       \
        shmem_##NAME##_wait_until_all(iv, 8, status, SHMEM_CMP_NE, (T)0);                            \
        CHECK(iv[1] == (T)1 && iv[4] == (T)2 && iv[6] == (T)3 && iv[0] == 0 && iv[7] == 0);          \
        CHECK(shmem_##NAME##_wait_until_any(iv, 8, NULL, SHMEM_CMP_GT, (T)1) == 4);                  \
        memset(status, 0, sizeof status);                                                            \
        status[4] = 1;                                                                               \
        CHECK(shmem_##NAME##_wait_until_any(iv, 8, status, SHMEM_CMP_GT, (T)1) == 6);                \
        CHECK(shmem_##NAME##_test_any(iv, 8, status, SHMEM_CMP_EQ, (T)2) == SIZE_MAX);               \
        memset(idx, 0xff, sizeof idx);                                                               \
        CHECK(shmem_##NAME##_wait_until_some(iv, 8, idx, NULL, SHMEM_CMP_NE, (T)0) == 3);            \
        CHECK(idx[0] == 1 && idx[1] == 4 && idx[2] == 6);                                            \
        CHECK(shmem_##NAME##_test_some(iv, 8, idx, status, SHMEM_CMP_GE, (T)1) == 2);                \
        CHECK(idx[0] == 1 && idx[1] == 6);                                                           \
        /* Per-element comparison values. */                                                         \
        for (int i = 0; i < 8; i++) vals[i] = (T)(i == 1 ? 1 : i == 4 ? 2 : i == 6 ? 3 : 0);         \
        shmem_##NAME##_wait_until_all_vector(iv, 8, NULL, SHMEM_CMP_EQ, vals);                       \
        CHECK(shmem_##NAME##_test_all_vector(iv, 8, NULL, SHMEM_CMP_EQ, vals) == 1);                 \
        vals[4] = (T)9;                                                                              \
        CHECK(shmem_##NAME##_test_all_vector(iv, 8, NULL, SHMEM_CMP_EQ, vals) == 0);                 \
        CHECK(shmem_##NAME##_test_any_vector(iv, 8, NULL, SHMEM_CMP_NE, vals) == 4);                 \
        CHECK(shmem_##NAME##_wait_until_any_vector(iv, 8, NULL, SHMEM_CMP_LT, vals) == 4);           \
        CHECK(shmem_##NAME##_test_some_vector(iv, 8, idx, NULL, SHMEM_CMP_LT, vals) == 1 && idx[0] == 4); \
        CHECK(shmem_##NAME##_wait_until_some_vector(iv, 8, idx, NULL, SHMEM_CMP_GE, vals) == 7);     \
        CHECK(idx[0] == 0 && idx[3] == 3 && idx[4] == 5 && idx[6] == 7);                            \
        /* Every element masked: all holds, any finds SIZE_MAX, some finds none; nothing blocks. */   \
        for (int i = 0; i < 8; i++) status[i] = 1;                                                   \
        shmem_##NAME##_wait_until_all(iv, 8, status, SHMEM_CMP_EQ, (T)100);                          \
        CHECK(shmem_##NAME##_wait_until_any(iv, 8, status, SHMEM_CMP_EQ, (T)100) == SIZE_MAX);       \
        CHECK(shmem_##NAME##_wait_until_some(iv, 8, idx, status, SHMEM_CMP_EQ, (T)100) == 0);        \
        CHECK(shmem_##NAME##_test_all(iv, 8, status, SHMEM_CMP_EQ, (T)100) == 1);                    \
        CHECK(shmem_##NAME##_wait_until_any_vector(iv, 8, status, SHMEM_CMP_EQ, vals) == SIZE_MAX);  \
        shmem_barrier_all();                                                                         \
        shmem_free(iv);                                                                              \
        shmem_free(data);                                                                            \
        shmem_free(flag);                                                                            \
    }

#define TYPES(X)                                                                                     \
    X(short, short) X(int, int) X(long, long) X(long long, longlong) X(unsigned short, ushort)       \
    X(unsigned int, uint) X(unsigned long, ulong) X(unsigned long long, ulonglong) X(int32_t, int32) \
    X(int64_t, int64) X(uint32_t, uint32) X(uint64_t, uint64) X(size_t, size) X(ptrdiff_t, ptrdiff)

TYPES(TYPED_TEST)

/* signal_wait_until after put-with-signal: SET from the previous PE, ADD from every PE to PE 0. */
static void signal_wait(int me, int n) {
    int next = (me + 1) % n, prev = (me + n - 1) % n;
    uint64_t *sig = shmem_calloc(2, sizeof(uint64_t));
    long *data = shmem_calloc(4, sizeof(long)), *cells = shmem_calloc((size_t)n, sizeof(long));
    long src[4] = {me, me * 2, me * 3, -me};
    shmem_barrier_all();
    shmem_long_put_signal(data, src, 4, &sig[0], (uint64_t)(me + 7), SHMEM_SIGNAL_SET, next);
    CHECK(shmem_signal_wait_until(&sig[0], SHMEM_CMP_EQ, (uint64_t)(prev + 7)) == (uint64_t)(prev + 7));
    CHECK(data[0] == prev && data[1] == prev * 2 && data[2] == prev * 3 && data[3] == -prev);
    long mine = 100 + me;
    shmem_long_put_signal(&cells[me], &mine, 1, &sig[1], 1, SHMEM_SIGNAL_ADD, 0);
    if (me == 0) {
        CHECK(shmem_signal_wait_until(&sig[1], SHMEM_CMP_GE, (uint64_t)n) == (uint64_t)n);
        for (int i = 0; i < n; i++) CHECK(cells[i] == 100 + i);
    }
    shmem_barrier_all();
    shmem_free(cells);
    shmem_free(data);
    shmem_free(sig);
}

/* The deprecated waits: shmem_TYPENAME_wait, shmem_wait and the long shmem_wait_until function. */
static void deprecated(int me, int n) {
    int next = (me + 1) % n;
    int *i = shmem_calloc(1, sizeof(int));
    short *s = shmem_calloc(1, sizeof(short));
    long *l = shmem_calloc(2, sizeof(long));
    long long *ll = shmem_calloc(1, sizeof(long long));
    shmem_barrier_all();
    shmem_int_p(i, 5, next);
    shmem_short_p(s, 6, next);
    shmem_long_p(&l[0], 7, next);
    shmem_longlong_p(ll, 8, next);
    shmem_long_p(&l[1], 9, next);
    shmem_int_wait(i, 0);
    shmem_short_wait(s, 0);
    shmem_long_wait(&l[0], 0);
    shmem_longlong_wait(ll, 0);
    shmem_wait(&l[0], 0);
    (shmem_wait_until)(&l[1], _SHMEM_CMP_EQ, 9); /* the function, not the C11 macro */
    CHECK(*i == 5 && *s == 6 && l[0] == 7 && *ll == 8 && l[1] == 9);
    shmem_barrier_all();
    shmem_free(ll);
    shmem_free(l);
    shmem_free(s);
    shmem_free(i);
}

/* The C11 generic macros choose the typed routine from the pointer type. */
static void generic(int me, int n) {
    int next = (me + 1) % n;
    unsigned long *u = shmem_calloc(4, sizeof(unsigned long));
    int *x = shmem_calloc(1, sizeof(int));
    size_t idx[4];
    shmem_barrier_all();
    shmem_int_p(x, 11, next);
    shmem_ulong_p(&u[2], 5, next);
    shmem_wait_until(x, SHMEM_CMP_EQ, 11);
    CHECK(shmem_test(x, SHMEM_CMP_EQ, 11) == 1);
    CHECK(shmem_wait_until_any(u, 4, NULL, SHMEM_CMP_EQ, 5UL) == 2);
    CHECK(shmem_test_some(u, 4, idx, NULL, SHMEM_CMP_EQ, 5UL) == 1 && idx[0] == 2);
    shmem_wait_until_all(&u[2], 1, NULL, SHMEM_CMP_GE, 5UL);
    CHECK(shmem_wait_until_some(u, 4, idx, NULL, SHMEM_CMP_EQ, 0UL) == 3);
    CHECK(shmem_test_all(u, 4, NULL, SHMEM_CMP_LE, 5UL) == 1);
    CHECK(shmem_test_any(u, 4, NULL, SHMEM_CMP_GT, 5UL) == SIZE_MAX);
    unsigned long v[4] = {0, 0, 5, 0};
    shmem_wait_until_all_vector(u, 4, NULL, SHMEM_CMP_EQ, v);
    CHECK(shmem_test_all_vector(u, 4, NULL, SHMEM_CMP_EQ, v) == 1);
    CHECK(shmem_wait_until_any_vector(u, 4, NULL, SHMEM_CMP_GE, v) == 0);
    CHECK(shmem_test_any_vector(u, 4, NULL, SHMEM_CMP_NE, v) == SIZE_MAX);
    CHECK(shmem_test_some_vector(u, 4, idx, NULL, SHMEM_CMP_EQ, v) == 4);
    CHECK(shmem_wait_until_some_vector(u, 4, idx, NULL, SHMEM_CMP_GE, v) == 4);
    shmem_barrier_all();
    shmem_free(x);
    shmem_free(u);
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    if (argc > 1) {
        long *x = shmem_calloc(2, sizeof(long)), local = 0;
        uint64_t *sig = shmem_calloc(1, sizeof(uint64_t));
        if (strcmp(argv[1], "bad-cmp") == 0) shmem_long_wait_until(x, 42, 0);
        if (strcmp(argv[1], "bad-cmp-test") == 0) (void)shmem_long_test_any(x, 2, NULL, -1, 0);
        if (strcmp(argv[1], "bad-signal-cmp") == 0) (void)shmem_signal_wait_until(sig, 6, 0);
        if (strcmp(argv[1], "not-symmetric") == 0) shmem_long_wait_until(&local, SHMEM_CMP_EQ, 0);
        return 0; /* not reached */
    }
#define RUN(T, NAME) p2p_##NAME(me, n);
    TYPES(RUN)
    signal_wait(me, n);
    deprecated(me, n);
    generic(me, n);
    shmem_barrier_all();
    if (me == 0) printf("p2p ok\n");
    shmem_finalize();
    return 0;
}
