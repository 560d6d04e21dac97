//! The launcher (`shmemrun`, `python -m shmem.run`) from Python: the Rust launcher library run on an argv.

use clap_shim::parse;
use pyo3::prelude::*;
use std::ffi::OsString;

/// Argument parsing through the launcher's own clap definition.
mod clap_shim {
    use shmem_run::Cli;

    /// Parses `argv` (argv[0] is the program name); `Err((message, exit_code))` for bad options, --help and
    /// --version (the message is what clap prints).
    pub(crate) fn parse(argv: &[String]) -> Result<Cli, (String, i32)> {
        <Cli as clap::Parser>::try_parse_from(argv).map_err(|e| (e.render().to_string(), e.exit_code()))
    }
}

/// Runs a job like `shmemrun argv[1:]` and returns its exit status. A program ending in `.py` runs under
/// `python` (the interpreter given). The GIL is released while the job runs; the launcher's SIGINT/SIGTERM
/// handlers are installed in this process (it forwards them to the PEs).
#[pyfunction]
#[pyo3(signature = (argv, python=None))]
pub(crate) fn _launch(py: Python<'_>, argv: Vec<String>, python: Option<String>) -> PyResult<i32> {
    let cli = match parse(&argv) {
        Ok(c) => c,
        Err((msg, code)) => {
            if code == 0 {
                print!("{msg}");
            } else {
                eprint!("{msg}");
            }
            return Ok(code);
        }
    };
    let mut spec = cli.to_spec();
    if let Some(py_exe) = python {
        if spec.program.to_string_lossy().ends_with(".py") {
            let script = std::mem::replace(&mut spec.program, OsString::from(py_exe));
            spec.args.insert(0, script);
        }
    }
    if let Err(e) = shmem_run::install_signal_handlers() {
        eprintln!("shmemrun: cannot install signal handlers: {e}");
        return Ok(1);
    }
    let outcome = py.detach(|| shmem_run::run_job(&spec));
    match outcome {
        Ok(o) => Ok(o.exit_code()),
        Err(e) => {
            eprintln!("shmemrun: {e}");
            Ok(1)
        }
    }
}

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_launch, m)?)?;
    Ok(())
}
