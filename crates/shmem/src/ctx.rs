//! Communication contexts (OpenSHMEM 1.5 §9.4): independent streams of RMA and AMO operations, each its own
//! completion domain, so that `ctx_quiet` on one context does not wait for another context's traffic.
//!
//! A context is an engine completion domain ([`DomainId`]) opened on every engine of the router when the
//! context is created and closed when it is destroyed: the SDMA engine gives it a channel of its own, the TCP
//! engine flushes only the targets it wrote to (see the engines' docs); MTE completes everything on return
//! anyway. [`CTX_DEFAULT`] (0) is the default context: its operations are the plain API's.
//!
//! Handles are plain integers (for the raw API and Python): a new context gets a number never used before in
//! this process, so a destroyed context's handle stays invalid (INVALID_PARAM) forever. A context made from a
//! team ([`team_create_ctx`]) takes PE numbers relative to that team, as OpenSHMEM says.
//!
//! # Reserved contexts (`TeamConfig.num_contexts`)
//! A team created with `TeamConfig.num_contexts = k > 0` reserves `k` contexts when it is made: every member
//! takes `k` handles and opens their completion domains on every engine (the SDMA engine starts a channel
//! worker per domain) before the split's agreement, and a member that cannot fails the split on every member
//! (the code of its failure: INVALID_PARAM for a negative `k`, else INVALID_VALUE), with nothing left reserved.
//! `team_create_ctx` on that team then takes a reserved domain, so it cannot fail for lack of resources; the
//! `k + 1`-th live context is INVALID_VALUE. Destroying a context gives its domain back to the team (a later
//! context reuses it); destroying the team closes the domains no context holds, and a context that outlives
//! its team closes its own when it is destroyed. Teams with `num_contexts = 0` (and TEAM_WORLD) reserve nothing:
//! each context opens its domain when it is created.
//!
//! Options (bit set): [`CTX_SERIALIZED`] (the program serializes calls on it; accepted), [`CTX_PRIVATE`] (only
//! the creating thread may use it: another thread's call is INVALID_PARAM), [`CTX_NOSTORE`] (no store
//! operations: puts, put-with-signal and AMOs that modify memory are INVALID_PARAM; gets and `atomic_fetch`
//! work). Unknown bits are INVALID_PARAM.

