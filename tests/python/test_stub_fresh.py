"""The checked-in typed stub is what the generator makes from the extension as built: a name added to the binding
without regenerating the stub fails here (issue #11: the stub cannot drift)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_checked_in_stub_matches_a_fresh_generation():
    tool = ROOT / "crates" / "bindings-python" / "tools" / "gen_stub.py"
    p = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
