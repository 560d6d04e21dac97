//! The initiator's connections, and the batching of small puts.
//!
//! A put small enough and following another put to the same target closely (a burst) is not written at once:
//! its header and payload are appended to the connection's batch, and the batch goes out in one write with the
//! next request that is written anyway (a larger put, a signalled put, a get, an atomic, the flush of a `quiet`),
//! when a waiting thread of this PE drives progress ([`crate::TcpEngine`]'s `progress`, which writes what the
//! socket takes without blocking), when it reaches [`BATCH_CAP`], or at the latest [`FLUSH_AFTER`] after it
//! started, sent by the progress thread. So a burst of N small puts costs one system call and one wake-up of
//! the target instead of N, and a put that no `quiet` follows still arrives promptly. A lone put is written at
//! once, unless the connection's last puts were each followed by a `quiet` at once: then it waits for that
//! quiet and shares its write (one segment and one wake-up of the target: put + quiet costs about one round
//! trip). A signalled put (the target waits for its signal) is always written at once. Frames in a batch are
//! whole and in issue order, so the target sees exactly the byte stream the unbatched writes would have
//! produced.

use std::io::{self, IoSlice, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// Payloads up to this size may be batched; larger ones are written straight from the caller's buffer.
pub(crate) const SMALL_PUT: usize = 8 << 10;
/// A batch that reaches this many bytes is written at once.
pub(crate) const BATCH_CAP: usize = 64 << 10;
/// A put that follows the previous put to the same target within this time, with no other request between
/// them, joins a batch; an isolated put is written at once.
pub(crate) const BURST: Duration = Duration::from_micros(50);
/// The longest a batch waits for more puts before the progress thread writes it.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_micros(100);
/// A `quiet` within this time of the put before it (nothing between) counts as "put then quiet".
const PUT_THEN_QUIET: Duration = Duration::from_micros(20);
/// After this many "put then quiet" in a row, a lone small put waits for the quiet that will likely follow, and
/// goes out in the same write as its flush: one segment and one wake-up of the target instead of two.
const STREAK_TO_HOLD: u8 = 2;

/// What a frame written to the socket was, for the burst and "put then quiet" detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// A put (with or without a signal).
    Put,
    /// The flush of a `quiet`.
    Flush,
    /// A get or an atomic.
    Other,
}

/// An open connection to one target.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) stream: TcpStream,
    /// The domains (bit `id % 64`) that sent puts since the last flush: their `quiet` must ask the target to
    /// confirm them. Zero when nothing is unconfirmed.
    pub(crate) unflushed: u64,
    /// Whole frames (small puts) not yet written, in issue order; `batch[..sent]` already went out.
    batch: Vec<u8>,
    sent: usize,
    /// When the last put was written or batched, if no other request followed it: the next put within
    /// [`BURST`] joins a batch.
    last_put: Option<Instant>,
    /// How many times in a row a `quiet` followed a put at once ([`PUT_THEN_QUIET`]), up to 3.
    streak: u8,
    /// A background write of the batch failed: the next operation on this connection reports it.
    broken: Option<io::Error>,
}

impl Outgoing {
    /// A connection with nothing pending.
    pub(crate) fn new(stream: TcpStream) -> Outgoing {
        Outgoing { stream, unflushed: 0, batch: Vec::new(), sent: 0, last_put: None, streak: 0, broken: None }
    }

    fn has_batch(&self) -> bool {
        self.batch.len() > self.sent
    }

    /// Whether a put of `len` payload bytes, with or without a signal, should join the batch now: it follows
    /// another put closely (a burst), or this connection's puts are usually followed by a `quiet` at once.
    pub(crate) fn should_batch(&self, len: usize, signalled: bool) -> bool {
        !signalled
            && len <= SMALL_PUT
            && (self.has_batch() || self.streak >= STREAK_TO_HOLD || self.last_put.is_some_and(|t| t.elapsed() < BURST))
    }

