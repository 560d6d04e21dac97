/*
 * osh_bench.c - OpenSHMEM reference micro-benchmarks (Open MPI OSHMEM).
 *
 * Build:  oshcc -O2 -o osh_bench osh_bench.c
 * Run:    SHMEM_SYMMETRIC_SIZE=600M oshrun --allow-run-as-root --oversubscribe \
 *             --mca osc ^rdma -np 2 ./osh_bench [options]
 *
 * Options:
 *   -g GROUPS   comma separated subset of lat,bw,sync,coll (default: lat,bw,sync)
 *   -m BYTES    max message size for the bandwidth sweep (default 256M;
 *               suffixes K/M/G = 2^10/2^20/2^30).  Latency sizes 8..4096 are
 *               also capped by it.
 *   -q          quick mode: shorter batches, fewer of them
 *   -b N        number of timed batches (default 7, quick 5)
 *   -t MS       target duration of one batch in ms (default 20, quick 4)
 *
 * Method: an initial ~40 ms put+signal ping-pong warms up connections and
 * wakes both PEs.  Then every measurement runs a calibration phase (growing
 * the iteration count x2..x16 until one batch takes >= the target time; these
 * runs double as warm-up), one more untimed warm-up batch, then N timed
 * batches.  The value reported is the median over batches of (batch time /
 * iterations).  PE 0 drives and times everything with
 * clock_gettime(CLOCK_MONOTONIC); PE 0 alone
 * prints, one line per measurement, to stdout:
 *
 *   osh <metric> <size_bytes> <value> <unit>
 *
 * Metrics:
 *   put_lat     shmem_putmem(size) to PE 1 + shmem_quiet, per call        [ns]
 *   get_lat     shmem_getmem(size) from PE 1, per call                    [ns]
 *   putsig_lat  one-way latency of put-with-signal ping-pong (rtt/2)     [ns]
 *               PE0: put payload + signal -> PE1 waits, answers the same way.
 *               Uses shmem_putmem_signal + shmem_signal_wait_until when the
 *               header provides them (OpenSHMEM >= 1.5), otherwise
 *               shmem_putmem + shmem_fence + shmem_long_atomic_set and
 *               shmem_long_wait_until (Open MPI 4.1.x implements 1.4 only).
 *   put_bw      shmem_putmem(size) + shmem_quiet, repeated                [GB/s]
 *   put_stream_bw  shmem_putmem(size) repeated, one shmem_quiet at the
 *               end of the batch                                         [GB/s]
 *   get_bw      shmem_getmem(size), repeated                              [GB/s]
 *   get_stream_bw  shmem_getmem_nbi(size) repeated, one shmem_quiet at the
 *               end of the batch                                         [GB/s]
 *   barrier_lat shmem_barrier_all over all PEs of the job; size = n_pes   [ns]
 *   fadd_lat    shmem_long_atomic_fetch_add on a word of PE 1; size = 8   [ns]
 *   broadcast_<N>pe   (group coll) one broadcast of `size` bytes from PE 0 to
 *               all N PEs of the job, per call (every PE calls)            [ns]
 *               shmem_broadcast64 (OpenSHMEM 1.4 active set: all PEs,
 *               two pSync arrays alternated between consecutive calls);
 *               the team form shmem_broadcastmem when the header is 1.5+.
 *   sum_reduce_<N>pe  (group coll) sum of `size` bytes of doubles over all
 *               N PEs into every PE, per call                              [ns]
 *               shmem_double_sum_to_all (1.4; pWrk/pSync alternated), or
 *               shmem_double_sum_reduce on SHMEM_TEAM_WORLD when 1.5+.
 *               Both coll kernels end their batch with one timed
 *               shmem_barrier_all (amortized over the batch), so that a
 *               root that returns before the others have the data is not
 *               timed short. Sizes of the coll group: 8 B, then x8 up to 64 KiB, then x4
 *               up to -m (quick: 8 B, 4 KiB, 1 MiB and -m), the
 *               same plan as crates/benches/src/bin/coll-bench.rs.
 * GB/s means 1e9 bytes per second (payload bytes only).
 * Informational lines (implementation choices) go to stderr, prefixed '#'.
 */
