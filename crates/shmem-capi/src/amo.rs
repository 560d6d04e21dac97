//! Atomic memory operations: `shmem_TYPENAME_atomic_*` (standard, extended and bitwise), the fetching `_nbi`
//! forms, every `ctx_` form and the deprecated `shmem_TYPENAME_{cswap,swap,finc,inc,fadd,add,fetch,set}`, one
//! macro row per type of the spec's AMO tables, forwarded to the facade's AMOs (`shmem::api::atomic`,
//! `shmem::api::ctx_atomic`, `shmem::amo::atomic_fetch_op_nbi`), which check the PE, the address and the
//! alignment.

use crate::fatal::{fatal, pe, OrFatal};
use crate::handles::{ctx_id, shmem_ctx_t};
use crate::types::{
    for_each_amo_bitwise_type, for_each_amo_deprecated_extended_type, for_each_amo_deprecated_type,
    for_each_amo_extended_type, for_each_amo_standard_type,
};
use core::ffi::c_int;
use shmem::amo::AmoValue;
use shmem::api::CTX_DEFAULT;
use shmem::AtomicOp;
use shmem_core::Error;

/// A C AMO type as the facade's [`AmoValue`] of the same size and alignment: `size_t` and `ptrdiff_t` are
/// Rust's `usize`/`isize`, which the facade knows as `u64`/`i64`.
pub(crate) trait CAmo: Copy {
    /// The facade's type of the same bits.
    type R: AmoValue;
    /// The value's bits, zero-extended to 64.
    fn bits(self) -> u64;
    /// The value of the low bits.
    fn of_bits(bits: u64) -> Self;
}

macro_rules! c_amo {
    ($($t:ty => $r:ty),* $(,)?) => {$(
        impl CAmo for $t {
            type R = $r;
            #[inline]
            fn bits(self) -> u64 {
                AmoValue::to_bits(<$r>::from_ne_bytes(self.to_ne_bytes()))
            }
            #[inline]
            fn of_bits(bits: u64) -> Self {
                <$t>::from_ne_bytes(<$r as AmoValue>::from_bits(bits).to_ne_bytes())
            }
        }
    )*};
}
c_amo!(i32 => i32, u32 => u32, i64 => i64, u64 => u64, usize => u64, isize => i64, f32 => f32, f64 => f64);

/// `op` on `pe`'s `T` at `dest` through `ctx`; the old value, or [`fatal`] naming `func`.
#[inline]
fn amo<T: CAmo>(func: &str, ctx: i64, dest: *const T, op: AtomicOp, to: c_int) -> T {
    let (addr, width, p) = (dest as usize, <T::R as AmoValue>::WIDTH, pe(to));
    // A global/static word does not go through the context, but takes its PE numbers and its errors.
    let world = || crate::rma::world_pe(func, ctx, p, !matches!(op, AtomicOp::Fetch));
    let word = crate::statics::contains(addr)
        .then(world)
        .and_then(|w| crate::statics::peer_word(func, addr, size_of::<T>(), w));
    if let Some(word) = word {
        // SAFETY: peer_word gives a mapped word of T's size, aligned to it.
        return T::of_bits(unsafe { crate::static_words::cpu_atomic(word, size_of::<T>(), op) });
    }
    let old = if ctx == CTX_DEFAULT {
        shmem::api::atomic(addr, width, op, p)
    } else {
        shmem::api::ctx_atomic(ctx, addr, width, op, p)
    };
    T::of_bits(old.or_fatal(func))
}

/// The fetching `_nbi` form of `op`: the old value goes to `fetch` (this implementation completes it before
/// returning, which the spec allows: it is there after the next quiet).
///
/// # Safety
/// `fetch` is writable for one `T` and not read by the program until the next quiet (the spec's contract).
#[inline]
unsafe fn amo_nbi<T: CAmo>(func: &str, ctx: i64, fetch: *mut T, dest: *const T, op: AtomicOp, to: c_int) {
    let (addr, p) = (dest as usize, pe(to));
    if ctx == CTX_DEFAULT && !crate::statics::contains(addr) {
        // SAFETY: `T` and `T::R` have the same size and alignment; the caller's contract on `fetch`.
        unsafe { shmem::amo::atomic_fetch_op_nbi(fetch.cast::<T::R>(), addr, op, p) }.or_fatal(func);
        return;
    }
    if fetch.is_null() || !(fetch as usize).is_multiple_of(align_of::<T>()) {
        fatal(func, &Error::invalid(format!("fetch destination {fetch:p} is null or misaligned")));
    }
    let old = amo(func, ctx, dest, op, to);
    // SAFETY: checked non-null and aligned; the caller's contract makes it writable.
    unsafe { fetch.write(old) };
}

