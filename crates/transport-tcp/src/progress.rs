//! The target side: one progress thread per PE owns the listening socket and every incoming connection,
//! applies puts, signals and atomics to this PE's heap (waking its sleeping waiters) and answers gets.
//!
//! It waits in `epoll_wait` on all its sockets and a stop pipe. A thread of this PE that waits inside the library
//! serves the sockets itself meanwhile: one that waits for a word a peer writes ([`Shared::drive`]), and one
//! that waits for the reply to its own request ([`Shared::read_reply`]: it reads the reply itself). It is
//! running already, while the progress thread would have to be woken and scheduled first, which on a busy
//! machine costs tens of microseconds. One thread at a time holds this role (a mutex over every connection's
//! state), so a socket has one reader and a frame is never split between two. Each connection is a small
//! state machine (hello → proof → header → payload → header …) over a non-blocking socket, so one slow or silent
//! initiator never stalls the others while they send requests; put payloads are read straight into the
//! heap, get data is sent straight from it: a large get's data as the socket takes it (`State::Sending`,
//! watched for room to write once the socket is full), so the serving thread never blocks on a peer that is
//! not reading now (that peer may itself be waiting for its own reply while it serves); that stream has no
//! deadline: a peer that never reads its large get reply keeps that one connection until it reads or closes.
//! The short replies (a flush, an atomic, a small get) are written without waiting either: what the socket does
//! not take at once (a peer with deferred gets in flight that reads their replies only at its quiet, or a send
//! buffer the kernel shrank under memory pressure) goes out the same way before that connection's next request
//! is read. Anything malformed — a bad hello, a proof of the wrong secret, a range outside the
//! segment, replies not read — closes that connection with a warning naming the peer (never a secret or a
//! proof); the thread itself never panics on input.
//!
//! A new connection proves the job's secret by the handshake of [`crate::wire`]: once its [`Hello`] is read, the
//! serving thread answers with a fresh nonce and this PE's own proof in one non-blocking write (a fresh socket's
//! empty send buffer always takes its [`CHALLENGE_LEN`] bytes; one that does not is closed as a fault rather than
//! waited for), then reads the initiator's proof (`State::Proof`), checks it in constant time and answers the ok
//! byte. Nothing of the secret crosses the wire.

use crate::fdio::{peek_raw, read_raw, write_some};
use crate::outbox::{Outbox, FLUSH_AFTER, HELD_FLUSH_AFTER};
use crate::wire::{
    fresh_nonce, Challenge, Hello, JobKey, Refusal, Reply, Request, CHALLENGE_LEN, HELLO_LEN, NONCE_LEN, PROOF_LEN,
    REPLY_LEN, REQUEST_LEN,
};
use shmem_core::engine::{AtomicOp, AtomicWidth, SignalOp, SignalUpdate};
use shmem_core::heap::NodeSegments;
use shmem_core::HeapOffset;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What every connection is checked against.
struct Target {
    node: Arc<NodeSegments>,
    /// The job's secret as the handshake's key: each connection proves it, and this PE proves it back.
    key: JobKey,
    n_pes: u32,
    /// How long to keep polling without sleeping after serving a request (the next one, e.g. the flush of a
    /// put + quiet, usually follows within microseconds).
    spin: Duration,
    /// The progress thread's `epoll(7)` set: the stop and kick pipes, the listener and every connection (for
    /// reading, or for writing while it streams a get reply). Registered once instead of handing `poll(2)` every
    /// descriptor on every wait: measured here, a ping-pong whose server waits in `ppoll` on 4 descriptors
    /// before each read takes about 0.5 us more per round trip than one that waits in `epoll_wait`.
    epoll: OwnedFd,
    /// Whether `epoll` is waited on with `epoll_pwait2` ([`probe_pwait2`]).
    pwait2: bool,
    /// Set while the connections are out of `epoll` ([`Server::detach`]; changed and read only under the
    /// server's mutex): a connection that starts streaming a reply is then not watched there for room.
    detached: AtomicBool,
    /// How many times the connections were taken out of `epoll` ([`Server::detach`]); for the tests.
    detaches: AtomicU64,
    /// How long a new connection may take to prove that it belongs to the job (its hello and its proof) before
    /// it is closed: a process outside the job that connects and sends nothing must not keep a descriptor (and a
    /// receive buffer) of this PE for good. The control timeout, at most [`MAX_HELLO_TIMEOUT`].
    hello_timeout: Duration,
    /// Most connections that have not proved the secret yet kept at a time ([`MIN_UNPROVEN`], or the job's PE
    /// count if larger): one more closes the oldest of them (a PE of the job sends its hello right after it
    /// connects, so the oldest silent one is an outsider's, and the newest connection always gets its chance).
    max_unproven: usize,
    /// When the serving side's next timer is due, in nanoseconds since `epoch` (`u64::MAX`: none): the hello
    /// deadline of the oldest unproven connection, or the end of the listener's pause. Written only under the
    /// server's mutex; the progress thread reads it to bound its wait.
    timer_ns: AtomicU64,
    /// Set while the listener is out of the `epoll` set and out of the `poll(2)` sets: accepting failed for want
    /// of descriptors or memory, so the connection waiting in the backlog kept the listener readable and every
    /// wait would have returned at once (a thread at 100% CPU and a warning per loop). Watched again
    /// [`ACCEPT_PAUSE`] later.
    listener_paused: AtomicBool,
    /// The time origin of `timer_ns` and of [`Shared`]'s stamps.
    epoch: Instant,
    /// How long a reply may go unacknowledged before its connection ends: the control timeout, at least
    /// [`shmem_core::liveness::DEAD_PEER_NOTICED_WITHIN`].
    unacknowledged_bound: Duration,
}

impl Target {
    /// `at` in nanoseconds since `epoch`.
    fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos().min(u64::MAX as u128 - 1) as u64
    }

    /// Makes sure the serving side's timer runs by `at` (under the server's mutex).
    fn arm_timer(&self, at: Instant) {
        self.timer_ns.fetch_min(self.ns(at), Ordering::SeqCst);
    }
}

/// The longest a new connection may take to prove that it belongs to the job ([`Target::hello_timeout`]), as
/// the bootstrap store allows its clients for their handshake.
const MAX_HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The fewest connections allowed at a time that have not proved the secret yet ([`Target::max_unproven`]).
const MIN_UNPROVEN: usize = 128;
/// How long the listener is not watched after accepting failed for want of descriptors or memory.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The tags of the fixed members of the `epoll` set (a connection's tag is its descriptor).
const TAG_STOP: u64 = u64::MAX;
const TAG_KICK: u64 = u64::MAX - 1;
const TAG_LISTENER: u64 = u64::MAX - 2;

/// Adds `fd` to (`op` `EPOLL_CTL_ADD`), changes it in (`EPOLL_CTL_MOD`) or removes it from (`EPOLL_CTL_DEL`)
/// the set `epoll`, watched for `events` and tagged `tag`.
fn epoll_ctl(epoll: &OwnedFd, op: libc::c_int, fd: RawFd, events: libc::c_int, tag: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: events as u32, u64: tag };
    // SAFETY: epoll and fd are open descriptors; ev is a live epoll_event for the call.
    if unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Waits on `epoll` for at most `timeout` (`None`: no limit), with nanosecond timeouts (`epoll_pwait2`, Linux
/// 5.11) where `pwait2` (see [`probe_pwait2`]), else with `epoll_wait` and milliseconds rounded up; the count of
/// events filled in, or -1.
fn epoll_wait(epoll: &OwnedFd, pwait2: bool, evs: &mut [libc::epoll_event], timeout: Option<Duration>) -> libc::c_int {
    let (fd, max) = (epoll.as_raw_fd(), evs.len() as libc::c_int);
    if pwait2 {
        let ts =
            timeout.map(|d| libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as _ });
        let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: evs is a writable array of max events; ts_ptr null or a live timespec.
        return unsafe { epoll_pwait2(fd, evs.as_mut_ptr(), max, ts_ptr) };
    }
    let ms = timeout.map_or(-1, |d| d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int);
    // SAFETY: evs is a writable array of max events.
    unsafe { libc::epoll_wait(fd, evs.as_mut_ptr(), max, ms) }
}

/// The `epoll_pwait2` system call with no signal mask, through `syscall(2)`, not glibc's wrapper: the wrapper
/// exists only since glibc 2.35 (a binary linked against it does not load on older systems, and musl has none),
/// while the system call itself only needs the kernel.
///
/// # Safety
/// `evs` must be writable for `max` events; `ts` null or a live `timespec`.
unsafe fn epoll_pwait2(
    epfd: RawFd,
    evs: *mut libc::epoll_event,
    max: libc::c_int,
    ts: *const libc::timespec,
) -> libc::c_int {
    // SAFETY: forwarded contract; no signal mask (its size argument, the kernel's sigset size, is then unused).
    unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epfd,
            evs,
            max,
            ts,
            std::ptr::null::<libc::sigset_t>(),
            KERNEL_SIGSET_BYTES,
        ) as libc::c_int
    }
}

