//! The connection handshake between real engines, watched on the wire: the job's secret never crosses it, a
//! recorded handshake replayed to a target is refused, and an initiator that reaches a listener that does not
//! know the secret (a process that took a dead PE's port) fails its operation with an error naming the PE and the
//! address, sending it nothing but its hello.

use shmem_core::conformance::{Testbed, TESTBED_SECRET};
use shmem_core::engine::{BuildEngine, Completion, DataOpEngine, Put};
use shmem_core::engine_setup::{EngineSetup, KeyExchange};
use shmem_core::{HeapOffset, Pe, Result};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use transport_tcp::wire::{CHALLENGE_LEN, HELLO_LEN, MAGIC, PROOF_LEN};
use transport_tcp::TcpEngine;

mod common;
use common::job_still_works;

/// The bytes one forwarded connection carried: `up` from the initiator to the target, `down` back.
#[derive(Debug, Default, Clone)]
struct Recorded {
    up: Vec<u8>,
    down: Vec<u8>,
}

/// A forwarding proxy on 127.0.0.1 between PE 0 and PE 1's progress thread that records every byte of every
/// connection it forwards.
struct Proxy {
    conns: Arc<Mutex<Vec<Arc<Mutex<Recorded>>>>>,
    /// Where PE 1 really listens (learned from the exchange).
    target: Arc<OnceLock<SocketAddr>>,
}

impl Proxy {
    /// What connection `i` carried so far.
    fn recorded(&self, i: usize) -> Recorded {
        self.conns.lock().unwrap()[i].lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.conns.lock().unwrap().len()
    }
}

/// Copies `from` to `to`, appending what passes to `log` (`up`: which direction), until either end closes.
fn pump(mut from: TcpStream, mut to: TcpStream, log: Arc<Mutex<Recorded>>, up: bool) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut l = log.lock().unwrap();
            if up { &mut l.up } else { &mut l.down }.extend_from_slice(&buf[..n]);
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Starts the proxy's accepting thread on `listener` (it runs until the test process ends).
fn start_proxy(listener: TcpListener) -> Proxy {
    let proxy = Proxy { conns: Arc::default(), target: Arc::default() };
    let (conns, target) = (proxy.conns.clone(), proxy.target.clone());
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            let Some(&addr) = target.get() else { continue };
            let Ok(server) = TcpStream::connect(addr) else { continue };
            let _ = (client.set_nodelay(true), server.set_nodelay(true));
            let log = Arc::new(Mutex::new(Recorded::default()));
            conns.lock().unwrap().push(log.clone());
            let (c2, s2, log2) = (client.try_clone().unwrap(), server.try_clone().unwrap(), log.clone());
            std::thread::spawn(move || pump(client, server, log, true));
            std::thread::spawn(move || pump(s2, c2, log2, false));
        }
    });
    proxy
}

/// PE 0's view of the exchange: PE 1's published listening address is replaced by the proxy's (and the real one
/// handed to the proxy), so that PE 0's connection to PE 1 goes through it.
struct ThroughProxy<'a> {
    inner: &'a dyn KeyExchange,
    proxy: SocketAddr,
    real: &'a OnceLock<SocketAddr>,
}

impl KeyExchange for ThroughProxy<'_> {
    fn allgather(&self, key: &str, mine: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>> {
        let mut all = self.inner.allgather(key, mine, timeout)?;
        if key == "tcp/listen" {
            let text = String::from_utf8(all[1].clone()).expect("a text address");
            let (addr, id) = text.split_once(' ').unwrap_or((&text, ""));
            let _ = self.real.set(addr.parse().expect("a socket address"));
            all[1] = format!("{} {id}", self.proxy).into_bytes();
        }
        Ok(all)
    }
}

/// A two-PE job (two nodes) whose PE 0 reaches PE 1 through a recording proxy.
fn bed_through_proxy() -> (Testbed<TcpEngine>, Proxy) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_addr = listener.local_addr().unwrap();
    let proxy = start_proxy(listener);
    let real = proxy.target.clone();
    let bed = Testbed::on_nodes(vec![0, 1], move |setup: &EngineSetup<'_>| {
        if setup.me != Pe(0) {
            return TcpEngine::build(setup);
        }
        let wrapped = ThroughProxy { inner: setup.exchange.expect("an exchange"), proxy: proxy_addr, real: &real };
        let mut setup = *setup;
        setup.exchange = Some(&wrapped);
        TcpEngine::build(&setup)
    });
    (bed, proxy)
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Everything the peer of `s` sends until it closes the connection (end of stream or reset) or `within` passes;
/// `true` with it when it closed.
fn read_until_closed(s: &mut TcpStream, within: Duration) -> (bool, Vec<u8>) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (false, got);
        }
        s.set_read_timeout(Some(left)).unwrap();
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return (true, got),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return (false, got),
            Err(e) => panic!("reading: {e}"),
        }
    }
}

