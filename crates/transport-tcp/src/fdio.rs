//! Raw-descriptor I/O for the progress thread: reads straight into the heap and writes that never wait on
//! non-blocking sockets, without forming Rust references to shared memory that other processes write.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};

/// Reads at most `len` bytes into `dst` from the socket `fd` without waiting: `Ok(0)` at end of stream,
/// `ErrorKind::WouldBlock` when nothing is there now. `recv(2)`, not `read(2)`: a read of a socket goes through
/// the file layer first (measured with `perf`, `examples/tcp_opcount.rs put_signal`: about 80 ns more per call
/// on this VM, and a waiting thread makes about two such calls per message).
///
/// # Safety
/// `dst..dst+len` must be writable memory that stays mapped for the call.
pub(crate) unsafe fn read_raw(fd: RawFd, dst: *mut u8, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: the caller guarantees dst..dst+len is writable; recv(2) writes at most len bytes there.
        let n = unsafe { libc::recv(fd, dst.cast(), len, libc::MSG_DONTWAIT) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// As [`read_raw`], leaving the bytes in the socket's receive queue (`MSG_PEEK`): the next read returns them
/// again.
///
/// # Safety
/// As [`read_raw`].
pub(crate) unsafe fn peek_raw(fd: RawFd, dst: *mut u8, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: the caller guarantees dst..dst+len is writable; recv(2) writes at most len bytes there.
        let n = unsafe { libc::recv(fd, dst.cast(), len, libc::MSG_DONTWAIT | libc::MSG_PEEK) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Writes as much of `src..src+len` to `fd` as the socket takes now, without waiting for room: the number of
/// bytes written (less than `len` when the socket is full).
///
/// # Safety
/// `src..src+len` must be readable memory that stays mapped for the call.
pub(crate) unsafe fn write_some(fd: RawFd, src: *const u8, len: usize) -> io::Result<usize> {
    let mut done = 0;
    while done < len {
        // SAFETY: done < len, so src+done..src+len is inside the caller's readable range. MSG_DONTWAIT: never
        // wait for room; MSG_NOSIGNAL: a closed peer is an EPIPE error, not a SIGPIPE that kills the process.
        let n = unsafe { libc::send(fd, src.add(done).cast(), len - done, libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) };
        if n > 0 {
            done += n as usize;
            continue;
        }
        let e = if n == 0 { io::ErrorKind::WriteZero.into() } else { io::Error::last_os_error() };
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => return Ok(done),
            _ => return Err(e),
        }
    }
    Ok(done)
}

/// Bytes of a frame's parts up to which [`send_parts`] copies them into one buffer for a `send(2)`, rather than
/// handing the kernel a vector of them.
const GATHER_MAX: usize = 512;

/// One `send(2)` (one part, or up to [`GATHER_MAX`] bytes of parts copied together) or `sendmsg(2)` (longer
/// vectors) of `parts` on the socket `fd`, waiting as the socket's mode and send timeout say: the count of bytes
/// the socket took. Not `writev(2)`: a socket written through the file layer costs more per call (measured with
/// `perf`, `examples/tcp_opcount.rs put_signal`: `writev` of a header and an 8 B payload about 100 ns more than
/// this `send`), and `MSG_NOSIGNAL` makes a closed peer an `EPIPE` error even in a process that does not ignore
/// `SIGPIPE` (a C or Python program).
pub(crate) fn send_parts(fd: RawFd, parts: &[&[u8]]) -> io::Result<usize> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut gather = [0u8; GATHER_MAX];
    let one: Option<&[u8]> = match parts {
        [p] => Some(p),
        _ if total <= GATHER_MAX => {
            let mut at = 0;
            for p in parts {
                gather[at..at + p.len()].copy_from_slice(p);
                at += p.len();
            }
            Some(&gather[..total])
        }
        _ => None,
    };
    loop {
        let n = match one {
            // SAFETY: b is a live slice for the call.
            Some(b) => unsafe { libc::send(fd, b.as_ptr().cast(), b.len(), libc::MSG_NOSIGNAL) },
            None => {
                let iov: Vec<libc::iovec> =
                    parts.iter().map(|p| libc::iovec { iov_base: p.as_ptr() as *mut _, iov_len: p.len() }).collect();
                // SAFETY: an all-zero msghdr is valid (no name, no control data).
                let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
                msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
                msg.msg_iovlen = iov.len() as _;
                // SAFETY: msg names iov, live for the call, whose entries point to the live slices of parts; the
                // kernel only reads them.
                unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) }
            }
        };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The congestion controls a connection between two PEs of one host asks for, in this order: ones that do not
/// pace (the first the kernel allows; `reno` is built in and allowed to every process, `cubic` usually needs
/// `CAP_NET_ADMIN` where it is not the system default).
const HOST_LOCAL_CC: [&str; 2] = ["cubic", "reno"];

/// Whether both ends of `stream` are on this host (the peer's address is a loopback address or this end's own):
/// its segments then never leave the host, they go through the loopback device.
fn host_local(stream: &TcpStream) -> bool {
    match (stream.local_addr(), stream.peer_addr()) {
        (Ok(me), Ok(peer)) => peer.ip().is_loopback() || peer.ip() == me.ip(),
        _ => false,
    }
}

/// Gives a connection between two PEs of this host a congestion control that does not pace ([`HOST_LOCAL_CC`]);
/// others keep the system's. A pacing one (`bbr`, a common system default) without the `fq` queueing discipline
/// paces in TCP itself, with a timer per burst that the pacing rate allows, and the loopback device has no
/// queueing discipline: each 64 KiB segment of a large transfer then waits for a timer, which on a VM costs an
/// interrupt and often a wake-up of an idle vCPU. Measured on this 2-vCPU VM (`examples/tcp_opcount get_bw`,
/// 1 MiB gets): about 7.8 pacing timers per get and 1.8-2.6 GB/s with `bbr`, 0.1 and 4-6 GB/s with `cubic` or
/// `reno`. Pacing protects the queues of a real link; on the loopback device there are none. Best effort: where
/// none is allowed the connection keeps the system's (logged at debug level).
/// Public so that the benchmarks' raw TCP references get the same setting as the engine's sockets.
pub fn unpaced_if_host_local(stream: &TcpStream) {
    if !host_local(stream) {
        return;
    }
    let fd = stream.as_raw_fd();
    for cc in HOST_LOCAL_CC {
        // SAFETY: cc is a live buffer of cc.len() bytes for the call; the kernel copies at most that many.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_CONGESTION,
                cc.as_ptr().cast(),
                cc.len() as libc::socklen_t,
            )
        };
        if r == 0 {
            return;
        }
    }
    tracing::debug!(
        "TCP engine: keeping the system's congestion control on a host-local connection ({})",
        io::Error::last_os_error()
    );
}

