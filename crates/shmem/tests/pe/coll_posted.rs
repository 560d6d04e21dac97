//! The posted broadcast (one-node teams, `shmem::collectives::posted`): thousands of broadcasts in a row with
//! moving roots and sizes from 0 to past 4 KiB, mixed with reductions, fcollects and team syncs, each checked
//! exactly (data and the byte past it) while a member sleeps now and then so that roots run far ahead and the
//! rings wrap many times; type mismatches; teams destroyed and re-created (a stale post of the old team in the
//! reused slot must never match); broadcasts whose copies the members share (`collectives/coop.rs`), including a
//! member that gives up before the root posts (its dest must stay untouched).

use crate::{check, code_is, ok, runner, Scenario};
use libtest_mimic::{Failed, Trial};
use shmem::collectives::{self, DataType, ReduceOp};
use shmem::team::{self, TEAM_INVALID, TEAM_WORLD};
use shmem::{Shmem, SymVec};
use std::time::{Duration, Instant};

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[
    ("coll_posted_stream", coll_posted_stream),
    ("coll_posted_mismatch", coll_posted_mismatch),
    ("coll_posted_recreate", coll_posted_recreate),
    ("coll_posted_overlap", coll_posted_overlap),
    ("coll_posted_shared", coll_posted_shared),
    ("coll_posted_shared_late_root", coll_posted_shared_late_root),
];

pub(crate) const TRIALS: &[(&str, &[u32])] = &[
    ("coll_posted_stream", &[1, 2, 3, 4, 8]),
    ("coll_posted_mismatch", &[2, 3, 4, 8]),
    ("coll_posted_recreate", &[2, 3, 4]),
    ("coll_posted_overlap", &[2, 3]),
    ("coll_posted_shared", &[2, 3, 8]),
];

/// Byte sizes the broadcasts cycle through: empty, within an entry (64 B), a big buffer (up to 4 KiB), and past
/// it (read from the root's source; shared copies, from 8 MiB in all, are `coll_posted_shared`'s).
const SIZES: &[usize] =
    &[8, 0, 1, 63, 64, 65, 8, 200, 4095, 4096, 8, 3, 1000, 4097, 12_000, 16, 2048, 65_536, 150_001, 600_001];
/// Sizes that fit a ring entry.
const SMALL: &[usize] = &[8, 0, 1, 31, 32, 16, 3, 24];
/// Room for the largest size and the byte past it.
const ROOM: usize = 600_064;
/// The byte after a broadcast's data, which nothing may write.
const SENTINEL: u8 = 0xEE;

/// The byte `i` of the payload of round `r` from world PE `pe`: unique enough that another round's or PE's data
/// shows.
fn byte(pe: u32, r: usize, i: usize) -> u8 {
    ((pe as usize * 131 + r * 7 + i * 13 + (i >> 8)) % 251) as u8
}

fn members(handle: i32) -> Vec<u32> {
    (0..team::n_pes(handle)).map(|i| team::translate_pe(handle, i, TEAM_WORLD) as u32).collect()
}

