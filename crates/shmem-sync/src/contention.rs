//! Noticing that this process does not get its core, so that waits stop spinning and yielding for a while.
//!
//! A wait spins (2 ms when the job fits the cores) because a peer that has a core of its own answers within
//! microseconds, and it yields (when this node's PEs outnumber its cores) because the peer it waits for may
//! need this very core. Both assume that the only other runnable threads are this job's. When other processes
//! keep the cores busy ("foreign load": builds, other jobs), both go wrong:
//!
//! - a spin burns the slice that the scheduler would give this PE, while the peer it waits for sits on a run
//!   queue behind a foreign process; it runs out after 2 ms, and the next call does the same;
//! - a yield hands the core to the foreign process for the rest of its slice (milliseconds), not to a peer.
//!
//! Measured on the 2-core VM with two busy loops beside the job (`barrier_all`, 2,000 calls per batch, median
//! batch): 4 PEs 2.2-4.7 ms per call yielding, 10-21 µs sleeping at once; 8 PEs 2.7-3.9 ms against 22 µs; 2 PEs
//! spinning 2 ms: 0.3 µs in most batches but 12.5 µs to 1.7 ms per call in others, against a steady 2-4 µs
//! sleeping at once. A sleeper that a peer's write wakes with a futex gets the core back at once (it has slept,
//! so the scheduler lets it preempt the busy loop), and it never gives away its share by spinning.
//!
//! So a wait watches its own clock: a spin reads the clock every round of polls (about a microsecond of work)
//! and a yield is timed; a gap of [`DEFAULT_DESCHED_GAP`] or more (`SHMEM_WAIT_DESCHED_US`) means the thread
//! was off its core while another thread ran. Then every wait of the process sleeps at once (no spin, no
//! yields) for a *hold*: 10 ms at first, doubled (up to 1 s) each time the load is still there when a hold runs
//! out (the first wait after it spins or yields again, and is descheduled again), back to 10 ms after a
//! quiet spell. Without foreign load nothing changes: a wait whose peer answers within the spin never sees a
//! gap, and yields among this job's own PEs last microseconds. The check costs one comparison per round of
//! polls (the spin already read the clock there) and one clock read per yield.
//!
//! On a node where this job's own PEs outnumber the cores, a yield hands the core to a peer PE, which may keep it
//! for long (a batch of posted broadcasts run ahead, or the application's compute between two calls): a long
//! yield there is taken for foreign load only when the machine has more runnable threads (`/proc/loadavg`)
//! than this node's PEs less those asleep in a wait ([`runnable_beyond`]). Where the count cannot be read, as
//! before.
//!
//! Waits that drive a software engine ([`crate::wait::WaitCtx::progress`], TCP) keep their own policy: their
//! yields exist to let a peer process that shares the core send the answer, and a long one is expected.

use shmem_core::{Result, Settings};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Microseconds off the core (a spin round or a yield that lasted this long) after which waits sleep at once
/// for a while; `0` turns the detection off.
pub const DESCHED_US_VAR: &str = "SHMEM_WAIT_DESCHED_US";
/// Default of `SHMEM_WAIT_DESCHED_US`: far above a round of polls (about 1 µs), a timer interrupt or a yield
/// among this job's own PEs (a few µs each), and far below a foreign process's time slice (milliseconds).
pub const DEFAULT_DESCHED_GAP: Duration = Duration::from_micros(200);
/// The first hold after a deschedule.
pub const HOLD_MIN: Duration = Duration::from_millis(10);
/// The longest hold (persistent load: one deschedule of a probing wait per second at most).
pub const HOLD_MAX: Duration = Duration::from_secs(1);

/// `SHMEM_WAIT_DESCHED_US` from `settings`: `Some(gap)`, `None` for `0` (detection off), the default when unset.
///
/// # Errors
/// `InvalidParam` naming the variable when the value is not a whole number of microseconds.
pub fn desched_gap_from(settings: &Settings) -> Result<Option<Duration>> {
    Ok(match settings.parse::<u64>(DESCHED_US_VAR, "a whole number of microseconds (0: off)")? {
        None => Some(DEFAULT_DESCHED_GAP),
        Some(0) => None,
        Some(us) => Some(Duration::from_micros(us)),
    })
}

/// Whether this process was descheduled lately, shared by all its waits (one per process: [`global`]).
#[derive(Debug)]
pub struct Contention {
    /// Nanoseconds since [`base`] until which waits sleep at once; 0: never descheduled.
    until: AtomicU64,
    /// The length of the current (last) hold in nanoseconds.
    hold: AtomicU64,
}

/// The process's clock origin for the nanosecond stamps of [`Contention`].
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn ns(at: Instant) -> u64 {
    at.saturating_duration_since(base()).as_nanos().min(u64::MAX as u128) as u64
}

impl Contention {
    /// A detector that has seen nothing yet.
    pub const fn new() -> Self {
        Contention { until: AtomicU64::new(0), hold: AtomicU64::new(0) }
    }

    /// Whether waits should sleep at once at `now` (a hold is running).
    #[inline]
    pub fn active(&self, now: Instant) -> bool {
        let until = self.until.load(Ordering::Relaxed);
        until != 0 && ns(now) < until
    }

