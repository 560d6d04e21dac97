//! The store client every PE (PE 0 included) uses, and the watch connection that delivers job events.
//!
//! A [`StoreClient`] holds one connection and sends one request at a time (a mutex serializes callers, so
//! the client is `Send + Sync`). Blocking operations send their timeout with the request: the store parks
//! the request and answers when the condition holds or the timeout expires. The client also bounds its own
//! read by that timeout plus [`GRACE`], so a store that stopped answering cannot hang it. After an I/O
//! failure the connection is dropped and the next call reconnects once.

use crate::conn::{is_timeout, tls_error, Conn};
use crate::tls::server_name;
use crate::wire::{
    client_handshake, read_frame, write_frame, ErrorKind, Notice, ReadError, Request, Response, Role, MAX_FRAME,
};
use crate::StoreConfig;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use shmem_core::{Error, Result};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// Extra time the client waits for the store's answer beyond the timeout it sent with a blocking request.
pub const GRACE: Duration = Duration::from_secs(2);

/// A job event delivered on a watch connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// Some PE called global exit: end this process with this status.
    GlobalExit(i32),
    /// This rank's watch connection closed without a leave: the PE died or lost its network.
    PeerLost(u32),
    /// The store went away other than by a normal shutdown after this rank left (PE 0 died).
    StoreLost,
}

/// A connection to the store for requests. See the module docs for the concurrency and timeout rules.
pub struct StoreClient {
    cfg: StoreConfig,
    rank: u32,
    tls: Option<Arc<ClientConfig>>,
    /// `None` after an I/O failure until the next call reconnects.
    conn: Mutex<Option<Conn>>,
    /// Set once this rank's `leave` was acknowledged: its watch then reports no lost store. The store tells a
    /// left rank's watcher so itself, but a watch registered late (its hello is answered first), or a store that
    /// stops before registering it, closes without that word; this rank knows it left either way.
    left: Arc<AtomicBool>,
}

impl std::fmt::Debug for StoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreClient").field("url", &self.cfg.url).field("rank", &self.rank).finish()
    }
}

/// How one connection attempt failed: worth retrying (nobody listening yet) or not (rejected, TLS failure).
enum Attempt {
    Retry(String),
    Fatal(Error),
}

fn nonzero(d: Duration) -> Duration {
    d.max(Duration::from_millis(1))
}

/// Milliseconds for the wire, rounded up so that a sub-millisecond timeout still waits.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

fn handshake_error(cfg: &StoreConfig, waited: Duration, e: ReadError) -> Error {
    let url = &cfg.url;
    match e {
        ReadError::Io(e) => match tls_error(&e) {
            Some(rustls::Error::AlertReceived(alert)) => Error::Bootstrap(format!(
                "the store at {url} refused the TLS handshake (alert {alert:?}); check that this PE's certificate \
                 (tlsCert) is signed by a CA the store trusts, has not expired and is not revoked"
            )),
            Some(t) => Error::Bootstrap(format!(
                "TLS handshake with the store at {url} failed: {t}; check that tlsCaFile holds the CA that signed \
                 the store's certificate, and that this certificate names host {:?} and has not expired",
                url.host
            )),
            None if is_timeout(&e) => Error::Bootstrap(format!(
                "the store at {url} did not answer the handshake within {waited:?}; is something else listening \
                 there, or did PE 0 not reach its init in time?"
            )),
            None => closed_during_handshake(cfg, &e.to_string()),
        },
        ReadError::Eof => closed_during_handshake(cfg, "end of stream"),
        ReadError::Wire(e) => Error::Bootstrap(format!(
            "the store at {url} answered the handshake with something that is not a shmem store frame ({e}); {}",
            if cfg.tls.is_some() {
                "is it a shmem store?"
            } else {
                "it probably requires TLS while this PE does not use it"
            }
        )),
        ReadError::Unproven => Error::Bootstrap(format!(
            "the listener at {url} {UNPROVEN}: it is not this job's store (another job's, or a process that took \
             the port), or this PE has another token; nothing was sent to it"
        )),
    }
}

/// What the client's error says when the listener could not prove the job's token ([`ReadError::Unproven`]).
const UNPROVEN: &str = "could not prove that it knows the job's token";
/// What the store's rejection of a wrong token says.
const REJECTED_SECRET: &str = "secret was rejected";