fn coll_posted_stream() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes() as i32;
    let src = ok!(sh.alloc_zeroed::<u8>(ROOM));
    let dst = ok!(sh.alloc_zeroed::<u8>(ROOM));
    let red = ok!(sh.alloc_zeroed::<i64>(16));
    let fc = ok!(sh.alloc_zeroed::<i64>(n as usize));
    let (row, col) = ok!(team::split_2d(TEAM_WORLD, 2));
    for (name, handle, rounds) in [("world", TEAM_WORLD, 4000), ("2-D row", row, 1500), ("2-D column", col, 1500)] {
        if handle != TEAM_INVALID {
            stream_on(&sh, name, handle, rounds, &src, &dst, &red, &fc)?;
        }
        ok!(sh.barrier_all());
    }
    ok!(team::destroy(row));
    ok!(team::destroy(col));
    ok!(sh.finalize());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn stream_on(
    sh: &Shmem,
    name: &str,
    handle: i32,
    rounds: usize,
    src: &SymVec<u8>,
    dst: &SymVec<u8>,
    red: &SymVec<i64>,
    fc: &SymVec<i64>,
) -> Result<(), String> {
    let me = sh.my_pe();
    let mem = members(handle);
    let tn = mem.len();
    let ti = team::my_pe(handle) as usize;
    for r in 0..rounds {
        let at = format!("{name} ({tn} PEs), round {r}");
        // Rounds 0..400 of every 800 are broadcasts only (nothing but the flow control holds a root back), the
        // others mix in reductions, team syncs and fcollects.
        let mixed = r % 800 >= 400;
        if mixed && r % 13 == 12 {
            // A reduction between the broadcasts (one barrier; the posted calls in flight do not disturb it).
            let vals: Vec<i64> = (0..3).map(|i| (me as i64 + 1) * (r as i64 + i)).collect();
            ok!(red.write_local(0, &vals));
            ok!(collectives::reduce::reduce(handle, ReduceOp::Sum, DataType::I64, red.addr() + 64, red.addr(), 3));
            let got = ok!(red.to_vec());
            for i in 0..3 {
                let want: i64 = mem.iter().map(|&pe| (pe as i64 + 1) * (r as i64 + i as i64)).sum();
                check!(got[8 + i] == want, "{at}: sum[{i}] = {}, want {want}", got[8 + i]);
            }
            continue;
        }
        if mixed && r % 17 == 16 {
            ok!(collectives::team_sync(handle));
            continue;
        }
        if mixed && r % 29 == 28 {
            ok!(red.write_local(0, &[me as i64 * 10 + r as i64]));
            ok!(sh.fcollect(handle, fc, red, 1));
            let got = ok!(fc.to_vec());
            for (t, &pe) in mem.iter().enumerate() {
                check!(got[t] == pe as i64 * 10 + r as i64, "{at}: fcollect[{t}] = {}", got[t]);
            }
            continue;
        }
        let sleeper = tn / 2;
        // A member that sleeps every 100 rounds: the roots run up to a ring ahead of it and then wait.
        if ti == sleeper && r % 100 == 10 {
            std::thread::sleep(std::time::Duration::from_millis(3));
        }
        // In the mixed rounds the root moves every round; in the others it stays for 50 rounds on a member
        // that is not the sleeper (which would hold the others back), so it runs ahead of the sleeper.
        let root = if mixed || tn == 1 {
            (r * 7 / 3) % tn
        } else {
            let k = (r / 50) % (tn - 1);
            if k >= sleeper {
                k + 1
            } else {
                k
            }
        };
        // Rounds 0..300 of every 800 only send payloads that fit an entry (no big buffer holds the root back:
        // only the ring's own flow control does; the ring has 128 entries), the others every size.
        let len = if r % 800 < 300 { SMALL[r % SMALL.len()] } else { SIZES[r % SIZES.len()] };
        // The root's source is rewritten right after each call: a member that read it late would see it.
        if ti == root {
            ok!(src.write_local(0, &(0..len).map(|i| byte(me, r, i)).collect::<Vec<_>>()));
        }
        ok!(dst.write_local(len, &[SENTINEL]));
        ok!(collectives::broadcast::broadcast(handle, DataType::U8, dst.addr(), src.addr(), len, root as i32));
        if ti == root {
            ok!(src.write_local(0, &vec![0x55; len]));
        }
        let got = ok!(dst.to_vec());
        for (i, &g) in got[..len].iter().enumerate() {
            let want = byte(mem[root], r, i);
            check!(g == want, "{at}: {len} B from team PE {root}: [{i}] = {g}, want {want}");
        }
        check!(got[len] == SENTINEL, "{at}: the broadcast of {len} B wrote the byte past it");
    }
    Ok(())
}

