/* Global and static variables in the AMO, point-to-point and lock families: AMOs of every cheap type on a
 * peer's static word (exact sums, one compare-swap winner, bitwise masks, swap/fetch/set of floating types,
 * ctx_ and fetching _nbi forms), waits and tests (single, _all/_any/_some and _vector, signal_wait_until) on
 * static words written by peers, and a `static long lock` guarding n x 200 get/put increments (exact) with
 * set_lock and test_lock. Erroneous cases (argv[1]): `amo-misaligned` (-1), `amo-other-node` (-100),
 * `lock-twice` (-1), `clear-unheld` (-1), `wait-bad-cmp` (-1); `peer-dies`: the last PE exits with status 7
 * while the others wait on a static flag nobody sets (the job must end, not hang). */
#define _POSIX_C_SOURCE 200809L
#include <shmem.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"

#define MAXPE 64

/* One static word per type: every PE adds (me + 1) to PE 0's, so it ends at n(n+1)/2. */
#define AMO_TYPES(X) \
    X(int, int) X(long, long) X(longlong, long long) X(uint, unsigned int) X(ulong, unsigned long) \
    X(ulonglong, unsigned long long) X(int32, int32_t) X(int64, int64_t) X(uint32, uint32_t) \
    X(uint64, uint64_t) X(size, size_t) X(ptrdiff, ptrdiff_t)

#define DECL(N, T) static T sum_##N; static T inc_##N;
AMO_TYPES(DECL)

