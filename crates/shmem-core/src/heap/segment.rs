//! POSIX shared-memory segments: the memory behind each PE's symmetric heap.
//!
//! A PE creates its own segment (`shm_open` with `O_CREAT | O_EXCL`, mode 0600), sizes it and maps it; the
//! PEs of the same node open and map it by name. The name is unlinked as soon as every local peer has mapped
//! it, so that a crash afterwards cannot leak it: the memory lives exactly as long as some mapping does.
//!
//! A peer's segment is mapped only when it belongs to this user and has mode 0600: a segment that another user
//! planted under the expected name, or one that others could read or write, is refused.

use crate::error::{Error, Result};
use std::ffi::CString;
use std::io;
use std::ptr::NonNull;

/// One mapping of a shared-memory segment, owned or a peer's. Unmapped on drop.
#[derive(Debug)]
pub struct Segment {
    base: NonNull<u8>,
    len: usize,
    name: String,
    /// Whether this process created the name (and so is responsible for unlinking it).
    owner: bool,
    unlinked: bool,
}

// SAFETY: a Segment is a raw mapping; it hands out raw pointers only, and every access through them is
// made by callers that follow the runtime's synchronization rules. The mapping itself is process-wide.
unsafe impl Send for Segment {}
// SAFETY: see Send; `&Segment` exposes no interior mutability of its own fields.
unsafe impl Sync for Segment {}

fn cname(name: &str) -> Result<CString> {
    if !name.starts_with('/') || name[1..].contains('/') || name.len() > 250 {
        return Err(Error::invalid(format!("shared-memory name {name:?} must be /name without other slashes")));
    }
    CString::new(name).map_err(|_| Error::invalid(format!("shared-memory name {name:?} contains NUL")))
}

/// Every segment is mapped at an address that is a multiple of this, so that a heap offset aligned to any
/// power of two up to it gives an address aligned the same way (`align` accepts alignments up to it), and so
/// that the kernel may back the heap with 2 MiB pages (see `advise_huge_pages`).
pub const MAX_HEAP_ALIGN: usize = 1 << 30;

/// Maps `len` bytes of the object `fd` at a multiple of [`MAX_HEAP_ALIGN`], asking for huge pages.
fn map(fd: libc::c_int, len: usize, name: &str) -> Result<NonNull<u8>> {
    let p = map_aligned(fd, len, name)?;
    advise_huge_pages(p.as_ptr().cast(), len);
    Ok(p)
}

/// Maps `len` bytes of the object `fd` at a multiple of [`MAX_HEAP_ALIGN`].
fn map_aligned(fd: libc::c_int, len: usize, name: &str) -> Result<NonNull<u8>> {
    let span = len
        .checked_add(MAX_HEAP_ALIGN)
        .ok_or_else(|| Error::invalid(format!("segment {name} of {len} B is too large to map")))?;
    // Reserve address space only (PROT_NONE, no memory committed) large enough to hold an aligned start.
    // SAFETY: an anonymous reservation at an address the kernel chooses; no existing mapping is replaced.
    let r = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if r == libc::MAP_FAILED {
        return Err(Error::smem(format!("reserving {span} B of address space for {name}"), io::Error::last_os_error()));
    }
    let start = r as usize;
    let aligned = start.next_multiple_of(MAX_HEAP_ALIGN);
    // SAFETY: aligned..aligned+len lies inside the reservation just made (aligned - start < MAX_HEAP_ALIGN), which
    // this function owns, so MAP_FIXED replaces only our own PROT_NONE pages. MAP_NORESERVE: large heaps are
    // sparse until touched.
    let p = unsafe {
        libc::mmap(
            aligned as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_NORESERVE | libc::MAP_FIXED,
            fd,
            0,
        )
    };
    let failed = (p == libc::MAP_FAILED).then(io::Error::last_os_error);
    // Give back the unused head and tail of the reservation (all of it if the segment could not be mapped).
    // SAFETY: every range unmapped here lies inside the reservation and outside the segment's mapping; the
    // reservation is ours alone (munmap of pages a failed MAP_FIXED already dropped is harmless).
    unsafe {
        if failed.is_some() {
            libc::munmap(r, span);
        } else {
            if aligned > start {
                libc::munmap(r, aligned - start);
            }
            let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096).max(1);
            let end = (aligned + len).next_multiple_of(page);
            if start + span > end {
                libc::munmap(end as *mut libc::c_void, start + span - end);
            }
        }
    }
    if let Some(e) = failed {
        return Err(Error::smem(format!("mmap of {len} B of {name}"), e));
    }
    NonNull::new(p.cast()).ok_or_else(|| Error::Inner("mmap returned NULL".into()))
}