use crate::current::with_current;
use crate::runtime::domains::next_domains;
use crate::runtime::Runtime;
use crate::sym::SymVec;
use crate::Shmem;
use bytemuck::Pod;
use shmem_core::engine::{AtomicOp, AtomicWidth, Completion, DataOpEngine, DomainId, Get, Put, SignalOp};
use shmem_core::{Error, Pe, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::ThreadId;

/// The default context's handle (`SHMEM_CTX_DEFAULT`).
pub const CTX_DEFAULT: i64 = 0;
/// The handle a failed creation leaves (`SHMEM_CTX_INVALID`).
pub const CTX_INVALID: i64 = -1;
/// Option: calls on the context are serialized by the program.
pub const CTX_SERIALIZED: i64 = 1 << 0;
/// Option: only the creating thread uses the context.
pub const CTX_PRIVATE: i64 = 1 << 1;
/// Option: the context performs no store operations (puts, modifying AMOs).
pub const CTX_NOSTORE: i64 = 1 << 2;
const ALL_OPTIONS: i64 = CTX_SERIALIZED | CTX_PRIVATE | CTX_NOSTORE;

/// One live (or destroyed, while a typed handle still holds it) context.
#[derive(Debug)]
struct CtxState {
    handle: i64,
    /// The runtime the context belongs to (identity only: a handle from before a finalize is invalid).
    rt: Weak<Runtime>,
    domain: DomainId,
    options: i64,
    /// The team it was made from (TEAM_WORLD for `ctx_create`).
    team: i32,
    /// World PE of each team PE, for a team context; `None` for TEAM_WORLD (PE numbers are world PEs).
    members: Option<Vec<u32>>,
    /// The creating thread, for a private context.
    owner: Option<ThreadId>,
    /// The team whose reservation the domain came from (it goes back there on destroy).
    reserved_from: Option<Weak<crate::runtime::teams::TeamInfo>>,
    /// Cleared (under the table lock) by destroy.
    live: AtomicBool,
}

/// Live contexts of this process by handle.
static TABLE: Mutex<Option<HashMap<i64, Arc<CtxState>>>> = Mutex::new(None);

fn table() -> std::sync::MutexGuard<'static, Option<HashMap<i64, Arc<CtxState>>>> {
    TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn same_rt(weak: &Weak<Runtime>, rt: &Runtime) -> bool {
    std::ptr::eq(weak.as_ptr(), rt)
}

impl CtxState {
    /// Checks that this context may be used now, by this thread, on `rt`.
    fn check(&self, rt: &Runtime) -> Result<()> {
        rt.check_live()?;
        if !self.live.load(Ordering::Acquire) {
            return Err(destroyed(self.handle));
        }
        if !same_rt(&self.rt, rt) {
            return Err(Error::invalid(format!(
                "context {} belongs to a runtime that was finalized; create contexts after init",
                self.handle
            )));
        }
        if let Some(owner) = self.owner {
            if owner != std::thread::current().id() {
                return Err(Error::invalid(format!(
                    "context {} was created with CTX_PRIVATE by another thread; only that thread may use it",
                    self.handle
                )));
            }
        }
        Ok(())
    }

    fn check_store(&self, what: &str) -> Result<()> {
        if self.options & CTX_NOSTORE != 0 {
            return Err(Error::invalid(format!(
                "context {} was created with CTX_NOSTORE: {what} is a store operation",
                self.handle
            )));
        }
        Ok(())
    }

    /// The world PE of `pe` (a team PE for a team context).
    fn pe(&self, rt: &Runtime, pe: i64) -> Result<Pe> {
        match &self.members {
            None => rt.check_pe(pe),
            Some(m) => usize::try_from(pe).ok().and_then(|i| m.get(i)).map(|&w| Pe(w)).ok_or_else(|| {
                Error::invalid(format!(
                    "PE {pe} is not in team {} of context {} (team PEs are 0..{})",
                    self.team,
                    self.handle,
                    m.len()
                ))
            }),
        }
    }

    /// # Safety
    /// `src..src+len` readable (and, for `nbi`, unmodified until this context's quiet).
    unsafe fn putmem(&self, rt: &Runtime, dst: usize, src: *const u8, len: usize, pe: i64, nbi: bool) -> Result<()> {
        self.check(rt)?;
        self.check_store("a put")?;
        let pe = self.pe(rt, pe)?;
        let off = rt.offset_of(dst, len, 1, pe)?;
        if len == 0 {
            return Ok(());
        }
        let op = Put { pe, dst: off, src, len, signal: None };
        // SAFETY: forwarded contract; the range is inside the peer's heap (checked).
        unsafe { rt.router.put_in(self.domain, op, Completion::of_nbi(nbi)) }
    }

    /// # Safety
    /// `dst..dst+len` writable (and, for `nbi`, untouched until this context's quiet).
    unsafe fn getmem(&self, rt: &Runtime, dst: *mut u8, src: usize, len: usize, pe: i64, nbi: bool) -> Result<()> {
        self.check(rt)?;
        let pe = self.pe(rt, pe)?;
        let off = rt.offset_of(src, len, 1, pe)?;
        if len == 0 {
            return Ok(());
        }
        let op = Get { pe, src: off, dst, len };
        // SAFETY: forwarded contract.
        unsafe { rt.router.get_in(self.domain, op, Completion::of_nbi(nbi)) }
    }

    /// # Safety
    /// As for [`CtxState::putmem`].
    #[allow(clippy::too_many_arguments)]
    unsafe fn putmem_signal(
        &self,
        rt: &Runtime,
        dst: usize,
        src: *const u8,
        len: usize,
        sig: usize,
        value: u64,
        op: SignalOp,
        pe: i64,
        nbi: bool,
    ) -> Result<()> {
        self.check(rt)?;
        self.check_store("a put-with-signal")?;
        let pe = self.pe(rt, pe)?;
        let put = rt.signal_put(dst, src, len, sig, value, op, pe)?;
        // SAFETY: forwarded contract.
        unsafe { rt.router.put_in(self.domain, put, Completion::of_nbi(nbi)) }
    }

    fn atomic(&self, rt: &Runtime, addr: usize, width: AtomicWidth, op: AtomicOp, pe: i64) -> Result<u64> {
        self.check(rt)?;
        if !matches!(op, AtomicOp::Fetch) {
            self.check_store("an atomic update")?;
        }
        let pe = self.pe(rt, pe)?;
        let w = width.bytes() as usize;
        let off = rt.offset_of(addr, w, w, pe)?;
        // Atomics complete before they return on every engine: no domain to record them in.
        rt.router.for_atomic(pe).atomic(pe, off, width, op)
    }

    fn quiet(&self, rt: &Runtime) -> Result<()> {
        self.check(rt)?;
        rt.router.quiet_in(self.domain)
    }

    fn fence(&self, rt: &Runtime) -> Result<()> {
        self.check(rt)?;
        rt.router.fence_in(self.domain)
    }
}

fn destroyed(handle: i64) -> Error {
    Error::invalid(format!(
        "context {handle} does not exist (destroyed, never created, or SHMEM_CTX_INVALID); create one with ctx_create"
    ))
}

/// Creates a context on `rt` from `team` with `options`.
fn create(rt: &Arc<Runtime>, team: i32, options: i64) -> Result<Arc<CtxState>> {
    rt.check_live()?;
    if options & !ALL_OPTIONS != 0 {
        return Err(Error::invalid(format!(
            "context options {options:#x} have unknown bits; use CTX_SERIALIZED (1), CTX_PRIVATE (2), CTX_NOSTORE (4)"
        )));
    }
    let info = rt.team(team)?;
    let members = (team != crate::team::TEAM_WORLD).then(|| info.members.as_slice().to_vec());
    let limit = info.config.num_contexts;
    // The handle is always new (a destroyed context's handle stays invalid); the domain is a reserved one when
    // the team has a reservation, else a new one with the handle's number.
    let id = next_domains(1)?.0;
    let domain = if limit > 0 {
        let taken = info.reserved.lock().unwrap_or_else(|e| e.into_inner()).as_mut().and_then(Vec::pop);
        taken.ok_or_else(|| {
            Error::InvalidValue(format!(
                "team {team} was created with num_contexts = {limit} and its {limit} reserved contexts are all \
                 live; destroy one or create the team with a larger TeamConfig.num_contexts"
            ))
        })?
    } else {
        rt.router.open_domain(DomainId(id))?;
        DomainId(id)
    };
    let mut guard = table();
    let map = guard.get_or_insert_with(HashMap::new);
    // Contexts of a finalized runtime can never be used again: forget them.
    map.retain(|_, c| c.rt.strong_count() > 0);
    let state = Arc::new(CtxState {
        handle: i64::from(id),
        rt: Arc::downgrade(rt),
        domain,
        options,
        team,
        members,
        owner: (options & CTX_PRIVATE != 0).then(|| std::thread::current().id()),
        reserved_from: (limit > 0).then(|| Arc::downgrade(&info)),
        live: AtomicBool::new(true),
    });
    map.insert(state.handle, state.clone());
    Ok(state)
}

/// Completes the context's operations, then closes it.
fn destroy(rt: &Runtime, state: &CtxState) -> Result<()> {
    state.check(rt)?;
    let quiet = rt.router.quiet_in(state.domain);
    {
        let mut guard = table();
        if !state.live.swap(false, Ordering::AcqRel) {
            return Err(destroyed(state.handle));
        }
        if let Some(map) = guard.as_mut() {
            map.remove(&state.handle);
        }
    }
    // A reserved domain goes back to its team while the team lives; otherwise it is closed.
    let pool = state.reserved_from.as_ref().and_then(Weak::upgrade);
    let back = pool.is_some_and(|team| match team.reserved.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        Some(free) => {
            free.push(state.domain);
            true
        }
        None => false,
    });
    if !back {
        rt.router.close_domain(state.domain);
    }
    quiet
}

