//! Remote memory access: `shmem_TYPENAME_{put,get,p,g,iput,iget}[_nbi]`, their sized (`put8` ... `put128`,
//! `putmem`) and `ctx_` forms, one macro row per type of the spec's table. A symmetric address that is a
//! global/static variable (see [`crate::statics`]) moves by load/store on the peer's mapping, complete on return.

use crate::fatal::{byte_len, fatal, pe, OrFatal};
use crate::handles::{ctx_id, shmem_ctx_t};
use crate::types::{for_each_rma_scalar_type, for_each_rma_type};
use core::ffi::{c_int, c_void};
use shmem::api::CTX_DEFAULT;
use shmem_core::Error;

/// `long double`: 16 bytes, 16-aligned on x86-64 Linux (moved as bytes; its by-value forms are in csrc/).
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct LongDouble(pub [u8; 16]);

/// A transfer of no bytes: valid with any addresses (null ones included, OpenSHMEM's annex on undefined
/// behaviour lists zero-length calls as supported) and does nothing, once the library is initialized and `p`
/// is a PE of the job.
fn zero_length(func: &str, p: i64) {
    crate::setup::my_pe_checked(func);
    let n = i64::from(crate::setup::shmem_n_pes());
    if !(0..n).contains(&p) {
        fatal(func, &Error::invalid(format!("PE {p} is not in this job of {n} PEs (0..{n})")));
    }
}

/// Puts `nelems * size` bytes through `ctx` (the default context takes the plain path).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) unsafe fn put(
    func: &str,
    ctx: i64,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
    size: usize,
    to: c_int,
    nbi: bool,
) {
    let len = byte_len(func, nelems, size);
    let (dst, src, p) = (dest as usize, source.cast::<u8>(), pe(to));
    if len == 0 {
        return zero_length(func, p);
    }
    if let Some(peer) = crate::statics::peer_ptr(func, dst, len, p) {
        // SAFETY: `peer` is `len` writable bytes of the peer's static data mapped here; `source` is readable
        // (the contract); `copy` allows the overlap of a put to this PE's own variable.
        return unsafe { std::ptr::copy(src, peer, len) };
    }
    // SAFETY: the caller's (the spec's) contract: `source` holds `len` readable bytes (until quiet for nbi).
    let r = unsafe {
        match (ctx == CTX_DEFAULT, nbi) {
            (true, false) => shmem::api::putmem(dst, src, len, p),
            (true, true) => shmem::api::putmem_nbi(dst, src, len, p),
            (false, _) => shmem::api::ctx_putmem(ctx, dst, src, len, p, nbi),
        }
    };
    r.or_fatal(func)
}

/// Gets `nelems * size` bytes through `ctx`.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) unsafe fn get(
    func: &str,
    ctx: i64,
    dest: *mut c_void,
    source: *const c_void,
    nelems: usize,
    size: usize,
    from: c_int,
    nbi: bool,
) {
    let len = byte_len(func, nelems, size);
    let (dst, src, p) = (dest.cast::<u8>(), source as usize, pe(from));
    if len == 0 {
        return zero_length(func, p);
    }
    if let Some(peer) = crate::statics::peer_ptr(func, src, len, p) {
        // SAFETY: `peer` is `len` readable bytes of the peer's static data mapped here; `dest` is writable
        // (the contract); `copy` allows the overlap of a get from this PE's own variable.
        return unsafe { std::ptr::copy(peer, dst, len) };
    }
    // SAFETY: the caller's contract: `dest` has `len` writable bytes (untouched until quiet for nbi).
    let r = unsafe {
        match (ctx == CTX_DEFAULT, nbi) {
            (true, false) => shmem::api::getmem(dst, src, len, p),
            (true, true) => shmem::api::getmem_nbi(dst, src, len, p),
            (false, _) => shmem::api::ctx_getmem(ctx, dst, src, len, p, nbi),
        }
    };
    r.or_fatal(func)
}

/// The address `stride * i` elements of `size` bytes from `base`, or [`fatal`] when it leaves the address space.
#[inline]
fn strided(func: &str, base: usize, stride: isize, i: usize, size: usize) -> usize {
    (i as isize)
        .checked_mul(stride)
        .and_then(|e| e.checked_mul(size as isize))
        .and_then(|off| base.checked_add_signed(off))
        .unwrap_or_else(|| fatal(func, &Error::invalid(format!("stride {stride} x {i} elements overflows"))))
}

/// Strided put: element `i` of `source` (stride `sst`) to element `i` of `dest` (stride `dst`) on `to`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn iput(
    func: &str,
    ctx: i64,
    dest: *mut c_void,
    source: *const c_void,
    dst: isize,
    sst: isize,
    nelems: usize,
    size: usize,
    to: c_int,
) {
    if dst == 1 && sst == 1 {
        // SAFETY: forwarded contract.
        return unsafe { put(func, ctx, dest, source, nelems, size, to, false) };
    }
    for i in 0..nelems {
        let d = strided(func, dest as usize, dst, i, size);
        let s = strided(func, source as usize, sst, i, size);
        // SAFETY: forwarded contract: element i of the source is readable.
        unsafe { put(func, ctx, d as *mut c_void, s as *const c_void, 1, size, to, false) };
    }
}