/// Whether `e`, an error of [`StoreClient::connect`], says that this PE's job secret and the store's differ
/// (either side noticed): a PE that read a secret about to be replaced (a node secret file rewritten by PE 0's
/// new attempt) reads it again on that.
pub fn is_wrong_secret(e: &Error) -> bool {
    let msg = e.to_string();
    matches!(e, Error::Bootstrap(_)) && (msg.contains(UNPROVEN) || msg.contains(REJECTED_SECRET))
}

fn closed_during_handshake(cfg: &StoreConfig, why: &str) -> Error {
    Error::Bootstrap(format!(
        "the store at {} closed the connection during the handshake ({why}); {}: see the store's log",
        cfg.url,
        if cfg.tls.is_some() {
            "it may run without TLS while this PE uses it, or have refused this PE's certificate"
        } else {
            "it may require TLS while this PE does not use it"
        }
    ))
}

/// One connection attempt to `addr`: TCP connect, TLS session if configured, hello, answer. The handshake may
/// wait until `deadline` (the connect deadline: for init, what is left of the init timeout), not just the
/// operation timeout: a store that has not started serving yet (PE 0 made the unique ID and binds its port, but
/// inits later) keeps this connection in its listener's backlog until it does.
fn attempt(
    cfg: &StoreConfig,
    addr: std::net::SocketAddr,
    (role, rank, ticket): (Role, u32, &[u8]),
    tls: Option<&Arc<ClientConfig>>,
    connect_timeout: Duration,
    deadline: Instant,
) -> std::result::Result<Conn, Attempt> {
    let tcp = TcpStream::connect_timeout(&addr, nonzero(connect_timeout))
        .map_err(|e| Attempt::Retry(format!("{addr}: {e}")))?;
    let setup = |e: std::io::Error| Attempt::Fatal(Error::Bootstrap(format!("cannot set up a socket to {addr}: {e}")));
    tcp.set_nodelay(true).map_err(setup)?;
    let handshake_for = deadline.saturating_duration_since(Instant::now()).max(cfg.op_timeout);
    tcp.set_read_timeout(Some(nonzero(handshake_for))).map_err(setup)?;
    tcp.set_write_timeout(Some(nonzero(cfg.op_timeout))).map_err(setup)?;
    let mut conn = match tls {
        None => Conn::Plain(tcp),
        Some(tls) => {
            let name = server_name(&cfg.url.host).map_err(Attempt::Fatal)?;
            let session = ClientConnection::new(tls.clone(), name)
                .map_err(|e| Attempt::Fatal(Error::Bootstrap(format!("cannot start a TLS session: {e}"))))?;
            Conn::TlsClient(Box::new(StreamOwned::new(session, tcp)))
        }
    };
    let answer = client_handshake(&mut conn, role, rank, &cfg.token, ticket.to_vec())
        .map_err(|e| Attempt::Fatal(handshake_error(cfg, handshake_for, e)))?;
    match answer {
        Response::Ok => {
            // Every later answer is bounded by the operation timeout.
            conn.tcp().set_read_timeout(Some(nonzero(cfg.op_timeout))).map_err(setup)?;
            Ok(conn)
        }
        Response::Rejected(why) => {
            // Whoever listens there wrote this text (the client has not authenticated the store): shortened and
            // escaped before it reaches an exception or a terminal.
            let why: String = why.chars().take(300).collect();
            Err(Attempt::Fatal(Error::Bootstrap(format!("the store at {} refused this PE: {why:?}", cfg.url))))
        }
        other => Err(Attempt::Fatal(Error::Bootstrap(format!(
            "the store at {} answered the handshake with {other:?}; is it a shmem store of this version?",
            cfg.url
        )))),
    }
}

/// Connects and shakes hands, retrying connection failures with short sleeps until `deadline`.
fn open(
    cfg: &StoreConfig,
    (role, rank, ticket): (Role, u32, Vec<u8>),
    tls: Option<&Arc<ClientConfig>>,
    deadline: Instant,
) -> Result<Conn> {
    let addrs = cfg.url.socket_addrs()?;
    let mut pause = Duration::from_millis(10);
    loop {
        let mut last = String::new();
        for &addr in &addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            let left = left.clamp(Duration::from_millis(500), Duration::from_secs(2));
            match attempt(cfg, addr, (role, rank, &ticket), tls, left, deadline) {
                Ok(conn) => return Ok(conn),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(why)) => last = why,
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Bootstrap(format!(
                "cannot reach the store at {} (last error: {last}); check that PE 0 is running and that \
                 SHMEM_MASTER_ADDR/SHMEM_MASTER_PORT point at it, or raise shm_init_timeout",
                cfg.url
            )));
        }
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// `now + d`, saturating far in the future for huge durations instead of panicking.
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

