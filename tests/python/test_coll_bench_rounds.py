"""benches/python/coll_bench.py --rounds: each side's median over the rounds (not the median ratio), the range of
the per-round ratios, the verdict taken on the medians, and a round count below 1 refused."""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benches" / "python" / "coll_bench.py"


def load():
    spec = importlib.util.spec_from_file_location("_bench_coll_bench", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cb = load()


def test_each_side_takes_its_own_median():
    r1 = [("x", 2, 8, 1000.0, 4000.0), ("y", 2, 8, None, 4000.0)]
    r2 = [("x", 2, 8, 3000.0, 2000.0), ("y", 2, 8, 2000.0, None)]
    r3 = [("x", 2, 8, 2000.0, 3000.0), ("y", 2, 8, None, None)]
    rows = cb.median_rows([r1, r2, r3])
    # x: python 1000/3000/2000 -> 2000, mpi4py 4000/2000/3000 -> 3000; y: a side's missing rounds are skipped.
    assert rows == [("x", 2, 8, 2000.0, 3000.0), ("y", 2, 8, 2000.0, 4000.0)]
    assert cb.median([4.0, 1.0, 3.0, 2.0]) == 2.0 and cb.median([None, None]) is None
    assert cb.ratio_range([r1, r2, r3], 0) == "0.25-1.50x"
    assert cb.ratio_range([r1, r2, r3], 1) == "-"
    lines = cb.table(rows, [r1, r2, r3]).splitlines()
    assert lines[0].endswith("| target | per-round ratios |")
    assert lines[2] == "| x | 2 | 8 B | 2.00 | 3.00 | 0.67x | - | - | <= 0.5x: MISSED | 0.25-1.50x |"
    assert lines[3] == "| y | 2 | 8 B | 2.00 | 4.00 | 0.50x | - | - | <= 0.5x: met | - |"
    # One round: the table has no ratio-range column.
    assert cb.table(rows).splitlines()[0].endswith("| target |")


def test_rounds_below_one_are_refused():
    p = subprocess.run([sys.executable, str(SCRIPT), "--rounds", "0"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "--rounds must be at least 1" in p.stderr


def test_the_header_names_both_sides_page_policies(tmp_path):
    mounts, thp = tmp_path / "mounts", tmp_path / "enabled"
    thp.write_text("always [madvise] never\n")
    mounts.write_text("proc /proc proc rw 0 0\ntmpfs /dev/shm tmpfs rw,relatime,size=1024k,huge=advise 0 0\n")
    assert cb.pages_line(str(mounts), str(thp), {}) == ("pages: /dev/shm huge=advise, blocks from 2M collapsed to "
                                                        "2 MiB pages (our heap), anonymous THP madvise (mpi4py's "
                                                        "NumPy buffers)")
    # No huge= option is tmpfs's default, never; no /dev/shm mount and no THP at all are said as such; the
    # collapse follows SHMEM_HEAP_COLLAPSE_MIN as the PEs will read it.
    mounts.write_text("tmpfs /dev/shm tmpfs rw,relatime 0 0\n")
    assert cb.pages_line(str(mounts), str(thp), {"SHMEM_HEAP_COLLAPSE_MIN": "8M"}).startswith(
        "pages: /dev/shm huge=never, blocks from 8M collapsed to 2 MiB pages (our heap)")
    mounts.write_text("proc /proc proc rw 0 0\n")
    assert cb.pages_line(str(mounts), str(tmp_path / "none"), {"SHMEM_HEAP_COLLAPSE_MIN": "off"}) == \
        ("pages: /dev/shm absent, no blocks collapsed to 2 MiB pages (our heap), anonymous THP unavailable "
         "(mpi4py's NumPy buffers)")
