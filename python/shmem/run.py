"""``python -m shmem.run -n N [options] script.py [args]``: starts N PEs of a program on this machine.

The Rust launcher (the same as the ``shmemrun`` command): each PE gets its rank and the job's bootstrap
address in its environment, output lines are prefixed with the rank, the job is torn down when one PE fails,
and the exit status is the failed PE's. A program ending in ``.py`` runs under this Python interpreter. See
``python -m shmem.run --help``.
"""
from __future__ import annotations

import sys
from typing import List, Optional

from . import _shmem


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the launcher on ``argv`` (default: the command line) and exits with the job's status."""
    args = sys.argv[1:] if argv is None else list(argv)
    code = _shmem._launch(["shmemrun", *args], sys.executable)
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
