//! The PE side of the benchmarks: PE 0 measures, every other PE serves.
//!
//! All PEs allocate the same two symmetric arrays: `data` (the payload buffer) and `ctl` (control words,
//! each on its own 128-byte block). The serving PEs wait on their `PING` word. PE 0 writes a value whose
//! low 16 bits say what to do and whose high bits are a sequence number (so every value is new and larger
//! than the previous one):
//! - a payload size (0..=4096): PE 1 answers with a put-with-signal of that many bytes into PE 0's `data`,
//!   signalling the same value into PE 0's `PONG` word (the ping-pong of `put_signal_oneway`);
//! - [`OP_BARRIER`]: the PE runs `1 + ctl[COUNT]` barriers (one to line the PEs up, then the timed ones);
//! - [`OP_POLL`]: until the next value, the PE busy-polls its `PING` word with atomic fetches instead of
//!   waiting with `wait_until` (so it never registers as a sleeper, and PE 0's writes need no futex wake);
//! - [`OP_DONE`]: the PE leaves the loop and finalizes.
//!
//! Waits are the runtime's `wait_until` (which returns an error once the job has failed), barriers
//! (bounded by the control-operation timeout) and the busy poll (bounded by [`POLL_LIMIT`]); a hung job is
//! ended by the launcher's timeout.

use crate::measure::{busy_units_for, busy_work};
use shmem::{api, AtomicOp, AtomicWidth, CmpOp, Shmem, SignalOp, SymVec};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Index of the word PE 0 writes commands and pings into (on the serving PEs).
pub const PING: usize = 0;
/// Index of the word the serving PE 1 answers pings into (on PE 0).
pub const PONG: usize = 16;
/// Index of the barrier count of an [`OP_BARRIER`] command (on the serving PEs).
pub const COUNT: usize = 32;
/// Index of the word the fetch-add benchmark increments (on PE 1).
pub const COUNTER: usize = 48;
/// Index of the word PE 1 writes its raw TCP listener's address into (on PE 0), see [`Pair::raw_tcp`].
pub const RAW: usize = 64;
/// Length of the `ctl` array.
pub const CTL_LEN: usize = 80;

/// Command: run `1 + ctl[COUNT]` barriers.
pub const OP_BARRIER: u64 = 0xFFF0;
/// Command: busy-poll (instead of sleeping) until the next value.
pub const OP_POLL: u64 = 0xFFF1;
/// Longest busy poll of [`OP_POLL`].
pub const POLL_LIMIT: Duration = Duration::from_secs(600);
/// Command: open a raw TCP listener, tell PE 0 its address in `RAW`, and answer the raw references
/// ([`crate::tcp::serve_raw`]).
pub const OP_RAW_TCP: u64 = 0xFFF2;
/// How long PE 1 waits for PE 0's raw connections and data.
pub const RAW_LIMIT: Duration = Duration::from_secs(600);
/// Command: leave the serving loop.
pub const OP_DONE: u64 = 0xFFFF;
/// Largest ping-pong payload.
pub const PINGPONG_MAX: usize = 4096;

/// Queued bytes after which [`Pair::put_nbi_issue_batch`] quiets (and at most [`NBI_CHUNK_MAX`] issues).
pub const NBI_CHUNK_BYTES: usize = 8 << 20;
/// Most back-to-back `_nbi` issues between two quiets: well below an SDMA channel ring (1024 descriptors by
/// default), so that an issue never waits for ring space.
pub const NBI_CHUNK_MAX: u64 = 256;

/// Back-to-back `_nbi` issues of `size` bytes between two quiets in [`Pair::put_nbi_issue_batch`]:
/// [`NBI_CHUNK_BYTES`] / `size`, within 1..=[`NBI_CHUNK_MAX`].
pub fn nbi_chunk(size: usize) -> u64 {
    ((NBI_CHUNK_BYTES / size.max(1)) as u64).clamp(1, NBI_CHUNK_MAX)
}

/// The times of the overlap benchmark ([`Pair::overlap`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overlap {
    /// `put_nbi` + `quiet` alone.
    pub transfer: Duration,
    /// The computation alone.
    pub compute: Duration,
    /// `put_nbi`, the computation, `quiet`.
    pub total: Duration,
}

impl Overlap {
    /// (transfer + compute - total) / min(transfer, compute), clamped to [0, 1]: 1 when the transfer is
    /// hidden entirely behind the computation (or the other way round), 0 when they run one after the other.
    pub fn fraction(&self) -> f64 {
        let (a, b, t) = (self.transfer.as_secs_f64(), self.compute.as_secs_f64(), self.total.as_secs_f64());
        let shorter = a.min(b);
        if shorter <= 0.0 {
            return 0.0;
        }
        ((a + b - t) / shorter).clamp(0.0, 1.0)
    }
}

