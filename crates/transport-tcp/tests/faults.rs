//! What an outsider or a broken peer can do to a PE's progress thread: nothing. Proofs of a wrong secret (or a
//! reflected proof), malformed frames and out-of-bounds requests close that connection; the heap is untouched and the job's own connections keep
//! working. A peer that goes away is an error naming it, not a hang.

use shmem_core::conformance::{Testbed, TESTBED_SECRET};
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, Completion, DataOpEngine, DomainId, Get, Put};
use shmem_core::engine_setup::EngineSetup;
use shmem_core::{HeapOffset, Pe};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use transport_tcp::wire::{
    fresh_nonce, Challenge, Hello, JobKey, Reply, Request, CHALLENGE_LEN, MAGIC, NONCE_LEN, PROOF_LEN, REPLY_LEN,
};
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
    closed_after_on(TcpStream::connect(addr).unwrap(), bytes)
}

/// Sends `bytes` on `s` and returns whether the target closed it within a few seconds.
fn closed_after_on(mut s: TcpStream, bytes: &[u8]) -> bool {
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
use common::{connect_with_small_rcvbuf, job_still_works, proven};

/// Makes a proof (a forged one) from the hello's nonce and the target's challenge.
type Forge<'a> = dyn Fn(&[u8; NONCE_LEN], &Challenge) -> [u8; PROOF_LEN] + 'a;

/// Opens a connection to `addr` as PE 0 of the testbed's job, sends a hello, reads the target's challenge and
/// answers it with what `answer` makes of it (a proof, right or wrong, and whatever should follow); then reads
/// until the target closes the connection or 5 s pass. Returns whether it closed, and what it sent after its
/// challenge (an ok byte, say).
fn answer_challenge(addr: SocketAddr, answer: impl FnOnce(&[u8; NONCE_LEN], &Challenge) -> Vec<u8>) -> (bool, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let nc = fresh_nonce().unwrap();
    s.write_all(&Hello { pe: 0, nonce: nc }.encode()).unwrap();
    let mut c = [0u8; CHALLENGE_LEN];
    s.read_exact(&mut c).unwrap();
    let _ = s.write_all(&answer(&nc, &Challenge::decode(&c)));
    let mut after = Vec::new();
    let closed = loop {
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => after.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    (closed, after)
}

#[test]
fn outsiders_without_the_secret_change_nothing() {
    let bed = bed(2);
    let target = addr_of(&bed, 1);
    let before = bed.local_bytes(1, 0, 4096);
    let mut put = Request::Put { dst: HeapOffset(0), len: 16, signal: None }.encode().to_vec();
    put.extend_from_slice(&[0xEE; 16]);
    // Proofs made with a guessed secret, an empty one, and the right length with the wrong bytes, each followed
    // by a put: closed, no ok byte.
    let wrong = vec![b'x'; TESTBED_SECRET.len()];
    for secret in [&b"guess"[..], &b""[..], &wrong[..]] {
        let (closed, after) = answer_challenge(target, |nc, c| {
            let mut b = JobKey::new(secret).initiator_proof(0, 1, nc, &c.nonce).to_vec();
            b.extend_from_slice(&put);
            b
        });
        assert!(closed, "a proof of a wrong secret was not refused");
        assert_eq!(after, b"", "a proof of a wrong secret was answered");
    }
    // The target's own proof reflected back to it, and the right proof for another PE pair or the swapped nonces.
    let key = JobKey::new(TESTBED_SECRET);
    let forgeries: [&Forge; 4] = [
        &|_, c| c.proof,
        &|nc, c| key.initiator_proof(0, 0, nc, &c.nonce),
        &|nc, c| key.initiator_proof(1, 1, nc, &c.nonce),
        &|nc, c| key.initiator_proof(0, 1, &c.nonce, nc),
    ];
    for (i, forge) in forgeries.iter().enumerate() {
        let (closed, after) = answer_challenge(target, |nc, c| {
            let mut b = forge(nc, c).to_vec();
            b.extend_from_slice(&put);
            b
        });
        assert!(closed && after.is_empty(), "forged proof {i} was not refused (answered {after:?})");
    }
    // Not even a hello: a bare request; and a version-1 hello carrying the secret in clear (no longer spoken).
    assert!(closed_after(target, &put));
    let mut v1 = MAGIC.to_vec();
    v1.extend_from_slice(&1u16.to_le_bytes());
    v1.extend_from_slice(&0u32.to_le_bytes());
    v1.extend_from_slice(&(TESTBED_SECRET.len() as u16).to_le_bytes());
    v1.extend_from_slice(TESTBED_SECRET);
    v1.extend_from_slice(&[0; 32]);
    v1.extend_from_slice(&put);
    assert!(closed_after(target, &v1), "a version-1 hello was not refused");
    assert_eq!(bed.local_bytes(1, 0, 4096), before, "an outsider wrote into the heap");
    // The same exchange with the right proof is answered with the ok byte (the helper itself is sound).
    let (closed, after) = answer_challenge(target, |nc, c| key.initiator_proof(0, 1, nc, &c.nonce).to_vec());
    assert_eq!((closed, after), (false, vec![0u8]));
    job_still_works(&bed, 1);
}

#[test]
fn malformed_and_out_of_bounds_frames_close_only_that_connection() {
    let bed = bed(2);
    let target = addr_of(&bed, 1);
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
        let mut frame = case.clone();
        frame.extend_from_slice(&[0xEE; 16]);
        assert!(closed_after_on(proven(target), &frame), "case {i} did not close the connection");
    }
    assert_eq!(bed.local_bytes(1, 0, 4096), before, "a refused request wrote into the heap");
    job_still_works(&bed, 2);
}

#[test]
fn a_connection_that_stops_mid_frame_does_not_stall_the_others() {
    let bed = bed(2);
    let target = addr_of(&bed, 1);
    // A job member that announces a 1 MiB put and sends only part of it, then goes silent.
    let mut stuck = proven(target);
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
    common::prove(&mut slow);
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
    common::prove(&mut rude);
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

/// A bed whose engines have a 1 s control timeout: a new connection must then prove the job's secret within 1 s.
fn bed_with_a_short_control_timeout() -> Testbed<TcpEngine> {
    Testbed::on_nodes(vec![0, 1], |setup: &EngineSetup<'_>| {
        let mut setup = *setup;
        setup.timeouts.control = Duration::from_secs(1);
        TcpEngine::build(&setup)
    })
}

/// Whether the peer has closed `s` (end of stream or reset) now, without waiting.
fn closed_now(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    let closed = match (&*s).read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    };
    s.set_nonblocking(false).unwrap();
    closed
}