    /// The error a background flush left, if any (taken: it is reported once, then the connection is dropped).
    pub(crate) fn take_broken(&mut self) -> Option<io::Error> {
        self.broken.take()
    }

    /// Appends a put frame to the batch; `true` when the batch was empty before (the caller makes sure that
    /// someone writes it within [`FLUSH_AFTER`]). Writes the batch first when the frame would overflow it.
    pub(crate) fn append(&mut self, header: &[u8], payload: &[u8], pending: &AtomicUsize) -> io::Result<bool> {
        if self.batch.len() + header.len() + payload.len() > BATCH_CAP && self.has_batch() {
            self.send(&[], pending)?;
        }
        let started = !self.has_batch();
        if started {
            self.batch.clear();
            self.sent = 0;
            pending.fetch_add(1, Ordering::SeqCst);
        }
        self.batch.extend_from_slice(header);
        self.batch.extend_from_slice(payload);
        self.last_put = Some(Instant::now());
        Ok(started)
    }

    /// Writes the batch, then `parts` (one frame: a header and maybe a payload), in as few system calls as the
    /// socket allows (one, usually) and without copying `parts`; blocks (bounded by the write timeout).
    /// `kind` feeds the burst and "put then quiet" detection.
    pub(crate) fn send_frame(&mut self, parts: &[&[u8]], kind: Sent, pending: &AtomicUsize) -> io::Result<()> {
        let put_before = self.has_batch() || self.last_put.is_some_and(|t| t.elapsed() < PUT_THEN_QUIET);
        self.send(parts, pending)?;
        match kind {
            Sent::Put => self.last_put = Some(Instant::now()),
            Sent::Flush => {
                self.streak = if put_before { (self.streak + 1).min(3) } else { 0 };
                self.last_put = None;
            }
            Sent::Other => {
                self.streak = 0;
                self.last_put = None;
            }
        }
        Ok(())
    }

    /// Writes the batch, if any, then `parts`.
    fn send(&mut self, parts: &[&[u8]], pending: &AtomicUsize) -> io::Result<()> {
        let had_batch = self.has_batch();
        let mut bufs: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        if had_batch {
            bufs.push(&self.batch[self.sent..]);
        }
        bufs.extend(parts.iter().copied().filter(|p| !p.is_empty()));
        let r = write_all_vectored(&mut self.stream, &mut bufs);
        if had_batch {
            // Written or not, the batch is gone: on an error the connection is dropped with it.
            self.batch.clear();
            self.sent = 0;
            pending.fetch_sub(1, Ordering::SeqCst);
        }
        r
    }

    /// Writes what of the batch the socket takes now without blocking (the progress thread's flush). A failure
    /// is kept for the next operation on this connection.
    fn send_nonblocking(&mut self, pending: &AtomicUsize) {
        // No quiet came for this batch: stop holding lone puts back for one.
        self.streak = 0;
        while self.has_batch() {
            let rest = &self.batch[self.sent..];
            // SAFETY: rest is a live slice for the call. MSG_DONTWAIT: never block the progress thread on a target
            // that does not read; MSG_NOSIGNAL: a closed peer is an EPIPE error, not a SIGPIPE.
            let n = unsafe {
                libc::send(
                    self.stream.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                self.sent += n as usize;
                continue;
            }
            let e = if n == 0 { io::ErrorKind::WriteZero.into() } else { io::Error::last_os_error() };
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock => return,
                _ => {
                    self.broken = Some(e);
                    break;
                }
            }
        }
        self.batch.clear();
        self.sent = 0;
        pending.fetch_sub(1, Ordering::SeqCst);
    }