/// Result type of this module.
pub type Result<T> = shmem::Result<T>;

/// One PE's state of a benchmark job.
#[derive(Debug)]
pub struct Pair {
    sh: Shmem,
    data: SymVec<u8>,
    ctl: SymVec<u64>,
    /// The private (non-symmetric) buffer, over-allocated by a page: [`Pair::local`] is its 4096-aligned part,
    /// as the reference program's `aligned_alloc(4096, ..)` buffer, so that both measure with the same
    /// source/destination alignment (a copy whose two ends differ by a few bytes modulo 4 KiB runs measurably
    /// slower on x86: loads falsely depend on earlier stores).
    local_raw: Vec<u8>,
    local_off: usize,
    seq: u64,
}

impl Pair {
    /// Collectively allocates a `data` array of `data_len` bytes (at least [`PINGPONG_MAX`]) and the control
    /// words, plus a pre-touched private buffer of the same size.
    ///
    /// # Errors
    /// Allocation failures (raise `SHMEM_SYMMETRIC_SIZE`).
    pub fn setup(sh: Shmem, data_len: usize) -> Result<Pair> {
        let data_len = data_len.max(PINGPONG_MAX);
        // calloc zeroes every PE's copy, which also touches its pages before any timing.
        let data = sh.alloc_zeroed::<u8>(data_len)?;
        let ctl = sh.alloc_zeroed::<u64>(CTL_LEN)?;
        let local_raw = vec![1u8; data_len + 4096];
        let local_off = local_raw.as_ptr().align_offset(4096);
        sh.barrier_all()?;
        Ok(Pair { sh, data, ctl, local_raw, local_off, seq: 0 })
    }

    /// The page-aligned private buffer of `data_len` bytes.
    fn local(&self) -> &[u8] {
        &self.local_raw[self.local_off..self.local_off + self.data.len()]
    }

    /// The page-aligned private buffer, writable.
    fn local_mut(&mut self) -> &mut [u8] {
        let n = self.data.len();
        &mut self.local_raw[self.local_off..self.local_off + n]
    }

    /// This PE's number.
    pub fn my_pe(&self) -> u32 {
        self.sh.my_pe()
    }

    /// Number of PEs.
    pub fn n_pes(&self) -> u32 {
        self.sh.n_pes()
    }

    /// Bytes of the `data` array.
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// The serving loop of PEs other than 0: answers pings and commands until [`OP_DONE`].
    ///
    /// # Errors
    /// Runtime errors, including the job failing while waiting.
    pub fn serve(&mut self) -> Result<()> {
        let mut last = 0u64;
        let mut polling = false;
        loop {
            let v = if polling { self.poll_ping(last)? } else { self.ctl.wait_until(PING, CmpOp::Ne, last)? };
            last = v;
            polling = false;
            match v & 0xFFFF {
                OP_DONE => return Ok(()),
                OP_POLL => polling = true,
                OP_RAW_TCP => self.serve_raw_tcp()?,
                OP_BARRIER => {
                    let mut count = [0u64];
                    self.ctl.read_local(COUNT, &mut count)?;
                    for _ in 0..=count[0] {
                        self.sh.barrier_all()?;
                    }
                }
                size => {
                    let size = (size as usize).min(PINGPONG_MAX);
                    self.data.put_signal(0, 0, &self.local()[..size], &self.ctl, PONG, v, SignalOp::Set)?;
                }
            }
        }
    }

    /// Busy-polls this PE's `PING` word with atomic fetches until it differs from `last`.
    /// PE 1's part of [`Pair::raw_tcp`]: a listener on this PE's address towards the store (PE 0's host).
    fn serve_raw_tcp(&mut self) -> Result<()> {
        let io = |what: &str, e: std::io::Error| shmem::Error::Inner(format!("raw TCP reference: {what}: {e}"));
        let store: std::net::IpAddr = std::env::var("SHMEM_MASTER_ADDR")
            .ok()
            .and_then(|a| a.parse().ok())
            .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
        let ip = crate::tcp::local_ip_towards(store).map_err(|e| io("local address", e))?;
        let listener = crate::tcp::bind_raw(ip).map_err(|e| io("bind", e))?;
        let addr = listener.local_addr().map_err(|e| io("address", e))?;
        let word = crate::tcp::pack_addr(addr).ok_or_else(|| io("address", std::io::Error::other("not IPv4")))?;
        self.ctl.put(0, RAW, &[word])?;
        crate::tcp::serve_raw(listener, RAW_LIMIT).map_err(|e| io("serve", e))
    }

