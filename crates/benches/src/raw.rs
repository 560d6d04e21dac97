//! Physical references, measured in this process without the SHMEM runtime:
//!
//! - [`Memcpy`]: single-thread `memcpy` between two distinct, pre-touched private buffers (the floor of a
//!   put or get, which is a copy into or out of a mapped page);
//! - [`FlagPeer`]: a release-store / acquire-spin flag hand-off between this process and a forked child over
//!   a `MAP_SHARED` anonymous mapping, with an N-byte payload copied before the flag (the floor of
//!   put-with-signal and of a two-PE barrier);
//! - [`atomic_batch`]: a local atomic fetch-add (the floor of a remote fetch-add on a mapped word).

use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest payload of the flag hand-off.
pub const HANDOFF_MAX: usize = 4096;

/// Two distinct private buffers, both touched before any timing.
#[derive(Debug)]
pub struct Memcpy {
    src: Vec<u8>,
    dst: Vec<u8>,
}

impl Memcpy {
    /// Buffers of `max` bytes each (pre-touched: the source is filled with 1s, the destination with 0s).
    pub fn new(max: usize) -> Memcpy {
        Memcpy { src: vec![1; max], dst: vec![0; max] }
    }

    /// Copies `size` bytes from the source to the destination buffer `iters` times; returns the elapsed time.
    ///
    /// # Panics
    /// If `size` exceeds the buffers.
    pub fn batch(&mut self, size: usize, iters: u64) -> Duration {
        let (src, dst) = (&self.src[..size], &mut self.dst[..size]);
        let t = Instant::now();
        for _ in 0..iters {
            // black_box on both sides keeps the compiler from hoisting or merging the repeated copies.
            black_box(&mut *dst).copy_from_slice(black_box(src));
        }
        let elapsed = t.elapsed();
        black_box(&self.dst);
        elapsed
    }
}

/// Runs `iters` local `fetch_add`s on one atomic word; returns the elapsed time.
pub fn atomic_batch(word: &AtomicU64, iters: u64) -> Duration {
    let t = Instant::now();
    let mut acc = 0u64;
    for _ in 0..iters {
        acc = acc.wrapping_add(black_box(word).fetch_add(1, Ordering::SeqCst));
    }
    let elapsed = t.elapsed();
    black_box(acc);
    elapsed
}

/// A word alone on its 128-byte block (two cache lines, so adjacent-line prefetch does not pair flags).
#[repr(C, align(128))]
struct Line(AtomicU64);

/// The shared mapping of a [`FlagPeer`].
#[repr(C, align(4096))]
struct Shared {
    /// Parent to child: the sequence number of a ping, or [`STOP`].
    ping_flag: Line,
    /// Child to parent: the sequence number answered.
    pong_flag: Line,
    /// Payload size of the current ping, written before `ping_flag`.
    size: Line,
    ping: [u8; HANDOFF_MAX],
    pong: [u8; HANDOFF_MAX],
}

const STOP: u64 = u64::MAX;
/// How many spins pass between two checks of the deadline (parent) or of the parent's liveness (child).
const CHECK_EVERY: u32 = 1 << 16;

/// A forked child process that answers flag hand-offs over a shared mapping (ping-pong).
///
/// The parent copies N bytes into the shared `ping` buffer and release-stores a sequence number into the
/// ping flag; the child, spinning with acquire loads, copies N bytes from its private buffer into `pong`
/// and release-stores the number into the pong flag, which the parent spins on. One-way latency is half of
/// the round trip. The child dies with the parent (`PR_SET_PDEATHSIG`), and every parent wait is bounded.
#[derive(Debug)]
pub struct FlagPeer {
    shared: *mut Shared,
    child: libc::pid_t,
    seq: u64,
    src: Vec<u8>,
    timeout: Duration,
}

// SAFETY: the raw pointer refers to a process-private mapping owned by this value; all access to it goes
// through atomics or through copies ordered by the flags, so moving the owner to another thread is sound.
unsafe impl Send for FlagPeer {}

