//! The point-to-point synchronization API: the wait/test families over symmetric variables of this PE, and
//! signal waits. Every TYPE of `api.md` is served by one generic over [`WaitValue`].

use crate::current::with_current;
use crate::runtime::Runtime;
use shmem_core::{Error, HeapOffset, Result};
use shmem_sync::family;
use shmem_sync::wait::{load_local, wait_until as wait_loop};
use shmem_sync::{CmpOp, IntoCmpOp, WaitValue};
use std::time::Duration;

pub use shmem_sync::WaitClock;

/// How long one limited wait may run (`timeout`), and the watchdog clock of the longer wait it is a slice of.
///
/// A `Duration` converts into a limit of its own (the watchdog measures this call only). A caller that waits
/// in slices (to stay responsive, as the Python binding does for Ctrl-C) passes [`WaitLimit::slice`] with one
/// [`WaitClock`] for the whole wait, so that the stuck-wait watchdog (`SHMEM_WAIT_WARN_SECS`) measures the
/// whole wait and warns once.
#[derive(Debug, Clone, Copy)]
pub struct WaitLimit<'c> {
    pub(crate) timeout: Duration,
    pub(crate) clock: Option<&'c WaitClock>,
}

impl<'c> WaitLimit<'c> {
    /// A slice of at most `timeout` of the wait whose watchdog clock is `clock`.
    pub fn slice(timeout: Duration, clock: &'c WaitClock) -> Self {
        Self { timeout, clock: Some(clock) }
    }
}

impl From<Duration> for WaitLimit<'_> {
    fn from(timeout: Duration) -> Self {
        Self { timeout, clock: None }
    }
}

/// A checked array of `nelems` symmetric variables of `T` on this PE.
struct Ivars<'a> {
    rt: &'a Runtime,
    off: HeapOffset,
    n: usize,
}

impl Ivars<'_> {
    fn load<T: WaitValue>(&self, i: usize) -> T {
        load_local(&self.rt.node, self.off.plus((i * T::WIDTH) as u64))
    }

    fn watch<T: WaitValue>(&self) -> Option<(HeapOffset, u64)> {
        Some((self.off, (self.n * T::WIDTH) as u64))
    }
}

fn ivars<'a, T: WaitValue>(rt: &'a Runtime, addr: usize, n: usize, status: Option<&[i32]>) -> Result<Ivars<'a>> {
    rt.check_live()?;
    if n == 0 {
        // The empty set (OpenSHMEM 1.5): `_all` holds at once, `_any` finds nothing, `_some` finds none. No
        // element is read, so the address is not checked.
        return Ok(Ivars { rt, off: HeapOffset(0), n });
    }
    let len = n.checked_mul(T::WIDTH).ok_or_else(|| Error::invalid(format!("nelems {n} overflows")))?;
    let off = rt.offset_of(addr, len, T::WIDTH, rt.me)?;
    if let Some(s) = status {
        if s.len() < n {
            return Err(Error::invalid(format!("status has {} entries but nelems is {n}", s.len())));
        }
    }
    Ok(Ivars { rt, off, n })
}

fn values_len<T>(values: &[T], n: usize) -> Result<()> {
    if values.len() < n {
        return Err(Error::invalid(format!("cmp_values has {} entries but nelems is {n}", values.len())));
    }
    Ok(())
}

/// Waits until the variable at `ivar` compares true against `value`; returns the value that satisfied it.
pub fn wait_until<T: WaitValue>(ivar: usize, cmp: impl IntoCmpOp, value: T) -> Result<T> {
    wait_until_limited(ivar, cmp, value, None).map(|v| v.expect("an unlimited wait returns a value"))
}

/// [`wait_until`] with a time limit: `Ok(None)` when `timeout` passed first. For callers that must stay
/// responsive while waiting (the Python binding waits in slices and checks for Ctrl-C between them).
pub fn wait_until_timeout<'c, T: WaitValue>(
    ivar: usize,
    cmp: impl IntoCmpOp,
    value: T,
    timeout: impl Into<WaitLimit<'c>>,
) -> Result<Option<T>> {
    wait_until_limited(ivar, cmp, value, Some(timeout.into()))
}

fn wait_until_limited<T: WaitValue>(
    ivar: usize,
    cmp: impl IntoCmpOp,
    value: T,
    limit: Option<WaitLimit<'_>>,
) -> Result<Option<T>> {
    let cmp = cmp.into_cmp_op()?;
    with_current(|rt| {
        let v = ivars::<T>(rt, ivar, 1, None)?;
        limited(wait_loop(
            &rt.wait_ctx_limited(limit.map(|l| l.timeout), limit.and_then(|l| l.clock)),
            v.watch::<T>(),
            || {
                let x: T = v.load(0);
                cmp.holds(x, value).then_some(x)
            },
            || format!("variable {ivar:#x} {cmp:?} {value:?}"),
        ))
    })
}

