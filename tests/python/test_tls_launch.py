"""The store's TLS driven from Python (decrypt callback), the launcher entry points, torchrun's environment,
Ctrl-C in a wait, and the GIL released while waiting."""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import PRELUDE

OPENSSL = shutil.which("openssl")


def make_certs(d: pathlib.Path) -> None:
    """A CA and one certificate (IP 127.0.0.1, server+client auth) with a PBES2-encrypted PKCS#8 key."""
    def run(*args):
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, cwd=d)
    (d / "ext.cnf").write_text("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                               "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature\n")
    run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
        "-out", "ca.pem", "-days", "2", "-subj", "/CN=shmem-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "pe.key",
        "-out", "pe.csr", "-subj", "/CN=shmem-pe")
    run("x509", "-req", "-in", "pe.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "pe.pem",
        "-days", "2", "-extfile", "ext.cnf")
    run("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", "pe.key", "-out", "pe.enc.key", "-passout", "pass:s3cret-pw")


TLS_BODY = r"""
d = os.environ["CERT_DIR"]
shmem.set_conf_store_tls_info(f"tlsCaPath: {d}; tlsCert: pe.pem; tlsCaFile: ca.pem")
calls = []
def decrypt(cipher):
    calls.append(cipher)
    return cipher[::-1]          # the "cipher text" is the reversed password
key = open(os.path.join(d, "pe.enc.key")).read()
wrong = os.environ.get("WRONG") == "1"
assert shmem.set_conf_store_tls_key(key, ("wrong-pw" if wrong else "s3cret-pw")[::-1], decrypt) == 0
assert shmem.register_decrypt_handler(decrypt) == 0
if wrong:
    e = expect_error(shmem.aclshmem_init)
    assert e.code == shmem.BOOTSTRAP_ERROR and "decrypt" in str(e), (e.code, str(e))
    assert calls == ["wp-gnorw"]
    print("PE", os.environ["SHMEM_PE"], "refused:", str(e)[:60])
else:
    assert shmem.aclshmem_init() == 0
    assert calls == ["wp-terc3s"]
    me = shmem.my_pe()
    x = shmem.zeros(1, np.int64)
    shmem.aclshmem_int64_atomic_add(x, 1, 0)
    shmem.aclshmem_barrier_all()
    if me == 0:
        assert x[0] == shmem.pe_count()
    shmem.aclshmem_finalize()
    print("PE", me, "ok")
"""


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make test certificates")
def test_tls_with_python_decrypt(job, tmp_path):
    make_certs(tmp_path)
    p = job(2, TLS_BODY, env={"CERT_DIR": str(tmp_path)}, timeout=60)
    assert p.stdout.count(" ok") == 2


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make test certificates")
def test_wrong_password_fails_clearly(job, tmp_path):
    """Every PE's init fails with BOOTSTRAP_ERROR naming the decryption, before any connection."""
    make_certs(tmp_path)
    body = TLS_BODY.replace('wrong = os.environ.get("WRONG") == "1"', 'wrong = True')
    p = job(2, body, env={"CERT_DIR": str(tmp_path), "SHMEM_INIT_TIMEOUT": "5"}, timeout=60)
    assert p.stdout.count("refused") == 2


REENTRANT_BODY = r"""
d = os.environ["CERT_DIR"]
info = f"tlsCaPath: {d}; tlsCert: pe.pem; tlsCaFile: ca.pem"
shmem.set_conf_store_tls_info(info)
seen = []
def decrypt(cipher):
    # Calls back into the API from inside init: none of these may deadlock (no lock is held around the callback).
    try:
        shmem.my_pe()
        seen.append("my_pe returned")
    except ShmemError as e:
        seen.append(e.code)
    seen.append(shmem.aclshmemx_init_status() != shmem.InitStatus.INITIALIZED)
    seen.append(shmem.register_decrypt_handler(decrypt))
    seen.append(shmem.set_conf_store_tls_info(info))
    return cipher[::-1]
key = open(os.path.join(d, "pe.enc.key")).read()
assert shmem.set_conf_store_tls_key(key, "s3cret-pw"[::-1], decrypt) == 0
assert shmem.aclshmem_init() == 0
assert seen == [shmem.NOT_INITED, True, 0, 0], seen
x = shmem.zeros(1, np.int64)
shmem.aclshmem_int64_atomic_add(x, 1, 0)
shmem.aclshmem_barrier_all()
assert shmem.my_pe() != 0 or x[0] == 2
shmem.aclshmem_finalize()
print("PE", os.environ["SHMEM_PE"], "ok")
"""


