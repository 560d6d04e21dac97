//! Contexts and distributed locks: `aclshmem_ctx_*` (create/destroy, ctx-scoped putmem/getmem with `_nbi` and
//! signal forms, AMOs for int32/uint32/int64/uint64, fence, quiet) and `aclshmem_{set,test,clear}_lock`.
//!
//! A context is an int handle (`ACLSHMEM_CTX_DEFAULT` = 0 is the default context). Buffers lent to a context's
//! `_nbi` calls stay exported until that context's quiet or destroy. Data calls keep the GIL (so the heap
//! cannot be finalized under a copy); quiet, destroy, `set_lock` and `clear_lock` release it while they wait.

use crate::blocking::detached;
use crate::buffer::{hold_for_nbi, with_local, Access, Count, I32Arg, PeArg, Sym};
use crate::error::ResultExt;
use pyo3::buffer::PyUntypedBuffer;
use pyo3::prelude::*;
use shmem::ctx;
use shmem::{AtomicOp, AtomicWidth};
use std::collections::HashMap;
use std::sync::Mutex;

/// Buffers lent to `_nbi` calls of each context, released by that context's quiet or destroy.
static LENT: Mutex<Option<HashMap<i64, Vec<PyUntypedBuffer>>>> = Mutex::new(None);

fn lend(ctx: i64, held: Option<PyUntypedBuffer>) {
    if let Some(b) = held {
        if ctx == ctx::CTX_DEFAULT {
            crate::buffer::lend_until_quiet(Some(b));
        } else {
            LENT.lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(HashMap::new)
                .entry(ctx)
                .or_default()
                .push(b);
        }
    }
}

fn release(_py: Python<'_>, ctx: i64) {
    let lent = LENT.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(|m| m.remove(&ctx));
    drop(lent);
}

/// Releases the buffers lent to every context (finalize: every operation ended with the runtime). Call with
/// the GIL held.
pub(crate) fn release_all(_py: Python<'_>) {
    let lent = LENT.lock().unwrap_or_else(|e| e.into_inner()).take();
    drop(lent);
}

/// Creates a context of TEAM_WORLD with `options` (a bit set of ACLSHMEM_CTX_SERIALIZED, _PRIVATE, _NOSTORE);
/// returns its handle. Its operations complete at its own `aclshmem_ctx_quiet`, independently of other contexts.
#[pyfunction]
#[pyo3(signature = (options = 0))]
fn aclshmem_ctx_create(options: i64) -> PyResult<i64> {
    ctx::ctx_create(options).py()
}

/// Creates a context whose PE numbers are relative to `team`; at most the team's `num_contexts` live at once
/// when it was created with one.
#[pyfunction]
#[pyo3(signature = (team, options = 0))]
fn aclshmem_team_create_ctx(team: I32Arg, options: i64) -> PyResult<i64> {
    ctx::team_create_ctx(team.0, options).py()
}

/// Completes the context's operations and destroys it (the default context cannot be destroyed).
#[pyfunction]
fn aclshmem_ctx_destroy(py: Python<'_>, ctx: i64) -> PyResult<()> {
    let r = py.detach(|| ctx::ctx_destroy(ctx));
    // After finalize (NOT_INITED) the context's operations ended with the runtime: its buffers go too.
    if r.as_ref().map_or_else(|e| e.code() == crate::error::NOT_INITED, |_| true) {
        release(py, ctx);
    }
    r.py()
}

/// The team a context was created from.
#[pyfunction]
fn aclshmem_ctx_get_team(ctx: i64) -> PyResult<i32> {
    ctx::ctx_get_team(ctx).py()
}

/// Completes every operation issued through `ctx` (not other contexts').
#[pyfunction]
fn aclshmem_ctx_quiet(py: Python<'_>, ctx: i64) -> PyResult<()> {
    let mark = crate::state::lent_mark();
    detached(py, || ctx::ctx_quiet(ctx))?;
    release(py, ctx);
    if ctx == ctx::CTX_DEFAULT {
        crate::state::release_lent(py, mark);
    }
    Ok(())
}

