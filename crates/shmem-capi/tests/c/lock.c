/* Locks: every PE takes PE 0's counter ROUNDS times under a lock and increments it with a get and a put (not
 * atomic by itself), so only mutual exclusion gives exactly n * ROUNDS; test_lock returns 0 when it takes the
 * lock and 1 while another PE holds it. `lock not-symmetric`, `lock clear-unheld` and `lock twice` are erroneous
 * on purpose: the job must end with the library's error. */
#include <shmem.h>
#include <stdint.h>
#include <string.h>
#include <sched.h>
#include "check.h"

#define ROUNDS 1000

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    long *lock = shmem_calloc(2, sizeof(long));
    long *counter = shmem_calloc(1, sizeof(long));
    int *turn = shmem_calloc(1, sizeof(int));
    if (argc > 1) {
        long local = 0;
        if (strcmp(argv[1], "not-symmetric") == 0) shmem_set_lock(&local);
        if (strcmp(argv[1], "clear-unheld") == 0) shmem_clear_lock(&lock[1]);
        if (strcmp(argv[1], "twice") == 0) {
            shmem_set_lock(&lock[0]);
            shmem_set_lock(&lock[0]); /* this PE already holds it */
        }
        return 0; /* not reached */
    }
    /* Mutual exclusion: a read-modify-write by get and put, ROUNDS times from every PE, with a window between
     * the read and the write (a yield and a short spin) in which an unlocked PE would interleave. */
    shmem_barrier_all();
    for (int r = 0; r < ROUNDS; r++) {
        if (r % 2) {
            shmem_set_lock(&lock[0]);
        } else {
            while (shmem_test_lock(&lock[0]) != 0) {
            }
        }
        long v = shmem_long_g(counter, 0);
        if (r % 8 == 0) sched_yield();
        for (volatile int k = 0; k < 200; k++) {
        }
        shmem_long_p(counter, v + 1, 0);
        shmem_quiet();
        shmem_clear_lock(&lock[0]);
    }
    shmem_barrier_all();
    CHECK(shmem_long_g(counter, 0) == (long)n * ROUNDS);
    /* test_lock: 0 when it takes the free lock, 1 while another PE holds it; PEs take turns on lock[1]. */
    for (int holder = 0; holder < n; holder++) {
        if (me == holder) CHECK(shmem_test_lock(&lock[1]) == 0);
        shmem_barrier_all();
        if (me != holder) CHECK(shmem_test_lock(&lock[1]) == 1);
        shmem_barrier_all();
        if (me == holder) shmem_clear_lock(&lock[1]);
        shmem_barrier_all();
    }
    /* Free again: every PE takes it once in turn with set_lock. */
    shmem_set_lock(&lock[1]);
    int t = shmem_int_atomic_fetch_inc(turn, 0);
    CHECK(t >= 0 && t < n);
    shmem_clear_lock(&lock[1]);
    shmem_barrier_all();
    CHECK(shmem_int_atomic_fetch(turn, 0) == n);
    shmem_barrier_all();
    if (me == 0) printf("lock ok\n");
    shmem_free(turn);
    shmem_free(counter);
    shmem_free(lock);
    shmem_finalize();
    return 0;
}
