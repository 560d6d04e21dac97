/* Long double reductions check that the members agree on nreduce and the operator, as every other reduction
 * does: a mismatch is INVALID_VALUE (-2) on every member (team form: the status; active-set form: the job
 * ends with status 1) and dest is left alone; matching calls after a refused one still give exact sums, on
 * heap and on global (bounced) arrays. A count whose bytes overflow, or run past the symmetric heap, is refused
 * on every member (INVALID_PARAM, -1; a global array: -1 for the overflow) and the next collective works.
 * `coll_ld_agree set-count` / `set-op` are erroneous on purpose. */
#include "check.h"
#include <stdint.h>
#include <string.h>

#define NX 8
static long double GSRC[NX], GDST[NX]; /* globals: the scratch bounces them */
static long PSYNC[SHMEM_REDUCE_SYNC_SIZE];
static long double PWRK[SHMEM_REDUCE_MIN_WRKDATA_SIZE];

/* Member k contributes (k + 1) * (i + 1) to element i: the sum over n members is n (n + 1) / 2 * (i + 1). */
static void fill(long double *s, int me) {
    for (int i = 0; i < NX; i++) s[i] = (long double)(me + 1) * (i + 1);
}

static void check_sum(const long double *d, int n, int count) {
    for (int i = 0; i < count; i++) CHECK(d[i] == (long double)n * (n + 1) / 2 * (i + 1));
}

static void test_team(long double *src, long double *dst, int me, int n) {
    fill(src, me);
    for (int i = 0; i < NX; i++) dst[i] = -7.0L;
    shmem_barrier_all();
    if (n > 1) {
        /* Another count on PE 0. */
        CHECK(shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, dst, src, me == 0 ? 2 : 3) == -2);
        /* Another operator on the last PE. */
        CHECK((me == n - 1 ? shmem_longdouble_max_reduce(SHMEM_TEAM_WORLD, dst, src, 4)
                           : shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, dst, src, 4)) == -2);
        /* Both differ, and a zero count against a non-zero one. */
        CHECK((me == 0 ? shmem_longdouble_prod_reduce(SHMEM_TEAM_WORLD, dst, src, 0)
                       : shmem_longdouble_min_reduce(SHMEM_TEAM_WORLD, dst, src, 1)) == -2);
        for (int i = 0; i < NX; i++) CHECK(dst[i] == -7.0L); /* refused calls left dest alone */
    }
    /* Agreeing calls still work, exactly. */
    CHECK(shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, dst, src, NX) == 0);
    check_sum(dst, n, NX);
    CHECK(shmem_longdouble_max_reduce(SHMEM_TEAM_WORLD, dst, src, 3) == 0);
    for (int i = 0; i < 3; i++) CHECK(dst[i] == (long double)n * (i + 1));
}

/* Counts no member can reduce: the call returns -1 on every member (it must not abort allocating). */
static void test_huge(long double *src, long double *dst, int n, int heap) {
    for (int i = 0; i < NX; i++) dst[i] = -7.0L;
    shmem_barrier_all();
    CHECK(shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, dst, src, SIZE_MAX / 8) == -1);   /* bytes overflow */
    if (heap) CHECK(shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, dst, src, SIZE_MAX / 32) == -1); /* past heap */
    for (int i = 0; i < NX; i++) CHECK(dst[i] == -7.0L);
    shmem_barrier_all();
    CHECK(shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, dst, src, NX) == 0);
    check_sum(dst, n, NX);
}

static void test_set(long double *src, long double *dst, int me, int n) {
    fill(src, me);
    shmem_barrier_all();
    shmem_longdouble_sum_to_all(dst, src, NX, 0, 0, n, PWRK, PSYNC);
    check_sum(dst, n, NX);
    shmem_barrier_all();
    shmem_longdouble_sum_to_all(dst, src, 5, 0, 0, n, PWRK, PSYNC);
    check_sum(dst, n, 5);
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    for (int i = 0; i < SHMEM_REDUCE_SYNC_SIZE; i++) PSYNC[i] = SHMEM_SYNC_VALUE;
    long double *src = shmem_align(64, NX * sizeof(long double));
    long double *dst = shmem_align(64, NX * sizeof(long double));
    CHECK(src != NULL && dst != NULL);
    shmem_barrier_all();
    if (argc > 1 && strcmp(argv[1], "set-count") == 0) {
        fill(src, me);
        shmem_longdouble_sum_to_all(dst, src, me == 0 ? 2 : 3, 0, 0, n, PWRK, PSYNC);
    } else if (argc > 1 && strcmp(argv[1], "set-op") == 0) {
        fill(src, me);
        if (me == n - 1)
            shmem_longdouble_max_to_all(dst, src, 2, 0, 0, n, PWRK, PSYNC);
        else
            shmem_longdouble_sum_to_all(dst, src, 2, 0, 0, n, PWRK, PSYNC);
    } else {
        test_team(src, dst, me, n);
        test_team(GSRC, GDST, me, n);
        test_huge(src, dst, n, 1);
        test_huge(GSRC, GDST, n, 0);
        test_set(src, dst, me, n);
        test_set(GSRC, GDST, me, n);
        shmem_barrier_all();
        if (me == 0) printf("coll_ld_agree ok\n");
    }
    shmem_free(dst);
    shmem_free(src);
    shmem_finalize();
    return 0;
}
