//! [`TcpEngine`]: the initiator side. Each remote PE gets one connection, opened on first use; both ends then
//! prove to each other that they know the job's secret, without sending it ([`wire::client_handshake`]: a
//! listener that cannot prove it is not that PE, and is sent nothing more). Requests go out on the connection
//! in order and the target applies them in that order.
//!
//! Completion domains (contexts) share the connections; each connection remembers which domains sent puts
//! since its last flush (one bit per domain, the domain id modulo 64), so that `quiet_in(d)` flushes only the
//! targets `d` wrote to. A flush confirms everything sent before it on that connection, so it clears every bit.

use crate::config::{auto_spin, spin_setting, TcpConfig};
use crate::outbox::{DeferredGet, Outgoing, Pending, Sent, MAX_DEFERRED_GETS, SMALL_PUT};
use crate::progress::{apply_signal, Progress, Shared, SMALL_GET};
use crate::wire::{self, HandshakeError, JobKey, Reply, Request, REPLY_LEN};
use shmem_core::engine::{
    AtomicOp, AtomicWidth, BuildEngine, Capabilities, Completion, DataOpEngine, DomainId, Get, Put,
};
use shmem_core::engine_setup::{EngineSetup, EngineTimeouts};
use shmem_core::heap::NodeSegments;
use shmem_core::{Error, HeapOffset, OpEngineType, Pe, Result};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::{Arc, MutexGuard};

/// The TCP engine of one PE: its progress thread (target side) and its connections to the other PEs.
#[derive(Debug)]
pub struct TcpEngine {
    me: Pe,
    node: Arc<NodeSegments>,
    /// `peers[pe]`: where `pe`'s progress thread listens.
    peers: Vec<SocketAddr>,
    /// The connections (in `shared.outbox`) and the serving side, shared with the progress thread.
    shared: Arc<Shared>,
    /// The job's secret as the handshake's key (never sent; its `Debug` shows nothing).
    key: JobKey,
    timeouts: EngineTimeouts,
    /// How long a caller polls for a reply before it sleeps in `recv` ([`crate::config::SPIN_VAR`]).
    spin: std::time::Duration,
    /// Declared last: stopped after the engine's own drop wrote the pending batches.
    _progress: Progress,
}

impl BuildEngine for TcpEngine {
    /// Listens (on `SHMEM_TCP_ADDR`, else the address that reaches the store), starts the progress thread and
    /// trades listening addresses with every PE through the set-up's exchange.
    fn build(setup: &EngineSetup<'_>) -> Result<TcpEngine> {
        let cfg = TcpConfig::from_settings(setup.settings, setup.local_ip)?;
        let spin_set = spin_setting(setup.settings)?;
        let listener = TcpListener::bind((cfg.listen_ip, 0))
            .map_err(|e| Error::smem(format!("TCP engine: listening on {}", cfg.listen_ip), e))?;
        let addr = listener.local_addr().map_err(|e| Error::smem("TCP engine: listening address", e))?;
        // Addresses first (a peer that connects meanwhile waits in the listener's backlog until the progress
        // thread accepts it), each with its machine's identity: the default spin depends on how many PEs run on
        // this machine.
        let machine = machine_id();
        let (peers, machines): (Vec<SocketAddr>, Vec<String>) = match setup.exchange {
            Some(x) => x
                .allgather("tcp/listen", format!("{addr} {machine}").as_bytes(), setup.timeouts.init)?
                .iter()
                .enumerate()
                .map(|(pe, raw)| {
                    parse_listen(raw)
                        .ok_or_else(|| Error::Bootstrap(format!("PE {pe} published a garbled TCP address {raw:?}")))
                })
                .collect::<Result<Vec<_>>>()?
                .into_iter()
                .unzip(),
            None if setup.n_pes == 1 => (vec![addr], vec![machine.clone()]),
            None => return Err(Error::invalid("the TCP engine needs the bootstrap store to find the other PEs")),
        };
        let spin = spin_set.unwrap_or_else(|| {
            let here = pes_on_this_machine(&peers, &machines, addr, &machine);
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            auto_spin(here, cores)
        });
        let (heap, key, timeout) = (setup.heap.clone(), JobKey::new(setup.job_secret), setup.timeouts.control);
        let progress = Progress::start(listener, heap, key.clone(), setup.n_pes, spin, timeout)
            .map_err(|e| Error::smem("TCP engine: starting the progress thread", e))?;
        tracing::debug!("PE {}: TCP engine listening on {addr}, spinning {spin:?} before a sleep", setup.me.0);
        Ok(TcpEngine {
            me: setup.me,
            node: setup.heap.clone(),
            shared: progress.shared().clone(),
            peers,
            key,
            timeouts: setup.timeouts,
            spin,
            _progress: progress,
        })
    }
}

