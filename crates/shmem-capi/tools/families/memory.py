"""Memory management: the symmetric heap allocators."""


def constants():
    return """\
#define SHMEM_MALLOC_ATOMICS_REMOTE (1L << 0)
#define SHMEM_MALLOC_SIGNAL_REMOTE (1L << 1)"""


def declarations():
    return """\
void *shmem_malloc(size_t size);
void *shmem_calloc(size_t count, size_t size);
void *shmem_align(size_t alignment, size_t size);
void *shmem_realloc(void *ptr, size_t size);
void *shmem_malloc_with_hints(size_t size, long hints);
void shmem_free(void *ptr);

/* Deprecated forms the spec still lists. */
void *shmalloc(size_t size) _SHMEM_DEPRECATED;
void *shmemalign(size_t alignment, size_t size) _SHMEM_DEPRECATED;
void *shrealloc(void *ptr, size_t size) _SHMEM_DEPRECATED;
void shfree(void *ptr) _SHMEM_DEPRECATED;"""
