//! Issue 10 as real jobs: nobody outside a job may join, end or disturb it (started the way torchrun starts
//! it, with no launcher token); a store on another node without a secret refuses to start unless the user
//! opts out; an init whose peer never comes fails within its timeout; every survivor names the first cause.
//! The PEs are started here directly, without the launcher.

use crate::runner::SCENARIO_VAR;
use crate::{check, ok, Scenario};
use libtest_mimic::{Failed, Trial};
use shmem_bootstrap::wire::{unverified_handshake, Response, Role};
use shmem_bootstrap::{StoreClient, StoreConfig};
use shmem_core::attr::StoreUrl;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("sec_long_job", long_job),
    ("sec_cross_node_refused", cross_node_refused),
    ("sec_init_alone", init_alone),
    ("sec_root_cause", root_cause),
    ("sec_global_exit_from_pe0", global_exit_from_pe0),
];

/// PE 0, which serves the store, ends the job with global_exit over its exit connection: every PE ends with
/// its status (the store tells PE 0's own watch last).
fn global_exit_from_pe0() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    if sh.my_pe() == 0 {
        std::thread::sleep(Duration::from_millis(100));
        sh.global_exit(7);
    }
    let v = ok!(sh.alloc_zeroed::<u64>(1));
    let _ = v.wait_until(0, shmem::CmpOp::Eq, 42);
    Err("returned from a wait that global_exit should have ended".into())
}

/// How long each PE of `sec_long_job` keeps working while the outsider tries its luck.
const WORK_FOR: Duration = Duration::from_secs(3);

/// A job that keeps exchanging data for a while, then checks every value and finalizes.
fn long_job() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    let (me, n) = (sh.my_pe(), sh.n_pes());
    let v = ok!(sh.alloc_zeroed::<u64>(64));
    // PE 0's clock alone decides when to stop (it tells every PE each round), so that no PE frees while another
    // is still in a round's barrier.
    let go = ok!(sh.alloc_zeroed::<u64>(1));
    let start = Instant::now();
    let mut round = 0u64;
    loop {
        round += 1;
        if me == 0 {
            let more = u64::from(start.elapsed() < WORK_FOR || round <= 10);
            for pe in 0..n {
                ok!(go.put(pe, 0, &[round << 1 | more]));
            }
        }
        let next = (me + 1) % n;
        let vals: Vec<u64> = (0..64).map(|i| round * 1000 + u64::from(me) * 100 + i).collect();
        ok!(v.put(next, 0, &vals));
        ok!(sh.barrier_all());
        let prev = (me + n - 1) % n;
        let want: Vec<u64> = (0..64).map(|i| round * 1000 + u64::from(prev) * 100 + i).collect();
        check!(ok!(v.to_vec()) == want, "round {round}: data from PE {prev}");
        let verdict = ok!(go.to_vec())[0];
        check!(verdict >> 1 == round, "round {round}: PE 0's verdict is for round {}", verdict >> 1);
        ok!(sh.barrier_all());
        if verdict & 1 == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    ok!(go.free());
    ok!(v.free());
    ok!(sh.finalize());
    println!("PE {me} done after {round} rounds");
    Ok(())
}

/// A store on another node and no secret: init refuses at once with BOOTSTRAP_ERROR saying how to give one.
fn cross_node_refused() -> Result<(), String> {
    let t = Instant::now();
    let e = shmem::init_from_env().unwrap_err();
    check!(e.code() == -6, "code {} for {e}", e.code());
    check!(e.to_string().contains("SHMEM_JOB_TOKEN") && e.to_string().contains("SHMEM_INSECURE_NO_TOKEN"), "{e}");
    check!(t.elapsed() < Duration::from_secs(2), "refused after {:?}", t.elapsed());
    println!("refused: {e}");
    Ok(())
}

