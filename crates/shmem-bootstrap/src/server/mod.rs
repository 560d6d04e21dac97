//! The store server, run by PE 0.
//!
//! # Threads
//! One accept thread and one thread per connection, over blocking sockets. A job has up to a few hundred PEs
//! on one machine, each with two connections (requests and watch), so a few hundred mostly idle threads; in
//! exchange every connection's code is straight-line, a TLS session is never shared between threads, and a
//! parked request (a `get` waiting for its key, a barrier waiting for the others) simply sleeps on its own
//! thread without holding up anybody else.
//!
//! # Waiting
//! All state sits in one mutex (`State`) with one condition variable, notified on every change that can
//! release a waiter (a value written, a collective completed, shutdown). Waiters recheck their own condition;
//! for a control-plane store with at most a few hundred waiters this beats per-key wake lists in simplicity.
//! Every wait is bounded by the timeout the client sent with its request.
//!
//! # Watch connections
//! After its hello a watch client sends nothing. Its connection thread reads the raw socket only to notice the
//! close, while event notices are written through the (TLS) stream by whichever thread raises the event. So
//! the TLS session's state is only ever touched by writers, which take the stream's mutex. A watch closing
//! without a prior `leave` of its rank is a lost PE, reported to every other watcher. Several losses are
//! reported in the order their closes reached this host, not the order their threads ran (see the private
//! `close_order` module).
//!
//! # Hostile input
//! The handshake (greeting, challenge, hello: see [`crate::wire`]) must come in frames within [`MAX_HELLO_FRAME`]
//! bytes and within [`HANDSHAKE_TIMEOUT`] in all; a bad frame, magic, version or proof of the token, or a failed
//! TLS handshake, closes that connection with a `warn!` naming the peer. The token never crosses the wire: the
//! hello proves it over a fresh nonce of the store's.
//!
//! # Who may do what
//! A hello's rank must lie inside the job ([`StoreLimits::n_ranks`]). A rank joins once: a second client
//! connection for a rank whose client is connected is refused, and so is a watch for a rank that already has
//! one. A watch is admitted only with a one-time ticket that the rank's own client connection obtained, so a
//! process that is not rank r cannot open (and, by closing it, report lost) rank r's watch. An exit
//! connection (`global_exit`) is admitted for a rank that has joined and may send nothing but the exit.
//! Authenticated connections are capped ([`StoreLimits::max_connections`]; connections still in their
//! handshake are capped too, and dropped beyond that) and so are the bytes the store holds
//! ([`StoreLimits::max_stored_bytes`]); both refusals say which limit was hit.

mod close_order;
mod ops;

use crate::conn::{tls_error, Conn};
use crate::store::Store;
use crate::wire::{
    read_frame, write_frame, Challenge, ErrorKind, Greeting, Hello, Notice, ReadError, Request, Response, Role,
    WireError, MAX_FRAME, MAX_HELLO_FRAME, NONCE_LEN,
};
use crate::StoreConfig;
use close_order::CloseOrder;
use ops::{handle, send_notice, serve_watch};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use shmem_core::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind as IoKind, Read};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How long a new connection may take to present its hello (and finish the TLS handshake).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound of every write to a client, so that a client that stopped reading cannot hold a thread forever.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait a request may ask for (30 days); longer requests are clamped.
const MAX_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Fewest connections allowed in their handshake (not yet authenticated) at a time; the bound is
/// `max(MIN_PENDING, max_connections)`, so that a whole job can connect at once, and more are closed at once.
const MIN_PENDING: usize = 128;

/// What the store accepts: which ranks, how many connections, how many bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Ranks accepted in a hello are `0..n_ranks`; `None` accepts any rank (a store used outside a job).
    pub n_ranks: Option<u32>,
    /// Authenticated connections served at once (every PE needs two, plus short ones for `global_exit`).
    pub max_connections: usize,
    /// Bytes of keys, values and collective contributions the store holds at once.
    pub max_stored_bytes: usize,
}

impl Default for StoreLimits {
    /// Any rank, 1024 connections, 256 MiB.
    fn default() -> Self {
        StoreLimits { n_ranks: None, max_connections: 1024, max_stored_bytes: 256 << 20 }
    }
}

