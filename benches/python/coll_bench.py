#!/usr/bin/env python3
"""Python collectives beside mpi4py's, in one run: ``shmem.broadcast`` / ``shmem.sum_reduce`` on NumPy arrays
against ``comm.Bcast`` / ``comm.Allreduce``, and ``aclshmem_barrier_all`` against ``comm.Barrier``.

    python benches/python/coll_bench.py [--quick] [--pes 2,4,8] [--max BYTES] [--mpi4py VENV] [--rounds R]
                                        [--json FILE]

For each PE count it starts a job with ``python -m shmem.run`` (every PE calls every collective; PE 0 times
batches of calls) and, with ``--mpi4py VENV`` (``bash benches/reference/install.sh --mpi4py VENV``, or any
venv with mpi4py), ``benches/reference/mpi4py_bench.py --coll`` under Open MPI's ``mpirun`` with as many ranks,
right after the Python job of that PE count. It prints one table: Python µs, mpi4py µs and the ratio per row, and
the targets of the issue: at 8 B Python <= 0.5x mpi4py's time; from 1 MiB up Python's bandwidth >= 1.0x mpi4py's.

With ``--rounds R`` the whole alternation runs R times and the table shows each side's median over the rounds,
with the range of the per-round ratios: on a noisy machine one round catches one side in a slow phase (mpi4py's
8-PE ``Bcast`` of 1 MiB took 304 to 622 µs in three runs of session 13), the median of alternated rounds less so.

Both sides measure the same way (the method of ``benches/reference``): calibrate the iteration count until a
batch takes the target time (4 ms with --quick, else 20 ms; PE/rank 0 decides and shares the count), one
warm-up batch, then 5 (7) timed batches; the median per-call time. Every batch starts with a barrier, and a
broadcast or reduce batch ends with one more barrier, timed (amortized over the batch), so that a root that
returns before the others have their data is not timed short. Sizes: 8 B, x8 up to 64 KiB, then x4 up to
--max (default 64 MiB); quick: 8 B, 4 KiB, 1 MiB and --max. Broadcast moves bytes of a float64 array from PE 0;
the sum reduces float64 (the result is checked on every PE).

From 1 MiB there is also an informational row, "broadcast in place": ``shmem.broadcast(a, a, 0)``, which moves
what ``Bcast`` moves (the root's buffer to every other rank). The plain broadcast also fills the root's own
``dest`` (OpenSHMEM 1.5), one copy more than ``Bcast`` makes; its rows keep the targets.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]


def coll_sizes(cmax: int, quick: bool) -> list:
    """The size plan of osh_bench.c's coll group and mpi4py_bench.py --coll (not imported from there: importing
    mpi4py initializes MPI, which a shmem PE must not)."""
    out, s = [], 8
    while s and s <= cmax:
        out.append(s)
        if quick:
            s = 4096 if s < 4096 else (1 << 20) if s < (1 << 20) else cmax if s < cmax else 0
        else:
            s = s * 8 if s < 65536 else s * 4
    return out


def pe_main(quick: bool, cmax: int, out: str) -> None:
    import numpy as np

    import shmem

    shmem.aclshmem_init()
    me, n = shmem.my_pe(), shmem.n_pes()
    target = 4e6 if quick else 20e6
    batches = int(os.environ.get("COLL_BENCH_BATCHES", 5 if quick else 7))
    target = float(os.environ.get("COLL_BENCH_BATCH_NS", target))
    ctl_src = shmem.zeros(1, np.int64)
    ctl_dst = shmem.zeros(1, np.int64)
    barrier = shmem.aclshmem_barrier_all
    pc = time.perf_counter_ns

    def batch(fn, iters, closing):
        barrier()
        t0 = pc()
        fn(iters)
        if closing:
            barrier()
        return pc() - t0

    def share(v):
        ctl_src[0] = v
        shmem.broadcast(ctl_dst, ctl_src, 0)
        return int(ctl_dst[0])

    def measure(fn, closing=True):
        iters = 1
        while True:
            t = batch(fn, iters, closing)
            nxt = 0
            if me == 0 and t < target and iters < (1 << 24):
                nxt = int(iters * min(16.0, max(2.0, target / t if t > 0 else 16.0)))
            nxt = share(nxt)
            if nxt == 0:
                break
            iters = nxt
        batch(fn, iters, closing)
        per = sorted(batch(fn, iters, closing) / iters for _ in range(batches))
        return per[len(per) // 2]

    def barriers(iters):
        for _ in range(iters):
            barrier()

    res = {"barrier_lat": {str(n): measure(barriers, closing=False)}, "bcast": {}, "allreduce": {},
           "bcast_inplace": {}}
    for size in coll_sizes(cmax, quick):
        src = shmem.zeros(size // 8, np.float64)
        dst = shmem.zeros(size // 8, np.float64)
        src[:] = 1.0
        bc, red = shmem.broadcast, shmem.sum_reduce

        def bcast(iters):
            for _ in range(iters):
                bc(dst, src, 0)

        def allreduce(iters):
            for _ in range(iters):
                red(src, dst)

        res["bcast"][str(size)] = measure(bcast)
        if size >= 1 << 20:
            def bcast_inplace(iters):
                for _ in range(iters):
                    bc(src, src, 0)

            res["bcast_inplace"][str(size)] = measure(bcast_inplace)
        res["allreduce"][str(size)] = measure(allreduce)
        if dst[0] != float(n) or dst[-1] != float(n):
            raise SystemExit(f"PE {me}: sum_reduce of {size} B gave {dst[0]}, {dst[-1]} instead of {n}")
        shmem.free(dst)
        shmem.free(src)
    barrier()
    if me == 0:
        pathlib.Path(out).write_text(json.dumps(res))
    shmem.free(ctl_dst)
    shmem.free(ctl_src)
    shmem.aclshmem_finalize()


def run_python(n: int, quick: bool, cmax: int, timeout: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "py.json")
        mem = f"{(2 * cmax >> 20) + 64}M"
        cmd = [sys.executable, "-m", "shmem.run", "-n", str(n), "--mem-size", mem, "--timeout", str(timeout),
               __file__, "--pe", out, "--max", str(cmax)] + (["--quick"] if quick else [])
        print(f"# coll_bench: {' '.join(cmd)}", file=sys.stderr)
        p = subprocess.run(cmd)
        if p.returncode != 0 or not os.path.exists(out):
            print(f"# coll_bench: the {n}-PE Python job failed ({p.returncode})", file=sys.stderr)
            return {}
        return json.loads(pathlib.Path(out).read_text())


def run_mpi4py(venv: str, n: int, quick: bool, cmax: int, timeout: int) -> dict:
    py = os.path.join(venv, "bin", "python")
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "osc", "^rdma", "-np", str(n), py,
           str(ROOT / "benches/reference/mpi4py_bench.py"), "--coll", "--coll-max", str(cmax)] + \
        (["--quick"] if quick else [])
    print(f"# coll_bench: {' '.join(cmd)}", file=sys.stderr)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"# coll_bench: mpi4py with {n} ranks timed out", file=sys.stderr)
        return {}
    res = {"barrier_lat": {}, "bcast": {}, "allreduce": {}}
    for line in p.stdout.splitlines():
        m = re.match(r"mpi4py (\w+?)(?:_\d+pe)? (\d+) ([\d.]+) ns", line)
        if m and m.group(1) in res:
            res[m.group(1)][m.group(2)] = float(m.group(3))
    if p.returncode != 0:
        print(f"# coll_bench: mpi4py with {n} ranks failed:\n{p.stderr[-2000:]}", file=sys.stderr)
    return res


def rows_of(pes, sizes, py: dict, mpi: dict) -> list:
    """One row per PE count and operation: (operation, PEs, bytes, python ns, mpi4py ns)."""
    rows = []
    for n in pes:
        p, m = py.get(n) or {}, mpi.get(n) or {}
        rows.append(("barrier_all / Barrier", n, 0, p.get("barrier_lat", {}).get(str(n)),
                     m.get("barrier_lat", {}).get(str(n))))
        for key, label in (("bcast", "broadcast / Bcast"), ("allreduce", "sum_reduce / Allreduce (f64)")):
            for s in sizes:
                rows.append((label, n, s, p.get(key, {}).get(str(s)), m.get(key, {}).get(str(s))))
        for s in sizes:
            if s >= 1 << 20:
                rows.append((INPLACE, n, s, p.get("bcast_inplace", {}).get(str(s)), m.get("bcast", {}).get(str(s))))
    return rows


#: The label of the informational rows (no target): an in-place broadcast against the same ``Bcast``.
INPLACE = "broadcast in place / Bcast"


def target_row(row) -> bool:
    """Whether a row counts for the issue's targets: 8 B and from 1 MiB, not the in-place rows."""
    return row[0] != INPLACE and (row[2] == 8 or row[2] >= 1 << 20)