/// The congestion control of `stream`'s socket (for tests).
#[cfg(test)]
pub(crate) fn congestion_control(stream: &TcpStream) -> String {
    let mut buf = [0u8; 16];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf is writable for len bytes; len is a live socklen_t the kernel updates.
    let r = unsafe {
        libc::getsockopt(stream.as_raw_fd(), libc::IPPROTO_TCP, libc::TCP_CONGESTION, buf.as_mut_ptr().cast(), &mut len)
    };
    assert_eq!(r, 0, "{}", io::Error::last_os_error());
    String::from_utf8_lossy(&buf[..len as usize]).trim_end_matches('\0').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Every way `send_parts` writes (one part; small parts gathered into one `send`; a long vector with
    /// `sendmsg`) puts exactly the parts' bytes on the wire, in order.
    #[test]
    fn send_parts_writes_the_parts_in_order() {
        use std::io::Read;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut b, _) = l.accept().unwrap();
        b.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let big: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
        let cases: [&[&[u8]]; 3] = [&[b"one part"], &[b"head", b"", b"payload"], &[b"header..", &big, b"tail"]];
        for parts in cases {
            let want: Vec<u8> = parts.concat();
            let mut got = vec![0u8; want.len()];
            assert_eq!(send_parts(a.as_raw_fd(), parts).unwrap(), want.len());
            b.read_exact(&mut got).unwrap();
            assert_eq!(got, want);
        }
    }

    /// Both ends of a loopback connection (the engine's connect side and accept side call this) end up with a
    /// congestion control that does not pace, whatever the system default is (`bbr` on this VM).
    #[test]
    fn host_local_connections_do_not_pace() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        assert!(host_local(&a) && host_local(&b));
        for s in [&a, &b] {
            unpaced_if_host_local(s);
            let cc = congestion_control(s);
            assert!(HOST_LOCAL_CC.contains(&cc.as_str()), "congestion control {cc:?}");
        }
    }
}
