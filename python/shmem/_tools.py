"""The OpenSHMEM command-line tools of the Python package: ``oshcc``, ``oshc++`` (also ``oshcxx``) and ``oshrun``.

``pip install .`` installs them as console scripts, so that a C program written against ``shmem.h`` compiles
and runs with the package alone::

    oshcc -o hello hello.c && oshrun -np 4 ./hello

``oshcc``/``oshc++`` run the system compiler with the include directory of ``shmem.h``/``shmemx.h`` and, when
linking, ``-lshmem_capi -lm`` with its directory as ``-L`` and rpath; the library and headers are inside the package
(``shmem/_capi``, put there by the build). They behave as the cargo-built ``oshcc``/``oshcxx`` do: the compiler
comes from ``$OSHCC_CC``/``$CC`` (``$OSHCXX_CXX``/``$CXX`` for C++), else ``cc``/``c++``, and ``--showme`` /
``--showme:compile|link|command|incdirs|libdirs|libs`` print the command or one part of it.

``oshrun`` is the launcher the extension embeds (the same as ``shmemrun``), taking also the ``-np N`` of other
OpenSHMEM implementations.
"""
from __future__ import annotations

import pathlib
import subprocess
import sys
from typing import List, Optional

CAPI = pathlib.Path(__file__).resolve().parent / "_capi"
LIB_NAME = "libshmem_capi.so"
SHOWME_PARTS = ("compile", "link", "command", "incdirs", "libdirs", "libs")


def capi_dirs() -> Optional[tuple]:
    """``(include_dir, lib_dir)`` of the C library inside the package, or ``None`` when the package was built
    without it (e.g. from an sdist)."""
    inc, lib = CAPI / "include", CAPI / "lib"
    if (inc / "shmem.h").is_file() and (lib / LIB_NAME).is_file():
        return inc, lib
    return None


# Set in the compiler's environment: a wrapper started by a wrapper (e.g. OSHCC_CC=oshcc) stops instead of looping.
_ACTIVE = "OSHCC_WRAPPER_ACTIVE"


def _compiler(cxx: bool) -> str:
    import os
    # Not $CC/$CXX: build systems set CC=oshcc, and a wrapper running $CC would run itself forever.
    name = "OSHCXX_CXX" if cxx else "OSHCC_CC"
    return os.environ.get(name) or ("c++" if cxx else "cc")


def compile_main(argv: Optional[List[str]], cxx: bool) -> int:
    """Runs the compiler wrapper on ``argv`` (without the program name); returns the exit status."""
    import os
    tool = "oshc++" if cxx else "oshcc"
    if os.environ.get(_ACTIVE):
        var = "OSHCXX_CXX" if cxx else "OSHCC_CC"
        print(f"{tool}: the compiler it runs is a SHMEM compiler wrapper again (set {var} to a real compiler)",
              file=sys.stderr)
        return 2
    args = list(sys.argv[1:] if argv is None else argv)
    show = None
    rest = []
    for a in args:
        if a.startswith("--showme") or a.startswith("-showme"):
            part = a.split(":", 1)[1] if ":" in a else ""
            if part and part not in SHOWME_PARTS:
                print(f"{tool}: unknown option {a} (use --showme, --showme:compile, :link, :command, :incdirs, "
                      ":libdirs or :libs)", file=sys.stderr)
                return 2
            show = part or "all"
        else:
            rest.append(a)
    dirs = capi_dirs()
    if dirs is None:
        print(f"{tool}: this shmem package was installed without the OpenSHMEM C library ({CAPI} has no {LIB_NAME} "
              "and shmem.h); install it from the source tree with `pip install .` (cargo builds the library)",
              file=sys.stderr)
        return 2
    inc, lib = dirs
    compiler = _compiler(cxx)
    compile_flags = [f"-I{inc}"]
    link_flags = [f"-L{lib}", f"-Wl,-rpath,{lib}", "-lshmem_capi", "-lm"]
    linking = not any(a in ("-c", "-E", "-S", "-M", "-MM") for a in rest)
    full = compile_flags + rest + (link_flags if linking else [])
    if show is not None:
        print({
            "all": " ".join([compiler, *full]),
            "compile": " ".join(compile_flags),
            "link": " ".join(link_flags),
            "command": compiler,
            "incdirs": str(inc),
            "libdirs": str(lib),
            "libs": "shmem_capi m",
        }[show])
        return 0
    try:
        return subprocess.call([compiler, *full], env={**os.environ, _ACTIVE: "1"})
    except OSError as e:
        var = "OSHCXX_CXX" if cxx else "OSHCC_CC"
        print(f"{tool}: cannot run the compiler `{compiler}`: {e} (install it, or set {var})", file=sys.stderr)
        return 1


def translate_np(args: List[str]) -> List[str]:
    """Rewrites the single-dash ``-np N`` / ``-np=N`` of other launchers into ``--np``, up to the program name
    (the program's own arguments are left alone)."""
    out: List[str] = []
    takes_value = {"-n", "--np", "--n-pes", "--nproc-per-node", "--nnodes", "--node-rank", "--port", "--master-port",
                   "--host", "--master-addr", "--job-token-file", "--timeout", "--grace", "-x", "--env",
                   "--mem-size"}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--" or not a.startswith("-"):
            out.extend(args[i:])
            break
        if a == "-np":
            out.append("--np")
            if i + 1 < len(args):
                out.append(args[i + 1])
            i += 2
            continue
        if a.startswith("-np="):
            out.append("--np=" + a[len("-np="):])
        else:
            out.append(a)
            if a in takes_value and i + 1 < len(args):
                out.append(args[i + 1])
                i += 1
        i += 1
    return out


def oshcc(argv: Optional[List[str]] = None) -> int:
    """The ``oshcc`` console script: compile and link a C program against the package's OpenSHMEM library."""
    code = compile_main(argv, cxx=False)
    if argv is None:
        sys.exit(code)
    return code


def oshcxx(argv: Optional[List[str]] = None) -> int:
    """The ``oshc++`` / ``oshcxx`` console script: the same for C++ (the C++ compiler)."""
    code = compile_main(argv, cxx=True)
    if argv is None:
        sys.exit(code)
    return code


def oshrun(argv: Optional[List[str]] = None) -> int:
    """The ``oshrun`` console script: ``oshrun -np N program args...`` through the embedded launcher."""
    from . import _shmem
    args = sys.argv[1:] if argv is None else list(argv)
    code = _shmem._launch(["oshrun", *translate_np(args)], sys.executable)
    if argv is None:
        sys.exit(code)
    return code