/// Asks the kernel to back the mapping `p..p+len` with 2 MiB pages where the file system allows it.
///
/// Why: a copy through 4 KiB pages pays a page walk every 4 KiB, and in a virtual machine a walk is a nested
/// one. On the development VM a 32 MiB copy between shared mappings took 8% to 35% less time on 2 MiB pages
/// (more when the host was busy), and the 8-PE 4 MiB Python broadcast about 7% less
/// (`benches/results/session15.md`).
///
/// Whether the advice is taken is the host's choice: `/dev/shm` is a tmpfs, and its `huge=` mount option
/// decides (`never` by default; `advise` takes this advice; `always` and `within_size` need none), unless
/// `/sys/kernel/mm/transparent_hugepage/shmem_enabled` says `deny` or `force`, which override every mount.
/// The advice costs nothing when it is not taken, and a kernel built without transparent huge pages refuses it
/// (EINVAL), which leaves 4 KiB pages: correct, only slower. So its result is not an error.
fn advise_huge_pages(p: *mut libc::c_void, len: usize) {
    // SAFETY: p..p+len is a mapping this module has just made and owns; MADV_HUGEPAGE changes only the page
    // size the kernel may use for it (a flag on the mapping), never its contents or its protection.
    unsafe { libc::madvise(p, len, libc::MADV_HUGEPAGE) };
}

/// Bytes of one huge page as [`Segment::collapse_huge_pages`] makes them: the PMD size of x86_64 (and of arm64
/// with 4 KiB pages). The allocator places large blocks on multiples of it, so that all of such a block can be
/// made of huge pages.
pub const HUGE_PAGE_BYTES: u64 = 2 << 20;

/// Whether the kernel's transparent huge pages are [`HUGE_PAGE_BYTES`] (read once): not on arm64 with 16 KiB or
/// 64 KiB pages (32 MiB or 512 MiB), nor where the kernel has none (no `hpage_pmd_size`).
fn pmd_is_huge_page_bytes() -> bool {
    static PMD: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PMD.get_or_init(|| {
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
            .is_ok_and(|v| v.trim() == HUGE_PAGE_BYTES.to_string())
    })
}

/// Whether [`Segment::collapse_huge_pages`] can work in this process now: Linux 6.1 or later, transparent huge
/// pages of 2 MiB, `shmem_enabled` not `deny`, and huge pages not turned off for this process (`THP_enabled` in
/// `/proc/self/status`). For tests and diagnostics; the collapse itself just tries (the kernel has the last
/// word: memory and pinned pages).
pub fn kernel_collapses_shmem() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = release.trim().split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let version = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    let shmem = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let thp_off = status.lines().any(|l| l.split_whitespace().eq(["THP_enabled:", "0"]));
    version >= (6, 1) && pmd_is_huge_page_bytes() && shmem.is_ok_and(|s| !s.contains("[deny]")) && !thp_off
}

fn close(fd: libc::c_int) {
    // SAFETY: fd was returned by shm_open and is closed exactly once; the mapping stays valid after close.
    unsafe { libc::close(fd) };
}

