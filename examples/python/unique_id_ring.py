"""Unique-ID start-up, as upstream Ascend SHMEM users start jobs under torchrun, and a put-with-signal ring.

Rank 0 makes the unique ID, every rank receives it, inits with it, and each PE sends a block of data to its
right neighbour with put_signal for a few rounds, checking what arrives from its left neighbour.

    torchrun --nproc-per-node 4 examples/python/unique_id_ring.py --uid-file /tmp/ring.uid

Under torchrun the ID would travel with ``torch.distributed.broadcast_object_list``; this example does not need
torch: it passes the ID through a file (rank 0 writes it atomically and privately, the others wait for it), a
channel every launcher has. The ID is a credential (it carries the job's secret): keep the file private to you. Rank and job size come from torchrun's ``RANK``/``WORLD_SIZE`` (or ``SHMEM_PE``/``SHMEM_N_PES``
under ``python -m shmem.run``). Each PE prints one line ``PE r/n ring ok rounds=R checksum=C``.
"""
from __future__ import annotations

import argparse
import os
import stat
import time

import numpy as np

import shmem
import shmem.core as core

ROUNDS = 5
ELEMS = 1024


def broadcast_uid(uid: bytes | None, rank: int, path: str, timeout: float = 60.0) -> bytes:
    """Rank 0 publishes ``uid`` at ``path``; the other ranks wait for it, at most ``timeout`` seconds. Returns
    the ID on every rank.

    The ID carries the job's secret: whoever reads it can join or end the job. So the file is created for this
    user only (mode 0600, never following a link, never over an existing file), written then renamed (readers
    never see half a file), and a reader accepts only a regular file of this user that nobody else may read or
    write, and only the ID's raw bytes (never an unpickled object: a file someone else planted must not run code
    here). Use a fresh path per job in a directory only you can write (e.g. under ``$XDG_RUNTIME_DIR``)."""
    if rank == 0:
        tmp = f"{path}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(uid)
        os.replace(tmp, path)
        return uid
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            break
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"rank {rank}: no unique ID at {path} after {timeout} s") from None
            time.sleep(0.01)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
            raise PermissionError(f"rank {rank}: {path} is not a private file of this user; refusing the ID in it")
        return f.read(4096)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uid-file", required=True, help="where rank 0 publishes the unique ID")
    ap.add_argument("--mem-size", type=int, default=16 << 20, help="symmetric heap bytes per PE")
    args = ap.parse_args()
    rank = int(os.environ.get("RANK", os.environ.get("SHMEM_PE", "0")))
    world = int(os.environ.get("WORLD_SIZE", os.environ.get("SHMEM_N_PES", "1")))

    assert shmem.set_conf_store_tls(False, "") == 0          # as upstream programs start: TLS explicitly off
    uid = core.get_unique_id() if rank == 0 else None
    uid = broadcast_uid(uid, rank, args.uid_file)
    core.init(uid=uid, rank=rank, nranks=world, mem_size=args.mem_size, initializer_method="uid")
    me, n = core.direct.my_pe(), core.direct.n_pes()
    assert (me, n) == (rank, world), (me, n, rank, world)

    data = core.buffer(ELEMS * 8)
    sig = core.calloc(1, 8)
    right, left = (me + 1) % n, (me - 1) % n
    view = data.numpy(np.int64)
    checksum = 0
    for r in range(1, ROUNDS + 1):
        payload = np.arange(ELEMS, dtype=np.int64) + me * 1_000_000 + r * 1_000
        core.put_signal(data, payload, sig, r, core.SignalOp.SIGNAL_SET, right)
        core.signal_wait(sig, r, core.ComparisonType.CMP_GE)
        want = np.arange(ELEMS, dtype=np.int64) + left * 1_000_000 + r * 1_000
        assert np.array_equal(view, want), (me, r, view[:4], want[:4])
        checksum += int(view.sum())
        core.barrier_all()                                   # the left neighbour may overwrite only now
    print(f"PE {me}/{n} ring ok rounds={ROUNDS} checksum={checksum}", flush=True)
    core.free(data)
    core.free(sig)
    core.finalize()


if __name__ == "__main__":
    main()
