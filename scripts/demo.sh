#!/usr/bin/env bash
# The main job: builds the runtime and the launcher, then runs the example programs as multi-PE jobs (the Rust
# examples, then the OpenSHMEM C example through oshcc/oshrun).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-4}
cargo build --release --quiet -p shmem-run --bin shmemrun
cargo build --release --quiet -p shmem --examples
cargo build --release --quiet -p shmem-capi   # oshcc, oshrun and libshmem_capi.so for the C program at the end
echo "== ring on $N PEs"
target/release/shmemrun -n "$N" --timeout 60 target/release/examples/ring
echo "== all-to-all on $N PEs"
target/release/shmemrun -n "$N" --timeout 60 target/release/examples/all_to_all
echo "== producer/consumer pipeline with put-with-signal on 2 PEs"
target/release/shmemrun -n 2 --timeout 60 target/release/examples/pipeline
echo "== ring across 2 \"nodes\" of 2 PEs on this machine (MTE inside a node, TCP between nodes)"
# One shmemrun per node, as on a cluster; the nodes share a job secret and find the store at node 0's address.
secret=$(mktemp)
chmod 600 "$secret"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret"
# A port for the store (and port - 11, torchrun's MASTER_PORT) below Linux's ephemeral range (32768+), so that no
# outgoing connection holds it, and that nothing listens on; a run that still loses the race for it
# ("Address already in use") is repeated on another port.
free_port() {
    local p
    while :; do
        p=$((20011 + RANDOM % 12000))
        if ! (: </dev/tcp/127.0.0.1/$p) 2>/dev/null && ! (: </dev/tcp/127.0.0.1/$((p - 11))) 2>/dev/null; then
            echo "$p"
            return
        fi
    done
}
two_nodes() {
    local port pids=() st=0 log
    port=$(free_port)
    log=$(mktemp)
    for node in 0 1; do
        # Each node's PEs get SHMEM_NODE_ID=node-<rank> and engines MTE|TCP (shmemrun's multi-node defaults).
        target/release/shmemrun --nnodes 2 --node-rank "$node" --master-addr 127.0.0.1 --master-port "$port" \
            --job-token-file "$secret" -n 2 --timeout 60 target/release/examples/ring > >(tee -a "$log") 2>&1 &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid" || st=$?; done
    if [ "$st" -ne 0 ] && grep -q "in use" "$log"; then st=98; fi
    rm -f "$log"
    return "$st"
}
status=0
for attempt in 1 2 3; do
    two_nodes && { status=0; break; } || status=$?
    [ "$status" -eq 98 ] || break
    echo "(the store's port was taken meanwhile: again on another port)"
done
rm -f "$secret"
echo "== OpenSHMEM C program examples/c/hello.c on $N PEs (compiled with oshcc, run with oshrun)"
target/release/oshcc -O2 -o target/release/examples/hello_c examples/c/hello.c
target/release/oshrun -np "$N" --timeout 60 target/release/examples/hello_c
exit "$status"
