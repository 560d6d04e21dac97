/* Collectives: team-based broadcast, collect, fcollect, alltoall(s) for every type of the spec's table, every
 * reduction (operator x type) on the world and on a strided team, in place, long double at full precision, the
 * C11 generics, zero elements, bad input (the status codes), and the deprecated active-set forms with pSync
 * arrays from shmem_malloc. `coll as-bad-set`, `coll ld-bad-set` and `coll to-all-negative` are erroneous on
 * purpose: the job must end with the library's error. */
#include <shmem.h>
#include <complex.h>
#include <math.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "check.h"

#define NR 8 /* elements per reduction, broadcast, fcollect */
#define NA 3 /* block of alltoall */
#define BUF 8192

static void *SRC, *DST; /* symmetric scratch, 64-aligned */
#define BIG (128 * 1024)
static void *BSRC, *BDST; /* larger ones: reductions past the small-message path, big moves */

#define RMA_TYPES(X)                                                                                 \
    X(float, float) X(double, double) X(long double, longdouble) X(char, char) X(signed char, schar) \
    X(short, short) X(int, int) X(long, long) X(long long, longlong) X(unsigned char, uchar)         \
    X(unsigned short, ushort) X(unsigned int, uint) X(unsigned long, ulong)                          \
    X(unsigned long long, ulonglong) X(int8_t, int8) X(int16_t, int16) X(int32_t, int32)             \
    X(int64_t, int64) X(uint8_t, uint8) X(uint16_t, uint16) X(uint32_t, uint32) X(uint64_t, uint64)  \
    X(size_t, size) X(ptrdiff_t, ptrdiff)

