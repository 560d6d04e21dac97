//! `oshrun -np N [options] program args...`: the OpenSHMEM launcher name, forwarding to `shmemrun`.
//!
//! Accepts what scripts written for other OpenSHMEM implementations pass: `-n N`, `-np N` (one dash, as
//! Open MPI's and Sandia's launchers take it), `--np N`, and everything `shmemrun --help` lists.

use clap::Parser;
use shmem_run::{install_signal_handlers, run_job, Cli};
use std::ffi::OsString;
use std::io::Write;

fn main() {
    let cli = match Cli::try_parse_from(translate(std::env::args_os())) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors to stderr with status 2.
            let _ = e.print();
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if let Err(e) = install_signal_handlers() {
        let _ = writeln!(std::io::stderr(), "oshrun: cannot install signal handlers: {e}");
        std::process::exit(1);
    }
    match run_job(&cli.to_spec()) {
        Ok(outcome) => std::process::exit(outcome.exit_code()),
        Err(e) => {
            // Ignored if stderr is gone (eprintln! would panic, exit 101): the exit code still tells.
            let _ = writeln!(std::io::stderr(), "oshrun: {e}");
            std::process::exit(if e.kind() == std::io::ErrorKind::InvalidInput { 2 } else { 1 });
        }
    }
}

/// Rewrites the single-dash long options of other launchers (`-np 4`, `-np=4`) into `shmemrun`'s `--np`,
/// up to the program name (the program's own arguments are left alone).
fn translate(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut in_program = false;
    let mut expect_value = false;
    for (i, arg) in args.enumerate() {
        if i == 0 || in_program {
            out.push(arg);
            continue;
        }
        let s = arg.to_string_lossy();
        if expect_value {
            expect_value = false;
            out.push(arg);
            continue;
        }
        if s == "--" {
            in_program = true;
            out.push(arg);
        } else if s == "-np" {
            out.push("--np".into());
            expect_value = true;
        } else if let Some(v) = s.strip_prefix("-np=") {
            out.push(format!("--np={v}").into());
        } else if s.starts_with('-') {
            // An option of shmemrun; those that take a separate value are followed by it.
            expect_value = takes_value(&s);
            out.push(arg);
        } else {
            in_program = true;
            out.push(arg);
        }
    }
    out
}

/// Whether `shmemrun`'s option `opt` (without an attached `=value`) takes the next argument as its value.
fn takes_value(opt: &str) -> bool {
    if opt.contains('=') {
        return false;
    }
    matches!(
        opt,
        "-n" | "--np"
            | "--n-pes"
            | "--nproc-per-node"
            | "--nnodes"
            | "--node-rank"
            | "--port"
            | "--master-port"
            | "--host"
            | "--master-addr"
            | "--job-token-file"
            | "--timeout"
            | "--grace"
            | "-x"
            | "--env"
            | "--mem-size"
    )
}

#[cfg(test)]
mod tests {
    use super::translate;
    use std::ffi::OsString;

    fn t(args: &[&str]) -> Vec<String> {
        let v: Vec<OsString> = args.iter().map(OsString::from).collect();
        translate(v.into_iter()).into_iter().map(|s| s.into_string().unwrap()).collect()
    }

    #[test]
    fn single_dash_np_becomes_shmemrun_np_before_the_program_only() {
        assert_eq!(t(&["oshrun", "-np", "4", "./a", "-np", "2"]), ["oshrun", "--np", "4", "./a", "-np", "2"]);
        assert_eq!(t(&["oshrun", "-np=3", "--timeout", "5", "./a"]), ["oshrun", "--np=3", "--timeout", "5", "./a"]);
        assert_eq!(t(&["oshrun", "-n", "2", "-x", "A=1", "--", "-a"]), ["oshrun", "-n", "2", "-x", "A=1", "--", "-a"]);
    }
}