/// Every byte PE 0 sends PE 1 on a real connection (the handshake, then a put, a quiet's flush and a get) goes
/// through a proxy that records it: the job's secret is in none of them, either way. (Version 1 of the hello
/// carried the secret in clear, so that anyone who saw one connection could then write every PE's heap.)
#[test]
fn the_secret_never_crosses_the_wire() {
    let (bed, proxy) = bed_through_proxy();
    job_still_works(&bed, 1);
    assert_eq!(proxy.count(), 1, "PE 0 opened one connection to PE 1, through the proxy");
    let r = proxy.recorded(0);
    assert!(r.up.starts_with(&MAGIC), "the connection starts with a hello: {:?}", &r.up[..r.up.len().min(16)]);
    assert!(r.up.len() > 100 && !r.down.is_empty(), "the proxy saw the job's traffic ({} B up)", r.up.len());
    assert!(!contains(&r.up, TESTBED_SECRET), "the initiator sent the job's secret");
    assert!(!contains(&r.down, TESTBED_SECRET), "the target sent the job's secret");
}

/// A handshake recorded on the wire and replayed to the same target on a new connection proves nothing: the
/// target answers the replayed hello with a challenge over a fresh nonce, which the recorded proof does not
/// cover, and closes the connection without the ok byte; the bytes that followed the proof (requests) are never
/// applied. The target still serves the job afterwards.
#[test]
fn a_replayed_handshake_is_refused() {
    let (bed, proxy) = bed_through_proxy();
    job_still_works(&bed, 2);
    let r = proxy.recorded(0);
    let real = *proxy.target.get().expect("the proxy learned PE 1's address");
    assert_eq!(bed.local_bytes(1, 8192, 64), vec![2u8; 64]);
    // A marker where the replayed put (64 B of round 2 at 8192) would write again.
    bed.set_local_bytes(1, 8192, &[0xAB; 64]);
    // The hello and the proof alone, then everything the initiator sent (its put, flush and get too).
    for replay in [&r.up[..HELLO_LEN + PROOF_LEN], &r.up[..]] {
        let mut s = TcpStream::connect(real).unwrap();
        s.write_all(replay).unwrap();
        let (closed, answer) = read_until_closed(&mut s, Duration::from_secs(5));
        assert!(closed, "a replayed handshake ({} B) was not refused: the target kept the connection", replay.len());
        assert_eq!(answer.len(), CHALLENGE_LEN, "the target answered the replay with more than its challenge");
        assert_ne!(answer[..], r.down[..CHALLENGE_LEN], "the target's nonce was not fresh");
    }
    assert_eq!(bed.local_bytes(1, 8192, 64), vec![0xAB; 64], "the replayed put was applied");
    job_still_works(&bed, 3);
}

/// PE 1 has exited and another process took its port: a listener that answers the hello with random bytes (it
/// does not know the job's secret). PE 0's first operation on PE 1 fails at once with an error that names the PE
/// and the address and says why, and the impostor receives nothing but the hello: no secret, no request (a put's
/// data would be handed to it; a get would take its answer as PE 1's memory).
#[test]
fn an_impostor_listener_is_sent_nothing_and_the_operation_fails() {
    let mut bed: Testbed<TcpEngine> = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let addr = bed.engines[0].peer_addr(Pe(1));
    drop(bed.engines.pop().unwrap());
    let impostor = TcpListener::bind(addr).expect("PE 1's port, free again");
    let received = std::thread::spawn(move || {
        let (mut s, _) = impostor.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = vec![0u8; 4096];
        let n = s.read(&mut got).unwrap();
        got.truncate(n);
        let mut noise = [0u8; CHALLENGE_LEN];
        std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut noise).unwrap();
        s.write_all(&noise).unwrap();
        let (closed, rest) = read_until_closed(&mut s, Duration::from_secs(20));
        got.extend_from_slice(&rest);
        (closed, got)
    });
    let e = &bed.engines[0];
    let data = [0x5Au8; 64];
    let t = Instant::now();
    let put = Put { pe: Pe(1), dst: HeapOffset(0), src: data.as_ptr(), len: data.len(), signal: None };
    // SAFETY: data outlives the call and the quiet.
    let err = unsafe { e.put(put, Completion::Blocking) }.and_then(|()| e.quiet()).expect_err("a put to an impostor");
    let msg = err.to_string();
    assert!(t.elapsed() < Duration::from_secs(10), "failing took {:?}", t.elapsed());
    assert!(matches!(err, shmem_core::Error::Inner(_)), "{err:?}");
    for part in ["PE 1", &addr.to_string(), "does not know the job's secret"] {
        assert!(msg.contains(part), "the error does not say {part:?}: {msg}");
    }
    let (closed, got) = received.join().unwrap();
    assert!(closed, "the initiator kept its connection to the impostor");
    assert_eq!(got.len(), HELLO_LEN, "the impostor was sent more than a hello: {} B", got.len());
    assert!(got.starts_with(&MAGIC) && !contains(&got, TESTBED_SECRET));
}
