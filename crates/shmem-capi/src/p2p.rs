//! Point-to-point synchronization: `shmem_TYPENAME_wait_until` and `shmem_TYPENAME_test` with their
//! `_all`/`_any`/`_some` and `_vector` forms, `shmem_signal_wait_until` and the deprecated waits, one macro row
//! per type of the spec's point-to-point table, forwarded to `shmem::waits` (which checks the comparison code,
//! the addresses and the status array). `_any` returns `SIZE_MAX` when no element is selected; `_some`
//! writes the satisfying indices to `indices` and returns how many.

use crate::fatal::{fatal, OrFatal};
use crate::types::{for_each_p2p_deprecated_type, for_each_p2p_type};
use core::ffi::c_int;
use shmem_core::{Error, Result};
use shmem_sync::WaitValue;

/// The wait/test families with the same signatures as `shmem::waits`, for variables in the heap (forwarded)
/// and global/static variables (see [`crate::statics`]): those are polled here on this PE's own word with
/// `Acquire` loads and the bounded backoff of [`crate::static_words::wait_for`], with the facade's selection
/// rules (`shmem_sync::family`: a selection with no active element is satisfied at once).
mod waits {
    use crate::static_words::{load, wait_for};
    use shmem_core::{Error, Result};
    use shmem_sync::{family, CmpOp, WaitValue};
    use std::sync::Mutex;

    /// This PE's `n` static variables of `T` at `addr`: `None` when `addr` is not a static variable (or the
    /// set is empty, which reads nothing), else the checked pointer.
    fn region<T: WaitValue>(addr: usize, n: usize) -> Option<Result<*const u8>> {
        if n == 0 || !crate::statics::contains(addr) {
            return None;
        }
        Some((|| {
            let len = n.checked_mul(T::WIDTH).ok_or_else(|| Error::invalid(format!("nelems {n} overflows")))?;
            if !addr.is_multiple_of(T::WIDTH) {
                return Err(Error::invalid(format!("address {addr:#x} is not aligned to its {}-byte type", T::WIDTH)));
            }
            let me = i64::from(shmem::api::my_pe()?);
            let p = crate::statics::lookup(addr, len, me).expect("contains() said it is static")?;
            Ok(p.cast_const())
        })())
    }

    /// Element `i` of the static array at `p`.
    fn at<T: WaitValue>(p: *const u8, i: usize) -> T {
        // SAFETY: `region` checked `n` aligned elements of this PE's mapped static data; `i < n`.
        T::from_bits(unsafe { load(p.add(i * T::WIDTH), T::WIDTH) })
    }

    /// Which elements a selection picks.
    #[derive(Clone, Copy, PartialEq)]
    enum Sel {
        All,
        Any,
        Some,
    }

    /// Tests (`wait == false`) or waits for the selection `sel` over the static array at `p`: `Some(hits)`
    /// when satisfied (`All`: empty; `Any`: at most one index; `Some`: every satisfying index).
    #[allow(clippy::too_many_arguments)]
    fn select<T: WaitValue>(
        p: *const u8,
        n: usize,
        status: Option<&[i32]>,
        cmp: CmpOp,
        val: impl Fn(usize) -> T,
        sel: Sel,
        wait: bool,
    ) -> Result<Option<Vec<usize>>> {
        let h = |i: usize| cmp.holds(at::<T>(p, i), val(i));
        let once = || match sel {
            Sel::All => family::test_all(n, status, h).then(Vec::new),
            _ if !family::any_active(n, status) => Some(Vec::new()),
            Sel::Any => family::test_any(n, status, h).map(|i| vec![i]),
            Sel::Some => Some(family::test_some(n, status, h)).filter(|v| !v.is_empty()),
        };
        if wait {
            wait_for(once).map(Some)
        } else {
            Ok(once())
        }
    }

