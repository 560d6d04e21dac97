//! The executable's global and static variables (its `.data` and `.bss`) as a second symmetric region.
//!
//! OpenSHMEM C programs use globals as symmetric data (`static long pSync[...]; int dest; shmem_int_put(&dest,
//! ...)`), and most existing test suites and benchmarks rely on it. The runtime only knows the symmetric heap,
//! so this module makes those variables reachable from the PEs of the same node:
//!
//! 1. [`prepare`], at the start of `shmem_init` (the program is still single-threaded as far as the spec
//!    allows): the main executable's writable `PT_LOAD` segment minus its `PT_GNU_RELRO` part, page-aligned,
//!    is copied into a POSIX shared-memory object `/<SHMEM_SHM_PREFIX>-static-<pe>` (one page longer: a
//!    trailer says whose and which node's it is), which is then mapped `MAP_SHARED | MAP_FIXED` over the same
//!    addresses. The program's globals now live in shared memory, with their values.
//! 2. [`connect`], after the facade's init (whose last step is a barrier, so every object exists): every peer's
//!    object whose trailer names this node is mapped read-write; then one barrier, after which each PE unlinks
//!    its own object (nothing is left in `/dev/shm`, even if a PE is killed later; the launcher removes every
//!    object with the job's prefix anyway).
//!
//! A symmetric address in the region is `offset = addr - start` on every PE (the executables are the same; a
//! PIE may load at different addresses, the offset does not change). Data moves by CPU loads and stores on
//! the peer's mapping, which makes every such transfer complete on return (blocking and `_nbi` alike). A PE
//! of another node cannot be reached: the call ends the job with NOT_SUPPORTED, naming static/global
//! variables and suggesting `shmem_malloc`. Without the launcher (`SHMEM_SHM_PREFIX` unset), with one PE, or
//! with `SHMEM_SYMMETRIC_STATICS=0`, the region is local only: a PE reaches its own globals and no other's.

use crate::fatal::fatal;
use core::ffi::c_void;
use shmem_core::Error;
use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Start and end of the static region (`[START, END)`), 0 and 0 when there is none. Read on every RMA call
/// before the heap path, so they are two plain words.
static START: AtomicUsize = AtomicUsize::new(0);
static END: AtomicUsize = AtomicUsize::new(0);

/// `PEERS[pe]`: where `pe`'s region is mapped in this process (this PE's own: `START`), 0 when unreachable.
static PEERS: OnceLock<Vec<usize>> = OnceLock::new();

/// What [`prepare`] did, for [`connect`].
static PREPARED: Mutex<Option<Prepared>> = Mutex::new(None);

/// The environment variable that turns the sharing off (`0`): globals then stay private to each PE.
pub const DISABLE_VAR: &str = "SHMEM_SYMMETRIC_STATICS";

/// Marks a trailer written by this module ("shmemstc").
const MAGIC: u64 = u64::from_le_bytes(*b"shmemstc");
/// Bytes of the trailer page that may hold the node id.
const NODE_ID_MAX: usize = 3072;

#[derive(Debug)]
struct Prepared {
    /// This PE (the launcher's `SHMEM_PE`), whose object this process created.
    pe: u32,
    /// The job's object-name prefix; `None` when the region is local only.
    prefix: Option<String>,
    /// Whether this PE's object exists and is mapped over the region.
    shared: bool,
}

/// The page size.
fn page() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// The object name of `pe`'s region in the job with `prefix`.
fn object_name(prefix: &str, pe: u32) -> CString {
    CString::new(format!("/{prefix}-static-{pe}")).expect("the prefix has no NUL (checked by the launcher env)")
}

/// Whether `addr` is in the static region: the one check the RMA paths make before their heap path.
#[inline]
pub(crate) fn contains(addr: usize) -> bool {
    addr < END.load(Ordering::Relaxed) && addr >= START.load(Ordering::Relaxed)
}

/// `addr`'s offset in the static region: the same on every PE for the same variable (a PIE may load at
/// different addresses). Meaningful only when [`contains`]`(addr)`.
#[inline]
pub(crate) fn offset(addr: usize) -> usize {
    addr.wrapping_sub(START.load(Ordering::Relaxed))
}

