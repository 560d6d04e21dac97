/* collect with global/static dest and source and a different nelems on every PE (PE p contributes (p+1)*K
 * longs), so that the result is at least 64 KiB (the network algorithms' range, SHMEM_COLL_NET_MIN) and the
 * bounced source differs in length per PE: the team form and the active-set form, every element exact. */
#include <shmem.h>
#include <stdint.h>
#include <stdio.h>
#include "check.h"

#define MAXPE 4
#define K 4096

static long src[MAXPE * K];
static long dst[MAXPE * (MAXPE + 1) / 2 * K + 1]; /* + 1: a guard past the largest result */
static long pSync[SHMEM_COLLECT_SYNC_SIZE];

static void check_dst(int n, const char *what) {
    size_t at = 0;
    for (int p = 0; p < n; p++) {
        for (size_t i = 0; i < (size_t)(p + 1) * K; i++, at++) {
            if (dst[at] != p * 1000000L + (long)i) {
                fprintf(stderr, "PE %d: %s: dst[%zu] = %ld, want %ld (block of PE %d)\n", shmem_my_pe(), what, at,
                        dst[at], p * 1000000L + (long)i, p);
                shmem_global_exit(3);
            }
        }
    }
    CHECK(dst[at] == -1); /* nothing past the result */
}

static void reset(int me, int n) {
    for (size_t i = 0; i < sizeof dst / sizeof dst[0]; i++) dst[i] = -1;
    for (size_t i = 0; i < (size_t)(me + 1) * K; i++) src[i] = me * 1000000L + (long)i;
    CHECK((size_t)n * (n + 1) / 2 * K * sizeof(long) >= 64 * 1024 || n < 2);
}

int main(void) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    CHECK(n <= MAXPE);
    size_t nelems = (size_t)(me + 1) * K;
    reset(me, n);
    shmem_barrier_all();
    CHECK(shmem_long_collect(SHMEM_TEAM_WORLD, dst, src, nelems) == 0);
    check_dst(n, "shmem_long_collect");
    shmem_barrier_all();
    reset(me, n);
    shmem_barrier_all();
    shmem_collect64(dst, src, nelems, 0, 0, n, pSync);
    check_dst(n, "shmem_collect64");
    shmem_barrier_all();
    shmem_finalize();
    printf("statics collect ok\n");
    return 0;
}