fn tls_of(cfg: &StoreConfig) -> Result<Option<Arc<ClientConfig>>> {
    cfg.tls.as_ref().map(|t| t.client_config()).transpose()
}

impl StoreClient {
    /// Connects to the store at `cfg.url`, retrying (with short sleeps) until `cfg.connect_timeout`, and
    /// presents the job token and `rank`.
    ///
    /// # Errors
    /// [`Error::Bootstrap`] when the store is unreachable in time, rejects the token, or the TLS handshake
    /// fails (each with what to check).
    pub fn connect(cfg: &StoreConfig, rank: u32) -> Result<StoreClient> {
        let tls = tls_of(cfg)?;
        let conn = open(cfg, (Role::Client, rank, Vec::new()), tls.as_ref(), deadline_after(cfg.connect_timeout))?;
        Ok(StoreClient { cfg: cfg.clone(), rank, tls, conn: Mutex::new(Some(conn)), left: Arc::default() })
    }

    /// The rank this client presented in its handshake.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// Sends one request and reads its answer. `wait` is the timeout carried by a blocking request.
    fn call(&self, what: &dyn Fn() -> String, request: &Request, wait: Option<Duration>) -> Result<Response> {
        let frame = request
            .to_frame()
            .map_err(|e| Error::invalid(format!("{} is too large for the bootstrap store: {e}", what())))?;
        let mut slot = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut conn = match slot.take() {
            Some(c) => c,
            None => open(&self.cfg, (Role::Client, self.rank, Vec::new()), self.tls.as_ref(), Instant::now())?,
        };
        let read_timeout = wait.map_or(self.cfg.op_timeout, |w| w.saturating_add(GRACE));
        let io = conn
            .tcp()
            .set_read_timeout(Some(nonzero(read_timeout.min(Duration::from_secs(u32::MAX.into())))))
            .map_err(ReadError::Io)
            .and_then(|()| write_frame(&mut conn, &frame).map_err(ReadError::Io))
            .and_then(|()| read_frame(&mut conn, MAX_FRAME));
        let payload = match io {
            Ok(p) => p,
            Err(ReadError::Io(e)) if is_timeout(&e) => {
                return Err(Error::Timeout {
                    what: format!("the store at {} to answer {}", self.cfg.url, what()),
                    waited: read_timeout,
                    missing_pes: Vec::new(),
                })
            }
            Err(e) => {
                return Err(Error::Bootstrap(format!(
                    "lost the connection to the store at {} during {}: {e}; PE 0, which serves the store, may have \
                     exited",
                    self.cfg.url,
                    what()
                )))
            }
        };
        let response = Response::decode(&payload).map_err(|e| {
            Error::Bootstrap(format!("the store at {} sent a malformed answer to {}: {e}", self.cfg.url, what()))
        })?;
        *slot = Some(conn);
        Ok(response)
    }

    fn unexpected(&self, what: &str, response: Response) -> Error {
        match response {
            Response::Error { kind, message } => match kind {
                ErrorKind::InvalidParam => Error::InvalidParam(message),
                ErrorKind::InvalidValue => Error::InvalidValue(message),
                ErrorKind::Bootstrap => Error::Bootstrap(message),
            },
            other => Error::Bootstrap(format!("the store at {} answered {what} with {other:?}", self.cfg.url)),
        }
    }

