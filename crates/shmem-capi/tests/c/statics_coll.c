/* Global and static variables as the dest, source, pSync and pWrk of collectives: the deprecated active-set
 * forms with static pSync/pWrk (barrier, broadcast, collect, fcollect, alltoall, alltoalls, *_to_all, long
 * double too, a strided set at 4+ PEs) and the team forms with static dest/source (broadcast, collect,
 * fcollect, alltoall, alltoalls, reduce, *mem, a split team, mixed heap/static), every result exact. A static
 * dest larger than the library's scratch: the team form returns NOT_SUPPORTED (-100) on every member;
 * argv[1] `set-too-big` does it with an active-set form (ends the job, -100). */
#include <shmem.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "check.h"

#define MAXPE 16
#define N 8

static long pSync[SHMEM_BCAST_SYNC_SIZE];     /* .bss: SHMEM_SYNC_VALUE is 0 */
static long pSync2[SHMEM_REDUCE_SYNC_SIZE];
static long pSyncB[SHMEM_BARRIER_SYNC_SIZE];
static long pWrkL[SHMEM_REDUCE_MIN_WRKDATA_SIZE + N];
static int pWrkI[SHMEM_REDUCE_MIN_WRKDATA_SIZE + N];
static long double pWrkLD[SHMEM_REDUCE_MIN_WRKDATA_SIZE + N];

static long bsrc[N], bdst[N];
static int csrc[MAXPE], cdst[MAXPE * MAXPE];
static long fsrc[N], fdst[N * MAXPE];
static int asrc[N * MAXPE], adst[N * MAXPE];
static long ssrc[2 * N * MAXPE], sdst[2 * N * MAXPE];
static long rsrc[N], rdst[N];
static int inplace[N];
static long double ldsrc[2], lddst[2];
static double dsrc[N], ddst[N * MAXPE];
static char big[2 << 20];

