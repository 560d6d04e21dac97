#!/usr/bin/env python3
"""Per-call cost of the NumPy-level collectives at one PE (issue 15: the Python overhead over the Rust call).

    python benches/python/coll_call_cost.py [--calls N] [--reps R]

Starts a 1-PE job (``python -m shmem.run -n 1``) in which every collective has no peer to wait for, so the time
per call is the binding's own cost: argument conversion, dtype dispatch, checks, GIL release, and the runtime's
1-PE path. Each row is the best of R batches of N calls (8-byte float64 arrays, root 0, TEAM_WORLD), in ns,
through a lambda: the "empty lambda" row is that part (subtract it to compare with the Rust-level coll-bench
``--pes 1``). The typed ``aclshmem_double_*`` rows are the C-style calls on the same arrays, for comparison.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def pe_main(calls: int, reps: int, only: str) -> None:
    import numpy as np

    import shmem

    shmem.aclshmem_init()
    src = shmem.zeros(1, np.float64)
    dst = shmem.zeros(1, np.float64)
    src[0] = 3.0
    isrc, idst = shmem.zeros(1, np.int64), shmem.zeros(1, np.int64)
    a_src, a_dst = src.__array_interface__["data"][0], dst.__array_interface__["data"][0]
    W = shmem.TEAM_WORLD
    S = shmem._shmem
    rows = {
        "broadcast(dst, src, 0)": lambda: shmem.broadcast(dst, src, 0),
        "reduce(src, 'sum', dst)": lambda: shmem.reduce(src, "sum", dst),
        "sum_reduce(src, dst)": lambda: shmem.sum_reduce(src, dst),
        "max_reduce(src, dst)": lambda: shmem.max_reduce(src, dst),
        "xor_reduce(isrc, idst)": lambda: shmem.xor_reduce(isrc, idst),
        "fcollect(src, dst)": lambda: shmem.fcollect(src, dst),
        "collect(src, dst)": lambda: shmem.collect(src, dst),
        "alltoall(src, dst)": lambda: shmem.alltoall(src, dst),
        "aclshmem_barrier_all()": lambda: shmem.aclshmem_barrier_all(),
        "aclshmem_team_sync(W)": lambda: shmem.aclshmem_team_sync(W),
        "aclshmem_double_broadcast(arrays)": lambda: S.aclshmem_double_broadcast(W, dst, src, 1, 0),
        "aclshmem_double_broadcast(ints)": lambda: S.aclshmem_double_broadcast(W, a_dst, a_src, 1, 0),
        "aclshmem_double_sum_reduce(arrays)": lambda: S.aclshmem_double_sum_reduce(W, dst, src, 1),
        "aclshmem_double_fcollect(arrays)": lambda: S.aclshmem_double_fcollect(W, dst, src, 1),
        "aclshmem_double_collect(arrays)": lambda: S.aclshmem_double_collect(W, dst, src, 1),
        "aclshmem_double_alltoall(arrays)": lambda: S.aclshmem_double_alltoall(W, dst, src, 1),
        "team_n_pes(W)": lambda: S.team_n_pes(W),
        "empty lambda": lambda: None,
    }
    pc = time.perf_counter_ns
    for name, f in rows.items():
        if only not in name:
            continue
        # The loop is unrolled 10x so that the loop's own cost is small beside the call's.
        best = None
        for _ in range(reps):
            t0 = pc()
            for _ in range(calls // 10):
                f(); f(); f(); f(); f(); f(); f(); f(); f(); f()
            t = (pc() - t0) / (calls // 10 * 10)
            best = t if best is None else min(best, t)
        print(f"{name:38s} {best:8.1f} ns", flush=True)
    assert dst[0] == 3.0
    del src, dst, isrc, idst, rows
    shmem.aclshmem_finalize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=200_000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default="", help="only the rows whose name contains this text")
    ap.add_argument("--pe", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.pe:
        pe_main(a.calls, a.reps, a.only)
        return
    cmd = [sys.executable, "-m", "shmem.run", "-n", "1", "--timeout", "600", __file__, "--pe",
           "--calls", str(a.calls), "--reps", str(a.reps), "--only", a.only]
    sys.exit(subprocess.run(cmd, env=dict(os.environ)).returncode)


if __name__ == "__main__":
    main()
