#!/usr/bin/env bash
# run.sh - build and run the reference benchmarks; all result lines go to stdout.
#
#   ./run.sh [--quick] [--out-dir DIR] [--mpi4py VENV] [--timeout S] [--wait-idle S] [--no-tcp] [--no-ours]
#   ./run.sh --coll 2,4,8 [--coll-max BYTES] [--quick] [--mpi4py VENV] ...
#
#   --quick          short batches (4 ms, 5 batches), bandwidth sweep up to 16 MiB
#                    (whole script: a few seconds; full mode: ~20-30 s)
#   --out-dir DIR    build directory (default: $OUT_DIR/osh-reference if OUT_DIR
#                    is set, else a temporary directory removed on exit)
#   --mpi4py VENV    also run mpi4py_bench.py with VENV/bin/python
#                    (prepare it with: ./install.sh --mpi4py VENV)
#   --timeout S      per-run wall clock limit (default 60 quick / 240 full)
#   --wait-idle S    before each run, wait up to S seconds for the CPUs to be
#                    <= 10% busy (default 0: only warn on stderr when busy)
#   --coll NPS       collectives only (nothing else runs): for each PE count of
#                    the comma-separated list, one job of osh_bench -g sync,coll
#                    (barrier, shmem_broadcast64, shmem_double_sum_to_all from
#                    8 B to --coll-max), and with --mpi4py one job of
#                    mpi4py_bench.py --coll (Barrier, Bcast, Allreduce)
#   --coll-max B     largest collective message (default 64M; K/M suffixes)
#   --no-ours        skip the runs of osh_bench.c on OUR OpenSHMEM C interface
#                    (see "ours_c" below)
#
# Prerequisite: ./install.sh (Debian packages openmpi-bin, libopenmpi-dev); run.sh calls it when oshcc is missing.
#
# stdout: only result lines, `<osh|raw|mpi4py> <metric> <size_bytes> <value> <unit>`:
#   osh put_lat/get_lat/putsig_lat <8..4096> ns      (Open MPI OSHMEM, -np 2)
#   osh fadd_lat 8 ns
#   osh put_bw/put_stream_bw/get_bw/get_stream_bw <4K..256M> GB/s
#   osh barrier_lat <n_pes> ns                     (n_pes = 2, 4, 8)
#   osh_tcp put_lat/get_lat/putsig_lat/fadd_lat, *_bw, *_stream_bw (the same 2 PEs forced onto
#                                                  TCP: UCX_TLS=tcp,self, see below; skip with --no-tcp)
#   ours_c <the osh metrics and sizes>            (the same osh_bench.c compiled with OUR oshcc
#                                                  and run with OUR oshrun right after Open MPI's
#                                                  2-PE run, and at 4 and 8 PEs for the barrier;
#                                                  tools from $SHMEM_CAPI_BIN, default
#                                                  <repo>/target/release, built with cargo first)
#   raw handoff_lat <0..4096> ns, raw memcpy_bw <4K..256M> GB/s
#   mpi4py put_lat/get_lat 8 ns, mpi4py put_bw 67108864 GB/s   (with --mpi4py)
#   with --coll, per PE count N: osh barrier_lat N ns, osh broadcast_<N>pe / sum_reduce_<N>pe <bytes> ns,
#   and with --mpi4py: mpi4py barrier_lat N ns, mpi4py bcast_<N>pe / allreduce_<N>pe <bytes> ns
# stderr: build/progress/info lines ("# ...") and errors.
# Exit status: 0 if every run succeeded, 1 if any run failed or timed out
# (the lines of the runs that worked are still printed), 3 if tools are missing.
#
# Open MPI flags (Debian bookworm, Open MPI 4.1.4 + UCX 1.13, root, 2 cores,
# no RDMA hardware).  Minimal set found to work without errors or warnings:
#   --allow-run-as-root  refuse-to-run-as-root otherwise (equivalently
#                        OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
#   --oversubscribe      needed for -np > number of cores (4 and 8 PEs here)
#   --mca osc ^rdma      without it every OSHMEM job segfaults in shmem_finalize
#                        (osc/rdma component); MPI RMA then uses osc/sm.
# Nothing else was needed here (no btl / plm_rsh_agent / pml settings; OSHMEM
# uses spml/ucx over UCX's sysv/posix shared-memory transports automatically).
#
# OSHMEM over TCP: spml/ucx with UCX_TLS=tcp,self (no shared-memory transport,
# so even two PEs on one machine talk through UCX's TCP transport over
# loopback). UCX_NET_DEVICES is left alone: its default ("all") includes lo
# here; set UCX_NET_DEVICES in the environment to pin an interface. Open MPI
# prints a segfault backtrace in shmem_finalize after the results on some runs
# (the numbers before it are complete); the run's exit status still counts.
#
# Symmetric heap: Open MPI 4.1.x ignores the OpenSHMEM-1.4 name
# SHMEM_SYMMETRIC_SIZE and reads SHMEM_SYMMETRIC_HEAP_SIZE (or the legacy
# SMA_SYMMETRIC_SIZE); its default is 256 MiB.  We export both names.
#
# Every run is wrapped in `timeout -k 5`, so the script cannot hang.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
QUICK=0
BUILD_DIR=""
VENV=""
TMO=""
WAIT_IDLE=0
NO_TCP=0
COLL=""
COLL_MAX=64M
NO_OURS=0

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; shift ;;
        --out-dir) BUILD_DIR="${2:?}"; shift 2 ;;
        --mpi4py) VENV="${2:?}"; shift 2 ;;
        --timeout) TMO="${2:?}"; shift 2 ;;
        --wait-idle) WAIT_IDLE="${2:?}"; shift 2 ;;
        --no-tcp) NO_TCP=1; shift ;;
        --coll) COLL="${2:?}"; shift 2 ;;
        --coll-max) COLL_MAX="${2:?}"; shift 2 ;;
        --no-ours) NO_OURS=1; shift ;;
        -h|--help) sed -n '2,68p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ "$QUICK" = 1 ]; then
    MAX=16M; HEAP=64M; QFLAG=(-q); TMO="${TMO:-60}"
