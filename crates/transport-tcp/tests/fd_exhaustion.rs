//! A PE out of file descriptors (its own limit, or an outsider's connections) must not turn its progress thread
//! into a busy loop: a connection that cannot be accepted stays in the listener's backlog and keeps the listener
//! readable, so a thread that went back to waiting at once would spin at 100% of a core (and log a warning per
//! round) for as long as it lasts. Its own test binary: it lowers the process's descriptor limit.

use shmem_core::conformance::Testbed;
use shmem_core::engine::BuildEngine;
use shmem_core::Pe;
use std::io::{Read, Seek};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;
use transport_tcp::TcpEngine;

mod common;
use common::job_still_works;

/// The CPU time (user + system, in clock ticks) the progress threads of this process used so far, read from
/// their already open `stat` files (no descriptor needed while the limit is exhausted).
fn progress_ticks(stats: &mut [std::fs::File]) -> u64 {
    stats
        .iter_mut()
        .map(|f| {
            let mut s = String::new();
            f.rewind().unwrap();
            f.read_to_string(&mut s).unwrap();
            // The fields after the command name (which is in parentheses): utime and stime are the 12th and 13th.
            let rest = &s[s.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
        })
        .sum()
}

fn set_fd_limit(soft: libc::rlim_t) -> libc::rlimit {
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: old is a live rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let new = libc::rlimit { rlim_cur: soft, rlim_max: old.rlim_max };
    // SAFETY: new is a live rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) }, 0);
    old
}

#[test]
fn connections_it_cannot_accept_do_not_make_the_progress_thread_spin() {
    let bed = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    job_still_works(&bed, 1);
    let SocketAddr::V4(target) = bed.engines[0].peer_addr(Pe(1)) else { panic!("the testbed listens on IPv4") };
    // Everything that needs a descriptor is opened first: the progress threads' stat files and the sockets that
    // will connect once no descriptor is left.
    let mut stats: Vec<std::fs::File> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|t| t.unwrap().path())
        .filter(|t| std::fs::read_to_string(t.join("comm")).unwrap().starts_with("shmem-tcp-progr"))
        .map(|t| std::fs::File::open(t.join("stat")).unwrap())
        .collect();
    assert_eq!(stats.len(), 2, "one progress thread per PE");
    let sockets: Vec<OwnedFd> = (0..4)
        .map(|_| {
            // SAFETY: socket(2) takes no pointers; the new descriptor is owned by the OwnedFd.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            assert!(fd >= 0);
            // SAFETY: fd is new and owned by nobody else.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect();
    // The lowest free descriptor number becomes the limit: no new descriptor can be made.
    let lowest_free = std::fs::File::open("/dev/null").unwrap().as_raw_fd();
    let old = set_fd_limit(lowest_free as libc::rlim_t);
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: target.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*target.ip()).to_be() },
        sin_zero: [0; 8],
    };
    for s in &sockets {
        // SAFETY: sa is a live sockaddr_in of the length given. (The kernel completes the connection into the
        // listener's backlog; PE 1 cannot accept it: no descriptor is left.)
        let r = unsafe {
            libc::connect(
                s.as_raw_fd(),
                (&sa as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = progress_ticks(&mut stats);
    std::thread::sleep(Duration::from_secs(1));
    let used = progress_ticks(&mut stats) - before;
    set_fd_limit(old.rlim_cur);
    // SAFETY: sysconf takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    // A thread spinning on the readable listener uses about all of that second (hz ticks); one that paused
    // accepting, a few accept attempts.
    assert!(used < hz / 4, "the progress threads used {used} of {hz} ticks in the second the descriptors ran out");
    drop(sockets);
    // Descriptors are back: the listener is watched again and the job connects as before.
    job_still_works(&bed, 2);
}
