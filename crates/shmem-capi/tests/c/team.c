/* Teams and contexts: queries, strided and 2-D splits, configs, team sync, contexts (plain, private, nostore,
 * from a team) with exact values. `team destroy-world`, `team nostore-put` and `team bad-ctx-destroy` are
 * erroneous on purpose: the job must end with the library's error. */
#include <shmem.h>
#include <shmemx.h>
#include <string.h>
#include "check.h"

#define N 8

static void test_world(int me, int n) {
    CHECK(shmem_team_my_pe(SHMEM_TEAM_WORLD) == me);
    CHECK(shmem_team_n_pes(SHMEM_TEAM_WORLD) == n);
    /* One node: the shared team is the world. */
    CHECK(shmem_team_n_pes(SHMEM_TEAM_SHARED) == n);
    CHECK(shmem_team_my_pe(SHMEM_TEAM_SHARED) == me);
    CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, n - 1, SHMEM_TEAM_SHARED) == n - 1);
    CHECK(shmem_team_my_pe(SHMEM_TEAM_INVALID) == -1);
    CHECK(shmem_team_n_pes(SHMEM_TEAM_INVALID) == -1);
    CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, n, SHMEM_TEAM_WORLD) == -1);
    CHECK(shmem_team_translate_pe(SHMEM_TEAM_INVALID, 0, SHMEM_TEAM_WORLD) == -1);
    CHECK(shmem_team_sync(SHMEM_TEAM_WORLD) == 0);
    shmem_team_config_t cfg = {.num_contexts = 99};
    CHECK(shmem_team_get_config(SHMEM_TEAM_WORLD, SHMEM_TEAM_NUM_CONTEXTS, &cfg) == 0);
    CHECK(cfg.num_contexts == 0);
    cfg.num_contexts = 99;
    CHECK(shmem_team_get_config(SHMEM_TEAM_WORLD, 0, &cfg) == 0 && cfg.num_contexts == 99); /* mask: untouched */
    CHECK(shmem_team_get_config(SHMEM_TEAM_WORLD, 0, NULL) == 0);               /* nothing asked */
    CHECK(shmem_team_get_config(SHMEM_TEAM_INVALID, 0, NULL) != 0);
    CHECK(shmem_team_get_config(SHMEM_TEAM_WORLD, SHMEM_TEAM_NUM_CONTEXTS, NULL) == -1);
}

