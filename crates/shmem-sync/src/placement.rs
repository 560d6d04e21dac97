//! Which CPU each PE of a node last ran on: a hint that lets a waiter tell whether yielding its core can help.
//!
//! Where a node's PEs outnumber its cores, a waiting PE yields, because the PE it waits for may be queued behind
//! it on the same core. Often it is not: with 4 PEs on 2 cores, a member of a one-node barrier whose core-mate
//! has already arrived waits only for the two PEs of the other core, and its yield hands the core to that mate,
//! which finds nothing to do and yields it back. Each of those switches costs about a microsecond on the critical
//! path of every call.
//!
//! So every PE leaves the CPU it runs on in its segment's header line ([`HeapLayout::cpu_hint`]) when it enters a
//! one-node barrier (and when its wait there ends), storing only when the CPU changed (the line then stays shared
//! in every cache). A waiter whose members still to come were all last seen on other CPUs polls instead of
//! yielding, for a bounded while (the hint may be stale: the scheduler may have moved a PE since).
//!
//! The CPU comes from `sched_getcpu`, which glibc 2.35 and later answer from the thread's restartable-sequences
//! area (a load, 1 ns on the 2-core VM), older ones on x86 from the vDSO; elsewhere it may be a system call. Hints
//! are published only where the node's PEs outnumber its cores ([`crate::wait::cores_shared`]): at a barrier's
//! entry and again after its wait (which may have slept and been woken on another CPU).
//!
//! [`HeapLayout::cpu_hint`]: shmem_core::heap::HeapLayout::cpu_hint

use shmem_core::heap::NodeSegments;
use shmem_core::Pe;
use std::sync::atomic::Ordering;

/// The CPU this thread runs on now, plus one; zero when it cannot be told.
#[inline]
pub fn current_cpu() -> u64 {
    // SAFETY: sched_getcpu takes no arguments and only reads this thread's state; it returns -1 on failure.
    let cpu = unsafe { libc::sched_getcpu() };
    u64::try_from(cpu).map_or(0, |c| c + 1)
}

/// Leaves the CPU this thread runs on in this PE's hint (only when it changed) and returns it (see
/// [`current_cpu`]).
#[inline]
pub fn publish(node: &NodeSegments) -> u64 {
    let cpu = current_cpu();
    let hint = node.word64(node.me(), node.layout().cpu_hint());
    if hint.load(Ordering::Relaxed) != cpu {
        hint.store(cpu, Ordering::Relaxed);
    }
    cpu
}

/// Whether `pe` (mapped on this node) may share the CPU `cpu` (as from [`current_cpu`]) with this thread: its
/// hint names that CPU, or nothing is known (no hint yet, or this thread's CPU is unknown).
#[inline]
pub fn may_share(node: &NodeSegments, pe: Pe, cpu: u64) -> bool {
    let hint = node.word64(pe, node.layout().cpu_hint()).load(Ordering::Relaxed);
    cpu == 0 || hint == 0 || hint == cpu
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::wait::tests::test_node_of;

    /// Pins this thread to `cpu` (for the rest of its life).
    pub(crate) fn pin(cpu: usize) {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it; sched_setaffinity reads it.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            assert_eq!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set), 0);
        }
    }

    /// The CPUs this process may run on.
    pub(crate) fn allowed_cpus() -> Vec<usize> {
        // SAFETY: as in `pin`; sched_getaffinity fills the set.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            assert_eq!(libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set), 0);
            (0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect()
        }
    }

    #[test]
    fn the_current_cpu_is_the_one_a_pinned_thread_runs_on() {
        for cpu in allowed_cpus().into_iter().take(4) {
            let seen = std::thread::spawn(move || {
                pin(cpu);
                current_cpu()
            })
            .join()
            .unwrap();
            assert_eq!(seen, cpu as u64 + 1);
        }
    }

    /// A PE's hint is the CPU it published from (plus one), and a peer may share this thread's CPU when its hint
    /// names that CPU or nothing; an unknown CPU of this thread shares with everyone.
    #[test]
    fn a_hint_names_the_publishing_cpu_and_decides_sharing() {
        let node = test_node_of("hint", 2);
        let cpu = allowed_cpus()[0];
        let (published, hint) = std::thread::scope(|s| {
            s.spawn(|| {
                pin(cpu);
                (publish(node), node.word64(Pe(0), node.layout().cpu_hint()).load(Ordering::Relaxed))
            })
            .join()
            .unwrap()
        });
        assert_eq!((published, hint), (cpu as u64 + 1, cpu as u64 + 1));
        let peer = node.word64(Pe(1), node.layout().cpu_hint());
        let mine = cpu as u64 + 1;
        for (peer_hint, me, shares) in
            [(0, mine, true), (mine, mine, true), (mine + 1, mine, false), (mine + 1, 0, true)]
        {
            peer.store(peer_hint, Ordering::Relaxed);
            assert_eq!(may_share(node, Pe(1), me), shares, "peer hint {peer_hint}, this CPU {me}");
        }
        // A stale hint is replaced by the next publish.
        node.word64(Pe(0), node.layout().cpu_hint()).store(u64::MAX, Ordering::Relaxed);
        std::thread::scope(|s| {
            s.spawn(|| {
                pin(cpu);
                publish(node);
            });
        });
        assert_eq!(node.word64(Pe(0), node.layout().cpu_hint()).load(Ordering::Relaxed), cpu as u64 + 1);
    }
}