/// One PE of a two-PE job whose peer never comes: init fails within the init timeout plus a small margin.
fn init_alone() -> Result<(), String> {
    let limit: f64 = std::env::var("SEC_LIMIT_S").unwrap().parse().unwrap();
    let t = Instant::now();
    let e = shmem::init_from_env().unwrap_err();
    let took = t.elapsed();
    println!("init failed after {took:?}: {e}");
    check!(took <= Duration::from_secs_f64(limit), "init failed after {took:?}, more than {limit} s: {e}");
    check!(e.code() == -7 || e.code() == -6, "code {}: {e}", e.code());
    let missing = if std::env::var("RANK").unwrap() == "0" { 1 } else { 0 };
    let text = e.to_string();
    check!(
        text.contains(&format!("[{missing}]")) || text.contains(&format!("PE {missing}")),
        "names PE {missing}: {e}"
    );
    Ok(())
}

/// PE 1 leaves without finalize; PE 0 (the store host) fails because of it and exits at once. Every survivor
/// must name PE 1, never the store that went away with PE 0.
fn root_cause() -> Result<(), String> {
    let sh = ok!(shmem::init_from_env());
    ok!(sh.barrier_all());
    if sh.my_pe() == 1 {
        std::thread::sleep(Duration::from_millis(50));
        std::process::exit(9);
    }
    let e = sh.barrier_all().unwrap_err();
    if sh.my_pe() == 0 {
        std::process::exit(if e.to_string().contains("PE 1 left the job") { 3 } else { 4 });
    }
    // Let PE 0 go away before looking again: the cause must stay the first one.
    std::thread::sleep(Duration::from_millis(300));
    let again = sh.barrier_all().err().map(|e| e.to_string()).unwrap_or_default();
    println!("PE {} saw: {e} / then: {again}", sh.my_pe());
    let named = e.to_string().contains("PE 1 left the job") && !e.to_string().contains("store");
    std::process::exit(if named { 3 } else { 4 });
}

/// What one PE did.
struct Ended {
    code: i32,
    output: String,
}

/// Starts `pes` (ranks of a job of `n`) of this binary running `scenario`, each with `env(rank)`, and waits for
/// them (bounded by `deadline`, after which all are killed). `during` runs while they run.
fn spawn_job(
    n: u32,
    pes: &[u32],
    scenario: &str,
    env: &dyn Fn(u32) -> Vec<(String, String)>,
    deadline: Duration,
    during: &dyn Fn() -> Result<(), String>,
) -> Result<Vec<Ended>, String> {
    let mut children: Vec<Child> = Vec::new();
    for &pe in pes {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.env_remove("SHMEM_JOB_TOKEN")
            .env_remove("SHMEM_INSECURE_NO_TOKEN")
            .env_remove("SHMEM_MASTER_ADDR")
            .env_remove("SHMEM_MASTER_PORT")
            .env_remove("SHMEM_PE")
            .env_remove("SHMEM_N_PES")
            .env(SCENARIO_VAR, scenario)
            .env("RANK", pe.to_string())
            .env("WORLD_SIZE", n.to_string())
            .env("SHMEM_SYMMETRIC_SIZE", "8M")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.envs(env(pe));
        children.push(cmd.spawn().map_err(|e| format!("spawn PE {pe}: {e}"))?);
    }
    let res = crate::runner::wait_job(children, deadline, &format!("job {scenario}"), during)?;
    Ok(res.into_iter().map(|r| Ended { code: r.code, output: r.output }).collect())
}

