//! What an outsider or a broken peer can do to a PE's progress thread: nothing. Wrong secrets, malformed frames
//! and out-of-bounds requests close that connection; the heap is untouched and the job's own connections keep
//! working. A peer that goes away is an error naming it, not a hang.

use shmem_core::conformance::{Testbed, TESTBED_SECRET};
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, Completion, DataOpEngine, Put};
use shmem_core::{HeapOffset, Pe};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use transport_tcp::wire::{Hello, Reply, Request, REPLY_LEN};
use transport_tcp::TcpEngine;

fn bed(n: u32) -> Testbed<TcpEngine> {
    Testbed::on_nodes((0..n).collect(), TcpEngine::build)
}

/// Where PE `pe` listens (as its peers learned it).
fn addr_of(bed: &Testbed<TcpEngine>, pe: u32) -> SocketAddr {
    bed.engines[0].peer_addr(Pe(pe))
}

/// Sends `bytes` on a fresh connection and returns whether the target closed it within a few seconds.
fn closed_after(addr: SocketAddr, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 64];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if Instant::now() > deadline {
            return false;
        }
    }
}

mod common;
use common::{connect_with_small_rcvbuf, job_still_works};

#[test]
fn outsiders_without_the_secret_change_nothing() {
    let bed = bed(2);
    let target = addr_of(&bed, 1);
    let before = bed.local_bytes(1, 0, 4096);
    // A guessed secret, an empty one, and the right length with the wrong bytes, each followed by a put.
    let wrong = vec![b'x'; TESTBED_SECRET.len()];
    for secret in [&b"guess"[..], &b""[..], &wrong[..]] {
        let mut frame = Hello::encode(0, secret);
        frame.extend_from_slice(&Request::Put { dst: HeapOffset(0), len: 16, signal: None }.encode());
        frame.extend_from_slice(&[0xEE; 16]);
        assert!(closed_after(target, &frame), "a hello with a wrong secret was not refused");
    }
    // Not even a hello: a bare request.
    let mut frame = Request::Put { dst: HeapOffset(0), len: 16, signal: None }.encode().to_vec();
    frame.extend_from_slice(&[0xEE; 16]);
    assert!(closed_after(target, &frame));
    assert_eq!(bed.local_bytes(1, 0, 4096), before, "an outsider wrote into the heap");
    job_still_works(&bed, 1);
}

#[test]
fn malformed_and_out_of_bounds_frames_close_only_that_connection() {
    let bed = bed(2);
    let target = addr_of(&bed, 1);
    let hello = Hello::encode(0, TESTBED_SECRET);
    let seg_len = bed.nodes[1].local().len() as u64;
    let mut cases: Vec<Vec<u8>> = Vec::new();
    let mut garbage = [0xA5u8; 40];
    garbage[4..8].copy_from_slice(&[0; 4]);
    cases.push(garbage.to_vec());
    cases.push(Request::Put { dst: HeapOffset(seg_len - 8), len: 16, signal: None }.encode().to_vec());
    cases.push(Request::Put { dst: HeapOffset(u64::MAX - 3), len: 8, signal: None }.encode().to_vec());
    cases.push(Request::Get { src: HeapOffset(0), len: seg_len + 1 }.encode().to_vec());
    cases.push(
        Request::Atomic { at: HeapOffset(3), width: AtomicWidth::W64, op: AtomicOp::FetchAdd(1) }.encode().to_vec(),
    );
    cases.push(
        Request::Atomic { at: HeapOffset(seg_len), width: AtomicWidth::W32, op: AtomicOp::Fetch }.encode().to_vec(),
    );
    let before = bed.local_bytes(1, 0, 4096);
    for (i, case) in cases.iter().enumerate() {
        let mut frame = hello.clone();
        frame.extend_from_slice(case);
        frame.extend_from_slice(&[0xEE; 16]);
        assert!(closed_after(target, &frame), "case {i} did not close the connection");
    }
    assert_eq!(bed.local_bytes(1, 0, 4096), before, "a refused request wrote into the heap");
    job_still_works(&bed, 2);
}

#[test]
fn a_connection_that_stops_mid_frame_does_not_stall_the_others() {
    let bed = bed(2);
    let target = addr_of(&bed, 1);
    // A job member that announces a 1 MiB put and sends only part of it, then goes silent.
    let mut stuck = TcpStream::connect(target).unwrap();
    stuck.write_all(&Hello::encode(0, TESTBED_SECRET)).unwrap();
    let mut ok = [0u8; 1];
    stuck.read_exact(&mut ok).unwrap();
    stuck.write_all(&Request::Put { dst: HeapOffset(1 << 20), len: 1 << 20, signal: None }.encode()).unwrap();
    stuck.write_all(&[1u8; 1000]).unwrap();
    job_still_works(&bed, 3);
    // A replier that never reads its replies is cut off by the write bound, not a hang (here it just closes).
    drop(stuck);
    job_still_works(&bed, 4);
}

