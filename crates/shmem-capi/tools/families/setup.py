"""Library setup, exit and query routines; library constants; threads; the shmemx extensions of setup."""


def constants():
    return """\
#define SHMEM_MAJOR_VERSION 1
#define SHMEM_MINOR_VERSION 5
#define _SHMEM_MAJOR_VERSION SHMEM_MAJOR_VERSION
#define _SHMEM_MINOR_VERSION SHMEM_MINOR_VERSION
#define SHMEM_MAX_NAME_LEN 256
#define _SHMEM_MAX_NAME_LEN SHMEM_MAX_NAME_LEN
#define SHMEM_VENDOR_STRING "shmem-rs"
#define _SHMEM_VENDOR_STRING SHMEM_VENDOR_STRING

#define SHMEM_THREAD_SINGLE 0
#define SHMEM_THREAD_FUNNELED 1
#define SHMEM_THREAD_SERIALIZED 2
#define SHMEM_THREAD_MULTIPLE 3"""


def declarations():
    return """\
void shmem_init(void);
int shmem_init_thread(int requested, int *provided);
void shmem_query_thread(int *provided);
void shmem_finalize(void);
void shmem_global_exit(int status) _SHMEM_NORETURN;
int shmem_my_pe(void);
int shmem_n_pes(void);
int shmem_pe_accessible(int pe);
int shmem_addr_accessible(const void *addr, int pe);
void *shmem_ptr(const void *dest, int pe);
void shmem_info_get_version(int *major, int *minor);
void shmem_info_get_name(char *name);
void shmem_pcontrol(const int level, ...);

/* Deprecated forms the spec still lists. */
void start_pes(int npes) _SHMEM_DEPRECATED;
int _my_pe(void) _SHMEM_DEPRECATED;
int _num_pes(void) _SHMEM_DEPRECATED;
/* Cache management (deprecated since OpenSHMEM 1.3; no effect on coherent hardware). */
void shmem_clear_cache_inv(void) _SHMEM_DEPRECATED;
void shmem_set_cache_inv(void) _SHMEM_DEPRECATED;
void shmem_clear_cache_line_inv(void *dest) _SHMEM_DEPRECATED;
void shmem_set_cache_line_inv(void *dest) _SHMEM_DEPRECATED;
void shmem_udcflush(void) _SHMEM_DEPRECATED;
void shmem_udcflush_line(void *dest) _SHMEM_DEPRECATED;"""


def extensions():
    return """\
/* The data-op engines of the Ascend SHMEM API (bit set): shmemx_init_attr's `engines`. */
#define SHMEMX_ENGINE_MTE 1
#define SHMEMX_ENGINE_SDMA 2
#define SHMEMX_ENGINE_ROCE 4
#define SHMEMX_ENGINE_TCP 16

/* The engines this PE uses (bit set of SHMEMX_ENGINE_*), after init. */
int shmemx_engines(void);
/* The numeric code (api.md: 0 success, negative errors) of the last failed call of this thread that
 * returns a status, and its message; 0 and "" when none failed. */
int shmemx_last_error(char *message, size_t capacity);"""
