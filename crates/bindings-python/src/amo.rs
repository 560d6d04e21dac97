//! Atomic memory operations: `aclshmem_{TYPE}_atomic_{op}` for the standard AMO types (int32, uint32, int64,
//! uint64: every operation) and the extended ones (float, double: fetch, set, swap). The `_nbi` fetching
//! forms store the old value into a local `fetch` buffer (valid after the next quiet; the host engines
//! complete it at once). `fetch`, and `dest`/`source` given as arrays (they must hold the type's width), are
//! checked before the operation runs: a refused call changes nothing.

use crate::buffer::{with_local, Access, PeArg, Sym};
use crate::error::ResultExt;
use pyo3::prelude::*;
use shmem::amo;

/// Runs the fetching operation `op` and stores its result into the local `fetch` argument (writable buffer or
/// heap int). `fetch` is resolved and checked first (writable, room for `N` bytes), so an unusable
/// destination is refused before the remote word changes: a caller that retries never applies it twice.
fn fetch_into<const N: usize>(fetch: &Bound<'_, PyAny>, op: impl FnOnce() -> shmem::Result<[u8; N]>) -> PyResult<()> {
    with_local(fetch, Access::Write, "fetch", |span| {
        span.need(N, "fetch")?;
        let old = op().py()?;
        span.write(&old, "fetch")
    })
}

macro_rules! amo_common {
    ($name:ident, $t:ty) => { paste::paste! {
        #[doc = concat!("Atomically reads `pe`'s `", stringify!($t), "` at the symmetric `source`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_fetch>](source: Sym, pe: PeArg) -> PyResult<$t> {
            source.need(std::mem::size_of::<$t>(), "source")?;
            amo::atomic_fetch::<$t>(source.addr, pe.0).py()
        }
        #[doc = concat!("Atomically writes `value` to `pe`'s `", stringify!($t), "` at `dest`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_set>](dest: Sym, value: $t, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            amo::atomic_set::<$t>(dest.addr, value, pe.0).py()
        }
        #[doc = concat!("Atomically replaces `pe`'s `", stringify!($t), "` at `dest` with `value`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_swap>](dest: Sym, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            amo::atomic_swap::<$t>(dest.addr, value, pe.0).py()
        }
        #[doc = concat!("`atomic_fetch` storing the value (", stringify!($t), ") into the local `fetch`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_fetch_nbi>](fetch: &Bound<'_, PyAny>, source: Sym, pe: PeArg) -> PyResult<()> {
            source.need(std::mem::size_of::<$t>(), "source")?;
            fetch_into(fetch, || amo::atomic_fetch::<$t>(source.addr, pe.0).map(|v| v.to_ne_bytes()))
        }
        #[doc = concat!("`atomic_swap` storing the old value (", stringify!($t), ") into the local `fetch`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_swap_nbi>](fetch: &Bound<'_, PyAny>, dest: Sym, value: $t, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            fetch_into(fetch, || amo::atomic_swap::<$t>(dest.addr, value, pe.0).map(|v| v.to_ne_bytes()))
        }
    } };
}

macro_rules! amo_int {
    ($name:ident, $t:ty) => { paste::paste! {
        #[doc = concat!("Replaces `pe`'s `", stringify!($t), "` at `dest` with `value` if it equals `cond`; returns \
                         the old value.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_compare_swap>](dest: Sym, cond: $t, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            amo::atomic_compare_swap::<$t>(dest.addr, cond, value, pe.0).py()
        }
        #[doc = concat!("`atomic_compare_swap` storing the old value (", stringify!($t), ") into the local `fetch`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_compare_swap_nbi>](fetch: &Bound<'_, PyAny>, dest: Sym, cond: $t, value: $t,
                                                       pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            fetch_into(fetch, || amo::atomic_compare_swap::<$t>(dest.addr, cond, value, pe.0).map(|v| v.to_ne_bytes()))
        }
        #[doc = concat!("Adds one to `pe`'s `", stringify!($t), "` at `dest`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_fetch_inc>](dest: Sym, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            amo::atomic_fetch_inc::<$t>(dest.addr, pe.0).py()
        }
        #[doc = concat!("Adds one to `pe`'s `", stringify!($t), "` at `dest`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_inc>](dest: Sym, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            amo::atomic_inc::<$t>(dest.addr, pe.0).py()
        }
        #[doc = concat!("`atomic_fetch_inc` storing the old value (", stringify!($t), ") into the local `fetch`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_fetch_inc_nbi>](fetch: &Bound<'_, PyAny>, dest: Sym, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            fetch_into(fetch, || amo::atomic_fetch_inc::<$t>(dest.addr, pe.0).map(|v| v.to_ne_bytes()))
        }
        amo_int!(@op $name, $t, fetch_add, add);
        amo_int!(@op $name, $t, fetch_and, and);
        amo_int!(@op $name, $t, fetch_or, or);
        amo_int!(@op $name, $t, fetch_xor, xor);
    } };
    (@op $name:ident, $t:ty, $fetch:ident, $plain:ident) => { paste::paste! {
        #[doc = concat!("Atomic ", stringify!($fetch), " on `pe`'s `", stringify!($t), "` at `dest` (wrapping); \
                         returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_ $fetch>](dest: Sym, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            amo::[<atomic_ $fetch>]::<$t>(dest.addr, value, pe.0).py()
        }
        #[doc = concat!("Atomic ", stringify!($plain), " on `pe`'s `", stringify!($t), "` at `dest` (no fetch).")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_ $plain>](dest: Sym, value: $t, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            amo::[<atomic_ $plain>]::<$t>(dest.addr, value, pe.0).py()
        }
        #[doc = concat!("Atomic ", stringify!($fetch), " storing the old value (", stringify!($t), ") into the local \
                         `fetch`.")]
        #[pyfunction]
        fn [<aclshmem_ $name _atomic_ $fetch _nbi>](fetch: &Bound<'_, PyAny>, dest: Sym, value: $t, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            fetch_into(fetch, || amo::[<atomic_ $fetch>]::<$t>(dest.addr, value, pe.0).map(|v| v.to_ne_bytes()))
        }
    } };
}

macro_rules! amo_types {
    ($($name:ident: $t:ty => $u:ty, $w:ident, $class:ident;)*) => { paste::paste! {
        $( amo_common!($name, $t); amo_types!(@$class $name, $t); )*

        /// Registers the AMO matrix.
        pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_set>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_swap>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_nbi>], m)?)?;
                m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_swap_nbi>], m)?)?;
                amo_types!(@register $class m, $name);
            )*
            Ok(())
        }
    } };
    (@int $name:ident, $t:ty) => { amo_int!($name, $t); };
    (@float $name:ident, $t:ty) => {};
    (@register float $m:ident, $name:ident) => {};
    (@register int $m:ident, $name:ident) => { paste::paste! {
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_compare_swap>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_compare_swap_nbi>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_inc>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_inc>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_inc_nbi>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_add>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_add>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_add_nbi>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_and>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_and>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_and_nbi>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_or>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_or>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_or_nbi>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_xor>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_xor>], $m)?)?;
        $m.add_function(wrap_pyfunction!([<aclshmem_ $name _atomic_fetch_xor_nbi>], $m)?)?;
    } };
}

shmem_core::for_each_amo_type!(amo_types);
