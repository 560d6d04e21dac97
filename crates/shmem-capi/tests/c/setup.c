/* Library setup and queries: init/finalize, my_pe/n_pes, accessibility, shmem_ptr, info, thread levels. */
#include <shmem.h>
#include <shmemx.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "check.h"

int main(void) {
    int provided = -1;
    CHECK(shmem_init_thread(SHMEM_THREAD_MULTIPLE, &provided) == 0);
    CHECK(provided == SHMEM_THREAD_MULTIPLE);
    shmem_init(); /* a second init has no effect */
    int q = -1;
    shmem_query_thread(&q);
    CHECK(q == SHMEM_THREAD_MULTIPLE);
    int me = shmem_my_pe(), n = shmem_n_pes();
    CHECK(me >= 0 && me < n);
    CHECK(_my_pe() == me && _num_pes() == n);
    CHECK(shmem_pe_accessible(n - 1) == 1 && shmem_pe_accessible(n) == 0 && shmem_pe_accessible(-1) == 0);
    int major = 0, minor = 0;
    shmem_info_get_version(&major, &minor);
    CHECK(major == SHMEM_MAJOR_VERSION && minor == SHMEM_MINOR_VERSION && major == 1 && minor == 5);
    char name[SHMEM_MAX_NAME_LEN];
    shmem_info_get_name(name);
    CHECK(strcmp(name, SHMEM_VENDOR_STRING) == 0);
    CHECK((shmemx_engines() & SHMEMX_ENGINE_MTE) != 0);

    int *x = shmem_malloc(sizeof(int));
    static int not_heap;
    int local = 0;
    CHECK(shmem_addr_accessible(x, (me + 1) % n) == 1);
    CHECK(shmem_addr_accessible(&local, 0) == 0);
    (void)not_heap;
    /* Every PE of this (single-node) job is reachable by load/store. */
    *x = 1000 + me;
    shmem_barrier_all();
    int *peer = shmem_ptr(x, (me + 1) % n);
    CHECK(peer != NULL && *peer == 1000 + (me + 1) % n);
    CHECK(shmem_ptr(&local, 0) == NULL);
    shmem_pcontrol(1);
    shmem_clear_cache_inv();
    shmem_set_cache_inv();
    shmem_clear_cache_line_inv(x);
    shmem_set_cache_line_inv(x);
    shmem_udcflush();
    shmem_udcflush_line(x);
    shmem_barrier_all();
    shmem_free(x);
    printf("setup ok PE %d of %d\n", me, n);
    shmem_finalize();
    shmem_finalize(); /* a second finalize has no effect */
    return 0;
}
