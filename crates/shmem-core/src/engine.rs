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
    /// `_nbi` calls return before the data moved (real overlap).
    pub asynchronous_nbi: bool,
}

/// Moves bytes between this PE's memory and a peer's segment. One implementation per transport crate.
///
/// # Contract
/// The facade has checked that `pe` is in the job, that `off..off+len` lies inside the peer's segment, and
/// that atomic offsets are aligned to their width. An engine reports only what no caller can foresee: a peer
/// gone, a timeout, a socket or NIC failure. Every remote write wakes the peer's sleepers
/// ([`crate::wake`]) so that waits on the written word return.
pub trait DataOpEngine: Send + Sync + fmt::Debug {
    /// Which engine this is.
    fn kind(&self) -> OpEngineType;

    /// What the engine can do.
    fn capabilities(&self) -> Capabilities;

    /// Whether this engine can reach `pe`.
    fn reaches(&self, pe: Pe) -> bool;

    /// Copies `len` bytes from local memory at `src` to `dst` in `pe`'s segment; complete (visible at the
    /// target) when it returns.
    ///
    /// # Safety
    /// `src..src+len` must be readable for the duration of the call.
    unsafe fn put(&self, pe: Pe, dst: HeapOffset, src: *const u8, len: usize) -> Result<()>;

    /// Copies `len` bytes from `src` in `pe`'s segment to local memory at `dst`.
    ///
    /// # Safety
    /// `dst..dst+len` must be writable for the duration of the call and not concurrently accessed by this
    /// process.
    unsafe fn get(&self, pe: Pe, src: HeapOffset, dst: *mut u8, len: usize) -> Result<()>;

    /// Like [`DataOpEngine::put`], but may return before the data moved; complete after [`DataOpEngine::quiet`].
    ///
    /// # Safety
    /// `src..src+len` must stay readable and unmodified until the next `quiet` returns.
    unsafe fn put_nbi(&self, pe: Pe, dst: HeapOffset, src: *const u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract; a blocking put needs less than the nbi contract guarantees.
        unsafe { self.put(pe, dst, src, len) }
    }

    /// Like [`DataOpEngine::get`], but may return before the data arrived; complete after `quiet`.
    ///
    /// # Safety
    /// `dst..dst+len` must stay writable and untouched by this process until the next `quiet` returns.
    unsafe fn get_nbi(&self, pe: Pe, src: HeapOffset, dst: *mut u8, len: usize) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.get(pe, src, dst, len) }
    }

    /// Puts the data, then updates the 64-bit signal word at `sig` on `pe` with `op`: a waiter that sees the
    /// signal sees the data.
    ///
    /// # Safety
    /// As for [`DataOpEngine::put`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn put_signal(
        &self,
        pe: Pe,
        dst: HeapOffset,
        src: *const u8,
        len: usize,
        sig: HeapOffset,
        value: u64,
        op: SignalOp,
    ) -> Result<()>;

    /// Non-blocking put-with-signal: data and signal are complete after `quiet`, the signal still after the
    /// data.
    ///
    /// # Safety
    /// As for [`DataOpEngine::put_nbi`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn put_signal_nbi(
        &self,
        pe: Pe,
        dst: HeapOffset,
        src: *const u8,
        len: usize,
        sig: HeapOffset,
        value: u64,
        op: SignalOp,
    ) -> Result<()> {
        // SAFETY: forwarded contract.
        unsafe { self.put_signal(pe, dst, src, len, sig, value, op) }
    }

    /// Performs `op` atomically on the word of `width` at `at` on `pe`, returning the previous value.
    /// Atomic with respect to every other atomic and signal operation on that word, from any PE.
    fn atomic(&self, pe: Pe, at: HeapOffset, width: AtomicWidth, op: AtomicOp) -> Result<u64>;

    /// Orders this PE's puts to each target: those before the fence are visible before those after it.
    fn fence(&self) -> Result<()>;

    /// Completes every operation this PE issued through this engine.
    fn quiet(&self) -> Result<()>;

    /// A local address of `pe`'s byte at `off`, when this engine maps peers' memory; else `None`.
    fn peer_ptr(&self, pe: Pe, off: HeapOffset) -> Option<NonNull<u8>>;
}
