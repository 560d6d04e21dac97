//! The target side: one progress thread per PE owns the listening socket and every incoming connection,
//! applies puts, signals and atomics to this PE's heap (waking its sleeping waiters) and answers gets.
//!
//! It waits in `poll(2)` on all its sockets and a stop pipe. Each connection is a small state machine
//! (hello → header → payload → header …) over a non-blocking socket, so one slow or silent initiator never
//! stalls the others while they send requests; put payloads are read straight into the heap, get data is sent
//! straight from it. Replies are written with a bound (`io_timeout`): an initiator that stops reading its
//! replies loses its connection. Anything malformed — a bad hello, a wrong secret, a range outside the
//! segment — closes that connection with a warning naming the peer; the thread itself never panics on input.

use crate::fdio::{read_raw, same_secret, write_all_raw};
use crate::wire::{Hello, Refusal, Reply, Request, HELLO_FIXED, REPLY_LEN, REQUEST_LEN};
use shmem_core::engine::{AtomicOp, AtomicWidth, SignalOp, SignalUpdate};
use shmem_core::heap::NodeSegments;
use shmem_core::HeapOffset;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What every connection is checked against.
struct Target {
    node: Arc<NodeSegments>,
    secret: Vec<u8>,
    n_pes: u32,
    io_timeout: Duration,
    /// How long to keep polling without sleeping after serving a request (the next one, e.g. the flush of a
    /// put + quiet, usually follows within microseconds).
    spin: Duration,
}

/// Where a connection is in its stream of frames.
enum State {
    /// Reading the fixed part of the hello.
    Hello { buf: [u8; HELLO_FIXED], got: usize },
    /// Reading the secret the hello announced.
    Secret { pe: u32, buf: Vec<u8>, got: usize },
    /// Reading a request header.
    Header { buf: [u8; REQUEST_LEN], got: usize },
    /// Reading a put's payload into the heap.
    Payload { dst: HeapOffset, len: u64, done: u64, signal: Option<SignalUpdate> },
}