/// Defines `shmem_<N>_<op>` and `shmem_ctx_<N>_<op>` with the parameters `($p: $pt, ...)`; `$body` sees the
/// context number and the C function's name as `$c`.
macro_rules! plain_and_ctx {
    ($name:ident, $op:ident, ($($p:ident: $pt:ty),*) $(-> $ret:ty)?, |$c:ident| $body:expr) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_", stringify!($op), "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _ $op>]($($p: $pt),*) $(-> $ret)? {
                let $c = (CTX_DEFAULT, concat!("shmem_", stringify!($name), "_", stringify!($op)));
                $body
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_", stringify!($op), "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _ $op>](ctx: shmem_ctx_t, $($p: $pt),*) $(-> $ret)? {
                let $c = (ctx_id(ctx), concat!("shmem_ctx_", stringify!($name), "_", stringify!($op)));
                $body
            }
        }
    };
}

/// The standard AMOs of one type: compare_swap, fetch_inc, inc, fetch_add, add and the fetching `_nbi` forms.
macro_rules! standard {
    ($name:ident, $t:ty) => {
        plain_and_ctx!($name, atomic_compare_swap, (dest: *mut $t, cond: $t, value: $t, pe: c_int) -> $t, |c| {
            amo(c.1, c.0, dest, AtomicOp::CompareSwap { cond: cond.bits(), value: value.bits() }, pe)
        });
        plain_and_ctx!($name, atomic_fetch_inc, (dest: *mut $t, pe: c_int) -> $t, |c| {
            amo(c.1, c.0, dest, AtomicOp::FetchAdd(1), pe)
        });
        plain_and_ctx!($name, atomic_inc, (dest: *mut $t, pe: c_int), |c| {
            amo(c.1, c.0, dest, AtomicOp::FetchAdd(1), pe);
        });
        plain_and_ctx!($name, atomic_fetch_add, (dest: *mut $t, value: $t, pe: c_int) -> $t, |c| {
            amo(c.1, c.0, dest, AtomicOp::FetchAdd(value.bits()), pe)
        });
        plain_and_ctx!($name, atomic_add, (dest: *mut $t, value: $t, pe: c_int), |c| {
            amo(c.1, c.0, dest, AtomicOp::FetchAdd(value.bits()), pe);
        });
        plain_and_ctx!($name, atomic_compare_swap_nbi,
            (fetch: *mut $t, dest: *mut $t, cond: $t, value: $t, pe: c_int), |c| {
            let op = AtomicOp::CompareSwap { cond: cond.bits(), value: value.bits() };
            // SAFETY: the spec's contract on `fetch`, forwarded.
            unsafe { amo_nbi(c.1, c.0, fetch, dest, op, pe) }
        });
        plain_and_ctx!($name, atomic_fetch_inc_nbi, (fetch: *mut $t, dest: *mut $t, pe: c_int), |c| {
            // SAFETY: the spec's contract on `fetch`, forwarded.
            unsafe { amo_nbi(c.1, c.0, fetch, dest, AtomicOp::FetchAdd(1), pe) }
        });
        plain_and_ctx!($name, atomic_fetch_add_nbi, (fetch: *mut $t, dest: *mut $t, value: $t, pe: c_int), |c| {
            // SAFETY: the spec's contract on `fetch`, forwarded.
            unsafe { amo_nbi(c.1, c.0, fetch, dest, AtomicOp::FetchAdd(value.bits()), pe) }
        });
    };
}
for_each_amo_standard_type!(standard);

/// The extended AMOs of one type (integers, float and double): fetch, set, swap and their `_nbi` forms.
macro_rules! extended {
    ($name:ident, $t:ty) => {
        plain_and_ctx!($name, atomic_fetch, (source: *const $t, pe: c_int) -> $t, |c| {
            amo(c.1, c.0, source, AtomicOp::Fetch, pe)
        });
        plain_and_ctx!($name, atomic_set, (dest: *mut $t, value: $t, pe: c_int), |c| {
            amo(c.1, c.0, dest, AtomicOp::Swap(value.bits()), pe);
        });
        plain_and_ctx!($name, atomic_swap, (dest: *mut $t, value: $t, pe: c_int) -> $t, |c| {
            amo(c.1, c.0, dest, AtomicOp::Swap(value.bits()), pe)
        });
        plain_and_ctx!($name, atomic_fetch_nbi, (fetch: *mut $t, source: *const $t, pe: c_int), |c| {
            // SAFETY: the spec's contract on `fetch`, forwarded.
            unsafe { amo_nbi(c.1, c.0, fetch, source, AtomicOp::Fetch, pe) }
        });
        plain_and_ctx!($name, atomic_swap_nbi, (fetch: *mut $t, dest: *mut $t, value: $t, pe: c_int), |c| {
            // SAFETY: the spec's contract on `fetch`, forwarded.
            unsafe { amo_nbi(c.1, c.0, fetch, dest, AtomicOp::Swap(value.bits()), pe) }
        });
    };
}
for_each_amo_extended_type!(extended);

