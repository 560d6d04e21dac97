//! Global/static variables as the `dest`, `source`, `pSync` and `pWrk` of collectives (see [`crate::statics`]).
//!
//! The facade's collectives meet and move data in the symmetric heap, and old programs pass globals
//! (`static long pSync[SHMEM_BCAST_SYNC_SIZE]; static int dst[N];`). An active-set or team collective cannot
//! allocate heap memory (`shmem_malloc` is collective over the world), so `shmem_init` allocates a scratch
//! area once, collectively ([`allocate`]), and the C layer substitutes it:
//! - **`pSync`** in static memory: a heap slot of [`SLOTS`], picked by the variable's offset in the static
//!   region (the same on every PE, so every member meets on the same slot). The slots start at
//!   `SHMEM_SYNC_VALUE` and the facade puts every word back after each call, as with a heap `pSync`. Two
//!   distinct static `pSync` arrays may share a slot; that is sound for every use the spec allows of one array
//!   (calls of one set in sequence, disjoint sets at the same time, since a set's words live on its members).
//! - **`pWrk`** in static memory: the facade only checks it is symmetric (it folds into private buffers), so the
//!   scratch's address stands in for it.
//! - **`dest`/`source`** in static memory: bounced. The source is copied into the scratch, the facade's
//!   collective runs on scratch addresses, and the result is copied to the static `dest` on return (a member's
//!   `dest` is complete then, and nobody reads its `source` any more: the spec's return semantics, which also
//!   make the next call's reuse of the scratch safe). A symmetric variable is static on every PE or on none,
//!   so every member takes the same path. Data larger than the scratch is NOT_SUPPORTED (naming
//!   `shmem_malloc`), on every member alike (the sizes are the same on every member; `collect` learns the
//!   total first).
//!
//! Zero-length collectives on null `dest`/`source` meet on the scratch's address too (SOS's `nop_collectives`
//! passes `NULL, NULL, 0`; zero-length RMA already accepts any address).
//!
//! The data area is one per process, so its uses (a bounce from [`Bounce::new`] to [`Bounce::finish`], a count
//! exchange of [`counts_area`]) hold [`DATA_IN_USE`] throughout: two threads of a `SHMEM_THREAD_MULTIPLE`
//! program never bounce through it at once. (Collectives are one thread per PE at a time, as the spec says, so
//! in a correct program the lock is never contended; a program that runs static-argument collectives of
//! different teams from two threads at once is serialized here rather than mixing their data.)
//!
//! The scratch is [`SLOTS`] `pSync` slots plus a data area of `SHMEM_STATICS_SCRATCH` bytes (default 1 MiB,
//! at most 1/16 of the heap); a heap too small for it leaves static `dest`/`source`/`pSync` NOT_SUPPORTED.

use shmem_core::{Error, Result};
use std::sync::{Mutex, MutexGuard};

/// `pSync` slots in the scratch.
pub(crate) const SLOTS: usize = 64;
/// Bytes of one slot: `SHMEM_*_SYNC_SIZE` longs.
const SLOT_BYTES: usize = 32 * 8;
/// The environment variable that sizes the data area (bytes).
pub const SCRATCH_VAR: &str = "SHMEM_STATICS_SCRATCH";
/// Default data area.
const DEFAULT_DATA: usize = 1 << 20;

/// The scratch of this initialization: heap address of the slots, of the data area, its length.
#[derive(Clone, Copy, Debug)]
struct Scratch {
    slots: usize,
    data: usize,
    data_len: usize,
}

static SCRATCH: Mutex<Option<Scratch>> = Mutex::new(None);

/// Held for each whole use of the scratch's data area (see the module's doc).
static DATA_IN_USE: Mutex<()> = Mutex::new(());

/// Waits for the scratch's data area to be free and holds it until the guard is dropped.
fn hold_data() -> MutexGuard<'static, ()> {
    DATA_IN_USE.lock().unwrap_or_else(|e| e.into_inner())
}

fn scratch() -> Result<Scratch> {
    SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).ok_or_else(|| {
        Error::NotSupported(
            "global/static variables in collectives need the library's scratch area, which did not fit the \
             symmetric heap; allocate dest/source/pSync with shmem_malloc instead"
                .into(),
        )
    })
}

/// At `shmem_init`, after the facade's init (collective over the world, so the same on every PE): allocates
/// the zeroed scratch. A heap too small leaves none (static arguments of collectives then fail).
pub(crate) fn allocate(heap: u64) {
    let want = std::env::var(SCRATCH_VAR).ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(DEFAULT_DATA);
    let data_len = want.min((heap / 16) as usize) & !63;
    let total = SLOTS * SLOT_BYTES + data_len;
    let s = match shmem::api::calloc(1, total as u64) {
        Ok(Some(base)) => Some(Scratch { slots: base, data: base + SLOTS * SLOT_BYTES, data_len }),
        _ => None,
    };
    *SCRATCH.lock().unwrap_or_else(|e| e.into_inner()) = s;
}

/// This PE's number.
fn me() -> Result<i64> {
    Ok(i64::from(shmem::api::my_pe()?))
}

/// Checks that `len` bytes at the static `addr` are this PE's static data.
fn check_local(addr: usize, len: usize) -> Result<*mut u8> {
    crate::statics::lookup(addr, len.max(1), me()?).expect("a static address")
}

/// The `pSync` to give the facade: `psync` itself, or the heap slot of a static one.
pub(crate) fn psync(psync: usize) -> Result<usize> {
    if !crate::statics::contains(psync) {
        return Ok(psync);
    }
    check_local(psync, SLOT_BYTES)?;
    let s = scratch()?;
    // 8-byte words: the offset's word index spread over the slots (arrays are usually adjacent globals).
    let word = crate::statics::offset(psync) / 8;
    let slot = (word ^ (word >> 6) ^ (word >> 12)) % SLOTS;
    Ok(s.slots + slot * SLOT_BYTES)
}