    /// Runs a selection on a static array, or `None` for the facade's path.
    #[allow(clippy::too_many_arguments)]
    fn on_static<T: WaitValue>(
        addr: usize,
        n: usize,
        status: Option<&[i32]>,
        cmp: i32,
        val: impl Fn(usize) -> T,
        sel: Sel,
        wait: bool,
    ) -> Option<Result<Option<Vec<usize>>>> {
        if n == 0 || !crate::statics::contains(addr) {
            return None;
        }
        let cmp = match CmpOp::from_code(cmp) {
            Ok(c) => c,
            Err(e) => return Some(Err(e)),
        };
        if status.is_some_and(|s| s.len() < n) {
            return Some(Err(Error::invalid(format!("status has fewer than nelems {n} entries"))));
        }
        Some(region::<T>(addr, n)?.and_then(|p| select(p, n, status, cmp, val, sel, wait)))
    }

    /// The last `_any` call on this PE: its arguments (array, length, comparison, status and value) and the
    /// index it returned. The same call repeated returns the next satisfying index after that one (wrapping),
    /// so a program that polls an array whose elements all satisfy the condition with `test_any` and no
    /// `status` sees each of them in turn instead of the first one forever (the spec leaves the choice of index
    /// to the implementation; SOS's tests poll this way). A call with other arguments starts at the first.
    static LAST_ANY: Mutex<Option<([u64; 5], usize)>> = Mutex::new(None);

    /// The arguments of an `_any` call that make two calls "the same" for [`LAST_ANY`].
    fn any_key(a: usize, n: usize, s: Option<&[i32]>, cmp: i32, value: u64) -> [u64; 5] {
        [a as u64, n as u64, cmp as u64, s.map_or(0, |s| s.as_ptr() as u64), value]
    }

    /// An `_any` result made fair: the wait or test found `found`; among the indices that satisfy the
    /// condition now (`now`), the one after the index the same call returned last, else the first.
    fn fair_any(
        key: [u64; 5],
        found: Option<usize>,
        now: impl FnOnce() -> Result<Vec<usize>>,
    ) -> Result<Option<usize>> {
        let Some(i) = found else { return Ok(None) };
        let mut last = LAST_ANY.lock().unwrap_or_else(|e| e.into_inner());
        let pick = match *last {
            Some((k, prev)) if k == key => {
                let hits = now()?;
                hits.iter().copied().find(|&h| h > prev).or_else(|| hits.first().copied()).unwrap_or(i)
            }
            _ => i,
        };
        *last = Some((key, pick));
        Ok(Some(pick))
    }

    fn first(v: Option<Vec<usize>>) -> Option<usize> {
        v.and_then(|v| v.first().copied())
    }

    /// `shmem::waits::wait_until`, global/static variables included.
    pub(super) fn wait_until<T: WaitValue>(ivar: usize, cmp: i32, value: T) -> Result<T> {
        if let Some(r) = on_static(ivar, 1, None, cmp, |_| value, Sel::All, true) {
            r?;
            let p = region::<T>(ivar, 1).expect("static")?;
            // The value that satisfied the wait may have changed since; the spec returns nothing for the
            // typed waits, and the signal wait's value is read again (as a fresh satisfying read would).
            return Ok(at::<T>(p, 0));
        }
        shmem::waits::wait_until(ivar, cmp, value)
    }

    /// `shmem::waits::wait`, global/static variables included.
    pub(super) fn wait<T: WaitValue>(ivar: usize, value: T) -> Result<T> {
        wait_until(ivar, CmpOp::Ne as i32, value)
    }

    /// `shmem::waits::signal_wait_until`, global/static variables included.
    pub(super) fn signal_wait_until(sig: usize, cmp: i32, value: u64) -> Result<u64> {
        if crate::statics::contains(sig) {
            let cmp_op = CmpOp::from_code(cmp)?;
            let p = region::<u64>(sig, 1).expect("static")?;
            // The satisfying value itself, read once per poll.
            return wait_for(|| Some(at::<u64>(p, 0)).filter(|&x| cmp_op.holds(x, value)));
        }
        shmem::waits::signal_wait_until(sig, cmp, value)
    }

    /// `shmem::waits::test`, global/static variables included.
    pub(super) fn test<T: WaitValue>(ivar: usize, cmp: i32, value: T) -> Result<bool> {
        match on_static(ivar, 1, None, cmp, |_| value, Sel::All, false) {
            Some(r) => r.map(|s| s.is_some()),
            None => shmem::waits::test(ivar, cmp, value),
        }
    }

