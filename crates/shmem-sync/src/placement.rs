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

/// Binds the calling thread to one CPU of those it may run on now, for `SHMEM_BIND=core` (`mpirun --bind-to core`
/// style): the PE of node-local index `local_index` of `local_pes` gets the CPU at position
/// `local_index * cpus / local_pes` of the allowed set, so that PEs fill the CPUs in blocks (two neighbours per CPU
/// when there are twice as many PEs as CPUs) and each has its own where they fit. Returns the CPU.
///
/// Why: where PEs outnumber cores, the scheduler moves them between cores and sometimes leaves one core with more
/// of them than the other (`perf sched` of 8 PEs on 2 cores: 6 and 2, the second core idle 12% of the time); a
/// 4-PE 8-byte sum in Python took 2.4 µs bound in blocks against 2.9 µs free (4 alternated loops each). It is
/// opt-in: under other processes' load a bound PE cannot move to a free core.
///
/// The waits' notion of this node's cores is taken before the set narrows ([`crate::wait`]'s `cores`).
/// Threads started before the call (engine threads) keep the wider set.
///
/// # Errors
/// The operating system's, when the allowed set cannot be read or set (the thread keeps its set then).
pub fn bind_to_core(local_index: u32, local_pes: u32) -> std::io::Result<usize> {
    let _ = crate::wait::cores();
    let allowed = allowed_cpus()?;
    if allowed.is_empty() || local_pes == 0 || local_index >= local_pes {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "no CPU to bind to"));
    }
    let cpu = allowed[(u64::from(local_index) * allowed.len() as u64 / u64::from(local_pes)) as usize];
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it (cpu < CPU_SETSIZE, it came from
    // a set); sched_setaffinity only reads it.
    let rc = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cpu)
}

/// The CPUs the calling thread may run on, in ascending order.
///
/// # Errors
/// The operating system's.
pub fn allowed_cpus() -> std::io::Result<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set, which sched_getaffinity fills; CPU_ISSET reads inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize).filter(|&c| libc::CPU_ISSET(c, &set)).collect())
    }
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

    /// The CPUs this thread may run on.
    pub(crate) fn allowed_cpus() -> Vec<usize> {
        super::allowed_cpus().expect("sched_getaffinity")
    }

    /// Binding picks the CPU of the PE's block, narrows this thread's set to it, refuses an index outside the
    /// node, and leaves the waits' count of cores as it was.
    #[test]
    fn binding_to_a_core_takes_the_block_of_the_local_index() {
        std::thread::spawn(|| {
            let before = allowed_cpus();
            let cores = crate::wait::cores();
            let n = before.len() as u32;
            // Twice as many PEs as CPUs: the last PE's block is the last CPU.
            assert_eq!(bind_to_core(2 * n - 1, 2 * n).unwrap(), *before.last().unwrap());
            assert_eq!(allowed_cpus(), vec![*before.last().unwrap()]);
            assert_eq!(crate::wait::cores(), cores);
            assert_eq!(bind_to_core(3, 3).unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(allowed_cpus(), vec![*before.last().unwrap()], "a refused call changes nothing");
            // From the narrowed set: the only CPU left.
            assert_eq!(bind_to_core(0, 4).unwrap(), *before.last().unwrap());
        })
        .join()
        .unwrap();
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
