//! `oshrun` whose stderr is a pipe nobody reads (`oshrun ... 2>&1 | head` after `head` exited, a hung-up ssh
//! session): its own error line cannot be written (EPIPE; Rust ignores SIGPIPE), and it still exits with the
//! documented code, 2 for a usage error, not 101 from a panic.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn a_closed_stderr_keeps_the_exit_code() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    // Two nodes without a shared secret: refused before any PE starts (exit 2).
    let mut child = Command::new(env!("CARGO_BIN_EXE_oshrun"))
        .args(["--nnodes", "2", "--node-rank", "0", "--master-port", "29500", "-np", "1", "true"])
        .env_remove("SHMEM_JOB_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("oshrun did not finish within 10 s");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(status.code(), Some(2));
}
