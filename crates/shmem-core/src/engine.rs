//! The trait every transport implements: remote operations on (peer, heap offset, length).
//!
//! The unit is bytes at an offset of a peer's segment; typed calls, PE-range and bounds checks live once, in
//! the facade. An engine must not assume the peer's memory is mapped (RDMA and TCP engines cannot map it).

use crate::attr::OpEngineType;
use crate::error::Result;
use crate::types::{HeapOffset, Pe};
use std::fmt;
use std::ptr::NonNull;

/// How a signal word is updated by a put-with-signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum SignalOp {
    /// The signal word becomes the value (SIGNAL_SET, 0).
    Set = 0,
    /// The value is added to the signal word (SIGNAL_ADD, 1).
    Add = 1,
}

impl SignalOp {
    /// Decodes the API's numeric signal op.
    pub fn from_code(code: i32) -> Result<SignalOp> {
        match code {
            0 => Ok(SignalOp::Set),
            1 => Ok(SignalOp::Add),
            _ => Err(crate::Error::invalid(format!("signal op {code} is neither SIGNAL_SET (0) nor SIGNAL_ADD (1)"))),
        }
    }
}

/// A signal-op argument: a [`SignalOp`] (already checked: converting it cannot fail) or the API's numeric
/// code (`i32`, checked here). Public put-with-signal functions take `impl IntoSignalOp`, so that a caller
/// that parsed the code at its edge passes the typed value down and nothing parses it again.
pub trait IntoSignalOp: Copy {
    /// The signal operation.
    ///
    /// # Errors
    /// `InvalidParam` for a numeric code other than SIGNAL_SET (0) and SIGNAL_ADD (1).
    fn into_signal_op(self) -> Result<SignalOp>;
}

impl IntoSignalOp for SignalOp {
    #[inline]
    fn into_signal_op(self) -> Result<SignalOp> {
        Ok(self)
    }
}

impl IntoSignalOp for i32 {
    #[inline]
    fn into_signal_op(self) -> Result<SignalOp> {
        SignalOp::from_code(self)
    }
}

/// Width of an atomic operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicWidth {
    /// 4 bytes.
    W32,
    /// 8 bytes.
    W64,
}

impl AtomicWidth {
    /// Bytes of the operand.
    pub fn bytes(self) -> u64 {
        match self {
            AtomicWidth::W32 => 4,
            AtomicWidth::W64 => 8,
        }
    }
}

/// An atomic memory operation on a peer's word. Operands are raw bits; signedness does not matter for any of
/// these operations (two's complement wrap-around add). Every operation returns the word's previous value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// Read the word.
    Fetch,
    /// Replace the word (returns the old value).
    Swap(u64),
    /// Replace the word if it equals `cond`.
    CompareSwap {
        /// The value the word must hold.
        cond: u64,
        /// The replacement.
        value: u64,
    },
    /// Wrapping add.
    FetchAdd(u64),
    /// Bitwise and.
    FetchAnd(u64),
    /// Bitwise or.
    FetchOr(u64),
    /// Bitwise xor.
    FetchXor(u64),
}

/// What an engine can do, as plain data (the facade and tests pick by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Peers' memory can be loaded/stored directly ([`DataOpEngine::peer_ptr`] returns addresses).
    pub direct_pointers: bool,
    /// [`Completion::Deferred`] calls return before the data moved (real overlap).
    pub asynchronous_nbi: bool,
    /// Every remote write of this engine wakes the target's sleeping waiters ([`crate::wake`]). An engine whose
    /// writes land without the target's CPU (RDMA) says `false`, and the target's waits then poll in short,
    /// bounded slices instead of sleeping until a wake that never comes.
    pub remote_writes_wake: bool,
    /// The engine's atomics (and signal updates) are done by the target's CPU instructions, so they are atomic
    /// together with every other engine's on the same word. An RDMA NIC's atomics are not: the router then sends
    /// every atomic and signalled put through that engine, for same-node PEs too.
    pub cpu_coherent_atomics: bool,
}