    /// PE 0: asks PE 1 for a raw TCP listener and connects its ping-pong connection (messages up to
    /// `max_msg` bytes); returns the client and PE 1's address (for [`crate::tcp::RawClient::start_stream`]).
    ///
    /// # Errors
    /// Runtime errors; socket errors as `Inner`.
    pub fn raw_tcp(&mut self, max_msg: usize) -> Result<(crate::tcp::RawClient, std::net::SocketAddr)> {
        self.command_all(OP_RAW_TCP)?;
        let word = self.ctl.wait_until(RAW, CmpOp::Ne, 0)?;
        let addr = crate::tcp::unpack_addr(word)
            .ok_or_else(|| shmem::Error::Inner(format!("PE 1 sent a malformed address word {word:#x}")))?;
        let client = crate::tcp::RawClient::connect(addr, max_msg)
            .map_err(|e| shmem::Error::Inner(format!("raw TCP reference: connect to {addr}: {e}")))?;
        Ok((client, addr))
    }

    fn poll_ping(&self, last: u64) -> Result<u64> {
        let me = self.my_pe();
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let v = self.ctl.fetch(me, PING)?;
            if v != last {
                return Ok(v);
            }
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins & 4095 == 0 && start.elapsed() > POLL_LIMIT {
                return Err(shmem::Error::Inner(format!("PE {me} polled for a command for {POLL_LIMIT:?}")));
            }
        }
    }

    /// Makes the serving PEs busy-poll (not sleep) until the next ping or command: the writes of the
    /// following batches then find no sleeper to wake.
    ///
    /// # Errors
    /// Runtime errors.
    pub fn serve_polling(&mut self) -> Result<()> {
        self.command_all(OP_POLL)
    }

    fn next_value(&mut self, low: u64) -> u64 {
        self.seq += 1;
        (self.seq << 16) | low
    }

    /// Sends a command to every serving PE.
    fn command_all(&mut self, op: u64) -> Result<()> {
        let v = self.next_value(op);
        for pe in 1..self.n_pes() {
            self.ctl.swap(pe, PING, v)?;
        }
        Ok(())
    }

    /// `iters` x (`api::putmem` of `size` bytes into PE 1 + `api::quiet`); the elapsed time.
    ///
    /// # Errors
    /// Runtime errors.
    pub fn put_batch(&self, size: usize, iters: u64) -> Result<Duration> {
        self.puts(size, iters, true)
    }

    /// `iters` x `api::putmem` of `size` bytes into PE 1 back to back, then one `api::quiet`; the elapsed time.
    /// A stream of puts with one completion at its end, as the raw TCP stream it is compared with is a stream of
    /// writes with one acknowledgement at its end ([`Pair::put_batch`] completes every put before the next).
    ///
    /// # Errors
    /// Runtime errors.
    pub fn put_stream_batch(&self, size: usize, iters: u64) -> Result<Duration> {
        self.puts(size, iters, false)
    }

    /// `iters` puts of `size` bytes into PE 1, each completed by a quiet (`quiet_each`) or all by one at the end.
    fn puts(&self, size: usize, iters: u64, quiet_each: bool) -> Result<Duration> {
        let (dst, src) = (self.data.addr(), self.local()[..size].as_ptr());
        let t = Instant::now();
        for _ in 0..iters {
            // SAFETY: `src` points to `size` readable bytes of `self.local`, alive and unmodified for the
            // whole call; the runtime checks `dst..dst+size` against PE 1's heap.
            unsafe { api::putmem(dst, src, size, 1)? };
            if quiet_each {
                api::quiet()?;
            }
        }
        if !quiet_each {
            api::quiet()?;
        }
        Ok(t.elapsed())
    }

    /// `iters` x `api::getmem_nbi` of `size` bytes from PE 1 back to back, then one `api::quiet`; the elapsed
    /// time. The get counterpart of [`Pair::put_stream_batch`]: an engine that pipelines deferred gets streams
    /// their replies.
    ///
    /// # Errors
    /// Runtime errors.
    pub fn get_stream_batch(&mut self, size: usize, iters: u64) -> Result<Duration> {
        let src = self.data.addr();
        let dst = self.local_mut()[..size].as_mut_ptr();
        let t = Instant::now();
        for _ in 0..iters {
            // SAFETY: `dst` points to `size` writable bytes of `self.local`, exclusively borrowed and untouched
            // until the quiet below (every get writes the same bytes); the runtime checks `src..src+size`.
            unsafe { api::getmem_nbi(dst, src, size, 1)? };
        }
        api::quiet()?;
        let elapsed = t.elapsed();
        black_box(self.local());
        Ok(elapsed)
    }

    /// `iters` x `api::putmem_nbi` of `size` bytes into PE 1, timing only the issue calls: the puts go out in
    /// chunks of [`nbi_chunk`]`(size)` back-to-back issues (timed), each chunk followed by an `api::quiet`
    /// (not timed), so that the queued work stays bounded. Returns `(issue time, wall time of the batch)`.
    ///
    /// # Errors
    /// Runtime errors, including those of `_nbi` work that surface at the quiet.
    pub fn put_nbi_issue_batch(&self, size: usize, iters: u64) -> Result<(Duration, Duration)> {
        let (dst, src) = (self.data.addr(), self.local()[..size].as_ptr());
        let chunk = nbi_chunk(size);
        let start = Instant::now();
        let mut issue = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            let n = left.min(chunk);
            let t = Instant::now();
            for _ in 0..n {
                // SAFETY: `src` points to `size` readable bytes of `self.local`, which nothing modifies or frees
                // before the quiet below; the runtime checks `dst..dst+size` against PE 1's heap.
                unsafe { api::putmem_nbi(dst, src, size, 1)? };
            }
            issue += t.elapsed();
            api::quiet()?;
            left -= n;
        }
        Ok((issue, start.elapsed()))
    }

    /// The overlap of a `size`-byte `api::putmem_nbi` into PE 1 with computation on this thread, over
    /// `reps` repetitions (medians of each time; the three measurements alternate, so drift hits all alike):
    /// - `transfer`: `putmem_nbi` + `quiet` alone;
    /// - `compute`: a fixed [`busy_work`] count, calibrated first to take as long as `transfer`;
    /// - `total`: `putmem_nbi`, then the same computation, then `quiet`.
    ///
    /// # Errors
    /// Runtime errors; `InvalidParam`-style errors when `size` exceeds the payload array.
    pub fn overlap(&self, size: usize, reps: usize) -> Result<Overlap> {
        if size > self.local().len() {
            return Err(shmem::Error::invalid(format!("overlap message {size} exceeds {}", self.local().len())));
        }
        let (dst, src) = (self.data.addr(), self.local()[..size].as_ptr());
        let put = || -> Result<()> {
            // SAFETY: `src` points to `size` readable bytes of `self.local`, which nothing modifies or frees
            // before the caller's quiet; the runtime checks `dst..dst+size` against PE 1's heap.
            unsafe { api::putmem_nbi(dst, src, size, 1) }
        };
        let transfer_once = || -> Result<Duration> {
            let t = Instant::now();
            put()?;
            api::quiet()?;
            Ok(t.elapsed())
        };
        // Warm-up, then the transfer time the computation is calibrated against.
        transfer_once()?;
        let mut first = (0..3).map(|_| transfer_once()).collect::<Result<Vec<_>>>()?;
        first.sort();
        let units = busy_units_for(first[first.len() / 2]);
        let (mut transfer, mut compute, mut total) = (Vec::new(), Vec::new(), Vec::new());
        let mut sink = 0u64;
        for _ in 0..reps.max(1) {
            transfer.push(transfer_once()?);
            let t = Instant::now();
            sink ^= busy_work(units);
            compute.push(t.elapsed());
            let t = Instant::now();
            put()?;
            sink ^= busy_work(units);
            api::quiet()?;
            total.push(t.elapsed());
        }
        black_box(sink);
        let med = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        Ok(Overlap { transfer: med(transfer), compute: med(compute), total: med(total) })
    }

    /// `iters` x `api::getmem` of `size` bytes from PE 1; the elapsed time.
    ///
    /// # Errors
    /// Runtime errors.
    pub fn get_batch(&mut self, size: usize, iters: u64) -> Result<Duration> {
        let src = self.data.addr();
        let dst = self.local_mut()[..size].as_mut_ptr();
        let t = Instant::now();
        for _ in 0..iters {
            // SAFETY: `dst` points to `size` writable bytes of `self.local`, exclusively borrowed for the
            // whole loop; the runtime checks `src..src+size` against PE 1's heap.
            unsafe { api::getmem(dst, src, size, 1)? };
        }
        let elapsed = t.elapsed();
        black_box(self.local());
        Ok(elapsed)
    }

    /// `iters` ping-pongs with PE 1: put-with-signal of `size` bytes there, PE 1 answers the same way, PE 0
    /// waits for the answer with `SymVec::wait_until`; the elapsed time (one-way latency is half the
    /// per-iteration time).
    ///
    /// # Errors
    /// Runtime errors; `InvalidParam`-style errors for a size above [`PINGPONG_MAX`].
    pub fn pingpong_batch(&mut self, size: usize, iters: u64) -> Result<Duration> {
        if size > PINGPONG_MAX {
            return Err(shmem::Error::invalid(format!("ping-pong payload {size} exceeds {PINGPONG_MAX}")));
        }
        let t = Instant::now();
        for _ in 0..iters {
            let v = self.next_value(size as u64);
            self.data.put_signal(1, 0, &self.local()[..size], &self.ctl, PING, v, SignalOp::Set)?;
            self.ctl.wait_until(PONG, CmpOp::Ge, v)?;
        }
        Ok(t.elapsed())
    }

    /// `iters` x 64-bit fetch-add on PE 1's counter word through `SymVec::<u64>::fetch_add`; the elapsed
    /// time.
    ///
    /// # Errors
    /// Runtime errors.
    pub fn fetch_add_batch(&self, iters: u64) -> Result<Duration> {
        let mut acc = 0u64;
        let t = Instant::now();
        for _ in 0..iters {
            acc = acc.wrapping_add(self.ctl.fetch_add(1, COUNTER, 1)?);
        }
        let elapsed = t.elapsed();
        black_box(acc);
        Ok(elapsed)
    }

    /// `iters` x 64-bit fetch-add on PE 1's counter word through the address API (`api::atomic`); the
    /// elapsed time.
    ///
    /// # Errors
    /// Runtime errors.
    pub fn fetch_add_api_batch(&self, iters: u64) -> Result<Duration> {
        let addr = self.ctl.addr() + COUNTER * 8;
        let mut acc = 0u64;
        let t = Instant::now();
        for _ in 0..iters {
            acc = acc.wrapping_add(api::atomic(addr, AtomicWidth::W64, AtomicOp::FetchAdd(1), 1)?);
        }
        let elapsed = t.elapsed();
        black_box(acc);
        Ok(elapsed)
    }

    /// `iters` x `api::barrier_all` over all PEs (the serving PEs are told the count first, then one
    /// untimed barrier lines everybody up); the elapsed time on PE 0.
    ///
    /// # Errors
    /// Runtime errors, including a barrier timeout.
    pub fn barrier_batch(&mut self, iters: u64) -> Result<Duration> {
        for pe in 1..self.n_pes() {
            // A put is complete at the target on return, so the count is there before the command.
            self.ctl.put(pe, COUNT, &[iters])?;
        }
        self.command_all(OP_BARRIER)?;
        api::barrier_all()?;
        let t = Instant::now();
        for _ in 0..iters {
            api::barrier_all()?;
        }
        Ok(t.elapsed())
    }

    /// Ends the job on this PE: PE 0 tells the serving PEs to stop; then every PE finalizes (collective).
    ///
    /// # Errors
    /// Runtime errors.
    pub fn finish(mut self) -> Result<()> {
        if self.my_pe() == 0 {
            self.command_all(OP_DONE)?;
        }
        let Pair { sh, data, ctl, .. } = self;
        drop((data, ctl));
        sh.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_fraction() {
        let ms = Duration::from_millis;
        let o = |transfer, compute, total| Overlap { transfer: ms(transfer), compute: ms(compute), total: ms(total) };
        assert_eq!(o(10, 10, 20).fraction(), 0.0);
        assert_eq!(o(10, 10, 10).fraction(), 1.0);
        assert!((o(10, 10, 12).fraction() - 0.8).abs() < 1e-9);
        assert_eq!(o(10, 10, 25).fraction(), 0.0);
        assert_eq!(o(10, 10, 5).fraction(), 1.0);
        assert_eq!(o(0, 10, 10).fraction(), 0.0);
    }

    #[test]
    fn nbi_chunks_bound_the_queued_work() {
        assert_eq!(nbi_chunk(8), NBI_CHUNK_MAX);
        assert_eq!(nbi_chunk(1 << 20), 8);
        assert_eq!(nbi_chunk(64 << 20), 1);
        assert_eq!(nbi_chunk(0), NBI_CHUNK_MAX);
    }
}