static void active_sets(int me, int n) {
    shmem_barrier(0, 0, n, pSyncB);
    /* broadcast64 from set index 0: the root's dest stays as it was. */
    for (int i = 0; i < N; i++) {
        bsrc[i] = me == 0 ? 100 + i : -5;
        bdst[i] = -1;
    }
    shmem_barrier(0, 0, n, pSyncB);
    shmem_broadcast64(bdst, bsrc, N, 0, 0, 0, n, pSync);
    for (int i = 0; i < N; i++) CHECK(bdst[i] == (me == 0 ? -1 : 100 + i));
    /* collect32: PE p gives p + 1 ints p*10+k. */
    for (int k = 0; k <= me; k++) csrc[k] = me * 10 + k;
    shmem_barrier(0, 0, n, pSyncB);
    shmem_collect32(cdst, csrc, me + 1, 0, 0, n, pSync);
    int at = 0;
    for (int p = 0; p < n; p++)
        for (int k = 0; k <= p; k++) CHECK(cdst[at++] == p * 10 + k);
    /* fcollect64 */
    for (int i = 0; i < N; i++) fsrc[i] = me * 1000 + i;
    shmem_barrier(0, 0, n, pSyncB);
    shmem_fcollect64(fdst, fsrc, N, 0, 0, n, pSync);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < N; i++) CHECK(fdst[p * N + i] == p * 1000 + i);
    /* alltoall32: block j of PE p is p*100+j*10+k. */
    for (int j = 0; j < n; j++)
        for (int k = 0; k < 2; k++) asrc[j * 2 + k] = me * 100 + j * 10 + k;
    shmem_barrier(0, 0, n, pSyncB);
    shmem_alltoall32(adst, asrc, 2, 0, 0, n, pSync);
    for (int p = 0; p < n; p++)
        for (int k = 0; k < 2; k++) CHECK(adst[p * 2 + k] == p * 100 + me * 10 + k);
    /* alltoalls64 with dst 2, sst 1. */
    for (int j = 0; j < n; j++) ssrc[j] = me * 100 + j;
    memset(sdst, 0, sizeof sdst);
    shmem_barrier(0, 0, n, pSyncB);
    shmem_alltoalls64(sdst, ssrc, 2, 1, 1, 0, 0, n, pSync);
    for (int p = 0; p < n; p++) CHECK(sdst[2 * p] == p * 100 + me && sdst[2 * p + 1] == 0);
    /* Reductions with static pWrk and pSync; one in place. */
    for (int i = 0; i < N; i++) {
        rsrc[i] = me + i;
        inplace[i] = me * (i + 1);
    }
    shmem_barrier(0, 0, n, pSyncB);
    shmem_long_sum_to_all(rdst, rsrc, N, 0, 0, n, pWrkL, pSync2);
    for (int i = 0; i < N; i++) CHECK(rdst[i] == (long)n * (n - 1) / 2 + (long)n * i);
    shmem_int_max_to_all(inplace, inplace, N, 0, 0, n, pWrkI, pSync2);
    for (int i = 0; i < N; i++) CHECK(inplace[i] == (n - 1) * (i + 1));
    ldsrc[0] = me + 0.5L;
    ldsrc[1] = 1.0L / 3;
    shmem_barrier(0, 0, n, pSyncB);
    shmem_longdouble_sum_to_all(lddst, ldsrc, 2, 0, 0, n, pWrkLD, pSync2);
    CHECK(lddst[0] == (long double)n * (n - 1) / 2 + 0.5L * n);
    long double third = 0;
    for (int p = 0; p < n; p++) third += 1.0L / 3;
    CHECK(lddst[1] == third);
    /* A strided set: the even PEs (0, 2) at 4+ PEs, broadcasting from set index 1 (PE 2). */
    if (n >= 4 && me % 2 == 0 && me < 4) {
        for (int i = 0; i < N; i++) {
            bsrc[i] = me * 7 + i;
            bdst[i] = -1;
        }
        shmem_barrier(0, 1, 2, pSyncB);
        shmem_broadcast64(bdst, bsrc, N, 1, 0, 1, 2, pSync);
        for (int i = 0; i < N; i++) CHECK(bdst[i] == (me == 2 ? -1 : 14 + i));
        shmem_sync(0, 1, 2, pSyncB);
    }
    shmem_barrier_all();
    for (int i = 0; i < SHMEM_BCAST_SYNC_SIZE; i++) CHECK(pSync[i] == SHMEM_SYNC_VALUE);
}

