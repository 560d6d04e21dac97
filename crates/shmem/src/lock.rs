//! Distributed locks (OpenSHMEM 1.5 §9.11): `set_lock`, `test_lock`, `clear_lock` on a symmetric lock word.
//!
//! The lock word is a symmetric `long` (8 bytes, 8-aligned, zero before first use, as OpenSHMEM requires). It is
//! a queue lock in the style of Mellor-Crummey and Scott, with the queue in the symmetric heap and every step a
//! remote AMO, so it works on any engine and across nodes:
//! - the low 32-bit half of PE 0's copy is the queue's tail: 0 when the lock is free, else 1 + the last PE
//!   that asked for it;
//! - the high half of every PE's copy is that PE's queue node: bits 0..31 hold 1 + its successor (0 = none
//!   yet), bit 31 is set by its predecessor when the lock passes to it.
//!
//! To acquire, a PE clears its node, swaps itself into the tail, and, when there was a previous tail, writes
//! itself into that PE's node (an atomic OR) and waits on its own node until the predecessor grants the lock.
//! The wait is the runtime's (spin briefly, then sleep on a futex that the granting AMO wakes), so waiters do
//! not take the CPU from the holder when PEs outnumber cores. To release, the holder completes its own
//! operations (quiet), then grants the lock to its successor; with none recorded, it resets the tail with a
//! compare-and-swap, and if another PE swapped itself in meanwhile it waits for that PE's OR to arrive first.
//! PEs get the lock in the order they swapped into the tail: the lock is fair (FIFO).
//!
//! # Giving up a wait (Ctrl-C in Python)
//! A PE queued in [`LockAcquire::wait`] can stop waiting with [`LockAcquire::abandon`] (the Python binding does
//! when a signal handler raises, e.g. KeyboardInterrupt). It cannot leave the queue itself: its predecessor
//! and successor are linked through its node. Instead it sets bit 30 of its node ("abandoned") with one atomic
//! OR. If the lock had already passed to it (the OR returns the granted bit), it releases the lock at once, as
//! `clear_lock` does. Otherwise the PE that later grants it the lock sees the abandoned bit in the value its
//! grant returns and passes the lock on in its place: to the abandoned PE's successor (waiting for it to
//! register if it is mid-way through joining), or frees the lock when the abandoned PE is still the tail; then
//! it clears the abandoned node. Until that node is clear, a new `set_lock` of the abandoned PE on that lock
//! first waits for it (its node is still in the queue), and `test_lock` returns "held". The queue stays
//! consistent and FIFO for everyone else; the one cost is that the abandoned PE's slot is skipped only when the
//! lock reaches it. (Successor numbers therefore use 30 bits: at most 2^30 - 2 PEs.)
//!
//! `test_lock` takes the lock only when the tail is free (one compare-and-swap) and returns at once either
//! way. A PE that does not hold a lock and calls `clear_lock`, or calls `set_lock` on a lock it already holds
//! (or is acquiring in another thread), gets INVALID_PARAM: the runtime keeps the set of locks each PE holds.

use crate::current::with_current;
use crate::runtime::Runtime;
use crate::sym::SymVec;
use crate::waits::WaitLimit;
use crate::Shmem;
use shmem_core::engine::{AtomicOp, AtomicWidth, DataOpEngine};
use shmem_core::{Error, HeapOffset, Pe, Result};
use shmem_sync::CmpOp;
use std::collections::HashSet;
use std::sync::Mutex;

/// The PE whose copy of the lock word holds the queue's tail.
const HOME: Pe = Pe(0);
/// Bit of a queue node that says the lock passed to its PE.
const GRANTED: u64 = 1 << 31;
/// Bit of a queue node that says its PE stopped waiting before the lock passed to it (see the module doc).
const ABANDONED: u64 = 1 << 30;
/// Bits of a queue node that hold 1 + the successor PE.
const NEXT_MASK: u64 = ABANDONED - 1;

/// Locks (runtime identity, lock word offset) this process holds or is acquiring.
static HELD: Mutex<Option<HashSet<(usize, u64)>>> = Mutex::new(None);
/// Locks whose wait this process abandoned and whose queue node the lock has not reached yet.
static ABANDONED_NODES: Mutex<Option<HashSet<(usize, u64)>>> = Mutex::new(None);

fn abandoned_pending(rt: &Runtime, off: HeapOffset) -> bool {
    ABANDONED_NODES.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|h| h.contains(&key(rt, off)))
}

fn set_abandoned(rt: &Runtime, off: HeapOffset, on: bool) {
    let mut set = ABANDONED_NODES.lock().unwrap_or_else(|e| e.into_inner());
    let set = set.get_or_insert_with(HashSet::new);
    if on {
        set.insert(key(rt, off));
    } else {
        set.remove(&key(rt, off));
    }
}

