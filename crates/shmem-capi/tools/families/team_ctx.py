"""Teams and communication contexts: their handle types and constants (declared first: RMA takes contexts)."""


def constants():
    return """\
/* Handles: opaque pointers; the INVALID handles are null, so `if (ctx == SHMEM_CTX_INVALID)` works. */
typedef struct _shmem_team_handle *shmem_team_t;
typedef struct _shmem_ctx_handle *shmem_ctx_t;
#define SHMEM_TEAM_INVALID ((shmem_team_t)0)
#define SHMEM_TEAM_WORLD ((shmem_team_t)1)
#define SHMEM_TEAM_SHARED ((shmem_team_t)2)
#define SHMEM_CTX_INVALID ((shmem_ctx_t)0)
#define SHMEM_CTX_DEFAULT ((shmem_ctx_t)1)

#define SHMEM_CTX_SERIALIZED (1L << 0)
#define SHMEM_CTX_PRIVATE (1L << 1)
#define SHMEM_CTX_NOSTORE (1L << 2)

typedef struct {
    int num_contexts;
} shmem_team_config_t;
#define SHMEM_TEAM_NUM_CONTEXTS (1L << 0)"""


def declarations():
    return ""