/// Whether the progress thread can wait with `epoll_pwait2`, decided once when it starts by a call that does not
/// wait: kernels before 5.11 answer `ENOSYS`, and a seccomp filter that does not know the call (containers,
/// sandboxes) typically answers `EPERM`. Either (or any other failure) selects `epoll_wait`; deciding it here
/// keeps an unexpected error in the thread's loop from ending the thread.
fn probe_pwait2(epoll: &OwnedFd) -> bool {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ev is one writable event; zero is a live timespec.
    if unsafe { epoll_pwait2(epoll.as_raw_fd(), &mut ev, 1, &zero) } >= 0 {
        return true;
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOSYS) | Some(libc::EPERM) => {
            tracing::debug!("TCP progress thread: epoll_pwait2 unavailable ({e}); waiting with epoll_wait (ms)")
        }
        _ => tracing::warn!("TCP progress thread: epoll_pwait2 failed ({e}); waiting with epoll_wait (ms)"),
    }
    false
}

/// The size of the kernel's signal set (64 signals), the last argument of the `epoll_pwait2` system call.
const KERNEL_SIGSET_BYTES: libc::size_t = 8;

/// Where a connection is in its stream of frames.
enum State {
    /// Reading the initiator's hello.
    Hello { buf: [u8; HELLO_LEN], got: usize },
    /// Reading the initiator's proof (this PE's challenge, nonce `nt`, went out; the hello's nonce was `nc`).
    Proof { pe: u32, nc: [u8; NONCE_LEN], nt: [u8; NONCE_LEN], buf: [u8; PROOF_LEN], got: usize },
    /// Reading a request header.
    Header { buf: [u8; REQUEST_LEN], got: usize },
    /// Reading a put's payload into the heap.
    Payload { dst: HeapOffset, len: u64, done: u64, signal: Option<SignalUpdate> },
    /// Writing a reply as the socket takes it: first `head[head_done..]` (what the socket did not take at once of
    /// a short reply or a large get's header; usually empty), then a large get's data straight from the heap
    /// (`len` 0: none). The connection's next request is read only after it: requests of a connection are served
    /// in order, and a peer that does not read its replies stalls only its own connection. `watched`: the socket
    /// is in the `epoll` set for room to write (only once the socket was full: a reply that fits at once costs no
    /// `epoll_ctl`).
    Sending { head: Vec<u8>, head_done: usize, src: HeapOffset, len: u64, done: u64, watched: bool },
}

/// One accepted connection.
struct Incoming {
    stream: TcpStream,
    addr: SocketAddr,
    /// The initiator, once its hello was accepted.
    pe: Option<u32>,
    /// When it was accepted (it must prove the secret within [`Target::hello_timeout`]).
    since: Instant,
    state: State,
    rx: RxBuf,
}

/// Why a connection ends.
enum Close {
    /// The initiator closed it (finalize, or it exited).
    Eof,
    /// A protocol violation or an I/O error: logged.
    Fault(String),
}

impl From<io::Error> for Close {
    fn from(e: io::Error) -> Close {
        Close::Fault(e.to_string())
    }
}

/// The serving side, driven by one thread at a time (the progress thread, or a thread of this PE that waits
/// inside the library): the listener and every incoming connection with its frame state. Holding its mutex is
/// the progress role; the state machines live here, so a frame half read by one holder is finished by the next.
struct Server {
    listener: TcpListener,
    conns: Vec<Incoming>,
    /// Scratch for `poll(2)`.
    fds: Vec<libc::pollfd>,
    /// Calls of [`Shared::serve_ready`] that read the connections directly ([`DIRECT_READS`]); every
    /// [`LISTENER_EVERY`]-th one polls instead, so that the listener is watched too.
    direct: u32,
    /// When the paused listener ([`Target::listener_paused`]) is watched again.
    listener_resume: Option<Instant>,
    /// When a failed accept was last logged: at most one line a second.
    accept_warned: Option<Instant>,
}

/// Up to this many incoming connections, a thread that drives progress ([`Shared::serve_ready`]: a waiter that
/// spins) reads each of them with a non-blocking `read` instead of asking `poll(2)` which are readable first: a
/// read that finds nothing costs one system call as a poll does, and one that finds a request saves the poll
/// before it. Measured (two PEs on one CPU, `examples/tcp_opcount.rs put_signal`, where the waiting thread
/// reads every request): the poll was one of 2.4 system calls per one-way message on the reader's side.
const DIRECT_READS: usize = 2;

/// How far past its deadline a reply wait may go: a wait with at least the control timeout less this left sleeps
/// in `recv`, bounded by the socket's receive timeout (the control timeout: one system call), a shorter rest in
/// `ppoll` first.
const REPLY_SLACK: Duration = Duration::from_millis(10);

/// [`Shared::drive`] renews its time stamp (which keeps the progress thread parked) every this many calls. A
/// waiting thread drives every few microseconds (each round of its spin or yield), far less than [`PARK`] per
/// this many calls.
const DRIVE_STAMP_EVERY: u32 = 8;

/// Every this many direct rounds ([`DIRECT_READS`]), [`Shared::serve_ready`] polls instead, watching the
/// listener too: a PE that connects while a waiter keeps the progress thread parked is accepted promptly.
const LISTENER_EVERY: u32 = 16;

/// What the engine's callers and the progress thread share.
#[derive(Debug)]
pub(crate) struct Shared {
    target: Target,
    server: Mutex<Server>,
    /// The initiator's connections (the progress thread writes batches that waited too long).
    pub(crate) outbox: Outbox,
    /// Set while the progress thread sleeps with no time limit: a put that starts a batch then kicks it.
    asleep: AtomicBool,
    /// Set while the progress thread sleeps longer than [`WATCH_STEP`] (it watches only held batches, every
    /// [`HELD_STEP`]): a put that starts an urgent batch (a burst) then kicks it.
    coarse: AtomicBool,
    /// When a waiting thread last drove progress (nanoseconds since `epoch`, 0: none since its release). While
    /// it is recent the progress thread stays off the sockets: woken by every frame that a running driver takes
    /// anyway, it would only take a core from the threads doing the work.
    driven_at: AtomicU64,
    /// Calls of [`Shared::drive`] (they renew `driven_at` every [`DRIVE_STAMP_EVERY`]).
    drives: AtomicU32,
    /// Set while the progress thread is parked off the sockets: a driver's release then kicks it.
    parked: AtomicBool,
    /// How many waits of reply waiters were in the serving mode (the progress thread parked for a driver: the
    /// waiter serves this PE's incoming connections unless another thread holds the role); for the tests.
    pub(crate) serving_waits: AtomicU64,
    /// Write end of the kick pipe (non-blocking).
    kick: UnixStream,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("conns", &self.conns.len()).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("me", &self.node.me()).finish_non_exhaustive()
    }
}

impl Shared {
    /// Serves whatever has arrived, unless another thread holds the progress role now (it serves it then).
    /// Never sleeps; `true` when some connection was readable (a frame, or part of one, was taken).
    pub(crate) fn drive(&self) -> bool {
        // The stamp is renewed every DRIVE_STAMP_EVERY calls (and on the first after a release), not on each: a
        // clock read per call was about a tenth of this thread's own time per message of a ping-pong (`perf`,
        // `examples/tcp_opcount.rs put_signal`). A stamp a few calls old only ends a park early: the progress
        // thread then serves beside the driver until the next stamp parks it again.
        let n = self.drives.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(DRIVE_STAMP_EVERY) || self.driven_at.load(Ordering::Relaxed) == 0 {
            self.driven_at.store(self.now_ns().max(1), Ordering::Relaxed);
        }
        self.serve_ready(Reader::Waiter)
    }

    /// How many times the progress thread took this PE's connections out of its `epoll` set for a driver.
    pub(crate) fn detaches(&self) -> u64 {
        self.target.detaches.load(Ordering::Relaxed)
    }

