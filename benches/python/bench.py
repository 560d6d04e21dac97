#!/usr/bin/env python3
"""Python binding benchmark, next to the same operations from Rust and from mpi4py, in one run.

    python benches/python/bench.py [--quick] [--mpi4py VENV] [--no-rust] [--json FILE] [--plot DIR]

Measures on PE 0 of a 2-PE job started with ``python -m shmem.run``: per-call latency of an 8-byte
``aclshmem_putmem`` (alone, and with a quiet), an 8-byte ``aclshmem_getmem``, the one-way latency of a
put-with-signal + signal-wait ping-pong (round trip / 2), and the bandwidth of a 64 MiB put. Then it runs the
Rust benchmark (``cargo run --release -p benches --bin shmem-bench -- --quick``) and, when ``--mpi4py VENV``
is given (``bash benches/reference/install.sh --mpi4py VENV``), ``benches/reference/mpi4py_bench.py`` under
Open MPI, and prints one table with the targets of the issue: putmem <= 0.5x mpi4py Put+Flush and <= Rust +
0.2 us; 64 MiB put >= 0.9x Rust.

Method (as the reference kit): calibrate the iteration count until a batch takes the target time (4 ms with
--quick, else 20 ms), one warm-up batch, then 5 (7) timed batches; the median per-call time is reported. The
64 MiB bandwidth uses 60 ms batches (7) on both sides, Rust included, because one put takes ~8 ms.

Over message sizes it also measures ``putmem`` + ``quiet`` and ``getmem`` latency (8 B to 4 KiB) and put
bandwidth (4 KiB to 64 MiB); ``--plot DIR`` draws them as SVG charts next to Rust's and mpi4py's values
(``python-latency-put.svg``, ``python-latency-get.svg``, ``python-bandwidth-put.svg``; see ``svgplot.py``).
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

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import svgplot  # noqa: E402  (next to this file; the standard library only)

ROOT = pathlib.Path(__file__).resolve().parents[2]
BW = 64 << 20
LAT_SIZES = [8, 64, 512, 4096]                      # as shmem-bench's latency rows
BW_SIZES = [4096 << (2 * i) for i in range(8)]      # 4 KiB to 64 MiB, as shmem-bench --max-bw 64M
BW_BATCH_MS = 60   # one 64 MiB put takes ~8 ms here: long batches keep the bandwidth median stable


def pe_main(quick: bool, out: str) -> None:
    import numpy as np

    import shmem

    shmem.aclshmem_init()
    me = shmem.my_pe()
    target = 4e6 if quick else 20e6
    batches = 5 if quick else 7
    data = shmem.zeros(BW, np.uint8)
    sig = shmem.zeros(1, np.uint64)
    ctl = shmem.zeros(2, np.int64)          # [command, argument] written by PE 0 into PE 1
    small = bytearray(8)
    lat_buf = bytearray(max(LAT_SIZES))
    big = np.ones(BW, np.uint8)
    dst = data.__array_interface__["data"][0]
    sig_addr = sig.__array_interface__["data"][0]
    ctl_addr = ctl.__array_interface__["data"][0]
    putmem, getmem, quiet = shmem.aclshmem_putmem, shmem.aclshmem_getmem, shmem.aclshmem_quiet
    put_sig, wait_sig = shmem.aclshmemx_putmem_signal, shmem.aclshmem_signal_wait_until
    SET, GE = shmem.SIGNAL_SET, shmem.CMP_GE
    pc = time.perf_counter_ns

    def put8(n):
        for _ in range(n):
            putmem(dst, small, 8, 1)

    def put8q(n):
        for _ in range(n):
            putmem(dst, small, 8, 1)
            quiet()

    def get8(n):
        for _ in range(n):
            getmem(small, dst, 8, 1)

    def putbig(n):
        for _ in range(n):
            putmem(dst, big, BW, 1)

    def put_quiet_of(size):
        def run(n):
            for _ in range(n):
                putmem(dst, lat_buf, size, 1)
                quiet()
        return run

    def get_of(size):
        def run(n):
            for _ in range(n):
                getmem(lat_buf, dst, size, 1)
        return run

    def put_bw_of(size):
        def run(n):
            for _ in range(n):
                putmem(dst, big, size, 1)
                quiet()
        return run

    seq = [0]

    def pingpong(n):
        # PE 1 echoes: waits for signal k, answers with signal k on PE 0.
        putmem(ctl_addr + 8, n.to_bytes(8, "little"), 8, 1)
        shmem.aclshmem_int64_atomic_set(ctl_addr, 1, 1)
        for _ in range(n):
            seq[0] += 1
            put_sig(dst, small, 8, sig_addr, seq[0], SET, 1)
            wait_sig(sig_addr, GE, seq[0])

    def measure(fn, target=target, batches=batches):
        iters = 1
        while True:
            t0 = pc(); fn(iters); t = pc() - t0
            if t >= target or iters >= 1 << 24:
                break
            iters = int(iters * min(16.0, max(2.0, target / max(t, 1))))
        fn(iters)
        per = sorted((lambda t0: (fn(iters), pc() - t0)[1])(pc()) / iters for _ in range(batches))
        return per[len(per) // 2]

    shmem.aclshmem_barrier_all()
    if me == 0:
        res = {"put_lat": measure(put8), "put_quiet_lat": measure(put8q), "get_lat": measure(get8)}
        # The sweeps over sizes (for the charts), while PE 1 sleeps in its wait as in shmem-bench.
        sweep = {"put_quiet_lat": {s: measure(put_quiet_of(s)) for s in LAT_SIZES},
                 "get_lat": {s: measure(get_of(s)) for s in LAT_SIZES},
                 "put_bw": {s: s / measure(put_bw_of(s)) for s in BW_SIZES if s < BW}}
        res["putsig_lat"] = measure(pingpong) / 2
        shmem.aclshmem_int64_atomic_set(ctl_addr, 2, 1)     # tell PE 1 to stop serving
        t = measure(putbig, target=BW_BATCH_MS * 1e6, batches=7)
        res["put_bw"] = BW / t                              # bytes per ns = GB/s
        sweep["put_bw"][BW] = res["put_bw"]
        res["sweep"] = {k: {str(s): v for s, v in d.items()} for k, d in sweep.items()}
        pathlib.Path(out).write_text(json.dumps(res))
    else:
        served = 0
        while True:
            shmem.aclshmem_int64_wait_until(ctl, shmem.CMP_NE, 0)
            cmd = int(ctl[0]); ctl[0] = 0
            if cmd == 2:
                break
            n = int(ctl[1])
            for _ in range(n):
                served += 1
                wait_sig(sig_addr, GE, served)
                put_sig(dst, small, 8, sig_addr, served, SET, 0)
    shmem.aclshmem_barrier_all()
    for arr in (data, sig, ctl):
        shmem.free(arr)
    shmem.aclshmem_finalize()


def run_python(quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "py.json")
        cmd = [sys.executable, "-m", "shmem.run", "-n", "2", "--mem-size", "160M", "--timeout", "300", __file__,
               "--pe", out] + (["--quick"] if quick else [])
        subprocess.run(cmd, check=True)
        return json.loads(pathlib.Path(out).read_text())


def walk(obj):
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk(v)


def run_rust(quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "rust.json")
        cmd = ["cargo", "run", "--quiet", "--release", "-p", "benches", "--bin", "shmem-bench", "--",
               "--barrier-pes", "2", "--max-bw", "64M", "--batch-ms", str(BW_BATCH_MS), "--batches", "7",
               "--json", js] + (["--quick"] if quick else [])
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(js):
            print("# rust bench failed:\n" + p.stderr[-2000:], file=sys.stderr)
            return {}
        data = json.loads(pathlib.Path(js).read_text())
    got = {}
    for d in walk(data):
        if d.get("source") == "ours" and "metric" in d and d.get("value") is not None:
            got[(d["metric"], int(d.get("size", 0)))] = float(d["value"])
    sweep = {name: {str(s): got[(metric, s)] for s in sizes if (metric, s) in got}
             for name, metric, sizes in (("put_quiet_lat", "put_lat", LAT_SIZES), ("get_lat", "get_lat", LAT_SIZES),
                                         ("put_bw", "put_bw", BW_SIZES))}
    return {"put_lat": got.get(("put_lat", 8)), "get_lat": got.get(("get_lat", 8)),
            "putsig_lat": got.get(("put_signal_oneway", 8)), "put_bw": got.get(("put_bw", BW)), "sweep": sweep}


def run_mpi4py(venv: str, quick: bool) -> dict:
    py = os.path.join(venv, "bin", "python")
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "osc", "^rdma", "-np", "2", py,
           str(ROOT / "benches/reference/mpi4py_bench.py")] + (["--quick"] if quick else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    got = {}
    sweep = {"put_quiet_lat": {}, "get_lat": {}, "put_bw": {}}
    for line in p.stdout.splitlines():
        m = re.match(r"mpi4py (\w+) (\d+) ([\d.]+) (\S+)", line)
        if m:
            got[m.group(1)] = float(m.group(3))
            # mpi4py's put_lat is Put + Flush: the counterpart of putmem + quiet.
            key = {"put_lat": "put_quiet_lat"}.get(m.group(1), m.group(1))
            if key in sweep:
                sweep[key][m.group(2)] = float(m.group(3))
    if not got:
        print("# mpi4py bench failed:\n" + p.stderr[-2000:], file=sys.stderr)
    else:
        got["sweep"] = sweep
    return got


# (file, title, sweep key, y axis)
CHARTS = [
    ("python-latency-put", "putmem + quiet latency vs message size", "put_quiet_lat",
     "latency per call (ns, log scale; lower is better)"),
    ("python-latency-get", "getmem latency vs message size", "get_lat",
     "latency per call (ns, log scale; lower is better)"),
    ("python-bandwidth-put", "putmem + quiet bandwidth vs message size", "put_bw",
     "bandwidth (GB/s = 1e9 B/s, log scale; higher is better)"),
]
SERIES = [("python", "Python (shmem)"), ("rust", "Rust (shmem)"), ("mpi4py", "mpi4py (Open MPI RMA, Put/Get + Flush)")]


def charts(results: dict, caption: str) -> dict:
    """The SVG charts of a run: file name -> SVG text. ``results`` maps ``python``, ``rust``, ``mpi4py`` to
    their result dicts (each with a ``sweep`` of key -> {size: value}); a source without values for a chart is
    left out of it, and a chart without any value is not drawn."""
    out = {}
    for file, title, key, y_label in CHARTS:
        series = {}
        for source, name in SERIES:
            pts = [(int(s), v) for s, v in (results.get(source) or {}).get("sweep", {}).get(key, {}).items()]
            if pts:
                series[name] = pts
        if series:
            out[f"{file}.svg"] = svgplot.line_chart(title, "message size (bytes, log scale)", y_label, series,
                                                    caption)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--pe", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--mpi4py", metavar="VENV")
    ap.add_argument("--no-rust", action="store_true")
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--plot", metavar="DIR", help="write SVG charts of the size sweeps into DIR")
    a = ap.parse_args()
    if a.pe:
        pe_main(a.quick, a.pe)
        return 0
    py = run_python(a.quick)
    rust = {} if a.no_rust else run_rust(a.quick)
    mpi = run_mpi4py(a.mpi4py, a.quick) if a.mpi4py else {}
    fmt = lambda v, u: "-" if v is None else (f"{v:.1f} ns" if u == "ns" else f"{v:.2f} GB/s")
    rows = [("8 B putmem", "put_lat", "ns"), ("8 B putmem + quiet", "put_quiet_lat", "ns"),
            ("8 B getmem", "get_lat", "ns"), ("put+signal one-way (ping-pong/2)", "putsig_lat", "ns"),
            ("64 MiB put bandwidth", "put_bw", "GB/s")]
    print(f"{'operation':36} {'python':>12} {'rust':>12} {'mpi4py':>12}")
    for label, key, unit in rows:
        mk = {"put_quiet_lat": "put_lat", "putsig_lat": None}.get(key, key)
        print(f"{label:36} {fmt(py.get(key), unit):>12} {fmt(rust.get(key if key != 'put_quiet_lat' else 'put_lat'), unit):>12} "
              f"{fmt(mpi.get(mk) if mk else None, unit):>12}")
    verdicts = []
    if mpi.get("put_lat"):
        verdicts.append(("putmem <= 0.5x mpi4py Put+Flush", py["put_lat"] <= 0.5 * mpi["put_lat"],
                         f"{py['put_lat']:.1f} vs {0.5 * mpi['put_lat']:.1f} ns"))
    if rust.get("put_lat"):
        verdicts.append(("putmem <= Rust + 200 ns", py["put_lat"] <= rust["put_lat"] + 200,
                         f"{py['put_lat']:.1f} vs {rust['put_lat'] + 200:.1f} ns"))
    if rust.get("put_bw"):
        verdicts.append(("64 MiB put >= 0.9x Rust", py["put_bw"] >= 0.9 * rust["put_bw"],
                         f"{py['put_bw']:.2f} vs {0.9 * rust['put_bw']:.2f} GB/s"))
    for what, ok, detail in verdicts:
        print(f"target {what}: {'met' if ok else 'MISSED'} ({detail})")
    if a.json:
        pathlib.Path(a.json).write_text(json.dumps({"python": py, "rust": rust, "mpi4py": mpi,
                                                    "targets": [list(v) for v in verdicts]}, indent=1))
    if a.plot:
        os.makedirs(a.plot, exist_ok=True)
        caption = (f"{svgplot.machine()}; {svgplot.today()}; {'quick' if a.quick else 'full'} plan "
                   f"({5 if a.quick else 7} batches x {4 if a.quick else 20} ms, median); 2 PEs")
        for name, svg in charts({"python": py, "rust": rust, "mpi4py": mpi}, caption).items():
            svgplot.write(os.path.join(a.plot, name), svg)
            print(f"# wrote {os.path.join(a.plot, name)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
