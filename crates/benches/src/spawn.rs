//! Starting the other PEs of a benchmark job whose PE 0 is the calling process (criterion benches must run
//! their measurements in the bench process itself).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Gives this process PE 0's launch environment for an `n`-PE job with `heap` bytes per PE, and starts PEs
/// 1..n as children running this same executable with `role_var=1` set. Returns the children and the job's
/// shared-memory prefix. Call before any other thread exists (it sets environment variables). The children
/// inherit the rest of this process's environment, so runtime settings such as `SHMEM_DATA_OP_ENGINE` that
/// this process was started with reach every PE.
pub fn start_job(n: u32, heap: u64, role_var: &str) -> std::io::Result<(Vec<Child>, String)> {
    let exe = std::env::current_exe()?;
    let mut spec = shmem_run::JobSpec::new(n, &exe);
    spec.mem_size = Some(heap);
    let port = shmem_run::free_port()?;
    let token = shmem_run::random_hex(16)?;
    let prefix = format!("shmem-bench-{}-{}", std::process::id(), shmem_run::random_hex(3)?);
    for (k, v) in shmem_run::pe_env(&spec, 0, port, &token, &prefix) {
        // Single-threaded still (documented precondition): nothing reads the environment concurrently.
        std::env::set_var(k, v);
    }
    let mut children = Vec::new();
    for pe in 1..n {
        let mut cmd = Command::new(&exe);
        cmd.envs(shmem_run::pe_env(&spec, pe, port, &token, &prefix)).env(role_var, "1").stdin(Stdio::null());
        // SAFETY: the closure runs in the child between fork and exec and only calls prctl, which is
        // async-signal-safe; it allocates nothing and takes no lock.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        children.push(cmd.spawn()?);
    }
    Ok((children, prefix))
}

/// Waits up to `limit` for the children to exit, then kills those still running.
pub fn reap(children: Vec<Child>, limit: Duration) {
    let start = Instant::now();
    for (i, mut child) in children.into_iter().enumerate() {
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    if !st.success() {
                        eprintln!("PE {} ended with {st}", i + 1);
                    }
                    break;
                }
                Ok(None) if start.elapsed() < limit => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    eprintln!("PE {} did not exit; killing it", i + 1);
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
}