/* ---- broadcast, collect, fcollect, alltoall, alltoalls of one type on `team` ---- */
#define MOVE_FN(T, NAME)                                                                             \
    static void move_##NAME(shmem_team_t team) {                                                     \
        int tme = shmem_team_my_pe(team), tn = shmem_team_n_pes(team);                               \
        T *src = (T *)SRC, *dst = (T *)DST;                                                          \
        for (int root = 0; root < tn; root++) {                                                      \
            for (int i = 0; i < NR; i++) {                                                           \
                src[i] = (T)(tme * 10 + i);                                                          \
                dst[i] = (T)(-1);                                                                    \
            }                                                                                        \
            CHECK(shmem_##NAME##_broadcast(team, dst, src, NR, root) == 0);                          \
            for (int i = 0; i < NR; i++) CHECK(dst[i] == (T)(root * 10 + i));                        \
        }                                                                                            \
        /* collect: team PE p gives p+1 elements, at offset p(p+1)/2 */                              \
        for (int i = 0; i < NR; i++) src[i] = (T)(tme * 10 + i);                                     \
        for (int i = 0; i < 64; i++) dst[i] = (T)(-1);                                               \
        CHECK(shmem_##NAME##_collect(team, dst, src, (size_t)tme + 1) == 0);                         \
        for (int p = 0; p < tn; p++)                                                                 \
            for (int i = 0; i <= p; i++) CHECK(dst[p * (p + 1) / 2 + i] == (T)(p * 10 + i));         \
        CHECK(dst[tn * (tn + 1) / 2] == (T)(-1));                                                    \
        CHECK(shmem_##NAME##_fcollect(team, dst, src, NR) == 0);                                     \
        for (int p = 0; p < tn; p++)                                                                 \
            for (int i = 0; i < NR; i++) CHECK(dst[p * NR + i] == (T)(p * 10 + i));                  \
        /* alltoall: block j of PE i's source lands as block i of PE j's dest */                     \
        for (int j = 0; j < tn; j++)                                                                 \
            for (int k = 0; k < NA; k++) src[j * NA + k] = (T)(tme * 20 + j * 5 + k);                \
        CHECK(shmem_##NAME##_alltoall(team, dst, src, NA) == 0);                                     \
        for (int i = 0; i < tn; i++)                                                                 \
            for (int k = 0; k < NA; k++) CHECK(dst[i * NA + k] == (T)(i * 20 + tme * 5 + k));        \
        /* alltoalls: dest stride 2, source stride 3; the gaps stay as they were */                  \
        for (int j = 0; j < tn; j++)                                                                 \
            for (int k = 0; k < NA; k++) src[(j * NA + k) * 3] = (T)(tme * 20 + j * 5 + k + 1);      \
        for (int i = 0; i < 2 * tn * NA; i++) dst[i] = (T)99;                                        \
        CHECK(shmem_##NAME##_alltoalls(team, dst, src, 2, 3, NA) == 0);                              \
        for (int i = 0; i < tn; i++)                                                                 \
            for (int k = 0; k < NA; k++) {                                                           \
                CHECK(dst[(i * NA + k) * 2] == (T)(i * 20 + tme * 5 + k + 1));                       \
                CHECK(dst[(i * NA + k) * 2 + 1] == (T)99);                                           \
            }                                                                                        \
    }
RMA_TYPES(MOVE_FN)
#define MOVE_CALL(T, NAME) move_##NAME(team);
static void test_moves(shmem_team_t team) { RMA_TYPES(MOVE_CALL) }

/* The mem forms and the C11 generics on `team`. */
static void test_mem_and_generics(shmem_team_t team) {
    int tme = shmem_team_my_pe(team), tn = shmem_team_n_pes(team);
    unsigned char *s = SRC, *d = DST;
    for (int i = 0; i < 40; i++) s[i] = (unsigned char)(tme * 40 + i);
    CHECK(shmem_broadcastmem(team, d, s, 13, tn - 1) == 0);
    for (int i = 0; i < 13; i++) CHECK(d[i] == (unsigned char)((tn - 1) * 40 + i));
    CHECK(shmem_collectmem(team, d, s, (size_t)tme + 2) == 0);
    for (int p = 0, at = 0; p < tn; at += p + 2, p++)
        for (int i = 0; i < p + 2; i++) CHECK(d[at + i] == (unsigned char)(p * 40 + i));
    CHECK(shmem_fcollectmem(team, d, s, 5) == 0);
    for (int p = 0; p < tn; p++)
        for (int i = 0; i < 5; i++) CHECK(d[p * 5 + i] == (unsigned char)(p * 40 + i));
    CHECK(shmem_alltoallmem(team, d, s, 4) == 0);
    for (int p = 0; p < tn; p++)
        for (int i = 0; i < 4; i++) CHECK(d[p * 4 + i] == (unsigned char)(p * 40 + tme * 4 + i));
    memset(d, 0xee, 64);
    CHECK(shmem_alltoallsmem(team, d, s, 2, 1, 3) == 0);
    for (int p = 0; p < tn; p++)
        for (int i = 0; i < 3; i++) {
            CHECK(d[(p * 3 + i) * 2] == (unsigned char)(p * 40 + tme * 3 + i));
            CHECK(d[(p * 3 + i) * 2 + 1] == 0xee);
        }
    /* C11 generics */
    double *ds = SRC, *dd = DST;
    for (int i = 0; i < NR; i++) ds[i] = tme + 0.5 * i;
    CHECK(shmem_broadcast(team, dd, ds, NR, 0) == 0);
    for (int i = 0; i < NR; i++) CHECK(dd[i] == 0.5 * i);
    CHECK(shmem_sum_reduce(team, dd, ds, NR) == 0);
    for (int i = 0; i < NR; i++) CHECK(dd[i] == tn * (tn - 1) / 2.0 + tn * 0.5 * i);
    CHECK(shmem_fcollect(team, dd, ds, 2) == 0);
    for (int p = 0; p < tn; p++) CHECK(dd[2 * p] == p && dd[2 * p + 1] == p + 0.5);
    long *ls = SRC, *ld = DST;
    for (int i = 0; i < 2 * tn; i++) ls[i] = 100L * tme + i;
    CHECK(shmem_alltoall(team, ld, ls, 2) == 0);
    for (int p = 0; p < tn; p++) CHECK(ld[2 * p] == 100L * p + 2 * tme && ld[2 * p + 1] == 100L * p + 2 * tme + 1);
    CHECK(shmem_collect(team, ld, ls, 1) == 0);
    for (int p = 0; p < tn; p++) CHECK(ld[p] == 100L * p);
    CHECK(shmem_alltoalls(team, ld, ls, 1, 1, 1) == 0);
    for (int p = 0; p < tn; p++) CHECK(ld[p] == 100L * p + tme);
    unsigned int *us = SRC, *ud = DST;
    us[0] = 1u << tme;
    CHECK(shmem_or_reduce(team, ud, us, 1) == 0 && ud[0] == (1u << tn) - 1);
    int *is = SRC, *id = DST;
    is[0] = tme;
    CHECK(shmem_max_reduce(team, id, is, 1) == 0 && id[0] == tn - 1);
    CHECK(shmem_min_reduce(team, id, is, 1) == 0 && id[0] == 0);
    is[0] = tme + 1;
    CHECK(shmem_prod_reduce(team, id, is, 1) == 0);
    int fact = 1;
    for (int p = 1; p <= tn; p++) fact *= p;
    CHECK(id[0] == fact);
    uint64_t *xs = SRC, *xd = DST;
    xs[0] = 0xffull ^ (uint64_t)tme;
    CHECK(shmem_and_reduce(team, xd, xs, 1) == 0);
    CHECK(shmem_xor_reduce(team, xd + 1, xs, 1) == 0);
    uint64_t a = ~0ull, x = 0;
    for (int p = 0; p < tn; p++) a &= 0xffull ^ (uint64_t)p, x ^= 0xffull ^ (uint64_t)p;
    CHECK(xd[0] == a && xd[1] == x);
    CHECK(shmem_sync(team) == 0);
}

/* ---- reductions: every (operator, type) of the spec, result against the fold done here in the same type ---- */
#define VA(T, p, i) ((T)((p) + 1 + (i)))
#define VB(T, p, i) ((T)((((p) + 1) * 37 + (i) * 11) & 0x7f))
#define F_sum(a, b) ((a) + (b))
#define F_prod(a, b) ((a) * (b))
#define F_max(a, b) ((b) > (a) ? (b) : (a))
#define F_min(a, b) ((b) < (a) ? (b) : (a))
#define F_and(a, b) ((a) & (b))
#define F_or(a, b) ((a) | (b))
#define F_xor(a, b) ((a) ^ (b))

#define RED_FN(T, NAME, OP, VAL)                                                                     \
    static void red_##NAME##_##OP(shmem_team_t team) {                                               \
        int tme = shmem_team_my_pe(team), tn = shmem_team_n_pes(team);                               \
        T *src = (T *)SRC, *dst = (T *)DST;                                                          \
        for (int i = 0; i < NR; i++) {                                                               \
            src[i] = VAL(T, tme, i);                                                                 \
            dst[i] = (T)0;                                                                           \
        }                                                                                            \
        CHECK(shmem_##NAME##_##OP##_reduce(team, dst, src, NR) == 0);                                \
        for (int i = 0; i < NR; i++) {                                                               \
            T e = VAL(T, 0, i);                                                                      \
            for (int p = 1; p < tn; p++) e = (T)F_##OP(e, VAL(T, p, i));                             \
            CHECK(dst[i] == e);                                                                      \
        }                                                                                            \
        CHECK(shmem_##NAME##_##OP##_reduce(team, src, src, NR) == 0); /* in place */                 \
        for (int i = 0; i < NR; i++) CHECK(src[i] == dst[i]);                                        \
        dst[0] = (T)7;                                                                               \
        CHECK(shmem_##NAME##_##OP##_reduce(team, dst, src, 0) == 0 && dst[0] == (T)7); /* nothing */ \
    }

#define BITWISE(X, OP)                                                                               \
    X(unsigned char, uchar, OP, VB) X(unsigned short, ushort, OP, VB) X(unsigned int, uint, OP, VB)  \
    X(unsigned long, ulong, OP, VB) X(unsigned long long, ulonglong, OP, VB) X(int8_t, int8, OP, VB) \
    X(int16_t, int16, OP, VB) X(int32_t, int32, OP, VB) X(int64_t, int64, OP, VB)                    \
    X(uint8_t, uint8, OP, VB) X(uint16_t, uint16, OP, VB) X(uint32_t, uint32, OP, VB)                \
    X(uint64_t, uint64, OP, VB) X(size_t, size, OP, VB)
#define ARITH(X, OP)                                                                                 \
    X(char, char, OP, VA) X(signed char, schar, OP, VA) X(short, short, OP, VA) X(int, int, OP, VA)  \
    X(long, long, OP, VA) X(long long, longlong, OP, VA) X(ptrdiff_t, ptrdiff, OP, VA)               \
    X(unsigned char, uchar, OP, VA) X(unsigned short, ushort, OP, VA) X(unsigned int, uint, OP, VA)  \
    X(unsigned long, ulong, OP, VA) X(unsigned long long, ulonglong, OP, VA) X(int8_t, int8, OP, VA) \
    X(int16_t, int16, OP, VA) X(int32_t, int32, OP, VA) X(int64_t, int64, OP, VA)                    \
    X(uint8_t, uint8, OP, VA) X(uint16_t, uint16, OP, VA) X(uint32_t, uint32, OP, VA)                \
    X(uint64_t, uint64, OP, VA) X(size_t, size, OP, VA) X(float, float, OP, VA)                      \
    X(double, double, OP, VA) X(long double, longdouble, OP, VA)
#define VC(T, p, i) ((T)((p) + 1 + (i)) + (T)((p) - (i)) * (T)I)
#define COMPLEX(X, OP) X(double _Complex, complexd, OP, VC) X(float _Complex, complexf, OP, VC)

BITWISE(RED_FN, and) BITWISE(RED_FN, or) BITWISE(RED_FN, xor)
ARITH(RED_FN, max) ARITH(RED_FN, min) ARITH(RED_FN, sum) ARITH(RED_FN, prod)
COMPLEX(RED_FN, sum) COMPLEX(RED_FN, prod)

#define RED_CALL(T, NAME, OP, VAL) red_##NAME##_##OP(team);
static void test_reductions(shmem_team_t team) {
    BITWISE(RED_CALL, and) BITWISE(RED_CALL, or) BITWISE(RED_CALL, xor)
    ARITH(RED_CALL, max) ARITH(RED_CALL, min) ARITH(RED_CALL, sum) ARITH(RED_CALL, prod)
    COMPLEX(RED_CALL, sum) COMPLEX(RED_CALL, prod)
    /* Sums against the closed form. */
    int tn = shmem_team_n_pes(team), tme = shmem_team_my_pe(team);
    long *ls = SRC, *ld = DST;
    for (int i = 0; i < NR; i++) ls[i] = 1000L * tme + i;
    CHECK(shmem_long_sum_reduce(team, ld, ls, NR) == 0);
    for (int i = 0; i < NR; i++) CHECK(ld[i] == 1000L * tn * (tn - 1) / 2 + (long)tn * i);
    /* long double keeps what double cannot: 1 + k*2^-60. */
    long double *xs = SRC, *xd = DST;
    for (int i = 0; i < NR; i++) xs[i] = 1.0L + ldexpl(1.0L, -60) * (tme + 1 + i);
    CHECK(shmem_longdouble_sum_reduce(team, xd, xs, NR) == 0);
    for (int i = 0; i < NR; i++) {
        long double e = tn + ldexpl(1.0L, -60) * ((long double)tn * (tn + 1) / 2 + (long double)tn * i);
        CHECK(xd[i] == e);
        CHECK((double)xd[i] == (double)tn); /* the difference is below double's precision */
    }
    CHECK(shmem_longdouble_max_reduce(team, xd, xs, NR) == 0);
    for (int i = 0; i < NR; i++) CHECK(xd[i] == 1.0L + ldexpl(1.0L, -60) * (tn + i));
}

/* ---- sizes past the reductions' small path (4 KiB) and big moves ---- */
static void test_large(shmem_team_t team) {
    int tme = shmem_team_my_pe(team), tn = shmem_team_n_pes(team);
    int *is = BSRC, *id = BDST;
    enum { NI = 5000 };
    for (int i = 0; i < NI; i++) is[i] = tme * 3 + i;
    CHECK(shmem_int_sum_reduce(team, id, is, NI) == 0);
    for (int i = 0; i < NI; i++) CHECK(id[i] == 3 * tn * (tn - 1) / 2 + tn * i);
    double *ds = BSRC;
    enum { ND = 3000 };
    for (int i = 0; i < ND; i++) ds[i] = tme + 0.5 * i;
    CHECK(shmem_double_sum_reduce(team, ds, ds, ND) == 0); /* in place */
    for (int i = 0; i < ND; i++) CHECK(ds[i] == tn * (tn - 1) / 2.0 + tn * 0.5 * i);
    uint64_t *us = BSRC, *ud = BDST;
    enum { NU = 4000 };
    for (int i = 0; i < NU; i++) us[i] = ((uint64_t)(tme + 1) << (i % 50)) ^ (uint64_t)i;
    CHECK(shmem_uint64_xor_reduce(team, ud, us, NU) == 0);
    for (int i = 0; i < NU; i++) {
        uint64_t e = 0;
        for (int p = 0; p < tn; p++) e ^= ((uint64_t)(p + 1) << (i % 50)) ^ (uint64_t)i;
        CHECK(ud[i] == e);
    }
    long double *xs = BSRC, *xd = BDST;
    enum { NX = 1000 };
    for (int i = 0; i < NX; i++) xs[i] = 1.0L + ldexpl(1.0L, -58) * (tme + i);
    CHECK(shmem_longdouble_sum_reduce(team, xd, xs, NX) == 0);
    for (int i = 0; i < NX; i++)
        CHECK(xd[i] == tn + ldexpl(1.0L, -58) * ((long double)tn * (tn - 1) / 2 + (long double)tn * i));
    unsigned char *bs = BSRC, *bd = BDST;
    enum { NB = 50000, NF = 12000 };
    for (int i = 0; i < NB; i++) bs[i] = (unsigned char)(tme * 31 + i * 7);
    CHECK(shmem_broadcastmem(team, bd, bs, NB, tn - 1) == 0);
    for (int i = 0; i < NB; i++) CHECK(bd[i] == (unsigned char)((tn - 1) * 31 + i * 7));
    CHECK(shmem_fcollectmem(team, bd, bs, NF) == 0);
    for (int p = 0; p < tn; p++)
        for (int i = 0; i < NF; i++) CHECK(bd[p * NF + i] == (unsigned char)(p * 31 + i * 7));
}

/* ---- bad input: status codes, every member the same ---- */
static void test_bad_input(int me, int n) {
    int *s = SRC, *d = DST;
    for (int i = 0; i < NR; i++) s[i] = i, d[i] = -5;
    CHECK(shmem_int_sum_reduce(SHMEM_TEAM_INVALID, d, s, NR) == -1);
    CHECK(shmem_int_broadcast(SHMEM_TEAM_INVALID, d, s, NR, 0) == -1);
    CHECK(shmem_longdouble_sum_reduce(SHMEM_TEAM_INVALID, DST, SRC, 1) == -1);
    CHECK(shmem_int_broadcast(SHMEM_TEAM_WORLD, d, s, NR, n) == -1);  /* root outside the team */
    CHECK(shmem_int_broadcast(SHMEM_TEAM_WORLD, d, s, NR, -1) == -1);
    int local[NR] = {0};
    CHECK(shmem_int_sum_reduce(SHMEM_TEAM_WORLD, d, local, NR) == -1); /* not symmetric */
    long double llocal[2] = {0};
    CHECK(shmem_longdouble_sum_reduce(SHMEM_TEAM_WORLD, DST, llocal, 2) == -1);
    CHECK(shmem_int_alltoalls(SHMEM_TEAM_WORLD, d, s, 0, 1, 1) == -1); /* stride 0 */
    for (int i = 0; i < NR; i++) CHECK(d[i] == -5);                    /* refused calls left dest alone */
    if (n > 1) {
        /* Members disagree: INVALID_VALUE (-2) on every member. */
        CHECK(shmem_int_fcollect(SHMEM_TEAM_WORLD, d, s, me == 0 ? 2 : 3) == -2);
        CHECK((me == 0 ? shmem_int_sum_reduce(SHMEM_TEAM_WORLD, d, s, NR)
                       : shmem_int_max_reduce(SHMEM_TEAM_WORLD, d, s, NR)) == -2);
        /* The root's bad argument fails every member (a member's own bad dest fails it alone on one node, where
         * the broadcast is posted: the root does not wait to hear from the members). */
        CHECK(shmem_int_broadcast(SHMEM_TEAM_WORLD, d, me == 0 ? local : s, NR, 0) == -1);
    }
    /* Zero elements everywhere: nothing moves. */
    CHECK(shmem_int_broadcast(SHMEM_TEAM_WORLD, d, s, 0, 0) == 0);
    CHECK(shmem_int_collect(SHMEM_TEAM_WORLD, d, s, 0) == 0);
    CHECK(shmem_int_fcollect(SHMEM_TEAM_WORLD, d, s, 0) == 0);
    CHECK(shmem_int_alltoall(SHMEM_TEAM_WORLD, d, s, 0) == 0);
    CHECK(shmem_int_alltoalls(SHMEM_TEAM_WORLD, d, s, 1, 1, 0) == 0);
    CHECK(shmem_longdouble_prod_reduce(SHMEM_TEAM_WORLD, DST, SRC, 0) == 0);
    for (int i = 0; i < NR; i++) CHECK(d[i] == -5);
}

/* ---- the deprecated active-set forms ---- */
static long *PSYNC[2];
static int turn;
static long *psync(void) { return PSYNC[turn++ & 1]; } /* alternate, as the spec allows back-to-back calls */

static void test_active_set(int start, int log, int size, int me) {
    int stride = 1 << log, idx = (me - start) / stride;
    turn = 0; /* every member picks the same pSync for the same call */
    if (me < start || (me - start) % stride != 0 || idx >= size) return;
    int last = start + (size - 1) * stride;
    uint64_t *s64 = SRC, *d64 = DST;
    uint32_t *s32 = SRC, *d32 = DST;
    /* broadcast: the root's dest is left alone (1.4 semantics) */
    for (int i = 0; i < NR; i++) s64[i] = 100u * me + i, d64[i] = 7;
    shmem_broadcast64(d64, s64, NR, size - 1, start, log, size, psync());
    for (int i = 0; i < NR; i++) CHECK(d64[i] == (me == last ? 7u : 100u * last + i));
    for (int i = 0; i < NR; i++) s32[i] = 10u * me + i, d32[i] = 7;
    shmem_broadcast32(d32, s32, NR, 0, start, log, size, psync());
    for (int i = 0; i < NR; i++) CHECK(d32[i] == (me == start ? 7u : 10u * start + i));
    /* collect / fcollect */
    shmem_collect32(d32, s32, (size_t)idx + 1, start, log, size, psync());
    for (int k = 0, at = 0; k < size; at += k + 1, k++)
        for (int i = 0; i <= k; i++) CHECK(d32[at + i] == 10u * (start + k * stride) + i);
    for (int i = 0; i < NR; i++) s64[i] = 100u * me + i;
    shmem_fcollect64(d64, s64, NR, start, log, size, psync());
    for (int k = 0; k < size; k++)
        for (int i = 0; i < NR; i++) CHECK(d64[k * NR + i] == 100u * (start + k * stride) + i);
    /* alltoall / alltoalls */
    for (int j = 0; j < size * 2; j++) s64[j] = 1000u * me + j, s32[64 + j] = 1000u * me + j;
    shmem_alltoall64(d64, s64, 2, start, log, size, psync());
    for (int k = 0; k < size; k++)
        for (int i = 0; i < 2; i++) CHECK(d64[k * 2 + i] == 1000u * (start + k * stride) + idx * 2 + i);
    shmem_alltoall32(d32, s32 + 64, 2, start, log, size, psync());
    for (int k = 0; k < size; k++)
        for (int i = 0; i < 2; i++) CHECK(d32[k * 2 + i] == 1000u * (start + k * stride) + idx * 2 + i);
    for (int i = 0; i < 4 * size; i++) d64[i] = 5;
    shmem_alltoalls64(d64, s64, 2, 1, 2, start, log, size, psync());
    for (int k = 0; k < size; k++)
        for (int i = 0; i < 2; i++) {
            CHECK(d64[(k * 2 + i) * 2] == 1000u * (start + k * stride) + idx * 2 + i);
            CHECK(d64[(k * 2 + i) * 2 + 1] == 5);
        }
    for (int i = 0; i < 4 * size + 1; i++) d32[i] = 5;
    /* 32-bit elements need only 4-byte alignment: an odd word offset */
    shmem_alltoalls32(d32 + 1, s32 + 64, 1, 1, 2, start, log, size, psync());
    for (int k = 0; k < size; k++)
        for (int i = 0; i < 2; i++) CHECK(d32[1 + k * 2 + i] == 1000u * (start + k * stride) + idx * 2 + i);
    CHECK(d32[0] == 5);
    /* reductions */
    static int *iw;
    if (!iw) iw = DST; /* pWrk: any symmetric array of SHMEM_REDUCE_MIN_WRKDATA_SIZE elements (unused) */
    int *is = SRC, *id = (int *)DST + 256;
    for (int i = 0; i < NR; i++) is[i] = me + i;
    shmem_int_sum_to_all(id, is, NR, start, log, size, (int *)DST + 512, psync());
    long members = 0;
    for (int k = 0; k < size; k++) members += start + k * stride;
    for (int i = 0; i < NR; i++) CHECK(id[i] == members + (long)size * i);
    shmem_int_max_to_all(id, is, NR, start, log, size, (int *)DST + 512, psync());
    for (int i = 0; i < NR; i++) CHECK(id[i] == last + i);
    short *ss = SRC, *sd = (short *)DST + 512;
    ss[0] = (short)(0x7f ^ (1 << idx));
    shmem_short_and_to_all(sd, ss, 1, start, log, size, (short *)DST + 1024, psync());
    CHECK(sd[0] == (short)(0x7f & ~((1 << size) - 1)));
    double *ds = SRC, *dd = (double *)DST + 128;
    for (int i = 0; i < NR; i++) ds[i] = me * 0.25 + i;
    shmem_double_min_to_all(dd, ds, NR, start, log, size, (double *)DST + 256, psync());
    for (int i = 0; i < NR; i++) CHECK(dd[i] == start * 0.25 + i);
    double _Complex *cs = SRC, *cd = (double _Complex *)DST + 64;
    cs[0] = 1.0 + me * I;
    shmem_complexd_sum_to_all(cd, cs, 1, start, log, size, (double _Complex *)DST + 128, psync());
    CHECK(cd[0] == size + members * I);
    long double *xs = SRC, *xd = (long double *)DST + 64;
    for (int i = 0; i < 2; i++) xs[i] = 1.0L + ldexpl(1.0L, -60) * (me + i);
    shmem_longdouble_sum_to_all(xd, xs, 2, start, log, size, (long double *)DST + 128, psync());
    for (int i = 0; i < 2; i++) CHECK(xd[i] == size + ldexpl(1.0L, -60) * (members + (long double)size * i));
    shmem_longdouble_prod_to_all(xs, xs, 1, start, log, size, (long double *)DST + 128, psync()); /* in place */
    long double e = 1.0L;
    for (int k = 0; k < size; k++) e *= 1.0L + ldexpl(1.0L, -60) * (start + k * stride);
    CHECK(xs[0] == e);
    (void)iw;
    /* barrier and sync of the set */
    shmem_barrier(start, log, size, psync());
    shmem_sync(start, log, size, psync());
}

int main(int argc, char **argv) {
    shmem_init();
    int me = shmem_my_pe(), n = shmem_n_pes();
    SRC = shmem_align(64, BUF);
    DST = shmem_align(64, BUF);
    BSRC = shmem_align(64, BIG);
    BDST = shmem_align(64, BIG);
    for (int k = 0; k < 2; k++) {
        PSYNC[k] = shmem_malloc(SHMEM_REDUCE_SYNC_SIZE * sizeof(long));
        for (int i = 0; i < SHMEM_REDUCE_SYNC_SIZE; i++) PSYNC[k][i] = SHMEM_SYNC_VALUE;
    }
    shmem_barrier_all();
    if (argc > 1 && strcmp(argv[1], "as-bad-set") == 0) {
        shmem_broadcast64(DST, SRC, 1, 0, 0, 0, n + 1, PSYNC[0]);
    } else if (argc > 1 && strcmp(argv[1], "ld-bad-set") == 0) {
        shmem_longdouble_sum_to_all(DST, SRC, 1, 0, 40, n, (long double *)DST + 64, PSYNC[0]);
    } else if (argc > 1 && strcmp(argv[1], "to-all-negative") == 0) {
        shmem_int_sum_to_all(DST, SRC, -1, 0, 0, n, (int *)DST + 64, PSYNC[0]);
    } else {
        test_moves(SHMEM_TEAM_WORLD);
        test_mem_and_generics(SHMEM_TEAM_WORLD);
        test_reductions(SHMEM_TEAM_WORLD);
        test_large(SHMEM_TEAM_WORLD);
        /* A strided team: the odd PEs (the even ones at 1 PE). */
        shmem_team_t odd;
        int start = n > 1 ? 1 : 0;
        CHECK(shmem_team_split_strided(SHMEM_TEAM_WORLD, start, 2, (n - start + 1) / 2, NULL, 0, &odd) == 0);
        if (odd != SHMEM_TEAM_INVALID) {
            CHECK(shmem_team_translate_pe(odd, shmem_team_my_pe(odd), SHMEM_TEAM_WORLD) == me);
            test_moves(odd);
            test_mem_and_generics(odd);
            test_reductions(odd);
            test_large(odd);
            shmem_team_destroy(odd);
        }
        shmem_barrier_all();
        test_bad_input(me, n);
        shmem_barrier_all();
        test_active_set(0, 0, n, me);
        shmem_barrier_all();
        test_active_set(0, 1, (n + 1) / 2, me);
        shmem_barrier_all();
        if (n > 1) test_active_set(1, 0, n - 1, me);
        shmem_barrier_all();
        /* Every pSync word is back at SHMEM_SYNC_VALUE once all calls are over. */
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < SHMEM_REDUCE_SYNC_SIZE; i++) CHECK(PSYNC[k][i] == SHMEM_SYNC_VALUE);
        shmem_barrier_all();
        if (me == 0) printf("coll ok\n");
    }
    shmem_finalize();
    return 0;
}
