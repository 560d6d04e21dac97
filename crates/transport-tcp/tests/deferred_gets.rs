//! Deferred (`_nbi`) gets of the TCP engine: sent back to back, their replies read later, in order, by the next
//! call that reads a reply on that connection or by the quiet that completes them.

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, Completion, DataOpEngine, DomainId, Get, Put};
use shmem_core::{HeapOffset, Pe};
use transport_tcp::TcpEngine;

/// `len` bytes of a pattern that differs for every `seed`.
fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| (i.wrapping_mul(31).wrapping_add(seed * 7919) % 251) as u8).collect()
}

/// Sizes of the gets: inline ones (the data comes with the reply's header), a small one just above that, a
/// medium and a large one (read straight into place).
const SIZES: [usize; 6] = [1, 8, 4096, 4097, 100_000, 1 << 20];

/// More deferred gets than a connection keeps in flight (so the oldest are read while issuing), of every size,
/// with blocking gets, atomics and puts between them: after the quiet every destination holds exactly its
/// source, the blocking calls returned exact values on the way, and the puts landed.
#[test]
fn deferred_gets_of_every_size_complete_exactly_at_the_quiet_with_blocking_calls_between() {
    let bed = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let e = &bed.engines[0];
    const REGION: usize = 2 << 20;
    let source = pattern(5, REGION);
    bed.set_local_bytes(1, 0, &source);
    bed.word(1, REGION as u64).store(1000, std::sync::atomic::Ordering::SeqCst);
    let n = 150;
    let mut dsts: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut srcs = Vec::with_capacity(n);
    for i in 0..n {
        let len = SIZES[i % SIZES.len()];
        let off = (i * 4099) % (REGION - len);
        dsts.push(vec![0u8; len]);
        srcs.push(off);
    }
    let mut counter = 1000;
    let put_data = pattern(9, 64);
    for i in 0..n {
        let len = dsts[i].len();
        let get = Get { pe: Pe(1), src: HeapOffset(srcs[i] as u64), dst: dsts[i].as_mut_ptr(), len };
        // SAFETY: dsts[i] is neither moved nor touched until the quiet below (the outer Vec is not resized).
        unsafe { e.get(get, Completion::Deferred) }.unwrap();
        match i % 7 {
            3 => {
                let old = e.atomic(Pe(1), HeapOffset(REGION as u64), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
                assert_eq!(old, counter, "a fetch-add behind deferred gets");
                counter += 1;
            }
            5 => {
                let mut back = vec![0u8; 3000];
                let get = Get { pe: Pe(1), src: HeapOffset(i as u64 * 10), dst: back.as_mut_ptr(), len: back.len() };
                // SAFETY: back outlives the blocking call.
                unsafe { e.get(get, Completion::Blocking) }.unwrap();
                assert!(back[..] == source[i * 10..i * 10 + 3000], "a blocking get behind deferred gets");
            }
            6 => {
                let put = Put {
                    pe: Pe(1),
                    dst: HeapOffset((REGION + 4096 + i * 64) as u64),
                    src: put_data.as_ptr(),
                    len: 64,
                    signal: None,
                };
                // SAFETY: put_data outlives the quiet.
                unsafe { e.put(put, Completion::Deferred) }.unwrap();
            }
            _ => {}
        }
    }
    e.quiet().unwrap();
    for i in 0..n {
        let len = dsts[i].len();
        assert!(dsts[i][..] == source[srcs[i]..srcs[i] + len], "deferred get {i} ({len} B) differs after the quiet");
    }
    for i in (6..n).step_by(7) {
        assert_eq!(bed.local_bytes(1, (REGION + 4096 + i * 64) as u64, 64), put_data, "put {i}");
    }
    // Nothing is left in flight: the connection goes on with exact blocking calls.
    let old = e.atomic(Pe(1), HeapOffset(REGION as u64), AtomicWidth::W64, AtomicOp::FetchAdd(0)).unwrap();
    assert_eq!(old, counter);
}

/// `quiet_in(d)` completes the deferred gets of domain `d` even when no put of `d` needs a flush, and a quiet of
/// a domain that issued nothing returns at once.
#[test]
fn a_domains_quiet_completes_its_deferred_gets() {
    let bed = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let e = &bed.engines[0];
    let d = DomainId(3);
    e.open_domain(d).unwrap();
    for round in 0..5u64 {
        let source = pattern(round + 40, 300_000);
        bed.set_local_bytes(1, 0, &source);
        let mut a = vec![0u8; 300_000];
        let mut b = vec![0u8; 16];
        let get_a = Get { pe: Pe(1), src: HeapOffset(0), dst: a.as_mut_ptr(), len: a.len() };
        let get_b = Get { pe: Pe(1), src: HeapOffset(1000), dst: b.as_mut_ptr(), len: b.len() };
        // SAFETY: a and b are untouched until the quiet below.
        unsafe {
            e.get_in(d, get_a, Completion::Deferred).unwrap();
            e.get_in(d, get_b, Completion::Deferred).unwrap();
        }
        e.quiet_in(DomainId(4)).unwrap();
        e.quiet_in(d).unwrap();
        assert!(a == source, "round {round}: the large get");
        assert_eq!(b[..], source[1000..1016], "round {round}: the small get");
    }
    e.close_domain(d);
}

/// A deferred get whose target vanished before its reply was read fails the next quiet, naming the PE (its
/// destination was not written), once; the job goes on with the other PEs.
#[test]
fn a_deferred_get_from_a_vanished_pe_fails_the_quiet() {
    let mut bed = Testbed::on_nodes(vec![0, 1, 2], TcpEngine::build);
    // Three gets of the whole heap: more than any socket buffers hold, so PE 2 cannot have sent all the replies
    // before it goes away.
    const LEN: usize = shmem_core::conformance::TESTBED_HEAP as usize;
    let mut dsts = vec![vec![0u8; LEN]; 3];
    {
        let e0 = &bed.engines[0];
        for dst in &mut dsts {
            let get = Get { pe: Pe(2), src: HeapOffset(0), dst: dst.as_mut_ptr(), len: LEN };
            // SAFETY: dst is untouched until the quiet below; the engine never writes it once the connection
            // failed.
            unsafe { e0.get(get, Completion::Deferred) }.unwrap();
        }
    }
    // PE 2 goes away (its progress thread stops and closes its connections) before the reply is read.
    drop(bed.engines.pop().unwrap());
    let e0 = &bed.engines[0];
    let err = e0.quiet().expect_err("the quiet of a get whose target vanished succeeded");
    assert!(err.to_string().contains("PE 2"), "{err}");
    e0.quiet().unwrap();
    let mut back = [0u8; 8];
    bed.set_local_bytes(1, 0, &[3u8; 8]);
    let get = Get { pe: Pe(1), src: HeapOffset(0), dst: back.as_mut_ptr(), len: 8 };
    // SAFETY: back is untouched until the quiet.
    unsafe { e0.get(get, Completion::Deferred) }.unwrap();
    e0.quiet().unwrap();
    assert_eq!(back, [3u8; 8]);
}

/// Puts behind deferred gets whose replies outgrow the socket buffers complete: the first put reads the gets'
/// replies (the target reads no request while a reply of its is not taken, so puts written into the full socket
/// meanwhile would wait until the control timeout, here 5 s, and fail).
#[test]
fn puts_behind_deferred_gets_larger_than_the_socket_buffers_do_not_stall() {
    let bed = Testbed::on_nodes(vec![0, 1], |setup: &shmem_core::engine_setup::EngineSetup<'_>| {
        let mut setup = *setup;
        setup.timeouts.control = std::time::Duration::from_secs(5);
        TcpEngine::build(&setup)
    });
    let e = &bed.engines[0];
    const HALF: usize = (shmem_core::conformance::TESTBED_HEAP / 2) as usize;
    let source = pattern(11, HALF);
    bed.set_local_bytes(1, 0, &source);
    // Every get writes the same bytes into the same destination: 20 x 4 MiB of replies, more than loopback's
    // socket buffers hold, behind 40 MiB of large puts or 5 MB of small ones.
    let mut dst = vec![0u8; HALF];
    let big = pattern(12, HALF);
    let small = pattern(13, 1000);
    for round in 0..2 {
        dst.fill(0);
        for _ in 0..20 {
            let get = Get { pe: Pe(1), src: HeapOffset(0), dst: dst.as_mut_ptr(), len: HALF };
            // SAFETY: dst is untouched until the quiet below.
            unsafe { e.get(get, Completion::Deferred) }.unwrap();
        }
        if round == 0 {
            for _ in 0..10 {
                let put = Put { pe: Pe(1), dst: HeapOffset(HALF as u64), src: big.as_ptr(), len: HALF, signal: None };
                // SAFETY: big outlives the call.
                unsafe { e.put(put, Completion::Blocking) }.expect("a large put behind deferred gets");
            }
        } else {
            for i in 0..5000u64 {
                let at = HeapOffset(HALF as u64 + (i % 4000) * 1000);
                let put = Put { pe: Pe(1), dst: at, src: small.as_ptr(), len: small.len(), signal: None };
                // SAFETY: small outlives the quiet.
                unsafe { e.put(put, Completion::Deferred) }.expect("small puts behind deferred gets");
            }
        }
        e.quiet().unwrap();
        assert!(dst == source, "round {round}: the gets' destination differs");
        if round == 0 {
            assert!(bed.local_bytes(1, HALF as u64, HALF) == big, "the large puts");
        } else {
            assert_eq!(bed.local_bytes(1, HALF as u64 + 3_999_000, 1000), small, "the last small put");
        }
    }
}
