//! Helpers shared by the TCP engine's test binaries (each `tests/*.rs` is its own crate: `mod common;`).

use shmem_core::conformance::{Testbed, TESTBED_SECRET};
use shmem_core::engine::{Completion, DataOpEngine, Get, Put};
use shmem_core::{HeapOffset, Pe};
use std::net::{SocketAddr, TcpStream};
use transport_tcp::wire::{client_handshake, JobKey};
use transport_tcp::TcpEngine;

/// Makes `s` (a fresh connection to PE 1) a proven one of PE 0, with the testbed's secret and the engine's own
/// handshake: requests may follow.
#[allow(dead_code)] // not every test binary that shares these helpers uses this one
pub(crate) fn prove(s: &mut TcpStream) {
    client_handshake(s, &JobKey::new(TESTBED_SECRET), 0, 1).expect("the handshake of PE 0 with PE 1");
}

/// A fresh connection of PE 0 to PE 1 at `addr`, proven ([`prove`]).
#[allow(dead_code)] // not every test binary that shares these helpers uses this one
pub(crate) fn proven(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    prove(&mut s);
    s
}

/// The job still works: PE 0 puts 64 bytes of `round` into PE 1, completes them, and reads exactly them back.
pub(crate) fn job_still_works(bed: &Testbed<TcpEngine>, round: u8) {
    let e = &bed.engines[0];
    let data = [round; 64];
    let put = Put { pe: Pe(1), dst: HeapOffset(8192), src: data.as_ptr(), len: 64, signal: None };
    // SAFETY: data outlives the quiet.
    unsafe { e.put(put, Completion::Blocking) }.unwrap();
    e.quiet().unwrap();
    let mut back = [0u8; 64];
    let get = Get { pe: Pe(1), src: HeapOffset(8192), dst: back.as_mut_ptr(), len: 64 };
    // SAFETY: back outlives the call.
    unsafe { e.get(get, Completion::Blocking) }.unwrap();
    assert_eq!(back, data);
}

/// A TCP connection to `addr` (IPv4) whose receive buffer is set small before it connects, so that the window
/// it offers stays small: a peer that does not read then fills the target's socket with little data, whatever
/// the host's `tcp_rmem`/`tcp_wmem` (with large ones, a whole reply could fit in the buffers and the test would
/// not tell a target that blocks on a full socket from one that does not).
#[allow(dead_code)] // not every test binary that shares these helpers uses this one
pub(crate) fn connect_with_small_rcvbuf(addr: SocketAddr) -> TcpStream {
    let SocketAddr::V4(v4) = addr else { panic!("the testbed listens on IPv4, not {addr}") };
    // SAFETY: socket(2) takes no pointers.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: a new descriptor that nothing else owns; the stream closes it.
    let stream = unsafe { <TcpStream as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let size: libc::c_int = 4096;
    // SAFETY: size is a live c_int of the length given.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*v4.ip()).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: sa is a live sockaddr_in of the length given.
    let r = unsafe {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "connect to {addr}: {}", std::io::Error::last_os_error());
    stream
}