/// This machine's identity for counting the job's PEs that share its cores: the kernel's boot id, the same in
/// every network namespace and container of one kernel (PEs in two namespaces of one host listen on two
/// addresses but share the cores), different on every other machine. Empty where it cannot be read: PEs are
/// then counted by listening address.
fn machine_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// A PE's published listening address and machine identity (`"ADDR ID"`; the identity may be empty).
fn parse_listen(raw: &[u8]) -> Option<(SocketAddr, String)> {
    let text = std::str::from_utf8(raw).ok()?;
    let (addr, id) = text.split_once(' ').unwrap_or((text, ""));
    Some((addr.parse().ok()?, id.to_string()))
}

/// How many of the job's PEs run on this machine (this one included): those with this machine's identity, or,
/// where an identity is missing, those listening on this PE's address.
fn pes_on_this_machine(peers: &[SocketAddr], machines: &[String], addr: SocketAddr, machine: &str) -> usize {
    peers
        .iter()
        .zip(machines)
        .filter(|(p, m)| if machine.is_empty() || m.is_empty() { p.ip() == addr.ip() } else { m.as_str() == machine })
        .count()
}

impl TcpEngine {
    /// Where `pe`'s progress thread listens (as exchanged at set-up).
    pub fn peer_addr(&self, pe: Pe) -> SocketAddr {
        self.peers[pe.index()]
    }