impl StoreLimits {
    /// The limits for a job of `n` PEs: ranks `0..n`, three connections per PE plus a margin, 256 MiB.
    pub fn for_job(n: u32) -> Self {
        StoreLimits { n_ranks: Some(n), max_connections: 3 * n as usize + 16, ..StoreLimits::default() }
    }
}

/// The bootstrap key-value store server. Serves on background threads until [`StoreServer::shutdown`] or
/// drop.
#[must_use = "the store stops serving when the StoreServer is dropped"]
pub struct StoreServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    /// The node secret file this store's job reads its secret from; removed first at shutdown.
    secret_file: Option<crate::secret::NodeSecretFile>,
}

impl std::fmt::Debug for StoreServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreServer").field("addr", &self.addr).field("tls", &self.shared.tls.is_some()).finish()
    }
}

struct Shared {
    token: String,
    limits: StoreLimits,
    tls: Option<Arc<ServerConfig>>,
    state: Mutex<State>,
    changed: Condvar,
    handlers: Mutex<Vec<JoinHandle<()>>>,
    next_id: AtomicU64,
    /// The open watch sockets, for the order in which they close (see [`close_order`]).
    closes: CloseOrder,
    /// Held by the thread that drains `closes` until it has written the loss notices, so that every watcher
    /// hears of the losses in the order they happened.
    reporting_losses: Mutex<()>,
}

struct State {
    store: Store,
    /// Set first at shutdown: the accept loop stops taking connections (and drops the listener).
    closing_listener: bool,
    stopping: bool,
    /// A handle on every open connection's socket, by connection id, so that shutdown can close them.
    conns: HashMap<u64, TcpStream>,
    /// Open watch connections by connection id.
    watchers: HashMap<u64, Watcher>,
    /// Ranks that said they leave. Kept apart from their watchers: a watch's hello is answered before its
    /// watcher is registered, so a rank can open its watch and leave before the store registers the watcher,
    /// which must then start out as left (else the store's shutdown reports "store lost" to a rank that left).
    left: HashSet<u32>,
    /// Set once some PE called global exit; later watchers get the event at once, lost PEs are no news.
    exit_status: Option<i32>,
    /// Connections past their hello (the rest of `conns` are still in their handshake).
    authenticated: usize,
    /// The connections still in their handshake (no hello read yet), with when they were accepted: one past
    /// [`HANDSHAKE_TIMEOUT`] in all (an outsider sending a byte per read timeout) is closed at the next accept,
    /// and when too many wait, the oldest is closed to make room.
    handshaking: HashMap<u64, Instant>,
    /// The connection id of each rank's client connection.
    clients: HashMap<u32, u64>,
    /// The one-time watch ticket each rank's client obtained and has not used yet.
    tickets: HashMap<u32, Vec<u8>>,
}

struct Watcher {
    rank: u32,
    /// The rank announced its leave: this connection's close is not a lost PE.
    left: bool,
    sink: Arc<Mutex<Conn>>,
}

