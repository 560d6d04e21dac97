"""A newcomer's path, exactly as the README's Python section says: ``pip install .`` into a fresh virtual
environment, then every example of ``examples/python`` as a 4-PE job, through ``python -m shmem.run`` and through
the ``shmemrun`` console script, checking the exact lines each PE prints.

The environment is new on every run (nothing of the test's own ``.venv`` is visible in it: no NumPy, no
package) and lives at a fixed path under ``target/`` with ``CARGO_TARGET_DIR`` pointing at the repository's
``target/``, so that maturin's cargo build is incremental: the interpreter path is part of what pyo3's build
depends on, and a path that changed on every run would rebuild pyo3 and the extension each time. PyPI is
reached for the build backend (maturin) and NumPy, through pip's cache when it has them.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "python"
VENV = ROOT / "target" / "install-test-venv"
N = 4

# Building the extension is the slow part (about 15 s when cargo has nothing to do, 1 to 2 minutes when pyo3
# must be rebuilt for this interpreter, several minutes on a machine with an empty target/).
pytestmark = pytest.mark.timeout(1500)

INSTALL_TIMEOUT = 1200
JOB_TIMEOUT = 60  # the launcher's own limit; the subprocess gets a little more


def expected_lines(name: str, n: int) -> set[str]:
    """What each example prints on an n-PE job, with the launcher's ``[rank] `` prefix."""
    if name == "ring":
        return {f"[{r}] PE {r}/{n}: received {(r - 1) % n} from my left neighbour" for r in range(n)}
    if name == "all_to_all":
        # recv row j holds 1000 j + me in each of its 1024 columns.
        return {f"[{r}] PE {r}: all-to-all of {n}x1024 float32 ok; checksum {1024 * sum(1000 * j + r for j in range(n))}"
                for r in range(n)}
    if name == "producer_consumer":
        return {"[0] PE 0: produced 64 chunks of 4096 B",
                f"[1] PE 1: consumed 64 chunks, checksum {sum(i % 251 for i in range(64))}"}
    if name == "team_split":
        assert n % 2 == 0, "rows of 2 PEs: an even PE count"
        lines = set()
        for r in range(n):
            if r % 2 == 0:
                lines.add(f"[{r}] PE {r}: rank {r // 2} of {n // 2} in the even team; its PE 0 is world PE 0; "
                          f"config TeamConfig(num_contexts=0)")
            else:
                lines.add(f"[{r}] PE {r}: not in the even team (team_my_pe = -1)")
            lines.add(f"[{r}] PE {r}: row team rank {r % 2}/2, column team rank {r // 2}/{n // 2}")
        return lines
    if name == "unique_id_ring":
        # Round r brings arange(1024) + 1e6 * left + 1000 r from the left neighbour; the checksum sums 5 rounds.
        def checksum(r: int) -> int:
            left = (r - 1) % n
            return sum(sum(range(1024)) + 1024 * (1_000_000 * left + 1000 * k) for k in range(1, 6))
        return {f"[{r}] PE {r}/{n} ring ok rounds=5 checksum={checksum(r)}" for r in range(n)}
    raise AssertionError(f"examples/python/{name}.py has no expected output in {__file__}: add it")


def example_args(name: str, tmp_path: pathlib.Path) -> list[str]:
    """Arguments an example needs (the unique-ID ring passes its ID through a file)."""
    return ["--uid-file", str(tmp_path / "ring.uid")] if name == "unique_id_ring" else []