/// Members that pass another type (of the same size) or count than the root, again and again (so that the
/// mismatched calls are in flight with the root ahead), fail with INVALID_VALUE and write nothing; the others
/// get the data; a broadcast afterwards works everywhere; two PEs that both name themselves root of a large
/// (direct) broadcast each serve their members.
fn coll_posted_mismatch() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let a = ok!(sh.alloc_zeroed::<i32>(64));
    let d = ok!(sh.alloc_zeroed::<i32>(64));
    ok!(d.write_local(0, &[-1; 64]));
    ok!(sh.barrier_all());
    let odd = me % 2 == 1;
    for round in 0..200 {
        let root = (round % n as usize) as i32;
        let root_is_odd = root % 2 == 1;
        ok!(a.write_local(0, &[round as i32 + 100 * me as i32; 8]));
        // Odd PEs pass F32 (same size as I32), the even ones I32, every third round; the count differs on odd
        // PEs every fifth round.
        let dt = if round % 3 == 0 && odd { DataType::F32 } else { DataType::I32 };
        let count = if round % 5 == 0 && odd { 7 } else { 8 };
        let r = collectives::broadcast::broadcast(TEAM_WORLD, dt, d.addr(), a.addr(), count, root);
        let differs = (round % 3 == 0 || round % 5 == 0) && odd != root_is_odd;
        let got = ok!(d.to_vec());
        if differs && me as i32 != root {
            code_is(r, -2, &format!("round {round}: a member differing from root {root}"))?;
            check!(got == vec![-1; 64], "round {round}: the refused broadcast wrote dest");
        } else {
            ok!(r);
            let want = round as i32 + 100 * root;
            check!(got[..count].iter().all(|&v| v == want), "round {round}: {:?}, want {want}", &got[..count]);
            check!(got[count..].iter().all(|&v| v == -1), "round {round}: wrote past the count");
            ok!(d.write_local(0, &[-1; 8]));
        }
    }
    ok!(sh.barrier_all());
    // Two PEs that both take themselves for the root of a broadcast past the inline size (members copy straight
    // from the root's source and the root waits for them): each serves the members that name it (the others
    // name PE 0) and neither waits for the other until the timeout.
    // 8 KiB and 160 KiB of i32 (members copy straight from the root's source).
    for big in [2048usize, 40_000] {
        if n < 2 {
            break;
        }
        let (bs, bd) = (ok!(sh.alloc_zeroed::<i32>(big)), ok!(sh.alloc_zeroed::<i32>(big)));
        ok!(bs.write_local(0, &vec![1000 + me as i32; big]));
        let root = if me == n - 1 { (n - 1) as i32 } else { 0 };
        let t0 = std::time::Instant::now();
        ok!(collectives::broadcast::broadcast(TEAM_WORLD, DataType::I32, bd.addr(), bs.addr(), big, root));
        check!(t0.elapsed().as_secs() < 10, "two self-named roots took {:?}", t0.elapsed());
        let want = 1000 + root;
        check!(ok!(bd.to_vec()).iter().all(|&v| v == want), "two self-named roots: dest is not PE {root}'s data");
        ok!(sh.barrier_all());
        ok!(bd.free());
        ok!(bs.free());
    }
    // Large broadcasts (read from the root's source) where odd PEs pass one element more than the even ones (or
    // F32 for I32) in some rounds: a member differing from the root fails with INVALID_VALUE and its dest stays
    // untouched, the others get all of it.
    const LARGE: usize = 40_000;
    let (ls, ld) = (ok!(sh.alloc_zeroed::<i32>(LARGE + 1)), ok!(sh.alloc_zeroed::<i32>(LARGE + 1)));
    ok!(ld.write_local(0, &vec![-1; LARGE + 1]));
    ok!(sh.barrier_all());
    for round in 0..24 {
        let root = (round % n as usize) as i32;
        ok!(ls.write_local(0, &vec![round as i32 + 100 * me as i32; LARGE + 1]));
        let dt = if round % 4 == 1 && odd { DataType::F32 } else { DataType::I32 };
        let count = if round % 4 == 2 && odd { LARGE + 1 } else { LARGE };
        let r = collectives::broadcast::broadcast(TEAM_WORLD, dt, ld.addr(), ls.addr(), count, root);
        let differs = (round % 4 == 1 || round % 4 == 2) && odd != (root % 2 == 1);
        let got = ok!(ld.to_vec());
        if differs && me as i32 != root {
            code_is(r, -2, &format!("large round {round}: a member differing from root {root}"))?;
            check!(got.iter().all(|&v| v == -1), "large round {round}: the refused broadcast wrote dest");
        } else {
            ok!(r);
            let want = round as i32 + 100 * root;
            check!(got[..count].iter().all(|&v| v == want), "large round {round}: dest is not root {root}'s data");
            check!(got[count..].iter().all(|&v| v == -1), "large round {round}: wrote past the count");
            ok!(ld.write_local(0, &vec![-1; LARGE + 1]));
        }
        // The root rewrites its source only after the call: nobody may read it later.
        ok!(ls.write_local(0, &vec![-7; LARGE + 1]));
    }
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// A team made, used for a few hundred broadcasts (the rings hold its posts), destroyed and made again in the
/// same slot: the new team's first broadcasts must carry the new data, never a post of the old team.
fn coll_posted_recreate() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes() as i32;
    let me = sh.my_pe();
    let src = ok!(sh.alloc_zeroed::<u8>(ROOM));
    let dst = ok!(sh.alloc_zeroed::<u8>(ROOM));
    for cycle in 0..6 {
        let t = ok!(team::split_strided(TEAM_WORLD, 0, 1, n));
        // Old teams used their slots for (cycle-dependent) numbers of calls, so the ring positions differ.
        let calls = if cycle % 2 == 0 { 37 + cycle * 11 } else { 3 };
        for r in 0..calls {
            let root = ((r + cycle) % n as usize) as i32;
            let len = SIZES[(r + cycle) % SIZES.len()];
            let tag = cycle * 1000 + r;
            if team::my_pe(t) == root {
                ok!(src.write_local(0, &(0..len).map(|i| byte(me, tag, i)).collect::<Vec<_>>()));
            }
            ok!(dst.write_local(0, &vec![0; len]));
            ok!(collectives::broadcast::broadcast(t, DataType::U8, dst.addr(), src.addr(), len, root));
            let got = ok!(dst.to_vec());
            let from = team::translate_pe(t, root, TEAM_WORLD) as u32;
            check!(
                (0..len).all(|i| got[i] == byte(from, tag, i)),
                "cycle {cycle}, call {r}: {len} B from {root} carry other data"
            );
        }
        ok!(team::destroy(t));
    }
    ok!(sh.finalize());
    Ok(())
}