/// The live context of `handle` on `rt` (never the default context).
fn lookup(rt: &Runtime, handle: i64) -> Result<Arc<CtxState>> {
    let guard = table();
    let state = guard.as_ref().and_then(|m| m.get(&handle)).cloned().ok_or_else(|| destroyed(handle))?;
    drop(guard);
    state.check(rt)?;
    Ok(state)
}

/// Runs `f` on the context `handle` of the current runtime; [`CTX_DEFAULT`] runs `default` instead.
fn on_ctx<R>(
    handle: i64,
    default: impl FnOnce(&Runtime) -> Result<R>,
    f: impl FnOnce(&Runtime, &CtxState) -> Result<R>,
) -> Result<R> {
    with_current(|rt| {
        if handle == CTX_DEFAULT {
            return default(rt);
        }
        let state = lookup(rt, handle)?;
        f(rt, &state)
    })
}

// ---------------------------------------------------------------------------------------------------------
// The raw API (integer handles, local addresses), as the Python binding and C-style callers use it.
// ---------------------------------------------------------------------------------------------------------

/// `shmem_ctx_create(options)`: a new context of TEAM_WORLD; returns its handle.
///
/// # Errors
/// INVALID_PARAM for unknown option bits; NOT_INITED before init.
pub fn ctx_create(options: i64) -> Result<i64> {
    let rt = crate::current::current()?;
    create(&rt, crate::team::TEAM_WORLD, options).map(|c| c.handle)
}

