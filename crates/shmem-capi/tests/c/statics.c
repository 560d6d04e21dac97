/* Global and static variables as symmetric data (OpenSHMEM's "data objects with static storage duration"):
 * put/get/p/g/iput/iget, _nbi and ctx_ forms, put-with-signal and signal_fetch into a peer's globals, a 1 MiB
 * .bss array, an initialized .data value that must survive the library's remap, shmem_ptr and
 * shmem_addr_accessible. Erroneous cases (argv[1]): `past-end` (a range leaving the static data: -1),
 * `misaligned-signal` (a signal word not 8-aligned: -1), `other-node` (each PE its own node: -100, naming
 * static/global variables). Also compiled -no-pie and -pie. */
#define _POSIX_C_SOURCE 200809L
#include <shmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "check.h"

#define ARR 1000
#define BIG (1 << 20)

static int s_int;                       /* .bss, file-local */
long arr[ARR];                          /* .bss, global */
double g = 2.5;                         /* .data: the initial value must be there after shmem_init */
int init_arr[4] = {1, 2, 3, 4};         /* .data */
static unsigned char big[BIG];          /* 1 MiB of .bss */
static unsigned char bigsrc[BIG];
static uint64_t sig;                    /* a signal word */
static uint64_t sig_count;              /* every PE adds 1 here on PE 0 */
static long pdata[16];
static long slots[64];                  /* PE p writes slots[p] on PE 0 */
extern char end[];                      /* the linker's end of .bss */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Polls the local static signal word until it equals `want` (bounded: 20 s). */
static void wait_signal(uint64_t *word, uint64_t want) {
    double t0 = now();
    while (shmem_signal_fetch(word) != want) CHECK(now() - t0 < 20.0);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "other-node") == 0) {
        /* Before init: every PE claims a node of its own, so no peer shares this PE's memory. */
        char node[32];
        snprintf(node, sizeof node, "statics-node-%s", getenv("SHMEM_PE") ? getenv("SHMEM_PE") : "x");
        setenv("SHMEM_NODE_ID", node, 1);
        setenv("SHMEM_DATA_OP_ENGINE", "TCP", 1); /* the heap still reaches the other "node" */
    }
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    int right = (me + 1) % n, left = (me + n - 1) % n;
    CHECK(g == 2.5);
    CHECK(init_arr[0] == 1 && init_arr[3] == 4);
    CHECK(s_int == 0 && arr[ARR - 1] == 0 && big[BIG - 1] == 0);

    if (argc > 1 && strcmp(argv[1], "past-end") == 0) {
        uintptr_t stop = ((uintptr_t)end + 4095) & ~(uintptr_t)4095; /* the page-rounded end of .bss */
        long v[4] = {0};
        shmem_putmem((void *)(stop - 8), v, sizeof v, right); /* 8 bytes in, 24 past the end */
        return 0;                                              /* not reached */
    }
    if (argc > 1 && strcmp(argv[1], "misaligned-signal") == 0) {
        long v = 1;
        shmem_long_put_signal(pdata, &v, 1, (uint64_t *)((char *)&sig + 4), 1, SHMEM_SIGNAL_SET, right);
        return 0; /* not reached */
    }
    if (argc > 1 && strcmp(argv[1], "other-node") == 0) {
        shmem_int_p(&s_int, 1, right); /* the peer is on another node */
        CHECK(n == 1);                 /* reached only when the peer is this PE */
        shmem_finalize();
        return 0;
    }

    /* p / g on a file-local static int. */
    shmem_barrier_all();
    shmem_int_p(&s_int, me * 10 + 1, right);
    shmem_barrier_all();
    CHECK(s_int == left * 10 + 1);
    CHECK(shmem_int_g(&s_int, right) == me * 10 + 1);

    /* put / get of a global array. */
    long src[ARR], got[ARR];
    for (int i = 0; i < ARR; i++) src[i] = me * 100000L + i;
    shmem_long_put(arr, src, ARR, right);
    shmem_barrier_all();
    for (int i = 0; i < ARR; i++) CHECK(arr[i] == left * 100000L + i);
    memset(got, 0, sizeof got);
    shmem_long_get(got, arr, ARR, right); /* right's arr came from me */
    for (int i = 0; i < ARR; i++) CHECK(got[i] == me * 100000L + i);
    shmem_barrier_all();

    /* g on an initialized double, changed per PE. */
    g = 2.5 + me;
    shmem_barrier_all();
    CHECK(shmem_double_g(&g, right) == 2.5 + right);
    double gv = 0;
    shmem_double_get(&gv, &g, 1, left);
    CHECK(gv == 2.5 + left);
    shmem_barrier_all();

    /* iput / iget: every other element. */
    for (int i = 0; i < ARR / 2; i++) src[i] = me * 7L + i;
    shmem_long_iput(arr, src, 2, 1, ARR / 2, right);
    shmem_barrier_all();
    for (int i = 0; i < ARR / 2; i++) {
        CHECK(arr[2 * i] == left * 7L + i);
        CHECK(arr[2 * i + 1] == left * 100000L + 2 * i + 1);
    }
    memset(got, 0, sizeof got);
    shmem_long_iget(got, arr, 1, 2, ARR / 2, right);
    for (int i = 0; i < ARR / 2; i++) CHECK(got[i] == me * 7L + i);
    shmem_barrier_all();

    /* _nbi and ctx_ forms, sized forms. */
    for (int i = 0; i < ARR; i++) src[i] = -(me * 1000L + i);
    shmem_long_put_nbi(arr, src, ARR, right);
    shmem_quiet();
    shmem_barrier_all();
    for (int i = 0; i < ARR; i++) CHECK(arr[i] == -(left * 1000L + i));
    memset(got, 0, sizeof got);
    shmem_ctx_long_get(SHMEM_CTX_DEFAULT, got, arr, ARR, left);
    for (int i = 0; i < ARR; i++) CHECK(got[i] == -(((left + n - 1) % n) * 1000L + i));
    shmem_barrier_all();
    int iv[4] = {me, me + 1, me + 2, me + 3};
    shmem_put32(init_arr, iv, 4, right);
    shmem_barrier_all();
    for (int i = 0; i < 4; i++) CHECK(init_arr[i] == left + i);

    /* 1 MiB of .bss. */
    for (int i = 0; i < BIG; i++) bigsrc[i] = (unsigned char)(i * 31 + me);
    shmem_putmem(big, bigsrc, BIG, right);
    shmem_barrier_all();
    for (int i = 0; i < BIG; i++) CHECK(big[i] == (unsigned char)(i * 31 + left));
    shmem_getmem_nbi(bigsrc, big, BIG, right); /* right's big came from me */
    shmem_quiet();
    for (int i = 0; i < BIG; i++) CHECK(bigsrc[i] == (unsigned char)(i * 31 + me));
    shmem_barrier_all();

    /* put-with-signal: data then signal into the right neighbour's statics; it waits on its own word. */
    long pd[16];
    for (int i = 0; i < 16; i++) pd[i] = me * 16L + i + 1;
    shmem_long_put_signal(pdata, pd, 16, &sig, (uint64_t)me + 100, SHMEM_SIGNAL_SET, right);
    wait_signal(&sig, (uint64_t)left + 100);
    for (int i = 0; i < 16; i++) CHECK(pdata[i] == left * 16L + i + 1);
    /* SIGNAL_ADD from every PE into PE 0, data into its own slot. */
    long mine = 1000 + me;
    shmem_putmem_signal_nbi(&slots[me], &mine, sizeof mine, &sig_count, 1, SHMEM_SIGNAL_ADD, 0);
    shmem_quiet();
    if (me == 0) {
        wait_signal(&sig_count, (uint64_t)n);
        for (int p = 0; p < n; p++) CHECK(slots[p] == 1000 + p);
    }
    shmem_barrier_all();

    /* Mixed: heap data with a static signal, static data with a heap signal. */
    long *heap = shmem_calloc(16, sizeof(long));
    uint64_t *hsig = shmem_calloc(1, sizeof(uint64_t));
    shmem_barrier_all();
    sig = 0;
    shmem_barrier_all();
    shmem_long_put_signal(heap, pd, 16, &sig, 7, SHMEM_SIGNAL_SET, right);
    wait_signal(&sig, 7);
    for (int i = 0; i < 16; i++) CHECK(heap[i] == left * 16L + i + 1);
    shmem_barrier_all();
    for (int i = 0; i < 16; i++) pd[i] = -pd[i];
    shmem_long_put_signal(pdata, pd, 16, hsig, 9, SHMEM_SIGNAL_ADD, right);
    {
        double t0 = now();
        while (shmem_signal_fetch(hsig) != 9) CHECK(now() - t0 < 20.0);
    }
    for (int i = 0; i < 16; i++) CHECK(pdata[i] == -(left * 16L + i + 1));
    shmem_barrier_all();

    /* Zero-length transfers do nothing, whatever the addresses (null included); a zero-length put-with-signal
     * still delivers its signal. */
    shmem_putmem(NULL, NULL, 0, right);
    shmem_getmem_nbi(NULL, NULL, 0, left);
    shmem_int_iput(NULL, NULL, 1, 1, 0, right);
    shmem_long_get(got, arr, 0, right);
    shmem_barrier_all();
    sig = 0;
    shmem_barrier_all();
    shmem_putmem_signal(pdata, pd, 0, &sig, 11, SHMEM_SIGNAL_SET, right);
    wait_signal(&sig, 11);
    for (int i = 0; i < 16; i++) CHECK(pdata[i] == -(left * 16L + i + 1)); /* unchanged */
    *hsig = 0;
    shmem_barrier_all();
    shmem_putmem_signal_nbi(NULL, NULL, 0, hsig, 5, SHMEM_SIGNAL_ADD, right); /* heap signal, no data */
    shmem_quiet();
    {
        double t0 = now();
        while (shmem_signal_fetch(hsig) != 5) CHECK(now() - t0 < 20.0);
    }
    shmem_barrier_all();

    /* shmem_ptr and shmem_addr_accessible. */
    int *rp = shmem_ptr(&s_int, right);
    CHECK(rp != NULL);
    CHECK(*rp == me * 10 + 1);
    *rp = 4242 + me;
    shmem_barrier_all();
    CHECK(s_int == 4242 + left);
    CHECK(shmem_ptr(&s_int, me) == &s_int);
    CHECK(shmem_addr_accessible(&s_int, right) == 1);
    CHECK(shmem_addr_accessible(big, left) == 1);
    int on_stack = 0;
    CHECK(shmem_addr_accessible(&on_stack, right) == 0);
    CHECK(shmem_ptr(&on_stack, right) == NULL);
    shmem_barrier_all();

    shmem_free(hsig);
    shmem_free(heap);
    shmem_barrier_all();
    printf("statics ok %d\n", me);
    shmem_finalize();
    return 0;
}
