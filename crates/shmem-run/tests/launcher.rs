//! Runs the built `shmemrun` against small `sh` programs. Every wait is bounded.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shmem_run::{run_job, JobEnd, JobSpec, PeStatus};

/// The longest any launcher run in these tests may take.
const LIMIT: Duration = Duration::from_secs(10);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

fn shmemrun(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shmemrun"));
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn reader(mut r: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

/// Waits for `child` at most `limit`; kills it and panics when it takes longer.
fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("shmemrun did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn finish(mut child: Child, start: Instant) -> Run {
    let (out, err) = (reader(child.stdout.take().unwrap()), reader(child.stderr.take().unwrap()));
    let status = wait_bounded(&mut child, LIMIT);
    let elapsed = start.elapsed();
    let code = status.code().expect("shmemrun itself was killed by a signal");
    Run { code, stdout: out.join().unwrap(), stderr: err.join().unwrap(), elapsed }
}

fn run(args: &[&str]) -> Run {
    let start = Instant::now();
    finish(shmemrun(args).spawn().unwrap(), start)
}

fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort();
    v
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shmemrun-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether `pid` names a live process (a zombie waiting for a reaper counts as gone).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            !matches!(stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().as_bytes()[0]), Some(b'Z' | b'X'))
        }
    }
}

fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[test]
fn all_succeed_and_lines_are_prefixed() {
    let r = run(&["-n", "3", "sh", "-c", "echo out $SHMEM_PE; echo err $SHMEM_PE >&2; printf 'tail %s' $RANK"]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(
        sorted_lines(&r.stdout),
        ["[0] out 0", "[0] tail 0", "[1] out 1", "[1] tail 1", "[2] out 2", "[2] tail 2"]
    );
    assert_eq!(sorted_lines(&r.stderr), ["[0] err 0", "[1] err 1", "[2] err 2"]);
}

#[test]
fn no_prefix_passes_output_through() {
    let r = run(&["-n", "2", "--no-prefix", "--", "sh", "-c", "echo plain"]);
    assert_eq!(r.code, 0);
    assert_eq!(sorted_lines(&r.stdout), ["plain", "plain"]);
}

#[test]
fn every_pe_gets_a_consistent_environment() {
    let script = "echo $SHMEM_PE $SHMEM_N_PES $SHMEM_LOCAL_PE $SHMEM_LOCAL_N_PES $RANK $WORLD_SIZE $LOCAL_RANK \
                  $LOCAL_WORLD_SIZE $SHMEM_MASTER_ADDR $MASTER_ADDR $SHMEM_MASTER_PORT $MASTER_PORT \
                  $SHMEM_JOB_TOKEN $SHMEM_SHM_PREFIX $EXTRA $SHMEM_SYMMETRIC_SIZE";
    let r = run(&["--np", "4", "--no-prefix", "-x", "EXTRA=a=b", "--mem-size", "2M", "--", "sh", "-c", script]);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    let rows: Vec<Vec<&str>> = sorted_lines(&r.stdout).iter().map(|l| l.split(' ').collect()).collect();
    assert_eq!(rows.len(), 4);
    for (pe, row) in rows.iter().enumerate() {
        let pe = pe.to_string();
        assert_eq!(row[..8], [&*pe, "4", &*pe, "4", &*pe, "4", &*pe, "4"]);
        assert_eq!(row[8..10], ["127.0.0.1", "127.0.0.1"]);
        let (port, torch_port): (u16, u16) = (row[10].parse().unwrap(), row[11].parse().unwrap());
        assert_eq!(port, torch_port + 11);
        assert!(torch_port > 1024);
        assert_eq!(row[12].len(), 32);
        assert!(row[12].bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(row[13].starts_with("shmem-"));
        assert_eq!(row[14..], ["a=b", "2097152"]);
        assert_eq!(row[10..14], rows[0][10..14], "port, token and prefix must be the same on every PE");
    }
}

#[test]
fn port_and_host_options() {
    let port = shmem_run::free_port().unwrap().to_string();
    let r = run(&[
        "-n",
        "1",
        "--port",
        &port,
        "--host",
        "10.1.2.3",
        "sh",
        "-c",
        "echo $SHMEM_MASTER_ADDR:$SHMEM_MASTER_PORT",
    ]);
    assert_eq!(r.stdout.trim(), format!("[0] 10.1.2.3:{port}"));
    assert_eq!(run(&["-n", "1", "--port", "1030", "true"]).code, 2);
}

#[test]
fn a_failing_pe_ends_the_job_with_its_status() {
    let r = run(&["-n", "4", "sh", "-c", "[ $SHMEM_PE = 1 ] && exit 3; exec sleep 30"]);
    assert_eq!(r.code, 3);
    assert!(r.elapsed < Duration::from_secs(3), "took {:?}", r.elapsed);
    assert!(r.stderr.contains("shmemrun: PE 1 exited with status 3; terminating the other 3 PEs"), "{}", r.stderr);
}

#[test]
fn a_pe_killed_by_a_signal_gives_128_plus_signo() {
    let r = run(&["-n", "3", "sh", "-c", "[ $SHMEM_PE = 2 ] && kill -9 $$; sleep 30"]);
    assert_eq!(r.code, 137);
    assert!(r.elapsed < Duration::from_secs(3), "took {:?}", r.elapsed);
    assert!(r.stderr.contains("PE 2 was killed by signal 9 (SIGKILL)"), "{}", r.stderr);
}

#[test]
fn timeout_gives_124() {
    let r = run(&["-n", "2", "--timeout", "0.5", "sleep", "30"]);
    assert_eq!(r.code, 124);
    assert!(r.elapsed < Duration::from_secs(3), "took {:?}", r.elapsed);
    assert!(r.stderr.contains("timed out after 0.5 s"), "{}", r.stderr);
}

#[test]
fn missing_program_gives_127() {
    let r = run(&["-n", "2", "/nonexistent/shmem-program"]);
    assert_eq!(r.code, 127);
    assert!(r.stderr.contains("cannot start \"/nonexistent/shmem-program\""), "{}", r.stderr);
}

/// Starts a job whose PEs (and a child of each) write their pids, signals the launcher, and checks that
/// every one of those processes is gone.
fn signal_to_launcher_kills_everything(sig: i32, expected_code: i32) {
    let dir = temp_dir(&format!("sig{sig}"));
    let d = dir.display();
    let script = format!("sleep 30 & echo $! > {d}/gc.$SHMEM_PE; echo $$ > {d}/pe.$SHMEM_PE; wait");
    let start = Instant::now();
    let child = shmemrun(&["-n", "3", "sh", "-c", &script]).spawn().unwrap();
    let files: Vec<PathBuf> =
        (0..3).flat_map(|pe| [dir.join(format!("pe.{pe}")), dir.join(format!("gc.{pe}"))]).collect();
    assert!(wait_until(LIMIT, || files.iter().all(|f| read_pid(f).is_some())), "PEs did not start");
    let pids: Vec<i32> = files.iter().map(|f| read_pid(f).unwrap()).collect();
    // SAFETY: sending a signal to the launcher this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
    let r = finish(child, start);
    assert_eq!(r.code, expected_code, "stderr: {}", r.stderr);
    assert!(wait_until(Duration::from_secs(2), || pids.iter().all(|&p| !alive(p))), "left alive: {pids:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_to_the_launcher_kills_all_pes() {
    signal_to_launcher_kills_everything(libc::SIGTERM, 143);
}

#[test]
fn sigint_to_the_launcher_kills_all_pes() {
    signal_to_launcher_kills_everything(libc::SIGINT, 130);
}

#[test]
fn pes_die_with_a_launcher_killed_by_sigkill() {
    let dir = temp_dir("pdeathsig");
    let script = format!("echo $$ > {}/pe.$SHMEM_PE; exec sleep 30", dir.display());
    let start = Instant::now();
    let child = shmemrun(&["-n", "2", "sh", "-c", &script]).spawn().unwrap();
    let files = [dir.join("pe.0"), dir.join("pe.1")];
    assert!(wait_until(LIMIT, || files.iter().all(|f| read_pid(f).is_some())), "PEs did not start");
    let pids: Vec<i32> = files.iter().map(|f| read_pid(f).unwrap()).collect();
    // SAFETY: sending a signal to the launcher this test started.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGKILL) }, 0);
    let mut child = child;
    let status = wait_bounded(&mut child, LIMIT);
    assert!(start.elapsed() < LIMIT && status.code().is_none());
    assert!(wait_until(Duration::from_secs(2), || pids.iter().all(|&p| !alive(p))), "left alive: {pids:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn shm_left(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// PEs create `/dev/shm/<prefix>-<pe>`; whatever happens to them, nothing with the prefix is left.
fn shm_is_cleaned(kill_one: bool) {
    let kill = if kill_one {
        // PE 1 waits for every PE's file (bounded by --timeout), so none is killed before making it.
        "if [ $SHMEM_PE = 1 ]; then while [ $(ls /dev/shm | grep -c ^$SHMEM_SHM_PREFIX-) -lt 3 ]; \
         do sleep 0.01; done; kill -9 $$; fi; sleep 30"
    } else {
        "true"
    };
    let script =
        format!("f=/dev/shm/$SHMEM_SHM_PREFIX-$SHMEM_PE; touch $f; [ -e $f ] && echo made $SHMEM_SHM_PREFIX; {kill}");
    let r = run(&["-n", "3", "--no-prefix", "--timeout", "5", "sh", "-c", &script]);
    assert_eq!(r.code, if kill_one { 137 } else { 0 }, "stderr: {}", r.stderr);
    let lines = sorted_lines(&r.stdout);
    assert_eq!(lines.len(), 3, "every PE must have created its file: {lines:?}");
    let prefix = lines[0].strip_prefix("made ").unwrap();
    assert!(lines.iter().all(|l| *l == lines[0]));
    assert_eq!(shm_left(prefix), Vec::<String>::new());
}

#[test]
fn shm_segments_are_removed_after_success() {
    shm_is_cleaned(false);
}

#[test]
fn shm_segments_are_removed_after_kill_9() {
    shm_is_cleaned(true);
}

#[test]
fn run_job_reports_the_failed_pe() {
    let mut spec = JobSpec::new(3, "sh");
    spec.args = vec!["-c".into(), "[ $SHMEM_PE = 2 ] && exit 5; exit 0".into()];
    spec.prefix_output = false;
    spec.timeout = Some(LIMIT);
    let outcome = run_job(&spec).unwrap();
    assert_eq!(outcome.exit_code(), 5);
    assert_eq!(outcome.failed_pe(), Some(2));
    assert!(matches!(outcome.end, JobEnd::PeFailed { pe: 2, status: PeStatus::Exited(5), .. }));
    assert_eq!(outcome.statuses[2], Some(PeStatus::Exited(5)));
    assert_eq!(outcome.shm_prefix.len(), "shmem-".len() + std::process::id().to_string().len() + 7);

    spec.args = vec!["-c".into(), "exit 0".into()];
    let outcome = run_job(&spec).unwrap();
    assert_eq!((outcome.exit_code(), outcome.failed_pe()), (0, None));
    assert!(outcome.statuses.iter().all(|s| *s == Some(PeStatus::Exited(0))));
}

/// A pipe whose read end is already closed: every write to the other end fails with EPIPE.
fn pipe_nobody_reads() -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned by nothing else.
    let (read, write) =
        unsafe { (std::os::fd::OwnedFd::from_raw_fd(fds[0]), std::os::fd::OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    write
}

/// `shmemrun ... 2>&1 | head` after `head` exited, or an ssh session that hung up: the launcher's stdout and
/// stderr are a pipe nobody reads, so writing the line that names the failed PE fails (EPIPE; Rust ignores
/// SIGPIPE). The launcher must still tear the job down, remove the job's shared memory and exit with the
/// failed PE's status, not panic (101) and leave the rest to PDEATHSIG. With `--verbose` the launcher's log
/// goes to that pipe too.
fn a_closed_stderr_does_not_skip_the_teardown(verbose: bool) {
    let dir = temp_dir(if verbose { "epipe-v" } else { "epipe" });
    let d = dir.display();
    // Every PE records its pid and the job's prefix, then makes its segment; PE 1 fails once all three exist.
    let script = format!(
        "echo $$ > {d}/pe.$SHMEM_PE; echo $SHMEM_SHM_PREFIX > {d}/prefix.$SHMEM_PE; \
         touch /dev/shm/$SHMEM_SHM_PREFIX-$SHMEM_PE; if [ $SHMEM_PE = 1 ]; then \
         while [ $(ls /dev/shm | grep -c ^$SHMEM_SHM_PREFIX-) -lt 3 ]; do sleep 0.01; done; exit 3; fi; exec sleep 30"
    );
    let out = pipe_nobody_reads();
    let err = out.try_clone().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shmemrun"))
        .args(if verbose { &["--verbose"][..] } else { &[] })
        .args(["-n", "3", "--timeout", "8", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, LIMIT);
    let files: Vec<PathBuf> = (0..3).map(|pe| dir.join(format!("pe.{pe}"))).collect();
    let pids: Vec<i32> = files.iter().filter_map(|f| read_pid(f)).collect();
    assert_eq!(pids.len(), 3, "every PE must have started");
    let prefix = std::fs::read_to_string(dir.join("prefix.0")).unwrap().trim().to_owned();
    assert!(prefix.starts_with("shmem-"), "{prefix:?}");
    assert_eq!(status.code(), Some(3));
    assert_eq!(shm_left(&prefix), Vec::<String>::new());
    assert!(wait_until(Duration::from_secs(2), || pids.iter().all(|&p| !alive(p))), "left alive: {pids:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_closed_stderr_does_not_skip_the_teardown_quiet() {
    a_closed_stderr_does_not_skip_the_teardown(false);
}

#[test]
fn a_closed_stderr_does_not_skip_the_teardown_verbose() {
    a_closed_stderr_does_not_skip_the_teardown(true);
}

/// PEs that print 5000 numbered lines to stdout and to stderr right before exiting: every line arrives, once.
/// With `--grace 0` the output thread is told to finish as soon as the PEs are reaped, while their last
/// output may still sit in the pipes.
fn every_line_arrives_once(grace: Option<&str>) {
    const N_PES: u32 = 4;
    const LINES: u32 = 5000;
    let mut args = vec!["-n", "4"];
    if let Some(g) = grace {
        args.extend(["--grace", g]);
    }
    args.extend(["sh", "-c", "seq 1 5000; seq 1 5000 >&2"]);
    let r = run(&args);
    assert_eq!(r.code, 0, "stderr tail: {}", &r.stderr[r.stderr.len().saturating_sub(200)..]);
    let mut want: Vec<String> = (0..N_PES).flat_map(|pe| (1..=LINES).map(move |i| format!("[{pe}] {i}"))).collect();
    want.sort();
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        let got = sorted_lines(text);
        assert_eq!(got.len(), want.len(), "{name}: {} lines, {} expected (grace {grace:?})", got.len(), want.len());
        assert!(got == want, "{name}: lines missing or repeated (grace {grace:?})");
    }
}

#[test]
fn output_tail_arrives_with_grace_0() {
    for _ in 0..3 {
        every_line_arrives_once(Some("0"));
    }
}

#[test]
fn output_tail_arrives_with_the_default_grace() {
    every_line_arrives_once(None);
}

/// The state letter of `pid` in `/proc` (`'Z'` for a zombie), `None` once it is reaped.
fn proc_state(pid: i32) -> Option<u8> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.trim_start().as_bytes()[0])
}

/// A PE that exits early stays an unreaped zombie while the job runs, so its pid, which is also its process
/// group's id, cannot be given to an unrelated process that the teardown's killpg would then hit. It is reaped
/// when the job ends.
#[test]
fn an_exited_pe_keeps_its_pid_until_the_teardown() {
    let dir = temp_dir("zombie");
    let d = dir.display();
    let script = format!(
        "echo $$ > {d}/pe.$SHMEM_PE; [ $SHMEM_PE = 0 ] && exit 0; \
         i=0; while [ ! -e {d}/go ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done"
    );
    let start = Instant::now();
    let child = shmemrun(&["-n", "2", "sh", "-c", &script]).spawn().unwrap();
    assert!(wait_until(LIMIT, || read_pid(&dir.join("pe.0")).is_some()), "PE 0 did not start");
    let pe0 = read_pid(&dir.join("pe.0")).unwrap();
    // Exited: a zombie, or already reaped (what must not happen while PE 1 runs).
    assert!(wait_until(LIMIT, || proc_state(pe0).is_none_or(|s| s == b'Z')));
    std::thread::sleep(Duration::from_millis(300));
    let state = proc_state(pe0);
    std::fs::write(dir.join("go"), b"").unwrap();
    let r = finish(child, start);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(state, Some(b'Z'), "PE 0 was reaped while the job still ran");
    assert_eq!(proc_state(pe0), None, "PE 0 was not reaped at the end of the job");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A PE that succeeds but leaves a helper running in the background (in its process group): the helper
/// does not outlive the job.
#[test]
fn a_pe_s_background_child_goes_with_a_successful_job() {
    let dir = temp_dir("helper");
    let script = format!("sleep 300 & echo $! > {}/bg.$SHMEM_PE; exit 0", dir.display());
    let r = run(&["-n", "2", "sh", "-c", &script]);
    let pids: Vec<i32> = (0..2).filter_map(|pe| read_pid(&dir.join(format!("bg.{pe}")))).collect();
    let gone = wait_until(Duration::from_secs(3), || pids.iter().all(|&p| !alive(p)));
    for &p in pids.iter().filter(|&&p| alive(p)) {
        // SAFETY: killing the test's own leftover `sleep 300` (checked alive just above).
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    assert_eq!(pids.len(), 2, "every PE must have started its helper");
    assert!(gone, "helpers left alive after the job: {pids:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