impl Capabilities {
    /// What a set of engines guarantees together: each property only when every engine has it.
    pub fn all_of(caps: impl IntoIterator<Item = Capabilities>) -> Capabilities {
        caps.into_iter().fold(
            Capabilities {
                direct_pointers: true,
                asynchronous_nbi: true,
                remote_writes_wake: true,
                cpu_coherent_atomics: true,
            },
            |a, c| Capabilities {
                cpu_coherent_atomics: a.cpu_coherent_atomics && c.cpu_coherent_atomics,
                direct_pointers: a.direct_pointers && c.direct_pointers,
                asynchronous_nbi: a.asynchronous_nbi && c.asynchronous_nbi,
                remote_writes_wake: a.remote_writes_wake && c.remote_writes_wake,
            },
        )
    }
}

/// When a data operation may return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Completion {
    /// A get has arrived when the call returns; a put's source may be reused (OpenSHMEM's blocking put). Engines
    /// that map the target's memory have also made the data visible there; a network engine makes it visible by
    /// the next `quiet`, in order with this PE's later operations on the same target.
    Blocking,
    /// May return before the data moved (`_nbi`); complete after the next [`DataOpEngine::quiet`].
    Deferred,
}

impl Completion {
    /// The mode of an API call: `_nbi` forms are deferred.
    pub fn of_nbi(nbi: bool) -> Completion {
        if nbi {
            Completion::Deferred
        } else {
            Completion::Blocking
        }
    }
}

/// The signal update that follows the data of a put-with-signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalUpdate {
    /// The 64-bit signal word in the target's segment (8-byte aligned, checked by the facade).
    pub at: HeapOffset,
    /// The operand.
    pub value: u64,
    /// Set or add.
    pub op: SignalOp,
}

/// A completion domain of an engine: the operations that one OpenSHMEM context issued, so that completing them
/// (`quiet_in`) need not wait for another context's traffic.
///
/// The facade chooses the ids (never reusing one within a process) and opens each with
/// [`DataOpEngine::open_domain`] before use; [`DomainId::DEFAULT`] is always open and is the domain of the
/// plain `put`/`get`. An engine without separate tracking keeps the defaults: every domain is the default one,
/// and `quiet_in` completes everything (a stronger, still valid, guarantee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DomainId(pub u32);

impl DomainId {
    /// The domain of the default context (plain `put`/`get`/`quiet`).
    pub const DEFAULT: DomainId = DomainId(0);
}

/// A put: `len` bytes from local memory at `src` into `dst` of `pe`'s segment, then optionally a signal update
/// that a waiter sees only after the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Put {
    /// The target PE.
    pub pe: Pe,
    /// Where the bytes go in the target's segment.
    pub dst: HeapOffset,
    /// Local source.
    pub src: *const u8,
    /// Bytes to copy.
    pub len: usize,
    /// The signal update after the data, for put-with-signal.
    pub signal: Option<SignalUpdate>,
}

/// A get: `len` bytes from `src` of `pe`'s segment into local memory at `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Get {
    /// The PE read from.
    pub pe: Pe,
    /// Where the bytes are in that PE's segment.
    pub src: HeapOffset,
    /// Local destination.
    pub dst: *mut u8,
    /// Bytes to copy.
    pub len: usize,
}

/// Moves bytes between this PE's memory and a peer's segment. One implementation per transport crate.
///
/// The data path is two methods, each taking a [`Completion`] mode, so that a wrapper (the facade's router)
/// cannot forget a variant: there are no `_nbi` or `_signal` twins to forward.
///
/// # Contract
/// The facade has checked that `pe` is in the job, that the ranges lie inside the peer's segment, and that
/// atomic and signal offsets are aligned to their width; engines only `debug_assert!` these. An engine reports
/// only what no caller can foresee: a peer gone, a timeout, a socket or NIC failure. Remote writes wake the
/// peer's sleepers ([`crate::wake`]) when [`Capabilities::remote_writes_wake`] says so.
pub trait DataOpEngine: Send + Sync + fmt::Debug {
    /// Which engine this is.
    fn kind(&self) -> OpEngineType;

