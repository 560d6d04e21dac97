#!/usr/bin/env bash
# Idempotent installer for the reference benchmark kit.
#
#   ./install.sh                 # installs openmpi-bin + libopenmpi-dev (apt) if missing
#   ./install.sh --mpi4py VENV   # additionally pip-installs mpi4py (and NumPy) into the venv VENV
#                                # (created with `python3 -m venv VENV` if it does not exist),
#                                # built from source against the system Open MPI with mpicc
#                                # (pip --no-binary mpi4py; ~2 min on 2 cores)
#   ./install.sh --mpi4py VENV --mpi4py-wheel
#                                # use the binary wheel instead (seconds; it dlopens the
#                                # system libmpi.so.40 too, but measured ~100 ns slower
#                                # per RMA call than the source build on this machine)
#
# apt-get update is only run when a package is missing. Exits 0 when everything
# is already present.
set -euo pipefail

PKGS=(openmpi-bin libopenmpi-dev)
VENV=""
FROM_SOURCE=1

while [ $# -gt 0 ]; do
    case "$1" in
        --mpi4py) VENV="${2:?--mpi4py needs a venv path}"; shift 2 ;;
        --mpi4py-wheel) FROM_SOURCE=0; shift ;;
        --mpi4py-source) FROM_SOURCE=1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "install.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${PKGS[@]}"
else
    echo "install.sh: ${PKGS[*]} already installed" >&2
fi

if [ -n "$VENV" ]; then
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    if "$VENV/bin/python" -c 'import mpi4py' 2>/dev/null; then
        echo "install.sh: mpi4py already installed in $VENV" >&2
    else
        # The source build needs libopenmpi-dev (mpicc, libmpi.so) and a
        # C compiler; the binary wheel (mpi4py >= 4) dlopens the system
        # libmpi.so.40 at run time.
        extra=()
        if [ "$FROM_SOURCE" = 1 ]; then extra=(--no-binary mpi4py); fi
        MPICC="${MPICC:-mpicc}" "$VENV/bin/pip" install --no-cache-dir "${extra[@]}" mpi4py
    fi
    # mpi4py_bench.py --coll (Bcast/Allreduce on float64 arrays) needs NumPy (a binary wheel).
    if ! "$VENV/bin/python" -c 'import numpy' 2>/dev/null; then
        "$VENV/bin/pip" install --no-cache-dir numpy
    fi
fi
exit 0
