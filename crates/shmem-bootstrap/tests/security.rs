//! Nobody outside the job may join, end or disturb it (issue 10): an outsider who knows the address and
//! guesses a token is refused whatever role it claims; inside the job a rank joins once, a watch needs its
//! rank's ticket, an exit connection can only end the job, and connections and stored bytes are capped.

mod common;

use common::{client, config, start};
use shmem_bootstrap::wire::{
    read_frame, unverified_handshake, write_frame, Challenge, Greeting, Request, Response, Role, MAX_FRAME, NONCE_LEN,
};
use shmem_bootstrap::{JobEvent, StoreClient, StoreConfig, StoreLimits, StoreServer};
use shmem_core::Error;
use std::net::TcpStream;
use std::sync::mpsc::channel;
use std::time::Duration;

/// Sends a raw hello and returns the store's answer (`None`: it closed without one). An outsider does not check
/// the store's proof, so that the store's own check of the hello is what is tested.
fn raw_hello(cfg: &StoreConfig, role: Role, rank: u32, token: &str, ticket: &[u8]) -> (TcpStream, Option<Response>) {
    let mut s = TcpStream::connect(("127.0.0.1", cfg.url.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let answer = unverified_handshake(&mut s, role, rank, token, ticket.to_vec()).ok();
    (s, answer)
}

fn rejected(answer: &Option<Response>, why: &str) -> bool {
    matches!(answer, Some(Response::Rejected(r)) if r.contains(why))
}

/// Sends one request on a raw, accepted connection and reads the answer.
fn raw_request(s: &mut TcpStream, r: &Request) -> Option<Response> {
    write_frame(s, &r.to_frame().unwrap()).ok()?;
    read_frame(s, MAX_FRAME).ok().and_then(|p| Response::decode(&p).ok())
}

#[test]
fn an_outsider_with_a_guessed_token_can_do_nothing() {
    let (_server, cfg) = start();
    // A job of two ranks, with their watches.
    let (tx, rx) = channel();
    let c0 = client(&cfg, 0);
    let c1 = client(&cfg, 1);
    let tx1 = tx.clone();
    let _w0 = c0
        .watch(move |e| {
            let _ = tx.send((0, e));
        })
        .unwrap();
    let _w1 = c1
        .watch(move |e| {
            let _ = tx1.send((1, e));
        })
        .unwrap();
    c0.set("data", b"job's own").unwrap();
    // The old derived token, and other guesses, for every role and rank.
    let derived = format!("shmem-job@{}", cfg.url);
    for token in [derived.as_str(), "", "job-token ", "JOB-TOKEN", "shmem-job@tcp://localhost:1"] {
        for role in [Role::Client, Role::Watch, Role::Exit] {
            for rank in [0, 1, 7] {
                let (mut s, answer) = raw_hello(&cfg, role, rank, token, b"guess");
                assert!(rejected(&answer, "secret was rejected"), "{role:?} rank {rank} {token:?}: {answer:?}");
                // Nothing it sends afterwards is served.
                assert_eq!(raw_request(&mut s, &Request::GlobalExit { status: 9 }), None);
            }
        }
        let mut outsider = cfg.clone();
        outsider.token = token.into();
        // A client with another token stops at the store's proof: it sends nothing more.
        let e = StoreClient::global_exit_from(&outsider, 1, 9).unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::Bootstrap(_)) && msg.contains("could not prove that it knows the job's token"),
            "{e}"
        );
    }
    // No event reached the job, and it goes on with its data.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "an outsider disturbed the job");
    assert_eq!(c1.get("data", Duration::from_secs(5)).unwrap(), b"job's own");
    let t = std::thread::spawn(move || c1.barrier("b", 2, Duration::from_secs(5)));
    c0.barrier("b", 2, Duration::from_secs(5)).unwrap();
    t.join().unwrap().unwrap();
}

