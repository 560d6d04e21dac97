//! A bounded, lock-free, multi-producer single-consumer ring: the descriptor queue of one channel.
//!
//! This is D. Vyukov's bounded queue (the design of crossbeam's `ArrayQueue`) with the consumer side cut
//! down to one thread. Every slot carries a *stamp* that says whose turn it is:
//!
//! ```text
//!  position p lives in slot p % cap
//!  stamp == p      the slot is free; the producer that claims position p may write it
//!  stamp == p + 1  the slot holds the value pushed at position p; the consumer may read it
//!  stamp == p + cap  after the consumer read position p: free for position p + cap (the next lap)
//! ```
//!
//! Producers claim a position by advancing `tail` with a compare-and-swap, write the value, then publish it
//! by storing `stamp = p + 1` with `Release`. The single consumer ([`Receiver`]) reads the slot at `head`
//! once its stamp says it is full (`Acquire`), then frees it for the next lap (`Release`). Positions are
//! unwrapped `u64`s: at one push per nanosecond they would wrap after 584 years, so wrap-around is not
//! handled beyond using wrapping arithmetic for the stamp comparison.
//!
//! Why MPSC and not SPSC: any thread of the PE may issue through the engine (the engine is `Sync`), but each
//! channel has exactly one worker. The single consumer is enforced by the types: [`Receiver`] is the only
//! way to pop, and there is exactly one per ring (it is neither `Clone` nor `Sync`).
//!
//! Miri runs the unit tests below: `cargo +nightly miri test -p transport-sdma --lib ring` (needs the
//! `miri` component of a nightly toolchain; the tests keep their sizes small for it).

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One cell of the ring.
struct Slot<T> {
    /// Whose turn it is (see the module docs): `p` free for position `p`, `p + 1` full with the value of
    /// position `p`. Only ever increases.
    stamp: AtomicU64,
    /// The value. Initialized exactly when `stamp == p + 1` for the position `p` this slot holds.
    value: UnsafeCell<MaybeUninit<T>>,
}

/// The shared part of a ring: the slots and the two positions.
pub(crate) struct Ring<T> {
    /// The next position a producer will claim. Positions below it are claimed (some may still be being
    /// written). Advanced only by a successful compare-and-swap in [`Ring::push`]; never decreases.
    tail: CachePadded<AtomicU64>,
    /// The next position the consumer will read. Positions below it have been read out. Written only by the
    /// [`Receiver`]; others read it to tell whether the ring has room.
    head: CachePadded<AtomicU64>,
    /// `cap` slots, `cap` a power of two >= 2.
    slots: Box<[Slot<T>]>,
    /// `cap - 1`: position `p` lives in `slots[p & mask]`.
    mask: u64,
}

// SAFETY: the ring hands each value from exactly one producer thread to the one consumer thread (the stamp
// protocol gives each slot a single owner at a time), so it is Send/Sync whenever the values may be sent
// between threads.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: see Send; shared access only ever touches a slot's value while owning it by the stamp protocol.
unsafe impl<T: Send> Sync for Ring<T> {}

/// The consuming end of a ring: exactly one per ring, owned by the channel's worker thread.
pub(crate) struct Receiver<T> {
    ring: Arc<Ring<T>>,
    /// Private copy of `ring.head` (the consumer is its only writer, so it never needs to load it).
    head: u64,
}

/// Creates a ring of `cap` slots (a power of two, at least 2) and its single receiver.
pub(crate) fn ring<T>(cap: usize) -> (Arc<Ring<T>>, Receiver<T>) {
    assert!(cap >= 2 && cap.is_power_of_two(), "ring capacity {cap} must be a power of two >= 2 (config validates)");
    let slots = (0..cap as u64)
        .map(|p| Slot { stamp: AtomicU64::new(p), value: UnsafeCell::new(MaybeUninit::uninit()) })
        .collect();
    let ring = Arc::new(Ring {
        tail: CachePadded::new(AtomicU64::new(0)),
        head: CachePadded::new(AtomicU64::new(0)),
        slots,
        mask: cap as u64 - 1,
    });
    (ring.clone(), Receiver { ring, head: 0 })
}

impl<T> Ring<T> {
    /// Number of slots.
    pub(crate) fn capacity(&self) -> u64 {
        self.mask + 1
    }

    fn slot(&self, pos: u64) -> &Slot<T> {
        let index = (pos & self.mask) as usize;
        debug_assert!(index < self.slots.len());
        &self.slots[index]
    }

    /// Appends `value`; returns its position, or gives the value back when the ring is full. Any thread.
    ///
    /// "Full" may be reported while the consumer is just freeing the slot; callers retry.
    pub(crate) fn push(&self, value: T) -> Result<u64, T> {
        // Relaxed: this is only a first guess; the stamp load below validates it.
        let mut pos = self.tail.load(Ordering::Relaxed);
        loop {
            let slot = self.slot(pos);
            // Acquire: pairs with the consumer's Release store of `pos` into this stamp after it read the
            // previous lap's value out, so our write below cannot race with that read.
            let stamp = slot.stamp.load(Ordering::Acquire);
            let ahead = stamp.wrapping_sub(pos) as i64;
            if ahead == 0 {
                // The slot is free for `pos`: claim the position. Relaxed is enough: the CAS only decides which
                // producer owns `pos`; the value is published by the stamp store, not by `tail`.
                match self.tail.compare_exchange_weak(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed) {
                    Ok(_) => {
                        // SAFETY: winning the CAS for `pos` while the stamp was `pos` makes this thread the
                        // slot's only owner until it publishes `pos + 1`: other producers now claim later
                        // positions, and the consumer waits for the stamp `pos + 1`.
                        unsafe { slot.value.get().write(MaybeUninit::new(value)) };
                        // Release: the value written above is visible to the consumer that loads this stamp
                        // with Acquire.
                        slot.stamp.store(pos + 1, Ordering::Release);
                        return Ok(pos);
                    }
                    Err(current) => pos = current,
                }
            } else if ahead < 0 {
                // The slot still holds the value of `pos - cap`: the consumer is a whole lap behind.
                return Err(value);
            } else {
                // Another producer already claimed `pos`; our guess was stale.
                pos = self.tail.load(Ordering::Relaxed);
            }
        }
    }