@pytest.mark.timeout(90)
@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command to make test certificates")
def test_decrypt_callback_may_call_the_api(job, tmp_path):
    """The decrypt callback runs with no lock held: calling my_pe, init_status and the TLS setters from it
    works (the job is bounded: a deadlock fails it instead of hanging)."""
    make_certs(tmp_path)
    p = job(2, REENTRANT_BODY, env={"CERT_DIR": str(tmp_path), "SHMEM_INIT_TIMEOUT": "20"}, timeout=40)
    assert p.stdout.count(" ok") == 2


def _script(tmp_path, body):
    s = tmp_path / "s.py"
    s.write_text(PRELUDE + textwrap.dedent(body))
    return s


RING = """
shmem.aclshmem_init()
me, n = shmem.my_pe(), shmem.pe_count()
x = shmem.zeros(1, np.int64)
shmem.aclshmem_int64_atomic_add(x, me, 0)
shmem.aclshmem_barrier_all()
if me == 0:
    assert x[0] == n * (n - 1) // 2
shmem.aclshmem_finalize()
print("PE", me, "of", n, "ok", os.environ.get("RANK"))
"""


def test_torchrun_environment(tmp_path):
    """PEs started with torchrun's variables only (no launcher): the store is MASTER_PORT + 11."""
    s = _script(tmp_path, RING)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHMEM_")}
    port = 20000 + os.getpid() % 20000
    procs = []
    for r in range(2):
        e = dict(env, RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r), LOCAL_WORLD_SIZE="2",
                 MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), SHMEM_SYMMETRIC_SIZE="8M")
        procs.append(subprocess.Popen([sys.executable, str(s)], env=e, stdout=subprocess.PIPE, text=True))
    try:
        outs = [p.communicate(timeout=60)[0] for p in procs]
    finally:
        for p in procs:   # never left behind when a PE hangs
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], outs
    assert "ok 0" in outs[0] and "ok 1" in outs[1]


def test_shmemrun_console_script_and_module(tmp_path):
    s = _script(tmp_path, RING)
    exe = pathlib.Path(sys.executable).with_name("shmemrun")
    cmds = [[sys.executable, "-m", "shmem.run", "-n", "3", "--timeout", "60", str(s)]]
    if exe.exists():
        cmds.append([str(exe), "-n", "2", "--timeout", "60", str(s)])
    for cmd in cmds:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        assert p.returncode == 0, p.stderr
        assert p.stdout.count(" ok") == int(cmd[cmd.index("-n") + 1])
    p = subprocess.run([sys.executable, "-m", "shmem.run", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "-n" in p.stdout
    p = subprocess.run([sys.executable, "-m", "shmem.run", "-n", "0", str(s)], capture_output=True, text=True)
    assert p.returncode == 2
    bad = _script(tmp_path, "shmem.aclshmem_init()\nsys.exit(3 if shmem.my_pe() == 1 else 0)\n")
    p = subprocess.run([sys.executable, "-m", "shmem.run", "-n", "2", "--timeout", "30", str(bad)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 3


def test_ctrl_c_interrupts_a_wait_and_the_gil_is_released(tmp_path):
    body = """
import threading
shmem.aclshmem_init()                  # alone: PE 0 of 1
flag = shmem.zeros(1, np.uint64)
ticks = [0]
def spin():
    while ticks[0] >= 0:
        ticks[0] += 1
        time.sleep(0.001)
t = threading.Thread(target=spin, daemon=True); t.start()
print("waiting", flush=True)
try:
    shmem.aclshmem_signal_wait_until(flag, shmem.CMP_EQ, 1)
except KeyboardInterrupt:
    print("interrupted; other thread ran", ticks[0] > 20, flush=True)
ticks[0] = -10**9
shmem.aclshmem_finalize()
"""
    s = _script(tmp_path, body)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHMEM_")}
    # SIGINT as a terminal gives it, whatever this test inherited: a shell starts a background job (`test.sh &`)
    # with SIGINT ignored, which the child would inherit, and Python then never raises KeyboardInterrupt.
    p = subprocess.Popen([sys.executable, str(s)], stdout=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert p.stdout.readline().strip() == "waiting"
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out = p.communicate(timeout=20)[0]
    finally:
        if p.poll() is None:   # never left behind, whatever failed above
            p.kill()
            p.wait()
    assert p.returncode == 0 and "interrupted; other thread ran True" in out, out