    /// The connection to `pe`, opened now if it is not open yet.
    fn conn(&self, pe: Pe) -> Result<MutexGuard<'_, Option<Outgoing>>> {
        let mut guard = self.shared.outbox.lock(pe.index());
        if guard.is_none() {
            *guard = Some(self.connect(pe)?);
        }
        Ok(guard)
    }

    /// How many times a thread of this PE that waited for its own reply waited in the serving mode (a driver
    /// parks the progress thread: the waiter serves this PE's incoming connections unless another thread holds
    /// the role now). For tests that must know that this path ran.
    #[doc(hidden)]
    pub fn serving_waits(&self) -> u64 {
        self.shared.serving_waits.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times this PE's progress thread, parked for a driving thread, took its incoming connections out
    /// of its `epoll` set (the driver reads them directly meanwhile). For tests that must know that this path ran.
    #[doc(hidden)]
    pub fn detached_parks(&self) -> u64 {
        self.shared.detaches()
    }

    fn connect(&self, pe: Pe) -> Result<Outgoing> {
        let addr = self.peers[pe.index()];
        let fail = |what: &str, e: io::Error| {
            Error::Inner(format!("TCP engine: cannot reach {pe} at {addr} ({what}): {e}; is that PE still running?"))
        };
        let mut stream = TcpStream::connect_timeout(&addr, self.timeouts.init).map_err(|e| fail("connect", e))?;
        stream.set_nodelay(true).map_err(|e| fail("TCP_NODELAY", e))?;
        crate::fdio::unpaced_if_host_local(&stream);
        // A request to a node that died without closing (no FIN, no RST) fails within the control timeout, not
        // after ~15 min of retransmissions (not sooner: a peer stopped in a debugger keeps its window closed).
        let bound = self.timeouts.control.max(shmem_core::liveness::DEAD_PEER_NOTICED_WITHIN);
        shmem_core::liveness::bound_unacknowledged(&stream, bound).map_err(|e| fail("TCP_USER_TIMEOUT", e))?;
        // Every later read and write is bounded: a dead node fails the operation within the control timeout.
        stream.set_read_timeout(Some(self.timeouts.control)).map_err(|e| fail("timeout", e))?;
        stream.set_write_timeout(Some(self.timeouts.control)).map_err(|e| fail("timeout", e))?;
        wire::client_handshake(&mut stream, &self.key, self.me.0, pe.0).map_err(|e| match e {
            HandshakeError::NotOfThisJob => Error::Inner(format!(
                "TCP engine: the listener at {addr} does not know the job's secret: not this job's {pe} (another \
                 process took its port after it exited?); nothing was sent to it"
            )),
            HandshakeError::Io { step, error } => fail(step, error),
            e @ HandshakeError::Refused(_) => Error::Inner(format!("TCP engine: {pe} at {addr}: {e}")),
        })?;
        Ok(Outgoing::new(stream))
    }

    /// Runs `f` on the open connection to `pe`; an I/O failure (now, or of an earlier background write of this
    /// connection's batch) drops the connection and names the peer.
    fn with_conn<R>(
        &self,
        pe: Pe,
        may_block: bool,
        f: impl FnOnce(&mut Outgoing, &Pending) -> io::Result<R>,
    ) -> Result<R> {
        if may_block {
            // What `f` does may block for long (a large write into a full socket): the progress thread must not
            // stay parked for a waiter that has left its wait.
            self.shared.stop_driving();
        }
        // Other calls keep a park: a reply wait serves while it lasts, and should a small write block anyway (a
        // full socket), the park ends by itself `PARK` (200 us) after the driver's last call, so peers' requests
        // wait at most that long for the progress thread.
        let mut guard = self.conn(pe)?;
        let out = guard.as_mut().expect("opened by conn");
        let pending = &self.shared.outbox.pending;
        let r = match out.take_broken() {
            Some(e) => Err(e),
            None => f(out, pending),
        };
        match r {
            Ok(r) => Ok(r),
            Err(e) => {
                // Puts not yet confirmed and deferred gets not yet read on this connection: their domains' next
                // quiet says so.
                let unfinished = out.unflushed | out.get_domains;
                self.shared.outbox.lost[pe.index()].fetch_or(unfinished, std::sync::atomic::Ordering::SeqCst);
                out.discard(pending);
                *guard = None;
                Err(self.lost(pe, e))
            }
        }
    }

    fn lost(&self, pe: Pe, e: io::Error) -> Error {
        let addr = self.peers[pe.index()];
        if shmem_core::liveness::is_dead_peer(&e) {
            return Error::Inner(format!(
                "TCP engine: {pe} at {addr} stopped answering (nothing acknowledged for {:?}): its node is down or \
                 cut off, or the PE is stopped",
                self.timeouts.control.max(shmem_core::liveness::DEAD_PEER_NOTICED_WITHIN)
            ));
        }
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
                what: format!("the TCP engine's answer from {pe} at {addr}"),
                waited: self.timeouts.control,
                missing_pes: vec![pe.0],
            },
            _ => Error::Inner(format!(
                "TCP engine: the connection to {pe} at {addr} failed: {e} (the PE exited, crashed, or refused a request)"
            )),
        }
    }

    /// Sends a request that expects a reply (after the connection's batch, in the same write) and reads the
    /// reply; `data`: where a get's data goes (`len` bytes, read straight there, or for a small get with the
    /// header in one system call). The calling thread reads its reply itself and serves this PE's incoming
    /// requests while it waits ([`Shared::read_reply`]). The replies of the connection's deferred gets come
    /// first and are read first. A reply also confirms every put sent before the request (see the end of the
    /// function).
    fn call(
        &self,
        out: &mut Outgoing,
        pending: &Pending,
        req: Request,
        data: Option<(*mut u8, usize)>,
    ) -> io::Result<Reply> {
        let kind = if req == Request::Flush { Sent::Flush } else { Sent::Other };
        // (With gets in flight the batch is empty, as every put reads their replies first: this writes the
        // request alone.)
        out.send_frame(&[&req.encode()], kind, pending)?;
        self.finish_gets(out)?;
        // SAFETY: the caller's contract for `data` (writable, untouched meanwhile).
        let reply = unsafe { self.read_answer(out, data) }?;
        // The target applies a connection's requests in order and answers only after the earlier ones: every
        // put sent before this request is complete, so the next quiet need not ask again.
        out.unflushed = 0;
        Ok(reply)
    }

    /// Reads the replies of the connection's deferred gets, oldest first, each straight into its destination.
    fn finish_gets(&self, out: &mut Outgoing) -> io::Result<()> {
        while let Some(g) = out.gets.front().copied() {
            // SAFETY: a deferred get's caller keeps dst..dst+len writable and untouched until the quiet that
            // completes it, which is this call or a later one.
            unsafe { self.read_answer(out, Some((g.dst as *mut u8, g.len))) }?;
            out.gets.pop_front();
        }
        out.get_domains = 0;
        Ok(())
    }

    /// Reads the next reply of the connection, with a get's data into `data` (see [`TcpEngine::call`]).
    ///
    /// # Safety
    /// `data`, if any, is `len` writable bytes that nothing else accesses during the call.
    unsafe fn read_answer(&self, out: &mut Outgoing, data: Option<(*mut u8, usize)>) -> io::Result<Reply> {
        let fd = out.stream.as_raw_fd();
        let (timeout, spin) = (self.timeouts.control, self.spin);
        // A small get's data comes in the reply's segment: taken with the header.
        let inline = data.map_or(0, |(_, len)| if len <= SMALL_GET { len } else { 0 });
        // Not zeroed (4 KiB of stores per call): only the `got` bytes the socket wrote are read.
        let mut b = std::mem::MaybeUninit::<[u8; REPLY_LEN + SMALL_GET]>::uninit();
        let b = b.as_mut_ptr().cast::<u8>();
        // SAFETY: b is REPLY_LEN + SMALL_GET writable bytes of this frame.
        let got = unsafe { self.shared.read_reply(fd, b, (REPLY_LEN, REPLY_LEN + inline), false, timeout, spin) }?;
        // SAFETY: read_reply wrote got >= REPLY_LEN bytes at b.
        let head: &[u8; REPLY_LEN] = unsafe { &*b.cast::<[u8; REPLY_LEN]>() };
        let reply = Reply::decode(head).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.0))?;
        if let Some(r) = reply.refused {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("the target refused the request ({r:?})")));
        }
        if let Some((dst, len)) = data {
            if reply.value != len as u64 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "a get answered with another length"));
            }
            let have = got - REPLY_LEN;
            // SAFETY: b+REPLY_LEN..b+got was written by read_reply; have <= inline <= len: dst..dst+have is
            // inside the caller's writable range; b is a local, so they do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(b.add(REPLY_LEN), dst, have) };
            if have < len {
                let rest = len - have;
                // SAFETY: dst+have..dst+len is inside the caller's writable range, which nothing else accesses.
                unsafe { self.shared.read_reply(fd, dst.add(have), (rest, rest), true, timeout, spin) }?;
            }
        }
        Ok(reply)
    }

    /// This PE's own bytes at `off..off+len`.
    fn local_span(&self, off: HeapOffset, len: usize) -> Result<*mut u8> {
        Ok(self.node.local().span(off.0, len as u64)?.as_ptr())
    }
}

