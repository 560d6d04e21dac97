//! The channels: one worker thread per ring, executing descriptors in ring order, sleeping when idle.
//!
//! A worker pops a descriptor, resolves its remote end against the node's mappings (bounds-checked), copies,
//! wakes the peer's sleepers after a put, and publishes the completion by storing its count of executed
//! descriptors in [`Channel::done`] (Release). Because a channel executes strictly in ring order, `done >= p`
//! means every descriptor pushed at a position below `p` is complete: that is all `quiet` needs.
//!
//! Idle protocol: after the ring runs dry the worker polls for [`SdmaConfig::idle_spin`]; then it sets
//! `sleeping`, issues a SeqCst fence, looks at the ring once more and parks. A producer stores the slot's
//! stamp, issues a SeqCst fence and loads `sleeping`; if set, it clears it and unparks the worker. The fences
//! make this a Dekker pair: either the worker's last look sees the new descriptor or the producer sees
//! `sleeping`. `park` keeps an unpark that comes early, so the wake cannot be lost. The first piece of a
//! split transfer carries `kick_next`: its worker kicks the channels holding the other pieces (pushed before
//! it, so they are visible to that worker and, through the same fences, to the kicked ones).
//!
//! Workers run under SCHED_BATCH where the kernel allows it: woken on a busy core, they do not preempt the
//! PE's own thread, as a DMA engine would not.
//!
//! [`SdmaConfig::idle_spin`]: crate::SdmaConfig::idle_spin

use crate::error::SdmaError;
use crate::op::{cost, Descriptor, Dir, OpState, Signal};
use crate::ring::{Receiver, Ring};
use crate::wait::Completions;
use crossbeam_utils::CachePadded;
use shmem_core::engine::SignalOp;
use shmem_core::heap::NodeSegments;
use shmem_core::{HeapOffset, Pe};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// One channel: the producer side of its ring and what issuers need to know about its worker.
pub(crate) struct Channel {
    /// Descriptors waiting for this channel's worker (which holds the ring's only [`Receiver`]).
    pub(crate) ring: Arc<Ring<Descriptor>>,
    /// Descriptors executed so far, in ring order: every position below it is complete (data copied, peer
    /// woken, signal applied when it finished an operation). Stored only by the worker, with Release.
    done: CachePadded<AtomicU64>,
    /// Backlog: the [`cost`] of the descriptors pushed and not yet executed. Added by issuers before the
    /// push, subtracted by the worker after executing; a load-balancing hint only (Relaxed throughout).
    queued: CachePadded<AtomicUsize>,
    /// Set by the worker just before it parks; cleared by the producer that unparks it (or the worker
    /// itself when it wakes).
    sleeping: AtomicBool,
    /// Set when the worker thread ended by a panic: nothing more in this ring will ever execute.
    dead: AtomicBool,
    /// The worker thread, for `unpark`; set once right after the spawn.
    pub(crate) thread: OnceLock<Thread>,
}

impl Channel {
    pub(crate) fn new(ring: Arc<Ring<Descriptor>>) -> Channel {
        Channel {
            ring,
            done: CachePadded::new(AtomicU64::new(0)),
            queued: CachePadded::new(AtomicUsize::new(0)),
            sleeping: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            thread: OnceLock::new(),
        }
    }

    /// Descriptors executed so far.
    pub(crate) fn done(&self) -> u64 {
        // Acquire: pairs with the worker's Release store, so a caller that sees `done >= p` sees the copies
        // (and signals) of every position below `p`.
        self.done.load(Ordering::Acquire)
    }