else
    MAX=256M; HEAP=320M; QFLAG=(); TMO="${TMO:-240}"
fi

# Install the reference implementation on first use (idempotent; needs root for apt).
if ! command -v oshcc >/dev/null 2>&1 || ! command -v oshrun >/dev/null 2>&1; then
    echo "# run.sh: Open MPI OpenSHMEM not found; installing it with $HERE/install.sh" >&2
    bash "$HERE/install.sh" >&2 || true
fi

for tool in oshcc oshrun gcc timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "run.sh: '$tool' not found (run $HERE/install.sh)" >&2
        exit 3
    fi
done

if [ -z "$BUILD_DIR" ]; then
    if [ -n "${OUT_DIR:-}" ]; then
        BUILD_DIR="$OUT_DIR/osh-reference"
    else
        BUILD_DIR="$(mktemp -d /tmp/osh-reference.XXXXXX)"
        trap 'rm -rf "$BUILD_DIR"' EXIT
    fi
fi
mkdir -p "$BUILD_DIR"

# The latency numbers need both cores idle (two spinning processes on 2 cores).
# cpu_busy: percentage of all CPU time that was not idle during 0.3 s.
cpu_busy() {
    local a b
    a=($(head -1 /proc/stat)); sleep 0.3; b=($(head -1 /proc/stat))
    awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); tot = 0
        for (i = 2; i <= n; i++) tot += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%d\n", (tot > 0) ? 100 * (tot - idle) / tot : 0 }'
}