    /// `shmem::waits::wait_until_all`, global/static variables included.
    pub(super) fn wait_until_all<T: WaitValue>(a: usize, n: usize, s: Option<&[i32]>, cmp: i32, v: T) -> Result<()> {
        match on_static(a, n, s, cmp, |_| v, Sel::All, true) {
            Some(r) => r.map(drop),
            None => shmem::waits::wait_until_all(a, n, s, cmp, v),
        }
    }

    /// `shmem::waits::wait_until_any`, global/static variables included.
    pub(super) fn wait_until_any<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: T,
    ) -> Result<Option<usize>> {
        let found = match on_static(a, n, s, cmp, |_| v, Sel::Any, true) {
            Some(r) => r.map(first),
            None => shmem::waits::wait_until_any(a, n, s, cmp, v),
        }?;
        fair_any(any_key(a, n, s, cmp, v.to_bits()), found, || test_some(a, n, s, cmp, v))
    }

    /// `shmem::waits::wait_until_some`, global/static variables included.
    pub(super) fn wait_until_some<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: T,
    ) -> Result<Vec<usize>> {
        match on_static(a, n, s, cmp, |_| v, Sel::Some, true) {
            Some(r) => r.map(Option::unwrap_or_default),
            None => shmem::waits::wait_until_some(a, n, s, cmp, v),
        }
    }

    /// `shmem::waits::wait_until_all_vector`, global/static variables included.
    pub(super) fn wait_until_all_vector<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: &[T],
    ) -> Result<()> {
        match on_static(a, n, s, cmp, |i| v[i], Sel::All, true) {
            Some(r) => r.map(drop),
            None => shmem::waits::wait_until_all_vector(a, n, s, cmp, v),
        }
    }

    /// `shmem::waits::wait_until_any_vector`, global/static variables included.
    pub(super) fn wait_until_any_vector<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: &[T],
    ) -> Result<Option<usize>> {
        let found = match on_static(a, n, s, cmp, |i| v[i], Sel::Any, true) {
            Some(r) => r.map(first),
            None => shmem::waits::wait_until_any_vector(a, n, s, cmp, v),
        }?;
        fair_any(any_key(a, n, s, cmp, v.as_ptr() as u64), found, || test_some_vector(a, n, s, cmp, v))
    }

    /// `shmem::waits::wait_until_some_vector`, global/static variables included.
    pub(super) fn wait_until_some_vector<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: &[T],
    ) -> Result<Vec<usize>> {
        match on_static(a, n, s, cmp, |i| v[i], Sel::Some, true) {
            Some(r) => r.map(Option::unwrap_or_default),
            None => shmem::waits::wait_until_some_vector(a, n, s, cmp, v),
        }
    }

    /// `shmem::waits::test_all`, global/static variables included.
    pub(super) fn test_all<T: WaitValue>(a: usize, n: usize, s: Option<&[i32]>, cmp: i32, v: T) -> Result<bool> {
        match on_static(a, n, s, cmp, |_| v, Sel::All, false) {
            Some(r) => r.map(|x| x.is_some()),
            None => shmem::waits::test_all(a, n, s, cmp, v),
        }
    }

    /// `shmem::waits::test_any`, global/static variables included.
    pub(super) fn test_any<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: T,
    ) -> Result<Option<usize>> {
        let found = match on_static(a, n, s, cmp, |_| v, Sel::Any, false) {
            Some(r) => r.map(first),
            None => shmem::waits::test_any(a, n, s, cmp, v),
        }?;
        fair_any(any_key(a, n, s, cmp, v.to_bits()), found, || test_some(a, n, s, cmp, v))
    }

    /// `shmem::waits::test_some`, global/static variables included.
    pub(super) fn test_some<T: WaitValue>(a: usize, n: usize, s: Option<&[i32]>, cmp: i32, v: T) -> Result<Vec<usize>> {
        match on_static(a, n, s, cmp, |_| v, Sel::Some, false) {
            Some(r) => r.map(Option::unwrap_or_default),
            None => shmem::waits::test_some(a, n, s, cmp, v),
        }
    }

    /// `shmem::waits::test_all_vector`, global/static variables included.
    pub(super) fn test_all_vector<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: &[T],
    ) -> Result<bool> {
        match on_static(a, n, s, cmp, |i| v[i], Sel::All, false) {
            Some(r) => r.map(|x| x.is_some()),
            None => shmem::waits::test_all_vector(a, n, s, cmp, v),
        }
    }

    /// `shmem::waits::test_any_vector`, global/static variables included.
    pub(super) fn test_any_vector<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: &[T],
    ) -> Result<Option<usize>> {
        let found = match on_static(a, n, s, cmp, |i| v[i], Sel::Any, false) {
            Some(r) => r.map(first),
            None => shmem::waits::test_any_vector(a, n, s, cmp, v),
        }?;
        fair_any(any_key(a, n, s, cmp, v.as_ptr() as u64), found, || test_some_vector(a, n, s, cmp, v))
    }

    /// `shmem::waits::test_some_vector`, global/static variables included.
    pub(super) fn test_some_vector<T: WaitValue>(
        a: usize,
        n: usize,
        s: Option<&[i32]>,
        cmp: i32,
        v: &[T],
    ) -> Result<Vec<usize>> {
        match on_static(a, n, s, cmp, |i| v[i], Sel::Some, false) {
            Some(r) => r.map(Option::unwrap_or_default),
            None => shmem::waits::test_some_vector(a, n, s, cmp, v),
        }
    }
}