/// Waits until the variable at `ivar` differs from `value` (the deprecated `shmem_wait`).
pub fn wait<T: WaitValue>(ivar: usize, value: T) -> Result<T> {
    wait_until(ivar, CmpOp::Ne, value)
}

/// Which elements an array wait or test selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Select {
    All,
    Any,
    Some,
}

/// What a satisfied selection yields: nothing (`All`), one index (`Any`), or every satisfying index (`Some`).
enum Selected {
    All,
    Any(Option<usize>),
    Some(Vec<usize>),
}

/// Whether a selection is tested once or waited for (with an optional time limit).
#[derive(Debug, Clone, Copy)]
enum Mode<'c> {
    Test,
    Wait(Option<WaitLimit<'c>>),
}

/// Waiting without a limit.
const WAIT: Mode<'static> = Mode::Wait(None);

/// A limited wait that ran out is `Ok(None)`, not an error.
fn limited<R>(r: Result<R>) -> Result<Option<R>> {
    match r {
        Ok(x) => Ok(Some(x)),
        Err(Error::Timeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Evaluates `sel` over the active elements once; `None` when it is not satisfied yet. A selection with no
/// active element is satisfied at once (`All` vacuously, `Any`/`Some` with nothing).
fn probe<T: WaitValue>(
    v: &Ivars<'_>,
    status: Option<&[i32]>,
    sel: Select,
    holds: impl Fn(usize, T) -> bool,
) -> Option<Selected> {
    let n = v.n;
    let h = |i: usize| holds(i, v.load::<T>(i));
    match sel {
        Select::All => family::test_all(n, status, h).then_some(Selected::All),
        _ if !family::any_active(n, status) => {
            Some(if sel == Select::Any { Selected::Any(None) } else { Selected::Some(Vec::new()) })
        }
        Select::Any => family::test_any(n, status, h).map(|i| Selected::Any(Some(i))),
        Select::Some => {
            let hits = family::test_some(n, status, h);
            (!hits.is_empty()).then_some(Selected::Some(hits))
        }
    }
}

/// Tests (`wait == false`: evaluates once, `None` when not satisfied) or waits (until satisfied) for the
/// selection `sel` over `n` variables at `addr`, element `i` compared with `val(i)`.
fn select<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    val: impl Fn(usize) -> T,
    sel: Select,
    mode: Mode<'_>,
) -> Result<Option<Selected>> {
    let cmp = cmp.into_cmp_op()?;
    with_current(|rt| {
        let v = ivars::<T>(rt, addr, n, status)?;
        let once = || probe(&v, status, sel, |i, x: T| cmp.holds(x, val(i)));
        let limit = match mode {
            Mode::Test => return Ok(once()),
            Mode::Wait(limit) => limit,
        };
        let what = || format!("{sel:?} of {n} variables at {addr:#x} {cmp:?}");
        limited(wait_loop(
            &rt.wait_ctx_limited(limit.map(|l| l.timeout), limit.and_then(|l| l.clock)),
            v.watch::<T>(),
            once,
            what,
        ))
    })
}

fn all(s: Option<Selected>) -> bool {
    matches!(s, Some(Selected::All))
}

fn any(s: Option<Selected>) -> Option<usize> {
    match s {
        Some(Selected::Any(i)) => i,
        _ => None,
    }
}

fn some(s: Option<Selected>) -> Vec<usize> {
    match s {
        Some(Selected::Some(v)) => v,
        _ => Vec::new(),
    }
}

/// Waits until every active variable of the array compares true against `value`.
pub fn wait_until_all<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    value: T,
) -> Result<()> {
    select(addr, n, status, cmp, |_| value, Select::All, WAIT).map(|_| ())
}

/// Waits until some active variable compares true against `value`; returns its index, or `None` when every
/// variable is masked out (SIZE_MAX in C).
pub fn wait_until_any<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    value: T,
) -> Result<Option<usize>> {
    select(addr, n, status, cmp, |_| value, Select::Any, WAIT).map(any)
}

/// Waits until at least one active variable compares true against `value`; returns every satisfying index
/// (empty when every variable is masked out).
pub fn wait_until_some<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    value: T,
) -> Result<Vec<usize>> {
    select(addr, n, status, cmp, |_| value, Select::Some, WAIT).map(some)
}

/// `wait_until_all` with a comparison value per element (`values` has at least `n` entries).
pub fn wait_until_all_vector<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
) -> Result<()> {
    values_len(values, n)?;
    select(addr, n, status, cmp, |i| values[i], Select::All, WAIT).map(|_| ())
}

/// `wait_until_any` with a comparison value per element.
pub fn wait_until_any_vector<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
) -> Result<Option<usize>> {
    values_len(values, n)?;
    select(addr, n, status, cmp, |i| values[i], Select::Any, WAIT).map(any)
}

/// `wait_until_some` with a comparison value per element.
pub fn wait_until_some_vector<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
) -> Result<Vec<usize>> {
    values_len(values, n)?;
    select(addr, n, status, cmp, |i| values[i], Select::Some, WAIT).map(some)
}