#define _GNU_SOURCE
#include <shmem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(SHMEM_SIGNAL_SET) || defined(SHMEM_SIGNAL_ADD)
#define HAVE_PUT_SIGNAL 1
typedef uint64_t sig_t_;          /* signal words are uint64_t in 1.5 */
#else
#define HAVE_PUT_SIGNAL 0
typedef long sig_t_;              /* fallback uses long atomics/wait  */
#endif

/* OpenSHMEM 1.4 renamed shmem_long_fadd -> shmem_long_atomic_fetch_add. */
#if defined(SHMEM_MAJOR_VERSION) && (SHMEM_MAJOR_VERSION > 1 || \
    (SHMEM_MAJOR_VERSION == 1 && SHMEM_MINOR_VERSION >= 4))
#define FADD(p, v, pe) shmem_long_atomic_fetch_add((p), (v), (pe))
#define FADD_NAME "shmem_long_atomic_fetch_add"
#else
#define FADD(p, v, pe) shmem_long_fadd((p), (v), (pe))
#define FADD_NAME "shmem_long_fadd"
#endif

#define LAT_MAX 4096
#define MAX_BATCHES 64

/* ---- configuration ---- */
static int g_lat = 1, g_bw = 1, g_sync = 1, g_coll = 0;
static size_t g_max = (size_t)256 << 20;
static int g_batches = 7;
static double g_target_ns = 20e6;
static long g_max_iters = 1L << 24;

/* ---- state ---- */
static int me, npes;
static char *sym_buf;            /* symmetric data buffer, max(g_max, LAT_MAX) */
static char *priv_buf;           /* private source / destination buffer      */
static sig_t_ *sig;              /* symmetric signal word (ping-pong)         */
static long *ctr;                /* symmetric counter for fetch-add           */
static long *ctl;                /* symmetric control word (iteration count)  */
static sig_t_ seq;               /* ping-pong sequence number (same on PE0/1) */

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

/* PE 0 publishes a value to every PE; returns it on all PEs. */
static long share_from_pe0(long v)
{
    if (me == 0)
        for (int pe = 0; pe < npes; pe++)
            shmem_long_p(ctl, v, pe);
    shmem_barrier_all(); /* completes the puts and synchronises */
    v = *ctl;
    shmem_barrier_all(); /* nobody may overwrite ctl before all have read it */
    return v;
}

/* ---- kernels: run by every PE, 'iters' iterations ---- */
typedef void (*kernel_fn)(size_t size, long iters);

static void k_put(size_t size, long iters)
{
    if (me != 0) return;
    for (long i = 0; i < iters; i++) {
        shmem_putmem(sym_buf, priv_buf, size, 1);
        shmem_quiet();
    }
}

static void k_put_stream(size_t size, long iters)
{
    if (me != 0) return;
    for (long i = 0; i < iters; i++)
        shmem_putmem(sym_buf, priv_buf, size, 1);
    shmem_quiet();
}

static void k_get(size_t size, long iters)
{
    if (me != 0) return;
    for (long i = 0; i < iters; i++)
        shmem_getmem(priv_buf, sym_buf, size, 1);
}

static void k_get_stream(size_t size, long iters)
{
    if (me != 0) return;
    for (long i = 0; i < iters; i++)
        shmem_getmem_nbi(priv_buf, sym_buf, size, 1);
    shmem_quiet();
}

static inline void put_signal(size_t size, sig_t_ val, int pe)
{
#if HAVE_PUT_SIGNAL
    shmem_putmem_signal(sym_buf, priv_buf, size, sig, val, SHMEM_SIGNAL_SET, pe);
#else
    shmem_putmem(sym_buf, priv_buf, size, pe);
    shmem_fence();                       /* order payload before signal */
    shmem_long_atomic_set(sig, val, pe);
#endif
}

static inline void wait_signal(sig_t_ val)
{
#if HAVE_PUT_SIGNAL
    shmem_signal_wait_until(sig, SHMEM_CMP_GE, val);
#else
    shmem_long_wait_until(sig, SHMEM_CMP_GE, val);
#endif
}

static void k_putsig(size_t size, long iters)
{
    if (me > 1) return;
    sig_t_ s = seq;
    if (me == 0) {
        for (long i = 0; i < iters; i++) {
            s++;
            put_signal(size, s, 1);
            wait_signal(s);
        }
    } else {
        for (long i = 0; i < iters; i++) {
            s++;
            wait_signal(s);
            put_signal(size, s, 0);
        }
    }
    seq = s;
}

