//! Collective agreement (issue 10 defects 3, 7, 8, 10 and issue 12 item 4): heap alignment up to the largest
//! accepted alignment, stale team handles, disjoint team splits, a barrier that names the PE frozen inside it,
//! and an allocation that meets a barrier on another PE.

use crate::{check, ok, runner, Scenario};
use libtest_mimic::Trial;
use shmem::api;
use shmem::team::{self, TEAM_INVALID, TEAM_WORLD};
use std::time::{Duration, Instant};

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("align_every_power_of_two", align_every_power_of_two),
    ("team_stale_handles", team_stale_handles),
    ("team_split_disjoint", team_split_disjoint),
    ("team_split_overlapping", team_split_overlapping),
    ("barrier_names_frozen_pe", barrier_names_frozen_pe),
    ("alloc_meets_barrier_one", alloc_meets_barrier_one),
    ("alloc_meets_barrier_many", alloc_meets_barrier_many),
    ("large_blocks_on_huge_pages", large_blocks_on_huge_pages),
];

pub(crate) const TRIALS: &[(&str, &[u32])] = &[
    ("align_every_power_of_two", &[1, 2, 3]),
    ("team_stale_handles", &[2, 4]),
    ("team_split_disjoint", &[2, 4]),
    ("team_split_overlapping", &[2, 4]),
    ("large_blocks_on_huge_pages", &[2, 3]),
];

/// The largest alignment `align` accepts (see `shmem_core::heap::MAX_HEAP_ALIGN`).
const MAX_ALIGN: u64 = 1 << 30;

fn align_every_power_of_two() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let (base, _) = ok!(api::heap_range());
    let mut offsets = Vec::new();
    let mut align = 1u64;
    while align <= MAX_ALIGN {
        let a = ok!(api::align(align, 64)).ok_or("align of 64 B gave NULL")?;
        check!((a as u64).is_multiple_of(align), "PE {me}: align({align}, 64) = {a:#x} is not aligned");
        offsets.push((a - base) as u64);
        ok!(api::free(a));
        align *= 2;
    }
    // Above the maximum, zero, not a power of two: INVALID_PARAM on every PE, and the heap stays usable.
    for bad in [MAX_ALIGN * 2, 1 << 40, 0, 3, 48, u64::MAX] {
        let e = api::align(bad, 64).unwrap_err();
        check!(e.code() == -1, "align({bad}, 64): {e} (code {})", e.code());
    }
    // Every PE got the same offsets.
    let table = ok!(sh.alloc_zeroed::<u64>(offsets.len() * n as usize));
    ok!(table.put(0, me as usize * offsets.len(), &offsets));
    ok!(sh.barrier_all());
    if me == 0 {
        let all = ok!(table.to_vec());
        for (pe, row) in all.chunks(offsets.len()).enumerate() {
            check!(row == offsets.as_slice(), "PE {pe} offsets {row:?} differ from PE 0's {offsets:?}");
        }
    }
    ok!(table.free());
    // Typed arrays: aligned to a huge page, zeroed, usable; a type aligned beyond 16 B is aligned too.
    let big = ok!(sh.alloc_zeroed_aligned::<u64>(1024, 2 << 20));
    check!(big.addr().is_multiple_of(2 << 20), "alloc_zeroed_aligned(2 MiB) at {:#x}", big.addr());
    check!(ok!(big.to_vec()).iter().all(|&v| v == 0), "zeroed");
    ok!(sh.barrier_all());
    ok!(big.put((me + 1) % n, 1023, &[me as u64 + 7]));
    ok!(sh.barrier_all());
    check!(ok!(big.to_vec())[1023] == ((me + n - 1) % n) as u64 + 7, "put into the aligned array");
    let lines = ok!(sh.alloc_zeroed::<Line>(3));
    check!(lines.addr().is_multiple_of(64), "64-byte aligned type at {:#x}", lines.addr());
    for bad in [3usize, 2 << 30] {
        let e = sh.alloc_zeroed_aligned::<u64>(8, bad).unwrap_err();
        check!(e.code() == -1, "alloc_zeroed_aligned(8, {bad}): {e}");
    }
    ok!(lines.free());
    ok!(big.free());
    ok!(sh.finalize());
    Ok(())
}