/// Orders the puts issued through `ctx` to each PE.
#[pyfunction]
fn aclshmem_ctx_fence(py: Python<'_>, ctx: i64) -> PyResult<()> {
    detached(py, || ctx::ctx_fence(ctx))
}

#[allow(clippy::too_many_arguments)]
fn put(
    ctx: i64,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    n: usize,
    signal: Option<(Sym, u64, i32)>,
    pe: i64,
    nbi: bool,
) -> PyResult<()> {
    dst.need(n, "dst")?;
    let signal = match signal {
        Some((sig, value, op)) => {
            sig.need(8, "sig")?;
            Some((sig.addr, value, shmem::SignalOp::from_code(op).py()?))
        }
        None => None,
    };
    with_local(src, Access::Read, "src", |span| {
        span.need(n, "src")?;
        let held = if nbi { hold_for_nbi(src)? } else { None };
        let p = span.ptr;
        let dst = dst.addr;
        // SAFETY: span is readable for n bytes during this closure (with_local holds the export, or the range
        // is in the heap); an nbi source stays exported until the context's quiet (lend below).
        let r = unsafe {
            match signal {
                None => ctx::ctx_putmem(ctx, dst, p as *const u8, n, pe, nbi),
                Some((sig, value, op)) => ctx::ctx_putmem_signal(ctx, dst, p as *const u8, n, sig, value, op, pe, nbi),
            }
        };
        r.py()?;
        lend(ctx, held);
        Ok(())
    })
}

fn get(ctx: i64, dst: &Bound<'_, PyAny>, src: Sym, n: usize, pe: i64, nbi: bool) -> PyResult<()> {
    src.need(n, "src")?;
    with_local(dst, Access::Write, "dst", |span| {
        span.need(n, "dst")?;
        let held = if nbi { hold_for_nbi(dst)? } else { None };
        let p = span.ptr;
        let src = src.addr;
        // SAFETY: span is writable for n bytes during this closure (read-only exports were refused); an nbi
        // destination stays exported until the context's quiet.
        unsafe { ctx::ctx_getmem(ctx, p as *mut u8, src, n, pe, nbi) }.py()?;
        lend(ctx, held);
        Ok(())
    })
}

/// Puts `elem_size` bytes from local `src` to the symmetric `dst` on `pe` through `ctx`.
#[pyfunction]
fn aclshmem_ctx_putmem(ctx: i64, dst: Sym, src: &Bound<'_, PyAny>, elem_size: Count, pe: PeArg) -> PyResult<()> {
    put(ctx, dst, src, elem_size.0, None, pe.0, false)
}

/// Non-blocking put through `ctx`: complete after `aclshmem_ctx_quiet(ctx)`.
#[pyfunction]
fn aclshmem_ctx_putmem_nbi(ctx: i64, dst: Sym, src: &Bound<'_, PyAny>, elem_size: Count, pe: PeArg) -> PyResult<()> {
    put(ctx, dst, src, elem_size.0, None, pe.0, true)
}

/// Gets `elem_size` bytes from the symmetric `src` on `pe` into local `dst` through `ctx`.
#[pyfunction]
fn aclshmem_ctx_getmem(ctx: i64, dst: &Bound<'_, PyAny>, src: Sym, elem_size: Count, pe: PeArg) -> PyResult<()> {
    get(ctx, dst, src, elem_size.0, pe.0, false)
}

/// Non-blocking get through `ctx`: `dst` holds the data after `aclshmem_ctx_quiet(ctx)`.
#[pyfunction]
fn aclshmem_ctx_getmem_nbi(ctx: i64, dst: &Bound<'_, PyAny>, src: Sym, elem_size: Count, pe: PeArg) -> PyResult<()> {
    get(ctx, dst, src, elem_size.0, pe.0, true)
}