/// A C point-to-point type as the facade's [`WaitValue`] of the same size and alignment: `size_t` and
/// `ptrdiff_t` are Rust's `usize`/`isize`, which the facade watches as `u64`/`i64`.
pub(crate) trait CWait: Copy {
    /// The facade's type of the same bits.
    type R: WaitValue;
    /// The same value as the facade's type.
    fn into_r(self) -> Self::R;
}

macro_rules! c_wait {
    ($($t:ty => $r:ty),* $(,)?) => {$(
        impl CWait for $t {
            type R = $r;
            #[inline]
            fn into_r(self) -> $r {
                // Same size by construction of this list (checked in the tests below).
                <$r>::from_ne_bytes(self.to_ne_bytes())
            }
        }
    )*};
}
c_wait!(i16 => i16, u16 => u16, i32 => i32, u32 => u32, i64 => i64, u64 => u64, usize => u64, isize => i64);

/// The `status` mask of an array call: `None` for a null pointer (every element active).
///
/// # Safety
/// A non-null `status` points to `n` readable `int`s (the spec's contract).
#[inline]
unsafe fn mask<'a>(status: *const c_int, n: usize) -> Option<&'a [i32]> {
    // SAFETY: the caller's contract; `c_int` is `i32`.
    (!status.is_null()).then(|| unsafe { core::slice::from_raw_parts(status, n) })
}

/// The `cmp_values` of a `_vector` call as the facade's type; [`fatal`] when null with `n > 0`.
///
/// # Safety
/// A non-null `values` points to `n` readable `T`s (the spec's contract).
#[inline]
unsafe fn values<'a, T: CWait>(func: &str, values: *const T, n: usize) -> &'a [T::R] {
    if n == 0 {
        return &[];
    }
    if values.is_null() || !(values as usize).is_multiple_of(align_of::<T>()) {
        fatal(func, &Error::invalid(format!("cmp_values {values:p} is null or misaligned")));
    }
    // SAFETY: `T` and `T::R` have the same size and alignment; the caller's contract on the `n` elements.
    unsafe { core::slice::from_raw_parts(values.cast::<T::R>(), n) }
}

/// The return of an `_any` call: the index, or `SIZE_MAX` when none was selected.
#[inline]
fn index(found: Option<usize>) -> usize {
    found.unwrap_or(usize::MAX)
}