#define ADD(N, T)                                                                   \
    shmem_##N##_atomic_add(&sum_##N, (T)(me + 1), 0);                               \
    CHECK(shmem_##N##_atomic_fetch_inc(&inc_##N, (me + 1) % n) < (T)n);
#define VERIFY(N, T)                                                                \
    if (me == 0) CHECK(sum_##N == (T)(n * (n + 1) / 2));                            \
    CHECK(inc_##N == 1);                                                            \
    CHECK(shmem_##N##_atomic_fetch(&sum_##N, 0) == (T)(n * (n + 1) / 2));

static long cswap_word;
static long winners;
static unsigned int or_bits = 0;
static unsigned long and_bits = ~0UL;
static uint64_t xor_bits;
static double dword;
static float fword;
static long nbi_word;
static long flag;
static int flags[MAXPE];
static long vec[MAXPE];
static uint64_t sig;
static long lock;
static long lock2;
static long counter;
static long counter2;

static void amos(int me, int n) {
    AMO_TYPES(ADD)
    /* Exactly one PE swaps 0 -> its number + 1. */
    long old = shmem_long_atomic_compare_swap(&cswap_word, 0, me + 1, 0);
    if (old == 0) shmem_long_atomic_inc(&winners, 0);
    shmem_uint_atomic_or(&or_bits, 1u << me, 0);
    shmem_ulong_atomic_fetch_and(&and_bits, ~(1UL << me), 0);
    shmem_uint64_atomic_xor(&xor_bits, (uint64_t)1 << (2 * me), 0);
    shmem_double_atomic_set(&dword, me + 0.5, (me + 1) % n);
    shmem_ctx_float_atomic_set(SHMEM_CTX_DEFAULT, &fword, me + 0.25f, (me + 1) % n);
    long fetched = -1;
    shmem_long_atomic_fetch_add_nbi(&fetched, &nbi_word, 10, 0);
    shmem_quiet();
    CHECK(fetched >= 0 && fetched <= 10L * (n - 1) && fetched % 10 == 0);
    shmem_barrier_all();
    AMO_TYPES(VERIFY)
    int left = (me + n - 1) % n;
    CHECK(dword == left + 0.5);
    CHECK(fword == left + 0.25f);
    CHECK(shmem_double_atomic_swap(&dword, -1.0, me) == left + 0.5 && dword == -1.0);
    if (me == 0) {
        CHECK(winners == 1);
        CHECK(cswap_word >= 1 && cswap_word <= n);
        CHECK(or_bits == (n == 32 ? ~0u : (1u << n) - 1));
        CHECK(and_bits == ~((1UL << n) - 1));
        uint64_t x = 0;
        for (int p = 0; p < n; p++) x |= (uint64_t)1 << (2 * p);
        CHECK(xor_bits == x);
        CHECK(nbi_word == 10L * n);
    }
    CHECK(shmem_ulong_atomic_fetch(&and_bits, 0) == ~((1UL << n) - 1));
    shmem_barrier_all();
}

static void waits(int me, int n) {
    int right = (me + 1) % n, left = (me + n - 1) % n;
    /* A single static word, set by the left neighbour after a delay. */
    if (me == 0) {
        struct timespec t = {0, 20000000};
        nanosleep(&t, NULL);
    }
    shmem_long_atomic_set(&flag, me + 100, right);
    shmem_long_wait_until(&flag, SHMEM_CMP_EQ, left + 100);
    CHECK(flag == left + 100);
    CHECK(shmem_long_test(&flag, SHMEM_CMP_GE, left + 100) == 1);
    CHECK(shmem_long_test(&flag, SHMEM_CMP_GT, left + 100) == 0);
    /* PE p sets flags[p] on PE 0 to p + 1. */
    shmem_int_atomic_set(&flags[me], me + 1, 0);
    if (me == 0) {
        shmem_int_wait_until_all(flags, n, NULL, SHMEM_CMP_NE, 0);
        for (int p = 0; p < n; p++) CHECK(flags[p] == p + 1);
        CHECK(shmem_int_test_all(flags, n, NULL, SHMEM_CMP_GT, 0) == 1);
        int status[MAXPE] = {0};
        status[0] = 1; /* skip element 0 */
        size_t i = shmem_int_wait_until_any(flags, n, status, SHMEM_CMP_GT, 0);
        CHECK(n == 1 ? i == SIZE_MAX : (i >= 1 && i < (size_t)n));
        size_t idx[MAXPE];
        CHECK(shmem_int_wait_until_some(flags, n, idx, NULL, SHMEM_CMP_GE, 1) == (size_t)n);
        for (int p = 0; p < n; p++) CHECK(idx[p] == (size_t)p);
        CHECK(shmem_int_test_any(flags, n, NULL, SHMEM_CMP_GT, n) == SIZE_MAX);
        CHECK(shmem_int_test_some(flags, n, idx, NULL, SHMEM_CMP_EQ, n) == 1 && idx[0] == (size_t)(n - 1));
    }
    /* Vector form: PE p puts p * 3 into vec[p] on PE 0. */
    shmem_long_p(&vec[me], me * 3L + 1, 0);
    if (me == 0) {
        long want[MAXPE];
        for (int p = 0; p < n; p++) want[p] = p * 3L + 1;
        shmem_long_wait_until_all_vector(vec, n, NULL, SHMEM_CMP_EQ, want);
        CHECK(shmem_long_test_all_vector(vec, n, NULL, SHMEM_CMP_EQ, want) == 1);
        CHECK(shmem_long_wait_until_any_vector(vec, n, NULL, SHMEM_CMP_EQ, want) == 0);
        size_t idx[MAXPE];
        CHECK(shmem_long_test_some_vector(vec, n, idx, NULL, SHMEM_CMP_LE, want) == (size_t)n);
    }
    /* signal_wait_until on a static signal word, written by the left neighbour's put-with-signal. */
    static long payload;
    long v = 1000 + me;
    shmem_long_put_signal(&payload, &v, 1, &sig, (uint64_t)me + 7, SHMEM_SIGNAL_SET, right);
    CHECK(shmem_signal_wait_until(&sig, SHMEM_CMP_EQ, (uint64_t)left + 7) == (uint64_t)left + 7);
    CHECK(payload == 1000 + left);
    shmem_barrier_all();
}

static void locks(int me, int n) {
    for (int k = 0; k < 200; k++) {
        shmem_set_lock(&lock);
        long c = shmem_long_g(&counter, 0);
        shmem_long_p(&counter, c + 1, 0);
        shmem_clear_lock(&lock);
    }
    for (int k = 0; k < 50; k++) {
        while (shmem_test_lock(&lock2) != 0) {
        }
        long c = shmem_long_g(&counter2, n - 1);
        shmem_long_p(&counter2, c + 1, n - 1);
        shmem_clear_lock(&lock2);
    }
    shmem_barrier_all();
    if (me == 0) CHECK(counter == 200L * n);
    if (me == n - 1) CHECK(counter2 == 50L * n);
    /* PE 0's tail (the low 32 bits, as in the facade's lock word) is free again; the high half is PE 0's
     * queue node, which may keep the last grant bit until its next acquire. */
    if (me == 0) CHECK((lock & 0xffffffffL) == 0 && (lock2 & 0xffffffffL) == 0);
    shmem_barrier_all();
}

int main(int argc, char **argv) {
    const char *c = argc > 1 ? argv[1] : "";
    if (strcmp(c, "amo-other-node") == 0) {
        char node[32];
        snprintf(node, sizeof node, "sync-node-%s", getenv("SHMEM_PE") ? getenv("SHMEM_PE") : "x");
        setenv("SHMEM_NODE_ID", node, 1);
        setenv("SHMEM_DATA_OP_ENGINE", "TCP", 1);
    }
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    CHECK(n <= MAXPE);
    if (*c) {
        if (strcmp(c, "amo-misaligned") == 0) shmem_int_atomic_inc((int *)((char *)&flags[1] + 1), 0);
        if (strcmp(c, "amo-other-node") == 0) shmem_long_atomic_inc(&counter, (me + 1) % n);
        if (strcmp(c, "lock-twice") == 0) {
            shmem_set_lock(&lock);
            shmem_set_lock(&lock);
        }
        if (strcmp(c, "clear-unheld") == 0) shmem_clear_lock(&lock);
        if (strcmp(c, "wait-bad-cmp") == 0) shmem_long_wait_until(&flag, 99, 0);
        if (strcmp(c, "peer-dies") == 0) {
            if (me == n - 1) exit(7);
            shmem_long_wait_until(&flag, SHMEM_CMP_EQ, 12345);
        }
        shmem_finalize();
        return 0;
    }
    amos(me, n);
    waits(me, n);
    locks(me, n);
    printf("statics sync ok %d\n", me);
    shmem_finalize();
    return 0;
}
