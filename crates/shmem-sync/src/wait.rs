//! Waiting on words of the local heap: spin, then yield, then sleep on the PE's wake word.
//!
//! The policy follows crossbeam's `Backoff`: a spin catches a peer that is about to write (the common
//! case when every PE has a core), yielding gives the core to a peer when PEs outnumber cores, and the
//! futex sleep burns nothing while a peer computes for long. The spin (2 ms when the whole job fits this
//! machine's cores, else 20 µs) is dropped when this node has more PEs than cores. `SHMEM_WAIT_SPIN_US` and
//! `SHMEM_WAIT_YIELDS` override the spin and the number of yields before sleeping (for measurements on a given
//! machine); they and the watchdog's `SHMEM_WAIT_WARN_SECS` are parsed once at init into a [`SyncConfig`].
//! Sleeps are bounded slices, so a job failure or a deadline is noticed promptly even when nobody writes.
//!
//! A wait that finds itself descheduled while it spins or yields (other processes want the cores) sleeps at once
//! instead, for a while, as do the process's other waits: see [`crate::contention`] (`SHMEM_WAIT_DESCHED_US`).
//!
//! A wait whose first poll fails calls this thread's "about to block" hook, when one is armed (see
//! [`crate::hook`]), after [`crate::hook::HOLD_POLLS`] more polls: a Python caller gives the GIL up
//! there, and keeps it for waits that were satisfied at once.
//!
//! When an engine applies remote writes in software on this PE (TCP: [`WaitCtx::progress`]), the waiting thread
//! drives it while it spins and yields, applying what arrived itself, and each spin round ends with a yield
//! (see `spin_driving`); before it sleeps it hands the work back to the engine's own progress thread.

use crate::cmp::WaitValue;
use crate::contention;
use shmem_core::engine::DataOpEngine;
use shmem_core::heap::NodeSegments;
use shmem_core::{Error, HeapOffset, Result, Settings};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Longest single futex sleep: bounds how late a missed wake-up or a job failure is noticed.
const SLEEP_SLICE: Duration = Duration::from_millis(4);
/// Longest single sleep when some engine's remote writes do not wake sleepers (RDMA): the wait polls the word
/// this often instead of sleeping until a wake that never comes.
pub const POLL_SLICE: Duration = Duration::from_micros(50);
/// Default of `SHMEM_WAIT_WARN_SECS`: a wait this long logs what it waits for, once.
pub const DEFAULT_WARN_SECS: u64 = 60;
/// The stuck-wait watchdog: seconds a wait may last before it logs what it waits for (once).
pub const WARN_SECS_VAR: &str = "SHMEM_WAIT_WARN_SECS";
/// Microseconds a wait spins before it yields (default: chosen from the cores, see the module doc).
pub const SPIN_US_VAR: &str = "SHMEM_WAIT_SPIN_US";
/// Yields before a wait sleeps (default 50, or 2000 when this node's PEs outnumber its cores).
pub const YIELDS_VAR: &str = "SHMEM_WAIT_YIELDS";
/// The longest [`SPIN_US_VAR`] accepted (a wait's spin runs before it looks at its deadline).
pub const MAX_SPIN: Duration = Duration::from_secs(1);
/// The most [`YIELDS_VAR`] accepted (about a second of yields).
pub const MAX_YIELDS: u32 = 1_000_000;
/// `flat` makes every barrier a flat dissemination over all members; `hierarchical` (or unset) is the default.
pub const BARRIER_ALGO_VAR: &str = "SHMEM_BARRIER_ALGO";
/// `core` binds each PE's calling thread to one CPU at init ([`crate::placement::bind_to_core`]); `none` (or
/// unset) leaves placement to the scheduler.
pub const BIND_VAR: &str = "SHMEM_BIND";

/// The knobs of the synchronization layer, parsed once at init (the facade keeps them in its configuration
/// and hands them to every wait through [`WaitCtx::config`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncConfig {
    /// A wait this long logs what it waits for, once (`SHMEM_WAIT_WARN_SECS`).
    pub warn_after: Duration,
    /// The spin before yielding (`SHMEM_WAIT_SPIN_US`); `None` picks one from the cores.
    pub spin: Option<Duration>,
    /// Yields before sleeping (`SHMEM_WAIT_YIELDS`); `None` picks one from the cores.
    pub yields: Option<u32>,
    /// Every barrier is a flat dissemination (`SHMEM_BARRIER_ALGO=flat`), for comparing algorithms.
    pub flat_barrier: bool,
    /// Time off the core (a spin round or a yield lasting this long) after which waits sleep at once for a while
    /// (`SHMEM_WAIT_DESCHED_US`, see [`crate::contention`]); `None`: never.
    pub desched_gap: Option<Duration>,
    /// Bind each PE to a CPU of its node at init (`SHMEM_BIND=core`).
    pub bind_core: bool,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            warn_after: Duration::from_secs(DEFAULT_WARN_SECS),
            spin: None,
            yields: None,
            flat_barrier: false,
            desched_gap: Some(contention::DEFAULT_DESCHED_GAP),
            bind_core: false,
        }
    }
}

