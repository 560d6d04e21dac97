#!/usr/bin/env bash
# Tests the RoCE engine on a real RDMA verbs stack: Linux soft-RoCE (rdma_rxe) inside a qemu VM.
#
# This host has no RDMA NIC and its kernel has no RDMA subsystem, so the script
#   1. installs what it needs (rdma-core headers, cmake, libclang for the verbs bindings; debootstrap, cpio;
#      qemu-system-x86 from bookworm-backports through a private apt source list, leaving /etc/apt alone);
#   2. builds the test binaries on the host with the `roce` feature (host and guest are both bookworm, so they
#      run in the guest unchanged), and checks on the host that selecting ROCE without a device is the
#      documented NOT_SUPPORTED error;
#   3. builds (once, cached under target/roce-vm/ keyed by its inputs) a Debian kernel and an initramfs root
#      with ibverbs-providers, iproute2 and kmod;
#   4. boots it under qemu TCG with no network (`-nic none`), makes rxe0 on the loopback interface and runs,
#      inside the VM, the engine conformance suite, a peer the engine gives up on (its queue pair stopped after a
#      timeout), the multi-process RMA/signal/AMO/barrier trials with engine
#      ROCE on 2 and 4 PEs, the same with MTE inside nodes and ROCE between two SHMEM_NODE_IDs, a PE that dies,
#      and the latency/bandwidth example (a correctness check: TCG timings are not performance).
# The guest passes its result out through the isa-debug-exit port and prints a success line; a VM failure, a
# wrong exit code or a missing success line fails the script. The last line is "N passed, M failed" (tests).
#
# Knobs: ROCE_VM_CPUS (2), ROCE_VM_MEM (3072, MiB), ROCE_VM_TIMEOUT (seconds for the boot and tests, 480),
# ROCE_VM_PE_ROCE and ROCE_VM_PE_MIXED (filter and --skips of the pe trials over ROCE alone and over MTE|ROCE),
# ROCE_VM_CONF_FILTER (a filter for the conformance cases, default all).
set -euo pipefail
cd "$(dirname "$0")/.."
root_dir=$PWD
t0=$(date +%s)
log() { echo "[roce-vm $(($(date +%s) - t0))s] $*"; }
fail() { echo "[roce-vm] FAILED: $*" >&2; echo "0 passed, 1 failed"; exit 1; }

vm=target/roce-vm
mkdir -p "$vm"
export DEBIAN_FRONTEND=noninteractive

# --- 1. host packages ---------------------------------------------------------------------------------------
need=()
for p in libibverbs-dev cmake libclang-dev debootstrap cpio; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null || fail "apt-get install ${need[*]}"
fi
# The machine's configured Debian mirror (never a hard-coded host): the first URI of a source for bookworm.
mirror=$(
    { grep -hs -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list || true; } |
        grep -v security | sed -E 's/^URIs:[[:space:]]*//; s/^deb (\[[^]]*\] )?//' | awk '{print $1}' | grep -m1 debian || true
)
[ -n "$mirror" ] || fail "no Debian mirror in the apt sources"
if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    log "installing qemu-system-x86 from bookworm-backports ($mirror)"
    b="$root_dir/$vm/apt"
    mkdir -p "$b/lists/partial" "$b/archives/partial"
    printf 'deb %s bookworm main\ndeb %s bookworm-backports main\n' "$mirror" "$mirror" >"$b/sources.list"
    apt_priv=(-o "Dir::Etc::sourcelist=$b/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::lists=$b/lists"
        -o "Dir::Cache::archives=$b/archives")
    apt-get "${apt_priv[@]}" update -qq || fail "apt-get update (private backports list)"
    apt-get "${apt_priv[@]}" install -y -qq -t bookworm-backports --no-install-recommends qemu-system-x86 >/dev/null ||
        fail "installing qemu-system-x86 from bookworm-backports"
fi

