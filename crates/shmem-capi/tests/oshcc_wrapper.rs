//! `oshcc` run with `CC` naming itself (CMake does this while it probes the compiler; `CC=oshcc ./configure`
//! too): it must compile with the system compiler, not start itself again without end (found building
//! shmemvv with CMake: a fork storm until the kernel's OOM killer stopped it).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd`, killing it after 60 s; its exit code (None when killed).
fn bounded(mut cmd: Command) -> Option<i32> {
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("spawn oshcc");
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code();
        }
        if t0.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn oshcc_with_cc_naming_itself_uses_the_system_compiler() {
    let dir = std::env::temp_dir().join(format!("oshcc-wrapper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("t.c");
    std::fs::write(&src, "#include <shmem.h>\nint main(void) { return SHMEM_MAJOR_VERSION == 1 ? 0 : 1; }\n").unwrap();
    let oshcc = env!("CARGO_BIN_EXE_oshcc");
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    for cc in [oshcc.to_string(), "oshcc".to_string()] {
        let exe = dir.join("t");
        let _ = std::fs::remove_file(&exe);
        let mut cmd = Command::new(oshcc);
        cmd.env("CC", &cc).env("OSHCC_LIBDIR", &deps).env_remove("OSHCC_CC").env_remove("OSHCC_WRAPPER_ACTIVE");
        cmd.arg("-c").arg("-o").arg(dir.join("t.o")).arg(&src);
        assert_eq!(bounded(cmd), Some(0), "CC={cc}: oshcc -c must finish with the system compiler");
        assert!(dir.join("t.o").is_file(), "CC={cc}: the object was written");
    }
    // The math library comes with the wrapper's link line, as with other OpenSHMEM wrappers.
    let m = dir.join("m.c");
    std::fs::write(&m, "#include <math.h>\n#include <shmem.h>\nint main(int c, char **v) { (void)v; return powl(2.0L, c) > 1 ? 0 : 1; }\n").unwrap();
    let mut cmd = Command::new(oshcc);
    cmd.env("OSHCC_LIBDIR", &deps).env_remove("OSHCC_WRAPPER_ACTIVE").arg("-o").arg(dir.join("m")).arg(&m);
    assert_eq!(bounded(cmd), Some(0), "a program calling powl links without -lm");
    // A wrapper started by a wrapper (OSHCC_CC naming one, or a symlink) stops with an error instead of running on.
    let mut cmd = Command::new(oshcc);
    cmd.env("OSHCC_CC", oshcc).env("OSHCC_LIBDIR", &deps).arg("-c").arg(&src).arg("-o").arg(dir.join("u.o"));
    assert_eq!(bounded(cmd), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