/// `shmem_team_create_ctx(team, options)`: a new context whose PE numbers are relative to `team`.
///
/// # Errors
/// INVALID_PARAM for an invalid team (or a PE outside it) or unknown option bits; INVALID_VALUE when the team's
/// `num_contexts` are all in use.
pub fn team_create_ctx(team: i32, options: i64) -> Result<i64> {
    let rt = crate::current::current()?;
    create(&rt, team, options).map(|c| c.handle)
}

/// `shmem_ctx_destroy(ctx)`: completes the context's operations and frees it.
///
/// # Errors
/// INVALID_PARAM for [`CTX_DEFAULT`] (it cannot be destroyed) or a handle that is not a live context.
pub fn ctx_destroy(ctx: i64) -> Result<()> {
    if ctx == CTX_DEFAULT {
        return Err(Error::invalid("SHMEM_CTX_DEFAULT cannot be destroyed"));
    }
    with_current(|rt| {
        let state = lookup(rt, ctx)?;
        destroy(rt, &state)
    })
}

/// `shmem_ctx_get_team(ctx)`: the team the context was made from (TEAM_WORLD for the default context).
pub fn ctx_get_team(ctx: i64) -> Result<i32> {
    on_ctx(ctx, |rt| rt.check_live().map(|_| crate::team::TEAM_WORLD), |_, c| Ok(c.team))
}

/// `shmem_ctx_putmem[_nbi]`: puts `len` bytes from local `src` to symmetric `dst` on `pe` through `ctx`.
///
/// # Safety
/// `src..src+len` must be readable (and, for `nbi`, unmodified until the context's quiet).
pub unsafe fn ctx_putmem(ctx: i64, dst: usize, src: *const u8, len: usize, pe: i64, nbi: bool) -> Result<()> {
    on_ctx(
        ctx,
        // SAFETY: forwarded contract.
        |rt| unsafe { rt.putmem(dst, src, len, pe, nbi) },
        // SAFETY: forwarded contract.
        |rt, c| unsafe { c.putmem(rt, dst, src, len, pe, nbi) },
    )
}

