//! `shmemrun -n N [options] [--] program args...`: starts N PEs of a SHMEM program on this machine.
//! See `shmemrun --help` and the `shmem_run` library docs.

use std::io::{IsTerminal, Write};

use clap::Parser;
use shmem_run::{install_signal_handlers, run_job, Cli};

fn main() {
    let cli = Cli::parse();
    if cli.verbose {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            // Otherwise a failed write of the log (stderr a closed pipe) is reported with eprintln!, which
            // panics and ends the launcher before its teardown.
            .log_internal_errors(false)
            .init();
    }
    if let Err(e) = install_signal_handlers() {
        let _ = writeln!(std::io::stderr(), "shmemrun: cannot install signal handlers: {e}");
        std::process::exit(1);
    }
    match run_job(&cli.to_spec()) {
        Ok(outcome) => std::process::exit(outcome.exit_code()),
        Err(e) => {
            // Ignored if stderr is gone: the exit code still tells.
            let _ = writeln!(std::io::stderr(), "shmemrun: {e}");
            // Options that cannot make a job (node layout, missing or weak secret) are usage errors.
            std::process::exit(if e.kind() == std::io::ErrorKind::InvalidInput { 2 } else { 1 });
        }
    }
}