/// The bit of domain `d` in [`Outgoing::unflushed`]. Domains 64 apart share a bit: a quiet of one then also
/// flushes for the other (more than needed, never less).
fn domain_bit(d: DomainId) -> u64 {
    1u64 << (d.0 % 64)
}

impl TcpEngine {
    /// Flushes every connection with an unconfirmed put of a domain in `mask`. A target whose connection failed
    /// while such puts were unconfirmed is an error (once per domain and failure): they may be lost.
    fn flush_where(&self, mask: u64) -> Result<()> {
        // Every target is flushed even after one failed (the first error is returned).
        let mut first: Result<()> = Ok(());
        for pe in 0..self.peers.len() {
            let lost = self.shared.outbox.lost[pe].fetch_and(!mask, std::sync::atomic::Ordering::SeqCst) & mask;
            if lost != 0 {
                let addr = self.peers[pe];
                first = first.and(Err(Error::Inner(format!(
                    "TCP engine: the connection to PE {pe} at {addr} failed while puts to it were not yet \
                     confirmed or non-blocking gets from it not yet complete: the puts may be lost, or applied \
                     after later ones, and the gets' destinations were not (all) written"
                ))));
            }
            let pending = self
                .shared
                .outbox
                .lock(pe)
                .as_ref()
                .is_some_and(|o| o.unflushed & mask != 0 || o.get_domains & mask != 0);
            if pending {
                let r = self.with_conn(Pe(pe as u32), false, |out, pending| {
                    if out.unflushed & mask == 0 {
                        // Only deferred gets to complete: their replies are all it takes.
                        return self.finish_gets(out);
                    }
                    self.call(out, pending, Request::Flush, None)?;
                    // The flush confirmed everything sent before it on this connection, whatever its domain.
                    out.unflushed = 0;
                    Ok(())
                });
                if r.is_err() {
                    // This failure is reported here, for the domains of `mask`: not again by their next quiet.
                    self.shared.outbox.lost[pe].fetch_and(!mask, std::sync::atomic::Ordering::SeqCst);
                }
                first = first.and(r);
            }
        }
        first
    }
}

