//! Compiling tests/c/ programs with our `oshcc` and running them with our `oshrun` as real multi-process jobs.
//! Each program checks exact values itself and exits non-zero (with a message) on a mismatch; programs that
//! test bad input expect a given exit status and stderr text. Shared by the tests/c_*.rs files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Where the compiled programs go (one directory per test process).
fn out_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("shmem-capi-tests-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    })
}

/// Compiles tests/c/`file` with oshcc (or oshc++ for .cpp) and `flags`; panics with the compiler's output.
pub(crate) fn compile(file: &str, flags: &[&str]) -> PathBuf {
    // Once per (file, flags) and test process: two tests compiling the same program would rewrite the
    // executable while the other runs it ("Text file busy").
    static BUILT: std::sync::Mutex<Vec<(String, Vec<String>, PathBuf)>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let key: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
    if let Some((_, _, exe)) = built.iter().find(|(f, k, _)| f == file && *k == key) {
        return exe.clone();
    }
    let exe = compile_uncached(file, flags, built.len());
    built.push((file.to_string(), key, exe.clone()));
    exe
}

fn compile_uncached(file: &str, flags: &[&str], serial: usize) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c").join(file);
    let stem = Path::new(file).file_stem().unwrap().to_string_lossy().into_owned();
    let exe = out_dir().join(format!("{stem}-{serial}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oshcc"));
    // `cargo test` builds the library into target/<profile>/deps (this test's own directory) and does not
    // always copy it up to where oshcc looks by default: link the one just built, never a stale copy.
    let deps = std::env::current_exe().expect("test exe").parent().expect("deps dir").to_path_buf();
    cmd.env("OSHCC_LIBDIR", deps);
    if file.ends_with(".cpp") {
        // The same binary is the C++ wrapper when it is asked for a C++ compiler.
        cmd.env("OSHCC_CC", std::env::var("CXX").unwrap_or_else(|_| "c++".into()));
    } else {
        cmd.arg("-std=c11");
    }
    let out = cmd
        .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(flags)
        .output()
        .expect("run oshcc");
    assert!(
        out.status.success(),
        "oshcc {file} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Our `oshrun`, with an environment in which the PEs load the library their program was linked against:
/// cargo test puts target/<profile> (with a possibly stale libshmem_capi.so) on LD_LIBRARY_PATH, which the
/// loader would prefer to the programs' RUNPATH.
pub(crate) fn oshrun() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oshrun"));
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd
}

/// Runs `exe` as a job of `n` PEs under oshrun (bounded by a launcher timeout) with extra `env`.
pub(crate) fn run(exe: &Path, n: u32, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = oshrun();
    cmd.args(["-np", &n.to_string(), "--timeout", "60", "--mem-size", "64M"]).arg(exe).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run oshrun")
}

/// Runs `exe` at each PE count and asserts every job exited 0; returns the outputs.
pub(crate) fn run_ok(exe: &Path, pes: &[u32]) -> Vec<Output> {
    pes.iter()
        .map(|&n| {
            let out = run(exe, n, &[], &[]);
            assert!(
                out.status.success(),
                "{} on {n} PEs: {:?}\nstdout:\n{}\nstderr:\n{}",
                exe.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            out
        })
        .collect()
}

/// Runs `exe` on `n` PEs with `args` and asserts the job failed with `status` and stderr containing `text`.
pub(crate) fn run_fails(exe: &Path, n: u32, args: &[&str], status: i32, text: &str) {
    let out = run(exe, n, &[], args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(status),
        "{} {args:?}: status {:?}\nstderr:\n{stderr}",
        exe.display(),
        out.status
    );
    assert!(stderr.contains(text), "{} {args:?}: stderr lacks {text:?}:\n{stderr}", exe.display());
}
