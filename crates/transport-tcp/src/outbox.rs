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
//! trip); should the quiet not come, the progress thread writes it within [`HELD_FLUSH_AFTER`] (a batch such
//! a held put started is "held", not "urgent": see [`Pending`]). A signalled put (the target waits for its
//! signal) is always written at once. Frames in a batch are
//! whole and in issue order, so the target sees exactly the byte stream the unbatched writes would have
//! produced.

use crate::fdio::send_parts;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// Payloads up to this size may be batched; larger ones are written straight from the caller's buffer.
pub(crate) const SMALL_PUT: usize = 8 << 10;
/// A batch that reaches this many bytes is written at once.
pub(crate) const BATCH_CAP: usize = 64 << 10;
/// A put that follows the previous put to the same target within this time, with no other request between
/// them, joins a batch; an isolated put is written at once.
pub(crate) const BURST: Duration = Duration::from_micros(50);
/// The longest a batch of a burst waits for more puts before the progress thread writes it.
pub(crate) const FLUSH_AFTER: Duration = Duration::from_micros(100);
/// The longest a lone put held for the `quiet` that usually follows it at once ([`STREAK_TO_HOLD`]) waits when
/// that quiet does not come. Ten times [`FLUSH_AFTER`]: the progress thread watches such batches ten times
/// less often. Measured (two PEs on one CPU, `examples/tcp_opcount.rs put_quiet`): with the burst bound for
/// held puts too, the progress thread's wake-ups every 50 us cost 8 B put + quiet about 1.4-1.7 us per
/// operation (6.3-6.8 us against 4.8-5.0 us for a get, the same system calls and segments otherwise); with
/// this bound, 5.0-5.3 us.
pub(crate) const HELD_FLUSH_AFTER: Duration = Duration::from_millis(1);
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
    /// The batch is urgent (counted in [`Pending::urgent`]): a burst, not only a put held for its quiet.
    urgent: bool,
    /// Deferred gets sent on this connection whose replies are not read yet, oldest first: the target answers a
    /// connection's requests in order, so these replies come before that of any later request, and are read
    /// first ([`crate::engine`]: before a call's own reply, and by `quiet`).
    pub(crate) gets: std::collections::VecDeque<DeferredGet>,
    /// The domains (bit `id % 64`, as `unflushed`) that issued the gets in `gets`.
    pub(crate) get_domains: u64,
}

/// A deferred get in flight: where its data goes once its reply is read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeferredGet {
    /// The caller's destination, as an address: the caller keeps `dst..dst+len` writable and untouched until the
    /// quiet that completes the get (the engine's contract for a deferred get).
    pub(crate) dst: usize,
    pub(crate) len: usize,
}

/// Most deferred gets in flight on one connection: one more first reads the oldest reply. Bounds what a
/// connection holds for a caller that issues gets without a quiet (each is a 40-byte request the target answers
/// in turn, never reading the next while a reply is not taken).
pub(crate) const MAX_DEFERRED_GETS: usize = 64;

/// How many connections of a PE hold a batch, and how many of those are urgent (a burst of puts: written within
/// [`FLUSH_AFTER`]); the others hold only a lone put kept for the quiet that usually follows it at once
/// (written within [`HELD_FLUSH_AFTER`]). The progress thread reads both to decide how often to look.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    batches: AtomicUsize,
    urgent: AtomicUsize,
}

impl Pending {
    fn start(&self, urgent: bool) {
        if urgent {
            self.urgent.fetch_add(1, Ordering::SeqCst);
        }
        self.batches.fetch_add(1, Ordering::SeqCst);
    }

