//! Behind a seccomp filter that refuses `epoll_pwait2` with `EPERM` (as container runtimes do with calls
//! their profile does not know), the TCP engine still works: the progress thread waits with `epoll_wait`.
//! Its own test binary: the filter stays on the thread that installs it and every thread it starts.

use shmem_core::conformance::Testbed;
use shmem_core::engine::{AtomicOp, AtomicWidth, BuildEngine, DataOpEngine};
use shmem_core::{HeapOffset, Pe};
use std::time::{Duration, Instant};
use transport_tcp::TcpEngine;

mod common;
use common::job_still_works;

/// Makes `epoll_pwait2` fail with `EPERM` for this thread and the threads it starts from now on.
fn refuse_epoll_pwait2() {
    const LD_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS: load seccomp_data.nr (offset 0)
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const RET_ALLOW: u32 = 0x7fff_0000;
    const RET_ERRNO: u32 = 0x0005_0000;
    let filter = [
        libc::sock_filter { code: LD_NR, jt: 0, jf: 0, k: 0 },
        libc::sock_filter { code: JEQ, jt: 0, jf: 1, k: libc::SYS_epoll_pwait2 as u32 },
        libc::sock_filter { code: RET, jt: 0, jf: 0, k: RET_ERRNO | libc::EPERM as u32 },
        libc::sock_filter { code: RET, jt: 0, jf: 0, k: RET_ALLOW },
    ];
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr() as *mut _ };
    // SAFETY: prctl with integer arguments; then with a live filter program that the kernel copies.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog as *const libc::sock_fprog),
            0,
            "seccomp: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[test]
fn the_engine_works_where_a_seccomp_filter_refuses_epoll_pwait2() {
    refuse_epoll_pwait2();
    // The filter is on: the call is refused with EPERM, not ENOSYS.
    // SAFETY: invalid descriptor and null pointers: the call is refused before the kernel would look at them.
    let r = unsafe { libc::syscall(libc::SYS_epoll_pwait2, -1, 0usize, 1, 0usize, 0usize, 8usize) };
    assert_eq!((r, std::io::Error::last_os_error().raw_os_error()), (-1, Some(libc::EPERM)));
    let bed: Testbed<TcpEngine> = Testbed::on_nodes(vec![0, 1], TcpEngine::build);
    let t = Instant::now();
    for round in 1..=20u8 {
        job_still_works(&bed, round);
        let old = bed.engines[1].atomic(Pe(0), HeapOffset(512), AtomicWidth::W64, AtomicOp::FetchAdd(1)).unwrap();
        assert_eq!(old, u64::from(round) - 1);
    }
    // A hang check (a progress thread that had stopped leaves each call to the 30 s control timeout).
    assert!(t.elapsed() < Duration::from_secs(10), "20 rounds took {:?}", t.elapsed());
}
