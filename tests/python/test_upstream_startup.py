"""Upstream start-up (issue #12 item 1), written from upstream Ascend SHMEM's Python docs: the TLS switch,
``aclshmem_init(attributes)``, unique-ID start-up with the ID passed by the program's own channel, the interface
override, the deferred TLS key check and ``finalize() == 0``; plus the torchrun-style example."""
from __future__ import annotations

import os
import pathlib
import pickle
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import shmem
from conftest import PRELUDE

ROOT = pathlib.Path(__file__).resolve().parents[2]

UID_CHANNEL = """
def share_uid(uid):
    '''Rank 0 publishes the unique ID in UID_FILE (write, then rename); the others wait for it (bounded).'''
    path = os.environ["UID_FILE"]
    if RANK == 0:
        with open(path + ".tmp", "wb") as f:
            pickle.dump(uid, f)
        os.replace(path + ".tmp", path)
        return uid
    deadline = time.monotonic() + 60
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "no unique ID"
        time.sleep(0.01)
    with open(path, "rb") as f:
        return pickle.load(f)
RANK, WORLD = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
"""


def clean_env(extra: dict | None = None) -> dict:
    """The environment of a process started by torchrun: no SHMEM_* launcher variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHMEM_", "MASTER_"))}
    env.update(extra or {})
    return env


def run_ranks(tmp_path: pathlib.Path, n: int, body: str | None = None, *, script: pathlib.Path | None = None,
              args: tuple = (), env: dict | None = None, timeout: float = 90) -> list[str]:
    """Starts `n` processes as torchrun does (RANK, WORLD_SIZE, LOCAL_RANK; no SHMEM_* variables) running
    `body` (after the common prelude and the UID_FILE channel) or `script`; every one must exit 0. Returns
    their outputs by rank."""
    if script is None:
        script = tmp_path / f"ranks_{n}.py"
        script.write_text(PRELUDE + "import pickle\n" + UID_CHANNEL + textwrap.dedent(body or ""))
    uid_file = tmp_path / f"uid_{n}.bin"
    if uid_file.exists():
        uid_file.unlink()
    procs = []
    for r in range(n):
        e = clean_env({"RANK": str(r), "WORLD_SIZE": str(n), "LOCAL_RANK": str(r), "LOCAL_WORLD_SIZE": str(n),
                       "UID_FILE": str(uid_file), **(env or {})})
        procs.append(subprocess.Popen([sys.executable, str(script), *args], env=e, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            outs.append((p.returncode, out, err))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    bad = [(r, rc, out, err) for r, (rc, out, err) in enumerate(outs) if rc != 0]
    assert not bad, "\n".join(f"rank {r} exited {rc}\n{out}\n{err}" for r, rc, out, err in bad)
    return [out for _, out, _ in outs]


@pytest.mark.parametrize("n", [2, 4])
def test_unique_id_ring_example(tmp_path, n):
    """The torchrun-style example: rank 0 makes the ID, the file channel carries it, put_signal ring."""
    outs = run_ranks(tmp_path, n, script=ROOT / "examples/python/unique_id_ring.py",
                     args=("--uid-file", str(tmp_path / "ring.uid")))
    elems, rounds = 1024, 5
    for r, out in enumerate(outs):
        left = (r - 1) % n
        want = sum(elems * (elems - 1) // 2 + elems * (left * 1_000_000 + k * 1_000) for k in range(1, rounds + 1))
        assert f"PE {r}/{n} ring ok rounds={rounds} checksum={want}" in out, out


@pytest.mark.parametrize("n", [2, 4])
def test_low_level_unique_id_job(tmp_path, n):
    """aclshmem_get_unique_id on rank 0, pickled across, aclshmem_init_using_unique_id on every rank."""
    outs = run_ranks(tmp_path, n, """
    assert shmem.set_conf_store_tls(False, "") == 0
    uid = shmem.aclshmem_get_unique_id() if RANK == 0 else None
    uid = share_uid(uid)
    assert isinstance(uid, shmem.UniqueId) and uid.version == (1 << 16) + 124 and len(uid.internal) == 124
    # as upstream's scripts move it: the ID's bytes in a zero-padded 512-byte uint8 buffer (odd ranks)
    assert len(uid) == 136 and list(uid) == list(bytes(uid))
    if RANK % 2:
        uid = bytes(list(uid) + [0] * (512 - 136))
    assert shmem.aclshmem_init_using_unique_id(RANK, WORLD, 4 << 20, uid) == 0
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.INITIALIZED
    me, n = shmem.my_pe(), shmem.pe_count()
    assert (me, n) == (RANK, WORLD)
    data = shmem.aclshmem_calloc(8, 8)
    sig = shmem.aclshmem_calloc(1, 8)
    src = np.arange(8, dtype=np.int64) * (me + 1)
    shmem.aclshmemx_putmem_signal(data, src, 64, sig, 1, shmem.SIGNAL_SET, (me + 1) % n)
    assert shmem.aclshmem_signal_wait_until(sig, shmem.CMP_EQ, 1) == 1
    got = np.zeros(8, np.int64)
    shmem.aclshmem_getmem(got, data, 64, me)
    assert got.tolist() == [i * (((me - 1) % n) + 1) for i in range(8)], got
    shmem.aclshmem_barrier_all()
    shmem.aclshmem_free(data); shmem.aclshmem_free(sig)
    assert shmem.aclshmem_finalize() == 0
    print("PE", me, "uid job ok", int(got.sum()))
    """)
    for r, out in enumerate(outs):
        assert f"PE {r} uid job ok {28 * (((r - 1) % n) + 1)}" in out, out


def test_unique_id_secret_authenticates_the_job(tmp_path):
    """An ID with the right address but another secret cannot join; the real one then can."""
    outs = run_ranks(tmp_path, 2, """
    uid = share_uid(shmem.aclshmem_get_unique_id() if RANK == 0 else None)
    if RANK == 1:
        text = uid.internal.rstrip(b"\\0").decode()
        magic, url, secret, iface = text.split("\\n")
        forged = shmem.UniqueId()
        forged.internal = "\\n".join([magic, url, "f" * 32, iface]).encode().ljust(124, b"\\0")
        os.environ["SHMEM_INIT_TIMEOUT"] = "3"
        e = expect_error(shmem.aclshmem_init_using_unique_id, 1, 2, 1 << 20, forged)
        print("forged refused", e.code)
        del os.environ["SHMEM_INIT_TIMEOUT"]
    assert shmem.aclshmem_init_using_unique_id(RANK, WORLD, 1 << 20, uid) == 0
    x = shmem.aclshmem_calloc(1, 8)
    shmem.aclshmem_int64_atomic_add(x, 5, 0)
    shmem.aclshmem_barrier_all()
    if RANK == 0:
        assert shmem.aclshmem_int64_g(x, 0) == 10
    assert shmem.aclshmem_finalize() == 0
    print("PE", RANK, "joined")
    """, env={"SHMEM_LOG_LEVEL": "ERROR"})
    m = re.search(r"forged refused (-?\d+)", outs[1])
    assert m and int(m.group(1)) in (shmem.BOOTSTRAP_ERROR, shmem.TIMEOUT_ERROR), outs[1]
    assert "PE 0 joined" in outs[0] and "PE 1 joined" in outs[1]


def _in_child(code: str, env: dict | None = None) -> str:
    """Runs `code` in a fresh interpreter (no launcher variables); returns its stdout; it must exit 0."""
    p = subprocess.run([sys.executable, "-c", PRELUDE + "import pickle\n" + textwrap.dedent(code)],
                       capture_output=True, text=True, timeout=60, env=clean_env(env))
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_unique_id_object_pickle_bytes_and_bad_input():
    out = _in_child("""
    u = shmem.aclshmem_get_unique_id()
    v = pickle.loads(pickle.dumps(u))
    assert v == u and bytes(v) == bytes(u) and v.to_bytes()[12:] == u.internal and len(bytes(u)) == 136
    assert bytes(u)[:4] == ((1 << 16) + 124).to_bytes(4, "little")
    assert shmem.UniqueId.from_bytes(bytes(u)) == u
    assert shmem.UniqueId.from_bytes(bytes(u) + bytes(100)) == u                 # trailing padding ignored
    assert "tcp://127.0.0.1:" in repr(u) and 'interface="lo"' in repr(u)
    secret = u.internal.split(b"\\n")[2]
    assert len(secret) == 32 and secret not in repr(u).encode()
    w = shmem.UniqueId(); w.internal = u.internal            # upstream's way to rebuild a received ID
    assert w == u
    assert shmem.aclshmem_get_unique_id() != u               # every ID has its own port and secret
    # bad input, each with its exact code, nothing started
    expect_error(shmem.aclshmem_init_using_unique_id, 0, 1, 1 << 20, shmem.UniqueId(), code=-1)   # empty ID
    expect_error(shmem.UniqueId.from_bytes, b"x" * 136, code=-1)
    expect_error(shmem.UniqueId.from_bytes, bytes(u)[:135], code=-1)
    expect_error(shmem.UniqueId.from_bytes, b"short", code=-1)
    expect_error(setattr, shmem.UniqueId(), "internal", b"short", exc=ValueError)
    w.version = 7
    expect_error(shmem.aclshmem_init_using_unique_id, 0, 1, 1 << 20, w, code=-1)
    expect_error(shmem.aclshmem_init_using_unique_id, 0, 1, 1 << 20, 42, exc=TypeError)
    expect_error(shmem.aclshmem_init_using_unique_id, 2, 2, 1 << 20, u, code=-1)       # rank out of range
    expect_error(shmem.aclshmem_init_using_unique_id, 0, 2, 0, u, code=-1)             # no heap
    expect_error(shmem.aclshmem_init_using_unique_id, 1, 2, 1 << 20, u, code=-1)       # maker must be PE 0
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
    # a one-PE job from bytes
    assert shmem.aclshmem_init_using_unique_id(0, 1, 1 << 20, bytes(u)) == 0
    assert shmem.aclshmem_finalize() == 0
    print("uid ok")
    """, env={"RANK": "0", "WORLD_SIZE": "1"})  # a one-PE job: loopback (test_uid_across_nodes has the rest)
    assert "uid ok" in out


def test_interface_override_and_candidates():
    out = _in_child("""
    u = shmem.aclshmem_get_unique_id()                          # default for a one-PE job: loopback
    assert "tcp://127.0.0.1:" in repr(u), u
    os.environ["SHMEM_UID_SOCK_IFNAME"] = "lo"
    assert 'interface="lo"' in repr(shmem.aclshmem_get_unique_id())
    os.environ["SHMEM_UID_SOCK_IFNAME"] = "lo:inet4"
    assert "tcp://127.0.0.1:" in repr(shmem.aclshmem_get_unique_id())
    for bad in ("nosuch0", "lo:inet5"):
        os.environ["SHMEM_UID_SOCK_IFNAME"] = bad
        e = expect_error(shmem.aclshmem_get_unique_id, code=-1)
        if bad == "nosuch0":
            assert "candidates:" in str(e) and "lo (127.0.0.1" in str(e), str(e)
        import shmem.core as core
        try:
            core.get_unique_id()
            raise AssertionError("no error")
        except core.AclshmemError as ce:
            assert ce.code == -1 and isinstance(ce, shmem.ShmemError)
    del os.environ["SHMEM_UID_SOCK_IFNAME"]
    import socket
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    os.environ["SHMEM_UID_SESSION_ID"] = f"127.0.0.1:{port}"
    os.environ["SHMEM_UID_SOCK_IFNAME"] = "nosuch0"             # the session id wins
    assert f"tcp://127.0.0.1:{port}" in repr(shmem.aclshmem_get_unique_id())
    for bad in ("127.0.0.1", "127.0.0.1:80", "[::1:5000"):
        os.environ["SHMEM_UID_SESSION_ID"] = bad
        expect_error(shmem.aclshmem_get_unique_id, code=-1)
    print("ifname ok")
    """, env={"RANK": "0", "WORLD_SIZE": "1"})  # several nodes: test_uid_across_nodes.py
    assert "ifname ok" in out


@pytest.mark.parametrize("n", [2, 4])
def test_init_forms_tls_switch_and_finalize_code(job, n):
    """aclshmem_init(attributes) / attributes= / (mype, npes, mem_size); set_conf_store_tls; finalize() == 0."""
    p = job(n, """
    me, n = int(os.environ["SHMEM_PE"]), int(os.environ["SHMEM_N_PES"])
    url = f"tcp://{os.environ['SHMEM_MASTER_ADDR']}:{os.environ['SHMEM_MASTER_PORT']}"
    # the TLS switch as upstream programs call it first
    assert shmem.set_conf_store_tls(False, "") == 0
    expect_error(shmem.set_conf_store_tls, True, "", code=-1)
    expect_error(shmem.set_conf_store_tls, True, "   ", code=-1)
    expect_error(shmem.set_conf_store_tls, 1, "x", exc=TypeError)
    # a key is kept, not checked, until an init uses TLS; disabling TLS drops it
    assert shmem.set_conf_store_tls_key("not pem", None, None) == 0
    assert shmem.set_conf_store_tls(False, "") == 0
    attr = shmem.InitAttr()
    assert shmem.shmem_set_attributes(me, n, 4 << 20, url, attr) == 0
    # bad forms: nothing starts
    expect_error(shmem.aclshmem_init, attr, 2, code=-1)
    expect_error(shmem.aclshmem_init, 0, attributes=attr, code=-1)
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
    # 1: positional attributes
    assert shmem.aclshmem_init(attr) == 0
    x = shmem.aclshmem_calloc(1, 8)
    shmem.aclshmem_int64_atomic_add(x, me + 1, 0)
    shmem.aclshmem_barrier_all()
    total = shmem.aclshmem_int64_g(x, 0)
    assert total == n * (n + 1) // 2, total
    assert shmem.aclshmem_finalize() == 0
    expect_error(shmem.aclshmem_finalize, code=shmem.NOT_INITED)
    # 2: keyword attributes; aclshmemx_finalize(instance 0)
    assert shmem.aclshmem_init(attributes=attr) == 0
    assert shmem.pe_count() == n
    expect_error(shmem.aclshmemx_finalize, 1, code=-1)
    assert shmem.aclshmemx_finalize(0) == 0
    # 3: the seed's form still works
    assert shmem.aclshmem_init(me, n, 4 << 20) == 0
    assert shmem.my_pe() == me
    assert shmem.aclshmem_finalize() == 0
    print("PE", me, "forms ok", total)
    """)
    assert p.stdout.count("forms ok") == n, p.stdout


def test_bad_tls_key_fails_at_the_init_that_uses_it(job, tmp_path):
    """set_conf_store_tls_key accepts anything; the init with TLS on names the problem (INVALID_PARAM)."""
    p = job(2, """
    assert shmem.set_conf_store_tls_key("not pem", None, None) == 0
    assert shmem.set_conf_store_tls(True, "tlsCaPath: /nonexistent; tlsCert: pe.pem; tlsCaFile: ca.pem") == 0
    e = expect_error(shmem.aclshmem_init, code=-1)
    assert "set_conf_store_tls_key" in str(e) and "PEM" in str(e), str(e)
    assert shmem.aclshmemx_init_status() != shmem.InitStatus.INITIALIZED
    print("PE", os.environ["SHMEM_PE"], "bad key refused at init")
    """)
    assert p.stdout.count("bad key refused at init") == 2, p.stdout


@pytest.mark.skipif(not __import__("shutil").which("openssl"), reason="needs openssl to make test certificates")
def test_tls_enabled_with_the_upstream_switch(job, tmp_path):
    """TLS as upstream programs enable it: the key (and its encrypted password) first, then the switch, the
    decrypt handler last; the job runs over TLS 1.3 and the handler decrypted the password once."""
    from test_tls_launch import make_certs
    make_certs(tmp_path)
    p = job(2, """
    d = os.environ["CERT_DIR"]
    calls = []
    def decrypt(cipher):
        calls.append(cipher)
        return cipher[::-1]
    key = open(os.path.join(d, "pe.enc.key")).read()
    assert shmem.set_conf_store_tls_key(key, "s3cret-pw"[::-1], None) == 0
    assert shmem.set_conf_store_tls(True, f"tlsCaPath: {d}; tlsCert: pe.pem; tlsCaFile: ca.pem") == 0
    assert shmem.register_decrypt_handler(decrypt) == 0
    assert shmem.aclshmem_init() == 0
    assert calls == ["wp-terc3s"], calls
    x = shmem.zeros(1, np.int64)
    shmem.aclshmem_int64_atomic_add(x, 1, 0)
    shmem.aclshmem_barrier_all()
    if shmem.my_pe() == 0:
        assert x[0] == 2
    assert shmem.aclshmem_finalize() == 0
    print("PE", os.environ["SHMEM_PE"], "tls ok")
    """, env={"CERT_DIR": str(tmp_path)})
    assert p.stdout.count("tls ok") == 2, p.stdout