    /// What the engine can do.
    fn capabilities(&self) -> Capabilities;

    /// Whether this engine can reach `pe`.
    fn reaches(&self, pe: Pe) -> bool;

    /// Performs `op`; with [`Completion::Blocking`] the source may be reused on return, with
    /// [`Completion::Deferred`] only after the next `quiet`. The data (and then the signal, never before the
    /// data) is visible at the target after the next `quiet` at the latest.
    ///
    /// # Safety
    /// `op.src..op.src+op.len` must be readable for the duration of the call, and for `Deferred` stay readable
    /// and unmodified until the next `quiet` returns.
    unsafe fn put(&self, op: Put, mode: Completion) -> Result<()>;

    /// Performs `op`; the data has arrived on return (`Blocking`) or after the next `quiet` (`Deferred`).
    ///
    /// # Safety
    /// `op.dst..op.dst+op.len` must be writable and not accessed by this process until the data has arrived
    /// (on return, or after the next `quiet` for `Deferred`).
    unsafe fn get(&self, op: Get, mode: Completion) -> Result<()>;

    /// Performs `op` atomically on the word of `width` at `at` on `pe`, returning the previous value.
    /// Atomic with respect to every other atomic and signal operation on that word, from any PE and engine.
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64>;

    /// Orders this PE's puts to each target: those before the fence are visible before those after it.
    fn fence(&self) -> Result<()>;

    /// Completes every operation this PE issued through this engine.
    fn quiet(&self) -> Result<()>;

    /// A local address of `pe`'s byte at `off`, when this engine maps peers' memory; else `None`.
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>>;

    /// Prepares completion domain `d` (never [`DomainId::DEFAULT`], never open already): later `put_in`/`get_in`
    /// with `d` are completed by `quiet_in(d)` without waiting for other domains' operations where the engine
    /// can tell them apart. The default keeps no state (see [`DomainId`]).
    fn open_domain(&self, d: DomainId) -> Result<()> {
        let _ = d;
        Ok(())
    }

    /// Releases domain `d`'s resources. The caller has completed its operations (`quiet_in`) and issues no more.
    fn close_domain(&self, d: DomainId) {
        let _ = d;
    }

    /// [`DataOpEngine::put`] in domain `d` (an open domain or [`DomainId::DEFAULT`]).
    ///
    /// # Safety
    /// As for [`DataOpEngine::put`], with "the next `quiet`" read as the next `quiet_in(d)` or `quiet`.
    unsafe fn put_in(&self, d: DomainId, op: Put, mode: Completion) -> Result<()> {
        let _ = d;
        // SAFETY: forwarded contract.
        unsafe { self.put(op, mode) }
    }

    /// [`DataOpEngine::get`] in domain `d`.
    ///
    /// # Safety
    /// As for [`DataOpEngine::get`], with "the next `quiet`" read as the next `quiet_in(d)` or `quiet`.
    unsafe fn get_in(&self, d: DomainId, op: Get, mode: Completion) -> Result<()> {
        let _ = d;
        // SAFETY: forwarded contract.
        unsafe { self.get(op, mode) }
    }

    /// Orders domain `d`'s puts to each target (at least; ordering more is valid).
    fn fence_in(&self, d: DomainId) -> Result<()> {
        let _ = d;
        self.fence()
    }

    /// Completes every operation issued in domain `d` (at least; `quiet` completes every domain's).
    fn quiet_in(&self, d: DomainId) -> Result<()> {
        let _ = d;
        self.quiet()
    }

