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

Method as in osh_bench.c: calibrate the iteration count until a batch takes
the target time (doubles as warm-up), one warm-up batch, N timed batches,
median of per-call times.  The numbers include the Python call overhead of
mpi4py, which is the point of this reference.
"""
import sys
import time

from mpi4py import MPI


def main():
    quick = "--quick" in sys.argv
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