/// A root whose `dest` is its `source` (in place) or overlaps it by a few bytes either way, at every size class
/// (ring entry, big buffer, read from the root's source): the members get the root's source as it was, the
/// root's dest too (as memmove would leave it), and nothing past the data changes. Above 4 KiB the root copies
/// its own dest while the members copy theirs when the two ranges are apart, after them when they overlap.
fn coll_posted_overlap() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes() as i32;
    let me = sh.my_pe();
    const BASE: usize = 64;
    let buf = ok!(sh.alloc_zeroed::<u8>(ROOM + 2 * BASE));
    let mut tag = 0;
    for len in [8usize, 200, 4097, 12_000, 150_001] {
        for off in [0isize, 8, -8, 64, -64] {
            for root in 0..n {
                tag += 1;
                let mut mine = vec![SENTINEL; ROOM + 2 * BASE];
                for (i, b) in mine[BASE..BASE + len].iter_mut().enumerate() {
                    *b = byte(me, tag, i);
                }
                ok!(buf.write_local(0, &mine));
                ok!(sh.barrier_all());
                let src = buf.addr() + BASE;
                let dst = (src as isize + off) as usize;
                ok!(collectives::broadcast::broadcast(TEAM_WORLD, DataType::U8, dst, src, len, root));
                ok!(sh.barrier_all());
                let got = ok!(buf.to_vec());
                let at = (BASE as isize + off) as usize;
                check!(
                    (0..len).all(|i| got[at + i] == byte(root as u32, tag, i)),
                    "{len} B, dest at source{off:+}, root {root}: dest does not hold the root's source as it was"
                );
                // Outside dest: what this PE wrote (its source pattern where dest did not reach, else untouched).
                check!(
                    (0..got.len()).filter(|&i| i < at || i >= at + len).all(|i| got[i] == mine[i]),
                    "{len} B, dest at source{off:+}, root {root}: bytes outside dest changed"
                );
            }
        }
    }
    ok!(sh.finalize());
    Ok(())
}

/// Confines this process to the first CPU it may run on, before `init`: the PEs of a job that all do so
/// outnumber their cores on any host, so that their large broadcasts share their copies (`collectives/coop.rs`).
fn pin_to_one_cpu() -> Result<(), String> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read and write the set passed.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        check!(libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0, "getaffinity");
        let first = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set)).ok_or("no CPU allowed")?;
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(first, &mut one);
        check!(libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) == 0, "setaffinity");
    }
    Ok(())
}