/// `shmem_ctx_getmem[_nbi]`: gets `len` bytes from symmetric `src` on `pe` into local `dst` through `ctx`.
///
/// # Safety
/// `dst..dst+len` must be writable (and, for `nbi`, untouched until the context's quiet).
pub unsafe fn ctx_getmem(ctx: i64, dst: *mut u8, src: usize, len: usize, pe: i64, nbi: bool) -> Result<()> {
    on_ctx(
        ctx,
        // SAFETY: forwarded contract.
        |rt| unsafe { rt.getmem(dst, src, len, pe, nbi) },
        // SAFETY: forwarded contract.
        |rt, c| unsafe { c.getmem(rt, dst, src, len, pe, nbi) },
    )
}

/// `shmem_ctx_putmem_signal[_nbi]`: data, then the 64-bit signal at `sig` on `pe` is set or added.
///
/// # Safety
/// As for [`ctx_putmem`].
#[allow(clippy::too_many_arguments)]
pub unsafe fn ctx_putmem_signal(
    ctx: i64,
    dst: usize,
    src: *const u8,
    len: usize,
    sig: usize,
    value: u64,
    op: SignalOp,
    pe: i64,
    nbi: bool,
) -> Result<()> {
    on_ctx(
        ctx,
        // SAFETY: forwarded contract.
        |rt| unsafe { rt.putmem_signal(dst, src, len, sig, value, op, pe, nbi) },
        // SAFETY: forwarded contract.
        |rt, c| unsafe { c.putmem_signal(rt, dst, src, len, sig, value, op, pe, nbi) },
    )
}

/// `shmem_ctx_atomic_*`: an atomic operation on the symmetric word at `addr` on `pe` through `ctx`; returns
/// the previous value.
pub fn ctx_atomic(ctx: i64, addr: usize, width: AtomicWidth, op: AtomicOp, pe: i64) -> Result<u64> {
    on_ctx(ctx, |rt| rt.atomic(addr, width, op, pe), |rt, c| c.atomic(rt, addr, width, op, pe))
}

/// The world PE that `pe` names through `ctx` (a team PE for a team context), after the checks an operation
/// on `ctx` makes: a live context usable by this thread and, for a `store` (a put, a put-with-signal, a
/// modifying AMO), one without [`CTX_NOSTORE`]. For callers that move the data themselves (the C layer's
/// global/static variables) and so never reach [`ctx_putmem`] and friends.
///
/// # Errors
/// INVALID_PARAM for a context that is not live (or [`CTX_PRIVATE`] to another thread), a store on a
/// [`CTX_NOSTORE`] context, or a PE outside the context's team (outside the job for [`CTX_DEFAULT`]);
/// NOT_INITED before init.
pub fn ctx_world_pe(ctx: i64, pe: i64, store: bool) -> Result<i64> {
    let what = "a store operation (put, put-with-signal or modifying atomic)";
    on_ctx(
        ctx,
        |rt| rt.check_live().and_then(|_| rt.check_pe(pe)).map(|p| i64::from(p.0)),
        |rt, c| {
            if store {
                c.check_store(what)?;
            }
            c.pe(rt, pe).map(|p| i64::from(p.0))
        },
    )
}

/// `shmem_ctx_quiet(ctx)`: completes the context's operations (only the default context's for
/// [`CTX_DEFAULT`], which this runtime completes together with every other, a stronger guarantee).
pub fn ctx_quiet(ctx: i64) -> Result<()> {
    on_ctx(ctx, |rt| rt.check_live().and_then(|_| rt.quiet()), |rt, c| c.quiet(rt))
}

/// `shmem_ctx_fence(ctx)`: orders the context's puts to each PE.
pub fn ctx_fence(ctx: i64) -> Result<()> {
    on_ctx(ctx, |rt| rt.fence(), |rt, c| c.fence(rt))
}

// ---------------------------------------------------------------------------------------------------------
// The typed API.
// ---------------------------------------------------------------------------------------------------------

