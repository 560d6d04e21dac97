//! Job events on watch connections: global exit, lost PEs, a lost store, and clean leaves.

mod common;

use common::{client, start};
use shmem_bootstrap::{JobEvent, StoreClient, StoreConfig, Watch};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

const EVENT_WAIT: Duration = Duration::from_secs(5);
/// How long a test listens to be confident that no event comes.
const QUIET: Duration = Duration::from_millis(300);

/// Rank `rank`'s client (which the watch needs: its ticket comes from there) and its watch.
fn watch(cfg: &StoreConfig, rank: u32) -> (Watch, Receiver<JobEvent>, StoreClient) {
    let (tx, rx) = channel();
    let c = client(cfg, rank);
    let w = c
        .watch(move |e| {
            let _ = tx.send(e);
        })
        .expect("watch connects");
    (w, rx, c)
}

fn next(rx: &Receiver<JobEvent>) -> JobEvent {
    rx.recv_timeout(EVENT_WAIT).expect("an event arrives in time")
}

fn assert_quiet(rx: &Receiver<JobEvent>) {
    match rx.recv_timeout(QUIET) {
        Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {}
        Ok(e) => panic!("unexpected event {e:?}"),
    }
}

#[test]
fn global_exit_reaches_every_watcher() {
    let (_server, cfg) = start();
    let watchers: Vec<_> = (0..4).map(|r| watch(&cfg, r)).collect();
    watchers[2].2.global_exit(7).unwrap();
    for (_, rx, _) in &watchers {
        assert_eq!(next(rx), JobEvent::GlobalExit(7));
    }
    // A watcher that connects after the fact hears about it at once.
    let (_late, rx, _c) = watch(&cfg, 5);
    assert_eq!(next(&rx), JobEvent::GlobalExit(7));
    // PEs going away after a global exit are no news.
    drop(watchers);
    assert_quiet(&rx);
}

#[test]
fn a_watcher_closing_without_leave_is_a_lost_peer() {
    let (_server, cfg) = start();
    let (w0, rx0, c0) = watch(&cfg, 0);
    let (_w1, rx1, _c1) = watch(&cfg, 1);
    let (w2, rx2, _c2) = watch(&cfg, 2);
    drop(w2);
    assert_eq!(next(&rx0), JobEvent::PeerLost(2));
    assert_eq!(next(&rx1), JobEvent::PeerLost(2));
    assert!(rx2.try_recv().is_err(), "no event for the dropped watcher itself");
    // leave() then drop: nothing.
    c0.leave().unwrap();
    drop(w0);
    assert_quiet(&rx1);
    assert!(rx0.try_recv().is_err());
}

#[test]
fn the_store_going_away_is_reported_unless_the_rank_left() {
    let (server, cfg) = start();
    let (_w0, rx0, _c0) = watch(&cfg, 0);
    let (_w1, rx1, c1) = watch(&cfg, 1);
    c1.leave().unwrap();
    server.shutdown();
    assert_eq!(next(&rx0), JobEvent::StoreLost);
    assert_quiet(&rx1);
}

#[test]
fn a_store_that_dies_is_reported() {
    use shmem_bootstrap::wire::{read_frame, Response, MAX_FRAME, MAX_HELLO_FRAME};
    use std::io::Write;
    // A stand-in store that accepts one client and its watch, then vanishes without a word, as a crashed PE 0
    // would.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cfg = common::config(listener.local_addr().unwrap().port(), "t", None);
    let fake = std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        read_frame(&mut c, MAX_HELLO_FRAME).unwrap();
        c.write_all(&Response::Ok.to_frame().unwrap()).unwrap();
        read_frame(&mut c, MAX_FRAME).unwrap(); // the ticket request
        c.write_all(&Response::Value(Some(vec![1; 16])).to_frame().unwrap()).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        read_frame(&mut s, MAX_HELLO_FRAME).unwrap();
        s.write_all(&Response::Ok.to_frame().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    });
    let (_w, rx, _c) = watch(&cfg, 1);
    fake.join().unwrap();
    assert_eq!(next(&rx), JobEvent::StoreLost);
}

#[test]
fn a_rank_that_leaves_right_after_opening_its_watch_is_not_told_the_store_was_lost() {
    // The store answers a watch's hello before it registers the watcher: a leave that lands in between must
    // still count for that watcher (it once did not, and the shutdown then reported StoreLost to the rank).
    // Busy threads beside it make the store's threads late, as a loaded machine did when this was found.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::yield_now(); // busy, but never for long: the other tests here keep running
                }
            })
        })
        .collect();
    let _stop = StopOnDrop(stop, busy);
    for round in 0..100 {
        let (server, cfg) = start();
        let (_w0, rx0, _c0) = watch(&cfg, 0);
        let (_w1, rx1, c1) = watch(&cfg, 1);
        c1.leave().unwrap();
        server.shutdown();
        assert_eq!(next(&rx0), JobEvent::StoreLost, "round {round}");
        match rx1.recv_timeout(Duration::from_millis(50)) {
            Err(_) => {}
            Ok(e) => panic!("round {round}: unexpected event {e:?} for the rank that left"),
        }
    }
}

/// Stops and joins the busy threads of a test, also when it fails.
struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

/// Watches closed back to back are reported in the order they closed, to every watcher, however the store's
/// threads happen to be scheduled: a launcher that ends a node's other PEs right after one failed must not
/// make the job name one of those as its failure.
#[test]
fn losses_are_reported_in_the_order_the_watches_closed() {
    let (_server, cfg) = start();
    let (_w0, rx0, _c0) = watch(&cfg, 0);
    let mut others: Vec<_> = (1..8).map(|r| Some(watch(&cfg, r))).collect();
    let order = [7u32, 3, 5, 1, 6, 2, 4];
    for r in order {
        drop(others[r as usize - 1].take());
    }
    let got: Vec<JobEvent> = order.iter().map(|_| next(&rx0)).collect();
    assert_eq!(got, order.map(JobEvent::PeerLost));
    assert_quiet(&rx0);
}