impl SyncConfig {
    /// The knobs set in `settings`, defaults for the others.
    ///
    /// # Errors
    /// `InvalidParam` naming the variable when a value is malformed (`SHMEM_WAIT_WARN_SECS=abc`, a negative
    /// count, an unknown barrier algorithm, `SHMEM_WAIT_DESCHED_US=1.5`, `SHMEM_BIND=socket`).
    pub fn from_settings(settings: &Settings) -> Result<SyncConfig> {
        let mut cfg = SyncConfig::default();
        if let Some(secs) = settings.parse::<u64>(WARN_SECS_VAR, "a whole number of seconds")? {
            cfg.warn_after = Duration::from_secs(secs);
        }
        cfg.spin = settings.parse::<u64>(SPIN_US_VAR, "a whole number of microseconds")?.map(Duration::from_micros);
        cfg.yields = settings.parse::<u32>(YIELDS_VAR, "a count of yields")?;
        // The spin and the yields run before a wait first looks at its deadline and the job's health: bounded, so
        // that a timeout or a lost PE is still noticed (a spin of u64::MAX microseconds never would).
        if let Some(us) = cfg.spin.map(|s| s.as_micros()).filter(|&us| us > MAX_SPIN.as_micros()) {
            return Err(Error::invalid(format!(
                "{SPIN_US_VAR}={us} is out of range: at most {} microseconds",
                MAX_SPIN.as_micros()
            )));
        }
        if let Some(n) = cfg.yields.filter(|&n| n > MAX_YIELDS) {
            return Err(Error::invalid(format!("{YIELDS_VAR}={n} is out of range: at most {MAX_YIELDS} yields")));
        }
        cfg.desched_gap = contention::desched_gap_from(settings)?;
        cfg.flat_barrier = match settings.non_empty(BARRIER_ALGO_VAR).map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("flat") => true,
            Some(v) if v.eq_ignore_ascii_case("hierarchical") => false,
            Some(v) => {
                return Err(Error::invalid(format!(
                    "{BARRIER_ALGO_VAR}={v:?} is malformed: expected `flat` or `hierarchical`"
                )))
            }
        };
        cfg.bind_core = match settings.non_empty(BIND_VAR).map(str::trim) {
            None => false,
            Some(v) if v.eq_ignore_ascii_case("core") => true,
            Some(v) if v.eq_ignore_ascii_case("none") => false,
            Some(v) => return Err(Error::invalid(format!("{BIND_VAR}={v:?} is malformed: expected `core` or `none`"))),
        };
        Ok(cfg)
    }
}

/// Whether the job is still healthy. A background monitor marks it failed (a PE left without finalize,
/// global exit, the store vanished); every wait checks it between sleeps and returns the reason as an error.
#[derive(Debug, Default)]
pub struct JobHealth {
    failed: AtomicBool,
    reason: Mutex<String>,
}

impl JobHealth {
    /// Marks the job failed; the first reason is kept.
    pub fn fail(&self, reason: impl Into<String>) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if !self.failed.load(Ordering::Acquire) {
            *r = reason.into();
            self.failed.store(true, Ordering::Release);
        }
    }

    /// `Err(Inner)` with the reason once the job failed.
    pub fn check(&self) -> Result<()> {
        if self.failed.load(Ordering::Acquire) {
            let r = self.reason.lock().unwrap_or_else(|e| e.into_inner()).clone();
            return Err(Error::Inner(format!("the job failed: {r}")));
        }
        Ok(())
    }
}

/// The stuck-wait watchdog's clock for one logical wait: when it started and whether it has warned.
///
/// A caller that waits in several limited slices (the Python binding checks for Ctrl-C every 20 ms) passes
/// one clock to every slice through [`WaitCtx::clock`], so that the watchdog measures the whole wait and warns
/// once, instead of restarting with every slice and never warning.
#[derive(Debug)]
pub struct WaitClock {
    /// When the first slice found the condition false (set then, so that a wait satisfied at once never
    /// reads the clock: that is the common case, and it is on the per-call path).
    start: OnceLock<Instant>,
    warned: AtomicBool,
}

impl WaitClock {
    /// A clock for a wait that has not started yet (it starts when its first slice has to wait).
    pub const fn new() -> Self {
        Self { start: OnceLock::new(), warned: AtomicBool::new(false) }
    }

    /// Starts the clock at `at`, unless it already started.
    fn start_at(&self, at: Instant) {
        self.start.get_or_init(|| at);
    }

    /// Time since the wait started (zero before it did).
    pub fn elapsed(&self) -> Duration {
        self.start.get().map_or(Duration::ZERO, Instant::elapsed)
    }

    /// True exactly once: the first time it is called after the wait has lasted `after`.
    fn should_warn(&self, after: Duration) -> bool {
        self.elapsed() >= after && !self.warned.swap(true, Ordering::Relaxed)
    }
}

impl Default for WaitClock {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything a wait needs besides its condition.
#[derive(Debug, Clone, Copy)]
pub struct WaitCtx<'a> {
    /// The mapped segments (the local one holds the awaited words and the wake line).
    pub node: &'a NodeSegments,
    /// The job's health, checked between sleeps.
    pub health: &'a JobHealth,
    /// A bound for control-plane waits (barriers); `None` waits as long as the condition needs.
    pub timeout: Option<Duration>,
    /// Whether every engine of the job wakes this PE's sleepers when it writes here
    /// (`Capabilities::remote_writes_wake` of all engines together). When not, sleeps are [`POLL_SLICE`]s.
    pub remote_writes_wake: bool,
    /// The layer's knobs (resolved once at init).
    pub config: &'a SyncConfig,
    /// The watchdog clock of a wait made of several limited slices; `None`: this call is the whole wait.
    pub clock: Option<&'a WaitClock>,
    /// The job's engines, lent the waiting thread between polls while it spins or yields
    /// ([`DataOpEngine::progress`]): an engine that applies remote writes in software (TCP) then applies what
    /// arrived on this running thread instead of waking its progress thread. `None`: nothing to drive.
    pub progress: Option<&'a dyn DataOpEngine>,
}

impl WaitCtx<'_> {
    /// Lends this thread to the engines once; `true` when they did something (poll again at once).
    #[inline]
    fn drive(&self) -> bool {
        self.progress.is_some_and(|e| e.progress())
    }

    /// How long one sleep of a wait may last before the word is polled again.
    pub fn sleep_slice(&self) -> Duration {
        if self.remote_writes_wake {
            SLEEP_SLICE
        } else {
            POLL_SLICE
        }
    }
}

