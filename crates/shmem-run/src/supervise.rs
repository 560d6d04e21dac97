//! Watching the PEs: notice them as they exit, end the job on the first failure, the timeout or a launcher
//! signal, and tear it down with SIGTERM, then SIGKILL, sent to each PE's process group; after a success
//! too, so that nothing a PE left running in its group outlives the job.
//!
//! A PE that exits is left a zombie (`waitid(WNOWAIT)` reads its status) until the teardown's last signal:
//! the kernel does not reuse the pid of an unreaped process, and that pid is also the id of the PE's process
//! group, so `killpg` cannot reach an unrelated group that got the number meanwhile.

use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::signals::take_pending;
use crate::status::{JobEnd, PeStatus};

/// How often the PEs are polled at the latest: a failure is noticed within this long even without pidfds.
/// With pidfds (Linux 5.3+) the launcher wakes as soon as a PE exits, so that the PE that failed first is
/// the one reported, not a PE that failed a moment later because of it.
const POLL: Duration = Duration::from_millis(5);

/// `now + d`, or a year from now when `d` is longer than any `Instant` can hold (a `JobSpec` built in code
/// may carry any duration; the command line already refuses those above a year).
pub(crate) fn later(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).or_else(|| now.checked_add(shmem_core::attr::MAX_DURATION)).unwrap_or(now)
}

/// The started PEs, indexed by rank, and how each ended.
pub(crate) struct Supervisor {
    /// `children[i]` is PE `i`; each is the leader of its own process group.
    children: Vec<Child>,
    /// One entry per PE of the job; `None` while running or never started.
    statuses: Vec<Option<PeStatus>>,
    /// Global rank of `children[0]` (a node's PEs are consecutive ranks): what reports name.
    first_pe: u32,
    grace: Duration,
    /// A pidfd per PE (readable once it exits), `None` where the kernel has no pidfd_open.
    pidfds: Vec<Option<OwnedFd>>,
    /// `reaped[i]`: PE `i` was waited for, so its pid and group id are free for the kernel to reuse and its
    /// group must not be signalled any more.
    reaped: Vec<bool>,
}

impl Supervisor {
    pub(crate) fn new(n_pes: u32, first_pe: u32, grace: Duration) -> Self {
        let statuses = vec![None; n_pes as usize];
        let children = Vec::with_capacity(n_pes as usize);
        Self { children, statuses, first_pe, grace, pidfds: Vec::new(), reaped: Vec::new() }
    }

    /// Adds the next PE (rank = number of PEs pushed so far).
    pub(crate) fn push(&mut self, child: Child) {
        self.pidfds.push(pidfd_open(child.id()));
        self.children.push(child);
        self.reaped.push(false);
    }

