"""The package's PEP 517 build backend: maturin, after putting the OpenSHMEM C library into the package.

``pip install .`` must give working ``oshcc``/``oshc++``/``oshrun`` commands, and ``oshcc`` needs
``libshmem_capi.so`` and ``shmem.h``/``shmemx.h``. Maturin builds one crate (the Python extension), so before it
runs, :func:`stage` builds the C-interface crate (``cargo build --release -p shmem-capi --lib``) and copies the
library and headers to ``python/shmem/_capi/{lib,include}``; maturin then packs them with the rest of
``python/shmem`` (they are listed in ``[tool.maturin] include`` because ``.gitignore`` hides the staged copies
from git). Every hook is maturin's; only the two that build a wheel stage first.

``python tools/build_backend/shmem_build.py`` stages without building a wheel: ``scripts/test.sh`` runs it
before ``maturin develop`` (an editable install reads ``python/shmem`` in place).

Building from an sdist (which has no ``crates/shmem-capi``) packs no C library: the package works, and its
``oshcc`` says that the C library was not installed.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import maturin
from maturin import (  # noqa: F401  (the hooks maturin implements, re-exported unchanged)
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRATE = ROOT / "crates" / "shmem-capi"
STAGE = ROOT / "python" / "shmem" / "_capi"
LIB_NAME = "libshmem_capi.so"


def stage(*, quiet: bool = False) -> bool:
    """Builds the C library and copies it and the headers under ``python/shmem/_capi``; returns whether it did
    (``False`` when the crate is not in this source tree). Raises ``RuntimeError`` when the build fails."""
    if not (CRATE / "Cargo.toml").is_file():
        print(f"shmem build: {CRATE} is missing: the package will have no C library (oshcc)", file=sys.stderr)
        return False
    cmd = ["cargo", "build", "--release", "-p", "shmem-capi", "--lib", "--message-format=json-render-diagnostics"]
    if quiet:
        cmd.append("--quiet")
    p = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed (exit {p.returncode}); see the messages above")
    # The artifact's path from cargo's own messages: right whatever CARGO_TARGET_DIR or the profile's layout.
    lib = None
    for line in p.stdout.splitlines():
        msg = json.loads(line) if line.startswith("{") else {}
        if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "shmem_capi":
            lib = next((f for f in msg.get("filenames", []) if f.endswith(LIB_NAME)), lib)
    if lib is None:
        raise RuntimeError(f"cargo built shmem-capi but reported no {LIB_NAME}")
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "lib").mkdir(parents=True)
    (STAGE / "include").mkdir()
    shutil.copy2(lib, STAGE / "lib" / LIB_NAME)
    # The release profile keeps debug info (30 MB); the installed copy does not need it.
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-debug", str(STAGE / "lib" / LIB_NAME)], check=False)
    for header in ("shmem.h", "shmemx.h"):
        shutil.copy2(CRATE / "include" / header, STAGE / "include" / header)
    (STAGE / "README").write_text(
        "Staged by tools/build_backend/shmem_build.py from crates/shmem-capi (the C library and headers that\n"
        "oshcc uses); not tracked by git, rebuilt on every wheel build.\n")
    if not quiet:
        print(f"shmem build: staged {LIB_NAME} and the headers in {STAGE}", file=sys.stderr)
    return True


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    """Maturin's ``build_wheel`` after :func:`stage`."""
    stage()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """Maturin's ``build_editable`` after :func:`stage`."""
    stage()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)


if __name__ == "__main__":
    sys.exit(0 if stage(quiet="--quiet" in sys.argv[1:]) else 1)
