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