# --- 2. test binaries (host) --------------------------------------------------------------------------------
log "building the test binaries with --features roce"
# Two invocations, so that the facade is built with exactly the features the pe tests need.
exes=$({
    cargo test --release -p shmem --features roce --test pe --no-run --message-format=json &&
        cargo test --release -p transport-roce --features device-tests --test conformance --test no_device --test give_up --no-run \
            --message-format=json
} 2>"$vm/build.log" | grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//') ||
    { tail -n 30 "$vm/build.log" >&2; fail "cargo build"; }
cargo build --release -p transport-roce --example roce_latency 2>>"$vm/build.log" || { tail -n 30 "$vm/build.log" >&2; fail "example"; }
pick() { echo "$exes" | grep "/$1-[0-9a-f]*$" | head -n 1; }
conf=$(pick conformance); nodev=$(pick no_device); giveup=$(pick give_up); pe=$(pick pe)
lat=target/release/examples/roce_latency
for f in "$conf" "$nodev" "$giveup" "$pe" "$lat"; do [ -x "$f" ] || fail "missing test binary ($f)"; done

# Host side: no verbs device here, so selecting ROCE is NOT_SUPPORTED naming it (engine and facade level).
log "host: ROCE without a device"
host_out=$("$nodev" 2>&1) || { echo "$host_out"; fail "no_device on the host"; }
echo "$host_out" | grep -E "^test result:"
host_pe=$(SHMEM_TEST_SKIP_NETNS=1 "$pe" --exact engine_selection_2pe 2>&1) || { echo "$host_pe"; fail "engine_selection on the host"; }
echo "$host_pe" | grep -E "^test result:"
host_results="$host_out"$'\n'"$host_pe"

# --- 3. kernel and root filesystem (cached) -----------------------------------------------------------------
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ -z "$pkg" ]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
[ -n "$pkg" ] || fail "cannot tell which kernel linux-image-amd64 depends on"
kv=${pkg#linux-image-}
root_pkgs="ibverbs-providers,ibverbs-utils,rdma-core,iproute2,kmod,libgcc-s1"
key=$(printf '%s|%s|%s|%s' bookworm "$kv" "$root_pkgs" "$(sed -n '/^# >>> image recipe/,/^# <<< image recipe/p' "$0")" |
    sha256sum | cut -c1-16)
base="$vm/base-$key.cpio"
kernel="$vm/vmlinuz-$kv"
# >>> image recipe (its text is part of the cache key)
if [ ! -s "$base" ] || [ ! -s "$kernel" ]; then
    log "building the VM image ($kv, key $key)"
    work="$vm/build-$key"
    rm -rf "$vm"/build-* "$vm"/base-*.cpio "$vm"/vmlinuz-* && mkdir -p "$work/dl"
    (cd "$work/dl" && apt-get download -qq "$pkg") || fail "apt-get download $pkg"
    dpkg -x "$work"/dl/*.deb "$work/k"
    debootstrap --variant=minbase --include="$root_pkgs" bookworm "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
    m="lib/modules/$kv"
    mkdir -p "$work/root/$m/kernel/drivers/net"
    for d in drivers/infiniband net crypto arch lib; do
        mkdir -p "$work/root/$m/kernel/$(dirname "$d")"
        cp -a "$work/k/$m/kernel/$d" "$work/root/$m/kernel/$(dirname "$d")/"
    done
    cp "$work/k/$m/kernel/drivers/net/dummy.ko" "$work/root/$m/kernel/drivers/net/"
    cp "$work/k/$m"/modules.builtin* "$work/k/$m/modules.order" "$work/root/$m/" 2>/dev/null || true
    chroot "$work/root" depmod "$kv"  # the root's own kmod (the host may have none)
    rm -rf "$work/root"/usr/share/{doc,man,info,locale} "$work/root"/var/cache/apt/* "$work/root"/var/lib/apt/lists/*
    (cd "$work/root" && find . -print0 | cpio --null -o -H newc --quiet) >"$base.tmp"
    cp "$work/k/boot/vmlinuz-$kv" "$kernel.tmp"
    mv "$base.tmp" "$base" && mv "$kernel.tmp" "$kernel"
    rm -rf "$work"
fi
# <<< image recipe

# --- 4. the run's files and the boot ------------------------------------------------------------------------
run="$vm/run"
rm -rf "$run" && mkdir -p "$run/t"
cp "$conf" "$run/t/conformance"; cp "$nodev" "$run/t/no_device"; cp "$giveup" "$run/t/give_up"; cp "$pe" "$run/t/pe"; cp "$lat" "$run/t/roce_latency"
# The pe trials (libtest-mimic: one filter, any number of --skip). Under TCG every verbs operation costs tens of
# microseconds, so the default is the RMA, signal, AMO, barrier and wait trials, not the argument-checking ones
# (engine-independent, covered on the host) nor 8 PEs; AMO contention on more than 2 PEs is the conformance
# suite's (3 PEs x 2 threads, every AMO), amo_contention runs on 2 PEs (10^5 adds each). amo_contention with
# MTE|ROCE is left out: PEs 0 and 1 finish their 10^5 MTE atomics long before PEs 2 and 3 finish theirs over
# soft-RoCE under TCG, and then time out in the next collective allocation's barrier (30 s) - TCG speed, not
# correctness.
pe_roce=${ROCE_VM_PE_ROCE:-"_roce --skip mte_roce --skip 8pe --skip bad_arguments --skip sync_bad_inputs \
--skip finalize_in_flight --skip wait_every_type --skip nbi_then_quiet_2pe --skip wait_any_some_all_2pe \
--skip ptr_direct_4pe --skip amo_contention_4pe --skip nbi_stress"}
pe_mixed=${ROCE_VM_PE_MIXED:-"_4pe_mte_roce_2ppn --skip amo_contention --skip ptr_direct --skip wait_any \
--skip nbi_then_quiet --skip barrier_rounds"}
conf_filter=${ROCE_VM_CONF_FILTER:-}
cat >"$run/init.sh" <<EOF
#!/bin/sh
# PID 1 of the test VM: soft-RoCE on loopback, the suites, the verdict through isa-debug-exit.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root RUST_BACKTRACE=1
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/shm /tmp; mount -t tmpfs -o size=2g shm /dev/shm; mount -t tmpfs tmp /tmp
ip link set lo up
modprobe rdma_rxe && rdma link add rxe0 type rxe netdev lo
ibv_devices
rdma link show
failed=0
run() {
    name=\$1; shift
    echo "== roce-vm step: \$name"
    if "\$@"; then echo "== roce-vm step ok: \$name"; else echo "== roce-vm step FAILED: \$name"; failed=1; fi
}
cd /t
export SHMEM_ROCE_REQUIRED=1
run "engine on a device (one PE, loopback)" ./no_device --test-threads=1 --color never
run "conformance suite over rxe0" ./conformance --test-threads=1 --color never $conf_filter
run "a peer the engine gave up on has its queue pair stopped" ./give_up --test-threads=1 --color never
run "pe trials: ROCE on 2 and 4 PEs" ./pe --test-threads=1 --color never $pe_roce
run "pe trials: MTE inside two nodes, ROCE between them (4 PEs)" ./pe --test-threads=1 --color never $pe_mixed
run "a PE that dies: the others fail naming it (ROCE)" env SHMEM_DATA_OP_ENGINE=ROCE ./pe --test-threads=1 --color never --exact peer_dies_others_fail_4pe
run "latency/bandwidth example (correctness only under TCG)" ./roce_latency --iters 50 --max-size 1M
if [ \$failed -eq 0 ]; then echo "ROCE-VM-RESULT: SUCCESS"; code='\\000'; else echo "ROCE-VM-RESULT: FAILURE"; code='\\001'; fi
sync
printf "\$code" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
echo o >/proc/sysrq-trigger
sleep 5
EOF
chmod +x "$run/init.sh" "$run"/t/*
initrd="$run/initrd.cpio"
cp "$base" "$initrd"
(cd "$run" && printf '%s\n' init.sh t t/conformance t/no_device t/give_up t/pe t/roce_latency | cpio -o -H newc --quiet) >>"$initrd"

log "booting the VM (TCG)"
console="$vm/console.log"
set +e
timeout "${ROCE_VM_TIMEOUT:-480}" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp "${ROCE_VM_CPUS:-2}" \
    -m "${ROCE_VM_MEM:-3072}" -nographic -nodefaults -serial stdio -nic none -no-reboot \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 rdinit=/init.sh panic=-1 quiet" </dev/null 2>&1 | tee "$console" |
    grep --line-buffered -E "^(== roce-vm|test |test result|ROCE-VM|Kernel panic|thread .* panicked|rdma|failures:|    |---- )|FAILED|error|hca_id|rxe|latency|bandwidth"
qemu_rc=${PIPESTATUS[0]}
set -e
# Counts: the guest's test binaries' closing lines, plus the host-side ones.
results=$(printf '%s\n%s\n' "$host_results" "$(tr -d '\r' <"$console")" | grep -E "^test result:" || true)
p=$(echo "$results" | sed -nE 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1/p' | awk '{s+=$1} END {print s+0}')
f=$(echo "$results" | sed -nE 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\2/p' | awk '{s+=$1} END {print s+0}')
log "VM exited with $qemu_rc (1 = the guest reported success); console: $console; $(($(date +%s) - t0)) s in all"
if [ "$qemu_rc" -ne 1 ] || ! tr -d '\r' <"$console" | grep -qx "ROCE-VM-RESULT: SUCCESS"; then
    echo "[roce-vm] FAILED: the VM run did not report success (qemu exit $qemu_rc)" >&2
    echo "$p passed, $((f > 0 ? f : 1)) failed"
    exit 1
fi
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