/// A fresh per-test directory for node secret files (instead of the user's own).
fn runtime_dir(tag: &str) -> String {
    let d = std::env::temp_dir().join(format!(
        "shmem-sec-{tag}-{}-{}",
        std::process::id(),
        shmem_run::random_hex(3).unwrap()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d.to_string_lossy().into_owned()
}

/// torchrun's variables (the store is MASTER_PORT + 11), no token.
fn torchrun_env(master_port: u16, dir: &str) -> impl Fn(u32) -> Vec<(String, String)> + '_ {
    move |_| {
        vec![
            ("MASTER_ADDR".into(), "127.0.0.1".into()),
            ("MASTER_PORT".into(), master_port.to_string()),
            ("XDG_RUNTIME_DIR".into(), dir.to_string()),
            ("SHMEM_INIT_TIMEOUT".into(), "30".into()),
            ("SHMEM_CONTROL_TIMEOUT".into(), "30".into()),
        ]
    }
}

fn master_port() -> Result<u16, String> {
    let store = shmem_run::free_port().map_err(|e| e.to_string())?;
    Ok(store - 11)
}

/// Sends a hello and returns the store's answer; `None` when nothing listens or it closed without one.
fn try_hello(port: u16, role: Role, rank: u32, token: &str) -> Option<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    // (An outsider does not check the store's proof: the store's own refusal is what is tested.)
    unverified_handshake(&mut s, role, rank, token, b"guessed".to_vec()).ok()
}