    /// The backlog in [`cost`] units (a hint).
    pub(crate) fn backlog(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Charges a descriptor of `len` bytes to the backlog (before pushing it).
    pub(crate) fn charge(&self, len: usize) {
        self.queued.fetch_add(cost(len), Ordering::Relaxed);
    }

    /// Takes back a charge whose descriptor was never pushed.
    pub(crate) fn discharge(&self, len: usize) {
        self.queued.fetch_sub(cost(len), Ordering::Relaxed);
    }

    /// Whether the worker died.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Wakes the worker if it sleeps. Call after every push.
    pub(crate) fn kick(&self) {
        // SeqCst fence: orders the push (the slot's stamp store) before the load of `sleeping`; see the
        // module docs. Paired with the worker's fence between setting `sleeping` and its last look.
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::Relaxed) {
            self.unpark();
        }
    }

    /// Unparks the worker unconditionally.
    pub(crate) fn unpark(&self) {
        if let Some(t) = self.thread.get() {
            t.unpark();
        }
    }
}

/// What the engine and its workers share.
pub(crate) struct Shared {
    /// The mapped segments of this node's PEs; remote ends resolve through it.
    pub(crate) node: Arc<NodeSegments>,
    /// The channels, indexed by channel number.
    pub(crate) channels: Box<[Channel]>,
    /// Set (Release) when the engine drops: workers drain their rings, then exit.
    pub(crate) shutdown: AtomicBool,
    /// Where issuers sleep while they wait for workers.
    pub(crate) completions: Completions,
    /// How long an idle worker polls before it parks.
    pub(crate) idle_spin: Duration,
    /// The first error of an `_nbi` operation since the last `quiet`; `has_error` mirrors `is_some()` so that
    /// `quiet` need not lock in the common case. Both are changed only under the lock.
    errors: Mutex<Option<SdmaError>>,
    has_error: AtomicBool,
}

impl Shared {
    pub(crate) fn new(node: Arc<NodeSegments>, channels: Box<[Channel]>, idle_spin: Duration) -> Shared {
        Shared {
            node,
            channels,
            shutdown: AtomicBool::new(false),
            completions: Completions::default(),
            idle_spin,
            errors: Mutex::new(None),
            has_error: AtomicBool::new(false),
        }
    }

    /// Keeps `e` for the next `quiet` unless an earlier error is kept.
    pub(crate) fn record(&self, e: SdmaError) {
        tracing::debug!("sdma: deferred error: {e}");
        let mut slot = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(e);
        self.has_error.store(true, Ordering::Release);
    }

    /// Removes the kept error, if any.
    pub(crate) fn take_error(&self) -> Option<SdmaError> {
        // Acquire: pairs with `record`; a miss here means the error was recorded after this call began.
        if !self.has_error.load(Ordering::Acquire) {
            return None;
        }
        let mut slot = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        self.has_error.store(false, Ordering::Relaxed);
        slot.take()
    }

    /// The first dead channel, if any.
    pub(crate) fn dead_channel(&self) -> Option<usize> {
        self.channels.iter().position(Channel::is_dead)
    }

    /// Waits until every live channel executed everything pushed to it before this call; fails if a
    /// channel is dead (its queued work will never run).
    pub(crate) fn wait_channels(&self) -> Result<(), SdmaError> {
        for ch in self.channels.iter() {
            let target = ch.ring.claimed();
            if ch.done() < target {
                self.completions.wait_until(|| (ch.done() >= target || ch.is_dead()).then_some(()));
            }
        }
        match self.dead_channel() {
            Some(channel) => Err(SdmaError::ChannelDead { channel }),
            None => Ok(()),
        }
    }

    /// Executes one descriptor and, when it is the last piece of an operation, finishes the operation.
    fn execute(&self, d: Descriptor) {
        let res = self.copy(&d);
        match d.op {
            None => {
                if let Err(e) = res {
                    self.record(e);
                }
            }
            Some(op) => {
                if let Err(e) = res {
                    op.fail(e);
                }
                if op.piece_done() {
                    self.finish(&op);
                }
            }
        }
    }