/// One accepted connection.
struct Incoming {
    stream: TcpStream,
    addr: SocketAddr,
    /// The initiator, once its hello was accepted.
    pe: Option<u32>,
    state: State,
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

/// The running progress thread; stopping it closes every connection.
#[derive(Debug)]
pub(crate) struct Progress {
    handle: Option<JoinHandle<()>>,
    stop: UnixStream,
}

impl Progress {
    /// Starts serving `listener` for the PE whose heap `node` holds.
    pub(crate) fn start(
        listener: TcpListener,
        node: Arc<NodeSegments>,
        secret: Vec<u8>,
        n_pes: u32,
        io_timeout: Duration,
        spin: Duration,
    ) -> io::Result<Progress> {
        listener.set_nonblocking(true)?;
        let (stop, stop_rx) = UnixStream::pair()?;
        stop_rx.set_nonblocking(true)?;
        let me = node.me();
        let target = Target { node, secret, n_pes, io_timeout, spin };
        let handle = std::thread::Builder::new()
            .name(format!("shmem-tcp-progress-{}", me.0))
            .spawn(move || serve(listener, stop_rx, target))?;
        Ok(Progress { handle: Some(handle), stop })
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
    }
}

/// Gets up to this size are answered with the reply header and the data in one send (one copy of at most this
/// many bytes); larger ones are written straight from the heap after the header.
const SMALL_GET: usize = 4096;

fn serve(listener: TcpListener, stop: UnixStream, t: Target) {
    let mut conns: Vec<Incoming> = Vec::new();
    let me = t.node.me();
    // Until this instant poll(2) does not sleep (it returns at once): set after every served request.
    let mut spin_until: Option<std::time::Instant> = None;
    loop {
        let mut fds = Vec::with_capacity(conns.len() + 2);
        fds.push(libc::pollfd { fd: stop.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        fds.push(libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 });
        fds.extend(conns.iter().map(|c| libc::pollfd { fd: c.stream.as_raw_fd(), events: libc::POLLIN, revents: 0 }));
        let spinning = spin_until.is_some_and(|u| std::time::Instant::now() < u);
        let wait = if spinning { 0 } else { -1 };
        // SAFETY: fds is a valid array of fds.len() pollfd structures for the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
        if r == 0 {
            std::hint::spin_loop();
            continue;
        }
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("PE {}: TCP progress thread: poll failed: {e}; no more remote operations", me.0);
            return;
        }
        if fds[0].revents != 0 {
            return;
        }
        if fds[1].revents != 0 {
            accept_all(&listener, &mut conns);
        }
        if !t.spin.is_zero() {
            spin_until = Some(std::time::Instant::now() + t.spin);
        }
        // Serve readable connections, back to front so that removing one keeps the others' indices.
        for i in (0..conns.len()).rev() {
            if fds.get(i + 2).is_none_or(|p| p.revents == 0) {
                continue;
            }
            if let Err(close) = conns[i].on_readable(&t) {
                let c = conns.swap_remove(i);
                let who = c.pe.map_or_else(|| format!("an unidentified peer at {}", c.addr), |pe| format!("PE {pe}"));
                match close {
                    Close::Eof => tracing::debug!("PE {}: TCP connection from {who} closed", me.0),
                    Close::Fault(why) => tracing::warn!("PE {}: closed the TCP connection from {who}: {why}", me.0),
                }
            }
        }
    }
}

fn accept_all(listener: &TcpListener, conns: &mut Vec<Incoming>) {
    loop {
        match listener.accept() {
            Ok((stream, addr)) => {
                if stream.set_nonblocking(true).and_then(|_| stream.set_nodelay(true)).is_err() {
                    continue;
                }
                conns.push(Incoming { stream, addr, pe: None, state: State::Hello { buf: [0; HELLO_FIXED], got: 0 } });
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                // Out of descriptors and the like: keep serving the connections there are.
                tracing::warn!("TCP progress thread: accept failed: {e}");
                return;
            }
        }
    }
}

/// Reads into `buf[*got..]`; `Ok(true)` when `buf` is full, `Ok(false)` when the socket has nothing more now.
fn fill(stream: &mut TcpStream, buf: &mut [u8], got: &mut usize) -> Result<bool, Close> {
    while *got < buf.len() {
        match stream.read(&mut buf[*got..]) {
            Ok(0) => return Err(Close::Eof),
            Ok(n) => *got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

impl Incoming {
    /// Consumes everything the socket has now, applying each complete request.
    fn on_readable(&mut self, t: &Target) -> Result<(), Close> {
        loop {
            match &mut self.state {
                State::Hello { buf, got } => {
                    if !fill(&mut self.stream, buf, got)? {
                        return Ok(());
                    }
                    let hello = Hello::decode(buf, t.n_pes).map_err(|e| Close::Fault(e.0))?;
                    let len = hello.secret_len as usize;
                    self.state = State::Secret { pe: hello.pe, buf: vec![0; len], got: 0 };
                }
                State::Secret { pe, buf, got } => {
                    if !fill(&mut self.stream, buf, got)? {
                        return Ok(());
                    }
                    if !same_secret(buf, &t.secret) {
                        return Err(Close::Fault(format!("claimed to be PE {pe} but does not know the job's secret")));
                    }
                    self.pe = Some(*pe);
                    self.send(&[0], t)?;
                    self.state = State::Header { buf: [0; REQUEST_LEN], got: 0 };
                }
                State::Header { buf, got } => {
                    if !fill(&mut self.stream, buf, got)? {
                        return Ok(());
                    }
                    let req = Request::decode(buf).map_err(|e| Close::Fault(e.0))?;
                    *got = 0;
                    self.apply(req, t)?;
                }
                State::Payload { dst, len, done, signal } => {
                    let seg = t.node.local();
                    let base = seg.span(dst.0, *len).map_err(|e| Close::Fault(e.to_string()))?.as_ptr();
                    while *done < *len {
                        let left = (*len - *done) as usize;
                        // SAFETY: base..base+len is inside this PE's own mapping (span checked); done < len.
                        match unsafe { read_raw(self.stream.as_raw_fd(), base.add(*done as usize), left) } {
                            Ok(0) => return Err(Close::Eof),
                            Ok(n) => *done += n as u64,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                            Err(e) => return Err(e.into()),
                        }
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
                    self.send(&frame[..REPLY_LEN + len as usize], t)
                }
                Ok(p) => {
                    self.send(&Reply::ok(len).encode(), t)?;
                    // SAFETY: p..p+len is inside this PE's own mapping (span checked), which outlives the call.
                    unsafe { write_all_raw(self.stream.as_raw_fd(), p.as_ptr(), len as usize, t.io_timeout) }?;
                    Ok(())
                }
                Err(e) => self.refuse(t, format!("get out of bounds: {e}")),
            },
            Request::Atomic { at, width, op } => {
                if let Err(why) = check_word(&t.node, at, width.bytes()) {
                    return self.refuse(t, why);
                }
                match t.node.atomic(me, at, width, op) {
                    Ok(old) => self.send(&Reply::ok(old).encode(), t),
                    Err(e) => self.refuse(t, e.to_string()),
                }
            }
            // Requests of a connection are applied in order, so everything before the flush is done.
            Request::Flush => self.send(&Reply::ok(0).encode(), t),
        }
    }

    /// Answers a refused get or atomic, then closes the connection.
    fn refuse(&mut self, t: &Target, why: String) -> Result<(), Close> {
        let _ = self.send(&Reply { refused: Some(Refusal::OutOfBounds), value: 0 }.encode(), t);
        Err(Close::Fault(why))
    }

    fn send(&mut self, bytes: &[u8], t: &Target) -> Result<(), Close> {
        // SAFETY: bytes is a live slice for the call.
        unsafe { write_all_raw(self.stream.as_raw_fd(), bytes.as_ptr(), bytes.len(), t.io_timeout) }?;
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