    /// Positions claimed so far: every push that happens-before this call (in this thread or another) got a
    /// position below the value returned.
    pub(crate) fn claimed(&self) -> u64 {
        // Relaxed: read-read and write-read coherence already guarantee that a load sees every tail update
        // that happens-before it; nothing else is read through this value (callers then wait on `done`
        // counters with Acquire).
        self.tail.load(Ordering::Relaxed)
    }

    /// Whether a push would find the ring full now (racy hint for back-pressure waits).
    pub(crate) fn is_full(&self) -> bool {
        let head = self.head.load(Ordering::Acquire);
        self.tail.load(Ordering::Relaxed).wrapping_sub(head) >= self.capacity()
    }
}

impl<T> Receiver<T> {
    /// Removes the oldest value, or `None` when the next position is not published yet.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let pos = self.head;
        let slot = self.ring.slot(pos);
        // Acquire: pairs with the producer's Release store of `pos + 1`, making its write of the value
        // visible before the read below.
        if slot.stamp.load(Ordering::Acquire) != pos + 1 {
            return None;
        }
        // SAFETY: the stamp `pos + 1` says the slot holds the initialized value of position `pos`, and this
        // Receiver is the ring's only consumer, so nobody else reads or frees it. Reading moves it out; the
        // stamp store below marks the slot free so it is never read (or dropped) again.
        let value = unsafe { slot.value.get().read().assume_init() };
        // Release: our read above happens-before the write of the producer of `pos + cap`, which loads this
        // stamp with Acquire.
        slot.stamp.store(pos + self.ring.capacity(), Ordering::Release);
        self.head = pos + 1;
        // Release: producers that see the new head (`is_full`) see the freed slot too.
        self.ring.head.store(pos + 1, Ordering::Release);
        Some(value)
    }

    /// Whether the next value is published (the worker's last look before it sleeps).
    pub(crate) fn is_ready(&self) -> bool {
        // Acquire: as in pop; a `true` here is followed by a pop that must see the value.
        self.ring.slot(self.head).stamp.load(Ordering::Acquire) == self.head + 1
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // `&mut self`: every producer and the receiver are gone, so every claimed position has been written.
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
        for pos in head..tail {
            let slot = self.slot(pos);
            debug_assert_eq!(slot.stamp.load(Ordering::Relaxed), pos + 1);
            // SAFETY: positions head..tail were pushed (their stamps are pos + 1) and never popped, so each
            // slot holds an initialized value that nobody else can reach any more; each is dropped once.
            unsafe { (*slot.value.get()).assume_init_drop() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn fifo_and_full() {
        let (tx, mut rx) = ring::<u32>(4);
        assert_eq!(rx.pop(), None);
        for i in 0..4 {
            assert_eq!(tx.push(i), Ok(i as u64));
        }
        assert!(tx.is_full());
        assert_eq!(tx.push(9), Err(9));
        assert!(rx.is_ready());
        assert_eq!(rx.pop(), Some(0));
        assert_eq!(tx.push(4), Ok(4));
        for i in 1..5 {
            assert_eq!(rx.pop(), Some(i));
        }
        assert_eq!(rx.pop(), None);
        assert!(!rx.is_ready());
        assert_eq!(tx.claimed(), 5);
    }

    /// Values still queued when the ring goes away are dropped exactly once.
    #[test]
    fn drops_leftovers() {
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let drops = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = ring(4);
        for _ in 0..3 {
            assert!(tx.push(Counted(drops.clone())).is_ok());
        }
        drop(rx.pop());
        assert_eq!(drops.load(Ordering::Relaxed), 1);
        drop(rx);
        drop(tx);
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    }

    /// Several producers, one consumer: every value arrives once, and each producer's values in order.
    #[test]
    fn mpsc_stress() {
        const PRODUCERS: u64 = 3;
        let per: u64 = if cfg!(miri) { 50 } else { 20_000 };
        let (tx, mut rx) = ring::<u64>(8);
        std::thread::scope(|s| {
            for id in 0..PRODUCERS {
                let tx = &tx;
                s.spawn(move || {
                    for i in 0..per {
                        let mut v = id << 32 | i;
                        while let Err(back) = tx.push(v) {
                            v = back;
                            std::thread::yield_now();
                        }
                    }
                });
            }
            let mut next = [0u64; PRODUCERS as usize];
            let mut got = 0;
            while got < PRODUCERS * per {
                match rx.pop() {
                    Some(v) => {
                        let (id, i) = ((v >> 32) as usize, v & 0xffff_ffff);
                        assert_eq!(i, next[id], "producer {id} out of order");
                        next[id] += 1;
                        got += 1;
                    }
                    None => std::thread::yield_now(),
                }
            }
        });
        assert_eq!(rx.pop(), None);
        assert_eq!(tx.claimed(), PRODUCERS * per);
    }
}
