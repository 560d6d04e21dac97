//! The compiler wrapper behind `oshcc` and `oshcxx` (`oshc++`): compile and link an OpenSHMEM C or C++
//! program against this library.
//!
//! Runs the system compiler (C: `$OSHCC_CC`, else `cc`; C++: `$OSHCXX_CXX`, else `c++`) with the user's arguments plus the include directory of `shmem.h`/`shmemx.h` and, when linking, the
//! library directory, `-lshmem_capi -lm` and an rpath to it, so the program runs without `LD_LIBRARY_PATH`.
//!
//! Like Open MPI's wrappers, `--showme` (or `-showme`) prints the command instead of running it, and
//! `--showme:compile`, `--showme:link`, `--showme:command`, `--showme:incdirs`, `--showme:libdirs`,
//! `--showme:libs` print one part of it (build systems use them to get the flags).
//!
//! `$CC`/`$CXX` are deliberately not read (as Open MPI's wrappers read `OMPI_CC`, not `CC`): build systems set
//! `CC=oshcc`, and a wrapper that ran `$CC` would run itself forever. The wrapper also refuses to run when it
//! finds itself started by itself (`OSHCC_WRAPPER_ACTIVE` in the environment), e.g. `OSHCC_CC=oshcc`.
//!
//! `OSHCC_LIBDIR` names the directory of `libshmem_capi.so` explicitly (the tests point it at the library cargo
//! just built in `target/<profile>/deps`). Layouts it finds otherwise: a cargo build (`target/<profile>/oshcc` beside `libshmem_capi.so`, headers in the
//! crate's `include/`), and an installed tree (`<prefix>/bin/oshcc`, `<prefix>/lib`, `<prefix>/include`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What `--showme[:part]` asks to print instead of compiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Showme {
    All,
    Compile,
    Link,
    Command,
    IncDirs,
    LibDirs,
    Libs,
}

/// Parses a `--showme` / `-showme` option, `Err` with the message for an unknown part.
fn showme(arg: &str) -> Option<Result<Showme, String>> {
    let rest = arg.strip_prefix("--showme").or_else(|| arg.strip_prefix("-showme"))?;
    Some(match rest {
        "" => Ok(Showme::All),
        ":compile" => Ok(Showme::Compile),
        ":link" => Ok(Showme::Link),
        ":command" => Ok(Showme::Command),
        ":incdirs" => Ok(Showme::IncDirs),
        ":libdirs" => Ok(Showme::LibDirs),
        ":libs" => Ok(Showme::Libs),
        _ => Err(format!(
            "unknown option {arg} (use --showme, --showme:compile, :link, :command, :incdirs, :libdirs or :libs)"
        )),
    })
}

/// Runs the wrapper with the process's arguments; `cxx` forces the C++ compiler (else the name decides:
/// a name ending in `++` or `cxx`, or `oshCC`, is the C++ wrapper). Never returns.
pub(crate) fn main(cxx: bool) -> ! {
    let mut args: Vec<String> = std::env::args().collect();
    let argv0 = args.remove(0);
    let tool = Path::new(&argv0).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let cxx = cxx || is_cxx(&tool);
    let mut show = None;
    let mut rest = Vec::with_capacity(args.len());
    for a in args {
        match showme(&a) {
            Some(Ok(s)) => show = Some(s),
            Some(Err(msg)) => {
                eprintln!("{tool}: {msg}");
                std::process::exit(2);
            }
            None => rest.push(a),
        }
    }

    if std::env::var_os(ACTIVE).is_some() {
        let var = if cxx { "OSHCXX_CXX" } else { "OSHCC_CC" };
        eprintln!("{tool}: the compiler it runs is a SHMEM compiler wrapper again (set {var} to a real compiler)");
        std::process::exit(2);
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from(&argv0));
    let (include, lib) = match locate(&exe) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("{tool}: {e}");
            std::process::exit(2);
        }
    };
    let compiler = compiler(cxx);
    let compile_flags = [format!("-I{}", include.display())];
    // `-lm` as other OpenSHMEM wrappers link it: suites call powl/cabs beside the reductions without naming it.
    let link_flags = [
        format!("-L{}", lib.display()),
        format!("-Wl,-rpath,{}", lib.display()),
        "-lshmem_capi".to_owned(),
        "-lm".to_owned(),
    ];
    let linking = !rest.iter().any(|a| matches!(a.as_str(), "-c" | "-E" | "-S" | "-M" | "-MM"));
    let mut full = compile_flags.to_vec();
    full.extend(rest);
    if linking {
        full.extend(link_flags.iter().cloned());
    }
    if let Some(s) = show {
        let line = match s {
            Showme::All => format!("{compiler} {}", full.join(" ")),
            Showme::Compile => compile_flags.join(" "),
            Showme::Link => link_flags.join(" "),
            Showme::Command => compiler,
            Showme::IncDirs => include.display().to_string(),
            Showme::LibDirs => lib.display().to_string(),
            Showme::Libs => "shmem_capi m".to_owned(),
        };
        println!("{line}");
        std::process::exit(0);
    }
    match Command::new(&compiler).args(&full).env(ACTIVE, "1").status() {
        Ok(status) => std::process::exit(status.code().unwrap_or(1)),
        Err(e) => {
            let var = if cxx { "OSHCXX_CXX" } else { "OSHCC_CC" };
            eprintln!("{tool}: cannot run the compiler `{compiler}`: {e} (install it, or set {var})");
            std::process::exit(1);
        }
    }
}

/// Whether the wrapper named `name` is the C++ one (`oshc++`, `oshcxx`, `oshCC`).
fn is_cxx(name: &str) -> bool {
    name.ends_with("++") || name.ends_with("cxx") || name == "oshCC"
}

/// Set in the compiler's environment: a wrapper that finds it was started by a wrapper (a loop).
const ACTIVE: &str = "OSHCC_WRAPPER_ACTIVE";

/// The compiler to run: `$OSHCC_CC` / `$OSHCXX_CXX`, else `cc` / `c++` (never `$CC`, see the module docs).
fn compiler(cxx: bool) -> String {
    let var = if cxx { "OSHCXX_CXX" } else { "OSHCC_CC" };
    std::env::var(var).ok().filter(|s| !s.is_empty()).unwrap_or_else(|| if cxx { "c++" } else { "cc" }.into())
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

#[cfg(test)]
mod tests {
    use super::{is_cxx, showme, Showme};

    #[test]
    fn names_and_showme_options() {
        assert!(is_cxx("oshc++") && is_cxx("oshcxx") && is_cxx("oshCC") && !is_cxx("oshcc"));
        assert_eq!(showme("-showme"), Some(Ok(Showme::All)));
        assert_eq!(showme("--showme:link"), Some(Ok(Showme::Link)));
        assert_eq!(showme("-showme:compile"), Some(Ok(Showme::Compile)));
        assert!(matches!(showme("--showme:bogus"), Some(Err(m)) if m.contains("--showme:bogus")));
        assert_eq!(showme("-O2"), None);
    }
}
