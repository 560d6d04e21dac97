//! `oshcc` / `oshc++`: compile and link an OpenSHMEM C or C++ program against this library.
//!
//! Runs the system compiler (`$OSHCC_CC`, else `$CC`, else `cc`; for `oshc++`/`oshcxx`: `$OSHCXX_CXX`, else
//! `$CXX`, else `c++`) with the user's arguments plus the include directory of `shmem.h`/`shmemx.h` and, when
//! linking, the library directory, `-lshmem_capi`, `-lm` and an rpath to it, so the program runs without
//! `LD_LIBRARY_PATH`. `--showme` prints the command instead of running it.
//!
//! A `$CC`/`$CXX` (or `$OSHCC_CC`/`$OSHCXX_CXX`) that names this wrapper itself is skipped: build systems set
//! `CC=oshcc` for their own steps (CMake does so while it probes the compiler, autotools users write
//! `CC=oshcc ./configure`), and running it would start the wrapper again, forever. As a last guard, a wrapper
//! started by a wrapper (`OSHCC_NESTED`, under another name such as a symlink) more than a few levels deep
//! stops with an error.
//!
//! `OSHCC_LIBDIR` names the directory of `libshmem_capi.so` explicitly (the tests point it at the library
//! cargo just built in `target/<profile>/deps`). Layouts it finds otherwise: a cargo build (`target/<profile>/oshcc` beside `libshmem_capi.so`, headers in the
//! crate's `include/`), and an installed tree (`<prefix>/bin/oshcc`, `<prefix>/lib`, `<prefix>/include`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args.remove(0);
    let cxx = is_cxx(&argv0);
    let showme = args.iter().any(|a| a == "--showme" || a == "-showme");
    args.retain(|a| a != "--showme" && a != "-showme");

    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(&argv0));
    let (include, lib) = match locate(&exe) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("oshcc: {e}");
            std::process::exit(2);
        }
    };
    let depth: u32 = std::env::var("OSHCC_NESTED").ok().and_then(|d| d.parse().ok()).unwrap_or(0);
    if depth >= MAX_NESTED {
        eprintln!(
            "oshcc: the compiler it runs starts oshcc again ({depth} levels deep); set OSHCC_CC (OSHCXX_CXX for \
             C++) to the system compiler, e.g. OSHCC_CC=gcc"
        );
        std::process::exit(1);
    }
    let compiler = compiler(cxx, &exe);
    let linking = !args.iter().any(|a| matches!(a.as_str(), "-c" | "-E" | "-S" | "-M" | "-MM"));
    let mut full = vec![format!("-I{}", include.display())];
    full.extend(args);
    if linking {
        full.push(format!("-L{}", lib.display()));
        full.push(format!("-Wl,-rpath,{}", lib.display()));
        full.push("-lshmem_capi".into());
        // The math library, as other OpenSHMEM wrappers link it: suites call powl/cabs next to the
        // reductions without naming -lm (shmemvv's reduce tests do).
        full.push("-lm".into());
    }
    if showme {
        println!("{compiler} {}", full.join(" "));
        return;
    }
    match Command::new(&compiler).args(&full).env("OSHCC_NESTED", (depth + 1).to_string()).status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => {
            eprintln!("oshcc: cannot run the compiler `{compiler}`: {e} (set CC / CXX)");
            std::process::exit(1);
        }
    }
}

/// Whether this is the C++ wrapper (`oshc++`, `oshcxx`, `oshCC`).
fn is_cxx(argv0: &str) -> bool {
    let name = Path::new(argv0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    name.ends_with("++") || name.ends_with("cxx") || name == "oshCC"
}

/// How many wrappers may start each other (through `$CC` naming another copy or a symlink) before the
/// wrapper gives up: a real compiler never starts one.
const MAX_NESTED: u32 = 4;

/// The compiler to run, from the environment, skipping a variable that names this wrapper.
fn compiler(cxx: bool, me: &Path) -> String {
    let vars: &[&str] = if cxx { &["OSHCXX_CXX", "CXX"] } else { &["OSHCC_CC", "CC"] };
    vars.iter()
        .filter_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .find(|c| !is_wrapper(c, me))
        .unwrap_or_else(|| if cxx { "c++".into() } else { "cc".into() })
}

/// Whether the command `c` is an OpenSHMEM compiler wrapper (this one, or any named like one): running it
/// from here would start a wrapper again.
fn is_wrapper(c: &str, me: &Path) -> bool {
    let name = Path::new(c).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if matches!(name.as_str(), "oshcc" | "oshc++" | "oshcxx" | "oshCC") {
        return true;
    }
    let found = if c.contains('/') {
        Some(PathBuf::from(c))
    } else {
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(c)).find(|f| f.is_file()))
    };
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    found.is_some_and(|f| canon(&f).is_some() && canon(&f) == canon(me))
}

/// The include and library directories for the executable at `exe`.
fn locate(exe: &Path) -> Result<(PathBuf, PathBuf), String> {
    let bin_dir = exe.parent().ok_or("cannot tell the directory of this executable")?;
    let lib_name = "libshmem_capi.so";
    if let Some(dir) = std::env::var_os("OSHCC_LIBDIR").filter(|d| !d.is_empty()).map(PathBuf::from) {
        if !dir.join(lib_name).is_file() {
            return Err(format!("OSHCC_LIBDIR={} has no {lib_name}", dir.display()));
        }
        let installed = dir.parent().map(|p| p.join("include")).filter(|i| i.join("shmem.h").is_file());
        let inc = installed.unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("include"));
        return Ok((inc, dir));
    }
    // An installed tree: <prefix>/bin/oshcc with <prefix>/lib and <prefix>/include.
    if let Some(prefix) = bin_dir.parent() {
        let (inc, lib) = (prefix.join("include"), prefix.join("lib"));
        if inc.join("shmem.h").is_file() && lib.join(lib_name).is_file() {
            return Ok((inc, lib));
        }
    }
    // A cargo build: the library beside the executable, the headers in the crate.
    let inc = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    if bin_dir.join(lib_name).is_file() && inc.join("shmem.h").is_file() {
        return Ok((inc, bin_dir.to_path_buf()));
    }
    Err(format!(
        "cannot find {lib_name} and shmem.h next to {} (build them with `cargo build --release -p shmem-capi`)",
        exe.display()
    ))
}