impl State {
    /// Closes connection `id`, still in its handshake (its thread then reads the end and returns).
    fn end_handshake(&mut self, id: u64) {
        self.handshaking.remove(&id);
        if let Some(c) = self.conns.get(&id) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did, the state is still consistent
        // (each operation is a single map update), so keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StoreServer {
    /// Binds `cfg.url` and serves on background threads. The listener uses `SO_REUSEADDR` (the standard
    /// library sets it on Unix), so init, finalize and init again on the same port work in one process.
    /// Port 0 picks a free port; see [`StoreServer::local_addr`].
    ///
    /// # Errors
    /// [`Error::Bootstrap`] when the address cannot be resolved or bound, or the TLS material is unusable.
    pub fn start(cfg: &StoreConfig) -> Result<StoreServer> {
        Self::start_with(cfg, StoreLimits::default())
    }

    /// As [`StoreServer::start`], with the limits of a job (ranks, connections, stored bytes).
    ///
    /// # Errors
    /// As [`StoreServer::start`].
    pub fn start_with(cfg: &StoreConfig, limits: StoreLimits) -> Result<StoreServer> {
        let mut last_err = None;
        let mut listener = None;
        for addr in cfg.url.socket_addrs()? {
            match TcpListener::bind(addr) {
                Ok(l) => {
                    listener = Some(l);
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        let listener = listener.ok_or_else(|| {
            Error::Bootstrap(format!(
                "cannot listen on {}: {}; is another store (an earlier job) still using port {}? pick another \
                 SHMEM_MASTER_PORT",
                cfg.url,
                last_err.map_or_else(|| "no address".to_string(), |e| e.to_string()),
                cfg.url.port
            ))
        })?;
        Self::start_on(listener, cfg, limits)
    }

    /// Serves on a listener bound beforehand, e.g. by the unique-ID start-up, which binds a free port when the
    /// ID is made (so the port it hands out cannot be taken by another program before init) and serves on it
    /// at init. `cfg.url` is informational here; the listener's own address is what clients must reach.
    ///
    /// # Errors
    /// [`Error::Bootstrap`] when the TLS material is unusable or the listener's address cannot be read.
    pub fn start_on(listener: TcpListener, cfg: &StoreConfig, limits: StoreLimits) -> Result<StoreServer> {
        let tls = cfg.tls.as_ref().map(|t| t.server_config()).transpose()?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Bootstrap(format!("cannot read the store's bound address: {e}")))?;
        let closes = CloseOrder::new()
            .map_err(|e| Error::Bootstrap(format!("cannot create the store's epoll set for watch connections: {e}")))?;
        let shared = Arc::new(Shared {
            closes,
            reporting_losses: Mutex::new(()),
            token: cfg.token.clone(),
            limits,
            tls,
            state: Mutex::new(State {
                store: Store::with_limit(limits.max_stored_bytes),
                closing_listener: false,
                stopping: false,
                conns: HashMap::new(),
                handshaking: HashMap::new(),
                watchers: HashMap::new(),
                left: HashSet::new(),
                exit_status: None,
                authenticated: 0,
                clients: HashMap::new(),
                tickets: HashMap::new(),
            }),
            changed: Condvar::new(),
            handlers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
        });
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name("shmem-store-accept".into())
            .spawn(move || accept_loop(listener, s))
            .map_err(|e| Error::Bootstrap(format!("cannot start the store's accept thread: {e}")))?;
        info!(%addr, tls = shared.tls.is_some(), "store: serving");
        Ok(StoreServer { addr, shared, accept: Some(accept), secret_file: None })
    }

    /// Writes the job's node secret file (see [`crate::secret`]) now that the store listens, and keeps it
    /// until shutdown, which removes it before the listener closes.
    ///
    /// # Errors
    /// [`Error::Bootstrap`] when the file cannot be written safely.
    pub fn publish_secret(&mut self, mut file: crate::secret::NodeSecretFile) -> Result<()> {
        file.publish()?;
        self.secret_file = Some(file);
        Ok(())
    }

    /// The address the store listens on (with the real port when the URL asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving: releases parked requests with an error, tells watchers the store is closing (clean
    /// for ranks that left), closes every connection and joins all threads. Drop does the same.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // The secret goes first: a PE that retries at once must wait for the next store's secret.
        drop(self.secret_file.take());
        let Some(accept) = self.accept.take() else {
            return;
        };
        // Close the listener before anything else: a client that has seen the store close (a parked or new
        // request answered "shutting down", a Closing notice) and reconnects at once must not reach this store
        // again, and requests are still served normally until the listener is gone.
        self.shared.lock().closing_listener = true;
        let woke = wake_accept(self.addr);
        if woke {
            let _ = accept.join();
        } else {
            warn!(addr = %self.addr, "store: could not wake the accept thread; leaving it behind");
        }
        let (watchers, conns) = {
            let mut st = self.shared.lock();
            st.stopping = true;
            let w: Vec<_> = st.watchers.values().map(|w| (w.left, w.sink.clone())).collect();
            (w, std::mem::take(&mut st.conns))
        };
        self.shared.changed.notify_all();
        for (clean, sink) in watchers {
            send_notice(&sink, &Notice::Closing { clean });
        }
        for c in conns.values() {
            let _ = c.shutdown(Shutdown::Both);
        }
        let handlers = std::mem::take(&mut *self.shared.handlers.lock().unwrap_or_else(PoisonError::into_inner));
        for h in handlers {
            let _ = h.join();
        }
        info!(addr = %self.addr, "store: stopped");
    }
}

impl Drop for StoreServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Unblocks `accept` by connecting to the listener once (the accept loop then sees `stopping`).
fn wake_accept(addr: SocketAddr) -> bool {
    let mut target = addr;
    if addr.ip().is_unspecified() {
        target.set_ip(if addr.is_ipv4() { Ipv4Addr::LOCALHOST.into() } else { Ipv6Addr::LOCALHOST.into() });
    }
    TcpStream::connect_timeout(&target, Duration::from_secs(2)).is_ok()
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for incoming in listener.incoming() {
        if shared.lock().closing_listener {
            break;
        }
        match incoming {
            Ok(stream) => spawn_handler(&shared, stream),
            Err(e) => {
                warn!("store: accept failed: {e}; retrying");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn spawn_handler(shared: &Arc<Shared>, stream: TcpStream) {
    let peer = match stream.peer_addr() {
        Ok(p) => p,
        Err(e) => return debug!("store: dropping a connection that closed at once: {e}"),
    };
    let handle = match stream.try_clone() {
        Ok(h) => h,
        Err(e) => return warn!(%peer, "store: cannot serve {peer}: {e}"),
    };
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    {
        let mut st = shared.lock();
        if st.stopping {
            return;
        }
        // The read timeout bounds each read of a handshake, not the whole of it: close the overdue ones here.
        let now = Instant::now();
        let overdue: Vec<u64> = st
            .handshaking
            .iter()
            .filter(|(_, &at)| now.duration_since(at) >= HANDSHAKE_TIMEOUT)
            .map(|(&i, _)| i)
            .collect();
        for old in overdue {
            st.end_handshake(old);
            debug!("store: closed connection {old}: no hello within {HANDSHAKE_TIMEOUT:?}");
        }
        let max_pending = shared.limits.max_connections.max(MIN_PENDING);
        if st.handshaking.len() >= max_pending {
            // The oldest goes, not the newest: a PE of the job sends its hello at once, so the oldest one still
            // waiting is an outsider's, and refusing new connections would let anybody keep the job out.
            if let Some(oldest) = st.handshaking.iter().min_by_key(|(_, &at)| at).map(|(&i, _)| i) {
                st.end_handshake(oldest);
                warn!(%peer, "store: {max_pending} connections were in their handshake; closed the oldest");
            }
        }
        st.handshaking.insert(id, now);
        st.conns.insert(id, handle);
    }
    let s = shared.clone();
    let spawned = thread::Builder::new().name(format!("shmem-store-{id}")).spawn(move || {
        let admitted = serve(&s, id, stream, peer);
        let mut st = s.lock();
        st.conns.remove(&id);
        st.handshaking.remove(&id);
        if admitted {
            st.authenticated -= 1;
        }
    });
    let mut handlers = shared.handlers.lock().unwrap_or_else(PoisonError::into_inner);
    handlers.retain(|h| !h.is_finished());
    match spawned {
        Ok(h) => handlers.push(h),
        Err(e) => {
            warn!(%peer, "store: cannot start a thread for {peer}: {e}");
            if let Some(c) = shared.lock().conns.remove(&id) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

/// Compares tickets in time independent of where they differ.
fn token_eq_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Half-closes and drains briefly, so that the peer reads our last frame (or TLS alert) rather than a reset.
fn linger_close(conn: Conn) {
    let tcp = conn.tcp();
    let _ = tcp.shutdown(Shutdown::Write);
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(100)));
    let deadline = Instant::now() + Duration::from_millis(300);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match (&*tcp).read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn reject(mut conn: Conn, reason: &str) {
    if let Ok(f) = Response::Rejected(reason.to_string()).to_frame() {
        let _ = write_frame(&mut conn, &f);
    }
    linger_close(conn);
}

/// A handshake frame could not be read (`e`): logs it (a TLS failure as such) and closes; `false` (not admitted).
fn handshake_failed(conn: Conn, peer: SocketAddr, e: ReadError) -> bool {
    match e {
        ReadError::Eof => debug!(%peer, "store: {peer} closed during its handshake"),
        ReadError::Io(e) => {
            match tls_error(&e) {
                Some(t) => warn!(%peer, "store: TLS handshake with {peer} failed: {t}"),
                None => warn!(%peer, "store: closing the connection from {peer}: no valid handshake: {e}"),
            }
            linger_close(conn);
        }
        ReadError::Wire(e) => {
            warn!(%peer, "store: closing the connection from {peer}: not a handshake frame: {e}");
            linger_close(conn);
        }
        // (Only a client's handshake checks a proof of the store.)
        ReadError::Unproven => linger_close(conn),
    }
    false
}

/// Why a hello that carried the right token is still refused, or `None` to admit it. Registers the
/// connection (a rank's client, the use of a watch ticket) when admitted.
fn admit(st: &mut State, limits: &StoreLimits, id: u64, hello: &Hello) -> Option<String> {
    let rank = hello.rank;
    if let Some(n) = limits.n_ranks.filter(|&n| rank >= n) {
        return Some(format!("rank {rank} is outside this job of {n} PEs"));
    }
    if st.authenticated >= limits.max_connections {
        return Some(format!(
            "the store already serves {} connections, its limit (StoreLimits::max_connections)",
            limits.max_connections
        ));
    }
    match hello.role {
        Role::Client => {
            if st.clients.contains_key(&rank) {
                return Some(format!(
                    "rank {rank} has already joined this job; a rank joins once (is another process using the \
                     same rank?)"
                ));
            }
            st.clients.insert(rank, id);
        }
        Role::Watch => {
            if !st.clients.contains_key(&rank) {
                return Some(format!("rank {rank} has not joined: a watch needs its rank's client connection"));
            }
            if st.watchers.values().any(|w| w.rank == rank) {
                return Some(format!("rank {rank} already has a watch connection"));
            }
            let valid =
                st.tickets.get(&rank).is_some_and(|t| !hello.ticket.is_empty() && token_eq_bytes(t, &hello.ticket));
            if !valid {
                return Some(format!(
                    "the watch ticket for rank {rank} is not the one rank {rank}'s client connection obtained"
                ));
            }
            st.tickets.remove(&rank);
        }
        Role::Exit => {
            let joined = st.clients.contains_key(&rank) || st.watchers.values().any(|w| w.rank == rank);
            if !joined {
                return Some(format!("rank {rank} has not joined this job, so it cannot end it"));
            }
        }
    }
    st.authenticated += 1;
    None
}

/// Serves one connection; returns whether it was admitted (and so counted as authenticated).
fn serve(shared: &Shared, id: u64, stream: TcpStream, peer: SocketAddr) -> bool {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(HANDSHAKE_TIMEOUT));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut conn = match &shared.tls {
        None => Conn::Plain(stream),
        Some(cfg) => match ServerConnection::new(cfg.clone()) {
            Ok(c) => Conn::TlsServer(Box::new(StreamOwned::new(c, stream))),
            Err(e) => {
                warn!(%peer, "store: cannot start a TLS session for {peer}: {e}");
                return false;
            }
        },
    };
    // The greeting: is this a shmem store client of this version at all?
    let greeting = match read_frame(&mut conn, MAX_HELLO_FRAME).map(|p| Greeting::decode(&p)) {
        Ok(Ok(g)) => g,
        Ok(Err(e @ WireError::Version(_))) => {
            warn!(%peer, "store: rejected {peer}: {e}");
            reject(conn, &format!("{e}; run the same library version on every PE"));
            return false;
        }
        Ok(Err(e)) => {
            warn!(%peer, "store: closing the connection from {peer}: its first frame is not a greeting: {e}");
            linger_close(conn);
            return false;
        }
        Err(e) => return handshake_failed(conn, peer, e),
    };
    // The challenge: the hello must prove the token over this nonce (the token never travels), and this store
    // proves it over the greeting's.
    let nonce = match crate::secret::random_bytes(NONCE_LEN) {
        Ok(n) => n,
        Err(e) => {
            warn!(%peer, "store: cannot make a challenge for {peer}: {e}");
            return false;
        }
    };
    let challenge = Challenge::prove(&shared.token, &greeting.nonce, nonce.clone()).to_frame().unwrap_or_default();
    if let Err(e) = write_frame(&mut conn, &challenge) {
        debug!(%peer, "store: lost {peer} during the handshake: {e}");
        return false;
    }
    let second = read_frame(&mut conn, MAX_HELLO_FRAME);
    shared.lock().handshaking.remove(&id);
    let hello = match second.map(|p| Hello::decode(&p)) {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => {
            warn!(%peer, "store: closing the connection from {peer}: its hello is not valid: {e}");
            linger_close(conn);
            return false;
        }
        Err(e) => return handshake_failed(conn, peer, e),
    };
    if !hello.proves(&shared.token, &nonce) {
        warn!(%peer, rank = hello.rank, "store: rejected rank {} at {peer}: wrong job token", hello.rank);
        reject(
            conn,
            "the job secret was rejected; every PE of a job must use the same SHMEM_JOB_TOKEN (or unique ID, or \
             launcher)",
        );
        return false;
    }
    let refused = {
        let mut st = shared.lock();
        if st.stopping {
            Some("the store is shutting down".to_string())
        } else {
            admit(&mut st, &shared.limits, id, &hello)
        }
    };
    if let Some(why) = refused {
        warn!(%peer, rank = hello.rank, role = ?hello.role, "store: refused {peer}: {why}");
        reject(conn, &why);
        return false;
    }
    let ok = Response::Ok.to_frame().unwrap_or_default();
    if hello.role == Role::Watch {
        // A watch is answered only once its watcher is registered (see `serve_watch`).
        let _ = conn.tcp().set_read_timeout(None);
        serve_watch(shared, id, conn, peer, hello.rank, &ok);
    } else if let Err(e) = write_frame(&mut conn, &ok) {
        debug!(%peer, "store: lost {peer} during the handshake: {e}");
    } else {
        let _ = conn.tcp().set_read_timeout(None);
        debug!(%peer, rank = hello.rank, role = ?hello.role, "store: accepted");
        match hello.role {
            Role::Client => serve_client(shared, conn, peer, hello.rank, false),
            Role::Exit => serve_client(shared, conn, peer, hello.rank, true),
            Role::Watch => {} // served above
        }
    }
    let mut st = shared.lock();
    if hello.role == Role::Client && st.clients.get(&hello.rank) == Some(&id) {
        st.clients.remove(&hello.rank);
        st.tickets.remove(&hello.rank);
    }
    true
}

/// Answers the requests of a client connection (`exit_only`: an exit connection, which may only end the job).
fn serve_client(shared: &Shared, mut conn: Conn, peer: SocketAddr, rank: u32, exit_only: bool) {
    loop {
        let payload = match read_frame(&mut conn, MAX_FRAME) {
            Ok(p) => p,
            Err(ReadError::Eof) => return debug!(%peer, rank, "store: client closed"),
            // A client that exits without closing its TLS session, or dies mid-frame: not an attack, just gone.
            Err(ReadError::Io(e)) if matches!(e.kind(), IoKind::UnexpectedEof | IoKind::ConnectionReset) => {
                return debug!(%peer, rank, "store: client went away: {e}");
            }
            Err(e) => {
                if !shared.lock().stopping {
                    warn!(%peer, rank, "store: closing the connection of rank {rank} at {peer}: {e}");
                }
                return;
            }
        };
        let request = match Request::decode(&payload) {
            Ok(r) => r,
            Err(e) => {
                warn!(%peer, rank, "store: closing the connection of rank {rank} at {peer}: bad request: {e}");
                return;
            }
        };
        let response = match request {
            Request::GlobalExit { .. } if exit_only => handle(shared, rank, request),
            _ if exit_only => Response::Error {
                kind: ErrorKind::InvalidParam,
                message: "an exit connection may only send the global exit".into(),
            },
            request => handle(shared, rank, request),
        };
        let frame = response.to_frame().or_else(|e| {
            Response::Error { kind: ErrorKind::InvalidParam, message: format!("the answer does not fit a frame: {e}") }
                .to_frame()
        });
        let Ok(frame) = frame else { return };
        if let Err(e) = write_frame(&mut conn, &frame) {
            return debug!(%peer, rank, "store: cannot answer rank {rank}: {e}");
        }
    }
}
