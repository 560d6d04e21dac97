//! Key-value operations, blocking waits, collectives and robustness of the store, over real sockets.

mod common;

use common::{client, config, start};
use shmem_bootstrap::wire::{self, Request, Role};
use shmem_bootstrap::{StoreClient, StoreServer};
use shmem_core::Error;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const LONG: Duration = Duration::from_secs(10);

#[test]
fn concurrent_add_cas_append_lose_no_update() {
    const THREADS: u32 = 16;
    const OPS: u32 = 200;
    let (_server, cfg) = start();
    let handles: Vec<_> = (0..THREADS)
        .map(|rank| {
            let cfg = cfg.clone();
            thread::spawn(move || {
                let c = client(&cfg, rank);
                for _ in 0..OPS {
                    c.add("counter", 1).unwrap();
                    // Increment by compare-and-swap, retrying with the value the store reports.
                    let mut seen = c.try_get("cas").unwrap();
                    loop {
                        let next =
                            seen.as_deref().map_or(0, |v| std::str::from_utf8(v).unwrap().parse::<u64>().unwrap()) + 1;
                        let (swapped, now) =
                            c.compare_and_swap("cas", seen.as_deref(), next.to_string().as_bytes()).unwrap();
                        if swapped {
                            break;
                        }
                        seen = now;
                    }
                    c.append("log", &[rank as u8]).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let c = client(&cfg, 0);
    let total = u64::from(THREADS * OPS);
    assert_eq!(c.add("counter", 0).unwrap(), total as i64);
    assert_eq!(c.get("counter", LONG).unwrap(), total.to_string().as_bytes());
    assert_eq!(c.try_get("cas").unwrap().unwrap(), total.to_string().as_bytes());
    let log = c.try_get("log").unwrap().unwrap();
    assert_eq!(log.len() as u64, total);
    for rank in 0..THREADS {
        assert_eq!(log.iter().filter(|&&b| u32::from(b) == rank).count() as u32, OPS, "rank {rank}");
    }
    assert_eq!(c.append("log", b"").unwrap(), total);
}

#[test]
fn one_client_shared_by_threads() {
    let (_server, cfg) = start();
    let c = Arc::new(client(&cfg, 0));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            thread::spawn(move || {
                for _ in 0..100 {
                    c.add("n", 2).unwrap();
                }
            })
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(c.add("n", 0).unwrap(), 800);
}

#[test]
fn handles_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<StoreClient>();
    send_sync::<StoreServer>();
    send_sync::<shmem_bootstrap::Watch>();
    send_sync::<shmem_bootstrap::StoreConfig>();
}

#[test]
fn basic_operations() {
    let (_server, cfg) = start();
    let c = client(&cfg, 0);
    assert_eq!(c.try_get("k").unwrap(), None);
    c.set("k", b"v1").unwrap();
    assert_eq!(c.try_get("k").unwrap().unwrap(), b"v1");
    c.set("k", b"").unwrap();
    assert_eq!(c.get("k", LONG).unwrap(), b"");
    assert!(c.delete("k").unwrap());
    assert!(!c.delete("k").unwrap());
    assert_eq!(c.compare_and_swap("k", Some(b"x"), b"y").unwrap(), (false, None));
    assert_eq!(c.compare_and_swap("k", None, b"y").unwrap(), (true, Some(b"y".to_vec())));
    assert_eq!(c.add("c", -4).unwrap(), -4);
    let e = c.add("k", 1).unwrap_err();
    assert!(matches!(e, Error::InvalidValue(_)), "{e}");
    let e = c.barrier("b", 2, Duration::from_millis(10)).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    let bad_rank = client(&cfg, 5);
    assert!(matches!(bad_rank.barrier("b", 2, LONG).unwrap_err(), Error::InvalidParam(_)));
    assert_eq!(c.rank(), 0);
}

#[test]
fn blocking_get_waits_without_blocking_others() {
    let (_server, cfg) = start();
    let waiter = {
        let cfg = cfg.clone();
        thread::spawn(move || {
            let t = Instant::now();
            let v = client(&cfg, 1).get("late", LONG).unwrap();
            (v, t.elapsed())
        })
    };
    let c = client(&cfg, 0);
    thread::sleep(Duration::from_millis(200));
    // The parked get does not hold up other clients.
    let t = Instant::now();
    for i in 0..20 {
        c.set(&format!("other{i}"), b"x").unwrap();
    }
    assert!(t.elapsed() < Duration::from_secs(2));
    c.set("late", b"here").unwrap();
    let (v, waited) = waiter.join().unwrap();
    assert_eq!(v, b"here");
    assert!(waited >= Duration::from_millis(200), "{waited:?}");
}

#[test]
fn blocking_get_times_out() {
    let (_server, cfg) = start();
    let c = client(&cfg, 0);
    let t = Instant::now();
    let e = c.get("never", Duration::from_millis(300)).unwrap_err();
    let waited = t.elapsed();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    assert_eq!(e.code(), shmem_core::error::code::TIMEOUT_ERROR);
    assert!(e.to_string().contains("never"), "{e}");
    assert!(waited >= Duration::from_millis(300) && waited < Duration::from_secs(2), "{waited:?}");
    // The connection is still usable after the timeout.
    c.set("never", b"now").unwrap();
    assert_eq!(c.get("never", Duration::from_millis(300)).unwrap(), b"now");
}

#[test]
fn barrier_and_allgather_with_8_clients_over_many_rounds() {
    const N: u32 = 8;
    const ROUNDS: u32 = 40;
    let (_server, cfg) = start();
    let handles: Vec<_> = (0..N)
        .map(|rank| {
            let cfg = cfg.clone();
            thread::spawn(move || {
                let c = client(&cfg, rank);
                for round in 0..ROUNDS {
                    c.add("arrived", 1).unwrap();
                    c.barrier("b", N, LONG).unwrap();
                    // Everybody incremented before anybody left the barrier.
                    let arrived = c.add("arrived", 0).unwrap();
                    assert!(arrived >= i64::from(N * (round + 1)), "round {round}: {arrived}");
                    let mine = format!("{rank}:{round}");
                    let all = c.allgather("g", N, mine.as_bytes(), LONG).unwrap();
                    let expect: Vec<Vec<u8>> = (0..N).map(|r| format!("{r}:{round}").into_bytes()).collect();
                    assert_eq!(all, expect, "round {round}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn collective_timeouts_name_the_missing_ranks() {
    let (_server, cfg) = start();
    let wait = Duration::from_millis(500);
    let run = |ranks: Vec<u32>, gather: bool| {
        // Connect first, so that the arrivals themselves are close together.
        let clients: Vec<_> = ranks.into_iter().map(|r| client(&cfg, r)).collect();
        let hs: Vec<_> = clients
            .into_iter()
            .map(|c| {
                thread::spawn(move || {
                    if gather {
                        c.allgather("g", 4, &[c.rank() as u8], wait).map(|_| ())
                    } else {
                        c.barrier("b", 4, wait)
                    }
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
    };
    for gather in [false, true] {
        for r in run(vec![0, 2], gather) {
            match r.unwrap_err() {
                Error::Timeout { missing_pes, waited, what } => {
                    assert_eq!(missing_pes, vec![1, 3], "{what}");
                    assert_eq!(waited, wait);
                }
                other => panic!("{other}"),
            }
        }
        // The same name works afterwards with everybody present.
        assert!(run(vec![0, 1, 2, 3], gather).into_iter().all(|r| r.is_ok()));
    }
    let e = client(&cfg, 0).barrier("solo", 3, Duration::from_millis(50)).unwrap_err();
    assert!(e.to_string().contains("[1, 2]"), "{e}");
}

/// Sends raw bytes (then half-closes when `eof`) and expects the store to close the connection in time.
fn expect_closed(port: u16, bytes: &[u8], eof: bool) {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    if eof {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(t.elapsed() < Duration::from_secs(3), "the store closed {bytes:02x?} at once");
}

#[test]
fn garbage_and_oversized_frames_leave_the_store_serving() {
    let (server, cfg) = start();
    let port = server.local_addr().port();
    let early = client(&cfg, 0);
    expect_closed(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false);
    expect_closed(port, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3], false);
    expect_closed(port, &[0, 0, 0, 8, b'N', b'O', b'P', b'E', 0, 1, 1, 0], false);
    expect_closed(port, &[0, 0, 0], true);
    expect_closed(port, &[0, 0, 0, 9, b'S'], true);
    // A client that shook hands and then sends nonsense (an unknown opcode, a frame over the bound) is cut off too.
    let huge = ((wire::MAX_FRAME as u32) + 1).to_be_bytes().to_vec();
    for (rank, tail) in [(3, vec![0, 0, 0, 1, 0x7f]), (4, huge)] {
        let t = Instant::now();
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let answer = wire::client_handshake(&mut s, Role::Client, rank, &cfg.token, Vec::new()).unwrap();
        assert_eq!(answer, wire::Response::Ok);
        s.write_all(&tail).unwrap();
        let mut buf = [0u8; 64];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        assert!(t.elapsed() < Duration::from_secs(3), "the store did not close rank {rank}'s connection at once");
    }
    let oversized_request = Request::Set { key: "k".into(), value: vec![0; wire::MAX_FRAME] };
    assert!(oversized_request.to_frame().is_err());
    assert!(matches!(early.set("big", &vec![0; wire::MAX_FRAME]).unwrap_err(), Error::InvalidParam(_)));
    // Old and new clients still work.
    early.set("still", b"up").unwrap();
    assert_eq!(client(&cfg, 1).get("still", LONG).unwrap(), b"up");
}

#[test]
fn wrong_token_is_rejected_at_once() {
    let (_server, cfg) = start();
    let mut other = cfg.clone();
    other.token = "another-job".into();
    let t = Instant::now();
    let e = StoreClient::connect(&other, 0).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)), "{e}");
    assert!(e.to_string().contains("could not prove that it knows the job's token"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(3), "no retry loop on rejection");
    client(&cfg, 0).set("ok", b"1").unwrap();
}

#[test]
fn restart_on_the_same_port() {
    let (server, cfg) = start();
    let port = server.local_addr().port();
    let c = client(&cfg, 0);
    c.set("a", b"1").unwrap();
    let waiter = {
        let cfg = cfg.clone();
        thread::spawn(move || client(&cfg, 1).get("never", LONG))
    };
    thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    server.shutdown();
    assert!(t.elapsed() < Duration::from_secs(3), "shutdown releases parked requests");
    let e = waiter.join().unwrap().unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)), "{e}");
    assert!(matches!(c.set("a", b"2").unwrap_err(), Error::Bootstrap(_)));
    for round in 0..3 {
        let server = StoreServer::start(&config(port, "job-token", None)).expect("rebind the same port");
        assert_eq!(server.local_addr().port(), port);
        // The old client reconnects to the new store on its next call.
        let _ = c.try_get("a");
        let fresh = client(&cfg, 1);
        assert_eq!(fresh.try_get("a").unwrap(), None, "round {round}: a new store starts empty");
        fresh.set("a", b"x").unwrap();
        drop(server);
    }
}

#[test]
fn connect_retries_until_the_store_appears_and_gives_up_in_time() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cfg = config(port, "job-token", None);
    cfg.connect_timeout = Duration::from_millis(300);
    let t = Instant::now();
    let e = StoreClient::connect(&cfg, 0).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)), "{e}");
    assert!(t.elapsed() >= Duration::from_millis(300) && t.elapsed() < Duration::from_secs(3));
    cfg.connect_timeout = Duration::from_secs(5);
    let starter = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        StoreServer::start(&config(port, "job-token", None)).unwrap()
    });
    let c = StoreClient::connect(&cfg, 0).unwrap();
    let _server = starter.join().unwrap();
    c.set("k", b"v").unwrap();
}
