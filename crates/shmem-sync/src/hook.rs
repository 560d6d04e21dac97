//! The "about to block" hook: a caller that holds something other threads of its process need while it calls
//! the runtime (the Python binding holds the GIL) keeps it for calls that complete without waiting, and gives it
//! up at the first point where the call would wait for a peer.
//!
//! Why: giving the GIL up and taking it back costs a Python caller a mutex round trip and a condition-variable
//! signal on every call (30-40 ns, measured beside a 2-PE posted broadcast of 70 ns), although most small
//! collectives in a loop never wait (a broadcast member finds the root's entry already posted). Keeping it
//! across a real wait is not an option: a PE's thread holding the GIL while it waits for a peer PE, which itself
//! waits for another thread of this PE that needs the GIL, would deadlock the job.
//!
//! How: the caller runs the call inside [`with_block_hook`]; every wait of this crate ([`crate::wait`], so every
//! barrier and collective wait built on it) calls [`before_block`] once its first poll has failed and a short
//! bounded spin ([`HOLD_POLLS`] polls) has not caught the peer, before it spins further, yields or sleeps. The
//! hook runs at most once per [`with_block_hook`] (it is disarmed when it runs). A runtime call that may block
//! anywhere else (an engine's network round trip, a quiet waiting for a copy engine) must call
//! [`before_block`] itself before it does: the hook is a promise that nothing blocks for long before it has
//! run. Without an armed hook (the C and Rust APIs) [`before_block`] is one thread-local read.

use std::cell::Cell;

/// Polls a wait makes with the hook still armed (the caller still holding what it holds), each followed by a
/// pause instruction: 0.3-3 µs together, by the CPU's pause (10-140 cycles), without reading the clock (one
/// `clock_gettime` less on the path of every call that waits only briefly). The peer of a 2-PE collective in a
/// loop usually arrives within a few hundred nanoseconds, and releasing the GIL for it would cost as much as the
/// call. Only when the wait spins at all (not on an oversubscribed node).
pub const HOLD_POLLS: u32 = 64;

/// The armed hook, lifetime erased: valid while the [`with_block_hook`] that stored it runs.
type Raw = *mut (dyn FnMut() + 'static);

thread_local! {
    /// This thread's armed hook (see the module documentation).
    static ARMED: Cell<Option<Raw>> = const { Cell::new(None) };
}

/// Puts the previous hook back when [`with_block_hook`] ends, also by a panic.
struct Disarm<'a>(&'a Cell<Option<Raw>>, Option<Raw>);

impl Drop for Disarm<'_> {
    fn drop(&mut self) {
        self.0.set(self.1);
    }
}

/// Runs `f` with `hook` armed on this thread: the first wait inside `f` that cannot complete at once calls it
/// (once), before it blocks. A call nested in another's `f` runs the outer hook at once (nothing tells the outer
/// caller when the inner one's waits block: its promise is kept by running it early) and arms its own.
pub fn with_block_hook<R>(hook: &mut dyn FnMut(), f: impl FnOnce() -> R) -> R {
    let raw: *mut (dyn FnMut() + '_) = hook;
    // SAFETY: only the lifetime bound of the trait object changes (same layout). The pointer is stored for the
    // duration of `f` only: `Disarm` replaces it before this function returns or unwinds, while `hook` is
    // still borrowed here.
    let raw: Raw = unsafe { std::mem::transmute::<*mut (dyn FnMut() + '_), Raw>(raw) };
    // One thread-local lookup for arming and disarming (in a Python extension each is a `__tls_get_addr` call).
    ARMED.with(|a| {
        if let Some(outer) = a.take() {
            // SAFETY: `outer` was stored by a `with_block_hook` further up this thread's stack, which is still
            // running (it removes the pointer before it returns), so the closure is alive and borrowed by nothing
            // else; taken out first, so it runs once.
            unsafe { (*outer)() }
        }
        let _disarm = Disarm(a, a.replace(Some(raw)));
        f()
    })
}

/// Calls this thread's armed hook, if any, and disarms it: the runtime is about to block (spin on, yield or
/// sleep, or start an operation that may take long).
#[inline]
pub fn before_block() {
    if let Some(h) = ARMED.with(|a| a.take()) {
        // SAFETY: `h` was stored by a `with_block_hook` that is still running on this thread (it removes the
        // pointer before it returns), so the closure it points to is alive and borrowed by nothing else.
        unsafe { (*h)() }
    }
}

/// Whether a hook is armed on this thread (a wait then polls [`HOLD_POLLS`] times before calling it).
#[inline]
pub fn armed() -> bool {
    ARMED.with(|a| a.get().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_runs_once_and_only_inside_its_scope() {
        let mut calls = 0;
        before_block();
        let r = with_block_hook(&mut || calls += 1, || {
            assert!(armed());
            before_block();
            assert!(!armed());
            before_block();
            7
        });
        assert_eq!((r, calls), (7, 1));
        assert!(!armed());
        before_block();
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_nested_hook_runs_the_outer_one_at_once_and_disarms_also_after_a_panic() {
        let outer = Cell::new(0);
        let mut inner = 0;
        with_block_hook(&mut || outer.set(outer.get() + 1), || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                with_block_hook(&mut || inner += 1, || {
                    assert_eq!(outer.get(), 1, "the outer hook ran when the inner one was armed");
                    before_block();
                    panic!("boom")
                })
            }));
            assert!(r.is_err());
            assert!(!armed(), "the outer hook ran already: nothing is armed again");
            before_block();
        });
        assert_eq!((outer.get(), inner), (1, 1));
        assert!(!armed());
    }
}