    pub(crate) fn copy(&self, d: &Descriptor) -> Result<(), SdmaError> {
        if d.len == 0 {
            return Ok(());
        }
        let remote = resolve(&self.node, "data", d.pe, d.off, d.len as u64)?.as_ptr();
        match d.dir {
            Dir::Put { src } => {
                // SAFETY: `remote..remote+len` lies inside the peer's mapping (resolve checked it), which lives
                // as long as `self.node`. `src..src+len` is readable until this descriptor completes by the
                // issuing call's contract. `ptr::copy` tolerates overlap (a put to this PE itself). A peer
                // writing the same bytes concurrently would race with this copy; the SHMEM memory model makes
                // that the program's error (as for MTE).
                unsafe { std::ptr::copy(src, remote, d.len) };
                // A plain put skips the full fence before the wake check (see shmem_core::wake): a sleeper that
                // registers at this instant re-checks within its bounded sleep.
                self.node.wake(d.pe, d.off, d.len as u64);
            }
            Dir::Get { dst } => {
                // SAFETY: as for the put, with `dst..dst+len` writable and untouched by the caller until the
                // descriptor completes.
                unsafe { std::ptr::copy(remote, dst, d.len) };
            }
        }
        Ok(())
    }

    /// Completes an operation whose pieces are all executed: applies its signal (unless a piece failed), hands
    /// its error to whoever reports it, and publishes completion.
    fn finish(&self, op: &OpState) {
        if let Some(sig) = op.signal {
            if !op.failed() {
                if let Err(e) = self.signal(op.pe, sig) {
                    op.fail(e);
                }
            }
        }
        if !op.blocking {
            if let Some(e) = op.take_error() {
                self.record(e);
            }
        }
        op.finish();
    }

    pub(crate) fn signal(&self, pe: Pe, sig: Signal) -> Result<(), SdmaError> {
        let word = signal_word(&self.node, pe, sig.off)?;
        // SeqCst RMW: a release, so a waiter that loads the signal with Acquire sees every piece's data (this
        // thread acquired the other pieces through OpState::piece_done); and SeqCst orders the update before
        // the wake check's load of the sleeper count (shmem_core::wake).
        match sig.op {
            SignalOp::Set => word.swap(sig.value, Ordering::SeqCst),
            SignalOp::Add => word.fetch_add(sig.value, Ordering::SeqCst),
        };
        self.node.wake(pe, sig.off, 8);
        Ok(())
    }
}

/// The address of `pe`'s bytes `off..off+len`, checked against the peer's mapping.
pub(crate) fn resolve(
    node: &NodeSegments,
    what: &'static str,
    pe: Pe,
    off: HeapOffset,
    len: u64,
) -> Result<NonNull<u8>, SdmaError> {
    let seg = node.peer(pe).ok_or(SdmaError::NotOnNode { pe })?;
    seg.span(off.0, len).map_err(|_| SdmaError::OutOfBounds { what, pe, off, len, seg_len: seg.len() })
}

/// What the engine itself checks before it accepts a transfer to `pe`: that `pe` is mapped here (only the
/// engine knows its reach; the conformance suite calls engines with unreachable PEs). That the data range and
/// the signal word lie inside the segment, the word 8-byte aligned, is the facade's part of the trait's
/// contract: debug builds assert it here; release builds still bounds-check where an address is formed
/// ([`resolve`], [`signal_word`]), so a broken contract is an error, never a stray write.
pub(crate) fn check_target(
    node: &NodeSegments,
    pe: Pe,
    off: HeapOffset,
    len: u64,
    signal: Option<HeapOffset>,
) -> Result<(), SdmaError> {
    let seg = node.peer(pe).ok_or(SdmaError::NotOnNode { pe })?;
    debug_assert!(seg.span(off.0, len).is_ok(), "the facade checks the data range ({pe}, {off}, {len} B)");
    if let Some(s) = signal {
        debug_assert!(
            seg.span(s.0, 8).is_ok() && s.0.is_multiple_of(8),
            "the facade checks the signal word ({pe}, {s})"
        );
    }
    Ok(())
}