    /// Stores `value` under `key`, replacing any previous value.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let what = || format!("set of key {key:?}");
        match self.call(&what, &Request::Set { key: key.into(), value: value.to_vec() }, None)? {
            Response::Ok => Ok(()),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Returns the value of `key`, blocking until the key exists or `timeout` passes.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the key did not appear in time.
    pub fn get(&self, key: &str, timeout: Duration) -> Result<Vec<u8>> {
        let what = || format!("get of key {key:?}");
        match self.call(&what, &Request::Get { key: key.into(), timeout_ms: millis(timeout) }, Some(timeout))? {
            Response::Value(Some(v)) => Ok(v),
            Response::Timeout { .. } => Err(Error::Timeout {
                what: format!("key {key:?} in the bootstrap store at {}", self.cfg.url),
                waited: timeout,
                missing_pes: Vec::new(),
            }),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Returns the value of `key` if it exists, without waiting.
    pub fn try_get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let what = || format!("get of key {key:?}");
        match self.call(&what, &Request::TryGet { key: key.into() }, None)? {
            Response::Value(v) => Ok(v),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Atomically adds `delta` to the counter under `key` (a missing key counts as 0) and returns the new
    /// value. Counters are stored as decimal text, so `get` reads them too.
    pub fn add(&self, key: &str, delta: i64) -> Result<i64> {
        let what = || format!("add to key {key:?}");
        match self.call(&what, &Request::Add { key: key.into(), delta }, None)? {
            Response::Int(v) => Ok(v),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Sets `key` to `new` iff its current value equals `expected` (`None`: the key is absent). Returns
    /// whether it swapped and the key's value after the operation.
    pub fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<(bool, Option<Vec<u8>>)> {
        let what = || format!("compare-and-swap of key {key:?}");
        let request = Request::Cas { key: key.into(), expected: expected.map(<[u8]>::to_vec), new: new.to_vec() };
        match self.call(&what, &request, None)? {
            Response::Cas { swapped, current } => Ok((swapped, current)),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Appends `value` to the value of `key` (a missing key counts as empty) and returns the new length.
    pub fn append(&self, key: &str, value: &[u8]) -> Result<u64> {
        let what = || format!("append to key {key:?}");
        match self.call(&what, &Request::Append { key: key.into(), value: value.to_vec() }, None)? {
            Response::Len(n) => Ok(n),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Removes `key`; returns whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool> {
        let what = || format!("delete of key {key:?}");
        match self.call(&what, &Request::Delete { key: key.into() }, None)? {
            Response::Bool(b) => Ok(b),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Waits until all `n` ranks (0..n, each with its own client) called `barrier` with the same `name`.
    /// Names may be reused for consecutive barriers.
    ///
    /// # Errors
    /// [`Error::Timeout`] listing the ranks that had not arrived when `timeout` passed.
    pub fn barrier(&self, name: &str, n: u32, timeout: Duration) -> Result<()> {
        let what = || format!("barrier {name:?} of {n} PEs");
        match self.call(
            &what,
            &Request::Barrier { name: name.into(), n, timeout_ms: millis(timeout) },
            Some(timeout),
        )? {
            Response::Ok => Ok(()),
            Response::Timeout { missing } => {
                Err(Error::Timeout { what: what(), waited: timeout, missing_pes: missing })
            }
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Every rank contributes `data`; returns all `n` contributions indexed by rank. Names may be reused.
    ///
    /// # Errors
    /// [`Error::Timeout`] listing the ranks that had not arrived when `timeout` passed.
    pub fn allgather(&self, name: &str, n: u32, data: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>> {
        let what = || format!("allgather {name:?} of {n} PEs");
        let request = Request::Allgather { name: name.into(), n, data: data.to_vec(), timeout_ms: millis(timeout) };
        match self.call(&what, &request, Some(timeout))? {
            Response::Gathered(parts) if parts.len() == n as usize => Ok(parts),
            Response::Timeout { missing } => {
                Err(Error::Timeout { what: what(), waited: timeout, missing_pes: missing })
            }
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Asks every watcher of the job to end its process with `status` over a connection of its own (an exit
    /// connection, admitted for a rank that has joined), so that it never waits behind this rank's client
    /// connection, which may be parked in a barrier or held by a finalize. Returns once the store has written
    /// the event to every watch connection, so the caller may exit right after.
    ///
    /// # Errors
    /// As [`StoreClient::connect`]; the store refuses ranks that have not joined.
    pub fn global_exit_from(cfg: &StoreConfig, rank: u32, status: i32) -> Result<()> {
        let tls = tls_of(cfg)?;
        let conn = open(cfg, (Role::Exit, rank, Vec::new()), tls.as_ref(), deadline_after(cfg.connect_timeout))?;
        let client = StoreClient { cfg: cfg.clone(), rank, tls, conn: Mutex::new(Some(conn)), left: Arc::default() };
        client.global_exit(status)
    }

    /// Asks every watcher of the job to end its process with `status`. Returns once the store has written
    /// the event to every watch connection, so the caller may exit right after.
    pub fn global_exit(&self, status: i32) -> Result<()> {
        let what = || format!("global exit with status {status}");
        match self.call(&what, &Request::GlobalExit { status }, None)? {
            Response::Ok => Ok(()),
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Announces that this rank leaves cleanly (finalize), so that closing its watch connection is not
    /// reported as a lost PE.
    pub fn leave(&self) -> Result<()> {
        let what = || "leave".to_string();
        match self.call(&what, &Request::Leave, None)? {
            Response::Ok => {
                self.left.store(true, Ordering::SeqCst);
                Ok(())
            }
            r => Err(self.unexpected(&what(), r)),
        }
    }

    /// Opens this rank's watch connection (with a one-time ticket obtained on this client's connection, which
    /// proves to the store that the watch belongs to this rank); `on_event` runs on a background thread for
    /// each job event. Dropping the returned [`Watch`] closes it without raising an event for itself.
    ///
    /// # Errors
    /// As [`StoreClient::connect`]; the store refuses a second watch for the rank.
    pub fn watch(&self, on_event: impl Fn(JobEvent) + Send + 'static) -> Result<Watch> {
        let what = || "watch ticket".to_string();
        let ticket = match self.call(&what, &Request::WatchTicket, None)? {
            Response::Value(Some(t)) => t,
            r => return Err(self.unexpected(&what(), r)),
        };
        let (cfg, rank) = (&self.cfg, self.rank);
        let deadline = deadline_after(cfg.connect_timeout);
        let mut conn = open(cfg, (Role::Watch, rank, ticket), self.tls.as_ref(), deadline)?;
        let io = |e: std::io::Error| Error::Bootstrap(format!("cannot set up the watch connection: {e}"));
        conn.tcp().set_read_timeout(None).map_err(io)?;
        // Silent until an event: without keepalive, a store whose node died unnoticed would never be reported.
        shmem_core::liveness::keep_alive(conn.tcp()).map_err(io)?;
        let tcp = conn.tcp().try_clone().map_err(io)?;
        let closing = Arc::new(AtomicBool::new(false));
        let flag = closing.clone();
        let left = self.left.clone();
        let url = cfg.url.to_string();
        let thread = thread::Builder::new()
            .name(format!("shmem-watch-{rank}"))
            .spawn(move || {
                // SeqCst pairs with the store in `Watch::drop`, made before it shuts the socket down: a read
                // that fails because of that shutdown sees the flag and reports nothing.
                let live = || !flag.load(Ordering::SeqCst);
                loop {
                    let notice = match read_frame(&mut conn, MAX_FRAME).map(|p| Notice::decode(&p)) {
                        Ok(Ok(n)) => n,
                        Ok(Err(e)) => {
                            warn!("store watch: malformed notice from the store at {url}: {e}");
                            Notice::Closing { clean: false }
                        }
                        Err(e) => {
                            if live() {
                                warn!("store watch: lost the store at {url}: {e}");
                            }
                            Notice::Closing { clean: false }
                        }
                    };
                    let (event, last) = match notice {
                        Notice::GlobalExit(status) => (Some(JobEvent::GlobalExit(status)), true),
                        Notice::PeerLost(r) => (Some(JobEvent::PeerLost(r)), false),
                        Notice::Closing { clean } => {
                            ((!clean && !left.load(Ordering::SeqCst)).then_some(JobEvent::StoreLost), true)
                        }
                    };
                    if let Some(event) = event.filter(|_| live()) {
                        debug!(?event, "store watch: event");
                        on_event(event);
                    }
                    if last {
                        return;
                    }
                }
            })
            .map_err(|e| Error::Bootstrap(format!("cannot start the watch thread: {e}")))?;
        Ok(Watch { tcp, closing, thread: Some(thread) })
    }
}

/// A watch connection and its event thread. Dropping it closes the connection and joins the thread.
#[must_use = "the watch connection closes when Watch is dropped"]
pub struct Watch {
    tcp: TcpStream,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("peer", &self.tcp.peer_addr().ok()).finish()
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        let _ = self.tcp.shutdown(Shutdown::Both);
        if let Some(t) = self.thread.take() {
            // Dropped from inside the event callback: the thread ends by itself once the callback returns.
            if t.thread().id() != thread::current().id() {
                let _ = t.join();
            }
        }
    }
}