/// Options of a new context (a bit set of [`CTX_SERIALIZED`], [`CTX_PRIVATE`], [`CTX_NOSTORE`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtxOptions(pub i64);

impl CtxOptions {
    /// No option: any thread may use the context, concurrently.
    pub const NONE: CtxOptions = CtxOptions(0);
    /// [`CTX_SERIALIZED`].
    pub const SERIALIZED: CtxOptions = CtxOptions(CTX_SERIALIZED);
    /// [`CTX_PRIVATE`].
    pub const PRIVATE: CtxOptions = CtxOptions(CTX_PRIVATE);
    /// [`CTX_NOSTORE`].
    pub const NOSTORE: CtxOptions = CtxOptions(CTX_NOSTORE);
}

impl std::ops::BitOr for CtxOptions {
    type Output = CtxOptions;
    fn bitor(self, o: CtxOptions) -> CtxOptions {
        CtxOptions(self.0 | o.0)
    }
}

/// A communication context: RMA and AMOs on [`SymVec`]s whose completion ([`Ctx::quiet`]) is independent of
/// other contexts'. Obtained from [`Shmem::ctx_create`] or [`Shmem::team_create_ctx`]; ends with
/// [`Ctx::destroy`] (dropping it without destroy keeps it open until finalize).
#[derive(Debug)]
pub struct Ctx {
    rt: Arc<Runtime>,
    state: Arc<CtxState>,
}

impl Shmem {
    /// A new context of TEAM_WORLD (see [`ctx_create`]).
    pub fn ctx_create(&self, options: CtxOptions) -> Result<Ctx> {
        Ok(Ctx { rt: self.rt.clone(), state: create(&self.rt, crate::team::TEAM_WORLD, options.0)? })
    }

    /// A new context whose PE numbers are relative to `team` (see [`team_create_ctx`]).
    pub fn team_create_ctx(&self, team: i32, options: CtxOptions) -> Result<Ctx> {
        Ok(Ctx { rt: self.rt.clone(), state: create(&self.rt, team, options.0)? })
    }
}

impl Ctx {
    /// The integer handle (usable with the raw `ctx_*` functions and from Python).
    pub fn handle(&self) -> i64 {
        self.state.handle
    }

    /// The team the context was made from.
    pub fn team(&self) -> i32 {
        self.state.team
    }

    /// Local address of elements `at..at+n` of `v`, checked against the array's length.
    fn addr<T: Pod>(v: &SymVec<T>, at: usize, n: usize) -> Result<usize> {
        match at.checked_add(n) {
            Some(end) if end <= v.len() => Ok(v.addr() + at * std::mem::size_of::<T>()),
            _ => Err(Error::invalid(format!(
                "elements {at}..{} are outside this symmetric array of {} elements",
                at.saturating_add(n),
                v.len()
            ))),
        }
    }

    /// Copies `src` to elements `at..` of `pe`'s copy of `v`; `src` may be reused on return, the data is
    /// complete at `pe` after this context's [`Ctx::quiet`].
    pub fn put<T: Pod>(&self, v: &SymVec<T>, pe: u32, at: usize, src: &[T]) -> Result<()> {
        let dst = Self::addr(v, at, src.len())?;
        // SAFETY: src is a live slice for the (blocking) call.
        unsafe { self.state.putmem(&self.rt, dst, src.as_ptr().cast(), std::mem::size_of_val(src), pe as i64, false) }
    }

    /// The `_nbi` form of [`Ctx::put`]: may return before the data moved.
    ///
    /// # Safety
    /// `src` must stay alive and unmodified until this context's next [`Ctx::quiet`] (or a global quiet or
    /// barrier) returns.
    pub unsafe fn put_nbi<T: Pod>(&self, v: &SymVec<T>, pe: u32, at: usize, src: &[T]) -> Result<()> {
        let dst = Self::addr(v, at, src.len())?;
        // SAFETY: the caller's contract.
        unsafe { self.state.putmem(&self.rt, dst, src.as_ptr().cast(), std::mem::size_of_val(src), pe as i64, true) }
    }