/// Runs a `_some` call: checks `indices` first (room for `n` entries), then writes the satisfying indices
/// there and returns how many.
///
/// # Safety
/// A non-null `indices` points to `n` writable `size_t`s (the spec's contract).
#[inline]
unsafe fn some(func: &str, indices: *mut usize, n: usize, run: impl FnOnce() -> Result<Vec<usize>>) -> usize {
    if n > 0 && (indices.is_null() || !(indices as usize).is_multiple_of(align_of::<usize>())) {
        fatal(func, &Error::invalid(format!("indices {indices:p} is null or misaligned")));
    }
    let found = run().or_fatal(func);
    for (k, &i) in found.iter().enumerate() {
        // SAFETY: at most `n` indices are found, and `indices` has room for `n` (checked non-null, aligned).
        unsafe { indices.add(k).write(i) };
    }
    found.len()
}

/// Defines `shmem_<N>_<op>` with the parameters `($p: $pt, ...)`; `$body` sees the C function's name as `$f`.
macro_rules! def {
    ($name:ident, $op:ident, ($($p:ident: $pt:ty),*) $(-> $ret:ty)?, |$f:ident| $body:expr) => {
        paste::paste! {
            #[doc = concat!("`shmem_", stringify!($name), "_", stringify!($op), "`")]
            #[no_mangle]
            pub unsafe extern "C" fn [<shmem_ $name _ $op>]($($p: $pt),*) $(-> $ret)? {
                let $f = concat!("shmem_", stringify!($name), "_", stringify!($op));
                $body
            }
        }
    };
}

