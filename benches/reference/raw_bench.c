/*
 * raw_bench.c - physical reference numbers, no SHMEM/MPI involved.
 *
 * Build:  gcc -O2 -o raw_bench raw_bench.c
 * Run:    ./raw_bench [-g lat,bw] [-m maxbytes] [-q] [-b batches] [-t batch_ms]
 *
 * Two processes (fork) share one anonymous MAP_SHARED mapping.  Nothing is
 * pinned (the target machine has 2 cores; the scheduler places the two
 * spinning processes on different cores by itself).
 *
 *   handoff_lat  one-way latency of a release-store flag hand-off with an
 *                N-byte payload (N = 0, 8, 64, 512, 4096; N = 0 is the bare
 *                flag).  Ping-pong: the parent memcpy's N bytes into the
 *                shared "ping" buffer, then __atomic_store_n(flag_a, seq,
 *                RELEASE); the child spins with __atomic_load_n(ACQUIRE) on
 *                flag_a, memcpy's N bytes into the "pong" buffer and
 *                release-stores seq to flag_b, which the parent spins on.
 *                The two flags live on different 128-byte blocks (different
 *                cache lines, and not adjacent-line-prefetch partners).
 *                value = round trip / 2 [ns].
 *   memcpy_bw    single-thread memcpy between two distinct pre-touched private
 *                buffers, sizes 4 KiB .. 256 MiB (x4 steps) [GB/s, 1e9 bytes
 *                copied per second; bytes counted once, not read+write].
 *
 * Method as in osh_bench.c (initial ~50 ms ping-pong warm-up, then per
 * measurement): calibrate iterations until one batch takes the
 * target time (doubles as warm-up), one warm-up batch, N timed batches; the
 * median per-iteration time over batches is reported.  Output on stdout:
 *
 *   raw <metric> <size_bytes> <value> <unit>
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LAT_MAX 4096
#define MAX_BATCHES 64
#define STOP UINT64_MAX

struct shared {
    _Alignas(128) uint64_t flag_a;     /* parent -> child */
    _Alignas(128) uint64_t flag_b;     /* child -> parent */
    _Alignas(128) uint64_t size;       /* payload size, written before flag_a */
    _Alignas(4096) unsigned char ping[LAT_MAX];
    _Alignas(4096) unsigned char pong[LAT_MAX];
};

static int g_batches = 7;
static double g_target_ns = 20e6;
static struct shared *sh;
static uint64_t seq;
static unsigned char src_a[LAT_MAX] __attribute__((aligned(64)));

static inline double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static size_t parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'k': case 'K': v *= 1024.0; break;
    case 'm': case 'M': v *= 1024.0 * 1024.0; break;
    case 'g': case 'G': v *= 1024.0 * 1024.0 * 1024.0; break;
    default: break;
    }
    return (size_t)v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Child: echo server.  Pure spinning, no pause instruction. */
static void child_loop(void)
{
    static unsigned char src_b[LAT_MAX] __attribute__((aligned(64)));
    memset(src_b, 2, sizeof src_b);
    uint64_t last = 0;
    for (;;) {
        uint64_t v;
        while ((v = __atomic_load_n(&sh->flag_a, __ATOMIC_ACQUIRE)) == last)
            ;
        if (v == STOP) _exit(0);
        last = v;
        size_t n = sh->size;                 /* ordered by the acquire above */
        if (n) memcpy(sh->pong, src_b, n);
        __atomic_store_n(&sh->flag_b, v, __ATOMIC_RELEASE);
    }
}

/* Parent: 'iters' round trips of payload n; returns elapsed ns. */
static double pingpong(size_t n, long iters)
{
    sh->size = n;  /* published to the child by the next release store */
    uint64_t s = seq;
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        s++;
        if (n) memcpy(sh->ping, src_a, n);
        __atomic_store_n(&sh->flag_a, s, __ATOMIC_RELEASE);
        while (__atomic_load_n(&sh->flag_b, __ATOMIC_ACQUIRE) != s)
            ;
    }
    double t1 = now_ns();
    seq = s;
    return t1 - t0;
}