#[test]
fn a_rank_joins_once_and_watches_only_with_its_own_ticket() {
    let server = StoreServer::start_with(&config(0, "job-token", None), StoreLimits::for_job(3)).unwrap();
    let cfg = config(server.local_addr().port(), "job-token", None);
    let token = cfg.token.clone();
    // A rank outside the job.
    let e = StoreClient::connect(&cfg, 3).unwrap_err();
    assert!(e.to_string().contains("rank 3 is outside this job of 3 PEs"), "{e}");
    let c0 = client(&cfg, 0);
    let c1 = client(&cfg, 1);
    // A second client for a joined rank.
    let e = StoreClient::connect(&cfg, 1).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)) && e.to_string().contains("rank 1 has already joined"), "{e}");
    // Watches: none for a rank that has not joined, none without or with a wrong or another rank's ticket.
    assert!(rejected(&raw_hello(&cfg, Role::Watch, 2, &token, b"x").1, "rank 2 has not joined"));
    assert!(rejected(&raw_hello(&cfg, Role::Watch, 1, &token, b"").1, "watch ticket for rank 1"));
    let (mut s, _) = raw_hello(&cfg, Role::Client, 2, &token, b"");
    let Some(Response::Value(Some(ticket2))) = raw_request(&mut s, &Request::WatchTicket) else { panic!() };
    assert!(rejected(&raw_hello(&cfg, Role::Watch, 1, &token, &ticket2).1, "watch ticket for rank 1"));
    // Rank 2's ticket works once, for rank 2.
    let (_w2, answer) = raw_hello(&cfg, Role::Watch, 2, &token, &ticket2);
    assert_eq!(answer, Some(Response::Ok));
    assert!(rejected(&raw_hello(&cfg, Role::Watch, 2, &token, &ticket2).1, "already has a watch"));
    // The genuine watches of ranks 0 and 1; a second watch for rank 1 is refused even with a fresh ticket.
    let (tx, rx) = channel();
    let _w0 = c0
        .watch(move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
    let w1 = c1.watch(|_| {}).unwrap();
    let e = c1.watch(|_| {}).unwrap_err();
    assert!(e.to_string().contains("rank 1 already has a watch"), "{e}");
    // An exit connection: only for a joined rank, and it can do nothing else.
    let (mut x, answer) = raw_hello(&cfg, Role::Exit, 1, &token, b"");
    assert_eq!(answer, Some(Response::Ok));
    let r = raw_request(&mut x, &Request::Set { key: "k".into(), value: b"v".to_vec() });
    assert!(matches!(r, Some(Response::Error { .. })), "{r:?}");
    let r = raw_request(&mut x, &Request::Leave);
    assert!(matches!(r, Some(Response::Error { .. })), "{r:?}");
    assert_eq!(c0.try_get("k").unwrap(), None);
    // Nothing so far was a job event; rank 1's genuine watch closing without leave is one.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    drop(w1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), JobEvent::PeerLost(1));
    // When rank 1's client is gone the rank may join again (a new init), and a global exit from it arrives.
    drop(c1);
    let c1 = client(&cfg, 1);
    StoreClient::global_exit_from(&cfg, 1, 5).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), JobEvent::GlobalExit(5));
    drop(c1);
}

#[test]
fn an_exit_connection_needs_a_rank_that_joined() {
    let (_server, cfg) = start();
    let _c0 = client(&cfg, 0);
    let e = StoreClient::global_exit_from(&cfg, 4, 1).unwrap_err();
    assert!(e.to_string().contains("rank 4 has not joined"), "{e}");
}

#[test]
fn connections_and_stored_bytes_are_capped_with_a_clear_error() {
    let limits = StoreLimits { n_ranks: None, max_connections: 3, max_stored_bytes: 1000 };
    let server = StoreServer::start_with(&config(0, "job-token", None), limits).unwrap();
    let cfg = config(server.local_addr().port(), "job-token", None);
    let clients: Vec<_> = (0..3).map(|r| client(&cfg, r)).collect();
    let e = StoreClient::connect(&cfg, 3).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)) && e.to_string().contains("already serves 3 connections"), "{e}");
    clients[0].set("a", &[0; 900]).unwrap();
    let e = clients[1].set("b", &[0; 200]).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)) && e.to_string().contains("store is full"), "{e}");
    assert!(e.to_string().contains("limit of 1000 B"), "{e}");
    let e = clients[1].allgather("g", 2, &[0; 200], Duration::from_secs(1)).unwrap_err();
    assert!(e.to_string().contains("store is full"), "{e}");
    // Freeing space makes room again, and a closed connection frees its slot.
    clients[0].delete("a").unwrap();
    clients[1].set("b", &[7; 200]).unwrap();
    drop(clients);
    let c = client(&cfg, 3);
    assert_eq!(c.get("b", Duration::from_secs(5)).unwrap(), vec![7; 200]);
}

/// Whether the store closed `s` within `within` (end of stream or an error on read).
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0))
        || matches!(s.read(&mut buf), Err(e) if e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut)
}