/* The team of even PEs, made with num_contexts = 2: numbers, translation, config, sync, contexts. */
static void test_strided(int me, int n) {
    int evens = (n + 1) / 2;
    shmem_team_t even = SHMEM_TEAM_WORLD;
    int *buf = shmem_malloc(N * sizeof(int));
    shmem_team_config_t cfg = {.num_contexts = 2};
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 2, evens, &cfg, SHMEM_TEAM_NUM_CONTEXTS, &even) == 0);
    if (me % 2 == 1) {
        CHECK(even == SHMEM_TEAM_INVALID);
        CHECK(shmem_team_my_pe(even) == -1);
        CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, me, even) == -1);
        shmem_barrier_all();
        shmem_free(buf);
        return;
    }
    CHECK(even != SHMEM_TEAM_INVALID);
    int tme = shmem_team_my_pe(even), tn = shmem_team_n_pes(even);
    CHECK(tme == me / 2 && tn == evens);
    CHECK(shmem_team_translate_pe(even, tn - 1, SHMEM_TEAM_WORLD) == 2 * (tn - 1));
    CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, me, even) == me / 2);
    if (n > 1) CHECK(shmem_team_translate_pe(SHMEM_TEAM_WORLD, 1, even) == -1);
    shmem_team_config_t got = {.num_contexts = -5};
    CHECK(shmem_team_get_config(even, SHMEM_TEAM_NUM_CONTEXTS, &got) == 0 && got.num_contexts == 2);
    CHECK(shmem_team_sync(even) == 0);

    /* A team context takes team PE numbers: put to the next team member = world PE 2*((tme+1)%tn). */
    shmem_ctx_t c1 = SHMEM_CTX_INVALID, c2 = SHMEM_CTX_INVALID, c3 = SHMEM_CTX_DEFAULT;
    CHECK(shmem_team_create_ctx(even, 0, &c1) == 0 && c1 != SHMEM_CTX_INVALID);
    CHECK(shmem_team_create_ctx(even, SHMEM_CTX_PRIVATE, &c2) == 0 && c2 != SHMEM_CTX_INVALID && c2 != c1);
    /* num_contexts = 2: a third live context is refused with INVALID_VALUE. */
    CHECK(shmem_team_create_ctx(even, 0, &c3) == -2 && c3 == SHMEM_CTX_INVALID);
    shmem_team_t t = SHMEM_TEAM_INVALID;
    CHECK(shmem_ctx_get_team(c1, &t) == 0 && t == even);
    for (int i = 0; i < N; i++) buf[i] = -1;
    int src[N];
    for (int i = 0; i < N; i++) src[i] = 100 * me + i;
    shmem_team_sync(even);
    shmem_ctx_int_put(c1, buf, src, N, (tme + 1) % tn);
    shmem_ctx_quiet(c1);
    shmem_team_sync(even);
    int from = 2 * ((tme + tn - 1) % tn);
    for (int i = 0; i < N; i++) CHECK(buf[i] == 100 * from + i);
    /* Get through the private context from team PE tn-1 (world 2*(tn-1)). */
    int got2[N];
    memset(got2, 0, sizeof got2);
    shmem_ctx_int_get(c2, got2, buf, N, tn - 1);
    int from_last = 2 * ((tn - 1 + tn - 1) % tn);
    for (int i = 0; i < N; i++) CHECK(got2[i] == 100 * from_last + i);
    shmem_ctx_destroy(c2);
    /* A freed slot can be used again. */
    CHECK(shmem_team_create_ctx(even, 0, &c3) == 0 && c3 != SHMEM_CTX_INVALID);
    shmem_ctx_destroy(c3);
    shmem_ctx_destroy(c1);
    shmem_team_sync(even);
    shmem_team_destroy(even);
    CHECK(shmem_team_my_pe(even) == -1); /* destroyed */
    shmem_barrier_all();
    shmem_free(buf);
}

static void test_2d(int me, int n) {
    shmem_team_t x = SHMEM_TEAM_INVALID, y = SHMEM_TEAM_INVALID;
    int xr = 2;
    CHECK(shmem_team_split_2d(SHMEM_TEAM_WORLD, xr, NULL, 0, &x, NULL, 0, &y) == 0);
    int row = me / xr, col = me % xr;
    int xn = (n - row * xr) < xr ? (n - row * xr) : xr;
    int yn = 0;
    for (int k = 0; k < n; k++) yn += (k % xr == col);
    CHECK(shmem_team_my_pe(x) == col && shmem_team_n_pes(x) == xn);
    CHECK(shmem_team_my_pe(y) == row && shmem_team_n_pes(y) == yn);
    CHECK(shmem_team_translate_pe(x, 0, SHMEM_TEAM_WORLD) == row * xr);
    CHECK(shmem_team_translate_pe(y, 0, SHMEM_TEAM_WORLD) == col);
    CHECK(shmem_team_sync(x) == 0 && shmem_team_sync(y) == 0);
    shmem_team_destroy(y);
    shmem_team_destroy(x);
    /* Each axis team gets its own configuration: rows one context, columns the default (no limit). */
    shmem_team_config_t xc = {.num_contexts = 1}, got = {.num_contexts = -7};
    CHECK(shmem_team_split_2d(SHMEM_TEAM_WORLD, xr, &xc, SHMEM_TEAM_NUM_CONTEXTS, &x, NULL, 0, &y) == 0);
    CHECK(shmem_team_get_config(x, SHMEM_TEAM_NUM_CONTEXTS, &got) == 0 && got.num_contexts == 1);
    CHECK(shmem_team_get_config(y, SHMEM_TEAM_NUM_CONTEXTS, &got) == 0 && got.num_contexts == 0);
    shmem_ctx_t c1 = SHMEM_CTX_INVALID, c2 = SHMEM_CTX_INVALID;
    CHECK(shmem_team_create_ctx(x, 0, &c1) == 0 && c1 != SHMEM_CTX_INVALID);
    CHECK(shmem_team_create_ctx(x, 0, &c2) != 0 && c2 == SHMEM_CTX_INVALID); /* the row's one context is taken */
    shmem_ctx_destroy(c1);
    shmem_team_destroy(y);
    shmem_team_destroy(x);
}

