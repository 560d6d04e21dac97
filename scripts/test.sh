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
echo "$passed passed, $failed failed"
