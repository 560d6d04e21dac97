//! The timing method shared by every measurement (ours and the in-process references), the same as the
//! C reference programs in `benches/reference/`:
//!
//! 1. **Calibration**: the iteration count grows (x2 to x16 a step) until one batch takes the target time;
//!    these runs double as warm-up.
//! 2. **Warm-up**: one more batch at the final count, not recorded.
//! 3. **Timed batches**: the reported value is the median of the per-iteration times of the batches.

use std::time::Duration;

/// How long and how often to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Wall time one batch should take.
    pub target: Duration,
    /// Number of timed batches (the median is reported).
    pub batches: usize,
    /// Upper bound of the iteration count of one batch.
    pub max_iters: u64,
}

impl Plan {
    /// The full plan: 20 ms batches, 7 of them.
    pub const FULL: Plan = Plan { target: Duration::from_millis(20), batches: 7, max_iters: 1 << 30 };

    /// The quick plan: 4 ms batches, 5 of them.
    pub const QUICK: Plan = Plan { target: Duration::from_millis(4), batches: 5, max_iters: 1 << 30 };

    /// [`Plan::QUICK`] or [`Plan::FULL`].
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan::QUICK
        } else {
            Plan::FULL
        }
    }

    /// The next iteration count during calibration, or `None` once a batch of `iters` iterations took
    /// `elapsed >= target` (or the count hit [`Plan::max_iters`]).
    pub fn next_iters(&self, iters: u64, elapsed: Duration) -> Option<u64> {
        if elapsed >= self.target || iters >= self.max_iters {
            return None;
        }
        let factor =
            if elapsed.is_zero() { 16.0 } else { (self.target.as_secs_f64() / elapsed.as_secs_f64()).clamp(2.0, 16.0) };
        Some(((iters as f64 * factor) as u64).clamp(iters + 1, self.max_iters))
    }
}

/// Runs `batch(iters)` (which runs `iters` iterations and returns how long they took) by the method of
/// this module and returns the median time per iteration in nanoseconds.
///
/// # Errors
/// The first error of `batch`.
pub fn measure<E>(plan: &Plan, mut batch: impl FnMut(u64) -> Result<Duration, E>) -> Result<f64, E> {
    let mut iters = 1;
    loop {
        let elapsed = batch(iters)?;
        match plan.next_iters(iters, elapsed) {
            Some(next) => iters = next,
            None => break,
        }
    }
    batch(iters)?;
    let mut per_iter = Vec::with_capacity(plan.batches);
    for _ in 0..plan.batches.max(1) {
        per_iter.push(batch(iters)?.as_nanos() as f64 / iters as f64);
    }
    Ok(median(&mut per_iter))
}

/// [`measure`] for a batch that cannot fail.
pub fn measure_ok(plan: &Plan, mut batch: impl FnMut(u64) -> Duration) -> f64 {
    match measure::<std::convert::Infallible>(plan, |n| Ok(batch(n))) {
        Ok(ns) => ns,
        Err(never) => match never {},
    }
}

/// The median of `values` (the upper one of the middle two for an even count; NaN when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Bandwidth in GB/s (1e9 bytes per second) of moving `bytes` bytes in `ns` nanoseconds.
pub fn gb_per_s(bytes: u64, ns: f64) -> f64 {
    bytes as f64 / ns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_picks_the_middle() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 3.0);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn calibration_grows_then_stops() {
        let p = Plan::QUICK;
        assert_eq!(p.next_iters(1, Duration::ZERO), Some(16));
        assert_eq!(p.next_iters(10, Duration::from_millis(3)), Some(20));
        assert_eq!(p.next_iters(10, Duration::from_millis(1)), Some(40));
        assert_eq!(p.next_iters(10, Duration::from_millis(4)), None);
    }

    #[test]
    fn measure_reports_per_iteration_time() {
        let plan = Plan { target: Duration::from_micros(100), batches: 3, max_iters: 1 << 20 };
        // A fake clock: every iteration "takes" 50 ns.
        let mut calls = 0;
        let ns = measure::<()>(&plan, |iters| {
            calls += 1;
            Ok(Duration::from_nanos(iters * 50))
        })
        .unwrap();
        assert_eq!(ns, 50.0);
        assert!(calls >= 5);
    }
}
