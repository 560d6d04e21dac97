//! The command line of `shmemrun`, parsed with clap and turned into a [`JobSpec`].

use std::ffi::OsString;
use std::time::Duration;

use clap::Parser;
use shmem_core::attr::MAX_DURATION;
use shmem_core::launch_env::{parse_size, vars};

use crate::job::{JobSpec, MIN_PORT, RESERVED_VARS};

/// Start N PEs of a SHMEM program on this machine, or N on each of several nodes (one shmemrun per node).
///
/// A multi-node job runs `shmemrun --nnodes M --node-rank R --master-addr NODE0 --master-port PORT -n N prog`
/// on each node (R = 0..M-1): global ranks R*N .. R*N+N-1 run here, PE 0 (on node 0) serves the store at
/// NODE0:PORT. Every shmemrun needs the same secret: SHMEM_JOB_TOKEN in its environment or --job-token-file.
///
/// Each PE gets its rank and the job's bootstrap address in its environment (SHMEM_PE, SHMEM_N_PES,
/// SHMEM_MASTER_ADDR, SHMEM_MASTER_PORT, SHMEM_JOB_TOKEN, SHMEM_SHM_PREFIX, and torchrun's RANK, WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT = store port - 11). When a PE fails, the others are terminated and shmemrun
/// exits with the failed PE's status (128 + signal for a signal death).
#[derive(Debug, Clone, Parser)]
#[command(name = "shmemrun", version, trailing_var_arg = true)]
pub struct Cli {
    /// Number of PEs to start on this node (1 to 16384); the job has N x NNODES PEs.
    #[arg(short = 'n', long = "np", visible_aliases = ["n-pes", "nproc-per-node"], value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=16384))]
    pub n_pes: u32,

    /// Number of nodes, each running its own shmemrun with the same options but --node-rank.
    #[arg(long, value_name = "M", default_value = "1", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub nnodes: u32,

    /// This node's rank, 0 to NNODES - 1 (node 0's first PE serves the store).
    #[arg(long, value_name = "R", default_value = "0")]
    pub node_rank: u32,

    /// Port of the bootstrap store served by PE 0 (default on one node: a free port; required on several).
    /// PORT - 11 (torchrun's MASTER_PORT) must exceed 1024 too.
    #[arg(long, visible_alias = "master-port", value_name = "PORT", value_parser = parse_port)]
    pub port: Option<u16>,

    /// Address of the bootstrap store (node 0) as every PE reaches it (SHMEM_MASTER_ADDR and MASTER_ADDR).
    #[arg(long, visible_alias = "master-addr", value_name = "ADDR", default_value = "127.0.0.1")]
    pub host: String,

    /// A file whose first line is the job's secret (mode 0600). Default: on one node a random secret, on
    /// several SHMEM_JOB_TOKEN from the environment. Every node's shmemrun must use the same secret.
    #[arg(long, value_name = "FILE")]
    pub job_token_file: Option<std::path::PathBuf>,

    /// Do not prefix output lines with the rank in brackets; the PEs write straight to shmemrun's
    /// stdout and stderr.
    #[arg(long)]
    pub no_prefix: bool,

    /// Kill the whole job after SECS seconds (fractions allowed) and exit with status 124.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,

    /// Seconds between SIGTERM and SIGKILL when the job is torn down.
    #[arg(long, value_name = "SECS", value_parser = parse_secs, default_value = "0.5")]
    pub grace: Duration,

    /// Extra environment variable for every PE: KEY=VAL, or KEY to pass this process's value (repeatable).
    #[arg(short = 'x', long = "env", value_name = "KEY=VAL", value_parser = parse_env)]
    pub env: Vec<(OsString, OsString)>,

    /// Symmetric heap size per PE (bytes, or with a K/M/G suffix), passed as SHMEM_SYMMETRIC_SIZE.
    #[arg(long, value_name = "SIZE", value_parser = parse_mem_size)]
    pub mem_size: Option<u64>,

    /// Log what the launcher does (to stderr).
    #[arg(short, long)]
    pub verbose: bool,

    /// The program each PE runs, and its arguments (put them after `--` if they start with `-`).
    #[arg(required = true, value_name = "PROGRAM [ARGS]...", allow_hyphen_values = true)]
    pub command: Vec<OsString>,
}

impl Cli {
    /// The job these options describe.
    pub fn to_spec(&self) -> JobSpec {
        let mut spec = JobSpec::new(self.n_pes, self.command[0].clone());
        spec.nnodes = self.nnodes;
        spec.node_rank = self.node_rank;
        spec.job_token_file = self.job_token_file.clone();
        spec.args = self.command[1..].to_vec();
        spec.host = self.host.clone();
        spec.port = self.port;
        spec.prefix_output = !self.no_prefix;
        spec.timeout = self.timeout;
        spec.grace = self.grace;
        spec.extra_env = self.env.clone();
        spec.mem_size = self.mem_size;
        spec
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    let port: u16 = s.parse().map_err(|_| format!("{s:?} is not a TCP port"))?;
    if port < MIN_PORT {
        return Err(format!("port {port} is too low: it and port - 11 (torchrun's MASTER_PORT) must exceed 1024"));
    }
    Ok(port)
}

/// Seconds from 0 to one year ([`MAX_DURATION`]); NaN, infinities, negative and larger values are usage errors.
fn parse_secs(s: &str) -> Result<Duration, String> {
    let max = MAX_DURATION.as_secs();
    s.trim()
        .parse::<f64>()
        .ok()
        .filter(|v| (0.0..=max as f64).contains(v))
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{s:?} is not a number of seconds from 0 to {max} (one year), e.g. 30 or 0.5"))
}

fn parse_env(s: &str) -> Result<(OsString, OsString), String> {
    let (key, value) = match s.split_once('=') {
        Some((k, v)) => (k, OsString::from(v)),
        None => (s, std::env::var_os(s).ok_or_else(|| format!("{s} is not set here; write {s}=VALUE"))?),
    };
    if key.is_empty() {
        return Err(format!("{s:?} has no variable name; write KEY=VALUE"));
    }
    if RESERVED_VARS.contains(&key) {
        return Err(format!("{key} is set by shmemrun for each PE and cannot be overridden"));
    }
    Ok((key.into(), value))
}

fn parse_mem_size(s: &str) -> Result<u64, String> {
    match parse_size(s) {
        Ok(0) => Err(format!("{} must be positive", vars::SYMMETRIC_SIZE)),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("shmemrun").chain(args.iter().copied()))
    }