echo "# building in $BUILD_DIR" >&2
oshcc -O2 -o "$BUILD_DIR/osh_bench" "$HERE/osh_bench.c" >&2 || { echo "run.sh: oshcc failed" >&2; exit 3; }
gcc -O2 -o "$BUILD_DIR/raw_bench" "$HERE/raw_bench.c" >&2 || { echo "run.sh: gcc failed" >&2; exit 3; }

FAILED=0
# Ours: the same source through our OpenSHMEM C interface (crates/shmem-capi), with our oshcc (gcc -O2 as
# Open MPI's oshcc) and our oshrun. osh_bench.c keeps its symmetric data in shmem_malloc'd memory (no static
# symmetric variables), so it runs unchanged; with our shmem.h (OpenSHMEM 1.5) its put+signal row uses
# shmem_putmem_signal/shmem_signal_wait_until, with Open MPI's (1.4) the putmem+fence+atomic_set fallback.
OURS_OK=0
if [ "$NO_OURS" = 0 ]; then
    ROOT="$(cd "$HERE/../.." && pwd)"
    OURS_BIN="${SHMEM_CAPI_BIN:-$ROOT/target/release}"
    if [ -z "${SHMEM_CAPI_BIN:-}" ] && command -v cargo >/dev/null 2>&1; then
        echo "# building our oshcc/oshrun (cargo build --release -p shmem-capi)" >&2
        (cd "$ROOT" && cargo build --release --quiet -p shmem-capi) >&2 || echo "run.sh: cargo build -p shmem-capi failed" >&2
    fi
    if "$OURS_BIN/oshcc" -O2 -o "$BUILD_DIR/osh_bench_ours" "$HERE/osh_bench.c" >&2; then
        OURS_OK=1
    else
        echo "run.sh: our oshcc ($OURS_BIN/oshcc) could not build osh_bench.c: no ours_c lines" >&2
        FAILED=1
    fi
fi

# Launcher flags, see the header comment.
OSHRUN=(oshrun --allow-run-as-root --oversubscribe --mca osc ^rdma)
MPIRUN=(mpirun --allow-run-as-root --oversubscribe --mca osc ^rdma)

run() { # run <label> <cmd...>: time-limited, stdout passed through
    local label="$1"; shift
    local busy waited=0; busy=$(cpu_busy)
    while [ "$busy" -gt 10 ] && [ "$waited" -lt "$WAIT_IDLE" ]; do
        sleep 1; waited=$((waited + 1)); busy=$(cpu_busy)
    done
    if [ "$busy" -gt 10 ]; then
        echo "# warning: CPUs ${busy}% busy before '$label'; its numbers will be inflated" >&2
    fi
    echo "# run: $label" >&2
    timeout -k 5 "$TMO" "$@"
    local rc=$?
    if [ $rc -ne 0 ]; then
        if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
            echo "run.sh: $label timed out after ${TMO}s" >&2
        else
            echo "run.sh: $label failed (exit $rc)" >&2
        fi
        FAILED=1
    fi
}

cd "$BUILD_DIR" || exit 3

