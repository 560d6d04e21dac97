// The headers compile as C++ and the library links from C++ (oshc++).
#include <shmem.h>
#include <shmemx.h>
#include <cstdio>
#include <vector>

int main() {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    long *dst = static_cast<long *>(shmem_calloc(8, sizeof(long)));
    std::vector<long> src(8);
    for (int i = 0; i < 8; i++) src[i] = 100 * me + i;
    shmem_barrier_all();
    shmem_long_put(dst, src.data(), 8, (me + 1) % n);
    shmem_ctx_quiet(SHMEM_CTX_DEFAULT);
    shmem_barrier_all();
    int prev = (me + n - 1) % n;
    for (int i = 0; i < 8; i++) {
        if (dst[i] != 100 * prev + i) {
            std::fprintf(stderr, "PE %d: dst[%d] = %ld\n", me, i, dst[i]);
            shmem_global_exit(3);
        }
    }
    shmem_free(dst);
    shmem_finalize();
    return 0;
}