/// Strided get: element `i` of `source` (stride `sst`) on `from` to element `i` of `dest` (stride `dst`).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn iget(
    func: &str,
    ctx: i64,
    dest: *mut c_void,
    source: *const c_void,
    dst: isize,
    sst: isize,
    nelems: usize,
    size: usize,
    from: c_int,
) {
    if dst == 1 && sst == 1 {
        // SAFETY: forwarded contract.
        return unsafe { get(func, ctx, dest, source, nelems, size, from, false) };
    }
    for i in 0..nelems {
        let d = strided(func, dest as usize, dst, i, size);
        let s = strided(func, source as usize, sst, i, size);
        // SAFETY: forwarded contract: element i of the destination is writable.
        unsafe { get(func, ctx, d as *mut c_void, s as *const c_void, 1, size, from, false) };
    }
}

/// The typed bulk forms of one type: put, put_nbi, get, get_nbi, iput, iget, each with its ctx form.
macro_rules! typed_bulk {
    ($name:ident, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_put`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _put>](dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_", stringify!($name), "_put"), CTX_DEFAULT, dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, false) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_put`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _put>](ctx: shmem_ctx_t, dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_ctx_", stringify!($name), "_put"), ctx_id(ctx), dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, false) }
            }
            #[doc = concat!("`shmem_", stringify!($name), "_put_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _put_nbi>](dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_", stringify!($name), "_put_nbi"), CTX_DEFAULT, dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, true) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_put_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _put_nbi>](ctx: shmem_ctx_t, dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_ctx_", stringify!($name), "_put_nbi"), ctx_id(ctx), dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, true) }
            }
            #[doc = concat!("`shmem_", stringify!($name), "_get`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _get>](dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_", stringify!($name), "_get"), CTX_DEFAULT, dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, false) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_get`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _get>](ctx: shmem_ctx_t, dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_ctx_", stringify!($name), "_get"), ctx_id(ctx), dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, false) }
            }
            #[doc = concat!("`shmem_", stringify!($name), "_get_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _get_nbi>](dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_", stringify!($name), "_get_nbi"), CTX_DEFAULT, dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, true) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_get_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _get_nbi>](ctx: shmem_ctx_t, dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_ctx_", stringify!($name), "_get_nbi"), ctx_id(ctx), dest.cast(), source.cast(), nelems, size_of::<$t>(), pe, true) }
            }
            #[doc = concat!("`shmem_", stringify!($name), "_iput`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _iput>](dest: *mut $t, source: *const $t, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iput(concat!("shmem_", stringify!($name), "_iput"), CTX_DEFAULT, dest.cast(), source.cast(), dst, sst, nelems, size_of::<$t>(), pe) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_iput`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _iput>](ctx: shmem_ctx_t, dest: *mut $t, source: *const $t, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iput(concat!("shmem_ctx_", stringify!($name), "_iput"), ctx_id(ctx), dest.cast(), source.cast(), dst, sst, nelems, size_of::<$t>(), pe) }
            }
            #[doc = concat!("`shmem_", stringify!($name), "_iget`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _iget>](dest: *mut $t, source: *const $t, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iget(concat!("shmem_", stringify!($name), "_iget"), CTX_DEFAULT, dest.cast(), source.cast(), dst, sst, nelems, size_of::<$t>(), pe) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_iget`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _iget>](ctx: shmem_ctx_t, dest: *mut $t, source: *const $t, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iget(concat!("shmem_ctx_", stringify!($name), "_iget"), ctx_id(ctx), dest.cast(), source.cast(), dst, sst, nelems, size_of::<$t>(), pe) }
            }
        }
    };
}
for_each_rma_type!(typed_bulk);

/// The single-element forms of one type: p and g, each with its ctx form.
macro_rules! typed_scalar {
    ($name:ident, $t:ty) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_p`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _p>](dest: *mut $t, value: $t, pe: c_int) {
                // SAFETY: `value` lives on this stack for the (blocking) call.
                unsafe { put(concat!("shmem_", stringify!($name), "_p"), CTX_DEFAULT, dest.cast(), (&value as *const $t).cast(), 1, size_of::<$t>(), pe, false) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_p`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _p>](ctx: shmem_ctx_t, dest: *mut $t, value: $t, pe: c_int) {
                // SAFETY: `value` lives on this stack for the (blocking) call.
                unsafe { put(concat!("shmem_ctx_", stringify!($name), "_p"), ctx_id(ctx), dest.cast(), (&value as *const $t).cast(), 1, size_of::<$t>(), pe, false) }
            }
            #[doc = concat!("`shmem_", stringify!($name), "_g`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _g>](source: *const $t, pe: c_int) -> $t {
                let mut value = core::mem::MaybeUninit::<$t>::zeroed();
                // SAFETY: `value` is a writable local of one element; the get completes before return.
                unsafe {
                    get(concat!("shmem_", stringify!($name), "_g"), CTX_DEFAULT, value.as_mut_ptr().cast(), source.cast(), 1, size_of::<$t>(), pe, false);
                    value.assume_init()
                }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($name), "_g`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $name _g>](ctx: shmem_ctx_t, source: *const $t, pe: c_int) -> $t {
                let mut value = core::mem::MaybeUninit::<$t>::zeroed();
                // SAFETY: `value` is a writable local of one element; the get completes before return.
                unsafe {
                    get(concat!("shmem_ctx_", stringify!($name), "_g"), ctx_id(ctx), value.as_mut_ptr().cast(), source.cast(), 1, size_of::<$t>(), pe, false);
                    value.assume_init()
                }
            }
        }
    };
}
for_each_rma_scalar_type!(typed_scalar);