# Collectives only: barrier, broadcast and sum-reduce per PE count (and mpi4py's Bcast/Allreduce).
if [ -n "$COLL" ]; then
    case "$COLL_MAX" in
        *[kK]) CMAX=$(( ${COLL_MAX%[kK]} << 10 )) ;;
        *[mM]) CMAX=$(( ${COLL_MAX%[mM]} << 20 )) ;;
        *) CMAX=$COLL_MAX ;;
    esac
    # src + dst + two pWrk of half the size each, plus room for the rest.
    CHEAP=$(( (3 * CMAX >> 20) + 32 ))M
    MQ=(); [ "$QUICK" = 1 ] && MQ=(--quick)
    for np in ${COLL//,/ }; do
        SHMEM_SYMMETRIC_SIZE=$CHEAP SHMEM_SYMMETRIC_HEAP_SIZE=$CHEAP \
            run "osh coll -np $np" "${OSHRUN[@]}" -x SHMEM_SYMMETRIC_SIZE -x SHMEM_SYMMETRIC_HEAP_SIZE \
                -np "$np" ./osh_bench -g sync,coll -m "$CMAX" "${QFLAG[@]}"
        if [ -n "$VENV" ]; then
            if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import mpi4py' 2>/dev/null; then
                run "mpi4py coll -np $np" "${MPIRUN[@]}" -np "$np" "$VENV/bin/python" "$HERE/mpi4py_bench.py" \
                    --coll --coll-max "$CMAX" "${MQ[@]}"
            else
                echo "run.sh: no mpi4py in $VENV (run $HERE/install.sh --mpi4py $VENV)" >&2
                FAILED=1
            fi
        fi
    done
    exit $FAILED
fi

# 2 PEs: latency, bandwidth and barrier.
SHMEM_SYMMETRIC_SIZE=$HEAP SHMEM_SYMMETRIC_HEAP_SIZE=$HEAP \
    run "osh -np 2" "${OSHRUN[@]}" -x SHMEM_SYMMETRIC_SIZE -x SHMEM_SYMMETRIC_HEAP_SIZE \
        -np 2 ./osh_bench -g lat,bw,sync -m "$MAX" "${QFLAG[@]}"

# Ours, right after, under the same conditions (--no-prefix: PE 0's result lines as they are).
if [ "$OURS_OK" = 1 ]; then
    SHMEM_SYMMETRIC_SIZE=$HEAP OSH_BENCH_SOURCE=ours_c \
        run "ours -np 2" "$OURS_BIN/oshrun" --no-prefix -np 2 ./osh_bench_ours -g lat,bw,sync -m "$MAX" "${QFLAG[@]}"
fi

# The same 2 PEs forced onto TCP (latency and bandwidth only).
if [ "$NO_TCP" = 0 ]; then
    SHMEM_SYMMETRIC_SIZE=$HEAP SHMEM_SYMMETRIC_HEAP_SIZE=$HEAP UCX_TLS=tcp,self OSH_BENCH_SOURCE=osh_tcp \
        run "osh -np 2 over TCP" "${OSHRUN[@]}" -x SHMEM_SYMMETRIC_SIZE -x SHMEM_SYMMETRIC_HEAP_SIZE -x UCX_TLS \
            -x OSH_BENCH_SOURCE -np 2 ./osh_bench -g lat,bw -m "$MAX" "${QFLAG[@]}"
fi

# Barrier only, oversubscribed (2 cores): 4 and 8 PEs, small heap.
for np in 4 8; do
    SHMEM_SYMMETRIC_SIZE=16M SHMEM_SYMMETRIC_HEAP_SIZE=16M \
        run "osh -np $np" "${OSHRUN[@]}" -x SHMEM_SYMMETRIC_SIZE -x SHMEM_SYMMETRIC_HEAP_SIZE \
            -np "$np" ./osh_bench -g sync "${QFLAG[@]}"
    if [ "$OURS_OK" = 1 ]; then
        SHMEM_SYMMETRIC_SIZE=16M OSH_BENCH_SOURCE=ours_c \
            run "ours -np $np" "$OURS_BIN/oshrun" --no-prefix -np "$np" ./osh_bench_ours -g sync "${QFLAG[@]}"
    fi
done

# Physical references (fork + shared mapping; memcpy).
run "raw" ./raw_bench -m "$MAX" "${QFLAG[@]}"

# Optional: MPI RMA through mpi4py.
if [ -n "$VENV" ]; then
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import mpi4py' 2>/dev/null; then
        MQ=(); [ "$QUICK" = 1 ] && MQ=(--quick)
        run "mpi4py -np 2" "${MPIRUN[@]}" -np 2 "$VENV/bin/python" "$HERE/mpi4py_bench.py" "${MQ[@]}"
    else
        echo "run.sh: no mpi4py in $VENV (run $HERE/install.sh --mpi4py $VENV)" >&2
        FAILED=1
    fi
fi

exit $FAILED