/// Comparison values of a limited array wait: `values[0]` for every element when it has one entry, else one
/// per element (at least `n`).
fn per_element<T: WaitValue>(values: &[T], n: usize) -> Result<impl Fn(usize) -> T + '_> {
    if values.len() != 1 {
        values_len(values, n)?;
    }
    Ok(move |i: usize| if values.len() == 1 { values[0] } else { values[i] })
}

/// `wait_until_all(_vector)` with a time limit: `Ok(false)` when `timeout` passed first. `values` holds one
/// value for every element, or one per element.
pub fn wait_until_all_timeout<'c, T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
    timeout: impl Into<WaitLimit<'c>>,
) -> Result<bool> {
    let val = per_element(values, n)?;
    select(addr, n, status, cmp, val, Select::All, Mode::Wait(Some(timeout.into()))).map(|s| s.is_some())
}

/// `wait_until_any(_vector)` with a time limit: `Ok(None)` when `timeout` passed first, else what
/// `wait_until_any` returns.
pub fn wait_until_any_timeout<'c, T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
    timeout: impl Into<WaitLimit<'c>>,
) -> Result<Option<Option<usize>>> {
    let val = per_element(values, n)?;
    select(addr, n, status, cmp, val, Select::Any, Mode::Wait(Some(timeout.into()))).map(|s| s.map(|s| any(Some(s))))
}

/// `wait_until_some(_vector)` with a time limit: `Ok(None)` when `timeout` passed first, else what
/// `wait_until_some` returns.
pub fn wait_until_some_timeout<'c, T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
    timeout: impl Into<WaitLimit<'c>>,
) -> Result<Option<Vec<usize>>> {
    let val = per_element(values, n)?;
    select(addr, n, status, cmp, val, Select::Some, Mode::Wait(Some(timeout.into()))).map(|s| s.map(|s| some(Some(s))))
}

/// Whether the variable at `ivar` compares true against `value` now.
pub fn test<T: WaitValue>(ivar: usize, cmp: impl IntoCmpOp, value: T) -> Result<bool> {
    let cmp = cmp.into_cmp_op()?;
    with_current(|rt| {
        let v = ivars::<T>(rt, ivar, 1, None)?;
        Ok(cmp.holds(v.load::<T>(0), value))
    })
}

/// Whether every active variable compares true against `value` now (vacuously true when none is active).
pub fn test_all<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    value: T,
) -> Result<bool> {
    select(addr, n, status, cmp, |_| value, Select::All, Mode::Test).map(all)
}

/// The lowest active index whose variable compares true against `value` now, or `None` (SIZE_MAX in C).
pub fn test_any<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    value: T,
) -> Result<Option<usize>> {
    select(addr, n, status, cmp, |_| value, Select::Any, Mode::Test).map(any)
}

/// Every active index whose variable compares true against `value` now.
pub fn test_some<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    value: T,
) -> Result<Vec<usize>> {
    select(addr, n, status, cmp, |_| value, Select::Some, Mode::Test).map(some)
}

/// `test_all` with a comparison value per element.
pub fn test_all_vector<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
) -> Result<bool> {
    values_len(values, n)?;
    select(addr, n, status, cmp, |i| values[i], Select::All, Mode::Test).map(all)
}

/// `test_any` with a comparison value per element.
pub fn test_any_vector<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
) -> Result<Option<usize>> {
    values_len(values, n)?;
    select(addr, n, status, cmp, |i| values[i], Select::Any, Mode::Test).map(any)
}

/// `test_some` with a comparison value per element.
pub fn test_some_vector<T: WaitValue>(
    addr: usize,
    n: usize,
    status: Option<&[i32]>,
    cmp: impl IntoCmpOp,
    values: &[T],
) -> Result<Vec<usize>> {
    values_len(values, n)?;
    select(addr, n, status, cmp, |i| values[i], Select::Some, Mode::Test).map(some)
}

/// Waits until the 64-bit signal at `sig_addr` compares true against `value`; returns the satisfying value.
pub fn signal_wait_until(sig_addr: usize, cmp: impl IntoCmpOp, value: u64) -> Result<u64> {
    wait_until::<u64>(sig_addr, cmp, value)
}

/// [`signal_wait_until`] with a time limit: `Ok(None)` when `timeout` passed first.
pub fn signal_wait_until_timeout<'c>(
    sig_addr: usize,
    cmp: impl IntoCmpOp,
    value: u64,
    timeout: impl Into<WaitLimit<'c>>,
) -> Result<Option<u64>> {
    wait_until_timeout::<u64>(sig_addr, cmp, value, timeout)
}

/// Reads the 64-bit signal at `sig_addr` atomically.
pub fn signal_fetch(sig_addr: usize) -> Result<u64> {
    with_current(|rt| Ok(ivars::<u64>(rt, sig_addr, 1, None)?.load(0)))
}