/// The outsider: knows the store's address, guesses tokens (the old derived one first) and tries every role.
fn attack(store_port: u16) -> Result<(), String> {
    let url = StoreUrl { host: "127.0.0.1".into(), port: store_port, ipv6: false };
    // Wait until the job's store listens.
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", store_port)).is_err() {
        if t.elapsed() > Duration::from_secs(20) {
            return Err("the job's store never listened".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let derived = format!("shmem-job@{url}");
    for token in [derived.as_str(), "", "shmem-job@tcp://localhost:1", "shmem-insecure-no-token", "shmem-mutual-tls"] {
        for role in [Role::Client, Role::Watch, Role::Exit] {
            for rank in [0, 1] {
                match try_hello(store_port, role, rank, token) {
                    Some(Response::Rejected(why)) if why.contains("secret was rejected") => {}
                    other => return Err(format!("{role:?} as rank {rank} with {token:?}: {other:?}")),
                }
            }
        }
        let cfg = StoreConfig {
            url: url.clone(),
            token: token.into(),
            tls: None,
            connect_timeout: Duration::from_secs(2),
            op_timeout: Duration::from_secs(2),
        };
        if StoreClient::global_exit_from(&cfg, 1, 42).is_ok() {
            return Err(format!("a global exit with {token:?} was accepted"));
        }
        match StoreClient::connect(&cfg, 1) {
            Ok(c) => return Err(format!("joined as rank 1 with {token:?}; watch: {:?}", c.watch(|_| {}).is_ok())),
            // A client checks the store's proof first: with another token it sends nothing more.
            Err(e) if e.to_string().contains("could not prove that it knows the job's token") => {}
            Err(e) => return Err(format!("unexpected refusal: {e}")),
        }
    }
    Ok(())
}

fn all_zero(res: &[Ended], what: &str) -> Result<(), Failed> {
    for (pe, r) in res.iter().enumerate() {
        if r.code != 0 {
            return Err(format!("{what}: PE {pe} exited {}:\n{}", r.code, r.output).into());
        }
    }
    Ok(())
}

/// Started like torchrun (no token): the PEs share a secret through the node secret file, the outsider can do
/// nothing, and the job completes with correct data.
fn outsider_cannot_disturb_a_torchrun_job() -> Result<(), Failed> {
    let port = master_port()?;
    let dir = runtime_dir("torchrun");
    let env = torchrun_env(port, &dir);
    let res = spawn_job(2, &[0, 1], "sec_long_job", &env, Duration::from_secs(60), &|| attack(port + 11))?;
    all_zero(&res, "torchrun-style job under attack")?;
    for r in &res {
        if !r.output.contains("done after") {
            return Err(format!("no completion line:\n{}", r.output).into());
        }
    }
    let left: Vec<_> =
        std::fs::read_dir(format!("{dir}/shmem"))?.filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    if !left.is_empty() {
        return Err(format!("the node secret file outlived the job: {left:?}").into());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Without a token, init → finalize → init again (three times, and the seed's init form) works: each store's
/// secret file goes before its listener closes, so a PE never meets an old store's secret.
fn init_cycles_without_a_token() -> Result<(), Failed> {
    let port = master_port()?;
    let dir = runtime_dir("cycles");
    let env = |pe: u32| {
        let mut e = torchrun_env(port, &dir)(pe);
        e.push(("SHMEM_PE".into(), pe.to_string()));
        e.push(("SHMEM_N_PES".into(), "4".into()));
        e
    };
    let res = spawn_job(4, &[0, 1, 2, 3], "init_cycles", &env, Duration::from_secs(90), &|| Ok(()))?;
    all_zero(&res, "init cycles without a token")?;
    // The secrets went through this directory, and none outlived its store.
    let left = std::fs::read_dir(format!("{dir}/shmem"))?.count();
    if left != 0 {
        return Err(format!("{left} secret files left in {dir}/shmem").into());
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// global_exit called by PE 0 (the store host) in a job started without the launcher ends every PE.
fn global_exit_from_the_store_host() -> Result<(), Failed> {
    for (token, n) in [(true, 3u32), (false, 4)] {
        let port = master_port()?;
        let dir = runtime_dir("gexit");
        let env = |pe: u32| {
            let mut e = torchrun_env(port, &dir)(pe);
            if token {
                e.push(("SHMEM_JOB_TOKEN".into(), "gexit-token".into()));
            }
            e
        };
        let pes: Vec<u32> = (0..n).collect();
        let t = Instant::now();
        let res = spawn_job(n, &pes, "sec_global_exit_from_pe0", &env, Duration::from_secs(30), &|| Ok(()))?;
        for (pe, r) in res.iter().enumerate() {
            if r.code != 7 {
                return Err(format!("PE {pe} exited {} (wanted 7):\n{}", r.code, r.output).into());
            }
        }
        if t.elapsed() > Duration::from_secs(10) {
            return Err(format!("global_exit took {:?}", t.elapsed()).into());
        }
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// With shmemrun's token the outsider is refused just the same.
fn outsider_cannot_disturb_a_job_with_a_token() -> Result<(), Failed> {
    let port = master_port()?;
    let token = shmem_run::random_hex(16)?;
    let env = |_| {
        vec![
            ("MASTER_ADDR".to_string(), "127.0.0.1".to_string()),
            ("MASTER_PORT".into(), port.to_string()),
            ("SHMEM_JOB_TOKEN".into(), token.clone()),
        ]
    };
    let res = spawn_job(3, &[0, 1, 2], "sec_long_job", &env, Duration::from_secs(60), &|| attack(port + 11))?;
    all_zero(&res, "job with a token under attack")
}

/// A store on another node and no secret: refused with the documented error; with the opt-out the job starts
/// and warns.
fn cross_node_needs_a_secret_or_the_opt_out() -> Result<(), Failed> {
    let env = |_| vec![("MASTER_ADDR".to_string(), "192.0.2.1".to_string()), ("MASTER_PORT".into(), "29500".into())];
    let res = spawn_job(2, &[1], "sec_cross_node_refused", &env, Duration::from_secs(30), &|| Ok(()))?;
    all_zero(&res, "cross-node without a secret")?;
    let port = master_port()?;
    let dir = runtime_dir("optout");
    let env = |pe: u32| {
        let mut e = torchrun_env(port, &dir)(pe);
        e.push(("SHMEM_INSECURE_NO_TOKEN".into(), "1".into()));
        e.push(("SHMEM_LOG_LEVEL".into(), "WARN".into()));
        e
    };
    let res = spawn_job(2, &[0, 1], "sec_long_job", &env, Duration::from_secs(60), &|| Ok(()))?;
    all_zero(&res, "opted out")?;
    for r in &res {
        if !r.output.contains("SHMEM_INSECURE_NO_TOKEN=1") || !r.output.contains("WARN") {
            return Err(format!("no warning about the opt-out:\n{}", r.output).into());
        }
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Defect 5: rank 0 (or rank 1) of a two-PE job alone, every timeout 3 s, or only the init timeout: fails within
/// 3 s + 2 s.
fn init_alone_fails_within_its_timeout() -> Result<(), Failed> {
    for (rank, control, token) in
        [(0, true, true), (0, false, true), (1, true, true), (1, true, false), (0, false, false)]
    {
        let port = master_port()?;
        let dir = runtime_dir("alone");
        let env = |_| {
            let mut e = vec![
                ("MASTER_ADDR".to_string(), "127.0.0.1".to_string()),
                ("MASTER_PORT".into(), port.to_string()),
                ("XDG_RUNTIME_DIR".into(), dir.clone()),
                ("SHMEM_INIT_TIMEOUT".into(), "3".into()),
                ("SEC_LIMIT_S".into(), "5".into()),
            ];
            if control {
                e.push(("SHMEM_CONTROL_TIMEOUT".into(), "3".into()));
            }
            if token {
                e.push(("SHMEM_JOB_TOKEN".into(), "t0k3n".into()));
            }
            e
        };
        let res = spawn_job(2, &[rank], "sec_init_alone", &env, Duration::from_secs(40), &|| Ok(()))?;
        all_zero(&res, &format!("rank {rank} alone (control timeout set: {control}, token: {token})"))?;
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}

/// Defect 11: in jobs started without the launcher where PE 1 leaves and PE 0 (the store host) fails and exits
/// because of it, every survivor names PE 1. Repeated, with 3 and 16 PEs: the race is short, and 16 PEs (many notices to send) make it show (checked: with rank 0 told first, a 16-PE run fails).
fn survivors_name_the_first_cause() -> Result<(), Failed> {
    for (i, n) in [3u32, 3, 3, 16, 16, 16, 16, 16].into_iter().enumerate() {
        let port = master_port()?;
        let token = shmem_run::random_hex(16)?;
        let env = |_| {
            vec![
                ("MASTER_ADDR".to_string(), "127.0.0.1".to_string()),
                ("MASTER_PORT".into(), port.to_string()),
                ("SHMEM_JOB_TOKEN".into(), token.clone()),
                ("SHMEM_LOG_LEVEL".into(), "ERROR".into()),
            ]
        };
        let pes: Vec<u32> = (0..n).collect();
        let res = spawn_job(n, &pes, "sec_root_cause", &env, Duration::from_secs(60), &|| Ok(()))?;
        for (pe, r) in res.iter().enumerate() {
            let want = if pe == 1 { 9 } else { 3 };
            if r.code != want {
                return Err(
                    format!("run {i} ({n} PEs): PE {pe} exited {} (wanted {want}):\n{}", r.code, r.output).into()
                );
            }
        }
    }
    Ok(())
}

pub fn special_trials() -> Vec<Trial> {
    vec![
        Trial::test("security_outsider_cannot_disturb_a_torchrun_job_2pe", outsider_cannot_disturb_a_torchrun_job),
        Trial::test(
            "security_outsider_cannot_disturb_a_job_with_a_token_3pe",
            outsider_cannot_disturb_a_job_with_a_token,
        ),
        Trial::test("security_cross_node_needs_a_secret_or_the_opt_out", cross_node_needs_a_secret_or_the_opt_out),
        Trial::test("init_alone_fails_within_its_timeout", init_alone_fails_within_its_timeout),
        Trial::test("security_init_cycles_without_a_token_4pe", init_cycles_without_a_token),
        Trial::test("security_global_exit_from_the_store_host", global_exit_from_the_store_host),
        Trial::test("survivors_name_the_first_cause_3pe_16pe", survivors_name_the_first_cause),
    ]
}
