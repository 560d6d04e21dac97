//! Put-with-signal (`shmem_TYPENAME_put_signal[_nbi]`, sized, mem, ctx forms) and `shmem_signal_fetch`.
//! The data lands before the signal word changes, as the spec says, on every engine.

use crate::fatal::{byte_len, pe, OrFatal};
use crate::handles::{ctx_id, shmem_ctx_t};
use crate::rma::LongDouble;
use crate::types::for_each_rma_type;
use core::ffi::{c_int, c_void};
use shmem::api::CTX_DEFAULT;
use shmem::SignalOp;
use shmem_core::engine::{AtomicOp, AtomicWidth};
use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Puts `nelems * size` bytes, then sets or adds `signal` at `sig_addr` on `to`, through `ctx`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) unsafe fn put_signal(
    func: &str,
    ctx: i64,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
    size: usize,
    sig_addr: *mut u64,
    signal: u64,
    sig_op: c_int,
    to: c_int,
    nbi: bool,
) {
    let len = byte_len(func, nelems, size);
    let op = SignalOp::from_code(sig_op).or_fatal(func);
    let (dst, src, sig, p) = (dest as usize, source.cast::<u8>(), sig_addr as usize, pe(to));
    // A global/static data or signal address, or no data (any dest, null included: only the signal moves).
    if len == 0 || crate::statics::contains(dst) || crate::statics::contains(sig) {
        // These do not go through the context, but take its PE numbers and its errors.
        let world = crate::rma::world_pe(func, ctx, p, true);
        // SAFETY: forwarded contract.
        return unsafe { static_put_signal(func, dst, src, len, sig, signal, op, world) };
    }
    // SAFETY: the spec's contract: `source` holds `len` readable bytes (until quiet for nbi).
    let r = unsafe {
        if ctx == CTX_DEFAULT {
            shmem::api::putmem_signal(dst, src, len, sig, signal, sig_op, p, nbi)
        } else {
            shmem::api::ctx_putmem_signal(ctx, dst, src, len, sig, signal, op, p, nbi)
        }
    };
    r.or_fatal(func)
}

/// Put-with-signal where the data or the signal word is a global/static variable (see [`crate::statics`]), or
/// where there is no data:
/// the data first (load/store on the peer's mapping, or a heap put made complete by quiet), then the signal
/// word with a release-ordered CPU atomic on the mapping, or the facade's atomic for a heap word, after a
/// release fence. Either way the peer sees the data once it sees the signal. `p` is a world PE.
#[allow(clippy::too_many_arguments)]
unsafe fn static_put_signal(
    func: &str,
    dst: usize,
    src: *const u8,
    len: usize,
    sig: usize,
    signal: u64,
    op: SignalOp,
    p: i64,
) {
    // Look both up before moving anything: a bad signal address must not leave the data half-sent.
    let word = crate::statics::peer_word(func, sig, 8, p);
    let data = if len == 0 { None } else { crate::statics::peer_ptr(func, dst, len, p) };
    match data {
        _ if len == 0 => {} // no data: only the signal
        // SAFETY: `peer` is `len` writable bytes of the peer's static data; `src` is readable (the contract).
        Some(peer) => unsafe { std::ptr::copy(src, peer, len) },
        None => {
            // SAFETY: forwarded contract.
            unsafe { shmem::api::putmem(dst, src, len, p) }.or_fatal(func);
            shmem::api::quiet().or_fatal(func);
        }
    }
    match word {
        Some(w) => {
            // SAFETY: `w` is the peer's 8-aligned signal word, mapped for the life of the process; every
            // access to it is atomic (signal_fetch, the waits, other signals).
            let w = unsafe { AtomicU64::from_ptr(w.cast::<u64>()) };
            match op {
                SignalOp::Set => w.store(signal, Ordering::Release),
                SignalOp::Add => {
                    w.fetch_add(signal, Ordering::Release);
                }
            }
        }
        None => {
            fence(Ordering::Release);
            let aop = match op {
                SignalOp::Set => AtomicOp::Swap(signal),
                SignalOp::Add => AtomicOp::FetchAdd(signal),
            };
            shmem::api::atomic(sig, AtomicWidth::W64, aop, p).or_fatal(func);
        }
    }
}

