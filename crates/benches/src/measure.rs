//! The timing method shared by every measurement (ours and the in-process references), the same as the
//! C reference programs in `benches/reference/`:
//!
//! 1. **Calibration**: the iteration count grows (x2 to x16 a step) until one batch takes the target time;
//!    these runs double as warm-up.
//! 2. **Warm-up**: one more batch at the final count, not recorded.
//! 3. **Timed batches**: the reported value is the median of the per-iteration times of the batches.

use std::hint::black_box;
use std::time::{Duration, Instant};

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
    measure_part(plan, |n| batch(n).map(|d| (d, d)))
}

/// Like [`measure`] for a batch that times only part of its work: `batch(iters)` returns `(timed, wall)`,
/// the time of the part being measured and the whole batch's wall time. Calibration grows the iteration count
/// until the *wall* time reaches the target (so untimed work, such as a `quiet` after timed `_nbi` issues, keeps
/// a batch short); the reported value is the median of `timed / iters`.
///
/// # Errors
/// The first error of `batch`.
pub fn measure_part<E>(plan: &Plan, mut batch: impl FnMut(u64) -> Result<(Duration, Duration), E>) -> Result<f64, E> {
    let mut iters = 1;
    loop {
        let (_, wall) = batch(iters)?;
        match plan.next_iters(iters, wall) {
            Some(next) => iters = next,
            None => break,
        }
    }
    batch(iters)?;
    let mut per_iter = Vec::with_capacity(plan.batches);
    for _ in 0..plan.batches.max(1) {
        per_iter.push(batch(iters)?.0.as_nanos() as f64 / iters as f64);
    }
    Ok(median(&mut per_iter))
}

/// A fixed amount of computation for the overlap benchmark: `units` x 1024 steps of a dependent
/// multiply-add chain in registers (no memory traffic, so it does not compete with a copy for the memory bus).
/// Returns the chain's value so that the work cannot be optimized away.
pub fn busy_work(units: u64) -> u64 {
    let mut x = black_box(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..units {
        for _ in 0..1024 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        }
        x = black_box(x);
    }
    x
}

/// The number of [`busy_work`] units that takes about `target` on this thread (at least 1): the time of a
/// growing count is measured until it passes 1 ms (or `target`, if shorter), then scaled, then checked once
/// more at the scaled count and corrected.
pub fn busy_units_for(target: Duration) -> u64 {
    let time = |units: u64| {
        let t = Instant::now();
        black_box(busy_work(units));
        t.elapsed()
    };
    let probe_until = target.min(Duration::from_millis(1)).max(Duration::from_micros(10));
    let mut units = 1u64;
    let mut elapsed = time(units);
    while elapsed < probe_until && units < 1 << 40 {
        units *= 2;
        elapsed = time(units);
    }
    let scale = |units: u64, elapsed: Duration| {
        let per_unit = elapsed.as_secs_f64() / units as f64;
        ((target.as_secs_f64() / per_unit.max(1e-12)) as u64).max(1)
    };
    let units = scale(units, elapsed);
    scale(units, time(units))
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

    #[test]
    fn measure_part_calibrates_on_wall_time() {
        let plan = Plan { target: Duration::from_micros(100), batches: 3, max_iters: 1 << 20 };
        // Each iteration "takes" 1 us of wall time, of which 10 ns are timed.
        let mut largest = 0;
        let ns = measure_part::<()>(&plan, |iters| {
            largest = largest.max(iters);
            Ok((Duration::from_nanos(iters * 10), Duration::from_micros(iters)))
        })
        .unwrap();
        assert_eq!(ns, 10.0);
        assert!((100..=1600).contains(&largest), "{largest}");
    }

    #[test]
    fn busy_units_scale_with_the_target() {
        let short = busy_units_for(Duration::from_micros(200));
        let long = busy_units_for(Duration::from_millis(2));
        assert!(short >= 1 && long > short, "{short} {long}");
    }
}