/// Broadcasts whose copies the members share (`collectives/coop.rs`: PEs outnumber the cores, here pinned to one
/// CPU on any host, at least 8 MiB copied per call, 1 MiB payloads among them at 8 PEs): moving roots, a member that sleeps through some calls (the
/// others fill its dest), the root rewriting its source right after each call, an in-place root, members whose
/// count differs from the root's (INVALID_VALUE, dest untouched, while the others share the copies), and a member
/// whose broadcast meets the others' barrier (it fails without counting, and the same broadcast after the barrier,
/// into another dest, pairs with the root's: the first dest stays untouched). Exact data and the bytes around it.
fn coll_posted_shared() -> Result<(), String> {
    pin_to_one_cpu()?;
    let sh = ok!(shmem::init_from_env());
    let n = sh.n_pes() as usize;
    let me = sh.my_pe();
    // At least 8 MiB in all, payloads of at most 4 MiB (`collectives/coop.rs`); an odd length (a partial last
    // chunk) where the team is larger than two.
    let len = if n <= 2 { 4 << 20 } else { ((8 << 20) / n + 4097) | 1 };
    let room = len + 2;
    let src = ok!(sh.alloc_zeroed::<u8>(room));
    let dst = ok!(sh.alloc_zeroed::<u8>(room));
    let long = len;
    for r in 0..24 {
        // From 8 PEs, every third call moves exactly 1 MiB: still shared (8 MiB in all), with streaming stores.
        let len = if n >= 8 && r % 3 == 2 { 1 << 20 } else { long };
        let root = (r * 5) % n;
        let in_place = r % 6 == 5;
        if me as usize == root {
            ok!(src.write_local(0, &(0..len).map(|i| byte(me, r, i)).collect::<Vec<_>>()));
        }
        ok!(dst.write_local(len, &[SENTINEL]));
        // Every fourth call, a member other than the root sleeps before it enters: the others copy into its
        // dest once it has, or it copies its own.
        if r % 4 == 1 && me as usize == (root + 1) % n {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let (d, what) = if in_place { (&src, "in place") } else { (&dst, "apart") };
        ok!(collectives::broadcast::broadcast(TEAM_WORLD, DataType::U8, d.addr(), src.addr(), len, root as i32));
        if me as usize == root {
            ok!(src.write_local(0, &vec![0x55; len]));
        }
        let got = ok!(d.to_vec());
        if !(in_place && me as usize == root) {
            let bad = (0..len).find(|&i| got[i] != byte(root as u32, r, i));
            check!(bad.is_none(), "round {r} ({what}, root {root}): byte {bad:?} is not the root's");
        }
        check!(ok!(dst.to_vec())[len] == SENTINEL, "round {r}: the broadcast wrote past its {len} B");
        if in_place {
            ok!(sh.barrier_all());
        }
    }
    // Odd PEs pass one element more in odd rounds: those differing from the root fail and keep their dest.
    let odd = me % 2 == 1;
    ok!(sh.barrier_all());
    for r in 0..8 {
        let root = r % n;
        ok!(dst.write_local(0, &vec![0xAB; room]));
        ok!(src.write_local(0, &vec![r as u8 + 1; room]));
        let count = if r % 2 == 1 && odd { len + 1 } else { len };
        let res =
            collectives::broadcast::broadcast(TEAM_WORLD, DataType::U8, dst.addr(), src.addr(), count, root as i32);
        let differs = r % 2 == 1 && odd != (root % 2 == 1);
        let got = ok!(dst.to_vec());
        if differs && me as usize != root {
            code_is(res, -2, &format!("shared round {r}: a member differing from root {root}"))?;
            check!(got.iter().all(|&b| b == 0xAB), "shared round {r}: the refused broadcast wrote dest");
        } else {
            ok!(res);
            check!(got[..count].iter().all(|&b| b == r as u8 + 1), "shared round {r}: dest is not root {root}'s data");
            check!(got[count..].iter().all(|&b| b == 0xAB), "shared round {r}: wrote past the count");
        }
        ok!(sh.barrier_all());
    }
    // PE 1 broadcasts into `dst` while the others enter a barrier: the call does not count, and its record must
    // not be filled later; after the barrier its broadcast into `alt` pairs with PE 0's.
    let alt = ok!(sh.alloc_zeroed::<u8>(room));
    ok!(dst.write_local(0, &vec![0xAB; room]));
    ok!(src.write_local(0, &(0..len).map(|i| byte(me, 99, i)).collect::<Vec<_>>()));
    ok!(sh.barrier_all());
    let bcast =
        |d: &SymVec<u8>| collectives::broadcast::broadcast(TEAM_WORLD, DataType::U8, d.addr(), src.addr(), len, 0);
    if me == 1 {
        code_is(bcast(&dst), -2, "a broadcast meeting the root's barrier")?;
    }
    ok!(sh.barrier_all());
    ok!(bcast(&alt));
    let got = ok!(alt.to_vec());
    let bad = (0..len).find(|&i| got[i] != byte(0, 99, i));
    check!(bad.is_none(), "the broadcast after the barrier: byte {bad:?} is not PE 0's");
    ok!(sh.barrier_all());
    check!(ok!(dst.to_vec()).iter().all(|&b| b == 0xAB), "the dest of the uncounted broadcast was written");
    // Past 16 MiB the copies use streaming stores (`collectives/stream.rs`): an odd length from the last PE, to
    // an odd offset, exact, and nothing around it written.
    let big = (16 << 20) + 12_345;
    let (bs, bd) = (ok!(sh.alloc_zeroed::<u8>(big + 3)), ok!(sh.alloc_zeroed::<u8>(big + 3)));
    ok!(bs.write_local(0, &(0..big + 3).map(|i| byte(me, 7, i)).collect::<Vec<_>>()));
    ok!(bd.write_local(0, &vec![0xAB; big + 3]));
    ok!(sh.barrier_all());
    let root = n - 1;
    ok!(collectives::broadcast::broadcast(TEAM_WORLD, DataType::U8, bd.addr() + 1, bs.addr() + 2, big, root as i32));
    let got = ok!(bd.to_vec());
    let bad = (0..big).find(|&i| got[1 + i] != byte(root as u32, 7, i + 2));
    check!(bad.is_none(), "the {big}-byte broadcast: byte {bad:?} is not the root's");
    check!(got[0] == 0xAB && got[big + 1..] == [0xAB, 0xAB], "the {big}-byte broadcast wrote around its dest");
    ok!(sh.barrier_all());
    ok!(sh.finalize());
    Ok(())
}

/// Trials with their own environment: a one-second control timeout.
pub(crate) fn special_trials() -> Vec<Trial> {
    vec![Trial::test("coll_posted_shared_late_root_3pe", || {
        let env = [("SHMEM_CONTROL_TIMEOUT", "1")];
        let res = runner::run(3, "coll_posted_shared_late_root", &env, Duration::from_secs(60))?;
        runner::every_pe_ok(&res).map_err(Failed::from)
    })]
}

/// A broadcast whose copies are shared (3 PEs on 2 cores, 3 MiB each) with a root that posts 2 s late under a
/// 1 s control timeout: PE 1, waiting from the start, fails with TIMEOUT, and nobody may write its dest after
/// that (its ready record was out when it gave up); PE 2, arriving after 1.5 s, gets the data.
fn coll_posted_shared_late_root() -> Result<(), String> {
    pin_to_one_cpu()?;
    let sh = ok!(shmem::init_from_env());
    let me = sh.my_pe();
    let len = (3 << 20) + 1;
    let src = ok!(sh.alloc_zeroed::<u8>(len));
    let dst = ok!(sh.alloc_zeroed::<u8>(len));
    ok!(src.write_local(0, &(0..len).map(|i| byte(me, 1, i)).collect::<Vec<_>>()));
    ok!(dst.write_local(0, &vec![0xAB; len]));
    ok!(sh.barrier_all());
    let bcast = || collectives::broadcast::broadcast(TEAM_WORLD, DataType::U8, dst.addr(), src.addr(), len, 0);
    match me {
        0 => {
            std::thread::sleep(Duration::from_secs(2));
            ok!(bcast());
            check!(ok!(dst.to_vec()) == ok!(src.to_vec()), "the root's dest is not its source");
            std::thread::sleep(Duration::from_secs(3));
        }
        1 => {
            let t = Instant::now();
            let r = bcast();
            check!(t.elapsed() < Duration::from_millis(1900), "PE 1 waited {:?}, past the root's post", t.elapsed());
            code_is(r, -7, "a member waiting longer than the control timeout")?;
            // The root posts (at 2 s) and the others copy while this PE waits here.
            std::thread::sleep(Duration::from_secs(3));
            let got = ok!(dst.to_vec());
            let bad = got.iter().position(|&b| b != 0xAB);
            check!(bad.is_none(), "PE 1's dest was written at byte {bad:?} after its broadcast had failed");
        }
        _ => {
            std::thread::sleep(Duration::from_millis(1500));
            ok!(bcast());
            let got = ok!(dst.to_vec());
            let bad = (0..len).find(|&i| got[i] != byte(0, 1, i));
            check!(bad.is_none(), "PE 2's dest differs from the root's source at byte {bad:?}");
            std::thread::sleep(Duration::from_secs(3));
        }
    }
    Ok(())
}