    /// What [`Shared::drive`] does without parking the progress thread: a reply waiter's spin serves with it,
    /// as it is not a driver (a park it refreshed would keep every later wait of this PE in the serving mode).
    /// `reader`: how this thread reads ([`Reader`]).
    fn serve_ready(&self, reader: Reader) -> bool {
        let mut s = match self.server.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return false,
        };
        let s = &mut *s;
        if s.conns.len() <= DIRECT_READS && s.conns.iter().all(|c| !matches!(c.state, State::Sending { .. })) {
            s.direct = s.direct.wrapping_add(1);
            if s.direct % LISTENER_EVERY != 0 {
                return s.serve_direct(&self.target, reader);
            }
        }
        s.fds.clear();
        s.fds.extend(watch(&s.listener, &self.target, &s.conns));
        // SAFETY: fds is a valid array of fds.len() pollfd structures for the call.
        let r = unsafe { libc::poll(s.fds.as_mut_ptr(), s.fds.len() as libc::nfds_t, 0) };
        if r <= 0 {
            return false;
        }
        let listener_ready = s.fds[0].revents != 0;
        let ready: Vec<RawFd> = s.fds[1..].iter().filter(|p| p.revents != 0).map(|p| p.fd).collect();
        // (A connection accepted here joins the progress thread's epoll set at once: no kick needed.)
        s.serve(&self.target, reader, listener_ready, &ready);
        true
    }

    /// Reads a reply from the caller's own connection `fd` into `dst`: at least `min` bytes, and whatever more of
    /// the first `max` is there already. The reply is read by the thread that waits for it, with no hand-over
    /// from the progress thread. While a thread of this PE drives progress (the progress thread is parked), the
    /// caller also serves this PE's incoming connections meanwhile when no other thread does (it takes the
    /// progress role for each wait, at most until the park ends), so two PEs that wait for each other's replies
    /// each keep serving the other's requests; otherwise the progress thread is on the sockets and the caller
    /// sleeps in `recv`. `now`: look for bytes before the first wait (the rest of a reply whose start was
    /// there); else the first system call is the wait. Polls (serving what has arrived, without parking the
    /// progress thread) for `spin` before it sleeps. `ErrorKind::TimedOut` when no byte came for `timeout`.
    ///
    /// # Safety
    /// `dst..dst+max` must be writable memory that nothing else accesses during the call.
    pub(crate) unsafe fn read_reply(
        &self,
        fd: RawFd,
        dst: *mut u8,
        (min, max): (usize, usize),
        now: bool,
        timeout: Duration,
        spin: Duration,
    ) -> io::Result<usize> {
        let mut done = 0;
        let mut try_read = now;
        let start = Instant::now();
        let mut deadline = start + timeout;
        let spin_until = start + spin;
        while done < min {
            if try_read {
                // SAFETY: done < min <= max: dst+done..dst+max is inside the caller's writable range.
                if let Some(n) = unsafe { recv_some(fd, dst.add(done), max - done, libc::MSG_DONTWAIT) }? {
                    done += n;
                    deadline = Instant::now() + timeout;
                    continue;
                }
            }
            try_read = true;
            let now = Instant::now();
            if now < spin_until {
                // A round that served nothing gives the core away if another thread wants it: the one that must
                // send this reply may be waiting for this very core (a PE's progress thread, woken onto the core
                // this caller spins on, runs only once the spin ends; measured on the 2-vCPU VM, `shmem-bench
                // --engines tcp-netns`, 8 B get: 85-95 us per get, about this spin and the server's own one in
                // a row, in most runs; 6-7 us with the yield).
                // It peeks only while a driver keeps the progress thread off the sockets: else the bytes it left
                // in a socket would wake the progress thread, which watches that socket, for nothing.
                let reader = if self.driver_left().is_some() { Reader::Waiter } else { Reader::ProgressThread };
                if !self.serve_ready(reader) {
                    std::thread::yield_now();
                }
                continue;
            }
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"));
            }
            let Some(park) = self.driver_left() else {
                if timeout.saturating_sub(left) > REPLY_SLACK {
                    // Part of this wait went by (serving, while a driver parked the progress thread): the socket's
                    // receive timeout, the whole control timeout, would overshoot the deadline. Wait for the rest.
                    let mut p = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
                    if ppoll(&mut p, Some(left)) < 0 {
                        interrupted_ok(io::Error::last_os_error())?;
                    }
                    continue;
                }
                // The progress thread watches the sockets (no thread of this PE drove progress lately): sleep in
                // `recv` on this connection alone, one system call where watching every socket costs two
                // (`poll`, then `recv`: about a microsecond more per round trip on the 2-core VM). Bounded by the
                // socket's receive timeout, which is the control timeout.
                // SAFETY: done < min <= max: dst+done..dst+max is inside the caller's writable range.
                if let Some(n) = unsafe { recv_some(fd, dst.add(done), max - done, 0) }? {
                    done += n;
                    deadline = Instant::now() + timeout;
                }
                continue;
            };
            // A thread of this PE drives progress, so the progress thread is parked: serve while waiting, and
            // write the batches of this PE's other connections meanwhile (its own connection is locked by this
            // caller and skipped).
            if self.outbox.has_pending() {
                self.outbox.flush_nonblocking();
            }
            // At most until the park ends: then the progress thread is back on the sockets (it would wait for
            // the role this thread holds) and this caller goes back to sleeping in `recv`.
            self.serving_waits.fetch_add(1, Ordering::Relaxed);
            self.wait_serving(fd, left.min(park))?;
        }
        Ok(done)
    }

    /// Waits (at most `left`) until `fd` is readable, serving this PE's incoming connections meanwhile if no
    /// other thread holds the progress role; else watches `fd` alone, a millisecond at a time, and tries again.
    fn wait_serving(&self, fd: RawFd, left: Duration) -> io::Result<()> {
        let mut s = match self.server.try_lock() {
            Ok(s) => s,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let mut p = [libc::pollfd { fd, events: libc::POLLIN, revents: 0 }];
                let r = ppoll(&mut p, Some(left.min(Duration::from_millis(1))));
                return if r < 0 { interrupted_ok(io::Error::last_os_error()) } else { Ok(()) };
            }
        };
        // (driven_at is left alone: the progress thread stays parked only as long as the real driver keeps it
        // so, and a caller that waited in this mode goes back to `recv` once it is not.)
        let s = &mut *s;
        s.fds.clear();
        s.fds.push(libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
        s.fds.extend(watch(&s.listener, &self.target, &s.conns));
        // ppoll: `left` is often a fraction of a millisecond (the rest of a park), which poll(2) would round up.
        let r = ppoll(&mut s.fds, Some(left));
        if r < 0 {
            return interrupted_ok(io::Error::last_os_error());
        }
        let listener_ready = s.fds[1].revents != 0;
        let ready: Vec<RawFd> = s.fds[2..].iter().filter(|p| p.revents != 0).map(|p| p.fd).collect();
        if listener_ready || !ready.is_empty() {
            s.serve(&self.target, Reader::Waiter, listener_ready, &ready);
        }
        Ok(())
    }

    fn kick_if_asleep(&self) {
        if self.asleep.load(Ordering::SeqCst) {
            let _ = (&self.kick).write(&[1]);
        }
    }

    /// An application thread is about to block on a socket of its own (a reply, a full send buffer) or to
    /// leave the library: if a waiter parked the progress thread, it must serve again now, or requests from peers
    /// wait out the park.
    pub(crate) fn stop_driving(&self) {
        if self.driven_at.load(Ordering::Relaxed) != 0 {
            self.release();
        }
    }

    /// The driving thread goes to sleep: the progress thread returns to the sockets now.
    pub(crate) fn release(&self) {
        self.driven_at.store(0, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            let _ = (&self.kick).write(&[1]);
        }
    }

    fn now_ns(&self) -> u64 {
        self.target.epoch.elapsed().as_nanos() as u64
    }

    /// A put started a batch, or made a held one urgent: make sure the progress thread writes it within
    /// [`FLUSH_AFTER`] (`urgent`) or [`HELD_FLUSH_AFTER`] (it checks for batches before every sleep; only one that
    /// already sleeps without a limit, or for an urgent batch one that sleeps a [`HELD_STEP`], needs the kick).
    pub(crate) fn batch_started(&self, urgent: bool) {
        if urgent && self.coarse.load(Ordering::SeqCst) {
            let _ = (&self.kick).write(&[1]);
            return;
        }
        self.kick_if_asleep();
    }
}

impl Server {
    /// Accepts pending connections when `listener_ready`, then serves the connections whose descriptor is in
    /// `ready`, closing those that ended or misbehaved; `true` when the set of connections changed.
    fn serve(&mut self, t: &Target, reader: Reader, listener_ready: bool, ready: &[RawFd]) -> bool {
        let before = self.conns.len();
        if listener_ready {
            self.accept_all(t);
        }
        let mut changed = self.conns.len() != before;
        // Back to front so that removing one keeps the others' indices.
        for i in (0..self.conns.len()).rev() {
            if !ready.contains(&self.conns[i].stream.as_raw_fd()) {
                continue;
            }
            if let Err(close) = self.conns[i].on_ready(t, reader) {
                changed = true;
                self.close(t, i, close);
            }
        }
        changed
    }

    /// Takes the connections out of the progress thread's `epoll` set while it is parked for a driver, if there
    /// are at most [`DIRECT_READS`] of them (the drivers then read them directly, and the registration is of no
    /// use until the park ends): a socket in an `epoll` set runs the set's callback, under the socket's lock, on
    /// the delivery of every segment (`sock_def_readable`): measured with `perf` (`examples/tcp_opcount.rs
    /// put_signal`, both PEs on one vCPU) about 90-140 ns per message, and a reader spinning on another CPU waits
    /// for that lock meanwhile. With more connections the two system calls each per park would cost more.
    fn detach(&mut self, t: &Target) {
        if self.conns.len() > DIRECT_READS {
            return;
        }
        for c in &mut self.conns {
            let _ = epoll_ctl(&t.epoll, libc::EPOLL_CTL_DEL, c.stream.as_raw_fd(), 0, 0);
            if let State::Sending { watched, .. } = &mut c.state {
                *watched = false;
            }
        }
        t.detached.store(true, Ordering::Relaxed);
        t.detaches.fetch_add(1, Ordering::Relaxed);
    }

