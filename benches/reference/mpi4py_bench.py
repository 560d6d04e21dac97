#!/usr/bin/env python3
"""mpi4py_bench.py - MPI one-sided (RMA) reference numbers from Python.

Run (2 ranks):
    mpirun --allow-run-as-root --oversubscribe --mca osc ^rdma -np 2 \
        VENV/bin/python mpi4py_bench.py [--quick] [--bw-size BYTES]

Window: MPI.Win.Allocate (disp_unit 1), passive target epoch opened with
Lock_all(MODE_NOCHECK) on both ranks.  Rank 0 drives and times with
time.perf_counter_ns (CLOCK_MONOTONIC on Linux); rank 1 idles in a Barrier.

Metrics (printed by rank 0 as `mpi4py <metric> <size_bytes> <value> <unit>`):
    put_lat  8-byte Win.Put to rank 1 + Win.Flush(1), per call     [ns]
    get_lat  8-byte Win.Get from rank 1 + Win.Flush(1), per call   [ns]
    put_bw   64 MiB Win.Put + Win.Flush(1), repeated              [GB/s, 1e9 B/s]

With --coll [--coll-max BYTES] [--quick] (any number of ranks N) it measures the
collectives instead, every rank calling, rank 0 timing:
    barrier_lat      comm.Barrier(); size = N                      [ns]
    bcast_<N>pe      comm.Bcast(buf, root=0) of a NumPy uint8 array  [ns]
    allreduce_<N>pe  comm.Allreduce(src, dst, op=MPI.SUM) of NumPy
                     float64 arrays (size = bytes)                  [ns]
Each Bcast/Allreduce batch ends with one timed Barrier (as osh_bench.c).
Sizes: 8 B, x8 up to 64 KiB, then x4 up to --coll-max (default 64 MiB); quick:
8 B, 4 KiB, 1 MiB and --coll-max (the plan of osh_bench.c's coll group).

Method as in osh_bench.c: calibrate the iteration count until a batch takes
the target time (doubles as warm-up), one warm-up batch, N timed batches,
median of per-call times.  The numbers include the Python call overhead of
mpi4py, which is the point of this reference.
"""
import sys
import time

from mpi4py import MPI


def coll_sizes(cmax, quick):
    """The message sizes of the collective plan (as osh_bench.c's coll_next)."""
    out, s = [], 8
    while s and s <= cmax:
        out.append(s)
        if quick:
            s = 4096 if s < 4096 else (1 << 20) if s < (1 << 20) else cmax if s < cmax else 0
        else:
            s = s * 8 if s < 65536 else s * 4
    return out


