//! A child forked without `exec` (Python's `multiprocessing` fork start method) keeps copies of the progress
//! thread's sockets. Its own test binary: the fork copies every descriptor of the process, which would hold
//! other tests' connections open.

use shmem_core::conformance::{Testbed, TESTBED_SECRET};
use shmem_core::engine::BuildEngine;
use shmem_core::Pe;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;
use transport_tcp::wire::{client_handshake, JobKey};
use transport_tcp::TcpEngine;

/// CPU time (user + system, in clock ticks) of this process's TCP progress threads so far.
fn progress_threads_cpu() -> u64 {
    let mut ticks = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with("shmem-tcp-progr") {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the command (in parentheses): state is field 3, utime 14 and stime 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = rest.split(' ').collect();
        ticks += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    }
    ticks
}

/// A connection that closes while a forked child still holds a copy of the target's socket leaves the
/// target's `epoll` set (it is taken out explicitly, not by closing the descriptor): the progress thread then
/// sleeps, where a registration left behind reported the peer's close on every wait and kept it spinning.
#[test]
fn a_closed_connection_that_a_forked_child_still_holds_does_not_keep_the_progress_thread_busy() {
    let bed: Testbed<TcpEngine> = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let mut peer = TcpStream::connect(bed.engines[0].peer_addr(Pe(1))).unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    client_handshake(&mut peer, &JobKey::new(TESTBED_SECRET), 0, 1).unwrap();
    // SAFETY: the child only sleeps and exits (async-signal-safe calls), touching nothing of the parent's state.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork: {}", std::io::Error::last_os_error());
    if child == 0 {
        // SAFETY: plain system calls in the forked child.
        unsafe {
            libc::sleep(3);
            libc::_exit(0);
        }
    }
    // The peer closes its side (the child's copy of this socket keeps it open, but the FIN goes out): the
    // target reads the end of stream and drops the connection while the child still holds its socket.
    // (No FIN comes back before the child exits: it holds the target's socket too.)
    peer.shutdown(Shutdown::Write).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let before = progress_threads_cpu();
    std::thread::sleep(Duration::from_secs(1));
    let used = progress_threads_cpu() - before;
    let mut status = 0;
    // SAFETY: child is this process's child; status is a live int.
    unsafe { libc::waitpid(child, &mut status, 0) };
    // A spinning thread uses ~100 ticks (of 10 ms) in that second; a sleeping one about none.
    assert!(used < 20, "the progress threads used {used} clock ticks of CPU in 1 s with nothing to do");
}