/// The bitwise AMOs of one operation and type: fetch_OP, OP and fetch_OP_nbi.
macro_rules! bitwise_op {
    ($name:ident, $t:ty, $op:ident, $variant:ident) => {
        paste::paste! {
            plain_and_ctx!($name, [<atomic_fetch_ $op>], (dest: *mut $t, value: $t, pe: c_int) -> $t, |c| {
                amo(c.1, c.0, dest, AtomicOp::$variant(value.bits()), pe)
            });
            plain_and_ctx!($name, [<atomic_ $op>], (dest: *mut $t, value: $t, pe: c_int), |c| {
                amo(c.1, c.0, dest, AtomicOp::$variant(value.bits()), pe);
            });
            plain_and_ctx!($name, [<atomic_fetch_ $op _nbi>],
                (fetch: *mut $t, dest: *mut $t, value: $t, pe: c_int), |c| {
                // SAFETY: the spec's contract on `fetch`, forwarded.
                unsafe { amo_nbi(c.1, c.0, fetch, dest, AtomicOp::$variant(value.bits()), pe) }
            });
        }
    };
}

/// The bitwise AMOs of one type: and, or, xor.
macro_rules! bitwise {
    ($name:ident, $t:ty) => {
        bitwise_op!($name, $t, and, FetchAnd);
        bitwise_op!($name, $t, or, FetchOr);
        bitwise_op!($name, $t, xor, FetchXor);
    };
}
for_each_amo_bitwise_type!(bitwise);

/// Defines the deprecated `shmem_<N>_<op>` (no ctx form) with the parameters `($p: $pt, ...)`.
macro_rules! deprecated_fn {
    ($name:ident, $op:ident, ($($p:ident: $pt:ty),*) $(-> $ret:ty)?, |$f:ident| $body:expr) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_", stringify!($op), "` (deprecated by the atomic_ form)")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _ $op>]($($p: $pt),*) $(-> $ret)? {
                let $f = concat!("shmem_", stringify!($name), "_", stringify!($op));
                $body
            }
        }
    };
}

/// The deprecated integer AMOs of one type: cswap, finc, inc, fadd, add.
macro_rules! deprecated {
    ($name:ident, $t:ty) => {
        deprecated_fn!($name, cswap, (dest: *mut $t, cond: $t, value: $t, pe: c_int) -> $t, |f| {
            amo(f, CTX_DEFAULT, dest, AtomicOp::CompareSwap { cond: cond.bits(), value: value.bits() }, pe)
        });
        deprecated_fn!($name, finc, (dest: *mut $t, pe: c_int) -> $t, |f| {
            amo(f, CTX_DEFAULT, dest, AtomicOp::FetchAdd(1), pe)
        });
        deprecated_fn!($name, inc, (dest: *mut $t, pe: c_int), |f| {
            amo(f, CTX_DEFAULT, dest, AtomicOp::FetchAdd(1), pe);
        });
        deprecated_fn!($name, fadd, (dest: *mut $t, value: $t, pe: c_int) -> $t, |f| {
            amo(f, CTX_DEFAULT, dest, AtomicOp::FetchAdd(value.bits()), pe)
        });
        deprecated_fn!($name, add, (dest: *mut $t, value: $t, pe: c_int), |f| {
            amo(f, CTX_DEFAULT, dest, AtomicOp::FetchAdd(value.bits()), pe);
        });
    };
}
for_each_amo_deprecated_type!(deprecated);

/// The deprecated swap, fetch and set of one type (integers, float and double).
macro_rules! deprecated_extended {
    ($name:ident, $t:ty) => {
        deprecated_fn!($name, swap, (dest: *mut $t, value: $t, pe: c_int) -> $t, |f| {
            amo(f, CTX_DEFAULT, dest, AtomicOp::Swap(value.bits()), pe)
        });
        deprecated_fn!($name, fetch, (source: *const $t, pe: c_int) -> $t, |f| {
            amo(f, CTX_DEFAULT, source, AtomicOp::Fetch, pe)
        });
        deprecated_fn!($name, set, (dest: *mut $t, value: $t, pe: c_int), |f| {
            amo(f, CTX_DEFAULT, dest, AtomicOp::Swap(value.bits()), pe);
        });
    };
}
for_each_amo_deprecated_extended_type!(deprecated_extended);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_types_keep_their_bits_through_the_facade_types() {
        assert_eq!(usize::of_bits(usize::MAX.bits()), usize::MAX);
        assert_eq!(isize::of_bits((-3isize).bits()), -3);
        assert_eq!((-1i32).bits(), 0xffff_ffff);
        assert_eq!(f32::of_bits(1.5f32.bits()), 1.5);
        assert_eq!(f64::of_bits((-2.25f64).bits()), -2.25);
    }
}