    /// Forgets the batch of a connection that is being dropped.
    pub(crate) fn discard(&mut self, pending: &AtomicUsize) {
        if self.has_batch() {
            self.batch.clear();
            self.sent = 0;
            pending.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Writes all of `bufs` with vectored writes, advancing past what each write took.
fn write_all_vectored(stream: &mut TcpStream, bufs: &mut Vec<&[u8]>) -> io::Result<()> {
    bufs.retain(|b| !b.is_empty());
    while !bufs.is_empty() {
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let mut n = match stream.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        while n > 0 {
            let first = bufs[0];
            if n >= first.len() {
                n -= first.len();
                bufs.remove(0);
            } else {
                bufs[0] = &first[n..];
                n = 0;
            }
        }
    }
    Ok(())
}

/// The connections of one PE to its targets, shared by the engine (callers) and its progress thread (which
/// writes batches that waited [`FLUSH_AFTER`]).
#[derive(Debug)]
pub(crate) struct Outbox {
    /// `conns[pe]`: the connection to `pe`, once opened (never for this PE: it applies its own operations).
    pub(crate) conns: Vec<Mutex<Option<Outgoing>>>,
    /// How many connections hold a batch: the progress thread sets a timer while it is not zero.
    pub(crate) pending: AtomicUsize,
}

impl Outbox {
    /// No connection open yet.
    pub(crate) fn new(n_pes: u32) -> Outbox {
        Outbox { conns: (0..n_pes).map(|_| Mutex::new(None)).collect(), pending: AtomicUsize::new(0) }
    }

    /// The slot of `pe`'s connection, locked.
    pub(crate) fn lock(&self, pe: usize) -> MutexGuard<'_, Option<Outgoing>> {
        self.conns[pe].lock().unwrap_or_else(|e| self.recover(pe, e.into_inner()))
    }

    /// A slot whose holder panicked: the connection may be mid-frame (a request half written, a reply half
    /// read, which the next caller would take for its own reply's header), so it is treated as broken: closed
    /// and forgotten with its batch (the next operation opens a new one), never reused.
    fn recover<'a>(&self, pe: usize, mut g: MutexGuard<'a, Option<Outgoing>>) -> MutexGuard<'a, Option<Outgoing>> {
        if let Some(mut out) = g.take() {
            out.discard(&self.pending);
            tracing::warn!("TCP engine: a thread panicked while using the connection to PE {pe}: closed it");
        }
        self.conns[pe].clear_poison();
        g
    }

    /// Whether some connection holds a batch.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::SeqCst) != 0
    }

    /// Writes what of every batch the sockets take now, skipping connections a caller is using (the progress
    /// thread's timer, a waiting thread's drive, the engine's drop: it never blocks).
    pub(crate) fn flush_nonblocking(&self) {
        for (pe, slot) in self.conns.iter().enumerate() {
            let mut g = match slot.try_lock() {
                Ok(g) => g,
                Err(TryLockError::Poisoned(e)) => self.recover(pe, e.into_inner()),
                Err(TryLockError::WouldBlock) => continue,
            };
            if let Some(out) = g.as_mut().filter(|o| o.has_batch()) {
                out.send_nonblocking(&self.pending);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;

    /// A thread that panics while it holds a connection (say, half way through reading a reply) leaves nothing
    /// reusable behind: the next user finds the slot empty (it would open a new connection), the batch count
    /// is back to zero, and the peer sees the old connection closed.
    #[test]
    fn a_slot_whose_holder_panicked_is_closed_not_reused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let outbox = Outbox::new(2);
        *outbox.lock(1) = Some(Outgoing::new(stream));
        outbox.lock(1).as_mut().unwrap().append(&[9; 8], &[], &outbox.pending).unwrap();
        assert_eq!(outbox.pending.load(Ordering::SeqCst), 1);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = outbox.lock(1);
            panic!("while reading a reply");
        }));
        assert!(r.is_err());
        assert!(outbox.conns[1].is_poisoned());
        assert!(outbox.lock(1).is_none());
        assert!(!outbox.conns[1].is_poisoned());
        assert_eq!(outbox.pending.load(Ordering::SeqCst), 0);
        // Closed, and the batch was never written.
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).unwrap(), 0);
    }
}