impl Segment {
    /// Creates a new segment of `len` bytes named `name` (`/something`), readable and writable only by this
    /// user, and maps it. Fails if the name exists.
    pub fn create(name: &str, len: usize) -> Result<Segment> {
        let c = cname(name)?;
        // SAFETY: c is a valid NUL-terminated string; flags and mode are plain integers.
        let fd = unsafe { libc::shm_open(c.as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(Error::smem(
                format!("creating shared-memory segment {name} (is /dev/shm mounted and writable?)"),
                e,
            ));
        }
        let unlink_on_err = |e: Error| {
            // SAFETY: c is valid; unlinking the name we just created.
            unsafe { libc::shm_unlink(c.as_ptr()) };
            e
        };
        // The umask may have narrowed the mode; peers require exactly 0600.
        // SAFETY: fd is a valid descriptor from shm_open.
        if unsafe { libc::fchmod(fd, 0o600) } != 0 {
            let e = io::Error::last_os_error();
            close(fd);
            return Err(unlink_on_err(Error::smem(format!("setting mode 0600 on segment {name}"), e)));
        }
        // SAFETY: fd is a valid descriptor from shm_open.
        if unsafe { libc::ftruncate(fd, len as libc::off_t) } != 0 {
            let e = io::Error::last_os_error();
            close(fd);
            return Err(unlink_on_err(Error::smem(format!("sizing segment {name} to {len} B"), e)));
        }
        let base = map(fd, len, name).map_err(unlink_on_err);
        close(fd);
        Ok(Segment { base: base?, len, name: name.to_string(), owner: true, unlinked: false })
    }

    /// Maps a segment another process created; checks that it is at least `len` bytes, belongs to this user
    /// and has mode 0600 (an INVALID_VALUE error otherwise, naming owner and mode).
    pub fn open(name: &str, len: usize) -> Result<Segment> {
        let c = cname(name)?;
        // SAFETY: c is a valid NUL-terminated string.
        let fd = unsafe { libc::shm_open(c.as_ptr(), libc::O_RDWR, 0) };
        if fd < 0 {
            return Err(Error::smem(format!("opening peer segment {name}"), io::Error::last_os_error()));
        }
        // SAFETY: an all-zero stat is a valid value for fstat to overwrite.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is valid and st is a writable stat buffer.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            let e = io::Error::last_os_error();
            close(fd);
            return Err(Error::smem(format!("fstat of peer segment {name}"), e));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let me = unsafe { libc::geteuid() };
        let mode = st.st_mode & 0o7777;
        if st.st_uid != me || mode != 0o600 {
            close(fd);
            return Err(Error::InvalidValue(format!(
                "refusing peer segment {name}: it is owned by uid {} with mode {mode:04o}, but a PE's segment \
                 belongs to this user (uid {me}) with mode 0600; another user's or a tampered object has its name",
                st.st_uid
            )));
        }
        if (st.st_size as u64) < len as u64 {
            close(fd);
            return Err(Error::InvalidValue(format!(
                "peer segment {name} is {} B but {len} B were expected: PEs disagree on local_mem_size",
                st.st_size
            )));
        }
        let base = map(fd, len, name);
        close(fd);
        Ok(Segment { base: base?, len, name: name.to_string(), owner: false, unlinked: false })
    }

    /// Removes the name from the file system; the memory stays mapped. Idempotent.
    pub fn unlink(&mut self) {
        if self.owner && !self.unlinked {
            if let Ok(c) = cname(&self.name) {
                // SAFETY: c is valid; ENOENT (already removed by a launcher) is harmless.
                unsafe { libc::shm_unlink(c.as_ptr()) };
            }
            self.unlinked = true;
        }
    }

    /// First byte of the mapping.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never, for a created segment).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes every whole 2 MiB page of `off..off+len` one huge page instead of 512 small ones, for every mapping
    /// of this segment, with `madvise(MADV_COLLAPSE)`. Returns the bytes of those whole pages when the kernel
    /// made all of them huge pages, 0 when it refused any (it may have made others huge).
    ///
    /// Why: the advice at mapping time (`advise_huge_pages`) is taken only where `/dev/shm` is mounted with
    /// `huge=advise` or more, and its default is `huge=never`; a copy through 4 KiB pages then pays a nested page
    /// walk every 4 KiB (`benches/results/session16.md`). `MADV_COLLAPSE` (Linux 6.1) builds the huge page at
    /// once, whatever the mount option and `shmem_enabled` say, unless `shmem_enabled` is `deny` (the kernel's
    /// `transhuge.rst`). The huge page then belongs to the segment's file: a process that maps the range later,
    /// or (from Linux 6.6) one that had mapped it before, maps it whole; on 6.1 to 6.5 a process that had
    /// mapped the range before may keep its 4 KiB entries.
    ///
    /// Best effort, never an error: the small pages stay (correct, only slower) where the kernel refuses: before
    /// Linux 6.1, without transparent huge pages or with another huge-page size than 2 MiB (checked here first),
    /// under `deny`, in a process that turned huge pages off (`prctl(PR_SET_THP_DISABLE)`), for pages a device
    /// has pinned (an RDMA registration), or without a free 2 MiB of memory within the memory limits. A refusal
    /// for a passing reason (EAGAIN) is retried once. The contents never change; other processes may read and
    /// write the range meanwhile (the kernel waits them out). The kernel refuses a range without a single page
    /// yet, so each 2 MiB is first read once, which allocates one small page.
    ///
    /// # Errors
    /// `InvalidValue` when the range is outside the segment.
    pub fn collapse_huge_pages(&self, off: u64, len: u64) -> Result<u64> {
        let end = match off.checked_add(len) {
            Some(end) if end <= self.len as u64 => end,
            _ => return Err(self.outside(off, len)),
        };
        let first = off.next_multiple_of(HUGE_PAGE_BYTES);
        let last = end / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if first >= last || !pmd_is_huge_page_bytes() {
            return Ok(0);
        }
        for at in (first..last).step_by(HUGE_PAGE_BYTES as usize) {
            // SAFETY: at < last <= self.len, so p points into the live mapping; a byte is always aligned for
            // AtomicU8, and the load is atomic, so a peer writing that byte meanwhile is no data race (the value
            // is not used: the load only makes the kernel allocate a page there).
            unsafe { std::sync::atomic::AtomicU8::from_ptr(self.base.as_ptr().add(at as usize)) }
                .load(std::sync::atomic::Ordering::Relaxed);
        }
        let collapse = || {
            // SAFETY: first..last lies inside a mapping this Segment owns; MADV_COLLAPSE changes which physical
            // pages back it (copying their contents), never the contents or the protection.
            let rc = unsafe {
                libc::madvise(
                    self.base.as_ptr().add(first as usize).cast(),
                    (last - first) as usize,
                    libc::MADV_COLLAPSE,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // One call for the whole range: the kernel goes on past a refused 2 MiB and reports the last refusal.
        let done = match collapse() {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => collapse(),
            r => r,
        };
        Ok(if done.is_ok() { last - first } else { 0 })
    }

    /// The segment's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Pointer to `off..off+len` inside the mapping, or an error naming the range.
    #[inline]
    pub fn span(&self, off: u64, len: u64) -> Result<NonNull<u8>> {
        match off.checked_add(len) {
            Some(end) if end <= self.len as u64 => {
                // SAFETY: off <= self.len, so the result stays inside (or one past) the mapping.
                Ok(unsafe { NonNull::new_unchecked(self.base.as_ptr().add(off as usize)) })
            }
            _ => Err(self.outside(off, len)),
        }
    }

    /// The error of [`Segment::span`], out of the inlined hot path.
    #[cold]
    fn outside(&self, off: u64, len: u64) -> Error {
        Error::invalid(format!(
            "range +{off:#x}..+{:#x} is outside segment {} of {} B",
            off.saturating_add(len),
            self.name,
            self.len
        ))
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.unlink();
        // SAFETY: base/len describe a mapping made by `map` and not unmapped before; nothing created by this
        // Segment outlives it (the runtime drops engines before segments).
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// The identity of this node: PEs with the same id share memory. `SHMEM_NODE_ID` overrides it so that tests
/// can make several "nodes" on one machine; otherwise it is the host name plus the kernel's boot id.
pub fn node_id(settings: &crate::Settings) -> String {
    if let Some(id) = settings.get(crate::launch_env::vars::NODE_ID).filter(|id| !id.is_empty()) {
        return id.to_string();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    format!("{}:{}", host.trim(), boot.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_open_unlink() {
        let name = format!("/shmem-test-seg-{}", std::process::id());
        let mut a = Segment::create(&name, 8192).unwrap();
        assert!(Segment::create(&name, 8192).is_err(), "O_EXCL");
        let b = Segment::open(&name, 8192).unwrap();
        assert!(Segment::open(&name, 1 << 20).is_err(), "size check");
        a.unlink();
        assert!(!std::path::Path::new(&format!("/dev/shm{name}")).exists());
        // SAFETY: both mappings are 8192 B of the same shared object, used by this thread only.
        unsafe {
            a.span(100, 8).unwrap().as_ptr().write(42);
            assert_eq!(b.span(100, 8).unwrap().as_ptr().read(), 42);
        }
        assert!(a.span(8190, 4).is_err());
        for s in [&a, &b] {
            assert_eq!(s.base().as_ptr() as usize % MAX_HEAP_ALIGN, 0, "mapped at an aligned address");
        }
        assert!(a.span(u64::MAX, 2).is_err());
    }

    /// The value of `field` (e.g. `VmFlags`, `ShmemPmdMapped`) in this process's smaps entry for the mapping
    /// that starts at `base`.
    fn smaps_field(base: *const u8, field: &str) -> String {
        let start = format!("{:x}-", base as usize);
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let entry = smaps.split_once(&format!("\n{start}")).map(|(_, e)| e).or_else(|| smaps.strip_prefix(&start));
        let entry = entry.unwrap_or_else(|| panic!("no mapping at {start} in /proc/self/smaps"));
        let line = entry.lines().find(|l| l.starts_with(&format!("{field}:"))).expect(field);
        line[field.len() + 1..].trim().to_string()
    }

    #[test]
    fn heap_mappings_ask_for_huge_pages() {
        let name = format!("/shmem-test-seg-hg-{}", std::process::id());
        let a = Segment::create(&name, 4 << 20).unwrap();
        let b = Segment::open(&name, 4 << 20).unwrap();
        for s in [&a, &b] {
            let flags = smaps_field(s.base().as_ptr(), "VmFlags");
            assert!(flags.split_whitespace().any(|f| f == "hg"), "MADV_HUGEPAGE on {name}: VmFlags {flags}");
        }
    }

    /// Mounts a fresh tmpfs with `huge=<huge>` over `/dev/shm` in a mount namespace of the calling thread alone
    /// (so neither the host nor the other tests see it), then runs `f` in it. Needs root (CAP_SYS_ADMIN).
    fn in_private_dev_shm<T: Send + 'static>(huge: &'static str, f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(move || {
            // SAFETY: unshare and mount take flags and NUL-terminated strings only; CLONE_NEWNS gives this
            // thread (and only it: namespaces belong to a task) its own copy of the mount table, and the
            // thread ends with the test, taking the namespace and the tmpfs with it.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    panic!(
                        "unshare(CLONE_NEWNS): {} (this test needs root, as CI has; SHMEM_TEST_SKIP_MOUNTNS=1 \
                         skips it)",
                        io::Error::last_os_error()
                    );
                }
                let root = c"/";
                let none: *const libc::c_char = std::ptr::null();
                assert_eq!(
                    libc::mount(none, root.as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, std::ptr::null()),
                    0
                );
                let opts = CString::new(format!("huge={huge},size=64m,mode=1777")).unwrap();
                let rc =
                    libc::mount(c"tmpfs".as_ptr(), c"/dev/shm".as_ptr(), c"tmpfs".as_ptr(), 0, opts.as_ptr().cast());
                assert_eq!(rc, 0, "mount tmpfs {opts:?} on /dev/shm: {}", io::Error::last_os_error());
            }
            f()
        })
        .join()
        .unwrap()
    }

    /// Writes every byte of a segment mapped by `create` and reads every page through a second mapping made by
    /// `open`; then does the same with an object of the same size mapped without the advice. Returns the
    /// three mappings' `ShmemPmdMapped`.
    fn pmd_mapped_kib(tag: &str) -> [String; 3] {
        let len = 4 << 20;
        let name = format!("/shmem-test-seg-thp-{tag}-{}", std::process::id());
        let a = Segment::create(&name, len).unwrap();
        let b = Segment::open(&name, len).unwrap();
        // The control: an object of the same size, mapped the same way but without MADV_HUGEPAGE.
        let plain_name = format!("{name}-plain");
        let plain = Segment::create(&plain_name, len).unwrap();
        let fd = fd_of(&plain_name);
        let raw = map_aligned(fd, len, &plain_name).unwrap().as_ptr();
        close(fd);
        // SAFETY: a and b map the same len bytes, raw maps len bytes; only this thread uses them.
        let sum = unsafe {
            std::ptr::write_bytes(a.base().as_ptr(), 7, len);
            std::ptr::write_bytes(raw, 5, len);
            (0..len).step_by(4096).map(|off| u64::from(b.base().as_ptr().add(off).read_volatile())).sum::<u64>()
        };
        assert_eq!(sum, 7 * (len as u64 / 4096), "every page reads back what was written");
        let out = [a.base().as_ptr(), b.base().as_ptr(), raw].map(|p| smaps_field(p, "ShmemPmdMapped"));
        // SAFETY: raw was mapped above with this length and is not used after this.
        unsafe { libc::munmap(raw.cast(), len) };
        drop(plain);
        out
    }

    #[test]
    fn on_a_huge_advise_tmpfs_the_heap_gets_2mib_pages_and_only_with_the_advice() {
        if std::env::var("SHMEM_TEST_SKIP_MOUNTNS").is_ok_and(|v| v == "1") {
            return;
        }
        // `deny` and `force` override every tmpfs mount's huge= option (the results would be the host's).
        let global = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled").unwrap_or_default();
        if global.contains("[deny]") || global.contains("[force]") {
            eprintln!("skipped: shmem_enabled overrides the mount option here: {}", global.trim());
            return;
        }
        let [created, opened, plain] = in_private_dev_shm("advise", || pmd_mapped_kib("advise"));
        assert_eq!(created, "4096 kB", "the creator's mapping is on two 2 MiB pages");
        assert_eq!(opened, "4096 kB", "a peer's mapping of the same object too");
        assert_eq!(plain, "0 kB", "an object mapped without MADV_HUGEPAGE is not, on a huge=advise tmpfs");
        let never = in_private_dev_shm("never", || pmd_mapped_kib("never"));
        assert_eq!(never, ["0 kB", "0 kB", "0 kB"].map(String::from), "huge=never refuses the advice");
    }

    #[test]
    fn collapse_makes_whole_2mib_pages_huge_on_a_huge_never_tmpfs_and_keeps_the_contents() {
        if std::env::var("SHMEM_TEST_SKIP_MOUNTNS").is_ok_and(|v| v == "1") {
            return;
        }
        // `force` overrides the huge=never mount (the pages would be huge before the collapse).
        let global = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled").unwrap_or_default();
        if !kernel_collapses_shmem() || global.contains("[force]") {
            eprintln!("skipped: no MADV_COLLAPSE of shmem to test here ({})", global.trim());
            return;
        }
        let (huge, pmd, sum) = in_private_dev_shm("never", || {
            let len = 6 << 20;
            let name = format!("/shmem-test-seg-collapse-{}", std::process::id());
            let a = Segment::create(&name, len).unwrap();
            let b = Segment::open(&name, len).unwrap();
            let pattern = |i: usize| (i.wrapping_mul(2_654_435_761) >> 7) as u8;
            // SAFETY: a maps len bytes; only this thread uses the mappings.
            unsafe { (0..1 << 20).for_each(|i| a.base().as_ptr().add(i).write(pattern(i))) };
            assert_eq!(smaps_field(a.base().as_ptr(), "ShmemPmdMapped"), "0 kB", "huge=never: small pages");
            let huge = [
                a.collapse_huge_pages(4096, len as u64 - 4096).unwrap(), // [2M, 6M): the first 2 MiB is not whole
                a.collapse_huge_pages(0, 2 << 20).unwrap(),              // [0, 2M): written before
                a.collapse_huge_pages(0, (2 << 20) - 1).unwrap(),        // no whole 2 MiB
            ];
            assert!(a.collapse_huge_pages(len as u64 - 10, 11).is_err(), "past the end");
            assert!(a.collapse_huge_pages(u64::MAX, 2).is_err(), "overflowing range");
            // SAFETY: b maps the same len bytes.
            let sum = unsafe {
                (0..len).step_by(4096).for_each(|off| _ = b.base().as_ptr().add(off).read_volatile());
                (0..1 << 20).filter(|&i| b.base().as_ptr().add(i).read() != pattern(i)).count()
            };
            let pmd = [a.base().as_ptr(), b.base().as_ptr()].map(|p| smaps_field(p, "ShmemPmdMapped"));
            (huge, pmd, sum)
        });
        assert_eq!(huge, [4 << 20, 2 << 20, 0], "bytes made huge by each call");
        assert_eq!(pmd, ["6144 kB", "6144 kB"].map(String::from), "the creator's and a peer's mapping");
        assert_eq!(sum, 0, "every byte written before the collapse reads back through the peer's mapping");
    }

    fn fd_of(name: &str) -> libc::c_int {
        let c = cname(name).unwrap();
        // SAFETY: c is a valid NUL-terminated name.
        let fd = unsafe { libc::shm_open(c.as_ptr(), libc::O_RDWR, 0) };
        assert!(fd >= 0);
        fd
    }

    #[test]
    fn created_segments_are_0600_and_others_are_refused() {
        let name = format!("/shmem-test-seg-mode-{}", std::process::id());
        // SAFETY: umask only changes this process's file-creation mask; restored below.
        let old = unsafe { libc::umask(0o277) };
        let seg = Segment::create(&name, 4096);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        let _seg = seg.unwrap();
        let meta = std::fs::metadata(format!("/dev/shm{name}")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!(meta.mode() & 0o7777, 0o600, "whatever the umask");
        assert!(Segment::open(&name, 4096).is_ok());
        let fd = fd_of(&name);
        for mode in [0o644, 0o666, 0o660, 0o700, 0o400] {
            // SAFETY: fd is a valid shm descriptor.
            assert_eq!(unsafe { libc::fchmod(fd, mode) }, 0);
            let e = Segment::open(&name, 4096).unwrap_err();
            assert_eq!(e.code(), -2, "{mode:o}");
            assert!(e.to_string().contains(&format!("mode {mode:04o}")), "{e}");
        }
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fchmod(fd, 0o600) }, 0);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // SAFETY: fd is valid; root may give the object to another user.
            assert_eq!(unsafe { libc::fchown(fd, 65534, 65534) }, 0);
            let e = Segment::open(&name, 4096).unwrap_err();
            assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        }
        close(fd);
    }
}
