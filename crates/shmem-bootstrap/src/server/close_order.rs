//! The order in which watch connections closed, as the kernel saw it.
//!
//! Every watch connection has its own thread, blocked in `read` until the close. When a node's launcher sees
//! one PE fail, it terminates that node's other PEs at once, so their closes reach the store microseconds after
//! the failed PE's. Those threads then race for the state lock, and on a loaded machine the thread of a PE the
//! launcher killed could report its rank lost first; every other PE would then name the wrong PE as the
//! job's failure.
//!
//! So every open watch socket is also in one `epoll(7)` set, edge-triggered on a hang-up. The kernel appends a
//! socket to the set's ready list when it processes the socket's close, so the list holds the closes in that
//! order. The first thread to notice a close drains the list under the state lock and reports, in that order,
//! every rank among them that had not left, its own included, unless the store is stopping or a PE called
//! global exit (see `ops::serve_watch`).
//!
//! # What the order guarantees
//! It is the order in which the kernel processed the closes. For closes made one after another, as by a
//! launcher ending PEs after one failed, that is normally the order they were made (the kernel may defer the
//! receive processing of a busy CPU, so it is no hard guarantee across CPUs). One case is known: a close that
//! arrives while the store is writing a notice to that same socket is processed when the write ends. That can
//! only delay a close, so the first loss of a burst (a PE that failed, then the PEs its launcher ended because
//! of it) stays first. A drained socket is queued again only by a later event on it (a reset after the close,
//! say); the watcher map, from which each loss is removed once under the state lock, keeps that from being a
//! second report.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// The events that mean "the peer closed" (a hang-up, a half close, or an error on the socket).
const CLOSED: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

/// The `epoll` set of the open watch sockets, each tagged with its connection id.
pub(super) struct CloseOrder {
    epoll: OwnedFd,
}

impl CloseOrder {
    /// A new, empty set.
    ///
    /// # Errors
    /// What `epoll_create1` reports (out of descriptors, for instance).
    pub(super) fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers; it returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Ok(CloseOrder { epoll: unsafe { OwnedFd::from_raw_fd(fd) } })
    }

    /// Adds watch socket `fd`, tagged `id`. A socket that already closed is queued at once.
    ///
    /// # Errors
    /// What `epoll_ctl` reports.
    pub(super) fn add(&self, fd: RawFd, id: u64) -> io::Result<()> {
        // Edge-triggered: a socket is queued again only by a new event, so a close drained once stays drained.
        // No EPOLLIN: bytes a client sent (watchers send none) would queue the socket early, and the kernel never
        // moves a queued socket, so its close would come out ahead of closes that arrived before it. A close
        // queues the socket whatever the mask (the state change wakes every waiter).
        let events = CLOSED | libc::EPOLLET as u32;
        let mut ev = libc::epoll_event { events, u64: id };
        // SAFETY: both descriptors are open; ev is a live epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Removes watch socket `fd` (before its last descriptor is closed: the set holds the open file, not the
    /// number). A socket that is not in the set is no error.
    pub(super) fn remove(&self, fd: RawFd) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: both descriptors are open; ev is a live epoll_event (ignored by DEL, required by old kernels).
        unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
    }

    /// The ids of the sockets whose close arrived since the last drain, in arrival order. Never blocks.
    pub(super) fn drain(&self) -> Vec<u64> {
        let mut closed = Vec::new();
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
        loop {
            // SAFETY: evs is a live, writable array of evs.len() events; a zero timeout never blocks.
            let n = unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), evs.as_mut_ptr(), evs.len() as i32, 0) };
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            let n = n.max(0) as usize;
            for ev in &evs[..n] {
                // Fields copied out by value: epoll_event is packed on x86-64, so no references into it.
                let (events, id) = (ev.events, ev.u64);
                if events & CLOSED != 0 {
                    closed.push(id);
                }
            }
            if n < evs.len() {
                return closed;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    /// Four connected pairs; client 3 sends a byte first, then the client ends close in the order 2, 0, 1, 3 and
    /// the set drains them in that order (the byte does not queue socket 3 early); a drained socket is not
    /// reported again.
    #[test]
    fn drains_closes_in_arrival_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..4 {
            clients.push(Some(TcpStream::connect(addr).unwrap()));
            servers.push(listener.accept().unwrap().0);
        }
        let set = CloseOrder::new().unwrap();
        for (id, s) in servers.iter().enumerate() {
            set.add(s.as_raw_fd(), id as u64).unwrap();
        }
        assert_eq!(set.drain(), Vec::<u64>::new());
        use std::io::Write;
        clients[3].as_mut().unwrap().write_all(b"x").unwrap();
        for id in [2, 0, 1, 3] {
            drop(clients[id].take());
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < 4 && std::time::Instant::now() < deadline {
            got.extend(set.drain());
        }
        assert_eq!(got, [2, 0, 1, 3]);
        assert_eq!(set.drain(), Vec::<u64>::new());
        set.remove(servers[2].as_raw_fd());
        set.remove(servers[2].as_raw_fd());
    }
}