struct Tuning {
    spin_for: Duration,
    yields: u32,
    warn_after: Duration,
    /// This node's PEs when they outnumber the cores (their yields then hand the core to each other): a long
    /// yield is taken for foreign load only when more threads are runnable than these, less those asleep in a
    /// wait ([`contention::runnable_beyond`], [`node_sleepers`]).
    own_runnable: Option<u32>,
}

fn tuning(cfg: &SyncConfig, local_pes: u32, job_pes: u32) -> Tuning {
    let oversubscribed = local_pes > cores();
    Tuning {
        // When the whole job fits the cores of this machine: spin up to 2 ms. A shorter spin (20 µs) falls into
        // a slow lock-step as soon as other processes take the cores now and then: a PE descheduled for longer
        // than the spin finds its peer asleep, wakes it (a futex wake and a wake-up later), the peer's next
        // wait runs out too, and so on. Measured on the loaded 2-core VM, 2-PE barrier_all medians: 21-45 µs
        // with 20 µs, 0.21-0.23 µs with 2 ms (3 runs each). When only this node's PEs fit (nodes may be
        // "nodes" of one machine, SHMEM_NODE_ID): 20 µs, since PEs of other node ids may share the cores (16
        // PEs as 16 nodes on 2 cores: 20 ms per barrier with a 2 ms spin, 0.8-1 ms with 20 µs). No spin when
        // this node's PEs must share cores (a spinning PE holds the core its peer needs: 4 PEs on 2 cores,
        // 50 µs spin: 0.3-0.4 ms per barrier against 6-11 µs without). `SHMEM_WAIT_SPIN_US` overrides it.
        spin_for: match cfg.spin {
            Some(spin) => spin,
            None if oversubscribed => Duration::ZERO,
            None if job_pes <= cores() => Duration::from_millis(2),
            None => Duration::from_micros(20),
        },
        yields: cfg.yields.unwrap_or(if oversubscribed { 2000 } else { 50 }),
        warn_after: cfg.warn_after,
        own_runnable: oversubscribed.then_some(local_pes),
    }
}

/// Whether this node's PEs outnumber its cores, so that they take turns on them: waits then yield instead of
/// spinning, and one-node barriers leave CPU hints for the yield advice ([`wait_until_advised`]).
pub fn cores_shared(ctx: &WaitCtx<'_>) -> bool {
    ctx.node.local_pes() > cores()
}

/// The cores this process may use (read once, and before [`crate::placement::bind_to_core`] narrows them: a
/// bound PE still waits as one of a node with this many cores).
pub(crate) fn cores() -> u32 {
    static CORES: OnceLock<u32> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32))
}

/// How many threads of this node's PEs sleep in a wait now (asleep on some PE's wake line and not yet woken):
/// they are not runnable, so they do not count among this node's PEs that may hold the cores. Not the lines'
/// registration counts: those keep a woken sleeper until it gets a core (see `WakeLine::sleep`).
#[cold]
fn node_sleepers(node: &NodeSegments) -> u32 {
    (0..node.n_pes())
        .map(shmem_core::Pe)
        .filter(|&pe| node.peer(pe).is_some())
        .map(|pe| node.wake_line(pe).asleep.load(Ordering::Relaxed))
        .fold(0u32, u32::saturating_add)
}

/// Atomically loads the local word of `T` at `off` with acquire ordering.
///
/// # Panics
/// If `off` is outside the local segment or misaligned (callers have checked).
#[inline]
pub fn load_local<T: WaitValue>(node: &NodeSegments, off: HeapOffset) -> T {
    let p = node.local().span(off.0, T::WIDTH as u64).expect("checked word").as_ptr();
    assert!((p as usize).is_multiple_of(T::WIDTH), "misaligned wait word");
    // SAFETY: p is an in-bounds, aligned word of the local mapping, which outlives this call; remote writers
    // write it with atomic instructions or plain copies (a copy racing a load is the accepted race of SHMEM's
    // wait on put data: the loads below are atomic, so they see either value, never a torn one for aligned
    // words of at most 8 bytes).
    let bits = unsafe {
        match T::WIDTH {
            1 => AtomicU8::from_ptr(p).load(Ordering::Acquire) as u64,
            2 => AtomicU16::from_ptr(p.cast()).load(Ordering::Acquire) as u64,
            4 => AtomicU32::from_ptr(p.cast()).load(Ordering::Acquire) as u64,
            _ => AtomicU64::from_ptr(p.cast()).load(Ordering::Acquire),
        }
    };
    T::from_bits(bits)
}

/// How a spin ended.
enum Spun<R> {
    /// The condition held.
    Done(R),
    /// The spin ran out.
    RanOut,
    /// The thread was off its core during the spin (see [`crate::contention`]): noted, sleep at once.
    Descheduled,
}

/// Polls for `limit`, with a pause between polls (a same-node peer writes straight into this memory). With
/// engines to drive ([`WaitCtx::progress`]), see [`spin_driving`]. A round of polls that took
/// [`SyncConfig::desched_gap`] means the thread lost its core: the spin stops and says so.
fn spin<R>(ctx: &WaitCtx<'_>, poll: &mut impl FnMut() -> Option<R>, limit: Duration) -> Spun<R> {
    let done = |r: Option<R>| r.map_or(Spun::RanOut, Spun::Done);
    if limit.is_zero() {
        // No spin (this node's PEs outnumber its cores): one look, lending the thread to the engines once, but
        // no round of pauses. A round of 64 polls and pauses cost about 1-2 us of the core a peer needs
        // (measured, 4 PEs on 2 cores: barrier_all 8.0 us with the round, 1.6-1.9 us without).
        ctx.drive();
        return done(poll());
    }
    if ctx.progress.is_some() {
        return done(spin_driving(ctx, poll, limit));
    }
    let start = Instant::now();
    let mut last = start;
    loop {
        for _ in 0..64 {
            if let Some(r) = poll() {
                return Spun::Done(r);
            }
            std::hint::spin_loop();
        }
        let now = Instant::now();
        if ctx.config.desched_gap.is_some_and(|gap| now.duration_since(last) >= gap) {
            contention::global().note(now);
            return Spun::Descheduled;
        }
        if now.duration_since(start) >= limit {
            return Spun::RanOut;
        }
        last = now;
    }
}