/// `ShmemPmdMapped` of this process's mapping that starts at `base`, in KiB.
fn pmd_mapped_kib(base: usize) -> Result<u64, String> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").map_err(|e| e.to_string())?;
    let start = format!("{base:x}-");
    // Every entry has the field, so the first after the mapping's header line is its own.
    let entry = smaps
        .lines()
        .skip_while(|l| !l.starts_with(&start))
        .find(|l| l.starts_with("ShmemPmdMapped:"))
        .ok_or(format!("no ShmemPmdMapped for the mapping at {start}"))?;
    entry.split_whitespace().nth(1).and_then(|v| v.parse().ok()).ok_or(format!("bad smaps line {entry:?}"))
}

/// Whether this host gives `/dev/shm` small pages unless asked: its (last, effective) mount has no `huge=` or
/// `huge=never`, and `shmem_enabled` is `never`. Then a job without the collapse must show none.
fn host_gives_small_pages() -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let dev_shm = mounts.lines().rfind(|l| l.split_whitespace().nth(1) == Some("/dev/shm")).unwrap_or("");
    let global = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled").unwrap_or_default();
    (!dev_shm.contains("huge=") || dev_shm.contains("huge=never")) && global.contains("[never]")
}

/// Blocks of 2 MiB or more start on 2 MiB boundaries (the same on every PE) and, by default, are made of 2 MiB
/// pages on every PE whatever `/dev/shm`'s mount says (`MADV_COLLAPSE`), in the owner's mapping and in a peer's;
/// the data written through both stays exact. With `SHMEM_HEAP_COLLAPSE_MIN=off` on a host that gives shared
/// memory small pages, none are huge.
fn large_blocks_on_huge_pages() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let collapse = std::env::var("SHMEM_HEAP_COLLAPSE_MIN")
        .map_or(true, |v| !v.trim().eq_ignore_ascii_case("off") && v.trim() != "0");
    let (base, _) = ok!(api::heap_range());
    let small = ok!(sh.alloc_zeroed::<u8>(100));
    let raw = ok!(api::malloc(3 << 20)).ok_or("malloc(3 MiB) gave NULL")?;
    let big = ok!(sh.alloc_zeroed::<u64>((4 << 20) / 8 + 5));
    for (what, addr) in [("malloc(3 MiB)", raw), ("alloc_zeroed(4 MiB + 40 B)", big.addr())] {
        check!((addr - base).is_multiple_of(2 << 20), "PE {me}: {what} at heap offset {:#x}", addr - base);
    }
    let next = (me + 1) % n;
    let words: Vec<u64> =
        (0..big.len()).map(|i| (u64::from(me) << 40) ^ (i as u64).wrapping_mul(0x9e37_79b9)).collect();
    ok!(big.put(next, 0, &words));
    ok!(sh.barrier_all());
    let prev = (me + n - 1) % n;
    let mine = ok!(big.to_vec());
    let wrong = (0..mine.len()).filter(|&i| mine[i] != (u64::from(prev) << 40) ^ (i as u64).wrapping_mul(0x9e37_79b9));
    check!(wrong.count() == 0, "PE {me}: the block PE {prev} wrote differs");
    let mut theirs = vec![0u64; big.len()];
    ok!(big.get(next, 0, &mut theirs));
    check!(theirs == words, "PE {me}: reading back PE {next}'s block");
    let own_kib = pmd_mapped_kib(base)?;
    let peer_base = ok!(api::ptr(base, i64::from(next))).ok_or("no direct pointer to the next PE's heap")?;
    let peer_kib = pmd_mapped_kib(peer_base)?;
    let (small_host, collapses) = (host_gives_small_pages(), shmem_core::heap::kernel_collapses_shmem());
    if collapse && collapses {
        // The 3 MiB block holds one whole 2 MiB page, the 4 MiB one two.
        check!(own_kib >= 6144, "PE {me}: {own_kib} KiB of the own heap on 2 MiB pages, expected 6144 or more");
        check!(peer_kib >= 4096, "PE {me}: {peer_kib} KiB of PE {next}'s heap (4 MiB read) on 2 MiB pages");
    } else if !collapse && small_host {
        check!(own_kib == 0 && peer_kib == 0, "PE {me}: collapse off, yet {own_kib} / {peer_kib} KiB on 2 MiB pages");
    } else {
        eprintln!(
            "PE {me}: no check of the page size here (collapse {collapse}, kernel {collapses}, small {small_host})"
        );
    }
    ok!(big.free());
    ok!(api::free(raw));
    ok!(small.free());
    ok!(sh.finalize());
    Ok(())
}