/// Put-with-signal through `ctx`: the data, then the 64-bit word `sig` on `pe` set/added (`sig_op`).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn aclshmemx_ctx_putmem_signal(
    ctx: i64,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    sig: Sym,
    signal: u64,
    sig_op: I32Arg,
    pe: PeArg,
) -> PyResult<()> {
    put(ctx, dst, src, elem_size.0, Some((sig, signal, sig_op.0)), pe.0, false)
}

/// Non-blocking put-with-signal through `ctx`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn aclshmemx_ctx_putmem_signal_nbi(
    ctx: i64,
    dst: Sym,
    src: &Bound<'_, PyAny>,
    elem_size: Count,
    sig: Sym,
    signal: u64,
    sig_op: I32Arg,
    pe: PeArg,
) -> PyResult<()> {
    put(ctx, dst, src, elem_size.0, Some((sig, signal, sig_op.0)), pe.0, true)
}

macro_rules! ctx_amo {
    ($($name:ident: $t:ty => $u:ty, $w:ident, $class:ident;)*) => {
        $( ctx_amo!(@$class $name, $t, $u, AtomicWidth::$w); )*
        fn register_amo(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $( ctx_amo!(@register $class m, $name); )*
            Ok(())
        }
    };
    // The extended (float) AMO types have no ctx forms here: the `as` casts below would convert, not reinterpret.
    (@float $name:ident, $t:ty, $u:ty, $w:expr) => {};
    (@register float $m:ident, $name:ident) => {};
    (@int $name:ident, $t:ty, $u:ty, $w:expr) => { paste::paste! {
        #[doc = concat!("Atomically reads `pe`'s `", stringify!($t), "` at `source` through `ctx`.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_fetch>](ctx: i64, source: Sym, pe: PeArg) -> PyResult<$t> {
            source.need(std::mem::size_of::<$t>(), "source")?;
            ctx::ctx_atomic(ctx, source.addr, $w, AtomicOp::Fetch, pe.0).map(|v| v as $u as $t).py()
        }
        #[doc = concat!("Atomically writes `value` (", stringify!($t), ") to `pe`'s `dest` through `ctx`.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_set>](ctx: i64, dest: Sym, value: $t, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::Swap(value as $u as u64), pe.0).map(|_| ()).py()
        }
        #[doc = concat!("Atomically replaces `pe`'s `", stringify!($t), "` at `dest`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_swap>](ctx: i64, dest: Sym, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::Swap(value as $u as u64), pe.0).map(|v| v as $u as $t).py()
        }
        #[doc = concat!("Replaces `pe`'s `", stringify!($t), "` at `dest` with `value` if it equals `cond`; returns \
                         the old value.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_compare_swap>](ctx: i64, dest: Sym, cond: $t, value: $t, pe: PeArg)
            -> PyResult<$t> {
            let op = AtomicOp::CompareSwap { cond: cond as $u as u64, value: value as $u as u64 };
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, op, pe.0).map(|v| v as $u as $t).py()
        }
        #[doc = concat!("Adds `value` to `pe`'s `", stringify!($t), "` at `dest`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_fetch_add>](ctx: i64, dest: Sym, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::FetchAdd(value as $u as u64), pe.0).map(|v| v as $u as $t).py()
        }
        #[doc = concat!("Adds `value` to `pe`'s `", stringify!($t), "` at `dest`.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_add>](ctx: i64, dest: Sym, value: $t, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::FetchAdd(value as $u as u64), pe.0).map(|_| ()).py()
        }
        #[doc = concat!("Adds one to `pe`'s `", stringify!($t), "` at `dest`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_fetch_inc>](ctx: i64, dest: Sym, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::FetchAdd(1), pe.0).map(|v| v as $u as $t).py()
        }
        #[doc = concat!("Adds one to `pe`'s `", stringify!($t), "` at `dest`.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_inc>](ctx: i64, dest: Sym, pe: PeArg) -> PyResult<()> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::FetchAdd(1), pe.0).map(|_| ()).py()
        }
        #[doc = concat!("Bitwise and into `pe`'s `", stringify!($t), "` at `dest`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_fetch_and>](ctx: i64, dest: Sym, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::FetchAnd(value as $u as u64), pe.0).map(|v| v as $u as $t).py()
        }
        #[doc = concat!("Bitwise or into `pe`'s `", stringify!($t), "` at `dest`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_fetch_or>](ctx: i64, dest: Sym, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::FetchOr(value as $u as u64), pe.0).map(|v| v as $u as $t).py()
        }
        #[doc = concat!("Bitwise xor into `pe`'s `", stringify!($t), "` at `dest`; returns the old value.")]
        #[pyfunction]
        fn [<aclshmem_ctx_ $name _atomic_fetch_xor>](ctx: i64, dest: Sym, value: $t, pe: PeArg) -> PyResult<$t> {
            dest.need(std::mem::size_of::<$t>(), "dest")?;
            ctx::ctx_atomic(ctx, dest.addr, $w, AtomicOp::FetchXor(value as $u as u64), pe.0).map(|v| v as $u as $t).py()
        }
    } };
    (@register int $m:ident, $name:ident) => { paste::paste! {
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_fetch>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_set>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_swap>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_compare_swap>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_fetch_add>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_add>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_fetch_inc>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_inc>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_fetch_and>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_fetch_or>], $m)?)?;
            $m.add_function(wrap_pyfunction!([<aclshmem_ctx_ $name _atomic_fetch_xor>], $m)?)?;
    } };
}

