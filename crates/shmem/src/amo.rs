//! Atomic memory operations (OpenSHMEM 1.5 AMOs) on symmetric words of any PE, for the standard AMO types.
//!
//! One generic per operation over [`AmoValue`] (32- and 64-bit integers, and for the non-arithmetic fetch, set
//! and swap also `f32`/`f64`); the bitwise and arithmetic operations require [`AmoInt`]. Every operation is
//! atomic with respect to every other AMO and signal operation on the same word, from any PE. The `_nbi`
//! fetching forms store the old value through a local pointer; it is valid after the next `quiet`.

use crate::current::with_current;
use shmem_core::engine::{AtomicOp, AtomicWidth};
use shmem_core::Result;

/// A type the AMOs accept: a 4- or 8-byte plain value, moved as raw bits.
pub trait AmoValue: Copy + Send + Sync + std::fmt::Debug + 'static {
    /// Operand width.
    const WIDTH: AtomicWidth;
    /// The value's bits, zero-extended to 64 bits.
    fn to_bits(self) -> u64;
    /// The value from the low bits.
    fn from_bits(bits: u64) -> Self;
}

/// The integer AMO types: arithmetic and bitwise operations are defined on them.
pub trait AmoInt: AmoValue {}

macro_rules! amo_types {
    ($($name:ident: $t:ty => $u:ty, $w:ident, $class:ident;)*) => {$(
        impl AmoValue for $t {
            const WIDTH: AtomicWidth = AtomicWidth::$w;
            #[inline]
            fn to_bits(self) -> u64 {
                <$u>::from_ne_bytes(self.to_ne_bytes()) as u64
            }
            #[inline]
            fn from_bits(bits: u64) -> Self {
                <$t>::from_ne_bytes((bits as $u).to_ne_bytes())
            }
        }
        amo_types!(@$class $t);
    )*};
    (@int $t:ty) => { impl AmoInt for $t {} };
    (@float $t:ty) => {};
}

shmem_core::for_each_amo_type!(amo_types);

fn amo<T: AmoValue>(addr: usize, op: AtomicOp, pe: i64) -> Result<T> {
    with_current(|rt| rt.atomic(addr, T::WIDTH, op, pe)).map(T::from_bits)
}

/// Atomically reads `pe`'s word at `addr`.
pub fn atomic_fetch<T: AmoValue>(addr: usize, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::Fetch, pe)
}

/// Atomically writes `value` to `pe`'s word.
pub fn atomic_set<T: AmoValue>(addr: usize, value: T, pe: i64) -> Result<()> {
    amo::<T>(addr, AtomicOp::Swap(value.to_bits()), pe).map(|_| ())
}

/// Atomically replaces `pe`'s word with `value`; returns the old value.
pub fn atomic_swap<T: AmoValue>(addr: usize, value: T, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::Swap(value.to_bits()), pe)
}

/// Replaces `pe`'s word with `value` if it equals `cond`; returns the old value.
pub fn atomic_compare_swap<T: AmoInt>(addr: usize, cond: T, value: T, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::CompareSwap { cond: cond.to_bits(), value: value.to_bits() }, pe)
}

/// Adds `value` (wrapping); returns the old value.
pub fn atomic_fetch_add<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::FetchAdd(value.to_bits()), pe)
}

/// Adds `value` (wrapping).
pub fn atomic_add<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<()> {
    atomic_fetch_add(addr, value, pe).map(|_| ())
}

/// Adds one; returns the old value.
pub fn atomic_fetch_inc<T: AmoInt>(addr: usize, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::FetchAdd(1), pe)
}

/// Adds one.
pub fn atomic_inc<T: AmoInt>(addr: usize, pe: i64) -> Result<()> {
    atomic_fetch_inc::<T>(addr, pe).map(|_| ())
}

/// Bitwise and; returns the old value.
pub fn atomic_fetch_and<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::FetchAnd(value.to_bits()), pe)
}

/// Bitwise or; returns the old value.
pub fn atomic_fetch_or<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::FetchOr(value.to_bits()), pe)
}

/// Bitwise xor; returns the old value.
pub fn atomic_fetch_xor<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<T> {
    amo(addr, AtomicOp::FetchXor(value.to_bits()), pe)
}

/// Bitwise and.
pub fn atomic_and<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<()> {
    atomic_fetch_and(addr, value, pe).map(|_| ())
}

/// Bitwise or.
pub fn atomic_or<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<()> {
    atomic_fetch_or(addr, value, pe).map(|_| ())
}

/// Bitwise xor.
pub fn atomic_xor<T: AmoInt>(addr: usize, value: T, pe: i64) -> Result<()> {
    atomic_fetch_xor(addr, value, pe).map(|_| ())
}

/// Non-blocking fetching AMO: performs `op` and stores the old value at `fetch`; the value is guaranteed
/// there after the next `quiet` (the host engines complete it before returning).
///
/// # Safety
/// `fetch` must be valid for a write of `T` and not accessed by this process until the next `quiet`.
pub unsafe fn atomic_fetch_op_nbi<T: AmoValue>(fetch: *mut T, addr: usize, op: AtomicOp, pe: i64) -> Result<()> {
    if fetch.is_null() || !(fetch as usize).is_multiple_of(std::mem::align_of::<T>()) {
        return Err(shmem_core::Error::invalid(format!("fetch destination {fetch:p} is null or misaligned")));
    }
    let old = amo::<T>(addr, op, pe)?;
    // SAFETY: checked non-null and aligned; the caller guarantees it is writable and unaliased until quiet.
    unsafe { fetch.write(old) };
    Ok(())
}