/// A type aligned to a cache line.
#[derive(Clone, Copy, bytemuck::Zeroable, bytemuck::Pod)]
#[repr(C, align(64))]
struct Line([u64; 8]);

fn team_stale_handles() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe() as i32, sh.n_pes() as i32);
    check!(TEAM_WORLD == 0 && team::n_pes(0) == n, "TEAM_WORLD is 0");
    let old = ok!(team::split_strided(TEAM_WORLD, 0, 1, n));
    ok!(team::destroy(old));
    let new = ok!(team::split_strided(TEAM_WORLD, 0, 1, n));
    check!(new != old && new > 0, "a new team got the stale id {old} again ({new})");
    // Every team call with the stale handle is INVALID_PARAM; queries give -1.
    let buf = [7u8; 8];
    let mut into = [0u8; 8];
    let v = ok!(api::malloc(8)).unwrap();
    let codes: Vec<(&str, i32)> = vec![
        ("sync", team::sync(old).unwrap_err().code()),
        ("barrier", team::barrier(old).unwrap_err().code()),
        ("destroy", team::destroy(old).unwrap_err().code()),
        ("get_config", team::get_config(old).unwrap_err().code()),
        ("world_pe", team::world_pe(old, 0).unwrap_err().code()),
        ("split_strided", team::split_strided(old, 0, 1, 1).unwrap_err().code()),
        ("split_2d", team::split_2d(old, 1).unwrap_err().code()),
        // SAFETY: buf and into live across the calls; the team check fails first.
        ("putmem", unsafe { team::putmem(old, v, buf.as_ptr(), 8, 0) }.unwrap_err().code()),
        // SAFETY: as above.
        ("getmem", unsafe { team::getmem(old, into.as_mut_ptr(), v, 8, 0) }.unwrap_err().code()),
        // SAFETY: as above.
        ("putmem_signal", unsafe { team::putmem_signal(old, v, buf.as_ptr(), 0, v, 1, 0, 0) }.unwrap_err().code()),
    ];
    for (what, code) in codes {
        check!(code == -1, "{what} with stale team {old}: code {code}");
    }
    check!(team::my_pe(old) == -1 && team::n_pes(old) == -1, "queries of a stale team");
    check!(team::translate_pe(old, 0, TEAM_WORLD) == -1 && team::translate_pe(TEAM_WORLD, 0, old) == -1, "translate");
    // The new team works and has the same id on every PE.
    check!(team::my_pe(new) == me && team::n_pes(new) == n, "new team queries");
    ok!(team::barrier(new));
    let ids = ok!(sh.alloc_zeroed::<i32>(n as usize));
    ok!(ids.put(0, me as usize, &[new]));
    ok!(sh.barrier_all());
    if me == 0 {
        let all = ok!(ids.to_vec());
        check!(all.iter().all(|&i| i == new), "team ids differ between PEs: {all:?}");
    }
    // Many create/destroy cycles: never a stale id again, and the live bound still holds.
    let mut seen = vec![old, new];
    ok!(team::destroy(new));
    for _ in 0..100 {
        let t = ok!(team::split_strided(TEAM_WORLD, 0, 1, n));
        check!(!seen.contains(&t) && t > 1, "id {t} came back");
        seen.push(t);
        ok!(team::sync(t));
        ok!(team::destroy(t));
    }
    ok!(api::free(v));
    ok!(ids.free());
    ok!(sh.finalize());
    Ok(())
}