fn key(rt: &Runtime, off: HeapOffset) -> (usize, u64) {
    (rt as *const Runtime as usize, off.0)
}

/// Records that this PE takes (or is taking) the lock; INVALID_PARAM when it already does.
fn claim(rt: &Runtime, off: HeapOffset, addr: usize) -> Result<()> {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if !held.get_or_insert_with(HashSet::new).insert(key(rt, off)) {
        return Err(Error::invalid(format!(
            "PE {} already holds (or another of its threads is acquiring) the lock at {addr:#x}; \
             OpenSHMEM locks are not recursive",
            rt.me.0
        )));
    }
    Ok(())
}

fn unclaim(rt: &Runtime, off: HeapOffset) -> bool {
    HELD.lock().unwrap_or_else(|e| e.into_inner()).as_mut().is_some_and(|h| h.remove(&key(rt, off)))
}

fn holds(rt: &Runtime, off: HeapOffset) -> bool {
    HELD.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|h| h.contains(&key(rt, off)))
}

/// The checked offset of the lock word at `addr` (8 bytes, 8-aligned, in the heap).
fn lock_word(rt: &Runtime, addr: usize) -> Result<HeapOffset> {
    rt.check_live()?;
    rt.offset_of(addr, 8, 8, HOME)
}

fn amo(rt: &Runtime, pe: Pe, at: HeapOffset, op: AtomicOp) -> Result<u64> {
    rt.router.for_atomic(pe).atomic(pe, at, AtomicWidth::W32, op)
}

/// The queue node (high half) of the lock word at `off`.
fn node(off: HeapOffset) -> HeapOffset {
    off.plus(4)
}

/// Waits until this PE's queue node at `off` satisfies `done`; returns the node's value.
fn wait_node(rt: &Runtime, off: HeapOffset, cmp: CmpOp, value: u32, what: &str) -> Result<u32> {
    wait_node_limited(rt, off, cmp, value, what, None)
}

/// [`wait_node`] for at most `limit` (a `Timeout` error when it runs out).
fn wait_node_limited(
    rt: &Runtime,
    off: HeapOffset,
    cmp: CmpOp,
    value: u32,
    what: &str,
    limit: Option<WaitLimit<'_>>,
) -> Result<u32> {
    let at = node(off);
    let ctx = rt.wait_ctx_limited(limit.map(|l| l.timeout), limit.and_then(|l| l.clock));
    shmem_sync::wait::wait_until(
        &ctx,
        Some((at, 4)),
        || {
            let v: u32 = shmem_sync::wait::load_local(&rt.node, at);
            cmp.holds(v, value).then_some(v)
        },
        || format!("lock word at heap offset {:#x}: {what}", off.0),
    )
}

fn set_lock_rt(rt: &Runtime, addr: usize) -> Result<()> {
    let off = lock_word(rt, addr)?;
    claim(rt, off, addr)?;
    let r = acquire(rt, off);
    if r.is_err() {
        unclaim(rt, off);
    }
    r
}

fn acquire(rt: &Runtime, off: HeapOffset) -> Result<()> {
    if abandoned_pending(rt, off) {
        wait_node(rt, off, CmpOp::Eq, 0, "waiting for the lock to pass the wait this PE abandoned")?;
        set_abandoned(rt, off, false);
    }
    if !enqueue(rt, off)? {
        wait_node(rt, off, CmpOp::Ge, GRANTED as u32, "waiting for the lock to pass to this PE")?;
    }
    Ok(())
}

/// Joins the queue; `true` when the lock was free (this PE holds it now).
fn enqueue(rt: &Runtime, off: HeapOffset) -> Result<bool> {
    let me = rt.me;
    // Nobody writes this PE's node while it is not queued: its last predecessor granted and its last successor
    // registered before it released (or, for an abandoned wait, the PE that passed the lock on cleared it).
    amo(rt, me, node(off), AtomicOp::Swap(0))?;
    let prev = amo(rt, HOME, off, AtomicOp::Swap(u64::from(me.0) + 1))?;
    if prev == 0 {
        return Ok(true);
    }
    let pred = Pe(prev as u32 - 1);
    amo(rt, pred, node(off), AtomicOp::FetchOr(u64::from(me.0) + 1))?;
    Ok(false)
}

/// Where an interruptible acquisition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// This PE's node is still in the queue from an abandoned wait: wait until the lock has passed it.
    Settling,
    /// Queued: wait for the grant.
    Queued,
    /// This PE holds the lock.
    Held,
}

/// An acquisition of a lock that the caller waits for in slices and may abandon between them (the Python
/// binding's interruptible `set_lock`; see the module doc).
#[derive(Debug)]
pub struct LockAcquire {
    addr: usize,
    off: HeapOffset,
    stage: Stage,
}