/// Waits (at most `within`) for the peer to close `s`.
fn closes_within(s: &TcpStream, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if closed_now(s) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// An outsider that connects and sends nothing (or half a hello, or a hello and then no proof) no longer keeps the
/// connection (a descriptor and a buffer of the target) for good: it is closed once the hello timeout (the control
/// timeout, at most 10 s) is over. The job's own connections, proven at once, stay open however long they are
/// idle.
#[test]
fn connections_that_do_not_prove_the_secret_in_time_are_closed() {
    let bed = bed_with_a_short_control_timeout();
    let target = addr_of(&bed, 1);
    job_still_works(&bed, 6);
    let silent = TcpStream::connect(target).unwrap();
    let mut half = TcpStream::connect(target).unwrap();
    half.write_all(&Hello { pe: 0, nonce: [1; NONCE_LEN] }.encode()[..5]).unwrap();
    let mut unproven = TcpStream::connect(target).unwrap();
    unproven.write_all(&Hello { pe: 0, nonce: [1; NONCE_LEN] }.encode()).unwrap();
    let mut c = [0u8; CHALLENGE_LEN];
    unproven.read_exact(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!closed_now(&silent) && !closed_now(&half) && !closed_now(&unproven), "closed before the hello timeout");
    assert!(closes_within(&silent, Duration::from_secs(10)), "a silent connection was kept");
    assert!(closes_within(&half, Duration::from_secs(10)), "a connection with half a hello was kept");
    assert!(closes_within(&unproven, Duration::from_secs(10)), "a connection that sent no proof was kept");
    // PE 0's connection has been idle longer than the hello timeout by now: still the same, still working.
    job_still_works(&bed, 7);
}

/// At most 128 connections (or the job's PE count, if larger) may be waiting to prove the secret at a time: one
/// more closes the oldest of them, so that an outsider cannot use up the target's descriptors, and a new
/// connection (a PE of the job sends its hello at once) always gets its chance.
#[test]
fn unproven_connections_beyond_the_cap_close_the_oldest() {
    let bed = bed(2);
    let target = addr_of(&bed, 1);
    let silent: Vec<TcpStream> = (0..130).map(|_| TcpStream::connect(target).unwrap()).collect();
    for (i, s) in silent[..2].iter().enumerate() {
        assert!(closes_within(s, Duration::from_secs(10)), "the oldest unproven connection {i} was kept");
    }
    let open = silent[2..].iter().filter(|s| !closed_now(s)).count();
    assert_eq!(open, 128, "the newer 128 unproven connections stay until their hello timeout");
    job_still_works(&bed, 8);
}

/// A connection that fails while some of its puts are not confirmed yet (here the target vanished after taking
/// them, and a get found out) takes those puts' state with it: the next `quiet` of their domain must say so, not
/// find no connection to flush and succeed. Once: the quiet after it has nothing to report.
#[test]
fn a_quiet_after_a_failed_connection_reports_its_unconfirmed_puts() {
    let mut bed = bed(3);
    let e0 = &bed.engines[0];
    let data = [9u8; 8];
    for d in [DomainId::DEFAULT, DomainId(5)] {
        let put = Put { pe: Pe(2), dst: HeapOffset(0), src: data.as_ptr(), len: 8, signal: None };
        // SAFETY: data outlives the quiet below.
        unsafe { e0.put_in(d, put, Completion::Blocking) }.unwrap();
    }
    drop(bed.engines.pop().unwrap());
    let e0 = &bed.engines[0];
    let mut back = [0u8; 8];
    let get = Get { pe: Pe(2), src: HeapOffset(0), dst: back.as_mut_ptr(), len: 8 };
    // SAFETY: back outlives the call.
    let err = unsafe { e0.get(get, Completion::Blocking) }.expect_err("a get from a vanished PE succeeded");
    assert!(err.to_string().contains("PE 2"), "{err}");
    // Domain 3 sent nothing to PE 2: nothing to report.
    e0.quiet_in(DomainId(3)).unwrap();
    let err = e0.quiet_in(DomainId(5)).expect_err("the quiet of a domain whose puts were lost succeeded");
    assert!(err.to_string().contains("PE 2") && err.to_string().contains("not yet confirmed"), "{err}");
    e0.quiet_in(DomainId(5)).unwrap();
    let err = e0.quiet().expect_err("the quiet of the default domain, whose put was lost, succeeded");
    assert!(err.to_string().contains("PE 2"), "{err}");
    e0.quiet().unwrap();
    job_still_works(&bed, 9);
}