def clean_env(venv: pathlib.Path) -> dict:
    """The environment of a user who just created ``venv``: its bin first on PATH, no trace of the test's own
    environment (its venv, a PYTHONPATH) and no launch variables of an enclosing job."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX") and not k.startswith("SHMEM_")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["CARGO_TARGET_DIR"] = str(ROOT / "target")
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def venv() -> pathlib.Path:
    """A fresh virtual environment with ``pip install .`` done from the repository root, as the README says."""
    if shutil.which("cargo") is None:
        pytest.fail("cargo is needed to build the package (README: a Rust toolchain)")
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, timeout=120)
    env = clean_env(VENV)
    py = VENV / "bin" / "python"
    # Really fresh: the test's own environment (which has NumPy and the package) is not visible.
    probe = subprocess.run([str(py), "-c", "import numpy"], env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0, "the new venv sees NumPy before the install: it is not fresh"
    t0 = time.monotonic()
    p = subprocess.run([str(py), "-m", "pip", "install", "."], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=INSTALL_TIMEOUT)
    assert p.returncode == 0, f"pip install . failed:\n{p.stdout[-3000:]}\n{p.stderr[-5000:]}"
    print(f"\npip install . took {time.monotonic() - t0:.1f} s")
    return VENV


def test_plain_install_gives_numpy_and_the_package(venv):
    """The package and NumPy come from the new environment, not from the repository or the test's venv."""
    env = clean_env(venv)
    code = "import numpy, shmem, shmem.run; print(shmem.__file__); print(numpy.__file__)"
    p = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd="/", env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    files = p.stdout.split()
    assert len(files) == 2 and all(f.startswith(str(venv) + "/") for f in files), p.stdout
    assert (venv / "bin" / "shmemrun").is_file()


def examples() -> list[str]:
    names = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert names, f"no examples in {EXAMPLES}"
    return names


def run_job(cmd: list[str], venv: pathlib.Path, tmp_path: pathlib.Path) -> set[str]:
    # From an unrelated directory, as a user would after the install: nothing is imported from the repository.
    p = subprocess.run(cmd, cwd=tmp_path, env=clean_env(venv), capture_output=True, text=True,
                       timeout=JOB_TIMEOUT + 30)
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr and "Warning" not in p.stderr, p.stderr
    return {line for line in p.stdout.splitlines() if line.strip()}


@pytest.mark.parametrize("name", examples())
def test_example_with_python_m_shmem_run(venv, name, tmp_path):
    cmd = [str(venv / "bin" / "python"), "-m", "shmem.run", "-n", str(N), "--timeout", str(JOB_TIMEOUT),
           str(EXAMPLES / f"{name}.py"), *example_args(name, tmp_path)]
    assert run_job(cmd, venv, tmp_path) == expected_lines(name, N)


@pytest.mark.parametrize("name", examples())
def test_example_with_shmemrun_console_script(venv, name, tmp_path):
    # `shmemrun -n 4 examples/python/X.py`: a .py program runs under the venv's interpreter.
    cmd = ["shmemrun", "-n", str(N), "--timeout", str(JOB_TIMEOUT), str(EXAMPLES / f"{name}.py"),
           *example_args(name, tmp_path)]
    assert run_job(cmd, venv, tmp_path) == expected_lines(name, N)


def test_shmemrun_python_program_form(venv, tmp_path):
    # `shmemrun -n 4 python examples/python/ring.py`: `python` is the venv's, found on PATH as after `activate`.
    cmd = ["shmemrun", "-n", str(N), "--timeout", str(JOB_TIMEOUT), "python", str(EXAMPLES / "ring.py")]
    assert run_job(cmd, venv, tmp_path) == expected_lines("ring", N)


def test_c_program_with_the_installed_oshcc_and_oshrun(venv, tmp_path):
    # README "C programs": `oshcc -o hello hello.c && oshrun -np 4 ./hello` with the commands pip installed; the
    # library and headers come from inside the installed package (nothing of the repository's target/).
    env = clean_env(venv)
    p = subprocess.run(["oshcc", "--showme:libdirs"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stdout.startswith(str(venv) + "/"), (p.stdout, p.stderr)
    p = subprocess.run(["oshcc", "-O2", "-o", "hello", str(ROOT / "examples" / "c" / "hello.c")], cwd=tmp_path,
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = run_job(["oshrun", "-np", str(N), "--timeout", str(JOB_TIMEOUT), "./hello"], venv, tmp_path)
    assert lines == {f"[{r}] Hello from PE {r} of {N}: PE {(r - 1) % N} put {(r - 1) % N} into my memory"
                     for r in range(N)}
    assert (venv / "bin" / "oshc++").is_file() and (venv / "bin" / "oshcxx").is_file()


def test_expected_outputs_cover_every_example():
    for name in examples():
        assert expected_lines(name, N)