impl Drop for TcpEngine {
    /// Writes what the sockets take of batches that a put without `quiet` left (best effort, never blocking on
    /// a peer that is gone: finalize completes every put with a quiet before it drops the engine).
    fn drop(&mut self) {
        self.shared.outbox.flush_nonblocking();
    }
}

impl DataOpEngine for TcpEngine {
    fn kind(&self) -> OpEngineType {
        OpEngineType::TCP
    }

    /// The progress thread applies every remote write and wakes the sleepers itself.
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            direct_pointers: false,
            asynchronous_nbi: true,
            remote_writes_wake: true,
            cpu_coherent_atomics: true,
        }
    }

    fn reaches(&self, pe: Pe) -> bool {
        pe.index() < self.peers.len()
    }

    /// On return the source may be reused: the bytes are in the socket (or, for this PE, in place). They are
    /// visible at the target after the next `quiet`, in order with this PE's other operations on the target.
    unsafe fn put(&self, op: Put, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.put_in(DomainId::DEFAULT, op, mode) }
    }

    /// As `put`, marking the connection unflushed for domain `d`.
    unsafe fn put_in(&self, d: DomainId, op: Put, _mode: Completion) -> Result<()> {
        let Put { pe, dst, src, len, signal } = op;
        if pe == self.me {
            let d = self.local_span(dst, len)?;
            // SAFETY: d..d+len is this PE's own mapping (span checked); src is the caller's contract.
            unsafe { std::ptr::copy(src, d, len) };
            self.node.wake(pe, dst, len as u64);
            if let Some(s) = signal {
                apply_signal(&self.node, s).map_err(Error::Inner)?;
            }
            return Ok(());
        }
        let payload: &[u8] = if len == 0 {
            &[]
        } else {
            // SAFETY: the caller guarantees src..src+len is readable for the call.
            unsafe { std::slice::from_raw_parts(src, len) }
        };
        let header = Request::Put { dst, len: len as u64, signal }.encode();
        let tell = self.with_conn(pe, len > SMALL_PUT, |out, pending| {
            // A put never waits for room behind unread get replies: the target reads no request while a reply of
            // its is not taken, so a put that filled the socket meanwhile would wait for good.
            self.finish_gets(out)?;
            let r = if out.should_batch(len, signal.is_some()) {
                out.append(&header, payload, pending)
            } else {
                out.send_frame(&[&header, payload], Sent::Put, pending).map(|()| None)
            };
            // (A put that failed is reported to its caller: only the earlier unconfirmed ones count as lost.)
            if r.is_ok() {
                out.unflushed |= domain_bit(d);
            }
            r
        })?;
        if let Some(urgent) = tell {
            self.shared.batch_started(urgent);
        }
        Ok(())
    }

    /// A blocking get completes before it returns. A deferred one sends its request and returns: its reply is
    /// read by the next call on the connection that reads a reply, or by the next `quiet` (one that completes
    /// its domain), so that gets issued back to back stream their replies (see [`TcpEngine::get_in`]).
    unsafe fn get(&self, op: Get, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.get_in(DomainId::DEFAULT, op, mode) }
    }

    /// As `get`, in domain `d`: a deferred get is completed by `quiet_in(d)` (or `quiet`). At most
    /// [`MAX_DEFERRED_GETS`] are in flight per target: one more first reads the oldest reply. While gets are in
    /// flight on a connection, only more get requests (40 bytes each, far less than any socket buffer) are
    /// written to it: a put, or a call that reads a reply, reads the gets' replies first (the target reads no
    /// request while its reply is not taken, so a larger write could wait for good). A reply larger than the
    /// socket buffers stays half sent until it is read: a quiet more than the control timeout after such a get
    /// finds the connection closed by the target's kernel (its unacknowledged-data bound covers a zero window
    /// too), an error naming the PE.
    unsafe fn get_in(&self, d: DomainId, op: Get, mode: Completion) -> Result<()> {
        let Get { pe, src, dst, len } = op;
        if len == 0 {
            return Ok(());
        }
        if pe == self.me {
            let s = self.local_span(src, len)?;
            // SAFETY: s..s+len is this PE's own mapping; dst is the caller's contract.
            unsafe { std::ptr::copy(s, dst, len) };
            return Ok(());
        }
        let req = Request::Get { src, len: len as u64 };
        // The caller guarantees dst..dst+len is writable and not accessed by this process meanwhile (until the
        // quiet that completes a deferred get).
        self.with_conn(pe, false, |out, pending| {
            if mode == Completion::Blocking {
                return self.call(out, pending, req, Some((dst, len))).map(drop);
            }
            if out.gets.len() >= MAX_DEFERRED_GETS {
                let g = out.gets.pop_front().expect("a full queue");
                // SAFETY: the oldest get's caller keeps its destination until its quiet, which has not come.
                if let Err(e) = unsafe { self.read_answer(out, Some((g.dst as *mut u8, g.len))) } {
                    out.gets.push_front(g);
                    return Err(e);
                }
            }
            out.send_frame(&[&req.encode()], Sent::Other, pending)?;
            out.gets.push_back(DeferredGet { dst: dst as usize, len });
            out.get_domains |= domain_bit(d);
            Ok(())
        })
    }

    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        if pe == self.me {
            return self.node.atomic(pe, at, width, op);
        }
        self.with_conn(pe, false, |out, pending| {
            self.call(out, pending, Request::Atomic { at, width, op }, None).map(|r| r.value)
        })
    }

    /// Puts to one target travel one connection and are applied in order: nothing to do.
    fn fence(&self) -> Result<()> {
        Ok(())
    }

    /// Asks every target with unconfirmed puts (of any domain) to confirm them.
    fn quiet(&self) -> Result<()> {
        self.flush_where(u64::MAX)
    }

    /// Asks the targets that domain `d` sent puts to since their last flush to confirm them.
    fn quiet_in(&self, d: DomainId) -> Result<()> {
        self.flush_where(domain_bit(d))
    }

    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        (pe == self.me).then(|| self.node.ptr(pe, off, 0)).flatten()
    }

    /// Writes what the sockets take now of this PE's batches, then serves what has arrived unless another
    /// thread is serving now: the calling thread waits inside the library anyway, and is running, where the
    /// progress thread would first have to be woken and scheduled. Never blocks on a socket: a driver stuck
    /// writing to a peer that does not read, while this PE's progress thread is parked, would stop this PE from
    /// reading too, and two such PEs would wait for each other.
    fn progress(&self) -> bool {
        if self.shared.outbox.has_pending() {
            self.shared.outbox.flush_nonblocking();
        }
        self.shared.drive()
    }

    /// Yes: remote operations are applied by software on this PE, by the progress thread or a lent waiter.
    fn needs_progress(&self) -> bool {
        true
    }

    /// The waiting thread goes to sleep: the progress thread serves alone again from now on.
    fn progress_release(&self) {
        self.shared.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pes_are_counted_by_machine_and_by_address_where_an_identity_is_missing() {
        let a: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:4000".parse().unwrap();
        let c: SocketAddr = "10.0.0.1:4001".parse().unwrap();
        let peers = [a, b, c];
        let ids = |v: [&str; 3]| v.map(String::from).to_vec();
        // Two namespaces of one host (two addresses, one boot id): all three share the cores.
        assert_eq!(pes_on_this_machine(&peers, &ids(["h1", "h1", "h1"]), a, "h1"), 3);
        // Two hosts.
        assert_eq!(pes_on_this_machine(&peers, &ids(["h1", "h2", "h1"]), a, "h1"), 2);
        // No identity here or there: by address.
        assert_eq!(pes_on_this_machine(&peers, &ids(["", "", ""]), a, ""), 2);
        assert_eq!(pes_on_this_machine(&peers, &ids(["h1", "", "h1"]), a, "h1"), 2);
        assert_eq!(parse_listen(b"10.0.0.1:4000 abc-1"), Some((a, "abc-1".to_string())));
        assert_eq!(parse_listen(b"10.0.0.1:4000"), Some((a, String::new())));
        assert_eq!(parse_listen(b"10.0.0.1:4000 "), Some((a, String::new())));
        assert_eq!(parse_listen(b"garbage x"), None);
        assert_eq!(parse_listen(&[0xff, 0xfe]), None);
        // This machine has one (Linux), and it is stable.
        if std::path::Path::new("/proc/sys/kernel/random/boot_id").exists() {
            assert!(!machine_id().is_empty());
            assert_eq!(machine_id(), machine_id());
        }
    }
}