/// The wait and test routines of one type.
macro_rules! p2p {
    ($name:ident, $t:ty) => {
        def!($name, wait_until, (ivar: *mut $t, cmp: c_int, cmp_value: $t), |f| {
            waits::wait_until(ivar as usize, cmp, cmp_value.into_r()).or_fatal(f);
        });
        def!($name, wait_until_all,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_value: $t), |f| {
            // SAFETY: the spec's contract on `status`, forwarded.
            let s = unsafe { mask(status, nelems) };
            waits::wait_until_all(ivars as usize, nelems, s, cmp, cmp_value.into_r()).or_fatal(f)
        });
        def!($name, wait_until_any,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_value: $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status`, forwarded.
            let s = unsafe { mask(status, nelems) };
            index(waits::wait_until_any(ivars as usize, nelems, s, cmp, cmp_value.into_r()).or_fatal(f))
        });
        def!($name, wait_until_some, (ivars: *mut $t, nelems: usize, indices: *mut usize, status: *const c_int,
            cmp: c_int, cmp_value: $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status` and `indices`, forwarded.
            unsafe {
                let s = mask(status, nelems);
                some(f, indices, nelems, || waits::wait_until_some(ivars as usize, nelems, s, cmp, cmp_value.into_r()))
            }
        });
        def!($name, wait_until_all_vector,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_values: *mut $t), |f| {
            // SAFETY: the spec's contract on `status` and `cmp_values`, forwarded.
            let (s, v) = unsafe { (mask(status, nelems), values(f, cmp_values, nelems)) };
            waits::wait_until_all_vector(ivars as usize, nelems, s, cmp, v).or_fatal(f)
        });
        def!($name, wait_until_any_vector,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_values: *mut $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status` and `cmp_values`, forwarded.
            let (s, v) = unsafe { (mask(status, nelems), values(f, cmp_values, nelems)) };
            index(waits::wait_until_any_vector(ivars as usize, nelems, s, cmp, v).or_fatal(f))
        });
        def!($name, wait_until_some_vector, (ivars: *mut $t, nelems: usize, indices: *mut usize,
            status: *const c_int, cmp: c_int, cmp_values: *mut $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status`, `cmp_values` and `indices`, forwarded.
            unsafe {
                let (s, v) = (mask(status, nelems), values(f, cmp_values, nelems));
                some(f, indices, nelems, || waits::wait_until_some_vector(ivars as usize, nelems, s, cmp, v))
            }
        });
        def!($name, test, (ivar: *mut $t, cmp: c_int, cmp_value: $t) -> c_int, |f| {
            c_int::from(waits::test(ivar as usize, cmp, cmp_value.into_r()).or_fatal(f))
        });
        def!($name, test_all,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_value: $t) -> c_int, |f| {
            // SAFETY: the spec's contract on `status`, forwarded.
            let s = unsafe { mask(status, nelems) };
            c_int::from(waits::test_all(ivars as usize, nelems, s, cmp, cmp_value.into_r()).or_fatal(f))
        });
        def!($name, test_any,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_value: $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status`, forwarded.
            let s = unsafe { mask(status, nelems) };
            index(waits::test_any(ivars as usize, nelems, s, cmp, cmp_value.into_r()).or_fatal(f))
        });
        def!($name, test_some, (ivars: *mut $t, nelems: usize, indices: *mut usize, status: *const c_int,
            cmp: c_int, cmp_value: $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status` and `indices`, forwarded.
            unsafe {
                let s = mask(status, nelems);
                some(f, indices, nelems, || waits::test_some(ivars as usize, nelems, s, cmp, cmp_value.into_r()))
            }
        });
        def!($name, test_all_vector,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_values: *mut $t) -> c_int, |f| {
            // SAFETY: the spec's contract on `status` and `cmp_values`, forwarded.
            let (s, v) = unsafe { (mask(status, nelems), values(f, cmp_values, nelems)) };
            c_int::from(waits::test_all_vector(ivars as usize, nelems, s, cmp, v).or_fatal(f))
        });
        def!($name, test_any_vector,
            (ivars: *mut $t, nelems: usize, status: *const c_int, cmp: c_int, cmp_values: *mut $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status` and `cmp_values`, forwarded.
            let (s, v) = unsafe { (mask(status, nelems), values(f, cmp_values, nelems)) };
            index(waits::test_any_vector(ivars as usize, nelems, s, cmp, v).or_fatal(f))
        });
        def!($name, test_some_vector, (ivars: *mut $t, nelems: usize, indices: *mut usize,
            status: *const c_int, cmp: c_int, cmp_values: *mut $t) -> usize, |f| {
            // SAFETY: the spec's contract on `status`, `cmp_values` and `indices`, forwarded.
            unsafe {
                let (s, v) = (mask(status, nelems), values(f, cmp_values, nelems));
                some(f, indices, nelems, || waits::test_some_vector(ivars as usize, nelems, s, cmp, v))
            }
        });
    };
}
for_each_p2p_type!(p2p);

/// The deprecated `shmem_TYPENAME_wait` of one type: waits until the variable differs from `cmp_value`.
macro_rules! deprecated_wait {
    ($name:ident, $t:ty) => {
        def!($name, wait, (ivar: *mut $t, cmp_value: $t), |f| {
            waits::wait(ivar as usize, cmp_value.into_r()).or_fatal(f);
        });
    };
}
for_each_p2p_deprecated_type!(deprecated_wait);

/// `shmem_signal_wait_until`: waits until the signal at `sig_addr` compares true; returns its value.
#[no_mangle]
pub unsafe extern "C" fn shmem_signal_wait_until(sig_addr: *mut u64, cmp: c_int, cmp_value: u64) -> u64 {
    waits::signal_wait_until(sig_addr as usize, cmp, cmp_value).or_fatal("shmem_signal_wait_until")
}

/// `shmem_wait` (deprecated): waits until the `long` at `ivar` differs from `cmp_value`.
#[no_mangle]
pub unsafe extern "C" fn shmem_wait(ivar: *mut i64, cmp_value: i64) {
    waits::wait(ivar as usize, cmp_value).or_fatal("shmem_wait");
}

/// `shmem_wait_until` (deprecated `long` form; C11 programs get the generic macro of the same name).
#[no_mangle]
pub unsafe extern "C" fn shmem_wait_until(ivar: *mut i64, cmp: c_int, cmp_value: i64) {
    waits::wait_until(ivar as usize, cmp, cmp_value).or_fatal("shmem_wait_until");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_types_keep_their_bits_and_none_is_size_max() {
        assert_eq!(usize::MAX.into_r(), u64::MAX);
        assert_eq!((-7isize).into_r(), -7i64);
        assert_eq!((-2i16).into_r(), -2i16);
        assert_eq!(index(None), usize::MAX);
        assert_eq!(index(Some(3)), 3);
    }
}
