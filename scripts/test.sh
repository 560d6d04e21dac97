#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs what it needs, then formatting, lints and every
# test (unit, property, multi-process, Python). CI (.ci/run) calls exactly this.
#
# Every step runs even when an earlier one failed (so one broken test never hides another suite's result); the
# script exits non-zero when any step failed, any test failed or errored, or a runner crashed without a count.
set -uo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is required (install a Rust toolchain with rustup)" >&2
    exit 1
fi
export CARGO_TERM_COLOR=never
# /dev/shm must exist and be writable: the symmetric heaps live there.
test -w /dev/shm || { echo "/dev/shm is not writable: the symmetric heap needs POSIX shared memory" >&2; exit 1; }

logs=${SHMEM_TEST_LOGS:-$(mktemp -d /tmp/shmem-test.XXXXXX)}
mkdir -p "$logs"
failed_steps=()
passed=0; failed=0; skipped=0

# step NAME CMD...: runs CMD, records NAME as failed when it exits non-zero.
step() {
    local name=$1; shift
    echo "== $name"
    if ! "$@"; then
        echo "== $name FAILED" >&2
        failed_steps+=("$name")
    fi
}

# The RoCE engine's crate (a workspace member, `shmem` feature `roce`, off by default) binds libibverbs: building
# it needs rdma-core's headers, cmake and libclang (ibverbs-sys runs cmake and bindgen).
roce_deps=()
for p in libibverbs-dev cmake libclang-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || roce_deps+=("$p")
done
if [ "${#roce_deps[@]}" -gt 0 ]; then
    echo "== installing ${roce_deps[*]} (the RoCE engine's build needs them)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${roce_deps[@]}" >/dev/null; } ||
        failed_steps+=("install ${roce_deps[*]}")
fi

# The OpenSHMEM C interface's tests (crates/shmem-capi/tests, tests/python/test_capi_tools.py) compile C and C++
# programs with oshcc/oshcxx, which run the system's `cc` and `c++`.
if ! command -v cc >/dev/null 2>&1 || ! command -v c++ >/dev/null 2>&1; then
    echo "== installing gcc g++ (the C interface's tests compile C and C++ programs with cc and c++)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc g++ >/dev/null; } || true
fi
for tool in cc c++; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "== no \`$tool\` on PATH and apt could not install it: the C interface's tests will fail" \
            "(install gcc and g++)" >&2
        failed_steps+=("C/C++ compiler ($tool)")
    fi
done

step "cargo fmt --check" cargo fmt --all -- --check
step "cargo clippy" cargo clippy --workspace --all-targets --quiet -- -D warnings

# The C interface's tool tests run target/release/oshcc as the README's "C programs" section does, which finds
# libshmem_capi.so beside it: `cargo test` alone builds the library into target/release/deps and does not always
# copy it up (on a fresh checkout it did not, and six tests failed), so build it as the README says first.
step "cargo build --release -p shmem-capi" cargo build --release -p shmem-capi --quiet

echo "== cargo test (every crate, --no-fail-fast)"
cargo test --workspace --release --no-fail-fast >"$logs/cargo-test.log" 2>&1
rust_status=$?
grep -E "^(running|test result|error|failures|---- )|panicked|FAILED|^test .* (FAILED|ignored)" "$logs/cargo-test.log"
# "test result: ok. 3 passed; 0 failed; 1 ignored; ..." once per test binary (libtest and libtest-mimic alike).
read -r r_passed r_failed r_ignored < <(grep -E "^test result:" "$logs/cargo-test.log" |
    sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/' |
    awk '{p+=$1; f+=$2; i+=$3} END {print p+0, f+0, i+0}')
passed=$((passed + r_passed)); failed=$((failed + r_failed)); skipped=$((skipped + r_ignored))
if [ "$rust_status" -ne 0 ]; then
    echo "== cargo test failed (exit $rust_status); full log: $logs/cargo-test.log" >&2
    grep -E "^---- |panicked|^error" "$logs/cargo-test.log" | head -n 60 >&2
    failed_steps+=("cargo test")
    # A binary that crashed or did not build reports no count: make sure it is counted.
    [ "$r_failed" -eq 0 ] && failed=$((failed + 1))
fi

