//! Benchmarks of the SHMEM runtime, each measured next to its physical reference in the same run, and
//! optionally next to Open MPI's OpenSHMEM (through `benches/reference/run.sh`).
//!
//! - [`coll`]: the size plan and side-by-side table of `coll-bench` (collectives next to Open MPI OSHMEM);
//! - [`job`]: the PE side of the `shmem-bench` jobs (PE 0 measures, the others serve);
//! - [`engines`]: the engine sets (MTE, SDMA, MTE|SDMA) a job runs with;
//! - [`pair`]: the benchmark kernels on a job's PEs (also used by the criterion benches `mte` and `engines`);
//! - [`raw`]: the in-process physical references (memcpy, flag hand-off, local atomic);
//! - [`measure`]: calibration, warm-up and median of batches;
//! - [`reference`](mod@reference): running and parsing the external reference script;
//! - [`report`]: the result table and its JSON form;
//! - [`c_level`]: osh_bench.c on Open MPI's OSHMEM and on our C interface, side by side;
//! - [`plot`]: the SVG charts of `shmem-bench --plot`;
//! - [`tcp`]: the TCP engine's placements (two node ids on loopback, two network namespaces) and the raw TCP
//!   ping-pong and stream measured between the same two PEs.

pub mod c_level;
pub mod coll;
pub mod engines;
pub mod job;
pub mod measure;
pub mod pair;
pub mod plot;
pub mod raw;
pub mod reference;
pub mod report;
pub mod spawn;
pub mod tcp;

/// Message sizes of the latency benchmarks.
pub const LAT_SIZES: [usize; 4] = [8, 64, 512, 4096];

/// Message sizes of the `put_nbi_issue` benchmark (the cost of one `api::putmem_nbi` call).
pub const NBI_SIZES: [usize; 4] = [8, 4 << 10, 1 << 20, 64 << 20];

/// Message size of the overlap benchmark (one `put_nbi` overlapped with computation).
pub const OVERLAP_BYTES: usize = 64 << 20;

/// Smallest bandwidth message.
pub const BW_MIN: usize = 4 << 10;

/// Largest bandwidth message of the full run.
pub const BW_MAX_FULL: usize = 256 << 20;

/// Largest bandwidth message of the quick run.
pub const BW_MAX_QUICK: usize = 16 << 20;

/// Bandwidth message sizes: 4 KiB to `max` in x4 steps.
pub fn bw_sizes(max: usize) -> Vec<usize> {
    std::iter::successors(Some(BW_MIN), |s| s.checked_mul(4)).take_while(|&s| s <= max).collect()
}

/// Symmetric heap per PE for a job whose largest message is `max_bw` bytes: the payload array plus room for
/// the control words and the runtime's own allocations, at least 64 MiB.
pub fn heap_bytes(max_bw: usize) -> u64 {
    (max_bw as u64 + (32 << 20)).max(64 << 20)
}

/// The payload array of a job whose largest bandwidth message is `max_bw` bytes: large enough for the
/// `put_nbi_issue` and overlap messages too.
pub fn data_bytes(max_bw: usize) -> usize {
    max_bw.max(OVERLAP_BYTES).max(NBI_SIZES[NBI_SIZES.len() - 1])
}

/// Parses a byte count with an optional binary suffix: `4096`, `64K`, `16M`, `1G` (case-insensitive, an
/// optional trailing `B` or `iB`).
pub fn parse_size(s: &str) -> Option<usize> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.strip_suffix("IB").or_else(|| t.strip_suffix('B')).unwrap_or(&t);
    let (num, shift) = match t.chars().last()? {
        'K' => (&t[..t.len() - 1], 10),
        'M' => (&t[..t.len() - 1], 20),
        'G' => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    num.trim().parse::<usize>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_sizes() {
        assert_eq!(bw_sizes(BW_MAX_QUICK).len(), 7);
        assert_eq!(bw_sizes(BW_MAX_FULL).len(), 9);
        assert_eq!(*bw_sizes(BW_MAX_FULL).last().unwrap(), 256 << 20);
        assert_eq!(bw_sizes(1000), Vec::<usize>::new());
        assert_eq!(heap_bytes(BW_MAX_QUICK), 64 << 20);
        assert_eq!(data_bytes(64 << 10), 64 << 20);
        assert_eq!(data_bytes(BW_MAX_FULL), BW_MAX_FULL);
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
    }
}
