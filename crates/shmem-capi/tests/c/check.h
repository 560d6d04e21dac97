/* Shared by the C test programs: CHECK ends the job with status 3 and a message naming the failed check. */
#ifndef SHMEM_CAPI_TEST_CHECK_H
#define SHMEM_CAPI_TEST_CHECK_H
#include <shmem.h>
#include <stdio.h>

#define CHECK(cond)                                                                                   \
    do {                                                                                              \
        if (!(cond)) {                                                                                \
            fprintf(stderr, "PE %d: %s:%d: check failed: %s\n", shmem_my_pe(), __FILE__, __LINE__, #cond); \
            shmem_global_exit(3);                                                                     \
        }                                                                                             \
    } while (0)

#endif