shmem_core::for_each_amo_type!(ctx_amo);

/// Acquires the lock at the symmetric `lock` (a zero-initialized 8-byte word), waiting in FIFO order with the
/// GIL released. Ctrl-C interrupts the wait (KeyboardInterrupt): this PE then does not hold the lock, and the
/// queue stays consistent for the other PEs (the lock skips this PE's place when it gets there).
#[pyfunction]
fn aclshmem_set_lock(py: Python<'_>, lock: Sym) -> PyResult<()> {
    lock.need(8, "lock")?;
    let mut acq = detached(py, || shmem::lock::LockAcquire::start(lock.addr))?;
    let clock = shmem::waits::WaitClock::new();
    loop {
        let limit = shmem::waits::WaitLimit::slice(crate::blocking::SLICE, &clock);
        if detached(py, || acq.wait(limit))? {
            return Ok(());
        }
        if let Err(interrupt) = py.check_signals() {
            detached(py, move || acq.abandon())?;
            return Err(interrupt);
        }
    }
}

/// Takes the lock at `lock` if it is free and returns at once: 0 when this PE now holds it, 1 otherwise.
#[pyfunction]
fn aclshmem_test_lock(lock: Sym) -> PyResult<i32> {
    lock.need(8, "lock")?;
    shmem::lock::test_lock(lock.addr).py()
}

/// Releases the lock at `lock`, which this PE holds, after completing its operations.
#[pyfunction]
fn aclshmem_clear_lock(py: Python<'_>, lock: Sym) -> PyResult<()> {
    lock.need(8, "lock")?;
    detached(py, || shmem::lock::clear_lock(lock.addr))
}

/// Registers this module's functions and constants.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ACLSHMEM_CTX_DEFAULT", ctx::CTX_DEFAULT)?;
    m.add("ACLSHMEM_CTX_INVALID", ctx::CTX_INVALID)?;
    m.add("ACLSHMEM_CTX_SERIALIZED", ctx::CTX_SERIALIZED)?;
    m.add("ACLSHMEM_CTX_PRIVATE", ctx::CTX_PRIVATE)?;
    m.add("ACLSHMEM_CTX_NOSTORE", ctx::CTX_NOSTORE)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_create, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_team_create_ctx, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_destroy, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_get_team, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_quiet, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_fence, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_putmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_putmem_nbi, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_getmem, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_ctx_getmem_nbi, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_ctx_putmem_signal, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_ctx_putmem_signal_nbi, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_set_lock, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_test_lock, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_clear_lock, m)?)?;
    register_amo(m)
}