/// The executable's writable data as `[start, end)`, page-aligned, without its RELRO part; `None` when the
/// program has none (or the loader gives no program headers).
fn find_region() -> Option<(usize, usize)> {
    #[derive(Default)]
    struct Found {
        /// The writable PT_LOAD segment with the highest address: (start, end) after the load bias.
        rw: Option<(usize, usize)>,
        /// The end of PT_GNU_RELRO (0 when none).
        relro_end: usize,
    }
    unsafe extern "C" fn first_object(info: *mut libc::dl_phdr_info, _size: usize, data: *mut c_void) -> i32 {
        // SAFETY: dl_iterate_phdr passes a valid info for the duration of the callback and `data` is the
        // `Found` given below; the first object it reports is the main program.
        let (info, found) = unsafe { (&*info, &mut *data.cast::<Found>()) };
        let bias = info.dlpi_addr as usize;
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: dlpi_phdr points to dlpi_phnum program headers.
            let ph = unsafe { &*info.dlpi_phdr.add(i) };
            let start = bias.wrapping_add(ph.p_vaddr as usize);
            let end = start.wrapping_add(ph.p_memsz as usize);
            if ph.p_type == libc::PT_LOAD && ph.p_flags & libc::PF_W != 0 {
                if found.rw.is_none_or(|(s, _)| start > s) {
                    found.rw = Some((start, end));
                }
            } else if ph.p_type == libc::PT_GNU_RELRO {
                found.relro_end = end;
            }
        }
        1 // stop after the main program
    }
    let mut found = Found::default();
    // SAFETY: the callback only reads the headers and writes `found`, which outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(first_object), (&mut found as *mut Found).cast()) };
    let (start, end) = found.rw?;
    let page = page();
    // RELRO is read-only after relocation: start after it (it ends on a page boundary with GNU ld and lld).
    let start = start.max(found.relro_end) & !(page - 1);
    let end = end.checked_add(page - 1)? & !(page - 1);
    (end > start).then_some((start, end))
}

/// The reason the region stays local, or the launcher's prefix, this PE and the job size.
fn sharing_env() -> Result<(String, u32), String> {
    if std::env::var(DISABLE_VAR).is_ok_and(|v| v == "0") {
        return Err(format!("{DISABLE_VAR}=0"));
    }
    let var = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set (start the program with oshrun)"));
    let prefix = var(shmem_core::launch_env::vars::SHM_PREFIX)?;
    if prefix.is_empty() || prefix.contains('/') || prefix.contains('\0') {
        return Err(format!("SHMEM_SHM_PREFIX {prefix:?} is not a usable name"));
    }
    let pe: u32 = var("SHMEM_PE")?.parse().map_err(|_| "SHMEM_PE is not a number".to_string())?;
    let n: u32 = var("SHMEM_N_PES")?.parse().map_err(|_| "SHMEM_N_PES is not a number".to_string())?;
    if n < 2 {
        return Err("one PE".into());
    }
    Ok((prefix, pe))
}

/// The trailer page that follows the region in the object: magic, region length, node id.
fn trailer(len: usize) -> Vec<u8> {
    let node = shmem_core::heap::node_id(&shmem_core::Settings::from_env());
    let node = &node.as_bytes()[..node.len().min(NODE_ID_MAX)];
    let mut t = Vec::with_capacity(24 + node.len());
    t.extend_from_slice(&MAGIC.to_le_bytes());
    t.extend_from_slice(&(len as u64).to_le_bytes());
    t.extend_from_slice(&(node.len() as u64).to_le_bytes());
    t.extend_from_slice(node);
    t
}

/// Writes all of `buf` at `off` of `fd`.
fn pwrite_all(fd: i32, mut buf: &[u8], mut off: usize) -> std::io::Result<()> {
    while !buf.is_empty() {
        // SAFETY: `buf` is readable for its length.
        let n = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off as libc::off_t) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::WriteZero, "short write to the shared object"));
        }
        buf = &buf[n as usize..];
        off += n as usize;
    }
    Ok(())
}

