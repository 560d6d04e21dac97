//! Context handles and the completion domains behind them: the one process-wide handle counter, and the
//! reservation of a team's `num_contexts` domains at team creation. It sits in `runtime` because team creation
//! (`runtime::teams`) reserves and releases domains, and `crate::ctx` (above the runtime) hands them out.

use super::Runtime;
use shmem_core::engine::{DataOpEngine, DomainId};
use shmem_core::{Error, Result};
use std::sync::atomic::{AtomicU32, Ordering};

/// The next handle (and domain id); never reused, so stale handles stay invalid.
static NEXT: AtomicU32 = AtomicU32::new(1);

/// Takes `k` consecutive context handles (domain ids), or fails without taking any when fewer are left.
pub(crate) fn next_domains(k: u32) -> Result<DomainId> {
    let mut first = NEXT.load(Ordering::Relaxed);
    loop {
        if first == 0 || u64::from(first) + u64::from(k) > i32::MAX as u64 + 1 {
            return Err(Error::InvalidValue(format!(
                "this process cannot take {k} more context handles: {} of 2^31 are used",
                first.saturating_sub(1)
            )));
        }
        match NEXT.compare_exchange_weak(first, first + k, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(DomainId(first)),
            Err(now) => first = now,
        }
    }
}

/// Reserves `k` contexts for a new team on `rt`: takes `k` handles and opens their domains on every engine.
/// On a failure nothing stays open (the handles taken are not reused).
pub(crate) fn reserve_domains(rt: &Runtime, k: usize) -> Result<Vec<DomainId>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let count = u32::try_from(k)
        .map_err(|_| Error::InvalidValue(format!("num_contexts {k} exceeds the 2^31 context handles")))?;
    let first = next_domains(count)?;
    let mut opened = Vec::with_capacity(k);
    for d in (first.0..first.0 + count).map(DomainId) {
        if let Err(e) = rt.router.open_domain(d) {
            release_domains(rt, opened);
            return Err(Error::InvalidValue(format!(
                "could not reserve context {} of {k} for the new team: {e}",
                d.0 - first.0 + 1
            )));
        }
        opened.push(d);
    }
    Ok(opened)
}

/// Closes reserved domains that no context holds (a team that was not made, or was destroyed).
pub(crate) fn release_domains(rt: &Runtime, domains: Vec<DomainId>) {
    for d in domains {
        rt.router.close_domain(d);
    }
}