    #[test]
    fn command_after_options_keeps_its_flags() {
        let cli = parse(&["-n", "2", "sh", "-c", "echo -n hi"]).unwrap();
        assert_eq!(cli.command, ["sh", "-c", "echo -n hi"]);
        let cli = parse(&["--np", "3", "--no-prefix", "--", "prog", "--np", "9"]).unwrap();
        assert_eq!((cli.n_pes, cli.no_prefix), (3, true));
        assert_eq!(cli.command, ["prog", "--np", "9"]);
        let spec = parse(&["--n-pes=4", "-x", "A=1", "--env", "B=x=y", "--mem-size", "64M", "prog"]).unwrap().to_spec();
        assert_eq!(spec.n_pes, 4);
        assert_eq!(spec.extra_env, [("A".into(), "1".into()), ("B".into(), "x=y".into())]);
        assert_eq!(spec.mem_size, Some(64 << 20));
        assert!(spec.prefix_output);
    }

    #[test]
    fn bad_values_are_rejected() {
        assert!(parse(&["prog"]).is_err());
        assert!(parse(&["-n", "0", "prog"]).is_err());
        assert!(parse(&["-n", "2"]).is_err());
        assert!(parse(&["-n", "2", "--port", "1030", "prog"]).is_err());
        assert_eq!(parse(&["-n", "2", "--port", "1036", "prog"]).unwrap().port, Some(1036));
        assert!(parse(&["-n", "2", "--timeout", "-1", "prog"]).is_err());
        assert_eq!(parse(&["-n", "1", "--timeout", "1.5", "p"]).unwrap().timeout, Some(Duration::from_millis(1500)));
        // Durations no deadline can hold are usage errors (exit 2), not a panic later (issue 10, defect 1).
        for bad in ["1e19", "-1", "nan", "inf", "-inf", "9223372036854775808", "31536001", "x"] {
            for opt in ["--timeout", "--grace"] {
                let e = parse(&["-n", "1", opt, bad, "p"]).unwrap_err();
                assert_eq!(e.exit_code(), 2, "{opt} {bad}");
                assert!(e.to_string().contains("31536000"), "{opt} {bad}: {e}");
            }
        }
        assert_eq!(parse(&["-n", "1", "--grace", "31536000", "p"]).unwrap().grace, MAX_DURATION);
        assert!(parse(&["-n", "2", "-x", "SHMEM_PE=3", "prog"]).is_err());
        assert!(parse(&["-n", "2", "-x", "=3", "prog"]).is_err());
        assert!(parse(&["-n", "2", "--mem-size", "12Q", "prog"]).is_err());
        assert!(parse(&["-n", "2", "--nnodes", "0", "prog"]).is_err());
    }

    #[test]
    fn torchrun_style_node_options() {
        let args = ["--nnodes", "3", "--node-rank", "2", "--master-addr", "10.0.0.1", "--master-port", "29600"];
        let cli = parse(&[&args[..], &["--nproc-per-node", "4", "prog", "x"]].concat()).unwrap();
        let spec = cli.to_spec();
        assert_eq!((spec.nnodes, spec.node_rank, spec.n_pes, spec.port), (3, 2, 4, Some(29600)));
        assert_eq!((spec.host.as_str(), spec.world_size(), spec.global_rank(1)), ("10.0.0.1", 12, 9));
        let env = crate::pe_env(&spec, 1, 29600, "t", "p");
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(
            [get("SHMEM_PE"), get("SHMEM_N_PES"), get("SHMEM_LOCAL_PE"), get("SHMEM_LOCAL_N_PES")],
            ["9", "12", "1", "4"]
        );
        assert_eq!([get("RANK"), get("WORLD_SIZE"), get("LOCAL_RANK"), get("GROUP_RANK")], ["9", "12", "1", "2"]);
        assert_eq!([get("MASTER_ADDR"), get("MASTER_PORT"), get("SHMEM_MASTER_PORT")], ["10.0.0.1", "29589", "29600"]);
        // The node layout is checked before anything starts.
        let mut bad = spec.clone();
        bad.node_rank = 3;
        assert!(bad.validate().unwrap_err().to_string().contains("--node-rank 3 must be below --nnodes 3"));
        bad.node_rank = 0;
        bad.port = None;
        assert!(bad.validate().unwrap_err().to_string().contains("--master-port"));
    }
}
