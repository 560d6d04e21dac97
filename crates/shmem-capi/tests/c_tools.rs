//! The tools themselves: `oshcxx` compiles and links a C++ program with the C++ compiler on its own (no
//! `CXX`/`OSHCC_CC` set), a link named `oshc++` is the C++ wrapper too, and `--showme[:part]` prints the
//! flags build systems ask for.

mod harness;
use harness::run_ok;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("shmem-capi-tools-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d.join(name)
}

/// Runs `tool args` with the compiler variables removed; returns (status, stdout, stderr).
fn tool(tool: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(tool)
        .args(args)
        .env_remove("CC")
        .env_remove("CXX")
        .env_remove("OSHCC_CC")
        .env_remove("OSHCXX_CXX")
        .output()
        .expect("run the tool");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cxx_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/cxx.cpp")
}

#[test]
fn oshcxx_builds_a_cpp_program_that_runs() {
    let exe = tmp("cxx-via-oshcxx");
    let (status, _, err) = tool(
        Path::new(env!("CARGO_BIN_EXE_oshcxx")),
        &["-O2", "-Wall", "-Werror", "-o", exe.to_str().unwrap(), cxx_source().to_str().unwrap()],
    );
    assert_eq!(status, Some(0), "oshcxx failed:\n{err}");
    run_ok(&exe, &[2, 4]);
}

#[test]
fn a_link_named_oshcpp_is_the_cpp_wrapper() {
    let link = tmp("oshc++");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_oshcc"), &link).expect("symlink");
    let (status, out, err) = tool(&link, &["--showme:command"]);
    assert_eq!((status, out.as_str()), (Some(0), "c++\n"), "{err}");
    let exe = tmp("cxx-via-link");
    let (status, _, err) = tool(&link, &["-O2", "-o", exe.to_str().unwrap(), cxx_source().to_str().unwrap()]);
    assert_eq!(status, Some(0), "oshc++ failed:\n{err}");
    run_ok(&exe, &[2]);
}

#[test]
fn showme_prints_the_flags() {
    let oshcc = Path::new(env!("CARGO_BIN_EXE_oshcc"));
    let lib = oshcc.parent().unwrap().display().to_string();
    let inc = Path::new(env!("CARGO_MANIFEST_DIR")).join("include").display().to_string();
    let (s, out, _) = tool(oshcc, &["--showme:compile"]);
    assert_eq!((s, out), (Some(0), format!("-I{inc}\n")));
    let (s, out, _) = tool(oshcc, &["-showme:link"]);
    assert_eq!((s, out), (Some(0), format!("-L{lib} -Wl,-rpath,{lib} -lshmem_capi -lm\n")));
    let (s, out, _) = tool(oshcc, &["--showme:command"]);
    assert_eq!((s, out.as_str()), (Some(0), "cc\n"));
    let (s, out, _) = tool(oshcc, &["--showme:incdirs"]);
    assert_eq!((s, out), (Some(0), format!("{inc}\n")));
    let (s, out, _) = tool(oshcc, &["--showme:libdirs"]);
    assert_eq!((s, out), (Some(0), format!("{lib}\n")));
    // The whole command; compiling only (-c) links nothing.
    let (s, out, _) = tool(oshcc, &["--showme", "-O2", "-o", "a", "a.c"]);
    assert_eq!((s, out), (Some(0), format!("cc -I{inc} -O2 -o a a.c -L{lib} -Wl,-rpath,{lib} -lshmem_capi -lm\n")));
    let (s, out, _) = tool(Path::new(env!("CARGO_BIN_EXE_oshcxx")), &["-showme", "-c", "a.cpp"]);
    assert_eq!((s, out), (Some(0), format!("c++ -I{inc} -c a.cpp\n")));
    // An unknown part is a usage error, and nothing is compiled.
    let (s, out, err) = tool(oshcc, &["--showme:flags", "a.c"]);
    assert_eq!((s, out.as_str()), (Some(2), ""));
    assert!(err.contains("oshcc: unknown option --showme:flags"), "{err}");
}

#[test]
fn a_missing_compiler_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_oshcc"))
        .env("OSHCC_CC", "/nonexistent/cc")
        .args(["-o", "/nonexistent/a", "a.c"])
        .output()
        .expect("run oshcc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("oshcc: cannot run the compiler `/nonexistent/cc`") && err.contains("set OSHCC_CC"), "{err}");
}

/// Build systems set `CC=oshcc`: the wrapper must not run `$CC` (itself) — that once forked oshcc until the
/// machine ran out of memory. `OSHCC_CC` naming a wrapper is stopped at the second level.
#[test]
fn a_wrapper_never_runs_itself() {
    let oshcc = env!("CARGO_BIN_EXE_oshcc");
    let out = Command::new(oshcc).env("CC", oshcc).env("CXX", oshcc).arg("--showme:command").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "cc\n");
    let out =
        Command::new(oshcc).env("OSHCC_CC", oshcc).args(["-o", "/nonexistent/a", "a.c"]).output().expect("run oshcc");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("oshcc: the compiler it runs is a SHMEM compiler wrapper again"), "{err}");
}

#[test]
fn the_readme_example_runs_at_four_pes() {
    // README "C programs": `target/release/oshcc -o hello examples/c/hello.c && target/release/oshrun -np 4 ./hello`.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/c/hello.c");
    let exe = tmp("hello");
    let (status, _, err) = tool(
        Path::new(env!("CARGO_BIN_EXE_oshcc")),
        &["-O2", "-Wall", "-Wextra", "-Werror", "-o", exe.to_str().unwrap(), src.to_str().unwrap()],
    );
    assert_eq!(status, Some(0), "oshcc failed:\n{err}");
    for (n, out) in [1u32, 2, 4].into_iter().zip(run_ok(&exe, &[1, 2, 4])) {
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect();
        lines.sort();
        let mut want: Vec<String> = (0..n)
            .map(|r| {
                let left = (r + n - 1) % n;
                format!("[{r}] Hello from PE {r} of {n}: PE {left} put {left} into my memory")
            })
            .collect();
        want.sort();
        assert_eq!(lines, want);
    }
}