def human(b: int) -> str:
    if b == 0:
        return "-"
    if b >= 1 << 20 and b % (1 << 20) == 0:
        return f"{b >> 20} MiB"
    if b >= 1 << 10 and b % (1 << 10) == 0:
        return f"{b >> 10} KiB"
    return f"{b} B"


def median(values: list):
    """The median of the values that are not None (the lower middle of an even count), or None."""
    vals = sorted(v for v in values if v is not None)
    return vals[(len(vals) - 1) // 2] if vals else None


def median_rows(rounds: list) -> list:
    """The rows of several rounds (same plan, same order) as one: each side's median time per row. A side's
    own median, not the median ratio: a round where one side was slowed by load must not carry the other
    side's time with it."""
    return [(*first[:3], median([r[i][3] for r in rounds]), median([r[i][4] for r in rounds]))
            for i, first in enumerate(rounds[0])]


def ratio_range(rounds: list, i: int) -> str:
    """The lowest and highest per-round ratio of row ``i`` ("-" where no round has both sides)."""
    ratios = [r[i][3] / r[i][4] for r in rounds if r[i][3] is not None and r[i][4] is not None]
    return f"{min(ratios):.2f}-{max(ratios):.2f}x" if ratios else "-"


def table(rows: list, rounds: list | None = None) -> str:
    """Markdown: µs per call of both, the time ratio, both bandwidths (MB/s = 1e6 B/s, from 4 KiB) and the
    target of the row (8 B: time ratio <= 0.5; from 1 MiB: bandwidth ratio >= 1.0, i.e. time ratio <= 1.0).
    With ``rounds`` (several rounds' rows, whose medians ``rows`` are), also the range of per-round ratios."""
    extra = " per-round ratios |" if rounds else ""
    out = ["| operation | PEs | bytes | python µs | mpi4py µs | python/mpi4py | python MB/s | mpi4py MB/s | target |"
           + extra,
           "|---|---:|---:|---:|---:|---:|---:|---:|---|" + ("---:|" if rounds else "")]
    for i, (label, n, s, p, m) in enumerate(rows):
        us = lambda v: "-" if v is None else f"{v / 1e3:.2f}"  # noqa: E731
        bw = lambda v: "-" if v is None or s < 4096 else f"{s / v * 1e3:.0f}"  # noqa: E731
        ratio = None if p is None or m is None else p / m
        target = "-"
        if label == INPLACE:
            target = "(informational)"
        elif ratio is not None and s == 8:
            target = f"<= 0.5x: {'met' if ratio <= 0.5 else 'MISSED'}"
        elif ratio is not None and s >= 1 << 20:
            target = f"bw >= 1.0x: {'met' if ratio <= 1.0 else 'MISSED'}"
        out.append(f"| {label} | {n} | {human(s)} | {us(p)} | {us(m)} | "
                   f"{'-' if ratio is None else f'{ratio:.2f}x'} | {bw(p)} | {bw(m)} | {target} |"
                   + (f" {ratio_range(rounds, i)} |" if rounds else ""))
    return "\n".join(out) + "\n"


def load_line() -> str:
    def stat():
        f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        return sum(f), f[3] + f[4]
    t0, i0 = stat()
    time.sleep(0.25)
    t1, i1 = stat()
    busy = 100.0 * (1 - (i1 - i0) / max(t1 - t0, 1))
    load = " ".join(open("/proc/loadavg").read().split()[:3])
    return f"{os.cpu_count()} cores, load average {load}, CPUs {busy:.0f}% busy before the run"


def pages_line(mounts: str = "/proc/mounts", thp: str = "/sys/kernel/mm/transparent_hugepage/enabled",
               env=None) -> str:
    """The host's huge-page policies, which decide each side's page size and so part of its cost per byte.

    Our symmetric heap lives in /dev/shm, a tmpfs whose ``huge=`` mount option decides for most of it (the
    heap asks for 2 MiB pages with MADV_HUGEPAGE; ``never``, the default, refuses). Blocks of 2 MiB or more
    are made of 2 MiB pages at allocation whatever the mount says (MADV_COLLAPSE, Linux 6.1; from
    ``SHMEM_HEAP_COLLAPSE_MIN``, default 2M, ``off`` never): the buffers of the rows from 2 MiB are such blocks.
    The line names the setting; whether the kernel took it shows in ``ShmemPmdMapped`` of a PE's smaps.
    mpi4py's buffers are NumPy arrays in private memory: NumPy asks for huge pages for arrays of 4 MiB or more,
    and mpi4py_bench.py allocates one 64 MiB array for every row, so the anonymous-memory policy decides there
    (mpi4py's 8-PE 4 MiB ``Bcast`` took twice as long on 4 KiB pages in session 15).
    """
    env = os.environ if env is None else env
    shm = "absent"
    try:
        for line in open(mounts):
            f = line.split()
            if len(f) > 3 and f[1] == "/dev/shm":
                huge = [o for o in f[3].split(",") if o.startswith("huge=")]
                shm = huge[-1] if huge else "huge=never"
    except OSError:
        pass
    try:
        m = re.search(r"\[(\w+)\]", open(thp).read())
        anon = m.group(1) if m else "unknown"
    except OSError:
        anon = "unavailable"
    collapse = env.get("SHMEM_HEAP_COLLAPSE_MIN", "").strip() or "2M"
    blocks = "no blocks collapsed" if collapse.lower() in ("off", "0") else f"blocks from {collapse} collapsed"
    return f"pages: /dev/shm {shm}, {blocks} to 2 MiB pages (our heap), anonymous THP {anon} (mpi4py's NumPy buffers)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pe", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--pes", default="2,4,8", help="PE counts, comma-separated (default 2,4,8)")
    ap.add_argument("--max", default=str(64 << 20), help="largest message in bytes (default 64 MiB)")
    ap.add_argument("--mpi4py", metavar="VENV", help="venv with mpi4py: also run mpi4py_bench.py --coll")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--timeout", type=int, default=600, help="limit per job in seconds")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the alternated jobs this many times; the table shows each side's median")
    a = ap.parse_args()
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    cmax = int(a.max)
    if a.pe:
        pe_main(a.quick, cmax, a.pe)
        return 0
    pes = [int(x) for x in a.pes.split(",") if x]
    load = f"{load_line()}; {pages_line()}"
    print(f"# coll_bench: {load}", file=sys.stderr)
    sizes = coll_sizes(cmax, a.quick)
    rounds = []
    for r in range(a.rounds):
        py, mpi = {}, {}
        for n in pes:   # the two sides alternate per PE count: a change of load hits both sides of a row alike
            if a.rounds > 1:
                print(f"# coll_bench: round {r + 1} of {a.rounds}, {n} PEs", file=sys.stderr)
            py[n] = run_python(n, a.quick, cmax, a.timeout)
            if a.mpi4py:
                mpi[n] = run_mpi4py(a.mpi4py, n, a.quick, cmax, a.timeout)
        rounds.append(rows_of(pes, sizes, py, mpi))
    rows = median_rows(rounds)
    print(f"coll_bench (Python): {load}; {'quick' if a.quick else 'full'} plan; "
          "shmem.broadcast / shmem.sum_reduce on NumPy float64 arrays vs mpi4py Bcast / Allreduce"
          + (f"; median of {a.rounds} alternated rounds per side" if a.rounds > 1 else ""))
    print()
    print(table(rows, rounds if a.rounds > 1 else None), end="")
    checked = [(r, r[3] / r[4]) for r in rows if r[3] is not None and r[4] is not None and target_row(r)]
    met = sum(1 for r, x in checked if x <= (0.5 if r[2] == 8 else 1.0))
    if a.mpi4py:
        print(f"\ntargets (8 B <= 0.5x mpi4py, >= 1 MiB bandwidth >= 1.0x): {met} of {len(checked)} rows met")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps(
            {"load": load, "quick": a.quick, "pes": pes, "sizes": sizes,
             "rows": [dict(zip(("operation", "pes", "bytes", "python_ns", "mpi4py_ns"), r)) for r in rows]},
            indent=1))
    # A Python job that failed in any round fails the run, even where other rounds filled its rows.
    missing = sum(1 for rr in rounds for r in rr if r[3] is None)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
