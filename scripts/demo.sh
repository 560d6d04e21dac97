#!/usr/bin/env bash
# The main job: builds the runtime and the launcher, then runs the example programs as multi-PE jobs.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4}
cargo build --release --quiet -p shmem-run --bin shmemrun
cargo build --release --quiet -p shmem --examples
echo "== ring on $N PEs"
target/release/shmemrun -n "$N" --timeout 60 target/release/examples/ring
echo "== all-to-all on $N PEs"
target/release/shmemrun -n "$N" --timeout 60 target/release/examples/all_to_all
echo "== producer/consumer pipeline with put-with-signal on 2 PEs"
target/release/shmemrun -n 2 --timeout 60 target/release/examples/pipeline