/// The sized forms of one width: putN, getN (blocking and nbi), iputN, igetN, each with its ctx form.
macro_rules! sized {
    ($bits:literal) => {
        paste::paste! {
            #[doc = concat!("`shmem_put", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_put $bits>](dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_put", $bits), CTX_DEFAULT, dest, source, nelems, $bits / 8, pe, false) }
            }
            #[doc = concat!("`shmem_ctx_put", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_put $bits>](ctx: shmem_ctx_t, dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_ctx_put", $bits), ctx_id(ctx), dest, source, nelems, $bits / 8, pe, false) }
            }
            #[doc = concat!("`shmem_put", $bits, "_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_put $bits _nbi>](dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_put", $bits, "_nbi"), CTX_DEFAULT, dest, source, nelems, $bits / 8, pe, true) }
            }
            #[doc = concat!("`shmem_ctx_put", $bits, "_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_put $bits _nbi>](ctx: shmem_ctx_t, dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { put(concat!("shmem_ctx_put", $bits, "_nbi"), ctx_id(ctx), dest, source, nelems, $bits / 8, pe, true) }
            }
            #[doc = concat!("`shmem_get", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_get $bits>](dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_get", $bits), CTX_DEFAULT, dest, source, nelems, $bits / 8, pe, false) }
            }
            #[doc = concat!("`shmem_ctx_get", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_get $bits>](ctx: shmem_ctx_t, dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_ctx_get", $bits), ctx_id(ctx), dest, source, nelems, $bits / 8, pe, false) }
            }
            #[doc = concat!("`shmem_get", $bits, "_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_get $bits _nbi>](dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_get", $bits, "_nbi"), CTX_DEFAULT, dest, source, nelems, $bits / 8, pe, true) }
            }
            #[doc = concat!("`shmem_ctx_get", $bits, "_nbi`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_get $bits _nbi>](ctx: shmem_ctx_t, dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { get(concat!("shmem_ctx_get", $bits, "_nbi"), ctx_id(ctx), dest, source, nelems, $bits / 8, pe, true) }
            }
            #[doc = concat!("`shmem_iput", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_iput $bits>](dest: *mut c_void, source: *const c_void, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iput(concat!("shmem_iput", $bits), CTX_DEFAULT, dest, source, dst, sst, nelems, $bits / 8, pe) }
            }
            #[doc = concat!("`shmem_ctx_iput", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_iput $bits>](ctx: shmem_ctx_t, dest: *mut c_void, source: *const c_void, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iput(concat!("shmem_ctx_iput", $bits), ctx_id(ctx), dest, source, dst, sst, nelems, $bits / 8, pe) }
            }
            #[doc = concat!("`shmem_iget", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_iget $bits>](dest: *mut c_void, source: *const c_void, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iget(concat!("shmem_iget", $bits), CTX_DEFAULT, dest, source, dst, sst, nelems, $bits / 8, pe) }
            }
            #[doc = concat!("`shmem_ctx_iget", $bits, "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_iget $bits>](ctx: shmem_ctx_t, dest: *mut c_void, source: *const c_void, dst: isize, sst: isize, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { iget(concat!("shmem_ctx_iget", $bits), ctx_id(ctx), dest, source, dst, sst, nelems, $bits / 8, pe) }
            }
        }
    };
}
sized!(8);
sized!(16);
sized!(32);
sized!(64);
sized!(128);

/// The byte forms: putmem, getmem (blocking and nbi), each with its ctx form.
macro_rules! mem {
    ($op:ident, $f:ident, $nbi:literal) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($op), "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $op>](dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { $f(concat!("shmem_", stringify!($op)), CTX_DEFAULT, dest, source, nelems, 1, pe, $nbi) }
            }
            #[doc = concat!("`shmem_ctx_", stringify!($op), "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ctx_ $op>](ctx: shmem_ctx_t, dest: *mut c_void, source: *const c_void, nelems: usize, pe: c_int) {
                // SAFETY: the spec's contract, forwarded.
                unsafe { $f(concat!("shmem_ctx_", stringify!($op)), ctx_id(ctx), dest, source, nelems, 1, pe, $nbi) }
            }
        }
    };
}
mem!(putmem, put, false);
mem!(putmem_nbi, put, true);
mem!(getmem, get, false);
mem!(getmem_nbi, get, true);