    fn end(&self, urgent: bool) {
        self.batches.fetch_sub(1, Ordering::SeqCst);
        if urgent {
            self.urgent.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether some connection holds a batch.
    pub(crate) fn any(&self) -> bool {
        self.batches.load(Ordering::SeqCst) != 0
    }

    /// Whether some connection holds an urgent batch.
    pub(crate) fn any_urgent(&self) -> bool {
        self.urgent.load(Ordering::SeqCst) != 0
    }
}

impl Outgoing {
    /// A connection with nothing pending.
    pub(crate) fn new(stream: TcpStream) -> Outgoing {
        Outgoing {
            stream,
            unflushed: 0,
            batch: Vec::new(),
            sent: 0,
            last_put: None,
            streak: 0,
            broken: None,
            urgent: false,
            gets: std::collections::VecDeque::new(),
            get_domains: 0,
        }
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

    /// Appends a put frame to the batch. `Some(urgent)` when the progress thread must learn of it (the caller
    /// makes sure that someone writes it in time): the batch was empty before (`urgent`: the put follows another
    /// one closely, else it is held for its quiet), or a held batch became urgent (a burst joined it). Writes the
    /// batch first when the frame would overflow it.
    pub(crate) fn append(&mut self, header: &[u8], payload: &[u8], pending: &Pending) -> io::Result<Option<bool>> {
        if self.batch.len() + header.len() + payload.len() > BATCH_CAP && self.has_batch() {
            self.send(&[], pending)?;
        }
        let burst = self.has_batch() || self.last_put.is_some_and(|t| t.elapsed() < BURST);
        let tell = if !self.has_batch() {
            self.batch.clear();
            self.sent = 0;
            self.urgent = burst;
            pending.start(burst);
            Some(burst)
        } else if !self.urgent {
            self.urgent = true;
            pending.urgent.fetch_add(1, Ordering::SeqCst);
            Some(true)
        } else {
            None
        };
        self.batch.extend_from_slice(header);
        self.batch.extend_from_slice(payload);
        self.last_put = Some(Instant::now());
        Ok(tell)
    }

    /// The batch is gone (written or dropped): uncount it.
    fn batch_done(&mut self, pending: &Pending) {
        self.batch.clear();
        self.sent = 0;
        pending.end(self.urgent);
        self.urgent = false;
    }

    /// Writes the batch, then `parts` (one frame: a header and maybe a payload), in as few system calls as the
    /// socket allows (one, usually) and without copying `parts`; blocks (bounded by the write timeout).
    /// `kind` feeds the burst and "put then quiet" detection.
    pub(crate) fn send_frame(&mut self, parts: &[&[u8]], kind: Sent, pending: &Pending) -> io::Result<()> {
        // (Only a flush needs it: no clock read on the path of every put.)
        let put_before =
            kind == Sent::Flush && (self.has_batch() || self.last_put.is_some_and(|t| t.elapsed() < PUT_THEN_QUIET));
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
    fn send(&mut self, parts: &[&[u8]], pending: &Pending) -> io::Result<()> {
        let had_batch = self.has_batch();
        let mut bufs: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        if had_batch {
            bufs.push(&self.batch[self.sent..]);
        }
        bufs.extend(parts.iter().copied().filter(|p| !p.is_empty()));
        let r = write_all_vectored(&mut self.stream, &mut bufs);
        if had_batch {
            // Written or not, the batch is gone: on an error the connection is dropped with it.
            self.batch_done(pending);
        }
        r
    }

    /// Writes what of the batch the socket takes now without blocking (the progress thread's flush). A failure
    /// is kept for the next operation on this connection.
    fn send_nonblocking(&mut self, pending: &Pending) {
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
        self.batch_done(pending);
    }

    /// Forgets the batch of a connection that is being dropped.
    pub(crate) fn discard(&mut self, pending: &Pending) {
        if self.has_batch() {
            self.batch_done(pending);
        }
    }
}

/// Writes all of `bufs` ([`send_parts`]: one system call while the socket takes them), advancing past what each
/// call took; blocks as the (blocking) socket does, bounded by its send timeout.
fn write_all_vectored(stream: &mut TcpStream, bufs: &mut Vec<&[u8]>) -> io::Result<()> {
    bufs.retain(|b| !b.is_empty());
    while !bufs.is_empty() {
        let mut n = match send_parts(stream.as_raw_fd(), bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
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
    /// How many connections hold a batch (urgent or held): the progress thread sets a timer while one does.
    pub(crate) pending: Pending,
    /// `lost[pe]`: the domains (bit `id % 64`, as [`Outgoing::unflushed`]) that had puts to `pe` not yet
    /// confirmed, or deferred gets from it not yet read, when the connection to `pe` failed and was dropped. The next `quiet` of such a domain reports it
    /// (and clears its bit) instead of finding no connection to flush and succeeding: those puts may be lost, or
    /// be applied after later ones that take a new connection.
    pub(crate) lost: Vec<AtomicU64>,
}

impl Outbox {
    /// No connection open yet.
    pub(crate) fn new(n_pes: u32) -> Outbox {
        Outbox {
            conns: (0..n_pes).map(|_| Mutex::new(None)).collect(),
            pending: Pending::default(),
            lost: (0..n_pes).map(|_| AtomicU64::new(0)).collect(),
        }
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
            self.lost[pe].fetch_or(out.unflushed | out.get_domains, Ordering::SeqCst);
            out.discard(&self.pending);
            tracing::warn!("TCP engine: a thread panicked while using the connection to PE {pe}: closed it");
        }
        self.conns[pe].clear_poison();
        g
    }

    /// Whether some connection holds a batch.
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.any()
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

    /// A lone put held for its quiet starts a held batch (the progress thread watches it every half
    /// `HELD_FLUSH_AFTER`); a put that follows it closely makes it urgent (a burst: every half `FLUSH_AFTER`),
    /// once; writing the batch uncounts both; a put within the burst window of a written one starts an urgent
    /// batch at once. Exact bytes reach the peer in order.
    #[test]
    fn batches_count_as_held_or_urgent() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let pending = Pending::default();
        let mut out = Outgoing::new(stream);
        // A held put: last_put is None (as after a quiet).
        assert_eq!(out.append(&[1; 8], &[2; 4], &pending).unwrap(), Some(false));
        assert!(pending.any() && !pending.any_urgent());
        assert_eq!(out.append(&[3; 8], &[], &pending).unwrap(), Some(true));
        assert!(pending.any_urgent());
        assert_eq!(out.append(&[4; 8], &[], &pending).unwrap(), None);
        out.send_frame(&[&[5; 8]], Sent::Flush, &pending).unwrap();
        assert!(!pending.any() && !pending.any_urgent());
        // Right after a put (the flush above cleared last_put): a put, then one within the burst window.
        out.send_frame(&[&[6; 8]], Sent::Put, &pending).unwrap();
        assert_eq!(out.append(&[7; 8], &[], &pending).unwrap(), Some(true));
        assert!(pending.any() && pending.any_urgent());
        out.discard(&pending);
        assert!(!pending.any() && !pending.any_urgent());
        let mut got = [0u8; 12 + 8 + 8 + 8 + 8];
        peer.read_exact(&mut got).unwrap();
        let want: Vec<u8> = [&[1u8; 8][..], &[2; 4], &[3; 8], &[4; 8], &[5; 8], &[6; 8]].concat();
        assert_eq!(&got[..], &want[..]);
    }

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
        assert!(outbox.pending.any());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = outbox.lock(1);
            panic!("while reading a reply");
        }));
        assert!(r.is_err());
        assert!(outbox.conns[1].is_poisoned());
        assert!(outbox.lock(1).is_none());
        assert!(!outbox.conns[1].is_poisoned());
        assert!(!outbox.pending.any() && !outbox.pending.any_urgent());
        // Closed, and the batch was never written.
        let mut buf = [0u8; 8];
        assert_eq!(peer.read(&mut buf).unwrap(), 0);
    }
}
