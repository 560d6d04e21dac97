//! `StoreServer::start_on`: serving on a listener bound beforehand (the unique-ID start-up binds the port when
//! the ID is made), with clients that connected before the store started serving.

mod common;

use common::{client, config};
use shmem_bootstrap::{StoreClient, StoreLimits, StoreServer};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

#[test]
fn clients_that_connect_before_the_store_serves_are_served() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let cfg = config(port, "uid-secret", None);
    let early = {
        let cfg = cfg.clone();
        thread::spawn(move || {
            let c = client(&cfg, 1);
            c.set("early", b"before start").unwrap();
            c.get("late", Duration::from_secs(10)).unwrap()
        })
    };
    thread::sleep(Duration::from_millis(300)); // the early client waits in the listener's backlog
    let server = StoreServer::start_on(listener, &cfg, StoreLimits::default()).expect("serves on the bound listener");
    assert_eq!(server.local_addr().port(), port);
    let c = client(&cfg, 0);
    assert_eq!(c.get("early", Duration::from_secs(10)).unwrap(), b"before start");
    c.set("late", b"after start").unwrap();
    assert_eq!(early.join().unwrap(), b"after start");
    // The listener's job secret is the token: another secret is refused.
    let wrong = StoreClient::connect(&config(port, "another-secret", None), 2);
    assert!(wrong.is_err());
    server.shutdown();
}

/// A PE whose store (PE 0) starts serving later than the operation timeout after the PE connected, but within
/// the connect (init) deadline, still joins: the handshake waits until that deadline, not the operation timeout
/// (a unique-ID job whose PE 0 does its own work between making the ID and its init).
#[test]
fn a_store_that_starts_after_the_operation_timeout_is_still_joined() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let mut cfg = config(port, "uid-secret", None);
    cfg.op_timeout = Duration::from_millis(500);
    let early = {
        let cfg = cfg.clone();
        thread::spawn(move || StoreClient::connect(&cfg, 1).map(|c| c.set("early", b"joined").map(|()| c)))
    };
    thread::sleep(Duration::from_millis(1500)); // three operation timeouts in the listener's backlog
    let server = StoreServer::start_on(listener, &cfg, StoreLimits::default()).expect("serves on the bound listener");
    let joined = early.join().unwrap().expect("connects").expect("sets");
    let c = client(&cfg, 0);
    assert_eq!(c.get("early", Duration::from_secs(5)).unwrap(), b"joined");
    drop(joined);
    server.shutdown();
}