static void test_bad_splits(int me, int n) {
    shmem_team_t t = SHMEM_TEAM_WORLD;
    /* A stride of 0: INVALID_PARAM on every PE, the handle left invalid. */
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 0, 2, NULL, 0, &t) == -1 && t == SHMEM_TEAM_INVALID);
    char msg[256] = "";
    CHECK(shmemx_last_error(msg, sizeof msg) == -1 && strstr(msg, "stride") != NULL); /* the recorded error */
    /* Past the end of the parent. */
    t = SHMEM_TEAM_WORLD;
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 1, n + 1, NULL, 0, &t) == -1 && t == SHMEM_TEAM_INVALID);
    /* A config mask bit the spec does not define, on one PE only: every PE fails. */
    t = SHMEM_TEAM_WORLD;
    long mask = me == 0 ? (1L << 5) : 0;
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 1, n, NULL, mask, &t) != 0 && t == SHMEM_TEAM_INVALID);
    if (me == 0) CHECK(shmemx_last_error(msg, sizeof msg) == -1 && strstr(msg, "team config mask") != NULL);
    /* A NULL new_team on the last PE only: it still takes part, so every PE fails (that one with
     * INVALID_PARAM), and the next collectives pair up as written. */
    t = SHMEM_TEAM_WORLD;
    int rc = shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 1, n, NULL, 0, me == n - 1 ? NULL : &t);
    CHECK(me == n - 1 ? rc == -1 : rc != 0 && t == SHMEM_TEAM_INVALID);
    if (me == n - 1) CHECK(shmemx_last_error(msg, sizeof msg) == -1 && strstr(msg, "new_team is NULL") != NULL);
    int *word = shmem_calloc(1, sizeof(int));
    shmem_int_p(word, 100 + me, (me + 1) % n);
    shmem_barrier_all();
    CHECK(*word == 100 + (me + n - 1) % n);
    CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, 0, 1, n, NULL, 0, &t) == 0 && shmem_team_my_pe(t) == me);
    shmem_team_destroy(t);
    shmem_free(word);
    shmem_team_t a = SHMEM_TEAM_WORLD, b = SHMEM_TEAM_WORLD;
    CHECK(shmem_team_split_2d(SHMEM_TEAM_WORLD, 0, NULL, 0, &a, NULL, 0, &b) == -1);
    CHECK(a == SHMEM_TEAM_INVALID && b == SHMEM_TEAM_INVALID);
    /* An invalid team: no collective, an error code. */
    CHECK(shmem_team_sync(SHMEM_TEAM_INVALID) == -1);
    shmem_team_config_t cfg;
    CHECK(shmem_team_get_config(SHMEM_TEAM_INVALID, SHMEM_TEAM_NUM_CONTEXTS, &cfg) == -1);
    CHECK(shmem_team_get_config(SHMEM_TEAM_WORLD, 1L << 7, &cfg) == -1);
    CHECK(shmem_team_split_strided(SHMEM_TEAM_INVALID, 0, 1, 1, NULL, 0, &t) == -1 && t == SHMEM_TEAM_INVALID);
    shmem_team_destroy(SHMEM_TEAM_INVALID); /* nothing to do */
    shmem_ctx_t c = SHMEM_CTX_DEFAULT;
    CHECK(shmem_team_create_ctx(SHMEM_TEAM_INVALID, 0, &c) == -1 && c == SHMEM_CTX_INVALID);
    shmem_barrier_all();
}