    /// Lends the calling thread to the engine for a moment: a thread that waits inside the library for a word
    /// (`wait_until`, a barrier, a signal wait) calls this between its polls, so that an engine that applies
    /// remote operations in software (TCP: a progress thread per PE) can apply what has arrived, and send what
    /// it holds back, on a thread that is running already instead of one that must first be woken and
    /// scheduled. Never sleeps or blocks for long; `true` when something was done (the caller polls its word
    /// again at once). The default, for engines whose remote writes need no help (shared memory, DMA, RDMA),
    /// does nothing.
    fn progress(&self) -> bool {
        false
    }

    /// Whether [`DataOpEngine::progress`] does anything for this engine: the facade lends waiting threads only
    /// to engines that need them (and waits stay as they are for jobs without one).
    fn needs_progress(&self) -> bool {
        false
    }

    /// The thread that called [`DataOpEngine::progress`] stops doing so for a while (its wait goes to sleep):
    /// an engine that left its work to that thread resumes it on its own now. The default does nothing.
    fn progress_release(&self) {}
}

/// How an engine is built from the job's [`EngineSetup`](crate::engine_setup::EngineSetup): the one
/// constructor the facade's engine table calls for every compiled engine.
pub trait BuildEngine: Sized {
    /// Builds this PE's engine; may exchange connection data with the other PEs through `setup.exchange`
    /// (every PE builds the same engines in the same order, so collective exchanges meet).
    fn build(setup: &crate::engine_setup::EngineSetup<'_>) -> Result<Self>;
}

impl<T: BuildEngine> BuildEngine for Box<T> {
    fn build(setup: &crate::engine_setup::EngineSetup<'_>) -> Result<Self> {
        T::build(setup).map(Box::new)
    }
}

impl<T: DataOpEngine + ?Sized> DataOpEngine for Box<T> {
    fn kind(&self) -> OpEngineType {
        (**self).kind()
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn reaches(&self, pe: Pe) -> bool {
        (**self).reaches(pe)
    }
    unsafe fn put(&self, op: Put, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { (**self).put(op, mode) }
    }
    unsafe fn get(&self, op: Get, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { (**self).get(op, mode) }
    }
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64> {
        (**self).atomic(pe, at, width, op)
    }
    fn fence(&self) -> Result<()> {
        (**self).fence()
    }
    fn quiet(&self) -> Result<()> {
        (**self).quiet()
    }
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>> {
        (**self).peer_ptr(pe, off)
    }
    fn open_domain(&self, d: DomainId) -> Result<()> {
        (**self).open_domain(d)
    }
    fn close_domain(&self, d: DomainId) {
        (**self).close_domain(d)
    }
    unsafe fn put_in(&self, d: DomainId, op: Put, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { (**self).put_in(d, op, mode) }
    }
    unsafe fn get_in(&self, d: DomainId, op: Get, mode: Completion) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { (**self).get_in(d, op, mode) }
    }
    fn fence_in(&self, d: DomainId) -> Result<()> {
        (**self).fence_in(d)
    }
    fn quiet_in(&self, d: DomainId) -> Result<()> {
        (**self).quiet_in(d)
    }
    fn progress(&self) -> bool {
        (**self).progress()
    }
    fn needs_progress(&self) -> bool {
        (**self).needs_progress()
    }
    fn progress_release(&self) {
        (**self).progress_release()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A typed op passes through unchanged; a numeric code is checked once, with INVALID_PARAM for a bad one.
    #[test]
    fn into_signal_op_checks_codes_once() {
        assert_eq!(SignalOp::Add.into_signal_op().unwrap(), SignalOp::Add);
        assert_eq!(0.into_signal_op().unwrap(), SignalOp::Set);
        assert_eq!(1.into_signal_op().unwrap(), SignalOp::Add);
        for bad in [-1, 2, i32::MIN] {
            assert_eq!(bad.into_signal_op().unwrap_err().code(), -1, "{bad}");
        }
    }
}
