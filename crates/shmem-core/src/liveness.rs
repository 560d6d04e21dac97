//! Noticing a node that stops answering without closing its connections (power lost, kernel crashed, network
//! cut: no FIN, no RST ever comes): TCP settings for the job's sockets, shared by the bootstrap store's watch
//! connections and the TCP engine.
//!
//! A connection that stays silent for the whole job (a store watch: after its hello neither end writes until
//! something happens) would never fail: [`keep_alive`] makes TCP probe the peer while it is idle; its kernel
//! answers while the process computes, sleeps or is stopped, so a slow PE is never taken for a dead one. A
//! connection with a request in flight to a dead node would retransmit for about 15 minutes (`tcp_retries2`):
//! [`bound_unacknowledged`] ends it once data has gone unacknowledged for a given time. That bound also ends a
//! connection whose peer keeps its window closed that long (a process stopped in a debugger with its receive
//! buffer full), so callers give it at least their control timeout, never less than the job allows.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

/// How long an idle connection with [`keep_alive`] stays silent before TCP probes its peer.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// The time between two unanswered probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
/// Unanswered probes that end the connection.
const KEEPALIVE_PROBES: u32 = 3;

/// How long a node that stopped answering goes unnoticed on a connection set up here: the idle time and the
/// unanswered probes of [`keep_alive`] (11 s).
pub const DEAD_PEER_NOTICED_WITHIN: Duration =
    Duration::from_secs(KEEPALIVE_IDLE.as_secs() + KEEPALIVE_INTERVAL.as_secs() * KEEPALIVE_PROBES as u64);

fn set(tcp: &TcpStream, level: libc::c_int, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: value is a live c_int of the length given; the descriptor is an open socket for the call.
    let r = unsafe {
        libc::setsockopt(
            tcp.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Ends the connection (reads and writes then fail with `ETIMEDOUT`) once data sent on it has gone
/// unacknowledged, or the peer's window has stayed closed, for `after` (`TCP_USER_TIMEOUT`, at most about 24
/// days). Costs nothing while the peer answers.
///
/// # Errors
/// What `setsockopt(2)` reports.
pub fn bound_unacknowledged(tcp: &TcpStream, after: Duration) -> io::Result<()> {
    let ms = after.as_millis().clamp(1, libc::c_int::MAX as u128) as libc::c_int;
    set(tcp, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT, ms)
}

/// [`bound_unacknowledged`], and TCP keepalive probes while the connection is idle, so that a silent connection
/// to a dead node fails within [`DEAD_PEER_NOTICED_WITHIN`] too. For the few connections that may stay silent
/// for good (one per PE, not one per pair of PEs: the probes are traffic).
///
/// # Errors
/// What `setsockopt(2)` reports.
pub fn keep_alive(tcp: &TcpStream) -> io::Result<()> {
    let secs = |d: Duration| d.as_secs() as libc::c_int;
    set(tcp, libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1)?;
    set(tcp, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs(KEEPALIVE_IDLE))?;
    set(tcp, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, secs(KEEPALIVE_INTERVAL))?;
    set(tcp, libc::IPPROTO_TCP, libc::TCP_KEEPCNT, KEEPALIVE_PROBES as libc::c_int)?;
    bound_unacknowledged(tcp, DEAD_PEER_NOTICED_WITHIN)
}

/// Whether `e` is a connection ended by [`bound_unacknowledged`] or [`keep_alive`]: the peer's node stopped
/// answering (as opposed to a receive timeout, which is `WouldBlock`, or a closed connection).
pub fn is_dead_peer(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ETIMEDOUT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(tcp: &TcpStream, level: libc::c_int, name: libc::c_int) -> libc::c_int {
        let mut v: libc::c_int = -1;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: v and len are live for the call; the descriptor is an open socket.
        let r =
            unsafe { libc::getsockopt(tcp.as_raw_fd(), level, name, (&mut v as *mut libc::c_int).cast(), &mut len) };
        assert_eq!(r, 0, "getsockopt: {}", io::Error::last_os_error());
        v
    }

    /// The settings that make a dead peer noticed within 11 s are on the socket, and only keep_alive probes.
    #[test]
    fn the_settings_reach_the_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (a, b) = (
            TcpStream::connect(l.local_addr().unwrap()).unwrap(),
            TcpStream::connect(l.local_addr().unwrap()).unwrap(),
        );
        bound_unacknowledged(&a, Duration::from_secs(120)).unwrap();
        assert_eq!(get(&a, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 0);
        assert_eq!(get(&a, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT), 120_000);
        bound_unacknowledged(&a, Duration::from_secs(365 * 24 * 3600)).unwrap();
        assert_eq!(get(&a, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT), libc::c_int::MAX);
        keep_alive(&b).unwrap();
        assert_eq!(get(&b, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
        assert_eq!(get(&b, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE), 5);
        assert_eq!(get(&b, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL), 2);
        assert_eq!(get(&b, libc::IPPROTO_TCP, libc::TCP_KEEPCNT), 3);
        assert_eq!(get(&b, libc::IPPROTO_TCP, libc::TCP_USER_TIMEOUT), 11_000);
        assert_eq!(DEAD_PEER_NOTICED_WITHIN, Duration::from_secs(11));
        assert!(is_dead_peer(&io::Error::from_raw_os_error(libc::ETIMEDOUT)));
        assert!(!is_dead_peer(&io::ErrorKind::WouldBlock.into()));
    }
}