    /// Puts every connection back into the progress thread's `epoll` set after [`Server::detach`] (one accepted
    /// meanwhile is there already: changed instead), watched for a request, or for room while it streams a reply.
    /// Level-triggered: bytes that came while detached are reported at once.
    /// A connection that cannot be watched again (`epoll_ctl` failed: out of memory, `max_user_watches`) is
    /// closed, naming its peer; the others, and the thread, go on.
    fn attach(&mut self, t: &Target) {
        for i in (0..self.conns.len()).rev() {
            let c = &mut self.conns[i];
            let fd = c.stream.as_raw_fd();
            let sending = matches!(c.state, State::Sending { .. });
            let events = if sending { libc::EPOLLOUT } else { libc::EPOLLIN };
            let r = match epoll_ctl(&t.epoll, libc::EPOLL_CTL_ADD, fd, events, fd as u64) {
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    epoll_ctl(&t.epoll, libc::EPOLL_CTL_MOD, fd, events, fd as u64)
                }
                r => r,
            };
            if let Err(e) = r {
                self.close(t, i, Close::Fault(format!("cannot watch it again (epoll_ctl: {e})")));
                continue;
            }
            if let State::Sending { watched, .. } = &mut c.state {
                *watched = true;
            }
        }
        t.detached.store(false, Ordering::Relaxed);
    }

    /// Reads every connection directly, without asking `poll(2)` first (see [`DIRECT_READS`]; none of them is
    /// streaming a reply); `true` when some connection gave bytes or ended.
    fn serve_direct(&mut self, t: &Target, reader: Reader) -> bool {
        let mut took = false;
        for i in (0..self.conns.len()).rev() {
            self.conns[i].rx.took = false;
            match self.conns[i].on_ready(t, reader) {
                Ok(()) => took |= self.conns[i].rx.took,
                Err(close) => {
                    took = true;
                    self.close(t, i, close);
                }
            }
        }
        took
    }

    /// Drops connection `i`, which ended or misbehaved (`why`), logging it.
    fn close(&mut self, t: &Target, i: usize, why: Close) {
        let me = t.node.me();
        let c = self.conns.swap_remove(i);
        c.unregister(t);
        let who = c.pe.map_or_else(|| format!("an unidentified peer at {}", c.addr), |pe| format!("PE {pe}"));
        match why {
            Close::Eof => tracing::debug!("PE {}: TCP connection from {who} closed", me.0),
            Close::Fault(why) => tracing::warn!("PE {}: closed the TCP connection from {who}: {why}", me.0),
        }
    }
}

/// The running progress thread; stopping it closes every incoming connection.
#[derive(Debug)]
pub(crate) struct Progress {
    handle: Option<JoinHandle<()>>,
    stop: UnixStream,
    shared: Arc<Shared>,
}

impl Progress {
    /// Starts serving `listener` for the PE whose heap `node` holds.
    pub(crate) fn start(
        listener: TcpListener,
        node: Arc<NodeSegments>,
        key: JobKey,
        n_pes: u32,
        spin: Duration,
        control_timeout: Duration,
    ) -> io::Result<Progress> {
        listener.set_nonblocking(true)?;
        let (stop, stop_rx) = UnixStream::pair()?;
        stop_rx.set_nonblocking(true)?;
        let (kick, kick_rx) = UnixStream::pair()?;
        kick.set_nonblocking(true)?;
        kick_rx.set_nonblocking(true)?;
        let me = node.me();
        // SAFETY: epoll_create1 takes no pointers.
        let epoll = match unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) } {
            -1 => return Err(io::Error::last_os_error()),
            // SAFETY: a new descriptor that nothing else owns.
            fd => unsafe { OwnedFd::from_raw_fd(fd) },
        };
        let pwait2 = probe_pwait2(&epoll);
        epoll_ctl(&epoll, libc::EPOLL_CTL_ADD, stop_rx.as_raw_fd(), libc::EPOLLIN, TAG_STOP)?;
        epoll_ctl(&epoll, libc::EPOLL_CTL_ADD, kick_rx.as_raw_fd(), libc::EPOLLIN, TAG_KICK)?;
        epoll_ctl(&epoll, libc::EPOLL_CTL_ADD, listener.as_raw_fd(), libc::EPOLLIN, TAG_LISTENER)?;
        let target = Target {
            node,
            key,
            n_pes,
            spin,
            epoll,
            pwait2,
            detached: AtomicBool::new(false),
            detaches: AtomicU64::new(0),
            hello_timeout: control_timeout.min(MAX_HELLO_TIMEOUT),
            unacknowledged_bound: control_timeout.max(shmem_core::liveness::DEAD_PEER_NOTICED_WITHIN),
            max_unproven: MIN_UNPROVEN.max(n_pes as usize),
            timer_ns: AtomicU64::new(u64::MAX),
            listener_paused: AtomicBool::new(false),
            epoch: Instant::now(),
        };
        let shared = Arc::new(Shared {
            target,
            server: Mutex::new(Server {
                listener,
                conns: Vec::new(),
                fds: Vec::new(),
                direct: 0,
                listener_resume: None,
                accept_warned: None,
            }),
            outbox: Outbox::new(n_pes),
            asleep: AtomicBool::new(false),
            coarse: AtomicBool::new(false),
            driven_at: AtomicU64::new(0),
            drives: AtomicU32::new(0),
            parked: AtomicBool::new(false),
            serving_waits: AtomicU64::new(0),
            kick,
        });
        let for_thread = shared.clone();
        let handle = std::thread::Builder::new()
            .name(format!("shmem-tcp-progress-{}", me.0))
            .spawn(move || serve(&for_thread, &stop_rx, &kick_rx))?;
        Ok(Progress { handle: Some(handle), stop, shared })
    }

    /// The state the engine shares with the thread.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        let _ = self.stop.write_all(&[1]);
        if let Some(h) = self.handle.take() {
            if h.join().is_err() {
                tracing::error!("the TCP progress thread panicked");
            }
        }
        // The incoming connections close now, even while the engine's callers still hold the shared state.
        let mut s = self.shared.server.lock().unwrap_or_else(|e| e.into_inner());
        for c in s.conns.drain(..) {
            c.unregister(&self.shared.target);
        }
    }
}

/// Gets up to this size are answered with the reply header and the data in one send (one copy of at most this
/// many bytes); larger ones are written straight from the heap after the header.
pub(crate) const SMALL_GET: usize = 4096;

