#!/usr/bin/env python3
"""The 64 MiB put bandwidth of ``bench.py``, in interleaved rounds: Python with plain ``memcpy`` copies
(``SHMEM_MTE_STREAM_MIN=0``, the behaviour before streaming stores), Python with the default copy routine, and
mpi4py's ``Win.Put`` + ``Flush`` (when ``--mpi4py VENV`` is given). Interleaving makes the comparison fair on a
machine whose load changes during the run; each line is one round, then the median and range of each.

    python benches/python/put_bw_rounds.py --rounds 5 --mpi4py VENV
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mpi4py", metavar="VENV")
    a = ap.parse_args()
    cols = {"python memcpy (before)": {"SHMEM_MTE_STREAM_MIN": "0"}, "python (after)": {}}
    got = {k: [] for k in cols}
    if a.mpi4py:
        got["mpi4py Put+Flush"] = []
    for r in range(a.rounds):
        line = []
        for name, env in cols.items():
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                bw = bench.run_python(True)["put_bw"]
            finally:
                for k, v in saved.items():
                    if v is None:
                        os.environ.pop(k, None)
                    else:
                        os.environ[k] = v
            got[name].append(bw)
            line.append(f"{name} {bw:.2f}")
        if a.mpi4py:
            bw = bench.run_mpi4py(a.mpi4py, True).get("put_bw")
            if bw:
                got["mpi4py Put+Flush"].append(bw)
                line.append(f"mpi4py {bw:.2f}")
        print(f"round {r + 1}: " + ", ".join(line) + " GB/s", flush=True)
    print(f"{'64 MiB put':28} {'median GB/s':>12} {'range':>14}")
    for name, v in got.items():
        if v:
            print(f"{name:28} {statistics.median(v):12.2f} {min(v):6.2f}-{max(v):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
