"""Unique-ID start-up across nodes (issue #13 item 4): 4 ranks, 2 in each of two network namespaces joined by a
veth pair that the test creates and removes (addresses only inside them), started as torchrun starts them
(RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE; no SHMEM_* launcher variables). Rank 0 makes the ID with no
SHMEM_UID_* variable: the job spans two nodes, so the ID must name the veth address (which the other namespace
reaches), not loopback. MTE inside a namespace, TCP between them. Needs root (CAP_NET_ADMIN);
SHMEM_TEST_SKIP_NETNS=1 skips it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import PRELUDE

ADDR_A, ADDR_B = "10.213.11.1", "10.213.11.2"

BODY = r"""
import pickle
RANK, WORLD = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
path = os.environ["UID_FILE"]
if RANK == 0:
    uid = shmem.aclshmem_get_unique_id()
    with open(path + ".tmp", "wb") as f:
        pickle.dump(uid, f)
    os.replace(path + ".tmp", path)
else:
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "no unique ID"
        time.sleep(0.01)
    with open(path, "rb") as f:
        uid = pickle.load(f)
print("uid", repr(uid).split("store=")[1].split(":")[1].lstrip("/"), flush=True)
assert shmem.aclshmem_init_using_unique_id(RANK, WORLD, 8 << 20, uid) == 0
me, n = shmem.my_pe(), shmem.pe_count()
assert (me, n) == (RANK, 4)
x = shmem.zeros(4096, np.uint64)
other = (me + 2) % n                      # always on the other namespace
shmem.put(x, np.arange(4096, dtype=np.uint64) * 7 + me, other)
shmem.aclshmem_barrier_all()
assert np.array_equal(x, np.arange(4096, dtype=np.uint64) * 7 + other), "data from the other node"
assert shmem.aclshmem_ptr(x.ctypes.data, other) == 0 and shmem.aclshmem_ptr(x.ctypes.data, me ^ 1) != 0
ctr = shmem.zeros(1, np.int64)
for _ in range(50):
    shmem.aclshmem_int64_atomic_add(ctr.ctypes.data, me + 1, 0)
shmem.aclshmem_barrier_all()
if me == 0:
    print("sum", int(ctr[0]), flush=True)
shmem.aclshmem_barrier_all()
shmem.free(x); shmem.free(ctr)
assert shmem.aclshmem_finalize() in (0, None)
print("done", me, flush=True)
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture
def two_namespaces():
    if os.environ.get("SHMEM_TEST_SKIP_NETNS") == "1":
        pytest.skip("SHMEM_TEST_SKIP_NETNS=1")
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2")
    tag = f"{os.getpid() % 100000}"
    a, b = f"shmem-py-{tag}-a", f"shmem-py-{tag}-b"
    va, vb = f"pa{tag}", f"pb{tag}"
    try:
        ip("netns", "add", a)
        ip("netns", "add", b)
        ip("link", "add", va, "netns", a, "type", "veth", "peer", "name", vb, "netns", b)
        for ns, dev, addr in ((a, va, ADDR_A), (b, vb, ADDR_B)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", dev, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        yield a, b
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_unique_id_job_across_two_namespaces(tmp_path, two_namespaces):
    script = tmp_path / "uid_nodes.py"
    script.write_text(PRELUDE + textwrap.dedent(BODY))
    uid_file = tmp_path / "job.uid"
    procs = []
    for r in range(4):
        ns = two_namespaces[r // 2]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SHMEM_", "MASTER_", "SLURM_", "OMPI_"))}
        env.update({"RANK": str(r), "WORLD_SIZE": "4", "LOCAL_RANK": str(r % 2), "LOCAL_WORLD_SIZE": "2",
                    "GROUP_RANK": str(r // 2), "UID_FILE": str(uid_file), "SHMEM_NODE_ID": f"uid-node-{r // 2}",
                    "SHMEM_DATA_OP_ENGINE": "MTE|TCP", "SHMEM_INIT_TIMEOUT": "30", "SHMEM_CONTROL_TIMEOUT": "30"})
        procs.append(subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, str(script)], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=90)
            outs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    bad = [(r, rc, out, err) for r, (rc, out, err) in enumerate(outs) if rc != 0]
    assert not bad, "\n".join(f"rank {r} exited {rc}\n{out}\n{err}" for r, rc, out, err in bad)
    for r, (_, out, _) in enumerate(outs):
        lines = out.splitlines()
        # Every rank saw the ID naming node 0's veth address; the job did its work across the link.
        assert lines[0] == f"uid {ADDR_A}", (r, out)
        assert lines[-1] == f"done {r}", (r, out)
    # Each PE added (me + 1) 50 times: 50 * (1 + 2 + 3 + 4).
    assert "sum 500" in outs[0][1].splitlines(), outs[0][1]


def _uid_repr(env: dict) -> str:
    """repr of an ID made in a fresh interpreter with exactly these launcher variables (no SHMEM_*)."""
    code = "import shmem; print(repr(shmem.aclshmem_get_unique_id()))"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SHMEM_", "MASTER_", "SLURM_", "OMPI_"))
             and k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK")}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env={**clean, **env})
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_default_address_loopback_only_for_a_one_node_job():
    """One node (torchrun's LOCAL_WORLD_SIZE == WORLD_SIZE, Slurm's SLURM_NNODES=1, one PE): loopback. Several
    nodes, or nothing to tell: the interface of the default route (here: what `ip route` says), so that other
    nodes can reach the store. SHMEM_UID_SOCK_IFNAME still wins."""
    for env in ({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "4"},
                {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NNODES": "1"},
                {"RANK": "0", "WORLD_SIZE": "1"}):
        assert 'interface="lo"' in _uid_repr(env) and "tcp://127.0.0.1:" in _uid_repr(env), env
    route = subprocess.run(["ip", "-4", "route", "show", "default"], capture_output=True, text=True)
    dev = route.stdout.split(" dev ")[1].split()[0] if " dev " in route.stdout else None
    if dev is None:
        pytest.skip("this host has no IPv4 default route")
    for env in ({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "2"},
                {"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_NNODES": "2"},
                {}):
        assert f'interface="{dev}"' in _uid_repr(env), (env, _uid_repr(env))
    r = _uid_repr({"RANK": "0", "WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2", "SHMEM_UID_SOCK_IFNAME": "lo"})
    assert 'interface="lo"' in r, r