/// Outsiders that fill the store's handshake slots (128 silent connections) cannot keep a PE of the job out: a
/// new connection closes the oldest waiting one instead of being refused itself.
#[test]
fn a_full_handshake_queue_closes_the_oldest_not_the_newcomer() {
    // A job's limits: 4 PEs, 28 connections, so the handshake slots are the minimum of 128.
    let server = StoreServer::start_with(&config(0, "job-token", None), StoreLimits::for_job(4)).unwrap();
    let cfg = config(server.local_addr().port(), "job-token", None);
    let mut silent: Vec<TcpStream> =
        (0..128).map(|_| TcpStream::connect(("127.0.0.1", cfg.url.port)).unwrap()).collect();
    // (Each is accepted in order; give the accept thread a moment to have them all.)
    std::thread::sleep(Duration::from_millis(300));
    let c = client(&cfg, 0);
    c.set("k", b"v").unwrap();
    assert_eq!(c.get("k", Duration::from_secs(5)).unwrap(), b"v");
    assert!(closed_within(&mut silent[0], Duration::from_secs(5)), "the oldest silent connection was kept");
}

/// The handshake timeout bounds the whole handshake, not each read of it: an outsider that sends a byte of its
/// hello now and then (each read well within the timeout) is closed once the whole handshake took longer.
#[test]
fn a_trickled_hello_is_closed_after_the_handshake_timeout() {
    use std::io::Write;
    let (_server, cfg) = start();
    let mut slow = TcpStream::connect(("127.0.0.1", cfg.url.port)).unwrap();
    let hello = Greeting { nonce: vec![0; NONCE_LEN] }.to_frame().unwrap();
    let start = std::time::Instant::now();
    let mut sent = 0;
    // One byte every 2 s (the per-read timeout is 10 s) until the 10 s handshake timeout is over.
    while start.elapsed() < shmem_bootstrap::server::HANDSHAKE_TIMEOUT + Duration::from_secs(1) {
        slow.write_all(&hello[sent..sent + 1]).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(sent < hello.len(), "the hello must still be incomplete");
    // The next connection makes the store look at the overdue ones.
    let c = client(&cfg, 0);
    assert!(closed_within(&mut slow, Duration::from_secs(5)), "a hello trickled for {:?} was kept", start.elapsed());
    c.set("k", b"v").unwrap();
}

/// A listener at the store's address that is not the job's store (a port taken over, an ID naming another host):
/// it cannot prove the job's token, so the client sends it nothing after its greeting (not even the hello) and
/// fails naming the address; and what it may answer instead of a challenge (a rejection, read before anything
/// is proved) reaches the client's error shortened to 300 characters and escaped, or, above the hello bound
/// (4 KiB), not at all.
#[test]
fn an_impostor_store_learns_nothing_and_cannot_flood_or_garble_the_clients_error() {
    enum Answer {
        Challenge,
        Rejected(usize),
    }
    for answer in [Answer::Challenge, Answer::Rejected(3000), Answer::Rejected(100_000)] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let challenge = matches!(answer, Answer::Challenge);
        let fake = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            read_frame(&mut s, MAX_FRAME).unwrap(); // the greeting
            let frame = match answer {
                // A challenge with a proof made with another token.
                Answer::Challenge => Challenge::prove("not-the-job-token", &[0; NONCE_LEN], vec![7; NONCE_LEN]),
                Answer::Rejected(len) => {
                    let why = format!("\x1b[2J\x1b[31m{}", "A".repeat(len));
                    let _ = write_frame(&mut s, &Response::Rejected(why).to_frame().unwrap());
                    return None;
                }
            };
            write_frame(&mut s, &frame.to_frame().unwrap()).unwrap();
            // What the client sends next: nothing (it closes).
            Some(read_frame(&mut s, MAX_FRAME).map(|f| f.len()).map_err(|e| e.to_string()))
        });
        let e = StoreClient::connect(&config(port, "job-token", None), 0).expect_err("an impostor's answer");
        let msg = e.to_string();
        let sent_after = fake.join().unwrap();
        assert!(!msg.contains('\x1b'), "raw control bytes in the error: {msg:?}");
        assert!(msg.len() < 1000, "an error of {} bytes", msg.len());
        if challenge {
            assert!(msg.contains("could not prove that it knows the job's token"), "{msg}");
            assert!(matches!(sent_after, Some(Err(_))), "the client sent the impostor a frame: {sent_after:?}");
        }
    }
    // And the real store proves it: a client of the job connects.
    let (_server, cfg) = start();
    drop(client(&cfg, 0));
}