/// The progress thread: sleeps in `epoll_wait` on the stop and kick pipes, the listener and every connection
/// (without holding the progress role, so a waiting caller can serve meanwhile), then takes the role and
/// serves what is ready; writes batches that waited [`FLUSH_AFTER`].
fn serve(shared: &Shared, stop: &UnixStream, kick: &UnixStream) {
    let me = shared.target.node.me();
    let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
    // Until this instant the wait does not sleep (it returns at once): set after every served request.
    let mut spin_until: Option<Instant> = None;
    // When the oldest batch seen must be written.
    let mut flush_at: Option<Instant> = None;
    // Until this instant (set whenever a batch is seen, or a kick says one was started) the thread looks for
    // batches every HELD_STEP instead of sleeping without a limit: a put that starts a held batch meanwhile needs
    // no kick.
    let mut watch_until: Option<Instant> = None;
    // Until this instant (set whenever an urgent batch is seen) it looks every WATCH_STEP: a put that starts an
    // urgent batch meanwhile needs no kick either.
    let mut fine_until: Option<Instant> = None;
    loop {
        // The server's timers (hello deadlines, the end of a listener pause) run here even while a thread of this
        // PE keeps driving: the drivers skip a paused listener and never close an unproven connection.
        let timer = shared.target.timer_ns.load(Ordering::SeqCst);
        if timer != u64::MAX && shared.now_ns() >= timer {
            shared.server.lock().unwrap_or_else(|e| e.into_inner()).run_timers(&shared.target);
            continue;
        }
        if let Some(left) = shared.driver_left() {
            // A thread of this PE drives progress: stay off the sockets until it releases (kick) or has not
            // driven for PARK. Batches are its to write meanwhile (it writes them on every call).
            if !shared.target.detached.load(Ordering::Relaxed) {
                // (A driver holds the role for a round at a time: this waits microseconds, off its path.)
                shared.server.lock().unwrap_or_else(|e| e.into_inner()).detach(&shared.target);
            }
            let mut fds =
                [stop.as_raw_fd(), kick.as_raw_fd()].map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 });
            shared.parked.store(true, Ordering::SeqCst);
            if shared.driven_at.load(Ordering::SeqCst) != 0 {
                let r = ppoll(&mut fds, Some(left));
                if r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    shared.parked.store(false, Ordering::SeqCst);
                    tracing::error!("PE {}: TCP progress thread: poll failed; no more remote operations", me.0);
                    return;
                }
            }
            shared.parked.store(false, Ordering::SeqCst);
            if fds[0].revents != 0 {
                return;
            }
            if fds[1].revents != 0 {
                // Only when kicked: a park that merely timed out (every PARK while a waiter keeps driving) would
                // pay a read that finds nothing.
                drain(kick);
            }
            continue;
        }
        if shared.target.detached.load(Ordering::Relaxed) {
            shared.server.lock().unwrap_or_else(|e| e.into_inner()).attach(&shared.target);
        }
        let now = Instant::now();
        if flush_at.is_some_and(|at| now >= at) {
            shared.outbox.flush_nonblocking();
            flush_at = None;
        }
        if shared.outbox.has_pending() {
            // Seen at most one step after it started (while watching): written at most FLUSH_AFTER (urgent) or
            // HELD_FLUSH_AFTER (held) after it.
            let urgent = shared.outbox.pending.any_urgent();
            let at = now + if urgent { WATCH_STEP } else { HELD_STEP };
            if flush_at.is_none_or(|f| at < f) {
                flush_at = Some(at);
            }
            watch_until = Some(now + WATCH_BATCHES);
            if urgent {
                fine_until = Some(now + WATCH_BATCHES);
            }
        }
        let step = if fine_until.is_some_and(|u| now < u) { WATCH_STEP } else { HELD_STEP };
        let mut timeout = if spin_until.is_some_and(|u| now < u) {
            Some(Duration::ZERO)
        } else {
            flush_at.map(|at| at.saturating_duration_since(now))
        };
        if timeout.is_none() && watch_until.is_some_and(|u| now < u) {
            timeout = Some(step);
        }
        if timer != u64::MAX {
            // A hello deadline or the end of the listener's pause.
            let left = Duration::from_nanos(timer.saturating_sub(shared.now_ns()));
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        if timeout.is_none_or(|t| t > HELD_STEP) {
            // Sleeping without a limit, or longer than a held batch may wait (a server timer: a hello deadline, a
            // paused listener): announce it, then look for batches once more (a put that started one before seeing
            // the flag is found here; one after it kicks).
            shared.asleep.store(true, Ordering::SeqCst);
            if shared.outbox.has_pending() {
                shared.asleep.store(false, Ordering::SeqCst);
                continue;
            }
        } else if timeout.is_some_and(|t| t > WATCH_STEP) {
            // Sleeping longer than an urgent batch may wait: announce it, then look for one once more (the same
            // hand-shake as above).
            shared.coarse.store(true, Ordering::SeqCst);
            if shared.outbox.pending.any_urgent() {
                shared.coarse.store(false, Ordering::SeqCst);
                continue;
            }
        }
        let r = epoll_wait(&shared.target.epoll, shared.target.pwait2, &mut evs, timeout);
        shared.asleep.store(false, Ordering::SeqCst);
        shared.coarse.store(false, Ordering::SeqCst);
        if r == 0 {
            // Spinning and nothing came: let a thread that wants this core run first (see `read_reply`).
            std::thread::yield_now();
            continue;
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("PE {}: TCP progress thread: epoll_wait failed: {e}; no more remote operations", me.0);
            return;
        }
        let mut listener_ready = false;
        let mut ready: Vec<RawFd> = Vec::new();
        for ev in &evs[..r as usize] {
            match ev.u64 {
                TAG_STOP => return,
                TAG_KICK => {
                    drain(kick);
                    // A put started a batch while this thread slept without a limit: this PE batches. Watch from
                    // now on (every HELD_STEP at least) even if the batch is gone by the time this thread runs (a
                    // put held for its quiet usually is): else it would sleep again and every put would kick.
                    watch_until = Some(Instant::now() + WATCH_BATCHES);
                }
                TAG_LISTENER => listener_ready = true,
                fd => ready.push(fd as RawFd),
            }
        }
        if !listener_ready && ready.is_empty() {
            continue;
        }
        // Takes the role (waiting for a caller that holds it; what it has served is then simply not readable).
        let mut s = shared.server.lock().unwrap_or_else(|e| e.into_inner());
        s.serve(&shared.target, Reader::ProgressThread, listener_ready, &ready);
        drop(s);
        if !shared.target.spin.is_zero() {
            // Counted from the end of the round, not its start: a round that streams a large get's reply (one
            // `send` of 1 MiB takes about 100 us on the 2-vCPU VM) would otherwise use up the whole spin, and the
            // thread would sleep just before the initiator's next request, paying a wake-up per get (measured,
            // `examples/tcp_opcount.rs get_bw`, 1 MiB: 6.2-7.3 GB/s counted from the start, see the commit).
            spin_until = Some(Instant::now() + shared.target.spin);
        }
    }
}

/// How often the progress thread looks for batches while it watches for them ([`WATCH_BATCHES`]): half of
/// [`FLUSH_AFTER`], so that a batch seen one step after it started is still written within `FLUSH_AFTER`.
/// Where `epoll_pwait2` is missing (kernels before 5.11, or refused by a seccomp filter: [`probe_pwait2`]) the
/// wait's timeout is rounded up to a millisecond: the step is then 1 ms, so a batch that no request or wait
/// writes goes out within about 1 ms instead of `FLUSH_AFTER`.
const WATCH_STEP: Duration = Duration::from_micros(FLUSH_AFTER.as_micros() as u64 / 2);
/// How often the progress thread looks for batches while it watches and has seen no urgent one for
/// [`WATCH_BATCHES`] (half of [`HELD_FLUSH_AFTER`]): a PE that runs put + quiet in a loop holds each put for its
/// quiet, and the thread then wakes every this often, not every [`WATCH_STEP`] (see `HELD_FLUSH_AFTER`).
const HELD_STEP: Duration = Duration::from_micros(HELD_FLUSH_AFTER.as_micros() as u64 / 2);
/// For how long after it last saw a batch the progress thread keeps looking for new ones every [`WATCH_STEP`]
/// rather than sleeping until kicked. While a PE batches (a burst of puts, or put + quiet in a loop, where each
/// put starts a batch that its quiet writes), this replaces a kick per batch — a system call on the put's path
/// and a wake-up of the progress thread — by a timer wake-up every step.
const WATCH_BATCHES: Duration = Duration::from_millis(2);

/// How long after a waiting thread's last drive the progress thread stays off the sockets (unless the thread
/// releases the role first, as a wait that goes to sleep does). A request that comes just after a wait ended
/// and before the next one is served at most this late.
const PARK: Duration = Duration::from_micros(200);

impl Shared {
    /// How long the progress thread should stay parked: `Some` while a driver was active within [`PARK`].
    fn driver_left(&self) -> Option<Duration> {
        let at = self.driven_at.load(Ordering::SeqCst);
        if at == 0 {
            return None;
        }
        let since = Duration::from_nanos(self.now_ns().saturating_sub(at));
        PARK.checked_sub(since).filter(|d| !d.is_zero())
    }
}

/// One `recv(2)` of at most `len` bytes into `dst`: `Some(n)` bytes read, `None` when nothing came (interrupted,
/// nothing there now, or the socket's receive timeout), an error at end of stream or on a socket error.
///
/// # Safety
/// `dst..dst+len` must be writable memory that nothing else accesses during the call.
unsafe fn recv_some(fd: RawFd, dst: *mut u8, len: usize, flags: libc::c_int) -> io::Result<Option<usize>> {
    // SAFETY: the caller guarantees dst..dst+len is writable; recv(2) writes at most len bytes there.
    let n = unsafe { libc::recv(fd, dst.cast(), len, flags) };
    if n > 0 {
        return Ok(Some(n as usize));
    }
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let e = io::Error::last_os_error();
    // A connection TCP itself ended (nothing acknowledged for its user timeout: ETIMEDOUT, which the next recv
    // would answer with an end of stream) is that error, not a receive timeout (EAGAIN, kind WouldBlock).
    if shmem_core::liveness::is_dead_peer(&e) {
        return Err(e);
    }
    match e.kind() {
        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(None),
        _ => Err(e),
    }
}

/// What `poll(2)` must watch of the serving side: the listener, then every connection (for a request, or for
/// room to go on with a get reply it is streaming).
/// A paused listener ([`Target::listener_paused`]) is left out: descriptor -1, which `poll(2)` skips.
fn watch<'a>(listener: &TcpListener, t: &Target, conns: &'a [Incoming]) -> impl Iterator<Item = libc::pollfd> + 'a {
    let fd = if t.listener_paused.load(Ordering::Relaxed) { -1 } else { listener.as_raw_fd() };
    let listener = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    std::iter::once(listener).chain(conns.iter().map(|c| libc::pollfd {
        fd: c.stream.as_raw_fd(),
        events: if matches!(c.state, State::Sending { .. }) { libc::POLLOUT } else { libc::POLLIN },
        revents: 0,
    }))
}

/// `Ok` for an interrupted wait (the caller looks again), the error otherwise.
fn interrupted_ok(e: io::Error) -> io::Result<()> {
    if e.kind() == io::ErrorKind::Interrupted {
        Ok(())
    } else {
        Err(e)
    }
}

/// `ppoll(2)` on `fds` for at most `timeout` (`None`: no limit).
fn ppoll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> libc::c_int {
    let ts = timeout.map(|d| libc::timespec { tv_sec: d.as_secs() as libc::time_t, tv_nsec: d.subsec_nanos() as _ });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: fds is a valid array of fds.len() pollfd structures, ts_ptr null or a live timespec.
    unsafe { libc::ppoll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ts_ptr, std::ptr::null()) }
}

/// Empties the kick pipe.
fn drain(kick: &UnixStream) {
    let mut sink = [0u8; 64];
    // A short read emptied it (a kick that comes later makes it readable again): no read that finds nothing.
    while matches!((&*kick).read(&mut sink), Ok(n) if n == sink.len()) {}
}

