//! Distributed locks: `shmem_set_lock`, `shmem_test_lock`, `shmem_clear_lock` on a symmetric `long`,
//! forwarded to the facade's locks (`shmem::api::set_lock` ...), which check the address and that this PE
//! holds the lock it clears.
//!
//! A lock that is a global/static variable (`static long lock = 0;`, the most common form in existing
//! programs) cannot go through the facade, whose queue lock lives in the heap. It runs the facade's algorithm
//! (crates/shmem/src/lock.rs) with the same word layout and semantics on the same-node mappings of the
//! variable (see [`crate::statics`]), every step a CPU atomic: the low 32-bit half of PE 0's copy is the
//! queue's tail (0 = free, else 1 + the last PE that asked), the high half of each PE's copy is its queue node
//! (1 + successor in bits 0..31, bit 31 = the lock passed to it). FIFO, not recursive (INVALID_PARAM), only
//! the holder clears (INVALID_PARAM); a PE of another node ends the job with NOT_SUPPORTED.

use crate::fatal::{fatal, OrFatal};
use crate::static_words::{cpu_atomic, load, wait_for};
use core::ffi::c_int;
use shmem::AtomicOp;
use shmem_core::Error;
use std::collections::HashSet;
use std::sync::Mutex;

/// Bit of a queue node that says the lock passed to its PE.
const GRANTED: u64 = 1 << 31;
/// Bits of a queue node that hold 1 + the successor PE.
const NEXT_MASK: u64 = GRANTED - 1;

/// Static locks (addresses) this PE holds or is acquiring.
static HELD: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

/// A static lock: this PE's number, its queue node and the tail word (PE 0's low half), mapped here.
struct StaticLock {
    me: u64,
    node: *mut u8,
    tail: *mut u8,
}

impl StaticLock {
    /// The static lock at `addr`, or `None` when `addr` is not a global/static variable.
    fn at(func: &str, addr: usize) -> Option<StaticLock> {
        if !crate::statics::contains(addr) {
            return None;
        }
        let me = crate::setup::my_pe_checked(func);
        let mine = crate::statics::peer_word(func, addr, 8, i64::from(me))?;
        let home = crate::statics::peer_word(func, addr, 8, 0)?;
        // Little-endian halves, as the facade's 32-bit AMOs at offsets 0 and 4 of the word.
        // SAFETY: both are 8-byte words mapped here; +4 stays inside them.
        let node = unsafe { mine.add(4) };
        Some(StaticLock { me: me as u64, node, tail: home })
    }

    /// `op` on a 32-bit half.
    fn amo(&self, word: *mut u8, op: AtomicOp) -> u64 {
        // SAFETY: `word` is one of the two 4-aligned halves found by `at`, mapped for the process's life.
        unsafe { cpu_atomic(word, 4, op) }
    }

    /// The successor PE's queue node.
    fn node_of(func: &str, addr: usize, pe: u64) -> *mut u8 {
        let w = crate::statics::peer_word(func, addr, 8, pe as i64).expect("a static address");
        // SAFETY: +4 stays inside the 8-byte word.
        unsafe { w.add(4) }
    }

    /// Waits until this PE's node satisfies `done`; its value.
    fn wait_node(&self, func: &str, done: impl Fn(u64) -> bool) -> u64 {
        // SAFETY: this PE's node, 4-aligned and mapped.
        wait_for(|| Some(unsafe { load(self.node, 4) }).filter(|&v| done(v))).or_fatal(func)
    }
}

/// Records `addr` as held (or being acquired) by this PE; INVALID_PARAM (fatal) when it already is.
fn claim(func: &str, addr: usize) {
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if !held.get_or_insert_with(HashSet::new).insert(addr) {
        fatal(
            func,
            &Error::invalid(format!(
                "this PE already holds (or another of its threads is acquiring) the lock at {addr:#x}; \
                 OpenSHMEM locks are not recursive"
            )),
        );
    }
}

/// Forgets `addr`; whether it was held.
fn unclaim(addr: usize) -> bool {
    HELD.lock().unwrap_or_else(|e| e.into_inner()).as_mut().is_some_and(|h| h.remove(&addr))
}

/// `shmem_set_lock`: waits until this PE holds the lock at `lock`.
#[no_mangle]
pub unsafe extern "C" fn shmem_set_lock(lock: *mut i64) {
    let func = "shmem_set_lock";
    let addr = lock as usize;
    let Some(l) = StaticLock::at(func, addr) else {
        return shmem::api::set_lock(addr).or_fatal(func);
    };
    claim(func, addr);
    l.amo(l.node, AtomicOp::Swap(0));
    let prev = l.amo(l.tail, AtomicOp::Swap(l.me + 1));
    if prev != 0 {
        l.amo(StaticLock::node_of(func, addr, prev - 1), AtomicOp::FetchOr(l.me + 1));
        l.wait_node(func, |v| v >= GRANTED);
    }
}

/// `shmem_test_lock`: takes the lock if it is free: 0 when this PE now holds it, 1 when another PE does.
#[no_mangle]
pub unsafe extern "C" fn shmem_test_lock(lock: *mut i64) -> c_int {
    let func = "shmem_test_lock";
    let addr = lock as usize;
    let Some(l) = StaticLock::at(func, addr) else {
        return shmem::api::test_lock(addr).or_fatal(func);
    };
    claim(func, addr);
    l.amo(l.node, AtomicOp::Swap(0));
    if l.amo(l.tail, AtomicOp::CompareSwap { cond: 0, value: l.me + 1 }) == 0 {
        0
    } else {
        unclaim(addr);
        1
    }
}

/// `shmem_clear_lock`: completes this PE's operations and releases the lock to the next PE waiting for it.
#[no_mangle]
pub unsafe extern "C" fn shmem_clear_lock(lock: *mut i64) {
    let func = "shmem_clear_lock";
    let addr = lock as usize;
    let Some(l) = StaticLock::at(func, addr) else {
        return shmem::api::clear_lock(addr).or_fatal(func);
    };
    if !HELD.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|h| h.contains(&addr)) {
        fatal(
            func,
            &Error::invalid(format!("this PE does not hold the lock at {addr:#x}: only the holder may clear it")),
        );
    }
    // The critical section's puts complete before the next holder can enter.
    shmem::api::quiet().or_fatal(func);
    // SAFETY: this PE's node, 4-aligned and mapped.
    let mine = unsafe { load(l.node, 4) };
    let mut next = mine & NEXT_MASK;
    if next == 0 {
        let old = l.amo(l.tail, AtomicOp::CompareSwap { cond: l.me + 1, value: 0 });
        if old == l.me + 1 {
            unclaim(addr);
            return;
        }
        // A PE swapped itself into the tail after this one: wait until it has written itself into our node.
        next = l.wait_node(func, |v| v != mine) & NEXT_MASK;
    }
    l.amo(StaticLock::node_of(func, addr, next - 1), AtomicOp::FetchOr(GRANTED));
    unclaim(addr);
}