/// The spin of a wait whose answer comes through this process's own sockets (TCP): rounds of lending the
/// thread to the engines (which apply what arrived on it), a few polls, and a yield. The answer comes from a
/// peer process that may need this very core to send it (two "nodes" on one machine, or PEs of other jobs),
/// and a spin that does not yield holds that core for the whole spin. Measured on the loaded 2-core VM
/// (`shmem-bench --engines tcp,tcp-netns`, medians of 5 alternating runs), 8 B put-with-signal one-way: 2.0 ms
/// (the 2 ms spin) with a plain spin; 6.0-6.2 us lending and yielding every 64 polls; 15.8-24.9 us yielding
/// only every 10 us; 4.9-5.2 us lending every 8 polls and yielding every round that served nothing (this).
fn spin_driving<R>(ctx: &WaitCtx<'_>, poll: &mut impl FnMut() -> Option<R>, limit: Duration) -> Option<R> {
    let start = Instant::now();
    loop {
        let served = ctx.drive();
        if served {
            if let Some(r) = poll() {
                return Some(r);
            }
        }
        for _ in 0..8 {
            if let Some(r) = poll() {
                return Some(r);
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= limit {
            return None;
        }
        // A round that served something (a large put streaming in) goes on at once: a yield could cost it a
        // time slice of another process, with the progress thread parked.
        if !served {
            std::thread::yield_now();
        }
    }
}

/// Waits until `poll` returns `Some`, spinning, then yielding, then sleeping on the local wake word.
/// `watch` is the range of local heap bytes `poll` reads (offset, length): only writes there wake the sleep;
/// `None` means any write. `what` describes the wait for the watchdog's log line and the timeout error.
///
/// # Errors
/// `Timeout` when `ctx.timeout` expires (no missing PEs named; callers that know them fill them in), `Inner`
/// when the job failed while waiting.
pub fn wait_until<R>(
    ctx: &WaitCtx<'_>,
    watch: Option<(HeapOffset, u64)>,
    poll: impl FnMut() -> Option<R>,
    what: impl Fn() -> String,
) -> Result<R> {
    wait_until_on(ctx, ctx.node.me(), watch, poll, what)
}

/// [`wait_until`] for a condition on words of `owner`'s segment (this PE's or a same-node peer's, mapped
/// here): the sleep registers on `owner`'s wake line, which every writer of those words wakes. This is how
/// the PEs of a node wait together on one release word of a barrier: one futex wake by the releasing PE
/// wakes them all.
///
/// # Errors
/// As [`wait_until`].
///
/// # Panics
/// If `owner` is not mapped here (callers pass a PE of this node).
pub fn wait_until_on<R>(
    ctx: &WaitCtx<'_>,
    owner: shmem_core::Pe,
    watch: Option<(HeapOffset, u64)>,
    poll: impl FnMut() -> Option<R>,
    what: impl Fn() -> String,
) -> Result<R> {
    wait_until_advised(ctx, owner, watch, poll, what, None)
}

/// How long one advised spin polls before the advice is asked again: about a microsecond, so that a waiter
/// notices soon when a member it no longer waits for has left and one on its CPU is needed again.
const ADVISED_SPIN: Duration = Duration::from_micros(1);
/// The most advised spins of one wait: the advice may be stale (a PE moved to this CPU since it left its hint),
/// and a spin that holds the core such a PE needs would last the whole time slice. 50 µs is far above what a
/// peer on another core takes to arrive (1-3 µs on the 2-core VM) and far below a time slice.
const ADVISED_SPINS: u32 = 50;

/// [`wait_until_on`] for a wait that can tell whether yielding this thread's core may help what it waits for:
/// where this node's PEs outnumber its cores ([`cores_shared`]) and no engine is driven (`ctx.progress` is
/// `None`), the wait asks `yield_may_help` before each yield, and when it answers `false` (everyone this wait
/// needs was last seen on other CPUs, see [`crate::placement`]) polls for about a microsecond instead; after
/// `ADVISED_SPINS` such answers it no longer asks, and yields and sleeps as [`wait_until_on`] does.
///
/// # Errors
/// As [`wait_until`].
///
/// # Panics
/// As [`wait_until_on`].
pub fn wait_until_advised<R>(
    ctx: &WaitCtx<'_>,
    owner: shmem_core::Pe,
    watch: Option<(HeapOffset, u64)>,
    mut poll: impl FnMut() -> Option<R>,
    what: impl Fn() -> String,
    mut yield_may_help: Option<&mut dyn FnMut() -> bool>,
) -> Result<R> {
    if let Some(r) = poll() {
        return Ok(r);
    }
    let tune = tuning(ctx.config, ctx.node.local_pes(), ctx.node.n_pes());
    if crate::hook::armed() {
        // The caller holds something its other threads need (the GIL) until the call would block: a short spin
        // first (not when this node's PEs share cores), then the hook, before anything longer.
        // A count of polls, not a time: no clock read on the path of a call whose peer is about to arrive.
        if !tune.spin_for.is_zero() {
            for _ in 0..crate::hook::HOLD_POLLS {
                std::hint::spin_loop();
                if let Some(r) = poll() {
                    return Ok(r);
                }
            }
        }
        crate::hook::before_block();
    }
    let start = Instant::now();
    // A wait that is the whole wait keeps its watchdog state here (a shared clock's start is a `OnceLock`, whose
    // first set is an atomic read-modify-write: a few tens of nanoseconds on every wait of every small collective).
    let mut warned_alone = false;
    if let Some(clock) = ctx.clock {
        clock.start_at(start);
    }
    let mut should_warn = || match ctx.clock {
        Some(clock) => clock.should_warn(tune.warn_after).then(|| clock.elapsed()),
        None => {
            let waited = start.elapsed();
            (!warned_alone && waited >= tune.warn_after).then(|| {
                warned_alone = true;
                waited
            })
        }
    };
    // Driven at least once even without a spin: it also sends what the engines held back (batched puts), which
    // the awaited answer may depend on.
    if ctx.drive() {
        if let Some(r) = poll() {
            return Ok(r);
        }
    }
    // Foreign load noticed lately (not for driven waits: see crate::contention): sleep at once.
    let detect = ctx.config.desched_gap.filter(|_| ctx.progress.is_none());
    let contended = || detect.is_some() && contention::global().active(Instant::now());
    let mut yields = tune.yields;
    if detect.is_some() && contention::global().active(start) {
        yields = 0;
    } else {
        match spin(ctx, &mut poll, tune.spin_for) {
            Spun::Done(r) => return Ok(r),
            Spun::Descheduled => yields = 0,
            Spun::RanOut => {}
        }
    }
    // Advice only where yields hand the core to this node's own PEs (they outnumber the cores) and no engine is
    // driven (a driven wait yields for a peer process that may share the core).
    if tune.own_runnable.is_none() || ctx.progress.is_some() {
        yield_may_help = None;
    }
    let mut advised_spins = 0;
    let mut yielded = 0;
    while yielded < yields {
        ctx.drive();
        if let Some(r) = poll() {
            return Ok(r);
        }
        if let Some(advice) = yield_may_help.as_mut() {
            if advised_spins < ADVISED_SPINS && !advice() {
                advised_spins += 1;
                // Not `spin`: a gap here is no sign of foreign load (the advice may be stale, and the PE it
                // missed then takes the core back); the yields below judge that as usual.
                let until = Instant::now() + ADVISED_SPIN;
                loop {
                    for _ in 0..64 {
                        if let Some(r) = poll() {
                            return Ok(r);
                        }
                        std::hint::spin_loop();
                    }
                    if Instant::now() >= until {
                        break;
                    }
                }
                continue;
            }
        }
        yielded += 1;
        let before = detect.map(|_| Instant::now());
        std::thread::yield_now();
        if let (Some(gap), Some(before)) = (detect, before) {
            // The yield gave the core away for this long: not to a peer of this job (those give it back within
            // microseconds) but to another process. Sleep instead, and make the other waits do so a while. Where
            // this job's own PEs outnumber the cores, a peer may keep the core that long: then only when more
            // threads are runnable than this node's PEs.
            let now = Instant::now();
            if now.duration_since(before) >= gap
                && tune.own_runnable.is_none_or(|pes| {
                    contention::runnable_beyond(pes.saturating_sub(node_sleepers(ctx.node))).unwrap_or(true)
                })
            {
                contention::global().note(now);
                break;
            }
        }
    }
    let me = ctx.node.me();
    let line = ctx.node.wake_line(owner);
    let (lo, hi) = watch.map_or((0, u64::MAX), |(off, len)| (off.0, off.0.saturating_add(len.max(1))));
    loop {
        // This thread stops driving the engines while it sleeps: they resume their own progress.
        if let Some(e) = ctx.progress {
            e.progress_release();
        }
        // Register, then re-check, then sleep: see the ordering argument in shmem_core::wake.
        let s = line.register(lo, hi);
        // The re-check must be ordered after the registration, and `poll` may read with Acquire loads only
        // (which AArch64 may satisfy before the registration is visible): a SeqCst fence here orders every
        // load of the re-check after it, so a writer's SeqCst update that precedes this fence is seen, and one
        // that follows it sees the registration (C++20 [atomics.order] fence rules). Only on the way to sleep.
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if let Some(r) = poll() {
            line.unregister();
            return Ok(r);
        }
        line.sleep(s, ctx.sleep_slice());
        line.unregister();
        // Woken (or timed out) but maybe not satisfied: spin again before sleeping, so that a stream of writes
        // to this PE (each of which would pay a futex wake while we sleep) finds us awake; under foreign load
        // only look once.
        let spin_for = if contended() { Duration::ZERO } else { tune.spin_for };
        if let Spun::Done(r) = spin(ctx, &mut poll, spin_for) {
            return Ok(r);
        }
        ctx.health.check()?;
        let waited = start.elapsed();
        if let Some(limit) = ctx.timeout {
            if waited >= limit {
                return Err(Error::Timeout { what: what(), waited, missing_pes: Vec::new() });
            }
        }
        if let Some(waited) = should_warn() {
            tracing::warn!("PE {} has waited {waited:?} for {}; is a peer stuck or did it never write?", me.0, what());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use shmem_core::heap::{HeapLayout, Segment};
    use shmem_core::Pe;
    use std::sync::Arc;

    /// A wait context over `node` for the tests: no engine to drive, no shared clock.
    fn test_ctx<'a>(
        node: &'a NodeSegments,
        health: &'a JobHealth,
        config: &'a SyncConfig,
        timeout: Duration,
        remote_writes_wake: bool,
    ) -> WaitCtx<'a> {
        WaitCtx { node, health, timeout: Some(timeout), remote_writes_wake, clock: None, config, progress: None }
    }

    /// A clock shared by the slices of one wait warns once, after the whole wait (not one slice) lasted long
    /// enough.
    #[test]
    fn a_shared_clock_warns_once_for_the_whole_wait() {
        let clock = WaitClock::new();
        clock.start_at(Instant::now());
        let after = Duration::from_millis(30);
        let mut warnings = 0;
        // Slices of 5 ms each: none of them alone lasts `after`.
        for _ in 0..20 {
            let slice = Instant::now();
            while slice.elapsed() < Duration::from_millis(5) {
                warnings += usize::from(clock.should_warn(after));
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(clock.elapsed() >= Duration::from_millis(100));
        assert_eq!(warnings, 1);
    }

    #[test]
    fn malformed_knobs_are_refused_with_the_variable_named() {
        for (var, bad) in [
            (WARN_SECS_VAR, "abc"),
            (SPIN_US_VAR, "-1"),
            (YIELDS_VAR, "1.5"),
            (BARRIER_ALGO_VAR, "tree"),
            (BIND_VAR, "cores"),
        ] {
            let e = SyncConfig::from_settings(&Settings::from_pairs([(var, bad)])).unwrap_err();
            assert_eq!(e.code(), -1, "{var}");
            assert!(e.to_string().contains(&format!("{var}={bad:?}")), "{e}");
        }
        let ok = Settings::from_pairs([
            (WARN_SECS_VAR, "5"),
            (SPIN_US_VAR, "20"),
            (YIELDS_VAR, "7"),
            (BARRIER_ALGO_VAR, "FLAT"),
            (BIND_VAR, " Core "),
        ]);
        let cfg = SyncConfig::from_settings(&ok).unwrap();
        assert_eq!(
            cfg,
            SyncConfig {
                warn_after: Duration::from_secs(5),
                spin: Some(Duration::from_micros(20)),
                yields: Some(7),
                flat_barrier: true,
                desched_gap: Some(contention::DEFAULT_DESCHED_GAP),
                bind_core: true,
            }
        );
        assert_eq!(SyncConfig::from_settings(&Settings::default()).unwrap(), SyncConfig::default());
    }

    /// Taken by the tests that must not share the cores with each other: the busy loops of one would make the
    /// other's 2 ms spin run out.
    static CORES: Mutex<()> = Mutex::new(());

    /// An engine that applies a remote write only when a thread drives it (as TCP's would, were its progress
    /// thread never scheduled): it stores `value` into the word on its `after`-th `progress` call, and counts
    /// the releases.
    #[derive(Debug)]
    struct DrivenOnly {
        word: &'static AtomicU64,
        value: u64,
        after: u64,
        calls: AtomicU64,
        releases: AtomicU64,
    }

    impl shmem_core::engine::DataOpEngine for DrivenOnly {
        fn kind(&self) -> shmem_core::OpEngineType {
            shmem_core::OpEngineType::TCP
        }
        fn capabilities(&self) -> shmem_core::engine::Capabilities {
            shmem_core::engine::Capabilities {
                direct_pointers: false,
                asynchronous_nbi: false,
                remote_writes_wake: true,
                cpu_coherent_atomics: true,
            }
        }
        fn reaches(&self, _: Pe) -> bool {
            true
        }
        unsafe fn put(&self, _: shmem_core::engine::Put, _: shmem_core::engine::Completion) -> Result<()> {
            Ok(())
        }
        unsafe fn get(&self, _: shmem_core::engine::Get, _: shmem_core::engine::Completion) -> Result<()> {
            Ok(())
        }
        fn atomic(
            &self,
            _: Pe,
            _: HeapOffset,
            _: shmem_core::engine::AtomicWidth,
            _: shmem_core::engine::AtomicOp,
        ) -> Result<u64> {
            Ok(0)
        }
        fn fence(&self) -> Result<()> {
            Ok(())
        }
        fn quiet(&self) -> Result<()> {
            Ok(())
        }
        fn peer_ptr(&self, _: Pe, _: HeapOffset) -> Option<std::ptr::NonNull<u8>> {
            None
        }
        fn progress(&self) -> bool {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n == self.after {
                self.word.store(self.value, Ordering::Release);
                return true;
            }
            false
        }
        fn needs_progress(&self) -> bool {
            true
        }
        fn progress_release(&self) {
            self.releases.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A wait lends its thread to the engines: a write that only a driving thread applies completes the wait,
    /// in the spin phase (no release) and after the wait went to sleep (released before each sleep, then driven
    /// again when a sleep slice ends).
    #[test]
    fn waits_drive_the_engines_and_release_them_before_sleeping() {
        let _cores = CORES.lock().unwrap_or_else(|e| e.into_inner());
        let layout = HeapLayout::new(1 << 20);
        let name = format!("/shmem-sync-drive-{}", std::process::id());
        let mut seg = Segment::create(&name, layout.segment_len() as usize).unwrap();
        seg.unlink();
        let node: &'static NodeSegments = Box::leak(Box::new(NodeSegments::new(layout, Pe(0), vec![Some(seg)])));
        node.wake_line(Pe(0)).lo.store(u64::MAX, Ordering::SeqCst);
        let health = JobHealth::default();
        let word = node.word64(Pe(0), HeapOffset(64));
        // Spin phase only (a 10 s spin, far more than 5 rounds even when each round's yield hands the core to
        // another process for its whole slice: with 2 ms the test failed under busy loops, on main too):
        // applied on the 5th drive, never released.
        // Then no spin and no yields: the first drives happen before the sleep, the rest after sleep slices.
        for (round, spin_us, yields, after) in [(1u64, 10_000_000u64, 0u32, 5u64), (2, 0, 0, 4)] {
            let engine =
                DrivenOnly { word, value: round, after, calls: AtomicU64::new(0), releases: AtomicU64::new(0) };
            let config = SyncConfig {
                spin: Some(Duration::from_micros(spin_us)),
                yields: Some(yields),
                ..SyncConfig::default()
            };
            let ctx = WaitCtx {
                node,
                health: &health,
                timeout: Some(Duration::from_secs(10)),
                remote_writes_wake: false,
                clock: None,
                config: &config,
                progress: Some(&engine),
            };
            let poll = || (load_local::<u64>(node, HeapOffset(64)) == round).then_some(round);
            assert_eq!(wait_until(&ctx, Some((HeapOffset(64), 8)), poll, || "w".into()).unwrap(), round);
            assert_eq!(engine.calls.load(Ordering::SeqCst), after, "round {round}");
            let released = engine.releases.load(Ordering::SeqCst);
            if round == 1 {
                assert_eq!(released, 0, "a wait satisfied while spinning keeps driving");
            } else {
                assert!(released >= 1, "a wait that sleeps releases the engines first");
            }
        }
    }

    /// A one-PE node for the tests below (the segment is unlinked at once; the mapping lives for the test).
    fn test_node(tag: &str) -> &'static NodeSegments {
        test_node_of(tag, 1)
    }

    /// A node of `pes` PEs of this process (each its own segment), this thread being PE 0.
    pub(crate) fn test_node_of(tag: &str, pes: usize) -> &'static NodeSegments {
        let layout = HeapLayout::new(1 << 20);
        let segs = (0..pes)
            .map(|i| {
                let name = format!("/shmem-sync-{tag}-{i}-{}", std::process::id());
                let mut seg = Segment::create(&name, layout.segment_len() as usize).unwrap();
                seg.unlink();
                Some(seg)
            })
            .collect();
        let node: &'static NodeSegments = Box::leak(Box::new(NodeSegments::new(layout, Pe(0), segs)));
        node.wake_line(Pe(0)).lo.store(u64::MAX, Ordering::SeqCst);
        node
    }

    /// Where a node's PEs outnumber its cores, a wait whose advice says yielding cannot help (as a stale hint
    /// would, see `crate::placement`) polls only a bounded while and then yields: a writer on the waiter's own
    /// CPU, which writes only once the waiter asked for advice and only when it gets that CPU, writes, and the
    /// wait returns its value. The advice is asked at most `ADVISED_SPINS` times per wait.
    #[test]
    fn an_advised_wait_yields_to_a_writer_on_its_cpu_after_a_bounded_spin() {
        use crate::placement::tests::{allowed_cpus, pin};
        use shmem_core::engine::{AtomicOp, AtomicWidth};
        let _cores = CORES.lock().unwrap_or_else(|e| e.into_inner());
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let node = test_node_of("advice", cores + 1);
        let health = JobHealth::default();
        let config = SyncConfig { desched_gap: None, ..SyncConfig::default() };
        let ctx = test_ctx(node, &health, &config, Duration::from_secs(60), true);
        let word = HeapOffset(128);
        let cpu = allowed_cpus()[0];
        for round in 1..=20u64 {
            let asking = AtomicBool::new(false);
            let asked = AtomicU32::new(0);
            let seen = std::thread::scope(|s| {
                s.spawn(|| {
                    pin(cpu);
                    while !asking.load(Ordering::Acquire) {
                        std::thread::yield_now();
                    }
                    node.atomic(Pe(0), word, AtomicWidth::W64, AtomicOp::Swap(round)).unwrap();
                });
                s.spawn(|| {
                    pin(cpu);
                    let mut advice = || {
                        asked.fetch_add(1, Ordering::Relaxed);
                        asking.store(true, Ordering::Release);
                        false
                    };
                    let poll = || {
                        let v = load_local::<u64>(node, word);
                        (v >= round).then_some(v)
                    };
                    wait_until_advised(&ctx, Pe(0), Some((word, 8)), poll, || "the writer".into(), Some(&mut advice))
                })
                .join()
                .unwrap()
            });
            assert_eq!(seen.unwrap(), round);
            let asked = asked.load(Ordering::Relaxed);
            assert!((1..=ADVISED_SPINS).contains(&asked), "round {round}: asked {asked} times");
        }
    }

    /// Two threads hand a counter back and forth through two words (each waits for the other's value, then
    /// writes its own with a waking atomic) while busy loops hold every core: every wait completes, with the
    /// exact values, within the control timeout, whether the waits notice the busy loops and sleep at once or
    /// not (the timing is not asserted; on a machine with a free core the loops may not even disturb them).
    #[test]
    fn waits_complete_with_exact_values_while_busy_loops_hold_every_core() {
        let _cores = CORES.lock().unwrap_or_else(|e| e.into_inner());
        use shmem_core::engine::{AtomicOp, AtomicWidth};
        let node = test_node("hog");
        let health = JobHealth::default();
        let stop = AtomicBool::new(false);
        let (ping, pong) = (HeapOffset(128), HeapOffset(256));
        let rounds = 300u64;
        for desched_gap in [Some(contention::DEFAULT_DESCHED_GAP), None] {
            node.word64(Pe(0), ping).store(0, Ordering::SeqCst);
            node.word64(Pe(0), pong).store(0, Ordering::SeqCst);
            let config = SyncConfig { desched_gap, ..SyncConfig::default() };
            let ctx = test_ctx(node, &health, &config, Duration::from_secs(60), true);
            let wait_for = |at: HeapOffset, v: u64| {
                let poll = || {
                    let seen = load_local::<u64>(node, at);
                    (seen >= v).then_some(seen)
                };
                wait_until(&ctx, Some((at, 8)), poll, || "the other thread".into())
            };
            let write = |at: HeapOffset, v: u64| node.atomic(Pe(0), at, AtomicWidth::W64, AtomicOp::Swap(v)).unwrap();
            let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
            let seen = std::thread::scope(|s| {
                for _ in 0..cores {
                    s.spawn(|| {
                        let mut x = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            x = std::hint::black_box(x.wrapping_add(1));
                        }
                    });
                }
                let echo = s.spawn(|| {
                    let mut got = Vec::new();
                    for i in 1..=rounds {
                        got.push(wait_for(ping, i).unwrap());
                        write(pong, i);
                    }
                    got
                });
                let mut got = Vec::new();
                for i in 1..=rounds {
                    write(ping, i);
                    got.push(wait_for(pong, i).unwrap());
                }
                let echoed = echo.join().unwrap();
                stop.store(true, Ordering::Relaxed);
                (got, echoed)
            });
            stop.store(false, Ordering::Relaxed);
            let want: Vec<u64> = (1..=rounds).collect();
            assert_eq!(seen.0, want, "{desched_gap:?}");
            assert_eq!(seen.1, want, "{desched_gap:?}");
        }
    }

    /// While a hold of the process's contention detector runs, a wait neither spins nor yields: it polls only
    /// around its sleeps (a handful of polls for a 20 ms wait, against the thousands of a 2 ms spin and 50
    /// yields), and it still completes with the written value, woken by the writer.
    #[test]
    fn a_wait_sleeps_at_once_while_the_process_is_marked_contended() {
        use shmem_core::engine::{AtomicOp, AtomicWidth};
        let node = test_node("held");
        let health = JobHealth::default();
        // A hold reaching about 1.3 s past now (holds double while notes follow each other): long enough for
        // this test whatever the scheduler does, short for the other tests of this process (which still pass
        // sleeping at once, only slower).
        let now = Instant::now();
        let mut at = now;
        for _ in 0..7 {
            contention::global().note(at);
            at += contention::global().hold() + Duration::from_micros(1);
        }
        let config = SyncConfig { spin: Some(Duration::from_millis(2)), yields: Some(50), ..SyncConfig::default() };
        let ctx = test_ctx(node, &health, &config, Duration::from_secs(30), true);
        let word = HeapOffset(512);
        let mut polls = 0u32;
        let got = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(20));
                node.atomic(Pe(0), word, AtomicWidth::W64, AtomicOp::Swap(42)).unwrap();
            });
            let poll = || {
                polls += 1;
                let v = load_local::<u64>(node, word);
                (v == 42).then_some(v)
            };
            wait_until(&ctx, Some((word, 8)), poll, || "w".into()).unwrap()
        });
        assert_eq!(got, 42);
        assert!(contention::global().active(Instant::now()), "the hold outlasts the test's wait");
        assert!(polls < 100, "{polls} polls: the wait spun or yielded");
    }

    /// The "about to block" hook: a wait satisfied at its first poll leaves it armed (the caller keeps the GIL);
    /// a wait that must wait for another thread calls it exactly once before blocking, and still returns the
    /// written value.
    #[test]
    fn a_wait_calls_the_armed_hook_only_when_it_would_block() {
        use shmem_core::engine::{AtomicOp, AtomicWidth};
        let node = test_node("hook");
        let health = JobHealth::default();
        let config = SyncConfig::default();
        let ctx = test_ctx(node, &health, &config, Duration::from_secs(30), true);
        let word = HeapOffset(768);
        let wait_for = |v: u64| {
            let poll = || (load_local::<u64>(node, word) == v).then_some(v);
            wait_until(&ctx, Some((word, 8)), poll, || "w".into()).unwrap()
        };
        let mut calls = 0;
        let got = crate::hook::with_block_hook(&mut || calls += 1, || {
            let at_once = wait_for(0);
            assert!(crate::hook::armed(), "a satisfied wait leaves the hook armed");
            let later = std::thread::scope(|s| {
                s.spawn(|| {
                    std::thread::sleep(Duration::from_millis(20));
                    node.atomic(Pe(0), word, AtomicWidth::W64, AtomicOp::Swap(9)).unwrap();
                });
                wait_for(9)
            });
            (at_once, later)
        });
        assert_eq!(got, (0, 9));
        assert_eq!(calls, 1);
    }

    /// A word written without a wake (as an RDMA NIC writes) is seen by a sleeping waiter, which sleeps in
    /// poll slices when the wait context says remote writes do not wake (no timing is asserted: the slice is).
    #[test]
    fn silent_writes_are_seen_when_engines_do_not_wake() {
        let layout = HeapLayout::new(1 << 20);
        let name = format!("/shmem-sync-poll-{}", std::process::id());
        let mut seg = Segment::create(&name, layout.segment_len() as usize).unwrap();
        seg.unlink();
        let node = Arc::new(NodeSegments::new(layout, Pe(0), vec![Some(seg)]));
        node.wake_line(Pe(0)).lo.store(u64::MAX, Ordering::SeqCst);
        let health = JobHealth::default();
        let word = node.word64(Pe(0), HeapOffset(0));
        let ctx = WaitCtx {
            node: &node,
            health: &health,
            timeout: Some(Duration::from_secs(10)),
            remote_writes_wake: false,
            clock: None,
            config: &SyncConfig::default(),
            progress: None,
        };
        assert_eq!(ctx.sleep_slice(), POLL_SLICE);
        let waking = WaitCtx { remote_writes_wake: true, ..ctx };
        assert_eq!(waking.sleep_slice(), SLEEP_SLICE);
        for round in 1..=5u64 {
            std::thread::scope(|s| {
                s.spawn(|| {
                    // Long enough for the waiter to pass its spin and yield phases and sleep.
                    std::thread::sleep(Duration::from_millis(10));
                    word.store(round, Ordering::Release); // no wake: a NIC does not call futex
                });
                let poll = || (load_local::<u64>(&node, HeapOffset(0)) == round).then_some(round);
                assert_eq!(wait_until(&ctx, Some((HeapOffset(0), 8)), poll, || "w".into()).unwrap(), round);
            });
        }
    }
}