static unsigned char *bw_src, *bw_dst;

static double copy_batch(size_t n, long iters)
{
    double t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        memcpy(bw_dst, bw_src, n);
        /* keep the compiler from treating repeated copies as dead */
        __asm__ __volatile__("" : : "r"(bw_dst) : "memory");
    }
    return now_ns() - t0;
}

typedef double (*batch_fn)(size_t n, long iters);

static double measure(batch_fn fn, size_t n)
{
    long iters = 1;
    for (;;) {
        double t = fn(n, iters);
        if (t >= g_target_ns || iters >= (1L << 26)) break;
        double f = t > 0 ? g_target_ns / t : 16.0;
        if (f > 16.0) f = 16.0;
        if (f < 2.0) f = 2.0;
        iters = (long)(iters * f);
    }
    fn(n, iters); /* warm-up */
    double per[MAX_BATCHES];
    for (int b = 0; b < g_batches; b++)
        per[b] = fn(n, iters) / (double)iters;
    qsort(per, (size_t)g_batches, sizeof(double), cmp_double);
    return per[g_batches / 2];
}

static void *big_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); exit(1); }
    return p;
}

int main(int argc, char **argv)
{
    int g_lat = 1, g_bw = 1, quick = 0, batches = 0;
    double target_ms = 0;
    size_t max = (size_t)256 << 20;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-g") && i + 1 < argc) {
            const char *g = argv[++i];
            g_lat = strstr(g, "lat") != NULL;
            g_bw = strstr(g, "bw") != NULL;
        } else if (!strcmp(argv[i], "-m") && i + 1 < argc) max = parse_size(argv[++i]);
        else if (!strcmp(argv[i], "-q")) quick = 1;
        else if (!strcmp(argv[i], "-b") && i + 1 < argc) batches = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) target_ms = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [-g lat,bw] [-m maxbytes] [-q] [-b batches] [-t batch_ms]\n", argv[0]);
            return 2;
        }
    }
    if (quick) { g_batches = 5; g_target_ns = 4e6; }
    if (batches > 0) g_batches = batches < MAX_BATCHES ? batches : MAX_BATCHES;
    if (target_ms > 0) g_target_ns = target_ms * 1e6;

    if (g_lat) {
        sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED) { perror("mmap"); return 1; }
        memset(sh, 0, sizeof *sh);
        memset(src_a, 1, sizeof src_a);
        pid_t pid = fork();
        if (pid < 0) { perror("fork"); return 1; }
        if (pid == 0) {
            /* never outlive the parent (e.g. when it is killed by timeout) */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1) _exit(1);
            child_loop();
        }

        /* initial warm-up (~50 ms): child started, both cores spinning */
        for (double t0 = now_ns(); now_ns() - t0 < 50e6;)
            pingpong(8, 1000);

        static const size_t sizes[] = {0, 8, 64, 512, 4096};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            double rtt = measure(pingpong, sizes[i]);
            printf("raw handoff_lat %zu %.3f ns\n", sizes[i], rtt / 2.0);
            fflush(stdout);
        }
        __atomic_store_n(&sh->flag_a, STOP, __ATOMIC_RELEASE);
        int st;
        waitpid(pid, &st, 0);
        munmap(sh, sizeof *sh);
    }

    if (g_bw) {
        size_t cap = max < 4096 ? 4096 : max;
        bw_src = big_alloc(cap);
        bw_dst = big_alloc(cap);
        memset(bw_src, 1, cap); /* pre-touch */
        memset(bw_dst, 0, cap);
        for (size_t s = 4096; s <= max; s *= 4) {
            double t = measure(copy_batch, s);
            printf("raw memcpy_bw %zu %.3f GB/s\n", s, (double)s / t);
            fflush(stdout);
        }
        munmap(bw_src, cap);
        munmap(bw_dst, cap);
    }
    return 0;
}