impl Server {
    /// Accepts the pending connections (unless the listener is paused): each must prove the job's secret within
    /// the hello timeout, and beyond [`Target::max_unproven`] unproven ones the oldest is closed. When accepting
    /// fails for want of descriptors or memory, the listener is paused ([`Target::listener_paused`]).
    fn accept_all(&mut self, t: &Target) {
        if t.listener_paused.load(Ordering::Relaxed) {
            return;
        }
        loop {
            match self.listener.accept() {
                Ok((stream, addr)) => {
                    let fd = stream.as_raw_fd();
                    if let Err(e) = stream
                        .set_nonblocking(true)
                        .and_then(|_| stream.set_nodelay(true))
                        .and_then(|_| epoll_ctl(&t.epoll, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN, fd as u64))
                    {
                        // The peer sees the connection closed before its hello is answered (and names this PE).
                        tracing::warn!(
                            "TCP progress thread: dropped a new connection from {addr}: setting it up failed: {e}"
                        );
                        continue;
                    }
                    crate::fdio::unpaced_if_host_local(&stream);
                    // A reply that a dead initiator's node never acknowledges ends the connection (see engine.rs).
                    let _ = shmem_core::liveness::bound_unacknowledged(&stream, t.unacknowledged_bound);
                    let unproven = self.conns.iter().filter(|c| c.pe.is_none()).count();
                    if unproven >= t.max_unproven {
                        let oldest = (0..self.conns.len())
                            .filter(|&i| self.conns[i].pe.is_none())
                            .min_by_key(|&i| self.conns[i].since)
                            .expect("counted above");
                        let why = format!("{unproven} connections had not proved the job's secret yet");
                        self.close(t, oldest, Close::Fault(why));
                    }
                    let since = Instant::now();
                    t.arm_timer(since + t.hello_timeout);
                    self.conns.push(Incoming {
                        stream,
                        addr,
                        pe: None,
                        since,
                        state: State::Hello { buf: [0; HELLO_LEN], got: 0 },
                        rx: RxBuf::default(),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.pause_listener(t, e),
            }
        }
    }

    /// Accepting failed (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, ...): the connection stays in the backlog and
    /// keeps the listener readable, so stop watching it for [`ACCEPT_PAUSE`], logging at most once a second. The
    /// connections there are keep being served.
    fn pause_listener(&mut self, t: &Target, e: io::Error) {
        let now = Instant::now();
        if self.accept_warned.is_none_or(|w| now.duration_since(w) >= Duration::from_secs(1)) {
            tracing::warn!(
                "PE {}: TCP progress thread: accepting a connection failed: {e} (out of file descriptors?); \
                 not accepting for {ACCEPT_PAUSE:?}",
                t.node.me().0
            );
            self.accept_warned = Some(now);
        }
        let _ = epoll_ctl(&t.epoll, libc::EPOLL_CTL_DEL, self.listener.as_raw_fd(), 0, 0);
        t.listener_paused.store(true, Ordering::Relaxed);
        self.listener_resume = Some(now + ACCEPT_PAUSE);
        t.arm_timer(now + ACCEPT_PAUSE);
    }

    /// Runs the timers that are due (the progress thread, when [`Target::timer_ns`] passed): closes the
    /// connections that did not prove the job's secret within the hello timeout, watches the listener again once
    /// its pause is over, and sets the next timer.
    fn run_timers(&mut self, t: &Target) {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        if let Some(at) = self.listener_resume {
            let due = if now < at {
                Some(at)
            } else {
                let fd = self.listener.as_raw_fd();
                match epoll_ctl(&t.epoll, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN, TAG_LISTENER) {
                    Err(e) if e.raw_os_error() != Some(libc::EEXIST) => Some(now + ACCEPT_PAUSE),
                    _ => None,
                }
            };
            self.listener_resume = due;
            t.listener_paused.store(due.is_some(), Ordering::Relaxed);
            next = due;
        }
        for i in (0..self.conns.len()).rev() {
            if self.conns[i].pe.is_some() {
                continue;
            }
            let due = self.conns[i].since + t.hello_timeout;
            if now >= due {
                // A hello that came while this thread was off the core is read first: only silence is closed.
                match self.conns[i].on_ready(t, Reader::ProgressThread) {
                    Ok(()) if self.conns[i].pe.is_some() => {}
                    Ok(()) => {
                        let why = format!("it did not prove the job's secret within {:?}", t.hello_timeout);
                        self.close(t, i, Close::Fault(why));
                    }
                    Err(close) => self.close(t, i, close),
                }
            } else {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        t.timer_ns.store(next.map_or(u64::MAX, |n| t.ns(n)), Ordering::SeqCst);
    }
}

/// Bytes of a connection's receive buffer: small frames (a batch of small puts) are taken from the socket many
/// at a time, with one system call, and copied out; a payload at least this long is read straight into the heap.
const RX_BUF: usize = 16 << 10;

/// What was read from a connection but not consumed yet.
#[derive(Default)]
struct RxBuf {
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The last read returned less than it asked for: the socket is (almost surely) empty now, so the next
    /// read would only answer `EAGAIN`. Not read again until `poll(2)` reports it readable (the readiness is
    /// level-triggered: bytes that came meanwhile are reported then), which saves a system call per request.
    drained: bool,
    /// A read returned bytes since this was last cleared ([`Server::serve_direct`] tells its caller whether a
    /// round served anything).
    took: bool,
    /// Who reads now: a waiter peeks its refills ([`Reader::Waiter`]).
    reader: Reader,
    /// How many bytes at the front of the socket's receive queue were peeked into `buf` and are still there:
    /// removed ([`RxBuf::settle`]) before the socket is read again.
    owed: usize,
}

/// Who reads a connection now, which decides when a refill's bytes leave the socket's receive queue.
///
/// A read that empties the receive queue of a connection that carries data one way only (requests; the
/// replies of this PE's own requests travel its own connection to that peer) makes the kernel send a pure ACK
/// segment from inside that `recv(2)`, about every second small request; on loopback the peer's side of it is
/// processed right there too. A waiter that reads the put + signal it waits for pays that before it sees the
/// signal. Measured on the 2-core VM, raw 48-byte ping-pongs with spinning readers, one-way: 2.9 us over one
/// connection, 4.0 us over two one-way connections, 2.8 us over two when each reader peeks (`MSG_PEEK`) and
/// removes the bytes only after it has answered. So a waiter peeks its refills and removes them at its next
/// read of that connection, after its caller went on; the progress thread reads as before (its caller is
/// another thread, which sees the signal as soon as it is applied) and settles what a waiter left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Reader {
    /// The progress thread: refills are read out of the socket.
    #[default]
    ProgressThread,
    /// A thread of this PE that waits inside the library and serves meanwhile: refills are peeked.
    Waiter,
}

impl RxBuf {
    /// Moves up to `len` next bytes of the stream `fd` to `dst`: buffered ones first, then from the socket; the
    /// count moved, short only when the socket has nothing more now (and then nothing stays buffered).
    ///
    /// # Safety
    /// `dst..dst+len` must be writable memory that stays mapped for the call and is not borrowed elsewhere.
    unsafe fn take(&mut self, fd: RawFd, dst: *mut u8, len: usize) -> Result<usize, Close> {
        let mut done = 0;
        loop {
            let n = (self.end - self.pos).min(len - done);
            if n > 0 {
                // SAFETY: buf[pos..pos+n] is initialized buffer; dst+done..dst+done+n is inside the caller's range;
                // the buffer is this struct's own allocation, so they do not overlap.
                unsafe { std::ptr::copy_nonoverlapping(self.buf.as_ptr().add(self.pos), dst.add(done), n) };
                self.pos += n;
                done += n;
            }
            if done == len {
                return Ok(done);
            }
            if self.drained {
                return Ok(done);
            }
            // The buffer is empty: what it held of the socket's queue goes first, then refill it, or read a long
            // rest straight into place.
            self.settle(fd)?;
            let left = len - done;
            let (into, room) = if left >= RX_BUF {
                // SAFETY: done < len: inside the caller's range.
                (unsafe { dst.add(done) }, left)
            } else {
                if self.buf.is_empty() {
                    self.buf = vec![0; RX_BUF];
                }
                (self.buf.as_mut_ptr(), RX_BUF)
            };
            let peek = self.reader == Reader::Waiter && left < RX_BUF;
            // SAFETY: into..into+room is writable: the caller's range or this buffer.
            let r = unsafe {
                if peek {
                    peek_raw(fd, into, room)
                } else {
                    read_raw(fd, into, room)
                }
            };
            self.drained = matches!(r, Ok(n) if n > 0 && n < room);
            self.took |= matches!(r, Ok(n) if n > 0);
            match r {
                Ok(0) => return Err(Close::Eof),
                Ok(n) if left >= RX_BUF => done += n,
                Ok(n) => {
                    (self.pos, self.end) = (0, n);
                    if peek {
                        self.owed = n;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(done),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Removes from the socket's receive queue the bytes a waiter peeked into the buffer ([`Reader`]); they are
    /// there (peeked), so this never waits. Called only once the buffer's bytes were all taken.
    fn settle(&mut self, fd: RawFd) -> Result<(), Close> {
        while self.owed > 0 {
            // MSG_TRUNC on a TCP socket discards the bytes instead of copying them (Linux 2.4 and later, tcp(7)).
            // The buffer is passed anyway, for a receive path that copies regardless (one a BPF sockmap or MPTCP
            // replaced): it holds the peeked copy of these very bytes, all taken out already (`settle` runs only
            // once the buffer is spent, or when the connection is dropped).
            let len = self.owed.min(self.buf.len());
            // SAFETY: buf is this struct's own allocation of at least `len` bytes, not borrowed elsewhere.
            let n = unsafe { libc::recv(fd, self.buf.as_mut_ptr().cast(), len, libc::MSG_DONTWAIT | libc::MSG_TRUNC) };
            match n {
                n if n > 0 => self.owed -= (n as usize).min(self.owed),
                0 => return Err(Close::Eof),
                _ => {
                    let e = io::Error::last_os_error();
                    if e.kind() != io::ErrorKind::Interrupted {
                        return Err(e.into());
                    }
                }
            }
        }
        Ok(())
    }

    /// Fills `buf[*got..]`; `Ok(true)` when `buf` is full, `Ok(false)` when the socket has nothing more now.
    fn fill(&mut self, fd: RawFd, buf: &mut [u8], got: &mut usize) -> Result<bool, Close> {
        let want = buf.len() - *got;
        // SAFETY: buf[*got..] is an exclusive slice of `want` bytes.
        *got += unsafe { self.take(fd, buf[*got..].as_mut_ptr(), want) }?;
        Ok(*got == buf.len())
    }
}

impl Drop for Incoming {
    /// Takes what a waiter peeked off the socket first: a socket closed with unread bytes in its receive queue
    /// ends with a reset, which would make the peer drop what it has received but not read yet.
    fn drop(&mut self) {
        let _ = self.rx.settle(self.stream.as_raw_fd());
    }
}

impl Incoming {
    /// Takes the connection out of the progress thread's `epoll` set; called before it is dropped. Closing this
    /// descriptor alone may not do it: the set holds the open socket, which a child forked without `exec`
    /// (Python's `multiprocessing` fork start method) keeps open through its copy of the descriptor. Left in the
    /// set, it would report the peer's close (level-triggered) on every wait, under a tag that names no
    /// connection: the progress thread would spin.
    fn unregister(&self, t: &Target) {
        let _ = epoll_ctl(&t.epoll, libc::EPOLL_CTL_DEL, self.stream.as_raw_fd(), 0, 0);
    }

    /// Consumes everything the socket has now, applying each complete request, read as `reader` reads.
    fn on_ready(&mut self, t: &Target, reader: Reader) -> Result<(), Close> {
        let fd = self.stream.as_raw_fd();
        // Reported ready by poll(2): whatever the last read said, there may be bytes now.
        self.rx.drained = false;
        self.rx.reader = reader;
        loop {
            match &mut self.state {
                State::Sending { head, head_done, src, len, done, watched } => {
                    let mut full = false;
                    if *head_done < head.len() {
                        // SAFETY: head[head_done..] is a live slice of this state.
                        *head_done += unsafe { write_some(fd, head[*head_done..].as_ptr(), head.len() - *head_done) }?;
                        full = *head_done < head.len();
                    }
                    if !full && *done < *len {
                        let p = t.node.local().span(src.0, *len).map_err(|e| Close::Fault(e.to_string()))?.as_ptr();
                        // SAFETY: p..p+len is inside this PE's own mapping (span checked), done < len. Never waits
                        // for room: a peer that does not read now stalls only this connection, never the thread
                        // (which may be a caller waiting for its own reply).
                        *done += unsafe { write_some(fd, p.add(*done as usize), (*len - *done) as usize) }? as u64;
                        full = *done < *len;
                    }
                    if full {
                        // (Detached: the drivers poll it for room, and re-attaching watches it.)
                        if !*watched && !t.detached.load(Ordering::Relaxed) {
                            epoll_ctl(&t.epoll, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT, fd as u64)?;
                            *watched = true;
                        }
                        return Ok(());
                    }
                    if *watched {
                        epoll_ctl(&t.epoll, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN, fd as u64)?;
                    }
                    self.state = State::Header { buf: [0; REQUEST_LEN], got: 0 };
                }
                State::Hello { buf, got } => {
                    if !self.rx.fill(fd, buf, got)? {
                        return Ok(());
                    }
                    let hello = Hello::decode(buf, t.n_pes).map_err(|e| Close::Fault(e.0))?;
                    let nt = fresh_nonce()?;
                    let proof = t.key.target_proof(hello.pe, t.node.me().0, &hello.nonce, &nt);
                    let challenge = Challenge { nonce: nt, proof }.encode();
                    // SAFETY: challenge is a live array for the call.
                    let n = unsafe { write_some(fd, challenge.as_ptr(), CHALLENGE_LEN) }?;
                    if n < CHALLENGE_LEN {
                        // A fresh socket's send buffer is empty: only a peer that sent its hello and never read, on
                        // a socket the kernel starved of memory, gets here. Never waited for.
                        return Err(Close::Fault(format!(
                            "the socket took {n} of the {CHALLENGE_LEN} bytes of the answer to the hello of PE {}",
                            hello.pe
                        )));
                    }
                    self.state = State::Proof { pe: hello.pe, nc: hello.nonce, nt, buf: [0; PROOF_LEN], got: 0 };
                }
                State::Proof { pe, nc, nt, buf, got } => {
                    if !self.rx.fill(fd, buf, got)? {
                        return Ok(());
                    }
                    if !t.key.verify_initiator(*pe, t.node.me().0, nc, nt, buf) {
                        return Err(Close::Fault(format!("claimed to be PE {pe} but does not know the job's secret")));
                    }
                    self.pe = Some(*pe);
                    self.state = State::Header { buf: [0; REQUEST_LEN], got: 0 };
                    self.reply(&[0], None)?;
                }
                State::Header { buf, got } => {
                    if !self.rx.fill(fd, buf, got)? {
                        return Ok(());
                    }
                    let req = Request::decode(buf).map_err(|e| Close::Fault(e.0))?;
                    *got = 0;
                    self.apply(req, t)?;
                }
                State::Payload { dst, len, done, signal } => {
                    let seg = t.node.local();
                    let base = seg.span(dst.0, *len).map_err(|e| Close::Fault(e.to_string()))?.as_ptr();
                    let left = (*len - *done) as usize;
                    // SAFETY: base..base+len is inside this PE's own mapping (span checked); done <= len.
                    *done += unsafe { self.rx.take(fd, base.add(*done as usize), left) }? as u64;
                    if *done < *len {
                        return Ok(());
                    }
                    let (dst, len, signal) = (*dst, *len, *signal);
                    t.node.wake(t.node.me(), dst, len);
                    if let Some(s) = signal {
                        apply_signal(&t.node, s).map_err(Close::Fault)?;
                    }
                    self.state = State::Header { buf: [0; REQUEST_LEN], got: 0 };
                }
            }
        }
    }

    /// Applies a decoded request (a put's payload is read by the `Payload` state).
    fn apply(&mut self, req: Request, t: &Target) -> Result<(), Close> {
        let me = t.node.me();
        let seg = t.node.local();
        match req {
            Request::Put { dst, len, signal } => {
                seg.span(dst.0, len).map_err(|e| Close::Fault(format!("put out of bounds: {e}")))?;
                if let Some(s) = signal {
                    check_word(&t.node, s.at, 8).map_err(Close::Fault)?;
                }
                if len == 0 {
                    if let Some(s) = signal {
                        apply_signal(&t.node, s).map_err(Close::Fault)?;
                    }
                } else {
                    self.state = State::Payload { dst, len, done: 0, signal };
                }
                Ok(())
            }
            Request::Get { src, len } => match seg.span(src.0, len) {
                Ok(p) if len as usize <= SMALL_GET => {
                    // Header and data in one segment: the initiator wakes once, not twice.
                    let mut frame = [0u8; REPLY_LEN + SMALL_GET];
                    frame[..REPLY_LEN].copy_from_slice(&Reply::ok(len).encode());
                    // SAFETY: p..p+len is inside this PE's own mapping (span checked); frame has room for len bytes
                    // after the header; the regions do not overlap.
                    unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), frame[REPLY_LEN..].as_mut_ptr(), len as usize) };
                    self.reply(&frame[..REPLY_LEN + len as usize], None)
                }
                Ok(_) => {
                    // The header now (what the socket takes of it), the data as the socket takes it
                    // (`State::Sending`, entered at once by `on_ready`'s loop): the serving thread never blocks on a
                    // peer's full buffer.
                    self.reply(&Reply::ok(len).encode(), Some((src, len)))
                }
                Err(e) => self.refuse(format!("get out of bounds: {e}")),
            },
            Request::Atomic { at, width, op } => {
                if let Err(why) = check_word(&t.node, at, width.bytes()) {
                    return self.refuse(why);
                }
                match t.node.atomic(me, at, width, op) {
                    Ok(old) => self.reply(&Reply::ok(old).encode(), None),
                    Err(e) => self.refuse(e.to_string()),
                }
            }
            // Requests of a connection are applied in order, so everything before the flush is done.
            Request::Flush => self.reply(&Reply::ok(0).encode(), None),
        }
    }

    /// Answers a refused get or atomic, then closes the connection.
    fn refuse(&mut self, why: String) -> Result<(), Close> {
        let refusal = Reply { refused: Some(Refusal::OutOfBounds), value: 0 }.encode();
        // Best effort: the connection closes anyway.
        // SAFETY: refusal is a live slice for the call.
        let _ = unsafe { write_some(self.stream.as_raw_fd(), refusal.as_ptr(), refusal.len()) };
        Err(Close::Fault(why))
    }

    /// Writes a reply: `head` (a short reply, or a large get's header) and, for a large get, `data` (its range of
    /// this PE's heap), as far as the socket takes them now; the rest goes out as the socket drains
    /// (`State::Sending`), never by waiting for room. An initiator reads each reply before its next request, or,
    /// for deferred gets, sends up to 64 small get requests and reads their replies in order later; a reply that
    /// the socket does not take (such gets' large replies, or a send buffer the kernel shrank under memory
    /// pressure) then stalls only this connection, never whoever serves (the progress thread, or a caller waiting
    /// for its own reply). Call it last in a request's handling: it may change the state.
    fn reply(&mut self, head: &[u8], data: Option<(HeapOffset, u64)>) -> Result<(), Close> {
        // SAFETY: head is a live slice for the call.
        let n = unsafe { write_some(self.stream.as_raw_fd(), head.as_ptr(), head.len()) }?;
        if n == head.len() && data.is_none() {
            return Ok(());
        }
        let (src, len) = data.unwrap_or((HeapOffset(0), 0));
        self.state = State::Sending { head: head[n..].to_vec(), head_done: 0, src, len, done: 0, watched: false };
        Ok(())
    }
}

/// Checks that the word of `width` bytes at `at` lies in this PE's segment and is aligned.
fn check_word(node: &NodeSegments, at: HeapOffset, width: u64) -> Result<(), String> {
    let p = node.local().span(at.0, width).map_err(|e| format!("word out of bounds: {e}"))?;
    if !(p.as_ptr() as usize).is_multiple_of(width as usize) {
        return Err(format!("word {at} is not aligned to {width} B"));
    }
    Ok(())
}

/// Applies a signal update to this PE's word with the same instructions as every other engine (and wakes).
pub(crate) fn apply_signal(node: &NodeSegments, s: SignalUpdate) -> Result<(), String> {
    let op = match s.op {
        SignalOp::Set => AtomicOp::Swap(s.value),
        SignalOp::Add => AtomicOp::FetchAdd(s.value),
    };
    node.atomic(node.me(), s.at, AtomicWidth::W64, op).map(drop).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ways of waiting work on an epoll set with one ready and one silent member: the ready one is reported
    /// with its tag, and a wait on nothing ready returns 0 after its timeout (not at once, not never).
    #[test]
    fn both_epoll_waits_report_ready_members_and_time_out() {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: a new descriptor that nothing else owns.
        let epoll = unsafe { OwnedFd::from_raw_fd(fd) };
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        epoll_ctl(&epoll, libc::EPOLL_CTL_ADD, b.as_raw_fd(), libc::EPOLLIN, 7).unwrap();
        // This kernel (>= 5.11, no seccomp filter in the test) has epoll_pwait2.
        let pwait2 = probe_pwait2(&epoll);
        for way in [pwait2, false] {
            let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 4];
            let t = Instant::now();
            assert_eq!(epoll_wait(&epoll, way, &mut evs, Some(Duration::from_micros(300))), 0);
            assert!(t.elapsed() >= Duration::from_micros(300));
            (&a).write_all(&[1]).unwrap();
            assert_eq!(epoll_wait(&epoll, way, &mut evs, Some(Duration::from_secs(5))), 1);
            assert_eq!({ evs[0].u64 }, 7);
            drain(&b);
        }
    }

    /// A connected pair of loopback TCP sockets; the second is non-blocking (the serving side's).
    fn tcp_pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    /// Bytes waiting in `s`'s receive queue now, read without removing them (0 when none).
    fn queued(s: &TcpStream) -> usize {
        let mut b = vec![0u8; 1 << 20];
        // SAFETY: b is a writable buffer of b.len() bytes.
        let n =
            unsafe { libc::recv(s.as_raw_fd(), b.as_mut_ptr().cast(), b.len(), libc::MSG_PEEK | libc::MSG_DONTWAIT) };
        n.max(0) as usize
    }

    /// Blocks until `s` has `n` bytes queued (bounded: a loopback write arrives at once).
    fn wait_queued(s: &TcpStream, n: usize) {
        let t = Instant::now();
        while queued(s) < n {
            assert!(t.elapsed() < Duration::from_secs(10), "{n} bytes never arrived");
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// `len` bytes taken as `on_ready` takes them from a readable socket.
    fn take_exact(rx: &mut RxBuf, fd: RawFd, len: usize) -> Vec<u8> {
        rx.drained = false;
        let mut v = vec![0u8; len];
        // SAFETY: v is a writable buffer of len bytes that nothing else accesses.
        let n = unsafe { rx.take(fd, v.as_mut_ptr(), len) }.unwrap_or_else(|_| panic!("take failed"));
        assert_eq!(n, len);
        v
    }

    /// A waiter's refill leaves its bytes in the socket (no ACK from its read) until its next read of the
    /// socket, and the stream stays exact through a switch of readers and a long payload read straight into
    /// place after a peeked refill.
    #[test]
    fn a_waiters_refill_stays_in_the_socket_until_its_next_read_and_the_stream_stays_exact() {
        let (mut a, b) = tcp_pair();
        let fd = b.as_raw_fd();
        let stream: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut rx = RxBuf { reader: Reader::Waiter, ..RxBuf::default() };
        a.write_all(&stream[..100]).unwrap();
        wait_queued(&b, 100);
        assert_eq!(take_exact(&mut rx, fd, 40), stream[..40]);
        assert_eq!((rx.owed, queued(&b)), (100, 100), "the peeked refill is still in the socket");
        assert_eq!(take_exact(&mut rx, fd, 60), stream[40..100]);
        assert_eq!(queued(&b), 100, "taken from the buffer: the socket was not read");
        // The next read first removes the peeked bytes, then peeks the new ones.
        a.write_all(&stream[100..150]).unwrap();
        wait_queued(&b, 150);
        assert_eq!(take_exact(&mut rx, fd, 10), stream[100..110]);
        assert_eq!((rx.owed, queued(&b)), (50, 50));
        // The progress thread takes over: the rest of the buffer, then it removes the peeked bytes and reads.
        rx.reader = Reader::ProgressThread;
        a.write_all(&stream[150..170]).unwrap();
        wait_queued(&b, 70);
        assert_eq!(take_exact(&mut rx, fd, 60), stream[110..170]);
        assert_eq!((rx.owed, queued(&b)), (0, 0));
        // A waiter again: a short header peeked with the start of a long payload, which is then read straight
        // into place (longer than the buffer) after the buffered part.
        rx.reader = Reader::Waiter;
        a.write_all(&stream[170..]).unwrap();
        wait_queued(&b, RX_BUF);
        assert_eq!(take_exact(&mut rx, fd, 30), stream[170..200]);
        assert!(rx.owed > 30 && queued(&b) >= rx.owed);
        let mut got = take_exact(&mut rx, fd, 0);
        let want = &stream[200..];
        let t = Instant::now();
        while got.len() < want.len() {
            assert!(t.elapsed() < Duration::from_secs(10), "the payload never arrived");
            let mut part = vec![0u8; want.len() - got.len()];
            rx.drained = false;
            // SAFETY: part is a writable buffer of part.len() bytes.
            let n = unsafe { rx.take(fd, part.as_mut_ptr(), part.len()) }.unwrap_or_else(|_| panic!("take failed"));
            got.extend_from_slice(&part[..n]);
        }
        assert!(got == want, "the payload after a peeked refill differs");
        // Only the last refill (a rest shorter than the buffer) was peeked; the long reads were real ones.
        assert!(rx.owed < RX_BUF && queued(&b) == rx.owed);
        rx.settle(fd).unwrap_or_else(|_| panic!("settle failed"));
        assert_eq!((rx.owed, queued(&b)), (0, 0));
    }

    /// A connection dropped while a waiter's refill is still in its socket removes those bytes first: the peer
    /// sees the end of the stream, not a reset (which would make it drop what it received and has not read).
    #[test]
    fn dropping_a_connection_with_a_peeked_refill_ends_it_without_a_reset() {
        let (mut a, b) = tcp_pair();
        let addr = b.peer_addr().unwrap();
        let mut c = Incoming {
            stream: b,
            addr,
            pe: None,
            since: Instant::now(),
            state: State::Hello { buf: [0; HELLO_LEN], got: 0 },
            rx: RxBuf { reader: Reader::Waiter, ..RxBuf::default() },
        };
        a.write_all(&[5; 64]).unwrap();
        wait_queued(&c.stream, 64);
        let fd = c.stream.as_raw_fd();
        assert_eq!(take_exact(&mut c.rx, fd, 16), vec![5; 16]);
        assert_eq!(c.rx.owed, 64);
        drop(c);
        a.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(a.read(&mut buf).map_err(|e| e.kind()), Ok(0), "the end of the stream, not a reset");
    }
}