/// Each PE in a team of its own (upstream's idiom), then disjoint pairs with team RMA and barriers.
fn team_split_disjoint() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe() as i32, sh.n_pes() as i32);
    let solo = ok!(team::split_strided(TEAM_WORLD, me, 1, 1));
    check!(solo != TEAM_INVALID, "PE {me}: one-PE team refused");
    check!(team::my_pe(solo) == 0 && team::n_pes(solo) == 1, "one-PE team queries");
    check!(ok!(team::world_pe(solo, 0)) == me as i64, "one-PE team member");
    ok!(team::barrier(solo));
    // Disjoint pairs {0,1}, {2,3}, ... (the same triplet within a pair, another across pairs).
    let pair = ok!(team::split_strided(TEAM_WORLD, me - me % 2, 1, 2));
    check!(team::n_pes(pair) == 2 && team::my_pe(pair) == me % 2, "pair queries");
    let inbox = ok!(sh.alloc_zeroed::<u64>(2));
    for round in 1..=50u64 {
        let v = [round * 100 + me as u64];
        let partner = 1 - team::my_pe(pair);
        // SAFETY: v lives across the call.
        ok!(unsafe { team::putmem(pair, inbox.addr() + 8 * (me % 2) as usize, v.as_ptr().cast(), 8, partner) });
        ok!(team::barrier(pair));
        let got = ok!(inbox.to_vec())[(1 - me % 2) as usize];
        let p = ok!(team::world_pe(pair, partner)) as u64;
        check!(got == round * 100 + p, "round {round}: PE {me} got {got} from its partner {p}");
        ok!(team::barrier(pair));
    }
    // A team get too: team PE 0's slot 1 holds what team PE 1 put last.
    let mut from = [0u8; 8];
    // SAFETY: from lives across the call.
    ok!(unsafe { team::getmem(pair, from.as_mut_ptr(), inbox.addr() + 8, 8, 0) });
    let second = (me - me % 2 + 1) as u64;
    check!(u64::from_ne_bytes(from) == 5000 + second, "team get: {}", u64::from_ne_bytes(from));
    // The pair ids and the solo ids agree within each team (publish to PE 0).
    let ids = ok!(sh.alloc_zeroed::<i32>(2 * n as usize));
    ok!(ids.put(0, 2 * me as usize, &[solo, pair]));
    ok!(sh.barrier_all());
    if me == 0 {
        let all = ok!(ids.to_vec());
        for p in (0..n as usize).step_by(2) {
            check!(all[2 * p + 1] == all[2 * (p + 1) + 1], "pair ids differ: {all:?}");
        }
    }
    ok!(team::destroy(pair));
    ok!(team::destroy(solo));
    ok!(ids.free());
    ok!(inbox.free());
    ok!(sh.finalize());
    Ok(())
}

/// Triplets that describe overlapping but different teams are INVALID_VALUE on every PE; a bad triplet on one
/// PE is INVALID_PARAM on every PE. Both promptly; splits work again afterwards.
fn team_split_overlapping() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe() as i32, sh.n_pes() as i32);
    let t0 = Instant::now();
    // PE 0 names {0, 1}; the others each name a team of their own: {1} overlaps {0, 1}.
    let (s, z) = if me == 0 { (0, 2) } else { (me, 1) };
    let e = team::split_strided(TEAM_WORLD, s, 1, z).unwrap_err();
    check!(e.code() == -2 && e.to_string().contains("overlap"), "PE {me}: overlapping split: {e}");
    // PE 1 is named by PE 0's {0, 1} but names a disjoint team of others ({n-1} for n = 4, none for n = 2).
    if n == 4 {
        let (s, z) = match me {
            0 => (0, 2),
            1 => (3, 1),
            2 => (2, 1),
            _ => (3, 1),
        };
        let e = team::split_strided(TEAM_WORLD, s, 1, z).unwrap_err();
        check!(e.code() == -2, "PE {me}: member naming another team: {e}");
    }
    // A triplet outside the parent on one PE only.
    let s = if me == n - 1 { n } else { me };
    let e = team::split_strided(TEAM_WORLD, s, 1, 1).unwrap_err();
    check!(e.code() == -1, "PE {me}: bad triplet on PE {}: {e}", n - 1);
    check!(t0.elapsed() < Duration::from_secs(10), "errors took {:?}", t0.elapsed());
    // Everything still works.
    let t = ok!(team::split_strided(TEAM_WORLD, me, 1, 1));
    check!(team::n_pes(t) == 1, "split after errors");
    ok!(team::destroy(t));
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// 3 PEs on one node: PE 1 stops itself (SIGSTOP) on its way to a barrier; PE 0 then waits for PE 1 and times
/// out, naming PE 1. PE 0 resumes PE 1 afterwards. (On one node a PE that has added itself to its node's
/// count holds nobody up: the barrier passes without it. A PE frozen inside a barrier where the others need it,
/// a node leader, is `barriers.rs`'s `barrier_names_frozen_leader`.)
fn barrier_names_frozen_pe() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let pids = ok!(sh.alloc_zeroed::<u64>(3));
    ok!(pids.put(0, me as usize, &[std::process::id() as u64]));
    ok!(sh.barrier_all());
    match me {
        1 => {
            std::thread::spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                // SAFETY: plain signal to this process.
                unsafe { libc::kill(libc::getpid(), libc::SIGSTOP) };
            });
            // Stopped during this sleep, resumed by PE 0 after its timeout; whether the barrier passes then does
            // not matter.
            std::thread::sleep(Duration::from_millis(400));
            let _ = sh.barrier_all();
            std::thread::sleep(Duration::from_millis(500));
        }
        0 => {
            std::thread::sleep(Duration::from_millis(600));
            let t = Instant::now();
            let e = sh.barrier_all().unwrap_err();
            let pid1 = ok!(pids.to_vec())[1];
            // SAFETY: plain signal to the PE 1 process of this job.
            unsafe { libc::kill(pid1 as i32, libc::SIGCONT) };
            check!(e.code() == -7, "expected TIMEOUT, got {e}");
            check!(e.to_string().contains("PEs that did not arrive: [1]"), "the message must name PE 1: {e}");
            check!(t.elapsed() < Duration::from_secs(8), "timeout took {:?}", t.elapsed());
        }
        _ => {
            std::thread::sleep(Duration::from_millis(600));
            let _ = sh.barrier_all();
            // Stay until PE 0 has its answer (leaving early would fail the job instead).
            std::thread::sleep(Duration::from_secs(5));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    Ok(())
}