echo "== python bindings (pytest)"
# A venv under .venv with the build and test tools (installed once), the extension built into it with maturin
# (incremental: cargo rebuilds only what changed), then pytest with a per-test timeout.
py_ok=1
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv || py_ok=0
fi
if [ "$py_ok" -eq 1 ] && ! .venv/bin/python -c "import maturin, pytest, pytest_timeout, numpy, hypothesis" 2>/dev/null; then
    .venv/bin/pip install -q --disable-pip-version-check maturin pytest pytest-timeout numpy hypothesis || py_ok=0
fi
# The package's oshcc needs the C library and headers inside it (python/shmem/_capi): the build backend stages
# them for `pip install .`; `maturin develop` does not go through it, so stage them here first.
if [ "$py_ok" -eq 1 ] && ! .venv/bin/python tools/build_backend/shmem_build.py --quiet >"$logs/capi-stage.log" 2>&1; then
    echo "== staging the C library for the package failed; log: $logs/capi-stage.log" >&2
    tail -n 40 "$logs/capi-stage.log" >&2
    py_ok=0
fi
if [ "$py_ok" -eq 1 ] && ! VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop --release --quiet >"$logs/maturin.log" 2>&1; then
    echo "== maturin develop failed; log: $logs/maturin.log" >&2
    tail -n 40 "$logs/maturin.log" >&2
    py_ok=0
fi
if [ "$py_ok" -eq 1 ]; then
    .venv/bin/python -m pytest tests/python -q -rs -p no:cacheprovider --timeout 180 >"$logs/pytest.log" 2>&1
    py_status=$?
    tail -n 40 "$logs/pytest.log"
    # pytest's closing line: "3 failed, 40 passed, 2 skipped, 1 error in 12.3s" (any order, any subset; framed
    # by "=" without -q).
    py_summary=$(grep -E "[0-9]+ (passed|failed|skipped|errors?).* in [0-9.]+s" "$logs/pytest.log" | tail -n 1)
    count() { echo "$py_summary" | { grep -Eo "[0-9]+ $1" || true; } | awk '{s+=$1} END {print s+0}'; }
    py_passed=$(count passed); py_failed=$(( $(count failed) + $(count "errors?") )); py_skipped=$(count skipped)
    passed=$((passed + py_passed)); failed=$((failed + py_failed)); skipped=$((skipped + py_skipped))
    if [ "$py_status" -ne 0 ]; then
        # Exit 5 is "no tests collected": a suite that ran nothing is a failure too.
        echo "== pytest failed (exit $py_status); full log: $logs/pytest.log" >&2
        failed_steps+=("pytest")
        [ "$py_failed" -eq 0 ] && failed=$((failed + 1))
    fi
else
    failed_steps+=("python set-up")
    failed=$((failed + 1))
fi

# The RoCE engine: its feature builds and lints clean (the device-only tests too), then the VM run on soft-RoCE.
step "cargo clippy -p transport-roce (device tests)" \
    cargo clippy --release -p transport-roce --all-targets --features device-tests --quiet -- -D warnings
step "cargo build -p shmem --features roce" cargo build --release -p shmem --features roce --quiet
echo "== RoCE engine on soft-RoCE in a qemu VM (scripts/test-roce-vm.sh)"
bash scripts/test-roce-vm.sh >"$logs/roce-vm.log" 2>&1
roce_status=$?
grep -E "^\[roce-vm|^test result:|^== roce-vm|ROCE-VM-RESULT|FAILED" "$logs/roce-vm.log" | tail -n 40
# Its last line: "N passed, M failed" (host-side and in-VM test binaries together).
read -r v_passed v_failed < <(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$logs/roce-vm.log" | tail -n 1 |
    sed -E 's/([0-9]+) passed, ([0-9]+) failed/\1 \2/'; echo)
v_passed=${v_passed:-0}; v_failed=${v_failed:-0}
passed=$((passed + v_passed)); failed=$((failed + v_failed))
if [ "$roce_status" -ne 0 ]; then
    echo "== RoCE VM test failed (exit $roce_status); full log: $logs/roce-vm.log" >&2
    failed_steps+=("roce vm")
    [ "$v_failed" -eq 0 ] && failed=$((failed + 1))
fi

if [ "${#failed_steps[@]}" -ne 0 ]; then
    echo "== FAILED steps: ${failed_steps[*]} (logs in $logs)" >&2
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "${#failed_steps[@]}" -eq 0 ] && [ "$failed" -eq 0 ]