static void k_fadd(size_t size, long iters)
{
    (void)size;
    if (me != 0) return;
    long acc = 0;
    for (long i = 0; i < iters; i++)
        acc += FADD(ctr, 1, 1);
    if (acc == -1) fprintf(stderr, "impossible\n"); /* keep acc alive */
}

static void k_barrier(size_t size, long iters)
{
    (void)size;
    for (long i = 0; i < iters; i++)
        shmem_barrier_all();
}

/* ---- coll group: broadcast and sum-reduce over all PEs ---- */
#if defined(SHMEM_MAJOR_VERSION) && (SHMEM_MAJOR_VERSION > 1 || \
    (SHMEM_MAJOR_VERSION == 1 && SHMEM_MINOR_VERSION >= 5))
#define HAVE_TEAMS 1
#define BCAST_NAME "shmem_broadcastmem(SHMEM_TEAM_WORLD)"
#define REDUCE_NAME "shmem_double_sum_reduce(SHMEM_TEAM_WORLD)"
#else
#define HAVE_TEAMS 0
#define BCAST_NAME "shmem_broadcast64 (active set, alternating pSync)"
#define REDUCE_NAME "shmem_double_sum_to_all (active set, alternating pWrk/pSync)"
#endif
static char *coll_src, *coll_dst;  /* symmetric, max(g_max, 8) bytes each     */
#if !HAVE_TEAMS
static long *bcast_psync[2], *red_psync[2];
static double *red_pwrk[2];
static int coll_flip;
#endif

static void k_bcast(size_t size, long iters)
{
    for (long i = 0; i < iters; i++) {
#if HAVE_TEAMS
        shmem_broadcastmem(SHMEM_TEAM_WORLD, coll_dst, coll_src, size, 0);
#else
        shmem_broadcast64(coll_dst, coll_src, size / 8, 0, 0, 0, npes, bcast_psync[coll_flip]);
        coll_flip ^= 1;
#endif
    }
    shmem_barrier_all(); /* timed: the batch ends when every PE has its data */
}

static void k_sum(size_t size, long iters)
{
    for (long i = 0; i < iters; i++) {
#if HAVE_TEAMS
        shmem_double_sum_reduce(SHMEM_TEAM_WORLD, (double *)coll_dst, (const double *)coll_src, size / 8);
#else
        shmem_double_sum_to_all((double *)coll_dst, (const double *)coll_src, (int)(size / 8), 0, 0, npes,
                                red_pwrk[coll_flip], red_psync[coll_flip]);
        coll_flip ^= 1;
#endif
    }
    shmem_barrier_all(); /* timed: the batch ends when every PE has its data */
}

/* Allocates the coll buffers (collective); returns 0 on success. */
static int coll_alloc(size_t max)
{
    coll_src = shmem_malloc(max);
    coll_dst = shmem_malloc(max);
    if (!coll_src || !coll_dst) return -1;
    memset(coll_src, 1, max);
    memset(coll_dst, 0, max);
#if !HAVE_TEAMS
    size_t nred = max / 8, wrk = nred / 2 + 1;
    if (wrk < SHMEM_REDUCE_MIN_WRKDATA_SIZE) wrk = SHMEM_REDUCE_MIN_WRKDATA_SIZE;
    for (int k = 0; k < 2; k++) {
        bcast_psync[k] = shmem_malloc(SHMEM_BCAST_SYNC_SIZE * sizeof(long));
        red_psync[k] = shmem_malloc(SHMEM_REDUCE_SYNC_SIZE * sizeof(long));
        red_pwrk[k] = shmem_malloc(wrk * sizeof(double));
        if (!bcast_psync[k] || !red_psync[k] || !red_pwrk[k]) return -1;
        for (int j = 0; j < SHMEM_BCAST_SYNC_SIZE; j++) bcast_psync[k][j] = SHMEM_SYNC_VALUE;
        for (int j = 0; j < SHMEM_REDUCE_SYNC_SIZE; j++) red_psync[k][j] = SHMEM_SYNC_VALUE;
        memset(red_pwrk[k], 0, wrk * sizeof(double));
    }
#endif
    shmem_barrier_all();
    return 0;
}