static void test_ctx(int me, int n) {
    int next = (me + 1) % n, prev = (me + n - 1) % n;
    long *buf = shmem_calloc(N, sizeof(long));
    shmem_ctx_t c = SHMEM_CTX_INVALID;
    CHECK(shmem_ctx_create(SHMEM_CTX_SERIALIZED, &c) == 0 && c != SHMEM_CTX_INVALID && c != SHMEM_CTX_DEFAULT);
    shmem_team_t t = SHMEM_TEAM_INVALID;
    CHECK(shmem_ctx_get_team(c, &t) == 0 && t == SHMEM_TEAM_WORLD);
    CHECK(shmem_ctx_get_team(SHMEM_CTX_DEFAULT, &t) == 0 && t == SHMEM_TEAM_WORLD);
    t = SHMEM_TEAM_WORLD;
    CHECK(shmem_ctx_get_team(SHMEM_CTX_INVALID, &t) == -1 && t == SHMEM_TEAM_INVALID);
    long src[N];
    for (int i = 0; i < N; i++) src[i] = 1000L * me + 7 * i;
    shmem_barrier_all();
    shmem_ctx_long_put_nbi(c, buf, src, N, next);
    shmem_ctx_quiet(c);
    shmem_barrier_all();
    for (int i = 0; i < N; i++) CHECK(buf[i] == 1000L * prev + 7 * i);
    shmem_ctx_destroy(c);
    /* Private and nostore contexts: gets work on a nostore context. */
    shmem_ctx_t p = SHMEM_CTX_INVALID, ns = SHMEM_CTX_INVALID;
    CHECK(shmem_ctx_create(SHMEM_CTX_PRIVATE, &p) == 0 && p != SHMEM_CTX_INVALID);
    CHECK(shmem_ctx_create(SHMEM_CTX_NOSTORE, &ns) == 0 && ns != SHMEM_CTX_INVALID && ns != p);
    long got[N];
    shmem_ctx_long_get(ns, got, buf, N, next); /* next holds what I put there */
    for (int i = 0; i < N; i++) CHECK(got[i] == src[i]);
    shmem_barrier_all(); /* next has read my buf */
    shmem_ctx_long_p(p, &buf[0], 5, me);
    shmem_ctx_quiet(p);
    CHECK(buf[0] == 5);
    shmem_ctx_destroy(ns);
    shmem_ctx_destroy(p);
    /* Unknown option bits: INVALID_PARAM, the handle invalid. */
    c = SHMEM_CTX_DEFAULT;
    CHECK(shmem_ctx_create(1L << 9, &c) == -1 && c == SHMEM_CTX_INVALID);
    shmem_ctx_destroy(SHMEM_CTX_INVALID); /* nothing to do */
    shmem_barrier_all();
    shmem_free(buf);
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    if (argc > 1 && strcmp(argv[1], "destroy-world") == 0) {
        shmem_team_destroy(SHMEM_TEAM_WORLD);
    } else if (argc > 1 && strcmp(argv[1], "nostore-put") == 0) {
        shmem_ctx_t ns;
        CHECK(shmem_ctx_create(SHMEM_CTX_NOSTORE, &ns) == 0);
        int *x = shmem_malloc(sizeof(int));
        shmem_ctx_int_p(ns, x, 1, (me + 1) % n);
    } else if (argc > 1 && strcmp(argv[1], "bad-ctx-destroy") == 0) {
        shmem_ctx_destroy(SHMEM_CTX_DEFAULT);
    } else {
        test_world(me, n);
        test_strided(me, n);
        test_2d(me, n);
        test_bad_splits(me, n);
        test_ctx(me, n);
        shmem_barrier_all();
        if (me == 0) printf("team ok\n");
    }
    shmem_finalize();
    return 0;
}
