//! The external references of `benches/reference/run.sh` (Open MPI's OpenSHMEM and the C raw programs):
//! running the script and parsing its result lines `<source> <metric> <size> <value> <unit>`.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// One result line of the reference script.
#[derive(Debug, Clone, PartialEq)]
pub struct RefLine {
    /// Who measured it: `osh` (Open MPI OpenSHMEM), `raw` (C physical references) or `mpi4py`.
    pub source: String,
    /// The metric, e.g. `put_lat`, `putsig_lat`, `barrier_lat`, `handoff_lat`, `memcpy_bw`.
    pub metric: String,
    /// Message size in bytes (number of PEs for `barrier_lat`).
    pub size: u64,
    /// The value.
    pub value: f64,
    /// Its unit (`ns` or `GB/s`).
    pub unit: String,
}

/// Parses the result lines of `text`, skipping everything else (comments, blank or malformed lines).
pub fn parse(text: &str) -> Vec<RefLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() != 5 || f[0].starts_with('#') {
                return None;
            }
            Some(RefLine {
                source: f[0].to_owned(),
                metric: f[1].to_owned(),
                size: f[2].parse().ok()?,
                value: f[3].parse().ok().filter(|v: &f64| v.is_finite())?,
                unit: f[4].to_owned(),
            })
        })
        .collect()
}

/// Looks up a value by source, metric and size.
pub fn lookup(lines: &[RefLine], source: &str, metric: &str, size: u64) -> Option<f64> {
    lines.iter().find(|l| l.source == source && l.metric == metric && l.size == size).map(|l| l.value)
}

/// What a run of the reference script gave.
#[derive(Debug)]
pub struct ScriptRun {
    /// The parsed result lines (also those of a run that failed part-way).
    pub lines: Vec<RefLine>,
    /// The script's exit status; `None` when it was killed for passing the timeout.
    pub status: Option<ExitStatus>,
}

/// Runs `bash <script> [--quick]` in `dir` with stderr passed through, and parses its stdout. The script
/// and everything it started are killed (the whole process group) after `timeout`.
///
/// # Errors
/// When the script cannot be started or its output cannot be read.
pub fn run_script(dir: &Path, script: &Path, quick: bool, timeout: Duration) -> io::Result<ScriptRun> {
    run_script_with(dir, script, if quick { &["--quick"] } else { &[] }, timeout)
}

/// [`run_script`] with the script's arguments given (e.g. `--coll 2,4,8 --coll-max 67108864`).
///
/// # Errors
/// When the script cannot be started or its output cannot be read.
pub fn run_script_with(dir: &Path, script: &Path, args: &[&str], timeout: Duration) -> io::Result<ScriptRun> {
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let mut out = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break Some(st);
        }
        if start.elapsed() > timeout {
            // SAFETY: signals the process group this child leads (it was spawned with process_group(0)).
            unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = reader.join().map_err(|_| io::Error::other("the output reader panicked"))??;
    Ok(ScriptRun { lines: parse(&text), status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_result_lines_only() {
        let text = "# building\nosh put_lat 8 25.4 ns\nraw memcpy_bw 4194304 14.5 GB/s\ngarbage\n\
                    osh barrier_lat 8 13878.9 ns\nosh put_lat x 1 ns\nosh get_lat 8 nan ns\n";
        let l = parse(text);
        assert_eq!(l.len(), 3);
        assert_eq!(lookup(&l, "osh", "put_lat", 8), Some(25.4));
        assert_eq!(lookup(&l, "raw", "memcpy_bw", 4 << 20), Some(14.5));
        assert_eq!(lookup(&l, "osh", "barrier_lat", 8), Some(13878.9));
        assert_eq!(lookup(&l, "osh", "get_lat", 8), None);
        assert_eq!(l[1].unit, "GB/s");
    }

    #[test]
    fn runs_a_script_and_kills_it_on_timeout() {
        let dir = std::env::temp_dir();
        let path = dir.join(format!("shmem-bench-test-{}.sh", std::process::id()));
        std::fs::write(&path, "echo 'osh put_lat 8 1.5 ns'\n[ \"$1\" = --quick ] || sleep 30\n").unwrap();
        let r = run_script(&dir, &path, true, Duration::from_secs(20)).unwrap();
        assert!(r.status.unwrap().success());
        assert_eq!(lookup(&r.lines, "osh", "put_lat", 8), Some(1.5));
        let t = Instant::now();
        let r = run_script(&dir, &path, false, Duration::from_millis(300)).unwrap();
        assert!(r.status.is_none());
        assert_eq!(r.lines.len(), 1);
        assert!(t.elapsed() < Duration::from_secs(10));
        std::fs::remove_file(&path).unwrap();
    }
}