/// The `pWrk` to give the facade: `pwrk`, or a heap address for a static one.
pub(crate) fn pwrk(pwrk: usize) -> Result<usize> {
    if !crate::statics::contains(pwrk) {
        return Ok(pwrk);
    }
    check_local(pwrk, 8)?;
    Ok(scratch()?.data)
}

/// A symmetric address that stands for a static one in a zero-length meeting (checked symmetric only), or for
/// a null one when the call moves no elements (`nelems == 0`).
pub(crate) fn stand_in(addr: usize, nelems: usize) -> Result<usize> {
    let null_and_empty = addr == 0 && nelems == 0;
    if !crate::statics::contains(addr) && !null_and_empty {
        return Ok(addr);
    }
    Ok(scratch()?.data)
}

/// A collective's `dest`/`source` as the facade sees them; [`Bounce::finish`] copies the result back.
#[derive(Debug)]
pub(crate) struct Bounce {
    /// The `dest` to give the facade.
    pub(crate) d: usize,
    /// The `source` to give the facade.
    pub(crate) s: usize,
    /// The static `dest`, its scratch copy and length, when `dest` is static.
    out: Option<(*mut u8, *const u8, usize)>,
    /// The scratch's data area, held until [`Bounce::finish`] when it is used.
    _held: Option<MutexGuard<'static, ()>>,
}

impl Bounce {
    /// Prepares `dest` (`dest_len` bytes written on this PE) and `source` (`src_len` bytes read): a static
    /// one is replaced by the scratch (the source's bytes copied there). `Err` when a static range is not
    /// this PE's static data or the data does not fit the scratch.
    pub(crate) fn new(dest: usize, dest_len: Option<usize>, source: usize, src_len: Option<usize>) -> Result<Bounce> {
        let (ds, ss) = (crate::statics::contains(dest), crate::statics::contains(source));
        if !ds && !ss {
            // A collective that moves no bytes to or from a null pointer (`shmem_broadcast32(NULL, NULL, 0,
            // ...)`): the members still meet, on the scratch's address, as zero-length RMA accepts any address.
            let (nd, ns) = (dest == 0 && dest_len == Some(0), source == 0 && src_len == Some(0));
            let stand = if nd || ns { SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).map(|s| s.data) } else { None };
            let pick = |null: bool, addr: usize| if null { stand.unwrap_or(addr) } else { addr };
            return Ok(Bounce { d: pick(nd, dest), s: pick(ns, source), out: None, _held: None });
        }
        let too_big = || Error::invalid("the collective's size overflows");
        let (dest_len, src_len) = (dest_len.ok_or_else(too_big)?, src_len.ok_or_else(too_big)?);
        let held = hold_data();
        let sc = scratch()?;
        // The bounced `dest` first, then the source: `dest_len` is the same on every member (a collect's is the
        // agreed total) while `src_len` may not be (a collect's `nelems`), and the network algorithms put each
        // block at the sender's own offset of `dest`, so `dest` must start at the same heap offset everywhere.
        let dest_room = if ds { dest_len.checked_next_multiple_of(64).ok_or_else(too_big)? } else { 0 };
        let need = dest_room.checked_add(if ss { src_len } else { 0 }).ok_or_else(too_big)?;
        if need > sc.data_len {
            return Err(Error::NotSupported(format!(
                "{need} bytes of global/static dest/source exceed the library's {}-byte scratch for them \
                 ({SCRATCH_VAR}); allocate them with shmem_malloc instead",
                sc.data_len
            )));
        }
        let mut b = Bounce { d: dest, s: source, out: None, _held: Some(held) };
        if ss {
            let from = check_local(source, src_len)?;
            // SAFETY: `from` is src_len bytes of this PE's static data; the scratch has room (checked above)
            // and is heap memory no other variable uses.
            unsafe { std::ptr::copy_nonoverlapping(from, (sc.data + dest_room) as *mut u8, src_len) };
            b.s = sc.data + dest_room;
        }
        if ds {
            let to = check_local(dest, dest_len)?;
            b.d = sc.data;
            b.out = Some((to, b.d as *const u8, dest_len));
        }
        Ok(b)
    }

    /// After the facade's collective succeeded: copies the result to the static `dest` (unless `skip`: the
    /// active-set broadcast's root, whose `dest` the spec leaves alone); then the scratch is free again.
    pub(crate) fn finish(self, r: Result<()>, skip: bool) -> Result<()> {
        r?;
        if let (Some((to, from, len)), false) = (self.out, skip) {
            // SAFETY: `to` is `len` bytes of this PE's static data (checked in `new`); `from` is the scratch.
            unsafe { std::ptr::copy_nonoverlapping(from, to, len) };
        }
        Ok(())
    }
}

/// Two heap areas of the scratch for a count exchange among `members`: (room for `members` words, one word),
/// and the scratch's data area held until the guard is dropped (after the counts are read).
pub(crate) fn counts_area(members: usize) -> Result<(usize, usize, MutexGuard<'static, ()>)> {
    let held = hold_data();
    let s = scratch()?;
    let need = members.checked_mul(8).and_then(|b| b.checked_add(64)).unwrap_or(usize::MAX);
    if need > s.data_len {
        return Err(Error::NotSupported(format!("{members} members exceed the library's scratch ({SCRATCH_VAR})")));
    }
    Ok((s.data + 64, s.data, held))
}