    /// Copies elements `at..at+dst.len()` of `pe`'s copy of `v` into `dst`.
    pub fn get<T: Pod>(&self, v: &SymVec<T>, pe: u32, at: usize, dst: &mut [T]) -> Result<()> {
        let src = Self::addr(v, at, dst.len())?;
        let len = std::mem::size_of_val(dst);
        // SAFETY: dst is an exclusive live slice for the (blocking) call.
        unsafe { self.state.getmem(&self.rt, dst.as_mut_ptr().cast(), src, len, pe as i64, false) }
    }

    /// The `_nbi` form of [`Ctx::get`].
    ///
    /// # Safety
    /// `dst` must stay alive and untouched until this context's next [`Ctx::quiet`] returns.
    pub unsafe fn get_nbi<T: Pod>(&self, v: &SymVec<T>, pe: u32, at: usize, dst: &mut [T]) -> Result<()> {
        let src = Self::addr(v, at, dst.len())?;
        let len = std::mem::size_of_val(dst);
        // SAFETY: the caller's contract.
        unsafe { self.state.getmem(&self.rt, dst.as_mut_ptr().cast(), src, len, pe as i64, true) }
    }

    /// Puts `src` at element `at` of `pe`, then updates `pe`'s `signal[sig_at]` with `op` (after the data).
    #[allow(clippy::too_many_arguments)]
    pub fn put_signal<T: Pod>(
        &self,
        v: &SymVec<T>,
        pe: u32,
        at: usize,
        src: &[T],
        signal: &SymVec<u64>,
        sig_at: usize,
        value: u64,
        op: SignalOp,
    ) -> Result<()> {
        let dst = Self::addr(v, at, src.len())?;
        let sig = Self::addr(signal, sig_at, 1)?;
        let len = std::mem::size_of_val(src);
        // SAFETY: src is a live slice for the (blocking) call.
        unsafe { self.state.putmem_signal(&self.rt, dst, src.as_ptr().cast(), len, sig, value, op, pe as i64, false) }
    }

    /// An atomic operation on element `at` of `pe`'s copy of `v` (a 4- or 8-byte integer array); returns the
    /// previous value.
    pub fn atomic<T: crate::amo::AmoValue + Pod>(&self, v: &SymVec<T>, pe: u32, at: usize, op: AtomicOp) -> Result<T> {
        let addr = Self::addr(v, at, 1)?;
        self.state.atomic(&self.rt, addr, T::WIDTH, op, pe as i64).map(T::from_bits)
    }

    /// Atomically adds `value`; returns the previous value.
    pub fn fetch_add<T: crate::amo::AmoInt + Pod>(&self, v: &SymVec<T>, pe: u32, at: usize, value: T) -> Result<T> {
        self.atomic(v, pe, at, AtomicOp::FetchAdd(value.to_bits()))
    }

    /// Atomically reads the element.
    pub fn fetch<T: crate::amo::AmoValue + Pod>(&self, v: &SymVec<T>, pe: u32, at: usize) -> Result<T> {
        self.atomic(v, pe, at, AtomicOp::Fetch)
    }

    /// Replaces the element with `value` if it equals `cond`; returns the previous value.
    pub fn compare_swap<T: crate::amo::AmoInt + Pod>(
        &self,
        v: &SymVec<T>,
        pe: u32,
        at: usize,
        cond: T,
        value: T,
    ) -> Result<T> {
        self.atomic(v, pe, at, AtomicOp::CompareSwap { cond: cond.to_bits(), value: value.to_bits() })
    }

    /// Completes this context's operations (not other contexts').
    pub fn quiet(&self) -> Result<()> {
        self.state.quiet(&self.rt)
    }

    /// Orders this context's puts to each PE.
    pub fn fence(&self) -> Result<()> {
        self.state.fence(&self.rt)
    }

    /// Completes the context's operations and frees it.
    pub fn destroy(self) -> Result<()> {
        destroy(&self.rt, &self.state)
    }
}
