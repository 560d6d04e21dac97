#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what it needs, then formatting, lints and every
# test (unit, property, multi-process). CI (.ci/run) calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is required (install a Rust toolchain with rustup)" >&2
    exit 1
fi
export CARGO_TERM_COLOR=never
# /dev/shm must exist and be writable: the symmetric heaps live there.
test -w /dev/shm || { echo "/dev/shm is not writable: the symmetric heap needs POSIX shared memory" >&2; exit 1; }

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --release 2>&1 | tee /tmp/shmem-test.log | grep -E "^(test |running|test result|error|failures|---- )|panicked|FAILED" || true
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
    echo "== cargo test failed (exit $status); full log: /tmp/shmem-test.log" >&2
    tail -n 80 /tmp/shmem-test.log >&2
    exit "$status"
fi
passed=$(grep -Eo "test result: ok\. [0-9]+ passed" /tmp/shmem-test.log | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo "[0-9]+ failed" /tmp/shmem-test.log | awk '{s+=$1} END {print s+0}')
echo "== python bindings (pytest)"
# A venv under .venv with the build and test tools (installed once), the extension built into it with maturin
# (incremental: cargo rebuilds only what changed), then pytest with a per-test timeout.
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c "import maturin, pytest, pytest_timeout, numpy, hypothesis" 2>/dev/null; then
    .venv/bin/pip install -q --disable-pip-version-check maturin pytest pytest-timeout numpy hypothesis
fi
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop --release --quiet >/tmp/shmem-maturin.log 2>&1 || {
    echo "== maturin develop failed; log: /tmp/shmem-maturin.log" >&2
    tail -n 40 /tmp/shmem-maturin.log >&2
    exit 1
}
set +e
.venv/bin/python -m pytest tests/python -q -p no:cacheprovider --timeout 180 >/tmp/shmem-pytest.log 2>&1
py_status=$?
set -e
tail -n 25 /tmp/shmem-pytest.log
py_summary=$(grep -E "^[0-9]+ (passed|failed)|^=+ .*[0-9]+ (passed|failed|error)" /tmp/shmem-pytest.log | tail -n 1 || true)
py_passed=$(echo "$py_summary" | { grep -Eo "[0-9]+ passed" || true; } | awk '{s+=$1} END {print s+0}')
py_failed=$(echo "$py_summary" | { grep -Eo "[0-9]+ (failed|errors?)" || true; } | awk '{s+=$1} END {print s+0}')
passed=$((passed + ${py_passed:-0}))
failed=$((failed + ${py_failed:-0}))
if [ "$py_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1   # pytest failed without a countable result (collection error, crash): count it
fi
echo "$passed passed, $failed failed"
if [ "$py_status" -ne 0 ]; then
    echo "== pytest failed (exit $py_status); full log: /tmp/shmem-pytest.log" >&2
    exit "$py_status"
fi
