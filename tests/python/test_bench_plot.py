"""The Python benchmark's charts (benches/python/bench.py --plot, drawn by benches/python/svgplot.py): valid SVG
with one line per source, points where the values are, log axes; and one real quick run writes them."""
from __future__ import annotations

import importlib.util
import math
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH_DIR = ROOT / "benches" / "python"
NS = "{http://www.w3.org/2000/svg}"


def load(name: str):
    sys.path.insert(0, str(BENCH_DIR))
    try:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH_DIR / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH_DIR))


svgplot = load("svgplot")
bench = load("bench")


def texts(root) -> list[str]:
    return [(t.text or "").strip() for t in root.iter(f"{NS}text")]


def lines(root) -> dict[str, list[tuple[float, float]]]:
    """Series name (the group's <title>) -> the polyline's points in SVG coordinates."""
    out = {}
    for g in root.iter(f"{NS}g"):
        title, poly = g.find(f"{NS}title"), g.find(f"{NS}polyline")
        if title is not None and poly is not None:
            out[title.text] = [tuple(map(float, p.split(","))) for p in poly.get("points").split()]
    return out


def test_line_chart_is_valid_svg_with_log_axes():
    series = {"Python (shmem)": [(8, 400.0), (64, 410.0), (4096, 800.0)],
              "Rust (shmem)": [(8, 100.0), (4096, 0.0), (64, 150.0)],     # 0 cannot go on a log axis: dropped
              "empty": []}
    svg = svgplot.line_chart("t <&>", "message size", "ns", series, "CPU X, 2 cores; 2026-01-02; quick plan")
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    t = texts(root)
    for want in ["t <&>", "Python (shmem)", "Rust (shmem)", "8 B", "64 B", "4 KiB", "CPU X, 2 cores; 2026-01-02; quick plan"]:
        assert want in t, (want, t)
    assert "empty" not in t
    got = lines(root)
    assert list(got) == ["Python (shmem)", "Rust (shmem)"]
    py, rs = got["Python (shmem)"], got["Rust (shmem)"]
    assert len(py) == 3 and len(rs) == 2
    assert len(list(root.iter(f"{NS}circle"))) == 5
    # Log x: 8 -> 64 and 64 -> 512 would be the same distance; 64 -> 4096 is twice 8 -> 64.
    assert math.isclose(py[2][0] - py[1][0], 2 * (py[1][0] - py[0][0]), rel_tol=1e-3)
    # Log y: values grow upwards (smaller y), and heights are ratios: 100 -> 150 is log(1.5)/log(2) of 400 -> 800.
    assert py[2][1] < py[0][1] and rs[1][1] < rs[0][1]
    h = py[0][1] - py[2][1]                     # 400 -> 800: one doubling
    assert math.isclose(rs[0][1] - rs[1][1], h * math.log(1.5) / math.log(2), rel_tol=0.02)
    with pytest.raises(ValueError):
        svgplot.line_chart("none", "x", "y", {"a": [(8, 0.0)]}, "c")


def test_bench_charts_name_every_source():
    result = lambda f: {"sweep": {"put_quiet_lat": {"8": 100 * f, "64": 110 * f, "512": 120 * f, "4096": 200 * f},
                                  "get_lat": {"8": 90 * f},
                                  "put_bw": {str(4096 << (2 * i)): 5.0 * f for i in range(8)}}}
    charts = bench.charts({"python": result(2), "rust": result(1), "mpi4py": {"sweep": {"put_quiet_lat": {"8": 900}}}},
                          "caption")
    assert sorted(charts) == ["python-bandwidth-put.svg", "python-latency-get.svg", "python-latency-put.svg"]
    lat = ET.fromstring(charts["python-latency-put.svg"])
    got = lines(lat)
    assert list(got) == ["Python (shmem)", "Rust (shmem)", "mpi4py (Open MPI RMA, Put/Get + Flush)"]
    assert [len(p) for p in got.values()] == [4, 4, 1]
    bw = ET.fromstring(charts["python-bandwidth-put.svg"])
    assert "64 MiB" in texts(bw) and "GB/s" in " ".join(texts(bw))
    assert list(lines(bw)) == ["Python (shmem)", "Rust (shmem)"], "mpi4py has no bandwidth values here"
    # Without Rust and mpi4py (--no-rust, no --mpi4py) the charts hold the Python line alone.
    alone = bench.charts({"python": result(1), "rust": {}, "mpi4py": {}}, "c")
    assert [list(lines(ET.fromstring(s))) for s in alone.values()] == [["Python (shmem)"]] * 3


def test_quick_bench_run_writes_the_charts(tmp_path):
    """One real run (a 2-PE job; --no-rust keeps it to a few seconds): the charts exist, parse and carry the
    measured sizes."""
    out = tmp_path / "plots"
    p = subprocess.run([sys.executable, str(BENCH_DIR / "bench.py"), "--quick", "--no-rust", "--plot", str(out),
                        "--json", str(tmp_path / "r.json")], cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert p.returncode == 0, p.stdout + p.stderr
    names = sorted(f.name for f in out.iterdir())
    assert names == ["python-bandwidth-put.svg", "python-latency-get.svg", "python-latency-put.svg"]
    for name in names:
        root = ET.parse(out / name).getroot()
        got = lines(root)
        assert list(got) == ["Python (shmem)"], name
        assert len(got["Python (shmem)"]) == (8 if "bandwidth" in name else 4), name
        assert any(" cores; " in t and "quick plan" in t for t in texts(root)), texts(root)