/* The next size of the coll plan after s, up to max (0: none left). */
static size_t coll_next(size_t s, size_t max, int quick)
{
    if (quick) return s < 4096 ? 4096 : s < ((size_t)1 << 20) ? ((size_t)1 << 20) : s < max ? max : 0;
    return s < 65536 ? s * 8 : s * 4;
}

/* One batch on all PEs; returns PE 0's elapsed time in ns (others: 0). */
static double run_batch(kernel_fn fn, size_t size, long iters)
{
    shmem_barrier_all();
    double t0 = now_ns();
    fn(size, iters);
    double t1 = now_ns();
    shmem_barrier_all();
    return t1 - t0;
}

/* Returns median time per iteration in ns (meaningful on PE 0). */
static double measure(kernel_fn fn, size_t size)
{
    long iters = 1;
    for (;;) {
        double t = run_batch(fn, size, iters);
        long next = 0;
        if (me == 0 && t < g_target_ns && iters < g_max_iters) {
            /* grow towards the target, at most x16 per step */
            double f = t > 0 ? g_target_ns / t : 16.0;
            if (f > 16.0) f = 16.0;
            if (f < 2.0) f = 2.0;
            next = (long)(iters * f);
            if (next > g_max_iters) next = g_max_iters;
        }
        next = share_from_pe0(next);
        if (next == 0) break;
        iters = next;
    }
    run_batch(fn, size, iters); /* warm-up at final count */
    double per[MAX_BATCHES];
    for (int b = 0; b < g_batches; b++)
        per[b] = run_batch(fn, size, iters) / (double)iters;
    qsort(per, (size_t)g_batches, sizeof(double), cmp_double);
    return per[g_batches / 2];
}

static void emit(const char *metric, size_t size, double v, const char *unit)
{
    if (me == 0) {
        /* OSH_BENCH_SOURCE names the run (run.sh: "osh", "osh_tcp" for the UCX_TLS=tcp,self run). */
        const char *source = getenv("OSH_BENCH_SOURCE");
        printf("%s %s %zu %.3f %s\n", source && *source ? source : "osh", metric, size, v, unit);
        fflush(stdout);
    }
}

static void usage(const char *p)
{
    if (me == 0)
        fprintf(stderr, "usage: %s [-g lat,bw,sync] [-m maxbytes] [-q] [-b batches] [-t batch_ms]\n", p);
}