impl LockAcquire {
    /// Starts `set_lock(lock)`: claims the lock for this PE and joins its queue (or, after an abandoned wait
    /// whose node the lock has not reached yet, prepares to wait for that first).
    ///
    /// # Errors
    /// As [`set_lock`].
    pub fn start(lock: usize) -> Result<LockAcquire> {
        with_current(|rt| {
            let off = lock_word(rt, lock)?;
            claim(rt, off, lock)?;
            let settled = || shmem_sync::wait::load_local::<u32>(&rt.node, node(off)) == 0;
            if abandoned_pending(rt, off) && settled() {
                set_abandoned(rt, off, false);
            }
            let stage = if abandoned_pending(rt, off) {
                Ok(Stage::Settling)
            } else {
                enqueue(rt, off).map(|held| if held { Stage::Held } else { Stage::Queued })
            };
            match stage {
                Ok(stage) => Ok(LockAcquire { addr: lock, off, stage }),
                Err(e) => {
                    unclaim(rt, off);
                    Err(e)
                }
            }
        })
    }

    /// Waits at most `limit` for the lock: `true` when this PE holds it.
    ///
    /// # Errors
    /// Errors of the runtime (the job failed); the acquisition is over then.
    pub fn wait(&mut self, limit: WaitLimit<'_>) -> Result<bool> {
        with_current(|rt| {
            let r = self.step(rt, limit);
            if r.is_err() {
                unclaim(rt, self.off);
            }
            r
        })
    }

    fn step(&mut self, rt: &Runtime, limit: WaitLimit<'_>) -> Result<bool> {
        let timed_out = |r: Result<u32>| match r {
            Ok(_) => Ok(false),
            Err(Error::Timeout { .. }) => Ok(true),
            Err(e) => Err(e),
        };
        if self.stage == Stage::Settling {
            let what = "waiting for the lock to pass the wait this PE abandoned";
            if timed_out(wait_node_limited(rt, self.off, CmpOp::Eq, 0, what, Some(limit)))? {
                return Ok(false);
            }
            set_abandoned(rt, self.off, false);
            self.stage = if enqueue(rt, self.off)? { Stage::Held } else { Stage::Queued };
        }
        if self.stage == Stage::Queued {
            let what = "waiting for the lock to pass to this PE";
            if timed_out(wait_node_limited(rt, self.off, CmpOp::Ge, GRANTED as u32, what, Some(limit)))? {
                return Ok(false);
            }
            self.stage = Stage::Held;
        }
        Ok(true)
    }

    /// Stops waiting: this PE will not hold the lock when this returns. Queued, it marks its node abandoned
    /// (the lock skips it later); when the lock had already reached it, it releases it at once.
    ///
    /// # Errors
    /// Errors of the runtime's AMOs (the job failed).
    pub fn abandon(self) -> Result<()> {
        with_current(|rt| match self.stage {
            Stage::Settling => {
                unclaim(rt, self.off);
                Ok(())
            }
            Stage::Held => clear_lock_rt(rt, self.addr),
            Stage::Queued => {
                let old = amo(rt, rt.me, node(self.off), AtomicOp::FetchOr(ABANDONED));
                match old {
                    Ok(v) if v & GRANTED != 0 => clear_lock_rt(rt, self.addr),
                    Ok(_) => {
                        set_abandoned(rt, self.off, true);
                        unclaim(rt, self.off);
                        Ok(())
                    }
                    Err(e) => {
                        unclaim(rt, self.off);
                        Err(e)
                    }
                }
            }
        })
    }
}

/// Grants the lock to `succ`; when `succ` abandoned its wait, passes it on in its place (to its successor, or
/// frees the lock when it is still the tail) and clears its node, and so on down the queue.
fn grant(rt: &Runtime, off: HeapOffset, mut succ: Pe) -> Result<()> {
    loop {
        let old = amo(rt, succ, node(off), AtomicOp::FetchOr(GRANTED))?;
        if old & ABANDONED == 0 {
            return Ok(());
        }
        let mut next = old & NEXT_MASK;
        if next == 0 {
            let tail = u64::from(succ.0) + 1;
            if amo(rt, HOME, off, AtomicOp::CompareSwap { cond: tail, value: 0 })? == tail {
                amo(rt, succ, node(off), AtomicOp::Swap(0))?;
                return Ok(());
            }
            next = wait_registered(rt, off, succ)?;
        }
        amo(rt, succ, node(off), AtomicOp::Swap(0))?;
        succ = Pe(next as u32 - 1);
    }
}

/// Waits until a PE that swapped itself into the tail after `pe` has written itself into `pe`'s node (a remote
/// node: polled with AMOs, backing off to 1 ms; the window is the two AMOs of a joining PE); returns 1 + it.
fn wait_registered(rt: &Runtime, off: HeapOffset, pe: Pe) -> Result<u64> {
    let mut pause = std::time::Duration::from_micros(1);
    loop {
        let v = amo(rt, pe, node(off), AtomicOp::Fetch)? & NEXT_MASK;
        if v != 0 {
            return Ok(v);
        }
        rt.check_live()?;
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(1));
    }
}

