/* A team context takes team PE numbers on every path, global/static variables and signal-only puts included:
 * on 4 PEs, the team {0, 2} (shmem_team_split_strided(WORLD, 0, 2, 2)) and a context made from it; team PE 1
 * is world PE 2, never world PE 1. Exact values are checked on every PE. The arguments are erroneous on
 * purpose (the job must end with the library's error): `invalid-signal` (a signal-only put on
 * SHMEM_CTX_INVALID), `nostore-static` (a put to a static variable through a CTX_NOSTORE context),
 * `nostore-signal` (a signal-only put through a CTX_NOSTORE context), `outside-team` (a static put to team
 * PE 2 of a team of 2). */
#include <shmem.h>
#include <string.h>
#include "check.h"

static int x;             /* shmem_ctx_int_p / shmem_ctx_int_g target */
static long cnt;          /* shmem_ctx_long_atomic_fetch_add target */
static uint64_t ssig;     /* static signal word, signal-only put */
static int sdata[4];      /* static data of a put-with-signal */

static int erroneous(const char *mode, uint64_t *hsig) {
    shmem_ctx_t ctx = SHMEM_CTX_INVALID;
    int me = shmem_my_pe();
    char one = 1;
    if (strcmp(mode, "invalid-signal") == 0) {
        if (me == 0) shmem_ctx_putmem_signal(SHMEM_CTX_INVALID, NULL, &one, 0, hsig, 1, SHMEM_SIGNAL_ADD, 1);
    } else if (strcmp(mode, "nostore-static") == 0) {
        CHECK(shmem_ctx_create(SHMEM_CTX_NOSTORE, &ctx) == 0);
        if (me == 0) shmem_ctx_int_p(ctx, &x, 7, 1);
    } else if (strcmp(mode, "nostore-signal") == 0) {
        CHECK(shmem_ctx_create(SHMEM_CTX_NOSTORE, &ctx) == 0);
        if (me == 0) shmem_ctx_putmem_signal(ctx, NULL, &one, 0, hsig, 1, SHMEM_SIGNAL_ADD, 1);
    } else if (strcmp(mode, "outside-team") == 0) {
        shmem_team_t pair = SHMEM_TEAM_INVALID;
        CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 1, 2, NULL, 0, &pair) == 0);
        if (me == 0) {
            CHECK(shmem_team_create_ctx(pair, 0, &ctx) == 0);
            shmem_ctx_int_p(ctx, &x, 7, 2); /* team PE 2 of a team of 2: not world PE 2 */
        }
    } else {
        return 0;
    }
    shmem_barrier_all();
    /* The PEs that made no erroneous call wait here for the job to end. */
    return 1;
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    int *hx = shmem_malloc(sizeof(int));
    uint64_t *hsig = shmem_malloc(sizeof(uint64_t));
    *hx = 0;
    *hsig = 0;
    shmem_barrier_all();
    if (argc > 1 && erroneous(argv[1], hsig)) {
        shmem_finalize();
        return 2; /* not reached: the erroneous call ends the job */
    }
    CHECK(n == 4);

    shmem_team_t even = SHMEM_TEAM_INVALID;
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 2, 2, NULL, 0, &even) == 0);
    long old = -1;
    if (me % 2 == 0) {
        CHECK(even != SHMEM_TEAM_INVALID && shmem_team_my_pe(even) == me / 2);
        shmem_ctx_t ctx = SHMEM_CTX_INVALID;
        CHECK(shmem_team_create_ctx(even, 0, &ctx) == 0 && ctx != SHMEM_CTX_INVALID);
        int other = 1 - me / 2; /* the other member, as a team PE (world PE 2 * other) */
        int vals[4] = {10 + me, 20 + me, 30 + me, 40 + me};
        shmem_ctx_int_p(ctx, &x, 100 + me, other);
        shmem_ctx_int_p(ctx, hx, 200 + me, other);
        shmem_ctx_putmem_signal(ctx, NULL, vals, 0, hsig, 5 + me, SHMEM_SIGNAL_ADD, other);
        shmem_ctx_putmem_signal(ctx, sdata, vals, sizeof vals, &ssig, 9 + me, SHMEM_SIGNAL_SET, other);
        /* Both members add to team PE 1's (world PE 2's) static counter. */
        old = shmem_ctx_long_atomic_fetch_add(ctx, &cnt, 1000 + me, 1);
        CHECK(old == 0 || old == 1000 || old == 1002);
        shmem_ctx_quiet(ctx);
        shmem_team_sync(even);
        /* Gets through the context read the other member's copies. */
        CHECK(shmem_ctx_int_g(ctx, &x, other) == 100 + me);
        CHECK(shmem_ctx_int_g(ctx, hx, other) == 200 + me);
        CHECK(shmem_ctx_long_atomic_fetch(ctx, &cnt, 1) == 2002);
        shmem_ctx_destroy(ctx);
    } else {
        CHECK(even == SHMEM_TEAM_INVALID);
    }
    shmem_barrier_all();

    if (me % 2 == 0) {
        int from = 2 - me; /* the other even PE */
        CHECK(x == 100 + from);
        CHECK(*hx == 200 + from);
        CHECK(*hsig == (uint64_t)(5 + from));
        CHECK(ssig == (uint64_t)(9 + from));
        for (int i = 0; i < 4; i++) CHECK(sdata[i] == 10 * (i + 1) + from);
        CHECK(cnt == (me == 2 ? 2002 : 0));
    } else {
        /* The odd PEs are not in the team: nothing reached them. */
        CHECK(x == 0 && *hx == 0 && *hsig == 0 && ssig == 0 && cnt == 0);
        for (int i = 0; i < 4; i++) CHECK(sdata[i] == 0);
    }
    /* Team PE 1 saw both adds: the old values were 0 and 1000 + the first adder's PE. */
    long olds[4] = {0};
    long *hold = shmem_malloc(sizeof(long));
    *hold = old;
    shmem_barrier_all();
    for (int p = 0; p < n; p++) olds[p] = shmem_long_g(hold, p);
    CHECK(olds[1] == -1 && olds[3] == -1);
    CHECK((olds[0] == 0 && olds[2] == 1000) || (olds[0] == 1002 && olds[2] == 0));
    shmem_barrier_all();
    if (even != SHMEM_TEAM_INVALID) shmem_team_destroy(even);
    shmem_free(hold);
    shmem_free(hsig);
    shmem_free(hx);
    shmem_finalize();
    printf("team ctx statics ok\n");
    return 0;
}
