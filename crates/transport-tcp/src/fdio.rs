//! Raw-descriptor I/O for the progress thread: reads straight into the heap and writes that never wait on
//! non-blocking sockets, without forming Rust references to shared memory that other processes write.

use std::io;
use std::os::fd::RawFd;

/// Reads at most `len` bytes into `dst` from the non-blocking `fd`: `Ok(0)` at end of stream,
/// `ErrorKind::WouldBlock` when nothing is there now.
///
/// # Safety
/// `dst..dst+len` must be writable memory that stays mapped for the call.
pub(crate) unsafe fn read_raw(fd: RawFd, dst: *mut u8, len: usize) -> io::Result<usize> {
    loop {
        // SAFETY: the caller guarantees dst..dst+len is writable; read(2) writes at most len bytes there.
        let n = unsafe { libc::read(fd, dst.cast(), len) };
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

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
