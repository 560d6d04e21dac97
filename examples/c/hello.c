/*
 * hello.c: the smallest OpenSHMEM program: a ring. Every PE puts its number into a symmetric int of its
 * right neighbour, waits at a barrier, and prints what its left neighbour put.
 *
 *   target/release/oshcc -o hello examples/c/hello.c && target/release/oshrun -np 4 ./hello
 */
#include <shmem.h>
#include <stdio.h>

int main(void)
{
    shmem_init();
    int me = shmem_my_pe();
    int npes = shmem_n_pes();

    /* Symmetric: the same allocation exists on every PE, so a PE can write into another's copy. */
    int *from_left = shmem_malloc(sizeof *from_left);
    if (from_left == NULL) {
        fprintf(stderr, "PE %d: shmem_malloc failed (raise SHMEM_SYMMETRIC_SIZE)\n", me);
        shmem_global_exit(1);
    }
    *from_left = -1;
    shmem_barrier_all(); /* everyone has initialised before anyone writes */

    shmem_int_put(from_left, &me, 1, (me + 1) % npes);
    shmem_barrier_all(); /* completes the puts: every PE now holds its left neighbour's number */

    printf("Hello from PE %d of %d: PE %d put %d into my memory\n", me, npes, (me + npes - 1) % npes, *from_left);
    shmem_free(from_left);
    shmem_finalize();
    return 0;
}