/// Writes the pages of `bytes` that are not all zero to `fd` at the same offsets (runs of them in one write).
/// The object is zero after `ftruncate`, so a large `.bss` costs neither copying nor shared memory until the
/// program touches it.
fn copy_nonzero_pages(fd: i32, bytes: &[u8], page: usize) -> std::io::Result<()> {
    let zero = |p: &[u8]| p.chunks(16).all(|c| c.iter().fold(0u8, |a, &b| a | b) == 0);
    let mut run: Option<usize> = None; // start of the current run of non-zero pages
    for (i, p) in bytes.chunks(page).enumerate() {
        match (zero(p), run) {
            (false, None) => run = Some(i * page),
            (true, Some(r)) => {
                pwrite_all(fd, &bytes[r..i * page], r)?;
                run = None;
            }
            _ => {}
        }
    }
    if let Some(r) = run {
        pwrite_all(fd, &bytes[r..], r)?;
    }
    Ok(())
}

/// Creates this PE's object with the region's current bytes and maps it over the region.
///
/// # Safety
/// No other thread may write the region meanwhile (the spec asks `shmem_init` to come first).
unsafe fn share_region(name: &CString, start: usize, len: usize) -> std::io::Result<()> {
    let err = std::io::Error::last_os_error;
    // SAFETY: `name` is a NUL-terminated string.
    let fd = unsafe { libc::shm_open(name.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600) };
    if fd < 0 {
        return Err(err());
    }
    let page = page();
    let result = (|| {
        // SAFETY: fd is an open object of ours.
        if unsafe { libc::ftruncate(fd, (len + page) as libc::off_t) } != 0 {
            return Err(err());
        }
        // SAFETY: [start, start + len) is the program's mapped, readable data segment.
        let bytes = unsafe { std::slice::from_raw_parts(start as *const u8, len) };
        copy_nonzero_pages(fd, bytes, page)?;
        pwrite_all(fd, &trailer(len), len)?;
        // SAFETY: MAP_FIXED replaces exactly the program's writable data pages, whose bytes the object now
        // holds; nothing of this library lives there, and no other thread writes there (the caller's contract).
        let p = unsafe {
            libc::mmap(
                start as *mut c_void,
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_FIXED,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(err());
        }
        Ok(())
    })();
    // SAFETY: fd is ours; the mapping keeps the object alive.
    unsafe { libc::close(fd) };
    if result.is_err() {
        // SAFETY: `name` is NUL-terminated; the object is ours and no peer has opened it yet.
        unsafe { libc::shm_unlink(name.as_ptr()) };
    }
    result
}

/// Step 1, before the facade's init: finds the region and, under the launcher with several PEs, moves it into
/// shared memory. Runs once per process; a failure leaves the region local (with a warning on stderr).
pub(crate) fn prepare() {
    let mut prepared = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    if prepared.is_some() || END.load(Ordering::Relaxed) != 0 {
        return;
    }
    let Some((start, end)) = find_region() else {
        *prepared = Some(Prepared { pe: 0, prefix: None, shared: false });
        return;
    };
    let (prefix, pe, shared) = match sharing_env() {
        Ok((prefix, pe)) => {
            let name = object_name(&prefix, pe);
            // SAFETY: shmem_init runs before the program starts threads that write globals (spec order).
            match unsafe { share_region(&name, start, end - start) } {
                Ok(()) => (Some(prefix), pe, true),
                Err(e) => {
                    eprintln!("shmem: PE {pe}: static/global variables stay private to each PE: {e}");
                    (Some(prefix), pe, false)
                }
            }
        }
        Err(_) => (None, 0, false),
    };
    START.store(start, Ordering::Relaxed);
    END.store(end, Ordering::Release);
    *prepared = Some(Prepared { pe, prefix, shared });
}

/// Maps `pe`'s object when it exists, is ours, and its trailer names this node and this region's length.
fn map_peer(prefix: &str, pe: u32, len: usize, node: &[u8]) -> Option<usize> {
    let name = object_name(prefix, pe);
    // SAFETY: `name` is NUL-terminated.
    let fd = unsafe { libc::shm_open(name.as_ptr(), libc::O_RDWR, 0) };
    if fd < 0 {
        return None; // another node's PE, or one whose sharing failed
    }
    let page = page();
    let mapped = (|| {
        // SAFETY: an all-zero stat is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        // SAFETY: fd is open, `st` writable.
        if unsafe { libc::fstat(fd, &mut st) } != 0 || st.st_uid != uid {
            return None;
        }
        if st.st_size as u64 != (len + page) as u64 {
            return None;
        }
        let mut t = vec![0u8; 24 + NODE_ID_MAX];
        // SAFETY: `t` is writable for its length.
        let n = unsafe { libc::pread(fd, t.as_mut_ptr().cast(), t.len(), len as libc::off_t) };
        if n < 24 {
            return None;
        }
        let word = |i: usize| u64::from_le_bytes(t[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let node_len = word(2) as usize;
        if word(0) != MAGIC || word(1) != len as u64 || node_len > NODE_ID_MAX || 24 + node_len > n as usize {
            return None;
        }
        if &t[24..24 + node_len] != node {
            return None; // the same name on another node's /dev/shm cannot be ours; a different node id is
                         // another node as the runtime sees it (SHMEM_NODE_ID)
        }
        // SAFETY: a fresh shared mapping of the object, at an address the kernel picks.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0)
        };
        (p != libc::MAP_FAILED).then_some(p as usize)
    })();
    // SAFETY: fd is ours; the mapping (if any) keeps the object alive.
    unsafe { libc::close(fd) };
    mapped
}

/// Step 2, after the facade's init (every PE's object exists): maps the same node's peers, then, after a
/// barrier that every PE of a sharing job takes (the decision depends only on the launcher's environment),
/// unlinks this PE's object.
pub(crate) fn connect(func: &str, me: u32, n_pes: u32) {
    let prepared = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    let Some(p) = prepared.as_ref() else { return };
    let (start, end) = (START.load(Ordering::Relaxed), END.load(Ordering::Relaxed));
    let mut peers = vec![0usize; n_pes as usize];
    if let Some(me_slot) = peers.get_mut(me as usize) {
        *me_slot = start;
    }
    if let Some(prefix) = &p.prefix {
        if p.pe != me {
            eprintln!("shmem: PE {me}: SHMEM_PE says {}; static/global variables stay private", p.pe);
        } else if p.shared {
            let node = trailer(0)[24..].to_vec();
            for pe in (0..n_pes).filter(|&pe| pe != me) {
                peers[pe as usize] = map_peer(prefix, pe, end - start, &node).unwrap_or(0);
            }
        }
        // Every PE has mapped whatever it could: the names can go.
        if let Err(e) = shmem::api::barrier_all() {
            fatal(func, &e);
        }
        if p.shared {
            // SAFETY: the name is NUL-terminated; unlinking leaves every mapping intact.
            unsafe { libc::shm_unlink(object_name(prefix, p.pe).as_ptr()) };
        }
    }
    let _ = PEERS.set(peers);
}

/// Where `pe`'s copy of the static bytes `[addr, addr + len)` is in this process.
///
/// `None` when `addr` is not in the static region (the caller takes the heap path); `Some(Ok(ptr))` when
/// load/store reaches it; `Some(Err(_))` when it is in the region but cannot be reached: the range leaves the
/// region (INVALID_PARAM), `pe` is not a PE (INVALID_PARAM), the library is not initialized (NOT_INITED), or
/// `pe` is on another node or the region is local only (NOT_SUPPORTED).
#[inline]
pub(crate) fn lookup(addr: usize, len: usize, pe: i64) -> Option<Result<*mut u8, Error>> {
    if !contains(addr) {
        return None;
    }
    Some(lookup_static(addr, len, pe))
}

/// [`lookup`] for an address inside the static region (out of line: heap addresses never get here).
#[inline(never)]
fn lookup_static(addr: usize, len: usize, pe: i64) -> Result<*mut u8, Error> {
    let (start, end) = (START.load(Ordering::Relaxed), END.load(Ordering::Relaxed));
    let Some(peers) = PEERS.get().filter(|_| crate::setup::initialized()) else {
        return Err(Error::NotInited("call shmem_init first".into()));
    };
    if pe < 0 || pe as u64 >= peers.len() as u64 {
        return Err(Error::invalid(format!("PE {pe} is not in 0..{}", peers.len())));
    }
    if addr.checked_add(len).is_none_or(|e| e > end) {
        return Err(Error::invalid(format!(
            "{len} bytes at {addr:#x} run past the end of the static/global variables (not symmetric)"
        )));
    }
    match peers[pe as usize] {
        0 => Err(Error::NotSupported(format!(
            "static/global variables of PE {pe} are not reachable from this PE (another node, or the \
             program was not started with oshrun); allocate symmetric data with shmem_malloc instead"
        ))),
        base => Ok((base + (addr - start)) as *mut u8),
    }
}

/// `pe`'s copy of the static bytes `[addr, addr + len)` as an address of this process, for the C functions
/// that move data (`func` names the C function for the error message).
///
/// Returns `None` when `addr` is not a static/global variable: the caller then takes its heap path unchanged
/// (the check is two loads and two compares). Any other failure (see [`lookup`]) ends the job through
/// [`fatal`], as for a bad heap address. The address stays valid for the life of the process.
///
/// How the other families use it (the peer's word is in this process's memory, shared with the peer):
/// - AMOs: [`peer_word`]`(func, addr, size_of::<T>(), pe)` (it checks the alignment), then the CPU atomic of
///   `T`'s width on it (`AtomicU32`/`AtomicU64::from_ptr`, `SeqCst`) — the same instructions the same-node
///   engine uses on the heap, so both kinds of words are atomic alike.
/// - Waits and tests (`shmem_wait_until`, `shmem_signal_wait_until`, ...): the variable is local, so
///   [`peer_word`]`(func, ivar, size, my_pe)` gives the word to poll with an `Acquire` load and backoff; a
///   peer's put/AMO/signal reaches it through its own mapping.
/// - Collectives with a static source or destination (and the deprecated `pSync`/`pWrk` arrays, which are
///   usually globals): bounced through the scratch that `shmem_init` allocates (see [`crate::statics_coll`]).
/// - Locks: the facade's queue lock on the mapped words (see [`crate::lock`]).
#[inline]
pub(crate) fn peer_ptr(func: &str, addr: usize, len: usize, pe: i64) -> Option<*mut u8> {
    match lookup(addr, len, pe)? {
        Ok(p) => Some(p),
        Err(e) => fatal(func, &e),
    }
}

/// [`peer_ptr`] for one naturally aligned word of `size` bytes (an AMO's operand, a signal, a wait's ivar):
/// also ends the job with INVALID_PARAM when `addr` is not a multiple of `size`, so that the caller may use
/// `AtomicU32::from_ptr` / `AtomicU64::from_ptr` on the result.
pub(crate) fn peer_word(func: &str, addr: usize, size: usize, pe: i64) -> Option<*mut u8> {
    if !contains(addr) {
        return None;
    }
    if size == 0 || !addr.is_multiple_of(size) {
        fatal(func, &Error::invalid(format!("address {addr:#x} is not aligned to its {size}-byte type")));
    }
    peer_ptr(func, addr, size, pe)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the non-zero pages are written, at their offsets; the zero pages stay holes of the object.
    #[test]
    fn copies_only_nonzero_pages() {
        let page = page();
        let mut bytes = vec![0u8; 64 * page];
        bytes[0] = 1; // page 0
        bytes[3 * page + 17] = 2; // page 3
        bytes[4 * page] = 3; // page 4 (a run of two with page 3)
        bytes[64 * page - 1] = 4; // the last page
                                  // SAFETY: a NUL-terminated name; the memfd is closed below.
        let fd = unsafe { libc::memfd_create(c"statics-test".as_ptr(), 0) };
        assert!(fd >= 0);
        // SAFETY: fd is our memfd.
        assert_eq!(unsafe { libc::ftruncate(fd, bytes.len() as libc::off_t) }, 0);
        copy_nonzero_pages(fd, &bytes, page).unwrap();
        let mut back = vec![0xffu8; bytes.len()];
        // SAFETY: `back` is writable for its length.
        let n = unsafe { libc::pread(fd, back.as_mut_ptr().cast(), back.len(), 0) };
        assert_eq!(n as usize, bytes.len());
        assert!(back == bytes, "the object holds the same bytes");
        // SAFETY: an all-zero stat is valid to overwrite; fd is open.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
        // 4 written pages (512-byte blocks), not 64.
        assert!((st.st_blocks as usize) * 512 <= 4 * page, "{} blocks", st.st_blocks);
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    }

    /// Object names carry the job's prefix (so that the launcher's cleanup finds them) and the PE.
    #[test]
    fn object_names() {
        assert_eq!(object_name("shmem-12-abc", 3).to_str().unwrap(), "/shmem-12-abc-static-3");
    }
}