/// `pe`'s 64-bit signal word at `off`, checked for bounds; its alignment is the facade's (asserted in debug).
pub(crate) fn signal_word(node: &NodeSegments, pe: Pe, off: HeapOffset) -> Result<&AtomicU64, SdmaError> {
    let p = resolve(node, "signal", pe, off, 8)?;
    // Segments are page-aligned, so the offset's alignment is the address's.
    debug_assert!(off.0.is_multiple_of(8), "the facade checks signal alignment ({pe}, {off})");
    // SAFETY: `p` has 8 in-bounds bytes of a mapping that lives as long as `node`, and is 8-aligned by the
    // trait's contract (the facade checks signal offsets' alignment; `put` is an unsafe fn that relies on it);
    // signal words are accessed only atomically by the runtime.
    Ok(unsafe { AtomicU64::from_ptr(p.as_ptr().cast()) })
}

/// Marks the channel dead if its worker unwinds, and wakes every waiter so that none waits for it forever.
struct DeadOnPanic<'a> {
    shared: &'a Shared,
    index: usize,
}

impl Drop for DeadOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            tracing::error!("sdma channel {} died; its queued work will not run", self.index);
            // Release: pairs with `is_dead`'s Acquire.
            self.shared.channels[self.index].dead.store(true, Ordering::Release);
            self.shared.completions.wake_all();
        }
    }
}

/// The body of channel `index`'s worker thread. Returns when the engine shuts down and the ring is empty.
pub(crate) fn run(shared: Arc<Shared>, index: usize, mut rx: Receiver<Descriptor>) {
    let _guard = DeadOnPanic { shared: &shared, index };
    batch_policy();
    let ch = &shared.channels[index];
    let mut executed = 0u64;
    loop {
        while let Some(d) = rx.pop() {
            for j in 1..=d.kick_next {
                shared.channels[(index + j) % shared.channels.len()].kick();
            }
            let weight = cost(d.len);
            shared.execute(d);
            ch.queued.fetch_sub(weight, Ordering::Relaxed);
            executed += 1;
            // Release: publishes the copy (and signal) just executed to whoever loads `done` with Acquire.
            ch.done.store(executed, Ordering::Release);
            shared.completions.notify();
        }
        if poll(&rx, shared.idle_spin) {
            continue;
        }
        // Acquire: pairs with the Release store in the engine's Drop, so every push made before the engine
        // began to drop is visible to the last look below.
        if shared.shutdown.load(Ordering::Acquire) {
            if rx.is_ready() {
                continue;
            }
            return;
        }
        ch.sleeping.store(true, Ordering::Relaxed);
        // SeqCst fence: orders `sleeping = true` before the last look at the ring (module docs).
        fence(Ordering::SeqCst);
        if !rx.is_ready() && !shared.shutdown.load(Ordering::Acquire) {
            std::thread::park();
        }
        ch.sleeping.store(false, Ordering::Relaxed);
    }
}

/// Puts the calling worker thread under SCHED_BATCH: like a DMA engine, it should not take the core from the
/// PE's own thread when it is woken on a busy core (a batch thread does not preempt on wake-up); on an idle
/// core it starts as fast as any thread. Best effort: a failure only costs that courtesy.
fn batch_policy() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pid 0 names the calling thread; `param` is a valid sched_param that outlives the call.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
    if rc != 0 {
        tracing::debug!("sdma: SCHED_BATCH not applied: {}", std::io::Error::last_os_error());
    }
}

/// Polls the ring for up to `spin`; true when a descriptor is ready. A short busy spin catches work that
/// follows at once; after it the worker yields between looks, so that on a machine with fewer free cores than
/// threads it hands the core to the issuer (or anyone) instead of burning its time slice.
fn poll(rx: &Receiver<Descriptor>, spin: Duration) -> bool {
    for _ in 0..128 {
        if rx.is_ready() {
            return true;
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    while start.elapsed() < spin {
        std::thread::yield_now();
        if rx.is_ready() {
            return true;
        }
    }
    false
}