/// One put-with-signal routine and its ctx form, moving `nelems` elements of `$size` bytes of type `$t`.
macro_rules! signal_pair {
    ($plain:ident, $ctx:ident, $t:ty, $size:expr, $nbi:literal) => {
        #[doc = concat!("`", stringify!($plain), "`")]
        #[no_mangle]
        pub unsafe extern "C" fn $plain(
            dest: *mut $t,
            source: *const $t,
            nelems: usize,
            sig_addr: *mut u64,
            signal: u64,
            sig_op: c_int,
            pe: c_int,
        ) {
            let (func, ctx) = (stringify!($plain), CTX_DEFAULT);
            // SAFETY: the spec's contract, forwarded.
            unsafe {
                put_signal(func, ctx, dest.cast(), source.cast(), nelems, $size, sig_addr, signal, sig_op, pe, $nbi)
            }
        }
        #[doc = concat!("`", stringify!($ctx), "`")]
        #[no_mangle]
        pub unsafe extern "C" fn $ctx(
            ctx: shmem_ctx_t,
            dest: *mut $t,
            source: *const $t,
            nelems: usize,
            sig_addr: *mut u64,
            signal: u64,
            sig_op: c_int,
            pe: c_int,
        ) {
            let (func, ctx) = (stringify!($ctx), ctx_id(ctx));
            // SAFETY: the spec's contract, forwarded.
            unsafe {
                put_signal(func, ctx, dest.cast(), source.cast(), nelems, $size, sig_addr, signal, sig_op, pe, $nbi)
            }
        }
    };
}

/// The typed forms `shmem_TYPENAME_put_signal[_nbi]` and their ctx forms.
macro_rules! typed_signal {
    ($name:ident, $t:ty) => {
        paste::paste! {
            signal_pair!([<shmem_ $name _put_signal>], [<shmem_ctx_ $name _put_signal>], $t, size_of::<$t>(), false);
            signal_pair!([<shmem_ $name _put_signal_nbi>], [<shmem_ctx_ $name _put_signal_nbi>], $t, size_of::<$t>(), true);
        }
    };
}
for_each_rma_type!(typed_signal);

/// The sized forms `shmem_putN_signal[_nbi]` (N in bits) and their ctx forms.
macro_rules! sized_signal {
    ($bits:literal) => {
        paste::paste! {
            signal_pair!([<shmem_put $bits _signal>], [<shmem_ctx_put $bits _signal>], c_void, $bits / 8, false);
            signal_pair!([<shmem_put $bits _signal_nbi>], [<shmem_ctx_put $bits _signal_nbi>], c_void, $bits / 8, true);
        }
    };
}
sized_signal!(8);
sized_signal!(16);
sized_signal!(32);
sized_signal!(64);
sized_signal!(128);
signal_pair!(shmem_putmem_signal, shmem_ctx_putmem_signal, c_void, 1, false);
signal_pair!(shmem_putmem_signal_nbi, shmem_ctx_putmem_signal_nbi, c_void, 1, true);

/// `shmem_signal_fetch`: the signal word's current value (atomic with respect to signal updates).
#[no_mangle]
pub extern "C" fn shmem_signal_fetch(sig_addr: *const u64) -> u64 {
    let func = "shmem_signal_fetch";
    if crate::statics::contains(sig_addr as usize) {
        let me = i64::from(crate::setup::my_pe_checked(func));
        if let Some(w) = crate::statics::peer_word(func, sig_addr as usize, 8, me) {
            // SAFETY: this PE's own 8-aligned word, mapped for the life of the process.
            return unsafe { AtomicU64::from_ptr(w.cast::<u64>()) }.load(Ordering::Acquire);
        }
    }
    shmem::waits::signal_fetch(sig_addr as usize).or_fatal("shmem_signal_fetch")
}