def coll_main(quick, cmax):
    import numpy as np

    batches = 5 if quick else 7
    target_ns = 4e6 if quick else 20e6
    comm = MPI.COMM_WORLD
    rank, n = comm.Get_rank(), comm.Get_size()
    src = np.ones(max(cmax, 8) // 8, np.float64)
    dst = np.zeros_like(src)
    pc = time.perf_counter_ns

    def batch(fn, iters):
        comm.Barrier()
        t0 = pc()
        fn(iters)
        return pc() - t0

    def measure(fn):
        iters = 1
        while True:
            t = batch(fn, iters)
            nxt = 0
            if rank == 0 and t < target_ns and iters < (1 << 24):
                nxt = int(iters * min(16.0, max(2.0, target_ns / t if t > 0 else 16.0)))
            nxt = comm.bcast(nxt, root=0)
            if nxt == 0:
                break
            iters = nxt
        batch(fn, iters)  # warm-up
        per = sorted(batch(fn, iters) / iters for _ in range(batches))
        return per[len(per) // 2]

    def barrier(iters):
        for _ in range(iters):
            comm.Barrier()

    def bcast_of(size):
        buf = src.view(np.uint8)[:size]

        def run(iters):
            for _ in range(iters):
                comm.Bcast(buf, root=0)
            comm.Barrier()  # timed: the batch ends when every rank has its data
        return run

    def allreduce_of(size):
        s, d = src[:size // 8], dst[:size // 8]

        def run(iters):
            for _ in range(iters):
                comm.Allreduce(s, d, op=MPI.SUM)
            comm.Barrier()
        return run

    results = [("barrier_lat", n, measure(barrier))]
    for size in coll_sizes(cmax, quick):
        results.append((f"bcast_{n}pe", size, measure(bcast_of(size))))
        results.append((f"allreduce_{n}pe", size, measure(allreduce_of(size))))
    comm.Barrier()
    if rank == 0:
        print("# mpi4py_bench coll: mpi4py %s, %s, %d ranks, Bcast/Allreduce on NumPy arrays"
              % (__import__("mpi4py").__version__, MPI.Get_library_version().splitlines()[0].split(",")[0], n),
              file=sys.stderr)
        for metric, size, value in results:
            print(f"mpi4py {metric} {size} {value:.3f} ns", flush=True)
    return 0


def main():
    quick = "--quick" in sys.argv
    if "--coll" in sys.argv:
        cmax = 64 << 20
        if "--coll-max" in sys.argv:
            cmax = int(sys.argv[sys.argv.index("--coll-max") + 1])
        return coll_main(quick, cmax)
    bw_size = 64 << 20
    if "--bw-size" in sys.argv:
        bw_size = int(sys.argv[sys.argv.index("--bw-size") + 1])
    batches = 5 if quick else 7
    target_ns = 4e6 if quick else 20e6

    comm = MPI.COMM_WORLD
    rank = comm.Get_rank()
    if comm.Get_size() < 2:
        if rank == 0:
            print("mpi4py_bench: needs 2 ranks", file=sys.stderr)
        return 2

    win = MPI.Win.Allocate(max(bw_size, 4096), 1, comm=comm)
    mem = win.tomemory()
    mem[:] = b"\0" * len(mem)  # pre-touch own window memory
    small = bytearray(8)
    big = bytearray(b"\1" * bw_size)  # pre-touched origin buffer
    if rank == 0:
        info = win.Get_info()
        keys = {info.Get_nthkey(i) for i in range(info.Get_nkeys())}
        info.Free()
        print("# mpi4py_bench: mpi4py %s, %s, window info keys: %s"
              % (__import__("mpi4py").__version__,
                 MPI.Get_library_version().splitlines()[0].split(",")[0],
                 ",".join(sorted(keys)) or "-"), file=sys.stderr)
    win.Lock_all(MPI.MODE_NOCHECK)
    comm.Barrier()

    def put8(iters):
        for _ in range(iters):
            win.Put(small, 1)
            win.Flush(1)

    def get8(iters):
        for _ in range(iters):
            win.Get(small, 1)
            win.Flush(1)

    def putbig(iters):
        for _ in range(iters):
            win.Put(big, 1)
            win.Flush(1)

    def batch(fn, iters):
        # all ranks call this; rank 0 runs the kernel, rank 1 waits (and
        # thereby progresses MPI) in the barrier
        comm.Barrier()
        t0 = time.perf_counter_ns()
        if rank == 0:
            fn(iters)
        t1 = time.perf_counter_ns()
        comm.Barrier()
        return t1 - t0

    def measure(fn):
        iters = 1
        while True:
            t = batch(fn, iters)
            nxt = 0
            if rank == 0 and t < target_ns and iters < (1 << 24):
                f = min(16.0, max(2.0, target_ns / t if t > 0 else 16.0))
                nxt = int(iters * f)
            nxt = comm.bcast(nxt, root=0)
            if nxt == 0:
                break
            iters = nxt
        batch(fn, iters)  # warm-up
        per = sorted(batch(fn, iters) / iters for _ in range(batches))
        return per[len(per) // 2]

    results = []
    results.append(("put_lat", 8, measure(put8), "ns"))
    results.append(("get_lat", 8, measure(get8), "ns"))
    t = measure(putbig)
    results.append(("put_bw", bw_size, bw_size / t, "GB/s"))

    win.Unlock_all()
    comm.Barrier()
    win.Free()

    if rank == 0:
        for metric, size, value, unit in results:
            print(f"mpi4py {metric} {size} {value:.3f} {unit}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
