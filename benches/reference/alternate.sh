#!/usr/bin/env bash
# alternate.sh - is a C-level difference between Open MPI OSHMEM and ours real or noise?
#
#   ./alternate.sh [--rounds N] [-g GROUPS] [-m MAX] [--quick] [--wait-idle S] [--timeout S] [--raw FILE]
#
# Runs osh_bench.c built with Open MPI's oshcc and the same source built with OUR oshcc, 2 PEs each, N times
# alternately (OSHMEM, ours, OSHMEM, ours, ...), each run after waiting up to S seconds (default 60) for the
# CPUs to be <= 10% busy, and prints per metric and size the median, min and max over the rounds of both and
# the ratio of the medians (ours / OSHMEM; for bandwidth > 1 is better, for latency < 1 is better).
# One run.sh run gives one sample per size, and on this 2-core KVM guest a single run's bandwidth at a size
# whose source + destination fill the per-core L2 (1 MiB: 2 x 1 MiB in 2 MiB) moves by +-15 % from process to
# process for both implementations (the physical pages a process gets decide its cache conflicts), so a
# 0.95x in one run says nothing; the spread over rounds does.
#
#   --rounds N     alternated rounds (default 7)
#   -g GROUPS      osh_bench groups (default bw; lat,bw also works)
#   -m MAX         largest bandwidth message (default 16M)
#   --quick        osh_bench -q (4 ms x 5 batches) as run.sh --quick; default: 20 ms x 7
#   --wait-idle S  wait up to S s before each run for the CPUs to be idle (default 60; 0: do not wait)
#   --timeout S    per-run wall clock limit (default 120)
#   --raw FILE     also keep every result line, prefixed with the round (`r3 osh put_bw 1048576 30.1 GB/s`)
#
# stdout: the table, then a line with the load average before and after. stderr: progress ("# ...").
# Tools: Open MPI's oshcc/oshrun (./install.sh) and ours from $SHMEM_CAPI_BIN (default <repo>/target/release,
# built with cargo first). Exit status: 0, 1 if any run failed (the others still count), 3 if tools are missing.
set -u

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
ROUNDS=7; GROUPS_=bw; MAX=16M; QFLAG=(); WAIT_IDLE=60; TMO=120; RAW=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) ROUNDS="${2:?}"; shift 2 ;;
        -g) GROUPS_="${2:?}"; shift 2 ;;
        -m) MAX="${2:?}"; shift 2 ;;
        --quick) QFLAG=(-q); shift ;;
        --wait-idle) WAIT_IDLE="${2:?}"; shift 2 ;;
        --timeout) TMO="${2:?}"; shift 2 ;;
        --raw) RAW="${2:?}"; shift 2 ;;
        -h|--help) sed -n '2,28p' "$0"; exit 0 ;;
        *) echo "alternate.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

for tool in oshcc oshrun gcc timeout awk; do
    command -v "$tool" >/dev/null 2>&1 || { echo "alternate.sh: '$tool' not found (run $HERE/install.sh)" >&2; exit 3; }
done
OURS_BIN="${SHMEM_CAPI_BIN:-$ROOT/target/release}"
if [ -z "${SHMEM_CAPI_BIN:-}" ] && command -v cargo >/dev/null 2>&1; then
    (cd "$ROOT" && cargo build --release --quiet -p shmem-capi) >&2 || echo "alternate.sh: cargo build failed" >&2
fi

DIR="$(mktemp -d /tmp/osh-alternate.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
oshcc -O2 -o "$DIR/osh_bench" "$HERE/osh_bench.c" >&2 || { echo "alternate.sh: oshcc failed" >&2; exit 3; }
"$OURS_BIN/oshcc" -O2 -o "$DIR/osh_bench_ours" "$HERE/osh_bench.c" >&2 ||
    { echo "alternate.sh: our oshcc ($OURS_BIN/oshcc) failed" >&2; exit 3; }