#[test]
fn a_vanished_peer_is_an_error_naming_it() {
    let mut bed = bed(3);
    // PE 2 goes away (its progress thread stops and its sockets close).
    let gone = bed.engines.pop().unwrap();
    drop(gone);
    let e = &bed.engines[0];
    let data = [7u8; 8];
    let t = Instant::now();
    let put = Put { pe: Pe(2), dst: HeapOffset(0), src: data.as_ptr(), len: 8, signal: None };
    // SAFETY: data outlives the call and the quiet.
    let put_result = unsafe { e.put(put, Completion::Blocking) }.and_then(|_| e.quiet());
    let err = put_result.expect_err("a put to a vanished PE succeeded");
    assert!(err.to_string().contains("PE 2"), "the error does not name the PE: {err}");
    let err = e.atomic(Pe(2), HeapOffset(0), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap_err();
    assert!(err.to_string().contains("PE 2"), "{err}");
    assert!(t.elapsed() < Duration::from_secs(20), "noticing a vanished peer took {:?}", t.elapsed());
    job_still_works(&bed, 5);
}

/// A peer that asks for a large get and then does not read the reply holds up only its own connection: the
/// target writes the reply as the socket takes it and keeps serving the job's other connections meanwhile,
/// and once the peer reads, it gets every byte. (A target that wrote the reply with a blocking write would
/// serve nobody else until its write timeout, the control timeout, then drop the slow peer: the job's put,
/// quiet and get below would wait that long or fail, and the slow peer's reply would come truncated.)
#[test]
fn a_peer_not_reading_a_large_get_reply_stalls_nobody_else() {
    let bed = bed(2);
    const SRC: u64 = 64 << 10;
    const LEN: usize = 7 << 20;
    let pattern: Vec<u8> = (0..LEN).map(|i| (i / 4093 + i * 7) as u8).collect();
    bed.set_local_bytes(1, SRC, &pattern);
    let mut slow = connect_with_small_rcvbuf(addr_of(&bed, 1));
    slow.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    slow.write_all(&Hello::encode(0, TESTBED_SECRET)).unwrap();
    let mut ok = [0u8; 1];
    slow.read_exact(&mut ok).unwrap();
    slow.write_all(&Request::Get { src: HeapOffset(SRC), len: LEN as u64 }.encode()).unwrap();
    // Not a timing: only so that the target has met the slow request (and filled the socket) first.
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    for round in 1..=5u8 {
        job_still_works(&bed, round);
    }
    // A hang check, not a timing: each round is a few round trips; stalled behind the slow peer they would take
    // the 30 s control timeout.
    assert!(t.elapsed() < Duration::from_secs(10), "the job's five rounds took {:?}", t.elapsed());
    let mut head = [0u8; REPLY_LEN];
    slow.read_exact(&mut head).unwrap();
    let reply = Reply::decode(&head).unwrap();
    assert_eq!((reply.refused, reply.value), (None, LEN as u64));
    let mut got = vec![0u8; LEN];
    slow.read_exact(&mut got).unwrap();
    let first_bad = got.iter().zip(&pattern).position(|(a, b)| a != b);
    assert_eq!(first_bad, None, "the slow peer's get reply differs from the heap");
}

/// A peer that sends many requests with replies (small gets) without reading any reply (an initiator reads each
/// reply before its next request) stalls only its own connection: once a reply does not fit its socket the
/// target keeps the rest and reads that connection's next request only after it went out, instead of waiting
/// in a write for the peer to read (which held whoever served, and with it the whole job, for the 30 s control
/// timeout); the job's other connections work meanwhile, and when the peer reads it gets every reply, exact.
#[test]
fn a_peer_pipelining_requests_without_reading_replies_stalls_only_itself() {
    let bed = bed(2);
    const N: usize = 2000;
    const LEN: u64 = 4096;
    let mut rude = connect_with_small_rcvbuf(addr_of(&bed, 1));
    rude.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    rude.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    rude.write_all(&Hello::encode(0, TESTBED_SECRET)).unwrap();
    let mut ok = [0u8; 1];
    rude.read_exact(&mut ok).unwrap();
    let requests: Vec<u8> = (0..N).flat_map(|_| Request::Get { src: HeapOffset(0), len: LEN }.encode()).collect();
    // The target stops reading this connection once its replies fill the socket, so the requests are written
    // from another thread (they cannot all go out before the peer reads).
    let mut writer = rude.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&requests).map_err(|e| e.to_string()));
    // Not a timing: only so that the target has met the requests first.
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    for round in 1..=5u8 {
        job_still_works(&bed, round);
    }
    assert!(t.elapsed() < Duration::from_secs(10), "the job's five rounds took {:?}", t.elapsed());
    // Every reply comes once the peer reads: a header saying LEN, then LEN bytes of the heap's first block.
    let want = bed.local_bytes(1, 0, LEN as usize);
    let mut head = [0u8; REPLY_LEN];
    let mut data = vec![0u8; LEN as usize];
    for i in 0..N {
        rude.read_exact(&mut head).unwrap_or_else(|e| panic!("reply {i} of {N}: {e}"));
        let reply = Reply::decode(&head).unwrap();
        assert_eq!((reply.refused, reply.value), (None, LEN), "reply {i}");
        rude.read_exact(&mut data).unwrap_or_else(|e| panic!("reply {i} of {N}'s data: {e}"));
        assert!(data == want, "reply {i}: the data differs from the heap");
    }
    sender.join().unwrap().expect("the requests went out");
}