fn test_lock_rt(rt: &Runtime, addr: usize) -> Result<bool> {
    let off = lock_word(rt, addr)?;
    if abandoned_pending(rt, off) {
        if shmem_sync::wait::load_local::<u32>(&rt.node, node(off)) != 0 {
            // This PE's abandoned node is still queued: someone holds the lock (and the node must not be reset).
            return Ok(false);
        }
        set_abandoned(rt, off, false);
    }
    claim(rt, off, addr)?;
    let me = rt.me;
    let r = amo(rt, me, node(off), AtomicOp::Swap(0))
        .and_then(|_| amo(rt, HOME, off, AtomicOp::CompareSwap { cond: 0, value: u64::from(me.0) + 1 }));
    match r {
        Ok(0) => Ok(true),
        Ok(_) => {
            unclaim(rt, off);
            Ok(false)
        }
        Err(e) => {
            unclaim(rt, off);
            Err(e)
        }
    }
}

fn clear_lock_rt(rt: &Runtime, addr: usize) -> Result<()> {
    let off = lock_word(rt, addr)?;
    if !holds(rt, off) {
        return Err(Error::invalid(format!(
            "PE {} does not hold the lock at {addr:#x}: only the holder may clear it",
            rt.me.0
        )));
    }
    // The critical section's puts complete before the next holder can enter.
    rt.quiet()?;
    let me = rt.me;
    let mine: u32 = shmem_sync::wait::load_local(&rt.node, node(off));
    let mut next = u64::from(mine) & NEXT_MASK;
    if next == 0 {
        let old = amo(rt, HOME, off, AtomicOp::CompareSwap { cond: u64::from(me.0) + 1, value: 0 })?;
        if old == u64::from(me.0) + 1 {
            unclaim(rt, off);
            return Ok(());
        }
        // A PE swapped itself into the tail after this one: wait until it has written itself into our node.
        let seen = wait_node(rt, off, CmpOp::Ne, mine, "waiting for the next PE to join the queue")?;
        next = u64::from(seen) & NEXT_MASK;
    }
    grant(rt, off, Pe(next as u32 - 1))?;
    unclaim(rt, off);
    Ok(())
}

/// `shmem_set_lock(lock)`: waits (sleeping, in FIFO order) until this PE holds the lock at `lock`.
///
/// # Errors
/// INVALID_PARAM when `lock` is not an 8-aligned symmetric `long`, or this PE already holds the lock.
pub fn set_lock(lock: usize) -> Result<()> {
    with_current(|rt| set_lock_rt(rt, lock))
}

/// `shmem_test_lock(lock)`: takes the lock if it is free and returns at once: 0 when this PE now holds it, 1
/// when another PE holds it (or waits for it), as in OpenSHMEM.
pub fn test_lock(lock: usize) -> Result<i32> {
    with_current(|rt| test_lock_rt(rt, lock)).map(|got| if got { 0 } else { 1 })
}

/// `shmem_clear_lock(lock)`: completes this PE's operations, then passes the lock to the next PE waiting for
/// it (or frees it).
///
/// # Errors
/// INVALID_PARAM when this PE does not hold the lock.
pub fn clear_lock(lock: usize) -> Result<()> {
    with_current(|rt| clear_lock_rt(rt, lock))
}

impl Shmem {
    /// Local address of element `at` of a lock array, checked.
    fn lock_addr(lock: &SymVec<i64>, at: usize) -> Result<usize> {
        if at >= lock.len() {
            return Err(Error::invalid(format!("lock {at} is outside this array of {} locks", lock.len())));
        }
        Ok(lock.addr() + at * 8)
    }

    /// Acquires lock `lock[at]` (zero-initialized symmetric `i64`s), waiting in FIFO order (see [`set_lock`]).
    pub fn set_lock(&self, lock: &SymVec<i64>, at: usize) -> Result<()> {
        set_lock_rt(&self.rt, Self::lock_addr(lock, at)?)
    }

    /// Takes lock `lock[at]` if it is free; `true` when this PE now holds it. Never waits.
    pub fn test_lock(&self, lock: &SymVec<i64>, at: usize) -> Result<bool> {
        test_lock_rt(&self.rt, Self::lock_addr(lock, at)?)
    }

    /// Releases lock `lock[at]`, which this PE holds (see [`clear_lock`]).
    pub fn clear_lock(&self, lock: &SymVec<i64>, at: usize) -> Result<()> {
        clear_lock_rt(&self.rt, Self::lock_addr(lock, at)?)
    }
}