int main(int argc, char **argv)
{
    shmem_init();
    me = shmem_my_pe();
    npes = shmem_n_pes();

    const char *groups = NULL;
    int quick = 0, batches = 0;
    double target_ms = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-g") && i + 1 < argc) groups = argv[++i];
        else if (!strcmp(argv[i], "-m") && i + 1 < argc) g_max = parse_size(argv[++i]);
        else if (!strcmp(argv[i], "-q")) quick = 1;
        else if (!strcmp(argv[i], "-b") && i + 1 < argc) batches = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) target_ms = atof(argv[++i]);
        else { usage(argv[0]); shmem_finalize(); return 2; }
    }
    if (quick) { g_batches = 5; g_target_ns = 4e6; }
    if (batches > 0) g_batches = batches < MAX_BATCHES ? batches : MAX_BATCHES;
    if (target_ms > 0) g_target_ns = target_ms * 1e6;
    if (groups) {
        g_lat = strstr(groups, "lat") != NULL;
        g_bw = strstr(groups, "bw") != NULL;
        g_sync = strstr(groups, "sync") != NULL;
        g_coll = strstr(groups, "coll") != NULL;
    }
    if ((g_lat || g_bw) && npes < 2) {
        if (me == 0) fprintf(stderr, "osh_bench: lat/bw groups need >= 2 PEs\n");
        g_lat = g_bw = 0;
    }

    size_t bufsz = g_max > LAT_MAX ? g_max : LAT_MAX;
    if (!g_lat && !g_bw) bufsz = LAT_MAX;
    sym_buf = shmem_malloc(bufsz);
    sig = shmem_malloc(sizeof(sig_t_));
    ctr = shmem_malloc(sizeof(long));
    ctl = shmem_malloc(sizeof(long));
    priv_buf = aligned_alloc(4096, (bufsz + 4095) & ~(size_t)4095);
    if (!sym_buf || !sig || !ctr || !ctl || !priv_buf) {
        fprintf(stderr, "osh_bench PE %d: allocation of %zu bytes failed "
                "(raise SHMEM_SYMMETRIC_SIZE)\n", me, bufsz);
        shmem_global_exit(1);
    }
    /* pre-touch everything so page faults stay out of the measurements */
    memset(sym_buf, 0, bufsz);
    memset(priv_buf, 1, bufsz);
    *sig = 0; *ctr = 0; *ctl = 0;
    seq = 0;
    shmem_barrier_all();

    if (me == 0) {
        fprintf(stderr, "# osh_bench: OpenSHMEM %d.%d, %d PEs, put+signal via %s, fetch-add via %s, "
                "%d batches x %.0f ms target\n",
                SHMEM_MAJOR_VERSION, SHMEM_MINOR_VERSION, npes,
                HAVE_PUT_SIGNAL ? "shmem_putmem_signal/shmem_signal_wait_until"
                                : "shmem_putmem+shmem_fence+shmem_long_atomic_set/shmem_long_wait_until",
                FADD_NAME, g_batches, g_target_ns / 1e6);
    }

    static const size_t lat_sizes[] = {8, 64, 512, 4096};
    const int nlat = (int)(sizeof lat_sizes / sizeof lat_sizes[0]);

    /* initial warm-up (~40 ms): connections, both PEs spinning */
    if (g_lat || g_bw)
        run_batch(k_putsig, 8, quick ? 20000 : 100000);

    if (g_lat) {
        for (int i = 0; i < nlat; i++)
            if (lat_sizes[i] <= bufsz)
                emit("put_lat", lat_sizes[i], measure(k_put, lat_sizes[i]), "ns");
        for (int i = 0; i < nlat; i++)
            if (lat_sizes[i] <= bufsz)
                emit("get_lat", lat_sizes[i], measure(k_get, lat_sizes[i]), "ns");
        for (int i = 0; i < nlat; i++)
            if (lat_sizes[i] <= bufsz)
                emit("putsig_lat", lat_sizes[i], measure(k_putsig, lat_sizes[i]) / 2.0, "ns");
        emit("fadd_lat", 8, measure(k_fadd, 8), "ns");
    }
    if (g_bw) {
        for (size_t s = 4096; s <= g_max; s *= 4) {
            double t = measure(k_put, s);
            emit("put_bw", s, (double)s / t, "GB/s");
        }
        for (size_t s = 4096; s <= g_max; s *= 4) {
            double t = measure(k_put_stream, s);
            emit("put_stream_bw", s, (double)s / t, "GB/s");
        }
        for (size_t s = 4096; s <= g_max; s *= 4) {
            double t = measure(k_get, s);
            emit("get_bw", s, (double)s / t, "GB/s");
        }
        for (size_t s = 4096; s <= g_max; s *= 4) {
            double t = measure(k_get_stream, s);
            emit("get_stream_bw", s, (double)s / t, "GB/s");
        }
    }
    if (g_sync)
        emit("barrier_lat", (size_t)npes, measure(k_barrier, 0), "ns");
    if (g_coll) {
        size_t cmax = g_max < 8 ? 8 : g_max;
        if (coll_alloc(cmax) != 0) {
            fprintf(stderr, "osh_bench PE %d: coll buffers of 2 x %zu bytes failed (raise SHMEM_SYMMETRIC_SIZE)\n",
                    me, cmax);
            shmem_global_exit(1);
        }
        if (me == 0)
            fprintf(stderr, "# osh_bench coll: %s, %s\n", BCAST_NAME, REDUCE_NAME);
        char name[64];
        for (size_t s = 8; s && s <= cmax; s = coll_next(s, cmax, quick)) {
            snprintf(name, sizeof name, "broadcast_%dpe", npes);
            emit(name, s, measure(k_bcast, s), "ns");
            snprintf(name, sizeof name, "sum_reduce_%dpe", npes);
            emit(name, s, measure(k_sum, s), "ns");
        }
    }

    shmem_barrier_all();
    free(priv_buf);
    shmem_free(ctl);
    shmem_free(ctr);
    shmem_free(sig);
    shmem_free(sym_buf);
    shmem_finalize();
    return 0;
}