# Heap: the buffer of the largest message plus room for the rest (as run.sh: 64M for 16M, 320M for 256M).
case "$MAX" in
    *[kK]) MAXB=$(( ${MAX%[kK]} << 10 )) ;;
    *[mM]) MAXB=$(( ${MAX%[mM]} << 20 )) ;;
    *[gG]) MAXB=$(( ${MAX%[gG]} << 30 )) ;;
    *) MAXB=$MAX ;;
esac
HEAP=$(( (MAXB >> 20) + 64 ))M

cpu_busy() { # percentage of all CPU time that was not idle during 0.3 s
    local a b
    a=($(head -1 /proc/stat)); sleep 0.3; b=($(head -1 /proc/stat))
    awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " "); tot = 0
        for (i = 2; i <= n; i++) tot += y[i] - x[i]
        idle = (y[5] - x[5]) + (y[6] - x[6])
        printf "%d\n", (tot > 0) ? 100 * (tot - idle) / tot : 0 }'
}
wait_idle() {
    local waited=0 busy; busy=$(cpu_busy)
    while [ "$busy" -gt 10 ] && [ "$waited" -lt "$WAIT_IDLE" ]; do
        sleep 1; waited=$((waited + 1)); busy=$(cpu_busy)
    done
    [ "$busy" -gt 10 ] && echo "# warning: CPUs ${busy}% busy before this run" >&2
}

LINES="$DIR/lines"; : > "$LINES"
FAILED=0
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
cd "$DIR" || exit 3
for r in $(seq "$ROUNDS"); do
    echo "# round $r/$ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))" >&2
    wait_idle
    SHMEM_SYMMETRIC_HEAP_SIZE=$HEAP timeout -k 5 "$TMO" oshrun --allow-run-as-root --oversubscribe --mca osc ^rdma \
        -x SHMEM_SYMMETRIC_HEAP_SIZE -np 2 ./osh_bench -g "$GROUPS_" -m "$MAX" "${QFLAG[@]}" 2>/dev/null \
        | sed "s/^/r$r /" >> "$LINES"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "alternate.sh: OSHMEM run $r failed" >&2; FAILED=1; }
    wait_idle
    SHMEM_SYMMETRIC_SIZE=$HEAP OSH_BENCH_SOURCE=ours timeout -k 5 "$TMO" "$OURS_BIN/oshrun" --no-prefix -np 2 \
        ./osh_bench_ours -g "$GROUPS_" -m "$MAX" "${QFLAG[@]}" 2>/dev/null | sed "s/^/r$r /" >> "$LINES"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "alternate.sh: our run $r failed" >&2; FAILED=1; }
done
[ -n "$RAW" ] && cp "$LINES" "$RAW"

# Table: per (metric, size), median/min/max of each source and the ratio of the medians.
awk '
function med(s,   n, v, i, j, t) {
    n = split(s, v, " ")
    for (i = 2; i <= n; i++) { t = v[i] + 0; for (j = i - 1; j >= 1 && v[j] + 0 > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
    lo = v[1]; hi = v[n]
    return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
NF == 6 { k = $3 " " $4; val[$2, k] = val[$2, k] " " $5; unit[k] = $6; if (!(k in seen)) { seen[k] = 1; order[++nk] = k } }
END {
    printf "%-11s %10s %5s | %9s %17s | %9s %17s | %6s\n", "metric", "size", "unit", "OSHMEM", "min-max", "ours", "min-max", "ratio"
    for (i = 1; i <= nk; i++) {
        k = order[i]; split(k, f, " ")
        if (!(("osh", k) in val) || !(("ours", k) in val)) continue
        mo = med(val["osh", k]); lo_o = lo; hi_o = hi
        mu = med(val["ours", k]); lo_u = lo; hi_u = hi
        printf "%-11s %10d %5s | %9.2f %8.2f-%-8.2f | %9.2f %8.2f-%-8.2f | %6.3f\n", f[1], f[2], unit[k], mo, lo_o, hi_o, mu, lo_u, hi_u, (mo > 0) ? mu / mo : 0
    }
}' "$LINES"
echo "# rounds $ROUNDS; load average before: $LOAD0, after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $FAILED
