"""The examples in examples/python run cleanly on 2 and 4 PEs."""
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python"


@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("name", ["ring", "all_to_all", "producer_consumer", "team_split"])
def test_example(name, n):
    cmd = [sys.executable, "-m", "shmem.run", "-n", str(n), "--timeout", "60", str(EXAMPLES / f"{name}.py")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Warning" not in p.stderr, p.stderr
