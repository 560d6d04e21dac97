"""The OpenSHMEM tools of the installed package: a C program compiled with its ``oshcc`` and run with its
``oshrun -np N`` (exact output), a C++ one with ``oshc++``, ``--showme``, and the tools' errors.

The commands are the console scripts beside this interpreter (what ``pip install .`` or ``maturin develop``
installed); the C library and headers come from inside the package (``shmem/_capi``, staged by the build
backend, tools/build_backend/shmem_build.py; scripts/test.sh stages them before ``maturin develop``). A package
built without them (from an sdist) skips these tests with the reason.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from shmem import _tools

ROOT = pathlib.Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "c" / "hello.c"
CXX_PROGRAM = ROOT / "crates" / "shmem-capi" / "tests" / "c" / "cxx.cpp"
BIN = pathlib.Path(sys.executable).parent

needs_capi = pytest.mark.skipif(
    _tools.capi_dirs() is None,
    reason=f"the installed shmem package has no C library ({_tools.CAPI} lacks libshmem_capi.so/shmem.h): "
           "install it with `pip install .`, or run tools/build_backend/shmem_build.py before `maturin develop`")


def tool(name: str) -> str:
    path = BIN / name
    assert path.is_file(), f"{name} is not installed beside {sys.executable}"
    return str(path)


def env() -> dict:
    """This environment without the compiler variables (the tools' own defaults) and launch variables."""
    return {k: v for k, v in os.environ.items()
            if k not in ("CC", "CXX", "OSHCC_CC", "OSHCXX_CXX") and not k.startswith("SHMEM_")}


def run(cmd: list, cwd: pathlib.Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def hello_lines(n: int) -> set:
    """What examples/c/hello.c prints on n PEs, with the launcher's ``[rank] `` prefix."""
    return {f"[{r}] Hello from PE {r} of {n}: PE {(r - 1) % n} put {(r - 1) % n} into my memory" for r in range(n)}


@pytest.fixture(scope="module")
def hello(tmp_path_factory) -> pathlib.Path:
    if shutil.which("cc") is None:
        pytest.fail("no C compiler `cc` on PATH (scripts/test.sh installs gcc)")
    exe = tmp_path_factory.mktemp("capi") / "hello"
    p = run([tool("oshcc"), "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, HELLO], cwd=exe.parent)
    assert p.returncode == 0, f"oshcc failed:\n{p.stdout}\n{p.stderr}"
    return exe


@needs_capi
@pytest.mark.parametrize("np_form", [["-np", "2"], ["-np=3"], ["-n", "4"]])
def test_c_program_with_oshcc_and_oshrun(hello, np_form, tmp_path):
    n = int(np_form[-1].split("=")[-1])
    p = run([tool("oshrun"), *np_form, "--timeout", "60", hello], cwd=tmp_path)
    assert p.returncode == 0, f"oshrun exited {p.returncode}\n{p.stdout}\n{p.stderr}"
    assert set(p.stdout.splitlines()) == hello_lines(n) and len(p.stdout.splitlines()) == n, p.stdout


@needs_capi
def test_program_arguments_after_the_program_are_left_alone(tmp_path):
    # `-np` after the program belongs to the program: `sh -c 'echo "$@"' x -np 7` prints it unchanged.
    p = run([tool("oshrun"), "-np", "2", "--timeout", "60", "sh", "-c", 'echo "$@"', "x", "-np", "7"], cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines()) == ["[0] -np 7", "[1] -np 7"]


@needs_capi
def test_cpp_program_with_oshcpp(tmp_path):
    if shutil.which("c++") is None:
        pytest.fail("no C++ compiler `c++` on PATH (scripts/test.sh installs g++)")
    exe = tmp_path / "cxx"
    p = run([tool("oshc++"), "-O2", "-Wall", "-Werror", "-o", exe, CXX_PROGRAM], cwd=tmp_path)
    assert p.returncode == 0, f"oshc++ failed:\n{p.stdout}\n{p.stderr}"
    # The program checks the ring's values itself (exit 3 on a mismatch).
    p = run([tool("oshrun"), "-np", "2", "--timeout", "60", exe], cwd=tmp_path)
    assert (p.returncode, p.stdout) == (0, ""), p.stderr


@needs_capi
def test_showme_names_the_package_library(tmp_path):
    inc, lib = _tools.capi_dirs()
    assert run([tool("oshcc"), "--showme:compile"], tmp_path).stdout == f"-I{inc}\n"
    assert run([tool("oshcc"), "-showme:link"], tmp_path).stdout == f"-L{lib} -Wl,-rpath,{lib} -lshmem_capi -lm\n"
    assert run([tool("oshc++"), "--showme:command"], tmp_path).stdout == "c++\n"
    assert run([tool("oshcxx"), "--showme", "-c", "a.cpp"], tmp_path).stdout == f"c++ -I{inc} -c a.cpp\n"
    p = run([tool("oshcc"), "--showme:flags"], tmp_path)
    assert p.returncode == 2 and "oshcc: unknown option --showme:flags" in p.stderr, p.stderr


@needs_capi
def test_tool_errors(hello, tmp_path):
    # A compiler that is not there: status 1 and the variable to set.
    e = env()
    e["OSHCC_CC"] = "/nonexistent/cc"
    p = subprocess.run([tool("oshcc"), "-o", str(tmp_path / "a"), str(HELLO)], env=e, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1 and "oshcc: cannot run the compiler `/nonexistent/cc`" in p.stderr, p.stderr
    assert not (tmp_path / "a").exists()
    # A bad PE count: the launcher's usage error (status 2), nothing started.
    p = run([tool("oshrun"), "-np", "0", hello], tmp_path)
    assert p.returncode == 2 and "invalid value '0'" in p.stderr and p.stdout == "", (p.stdout, p.stderr)
    # A program that does not exist.
    p = run([tool("oshrun"), "-np", "2", tmp_path / "missing"], tmp_path)
    assert p.returncode == 127 and "cannot start" in p.stderr, p.stderr


def test_translate_np():
    t = _tools.translate_np
    assert t(["-np", "4", "./a", "-np", "2"]) == ["--np", "4", "./a", "-np", "2"]
    assert t(["-np=3", "--timeout", "5", "./a"]) == ["--np=3", "--timeout", "5", "./a"]
    assert t(["-n", "2", "-x", "A=1", "--", "-a"]) == ["-n", "2", "-x", "A=1", "--", "-a"]
    assert t(["--no-prefix", "-np", "2", "prog"]) == ["--no-prefix", "--np", "2", "prog"]
