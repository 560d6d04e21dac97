//! Raw-descriptor I/O for the progress thread: reads straight into the heap and bounded writes on
//! non-blocking sockets, without forming Rust references to shared memory that other processes write.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

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

/// Writes all of `src..src+len` to the non-blocking `fd`, waiting for room at most until `timeout` has passed.
///
/// # Safety
/// `src..src+len` must be readable memory that stays mapped for the call.
pub(crate) unsafe fn write_all_raw(fd: RawFd, src: *const u8, len: usize, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut done = 0;
    while done < len {
        // SAFETY: done < len, so src+done..src+len is inside the caller's readable range. MSG_NOSIGNAL: a
        // closed peer is an EPIPE error, not a SIGPIPE that kills the process.
        let n = unsafe { libc::send(fd, src.add(done).cast(), len - done, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            done += n as usize;
            continue;
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "the peer stopped reading its replies"));
                }
                wait_fd(fd, libc::POLLOUT, left)?;
            }
            _ => return Err(e),
        }
    }
    Ok(())
}

/// Waits until `fd` is ready for `events` or `timeout` passed.
pub(crate) fn wait_fd(fd: RawFd, events: libc::c_short, timeout: Duration) -> io::Result<()> {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as libc::c_int;
    // SAFETY: p is one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
