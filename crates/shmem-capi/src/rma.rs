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

/// The world PE that `p` names through `ctx` (a team PE for a team context), or [`fatal`] when `ctx` is not
/// usable for the operation (not live, or [`shmem::api::CTX_NOSTORE`] for a `store`) or `p` is not in its
/// team: the global/static and zero-length paths move nothing through the context but take its PE numbers and
/// its errors (the heap paths leave both to the facade's context calls). The default context's PE numbers are
/// world PEs (checked where they are used).
pub(crate) fn world_pe(func: &str, ctx: i64, p: i64, store: bool) -> i64 {
    if ctx == CTX_DEFAULT {
        return p;
    }
    shmem::api::ctx_world_pe(ctx, p, store).or_fatal(func)
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
    // The zero-length and global/static paths do not go through the context, but take its PE numbers and errors.
    let world = || world_pe(func, ctx, p, true);
    if len == 0 {
        return zero_length(func, world());
    }
    if let Some(peer) =
        crate::statics::contains(dst).then(world).and_then(|w| crate::statics::peer_ptr(func, dst, len, w))
    {
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
    let world = || world_pe(func, ctx, p, false);
    if len == 0 {
        return zero_length(func, world());
    }
    if let Some(peer) =
        crate::statics::contains(src).then(world).and_then(|w| crate::statics::peer_ptr(func, src, len, w))
    {
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
    // SAFETY: forwarded contract: element i of the source is readable.
    let one = |d: usize, s: usize, n: usize| unsafe {
        put(func, ctx, d as *mut c_void, s as *const c_void, n, size, to, false)
    };
    each_element(func, dest as usize, source as usize, dst, sst, nelems, size, one);
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
    // SAFETY: forwarded contract: element i of the destination is writable.
    let one = |d: usize, s: usize, n: usize| unsafe {
        get(func, ctx, d as *mut c_void, s as *const c_void, n, size, from, false)
    };
    each_element(func, dest as usize, source as usize, dst, sst, nelems, size, one);
}

/// Calls `one(dest_i, source_i, count)` for each strided element, or once for all when both strides are 1.
#[allow(clippy::too_many_arguments)]
fn each_element(
    func: &str,
    dest: usize,
    source: usize,
    dst: isize,
    sst: isize,
    nelems: usize,
    size: usize,
    mut one: impl FnMut(usize, usize, usize),
) {
    if dst == 1 && sst == 1 {
        return one(dest, source, nelems);
    }
    for i in 0..nelems {
        one(strided(func, dest, dst, i, size), strided(func, source, sst, i, size), 1);
    }
}

/// One contiguous routine and its ctx form: `$plain(dest, source, nelems, pe)` and `$ctx(ctx, dest, source,
/// nelems, pe)`, moving `nelems` elements of `$size` bytes with `$f` ([`put`] or [`get`]).
macro_rules! contiguous {
    ($plain:ident, $ctx:ident, $t:ty, $size:expr, $f:ident, $nbi:literal) => {
        #[doc = concat!("`", stringify!($plain), "`")]
        #[no_mangle]
        pub unsafe extern "C" fn $plain(dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
            // SAFETY: the spec's contract, forwarded.
            unsafe { $f(stringify!($plain), CTX_DEFAULT, dest.cast(), source.cast(), nelems, $size, pe, $nbi) }
        }
        #[doc = concat!("`", stringify!($ctx), "`")]
        #[no_mangle]
        pub unsafe extern "C" fn $ctx(ctx: shmem_ctx_t, dest: *mut $t, source: *const $t, nelems: usize, pe: c_int) {
            // SAFETY: the spec's contract, forwarded.
            unsafe { $f(stringify!($ctx), ctx_id(ctx), dest.cast(), source.cast(), nelems, $size, pe, $nbi) }
        }
    };
}

/// One strided routine and its ctx form (`$f` is [`iput`] or [`iget`]).
macro_rules! strided {
    ($plain:ident, $ctx:ident, $t:ty, $size:expr, $f:ident) => {
        #[doc = concat!("`", stringify!($plain), "`")]
        #[no_mangle]
        pub unsafe extern "C" fn $plain(
            dest: *mut $t,
            source: *const $t,
            dst: isize,
            sst: isize,
            nelems: usize,
            pe: c_int,
        ) {
            // SAFETY: the spec's contract, forwarded.
            unsafe { $f(stringify!($plain), CTX_DEFAULT, dest.cast(), source.cast(), dst, sst, nelems, $size, pe) }
        }
        #[doc = concat!("`", stringify!($ctx), "`")]
        #[no_mangle]
        pub unsafe extern "C" fn $ctx(
            ctx: shmem_ctx_t,
            dest: *mut $t,
            source: *const $t,
            dst: isize,
            sst: isize,
            nelems: usize,
            pe: c_int,
        ) {
            // SAFETY: the spec's contract, forwarded.
            unsafe { $f(stringify!($ctx), ctx_id(ctx), dest.cast(), source.cast(), dst, sst, nelems, $size, pe) }
        }
    };
}

/// The typed bulk forms of one type: put, put_nbi, get, get_nbi, iput, iget, each with its ctx form.
macro_rules! typed_bulk {
    ($name:ident, $t:ty) => {
        paste::paste! {
            contiguous!([<shmem_ $name _put>], [<shmem_ctx_ $name _put>], $t, size_of::<$t>(), put, false);
            contiguous!([<shmem_ $name _put_nbi>], [<shmem_ctx_ $name _put_nbi>], $t, size_of::<$t>(), put, true);
            contiguous!([<shmem_ $name _get>], [<shmem_ctx_ $name _get>], $t, size_of::<$t>(), get, false);
            contiguous!([<shmem_ $name _get_nbi>], [<shmem_ctx_ $name _get_nbi>], $t, size_of::<$t>(), get, true);
            strided!([<shmem_ $name _iput>], [<shmem_ctx_ $name _iput>], $t, size_of::<$t>(), iput);
            strided!([<shmem_ $name _iget>], [<shmem_ctx_ $name _iget>], $t, size_of::<$t>(), iget);
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

/// The sized forms `shmem_putN`, `shmem_putN_nbi`, `shmem_getN[_nbi]`, `shmem_iputN`, `shmem_igetN` (N in bits)
/// and their ctx forms, and the byte forms `shmem_putmem[_nbi]`, `shmem_getmem[_nbi]`.
macro_rules! sized {
    ($bits:literal) => {
        paste::paste! {
            contiguous!([<shmem_put $bits>], [<shmem_ctx_put $bits>], c_void, $bits / 8, put, false);
            contiguous!([<shmem_put $bits _nbi>], [<shmem_ctx_put $bits _nbi>], c_void, $bits / 8, put, true);
            contiguous!([<shmem_get $bits>], [<shmem_ctx_get $bits>], c_void, $bits / 8, get, false);
            contiguous!([<shmem_get $bits _nbi>], [<shmem_ctx_get $bits _nbi>], c_void, $bits / 8, get, true);
            strided!([<shmem_iput $bits>], [<shmem_ctx_iput $bits>], c_void, $bits / 8, iput);
            strided!([<shmem_iget $bits>], [<shmem_ctx_iget $bits>], c_void, $bits / 8, iget);
        }
    };
}
sized!(8);
sized!(16);
sized!(32);
sized!(64);
sized!(128);
contiguous!(shmem_putmem, shmem_ctx_putmem, c_void, 1, put, false);
contiguous!(shmem_putmem_nbi, shmem_ctx_putmem_nbi, c_void, 1, put, true);
contiguous!(shmem_getmem, shmem_ctx_getmem, c_void, 1, get, false);
contiguous!(shmem_getmem_nbi, shmem_ctx_getmem_nbi, c_void, 1, get, true);