static void teams(int me, int n) {
    for (int i = 0; i < N; i++) {
        bsrc[i] = me == n - 1 ? 300 + i : -5;
        bdst[i] = -1;
    }
    shmem_barrier_all();
    CHECK(shmem_long_broadcast(SHMEM_TEAM_WORLD, bdst, bsrc, N, n - 1) == 0);
    for (int i = 0; i < N; i++) CHECK(bdst[i] == 300 + i);
    for (int k = 0; k <= me; k++) csrc[k] = me * 10 + k + 1;
    CHECK(shmem_int_collect(SHMEM_TEAM_WORLD, cdst, csrc, me + 1) == 0);
    int at = 0;
    for (int p = 0; p < n; p++)
        for (int k = 0; k <= p; k++) CHECK(cdst[at++] == p * 10 + k + 1);
    for (int i = 0; i < N; i++) dsrc[i] = me + i * 0.25;
    CHECK(shmem_double_fcollect(SHMEM_TEAM_WORLD, ddst, dsrc, N) == 0);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < N; i++) CHECK(ddst[p * N + i] == p + i * 0.25);
    for (int j = 0; j < n; j++)
        for (int k = 0; k < 3; k++) asrc[j * 3 + k] = me * 100 + j * 10 + k;
    CHECK(shmem_int_alltoall(SHMEM_TEAM_WORLD, adst, asrc, 3) == 0);
    for (int p = 0; p < n; p++)
        for (int k = 0; k < 3; k++) CHECK(adst[p * 3 + k] == p * 100 + me * 10 + k);
    for (int j = 0; j < n; j++) ssrc[2 * j] = me * 100 + j;
    memset(sdst, 0, sizeof sdst);
    CHECK(shmem_long_alltoalls(SHMEM_TEAM_WORLD, sdst, ssrc, 1, 2, 1) == 0);
    for (int p = 0; p < n; p++) CHECK(sdst[p] == p * 100 + me);
    for (int i = 0; i < N; i++) rsrc[i] = (me + 1) * (i + 1);
    CHECK(shmem_long_sum_reduce(SHMEM_TEAM_WORLD, rdst, rsrc, N) == 0);
    for (int i = 0; i < N; i++) CHECK(rdst[i] == (long)n * (n + 1) / 2 * (i + 1));
    for (int i = 0; i < N; i++) inplace[i] = me ^ i;
    CHECK(shmem_uint_xor_reduce(SHMEM_TEAM_WORLD, (unsigned int *)inplace, (unsigned int *)inplace, N) == 0);
    for (int i = 0; i < N; i++) {
        int x = 0;
        for (int p = 0; p < n; p++) x ^= p ^ i;
        CHECK(inplace[i] == x);
    }
    ldsrc[0] = me + 0.25L;
    CHECK(shmem_longdouble_max_reduce(SHMEM_TEAM_WORLD, lddst, ldsrc, 1) == 0);
    CHECK(lddst[0] == n - 1 + 0.25L);
    /* *mem forms. */
    char msg[16];
    snprintf(msg, sizeof msg, "from %d", me);
    if (me == 0) memcpy(big, msg, sizeof msg);
    CHECK(shmem_broadcastmem(SHMEM_TEAM_WORLD, big + 4096, big, sizeof msg, 0) == 0);
    CHECK(strcmp(big + 4096, "from 0") == 0);
    /* Mixed: heap dest, static source. */
    long *hdst = shmem_malloc(N * MAXPE * sizeof(long));
    CHECK(hdst != NULL);
    for (int i = 0; i < N; i++) fsrc[i] = me * 3 + i;
    CHECK(shmem_long_fcollect(SHMEM_TEAM_WORLD, hdst, fsrc, N) == 0);
    for (int p = 0; p < n; p++)
        for (int i = 0; i < N; i++) CHECK(hdst[p * N + i] == p * 3 + i);
    shmem_free(hdst);
    /* A split team (the odd PEs) with static dest and source. */
    shmem_team_t odd = SHMEM_TEAM_INVALID;
    shmem_team_split_strided(SHMEM_TEAM_WORLD, 1, 2, n / 2, NULL, 0, &odd);
    if (odd != SHMEM_TEAM_INVALID) {
        for (int i = 0; i < N; i++) rsrc[i] = me * 10 + i;
        CHECK(shmem_long_max_reduce(odd, rdst, rsrc, N) == 0);
        int top = n % 2 == 0 ? n - 1 : n - 2;
        for (int i = 0; i < N; i++) CHECK(rdst[i] == top * 10 + i);
        shmem_team_destroy(odd);
    }
    /* Larger than the scratch: NOT_SUPPORTED on every member, nothing moved. */
    big[0] = 'x';
    int rc = shmem_broadcastmem(SHMEM_TEAM_WORLD, big, big, sizeof big, 0);
    CHECK(rc == -100);
    CHECK(big[0] == (me == 0 ? 'x' : 'x'));
    shmem_barrier_all();
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    CHECK(n <= MAXPE);
    if (argc > 1 && strcmp(argv[1], "set-too-big") == 0) {
        shmem_broadcast64(big, big, sizeof big / 8, 0, 0, 0, n, pSync);
        shmem_finalize();
        return 0;
    }
    active_sets(me, n);
    teams(me, n);
    printf("statics coll ok %d\n", me);
    shmem_finalize();
    return 0;
}