/// Checks the two sides of an allocation meeting a barrier: the allocating PEs and the barrier PEs all fail
/// promptly with INVALID_VALUE naming the mismatch.
fn alloc_meets_barrier(allocating: impl Fn(u32, u32) -> bool) -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let t = Instant::now();
    let res = if allocating(me, n) { api::malloc(64).map(|_| ()) } else { sh.barrier_all() };
    let took = t.elapsed();
    let e = res.err().ok_or_else(|| format!("PE {me}: the mismatched call succeeded"))?;
    eprintln!("PE {me}: error after {took:?}: {e}");
    check!(e.code() == -2, "PE {me}: expected INVALID_VALUE, got {e} (code {})", e.code());
    let m = e.to_string();
    check!(m.contains("malloc(size=64)") && m.contains("barrier"), "PE {me}: the message must name both calls: {m}");
    check!(took < Duration::from_secs(5), "PE {me}: the error took {took:?}");
    // Let every PE get its answer before anyone leaves.
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    let f = sh.finalize();
    eprintln!("PE {me}: finalize after {:?}: {f:?}", t.elapsed());
    Ok(())
}

fn alloc_meets_barrier_one() -> Result<(), String> {
    alloc_meets_barrier(|me, _| me == 0)
}

fn alloc_meets_barrier_many() -> Result<(), String> {
    alloc_meets_barrier(|me, n| me != n - 1)
}

/// Trials with their own environment (short control timeouts).
pub fn special_trials() -> Vec<Trial> {
    let mut v = vec![Trial::test("barrier_names_frozen_pe_3pe", || {
        let env = [("SHMEM_CONTROL_TIMEOUT", "2")];
        let res = runner::run(3, "barrier_names_frozen_pe", &env, Duration::from_secs(40))?;
        Ok(runner::every_pe_ok(&res)?)
    })];
    v.push(Trial::test("large_blocks_on_huge_pages_2pe_collapse_off", || {
        Ok(runner::run_ok(2, "large_blocks_on_huge_pages", &[("SHMEM_HEAP_COLLAPSE_MIN", "off")])?)
    }));
    for (name, n) in [("alloc_meets_barrier_one", 2), ("alloc_meets_barrier_one", 3), ("alloc_meets_barrier_many", 3)] {
        v.push(Trial::test(format!("{name}_{n}pe"), move || {
            let env = [("SHMEM_CONTROL_TIMEOUT", "20")];
            let t = Instant::now();
            let res = runner::run(n, name, &env, Duration::from_secs(60))?;
            runner::every_pe_ok(&res)?;
            if t.elapsed() > Duration::from_secs(12) {
                let outs: Vec<&str> = res.iter().map(|r| r.output.as_str()).collect();
                return Err(format!("the job took {:?} (a wait ran into its timeout): {outs:#?}", t.elapsed()).into());
            }
            Ok(())
        }));
    }
    v
}