    /// Records that a wait was off its core just before `now`: starts a hold, twice as long as the last one
    /// when the last one ended less than its own length ago (the load persists), else [`HOLD_MIN`].
    #[cold]
    pub fn note(&self, now: Instant) {
        let t = ns(now).max(1);
        let (until, hold) = (self.until.load(Ordering::Relaxed), self.hold.load(Ordering::Relaxed));
        let min = HOLD_MIN.as_nanos() as u64;
        let next = if until != 0 && t < until.saturating_add(hold) {
            hold.saturating_mul(2).clamp(min, HOLD_MAX.as_nanos() as u64)
        } else {
            min
        };
        // Two threads noting at once may each store their own hold: either is a fine answer.
        self.hold.store(next, Ordering::Relaxed);
        self.until.store(t.saturating_add(next), Ordering::Relaxed);
    }

    /// The length of the current (last) hold; zero before the first deschedule.
    pub fn hold(&self) -> Duration {
        Duration::from_nanos(self.hold.load(Ordering::Relaxed))
    }
}

impl Default for Contention {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether more threads are runnable on this machine now than `own` (this node's PEs, when the job itself
/// oversubscribes the cores): read from `/proc/loadavg` (its running count includes the reader). `None` when
/// the count cannot be read (no procfs, a sandbox): callers then assume foreign load, as before this check.
///
/// Why: on a node where this job's PEs outnumber the cores, a yield hands the core to a peer PE, which may run
/// for a long time (a whole batch of posted broadcasts, or the application's compute between two calls), so a
/// long yield alone does not mean foreign load there. Measured (8 Python PEs on 2 cores, 8-B broadcast loop,
/// no other load): 2.4-7.0 µs per call with every such gap taken for foreign load (the waits then slept at
/// once, paying futex wakes), 1.0-1.3 µs with the detection off. Only called after such a gap (a few µs of
/// reading, at most once per gap of `SHMEM_WAIT_DESCHED_US`).
#[cold]
pub fn runnable_beyond(own: u32) -> Option<bool> {
    use std::io::Read;
    let mut buf = [0u8; 128];
    let n = std::fs::File::open("/proc/loadavg").and_then(|mut f| f.read(&mut buf)).ok()?;
    running_of(&buf[..n]).map(|running| running > u64::from(own))
}

/// The running count of a `/proc/loadavg` text (`0.50 0.40 0.30 3/120 4567`: 3).
fn running_of(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let field = text.split_ascii_whitespace().nth(3)?;
    field.split('/').next()?.parse().ok()
}

/// The detector of this process (all its waits and PEs' threads share it: they share its cores).
pub fn global() -> &'static Contention {
    static GLOBAL: Contention = Contention::new();
    &GLOBAL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_start_short_double_while_the_load_persists_and_reset_after_a_quiet_spell() {
        let c = Contention::new();
        // The stamps count from the process's clock origin: set it before the first instant of the test.
        let _ = base();
        let t0 = Instant::now();
        assert!(!c.active(t0));
        assert_eq!(c.hold(), Duration::ZERO);
        c.note(t0);
        assert_eq!(c.hold(), HOLD_MIN);
        assert!(c.active(t0 + HOLD_MIN / 2));
        assert!(!c.active(t0 + HOLD_MIN + Duration::from_micros(1)));
        // Descheduled again right after the hold ran out: twice as long, and so on up to the cap.
        let mut at = t0 + HOLD_MIN + Duration::from_micros(1);
        let mut want = HOLD_MIN;
        for _ in 0..12 {
            c.note(at);
            want = (want * 2).min(HOLD_MAX);
            assert_eq!(c.hold(), want);
            at += want + Duration::from_micros(1);
        }
        assert_eq!(c.hold(), HOLD_MAX);
        // A deschedule long after the last hold (more than its length): back to the shortest hold.
        c.note(at + 3 * HOLD_MAX);
        assert_eq!(c.hold(), HOLD_MIN);
    }

    #[test]
    fn the_running_count_is_read_from_loadavg() {
        assert_eq!(running_of(b"0.50 0.40 0.30 3/120 4567\n"), Some(3));
        assert_eq!(running_of(b"0.50 0.40 0.30 12/1200 4567"), Some(12));
        assert_eq!(running_of(b"0.50 0.40"), None);
        assert_eq!(running_of(b"a b c x/1 2"), None);
        // This machine's: at least the reading thread runs.
        if std::path::Path::new("/proc/loadavg").exists() {
            assert_eq!(runnable_beyond(0), Some(true));
            assert_eq!(runnable_beyond(u32::MAX), Some(false));
        }
    }

    #[test]
    fn the_gap_is_parsed_with_zero_meaning_off() {
        let of = |v: &str| desched_gap_from(&Settings::from_pairs([(DESCHED_US_VAR, v)]));
        assert_eq!(desched_gap_from(&Settings::default()).unwrap(), Some(DEFAULT_DESCHED_GAP));
        assert_eq!(of("").unwrap(), Some(DEFAULT_DESCHED_GAP));
        assert_eq!(of(" 500 ").unwrap(), Some(Duration::from_micros(500)));
        assert_eq!(of("0").unwrap(), None);
        for bad in ["-1", "1.5", "fast"] {
            let e = of(bad).unwrap_err();
            assert_eq!(e.code(), -1);
            assert!(e.to_string().contains(&format!("{DESCHED_US_VAR}={bad:?}")), "{e}");
        }
    }
}