    /// Sleeps up to `most`, returning early when a running PE exits (when every running PE has a pidfd).
    fn wait_for_exit(&self, most: Duration) {
        let mut fds = Vec::with_capacity(self.children.len());
        for (pe, fd) in self.pidfds.iter().enumerate() {
            if self.statuses[pe].is_some() {
                continue;
            }
            match fd {
                Some(fd) => fds.push(libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }),
                None => return std::thread::sleep(most),
            }
        }
        if fds.is_empty() {
            return;
        }
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd entries for the duration of the call; a signal
        // (EINTR) or the timeout just returns early, which the caller's loop handles.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, most.as_millis() as libc::c_int) };
    }

    pub(crate) fn into_statuses(self) -> Vec<Option<PeStatus>> {
        self.statuses
    }

    fn running(&self) -> u32 {
        self.children.iter().enumerate().filter(|(i, _)| self.statuses[*i].is_none()).count() as u32
    }

    /// Records how every PE that has ended ended, leaving it a zombie (see the module docs); returns the first
    /// failure among them (index on this node), lowest first.
    fn reap(&mut self) -> io::Result<Option<(u32, PeStatus)>> {
        let mut failure = None;
        for (pe, child) in self.children.iter().enumerate() {
            if self.statuses[pe].is_some() {
                continue;
            }
            if let Some(status) = exit_status(child.id())? {
                tracing::debug!(pe, %status, "PE ended");
                self.statuses[pe] = Some(status);
                if !status.success() && failure.is_none() {
                    failure = Some((pe as u32, status));
                }
            }
        }
        Ok(failure)
    }

    /// Waits until every PE has exited, one fails, `timeout` passes or the launcher is signalled; in the
    /// last three cases prints the reason to stderr. Then tears the job down, which after a success ends
    /// only what the PEs left running in their process groups (a helper started in the background).
    pub(crate) fn run(&mut self, timeout: Option<Duration>) -> io::Result<JobEnd> {
        let deadline = timeout.map(later);
        let end = loop {
            if let Some((pe, status)) = self.reap()? {
                break JobEnd::PeFailed { pe: self.first_pe + pe, status, others_running: self.running() };
            }
            if self.running() == 0 {
                break JobEnd::Success;
            }
            if let Some(signal) = take_pending() {
                break JobEnd::Interrupted { signal, running: self.running() };
            }
            if let (Some(after), Some(deadline)) = (timeout, deadline) {
                if Instant::now() >= deadline {
                    break JobEnd::TimedOut { after, running: self.running() };
                }
            }
            self.wait_for_exit(POLL);
        };
        if end != JobEnd::Success {
            // A failed write (a closed pipe, a hung-up terminal) must not keep the job from being torn down.
            let _ = writeln!(io::stderr(), "shmemrun: {end}");
        }
        self.terminate()?;
        Ok(end)
    }

    /// Sends SIGTERM to every PE's process group, waits up to the grace period while a PE or another process
    /// of those groups lives (cut short by another launcher signal), then sends SIGKILL to every group and
    /// reaps the PEs.
    ///
    /// Groups of PEs that already exited are signalled too, so that their leftover children go as well; the
    /// PEs are reaped only after the SIGKILL. Once reaped, a PE's group is not signalled again.
    pub(crate) fn terminate(&mut self) -> io::Result<()> {
        self.signal_groups(libc::SIGTERM);
        let until = later(self.grace);
        while (self.running() > 0 || self.groups_alive()) && Instant::now() < until {
            if take_pending().is_some() {
                break;
            }
            std::thread::sleep(POLL);
            self.reap()?;
        }
        self.signal_groups(libc::SIGKILL);
        self.collect()
    }

    /// Waits for every PE not yet reaped (blocking for those still running) and reaps it.
    fn collect(&mut self) -> io::Result<()> {
        for (pe, child) in self.children.iter_mut().enumerate() {
            if self.reaped[pe] {
                continue;
            }
            let status = PeStatus::from_exit_status(child.wait()?);
            self.statuses[pe].get_or_insert(status);
            self.reaped[pe] = true;
        }
        Ok(())
    }

    /// Whether a live process is in the process group of a PE not yet reaped: a running PE, or a process
    /// that outlived its PE. `false` where `/proc` cannot be read (the grace period then ends with the PEs).
    fn groups_alive(&self) -> bool {
        let groups: Vec<libc::pid_t> = (self.children.iter().zip(&self.reaped))
            .filter(|(_, reaped)| !**reaped)
            .map(|(child, _)| child.id() as libc::pid_t)
            .collect();
        if groups.is_empty() {
            return false;
        }
        let Ok(dir) = std::fs::read_dir("/proc") else { return false };
        dir.flatten().any(|entry| {
            let name = entry.file_name();
            let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { return false };
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| live_member(&stat, &groups))
        })
    }

    fn signal_groups(&self, sig: libc::c_int) {
        for (pe, child) in self.children.iter().enumerate() {
            if self.reaped[pe] {
                continue;
            }
            // The group id is the leader's pid (`process_group(0)`). The leader is not reaped yet, so the
            // kernel keeps that pid reserved and the signal cannot reach an unrelated process group.
            let pgid = child.id() as libc::pid_t;
            // SAFETY: killpg only sends a signal; it touches no memory of this process.
            if unsafe { libc::killpg(pgid, sig) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    tracing::warn!(pe, pgid, sig, error = %e, "cannot signal the PE's process group");
                }
            }
        }
    }
}

/// Whether the process described by `stat` (the text of `/proc/<pid>/stat`) is alive, not a zombie, and in
/// one of the process groups `groups`.
fn live_member(stat: &str, groups: &[libc::pid_t]) -> bool {
    // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses, so split at the last `)`.
    let Some((_, rest)) = stat.rsplit_once(')') else { return false };
    let mut fields = rest.split_ascii_whitespace();
    let (state, pgrp) = (fields.next(), fields.nth(1).and_then(|g| g.parse::<libc::pid_t>().ok()));
    !matches!(state, None | Some("Z" | "X" | "x")) && pgrp.is_some_and(|g| groups.contains(&g))
}

/// How PE `pid` ended, once it has, without reaping it (`waitid` with `WNOWAIT`): it stays a zombie.
fn exit_status(pid: u32) -> io::Result<Option<PeStatus>> {
    // SAFETY: an all-zero siginfo_t is a valid value; waitid fills it in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a live, exclusively borrowed siginfo_t for the duration of the call.
    if unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags) } != 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(None) } else { Err(e) };
    }
    // SAFETY: waitid succeeded, so `info` holds either zeros (still running, WNOHANG) or a SIGCHLD record,
    // whose si_pid and si_status fields these read.
    let (who, code) = unsafe { (info.si_pid(), info.si_status()) };
    if who == 0 {
        return Ok(None);
    }
    Ok(Some(match info.si_code {
        libc::CLD_EXITED => PeStatus::Exited(code),
        _ => PeStatus::Signaled(code),
    }))
}

/// A pidfd for `pid` (readable once the process exits), or `None` where the kernel lacks pidfd_open.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; no memory is passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a descriptor the kernel just created for us, owned by nothing else.
    Some(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_members_of_the_groups() {
        let groups = [100, 200];
        assert!(live_member("4242 (sleep) S 100 200 200 0 -1", &groups));
        assert!(live_member("100 (a) b) (c) R 1 100 100 0", &groups));
        assert!(!live_member("100 (sh) Z 1 100 100 0", &groups), "a zombie is not alive");
        assert!(!live_member("4242 (sleep) S 200 300 300 0", &groups), "another group");
        assert!(!live_member("4242 (sleep) S", &groups));
        assert!(!live_member("", &groups));
    }
}