impl FlagPeer {
    /// Maps the shared page and forks the answering child. Each wait of the parent gives up after `timeout`.
    ///
    /// # Errors
    /// Whatever `mmap` or `fork` reports.
    pub fn spawn(timeout: Duration) -> io::Result<FlagPeer> {
        let len = std::mem::size_of::<Shared>();
        // SAFETY: an anonymous shared mapping with no fixed address; the result is checked below.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let shared = p.cast::<Shared>();
        // The child's private payload source: allocated and touched before the fork, so the child never
        // allocates.
        let child_src = vec![2u8; HANDOFF_MAX];
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: fork has no memory-safety preconditions; the child below only makes async-signal-safe
        // calls (prctl, getppid, _exit), atomic loads and stores, and copies between memory that exists in
        // its copy of the address space. It never allocates, takes no lock and never returns.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            let e = io::Error::last_os_error();
            // SAFETY: p/len is the mapping made above, not used after this.
            unsafe { libc::munmap(p, len) };
            return Err(e);
        }
        if pid == 0 {
            // SAFETY: see the fork comment; `shared` is the mapping inherited from the parent.
            unsafe { child_loop(shared, child_src.as_ptr(), parent) }
        }
        Ok(FlagPeer { shared, child: pid, seq: 0, src: vec![1u8; HANDOFF_MAX], timeout })
    }

    /// Runs `iters` round trips carrying `size` bytes each way (0: the bare flag); returns the elapsed time.
    ///
    /// # Errors
    /// `TimedOut` when the child does not answer within the timeout (it is then killed), `InvalidInput`
    /// for a size above [`HANDOFF_MAX`].
    pub fn round_trips(&mut self, size: usize, iters: u64) -> io::Result<Duration> {
        if size > HANDOFF_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("hand-off payload {size} exceeds {HANDOFF_MAX}"),
            ));
        }
        let sh = self.shared;
        // SAFETY: (for the dereferences below) `sh` is the live mapping owned by self; the flags and the size
        // are atomics; `ping` is written only here, between the child's acquire of the previous ping and
        // its next one (the child reads it only after acquiring a new flag value), and is reached through
        // raw pointers only.
        let (ping_flag, pong_flag, size_word, ping) = unsafe {
            (&(*sh).ping_flag.0, &(*sh).pong_flag.0, &(*sh).size.0, std::ptr::addr_of_mut!((*sh).ping).cast::<u8>())
        };
        size_word.store(size as u64, Ordering::Relaxed);
        let t = Instant::now();
        for _ in 0..iters {
            self.seq += 1;
            let seq = self.seq;
            // SAFETY: `size <= HANDOFF_MAX` bytes, within both buffers; the child does not touch `ping`
            // until it acquires `seq` below.
            unsafe { std::ptr::copy_nonoverlapping(self.src.as_ptr(), ping, size) };
            ping_flag.store(seq, Ordering::Release);
            let mut spins = 0u32;
            while pong_flag.load(Ordering::Acquire) != seq {
                std::hint::spin_loop();
                spins += 1;
                if spins == CHECK_EVERY {
                    spins = 0;
                    if t.elapsed() > self.timeout {
                        self.kill();
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "the flag hand-off child did not answer"));
                    }
                }
            }
        }
        Ok(t.elapsed())
    }

    fn kill(&mut self) {
        if self.child > 0 {
            // SAFETY: `child` is our own child's pid, not yet reaped.
            unsafe {
                libc::kill(self.child, libc::SIGKILL);
                libc::waitpid(self.child, std::ptr::null_mut(), 0);
            }
            self.child = 0;
        }
    }
}

impl Drop for FlagPeer {
    fn drop(&mut self) {
        if self.child > 0 {
            // SAFETY: the mapping is live until the munmap below.
            unsafe { (*self.shared).ping_flag.0.store(STOP, Ordering::Release) };
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                // SAFETY: `child` is our own unreaped child; WNOHANG never blocks.
                let r = unsafe { libc::waitpid(self.child, std::ptr::null_mut(), libc::WNOHANG) };
                if r != 0 {
                    self.child = 0;
                    break;
                }
                if Instant::now() > deadline {
                    self.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // SAFETY: the mapping made in `spawn`, no longer used by anyone (the child is gone).
        unsafe { libc::munmap(self.shared.cast(), std::mem::size_of::<Shared>()) };
    }
}

/// The child's side of [`FlagPeer`]: answers pings until [`STOP`] or until the parent is gone.
///
/// # Safety
/// Only in a freshly forked child: `shared` must be the inherited mapping and `src` a readable buffer of
/// [`HANDOFF_MAX`] bytes. Never returns.
unsafe fn child_loop(shared: *mut Shared, src: *const u8, parent: libc::pid_t) -> ! {
    // SAFETY: async-signal-safe calls only; the caller guarantees the pointers.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != parent {
            libc::_exit(1);
        }
        let ping_flag = &(*shared).ping_flag.0;
        let pong_flag = &(*shared).pong_flag.0;
        let size_word = &(*shared).size.0;
        let pong = std::ptr::addr_of_mut!((*shared).pong).cast::<u8>();
        let mut last = 0u64;
        let mut spins = 0u32;
        loop {
            let v = ping_flag.load(Ordering::Acquire);
            if v == last {
                std::hint::spin_loop();
                spins += 1;
                if spins == CHECK_EVERY {
                    spins = 0;
                    if libc::getppid() != parent {
                        libc::_exit(1);
                    }
                }
                continue;
            }
            if v == STOP {
                libc::_exit(0);
            }
            last = v;
            let n = (size_word.load(Ordering::Relaxed) as usize).min(HANDOFF_MAX);
            std::ptr::copy_nonoverlapping(src, pong, n);
            pong_flag.store(v, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handoff_round_trips_and_stops() {
        let mut peer = FlagPeer::spawn(Duration::from_secs(10)).unwrap();
        for size in [0, 8, 4096] {
            let t = peer.round_trips(size, 100).unwrap();
            assert!(t > Duration::ZERO);
        }
        assert!(peer.round_trips(HANDOFF_MAX + 1, 1).is_err());
        drop(peer);
    }

    #[test]
    fn memcpy_and_atomic_batches_run() {
        let mut m = Memcpy::new(4096);
        m.batch(4096, 10);
        let w = AtomicU64::new(0);
        atomic_batch(&w, 10);
        assert_eq!(w.load(Ordering::Relaxed), 10);
    }
}
