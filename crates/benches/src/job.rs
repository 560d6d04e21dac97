//! The jobs of `shmem-bench`: the program re-executes itself as the PEs of a job started with
//! [`shmem_run::run_job`]; environment variables tell a process that it is a PE and what to measure.
//! PE 0 measures and appends its results, one line `ours <metric> <size> <value> <unit>` each, to a file
//! that the launching process reads afterwards (see [`crate::reference::parse`]).

use crate::engines::{EngineSet, DATA_OP_ENGINE_VAR, SDMA_CHANNELS_VAR};
use crate::measure::{gb_per_s, measure, measure_part, Plan};
use crate::pair::Pair;
use crate::{bw_sizes, data_bytes, heap_bytes, LAT_SIZES, NBI_SIZES, OVERLAP_BYTES};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// A boxed error for the benchmark programs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Marks a process as a PE of a benchmark job; the value is a [`Role`].
pub const ROLE_VAR: &str = "SHMEM_BENCH_ROLE";
/// File PE 0 appends its result lines to.
pub const OUT_VAR: &str = "SHMEM_BENCH_OUT";
/// Target time of one batch in nanoseconds ([`Plan::target`]).
pub const BATCH_NS_VAR: &str = "SHMEM_BENCH_BATCH_NS";
/// Number of timed batches ([`Plan::batches`]).
pub const BATCHES_VAR: &str = "SHMEM_BENCH_BATCHES";
/// Largest bandwidth message in bytes.
pub const MAX_BW_VAR: &str = "SHMEM_BENCH_MAX_BW";
/// The engine set of the job ([`EngineSet::label`]); the job also gets the runtime's own
/// [`DATA_OP_ENGINE_VAR`].
pub const ENGINES_VAR: &str = "SHMEM_BENCH_ENGINES";

/// The metric under which PE 0 reports the SDMA channel count of a job whose set includes SDMA (size 0,
/// unit `channels`, plus the set's [`EngineSet::suffix`]).
pub const SDMA_CHANNELS_METRIC: &str = "sdma_channels";

/// Symmetric heap of a barrier-only job.
pub const BARRIER_HEAP: u64 = 8 << 20;

/// What a job measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Latencies, bandwidths, fetch-add and the barrier.
    All,
    /// The barrier only (the many-PE run).
    Barrier,
}

impl Role {
    /// The value of [`ROLE_VAR`].
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Barrier => "barrier",
        }
    }

    /// Parses a value of [`ROLE_VAR`].
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "all" => Some(Role::All),
            "barrier" => Some(Role::Barrier),
            _ => None,
        }
    }
}

/// Everything a PE of a benchmark job needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobConfig {
    /// What to measure.
    pub role: Role,
    /// How long and how often to measure.
    pub plan: Plan,
    /// Largest bandwidth message in bytes.
    pub max_bw: usize,
    /// Where PE 0 appends its results.
    pub out: PathBuf,
    /// The engine set the job runs with (its metric names get the set's [`EngineSet::suffix`]).
    pub engines: EngineSet,
    /// `SHMEM_SDMA_CHANNELS` for the job when its set includes SDMA (`None`: inherited from this process's
    /// environment, or the engine's default).
    pub sdma_channels: Option<u32>,
    /// The two network namespaces PE 0 and PE 1 run in ([`EngineSet::TcpNetns`]); not carried to the PEs.
    pub netns: Option<(String, String)>,
}

impl JobConfig {
    /// The environment that carries this configuration to the PEs.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (ROLE_VAR.into(), self.role.as_str().into()),
            (BATCH_NS_VAR.into(), self.plan.target.as_nanos().to_string()),
            (BATCHES_VAR.into(), self.plan.batches.to_string()),
            (MAX_BW_VAR.into(), self.max_bw.to_string()),
            (OUT_VAR.into(), self.out.display().to_string()),
            (ENGINES_VAR.into(), self.engines.label().into()),
            (DATA_OP_ENGINE_VAR.into(), self.engines.env_value().into()),
        ];
        if let (true, Some(ch)) = (self.engines.uses_sdma(), self.sdma_channels) {
            env.push((SDMA_CHANNELS_VAR.into(), ch.to_string()));
        }
        env
    }

    /// The configuration of this process when it is a PE of a benchmark job (`None` otherwise).
    ///
    /// # Errors
    /// When [`ROLE_VAR`] is set but the variables are malformed.
    pub fn from_env() -> Result<Option<JobConfig>, BoxError> {
        let Ok(role) = std::env::var(ROLE_VAR) else {
            return Ok(None);
        };
        let role = Role::parse(&role).ok_or_else(|| format!("{ROLE_VAR}={role}: unknown role"))?;
        let number = |name: &str| -> Result<u64, BoxError> {
            let v = std::env::var(name).map_err(|_| format!("{name} is not set"))?;
            Ok(v.parse().map_err(|e| format!("{name}={v}: {e}"))?)
        };
        let out = std::env::var_os(OUT_VAR).ok_or_else(|| format!("{OUT_VAR} is not set"))?;
        let plan = Plan {
            target: Duration::from_nanos(number(BATCH_NS_VAR)?),
            batches: number(BATCHES_VAR)? as usize,
            ..Plan::FULL
        };
        let engines = match std::env::var(ENGINES_VAR) {
            Ok(v) => v.parse::<EngineSet>().map_err(|e| format!("{ENGINES_VAR}: {e}"))?,
            Err(_) => EngineSet::Mte,
        };
        let sdma_channels = std::env::var(SDMA_CHANNELS_VAR).ok().and_then(|v| v.trim().parse().ok());
        Ok(Some(JobConfig {
            role,
            plan,
            max_bw: number(MAX_BW_VAR)? as usize,
            out: out.into(),
            engines,
            sdma_channels,
            netns: None,
        }))
    }

    /// The symmetric heap each PE needs.
    pub fn heap_bytes(&self) -> u64 {
        match self.role {
            Role::All => heap_bytes(data_bytes(self.max_bw)),
            Role::Barrier => BARRIER_HEAP,
        }
    }

    /// Starts the job of `n_pes` copies of this program and waits for its end (at most `timeout`, after
    /// which the launcher terminates it).
    ///
    /// # Errors
    /// When the launcher itself fails (a failed PE is an `Ok` outcome).
    pub fn launch(&self, n_pes: u32, timeout: Duration) -> Result<shmem_run::JobOutcome, BoxError> {
        let exe = std::env::current_exe()?;
        let mut spec = shmem_run::JobSpec::new(n_pes, &exe);
        spec.timeout = Some(timeout);
        spec.mem_size = Some(self.heap_bytes());
        spec.extra_env = self.env().into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        if self.engines.uses_tcp() {
            // Every PE its own node (so PE 0 reaches PE 1 through the TCP engine), in its namespace if any.
            spec.program = "sh".into();
            spec.args = vec!["-c".into(), crate::tcp::PE_WRAPPER.into(), exe.into()];
            match (&self.netns, self.engines) {
                (Some((a, b)), EngineSet::TcpNetns) => {
                    spec.extra_env.push((crate::tcp::NETNS_VAR.into(), format!("{a},{b}").into()));
                    spec.host = crate::tcp::NETNS_ADDR_A.into();
                }
                (None, EngineSet::TcpNetns) => return Err("the tcp-netns job needs its two namespaces".into()),
                _ => spec.extra_env.push((crate::tcp::NETNS_VAR.into(), "".into())),
            }
        }
        Ok(shmem_run::run_job(&spec)?)
    }
}

/// Appends result lines to the output file, flushing each (a failed job keeps what it measured). Every
/// metric name gets the job's engine-set suffix.
struct Output {
    file: File,
    suffix: &'static str,
}

impl Output {
    fn emit(&mut self, metric: &str, size: u64, value: f64, unit: &str) -> Result<(), BoxError> {
        let line = format!("ours {metric}{} {size} {value:.3} {unit}", self.suffix);
        eprintln!("{line}");
        writeln!(self.file, "{line}")?;
        self.file.flush()?;
        Ok(())
    }
}

/// The body of a PE: initializes from the launch environment, then PE 0 measures what `cfg.role` names
/// while the other PEs serve; every PE finalizes.
///
/// # Errors
/// Runtime and output errors.
pub fn run_pe(cfg: &JobConfig) -> Result<(), BoxError> {
    let sh = shmem::init_from_env()?;
    let data_len = match cfg.role {
        Role::All => data_bytes(cfg.max_bw),
        Role::Barrier => crate::pair::PINGPONG_MAX,
    };
    let mut pair = Pair::setup(sh, data_len)?;
    if pair.my_pe() != 0 {
        pair.serve()?;
        return Ok(pair.finish()?);
    }
    let in_use = shmem::api::engines()?;
    if in_use != cfg.engines.op_type() {
        return Err(format!(
            "the job asked for engines {} ({DATA_OP_ENGINE_VAR}={}) but the runtime uses {in_use:?}",
            cfg.engines,
            cfg.engines.env_value()
        )
        .into());
    }
    let mut out =
        Output { file: OpenOptions::new().create(true).append(true).open(&cfg.out)?, suffix: cfg.engines.suffix() };
    if cfg.engines.uses_sdma() {
        // The same variables the runtime read when it built the engine, so the same count.
        let channels = transport_sdma::SdmaConfig::from_env()?.channels;
        out.emit(SDMA_CHANNELS_METRIC, 0, channels as f64, "channels")?;
    }
    let plan = cfg.plan;
    if cfg.role == Role::All && cfg.engines.uses_tcp() {
        measure_tcp(&mut pair, &mut out, cfg)?;
    } else if cfg.role == Role::All {
        if pair.n_pes() < 2 {
            return Err("the benchmarks need at least 2 PEs".into());
        }
        for s in LAT_SIZES {
            let ns = measure(&plan, |n| pair.put_batch(s, n))?;
            out.emit("put_lat", s as u64, ns, "ns")?;
        }
        for s in LAT_SIZES {
            let ns = measure(&plan, |n| pair.get_batch(s, n))?;
            out.emit("get_lat", s as u64, ns, "ns")?;
        }
        for s in LAT_SIZES {
            let ns = measure(&plan, |n| pair.pingpong_batch(s, n))?;
            out.emit("put_signal_oneway", s as u64, ns / 2.0, "ns")?;
        }
        let ns = measure(&plan, |n| pair.fetch_add_batch(n))?;
        out.emit("fetch_add", 8, ns, "ns")?;
        let ns = measure(&plan, |n| pair.fetch_add_api_batch(n))?;
        out.emit("fetch_add_api", 8, ns, "ns")?;
        let sizes = bw_sizes(cfg.max_bw.min(pair.data_len()));
        for &s in &sizes {
            let ns = measure(&plan, |n| pair.put_batch(s, n))?;
            out.emit("put_bw", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
        }
        for &s in &sizes {
            let ns = measure(&plan, |n| pair.get_batch(s, n))?;
            out.emit("get_bw", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
        }
        // Issue cost of put_nbi (the quiet after each chunk is not timed) and the overlap of a large put_nbi with
        // computation, both while PE 1 sleeps (so on a 2-core machine a copy channel can have a core of its own).
        for s in NBI_SIZES {
            let ns = measure_part(&plan, |n| pair.put_nbi_issue_batch(s, n))?;
            out.emit("put_nbi_issue", s as u64, ns, "ns")?;
        }
        let o = pair.overlap(OVERLAP_BYTES, plan.batches)?;
        let size = OVERLAP_BYTES as u64;
        out.emit("overlap_transfer", size, o.transfer.as_nanos() as f64, "ns")?;
        out.emit("overlap_compute", size, o.compute.as_nanos() as f64, "ns")?;
        out.emit("overlap_total", size, o.total.as_nanos() as f64, "ns")?;
        out.emit("overlap", size, o.fraction(), "fraction")?;
        // The same puts and fetch-adds while PE 1 busy-polls instead of sleeping in `wait_until`: the
        // difference is the cost of waking a sleeping target.
        pair.serve_polling()?;
        for s in LAT_SIZES {
            let ns = measure(&plan, |n| pair.put_batch(s, n))?;
            out.emit("put_lat_pe1_busy", s as u64, ns, "ns")?;
        }
        let ns = measure(&plan, |n| pair.fetch_add_batch(n))?;
        out.emit("fetch_add_pe1_busy", 8, ns, "ns")?;
        for &s in &sizes {
            let ns = measure(&plan, |n| pair.put_batch(s, n))?;
            out.emit("put_bw_pe1_busy", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
        }
    }
    let ns = measure(&plan, |n| pair.barrier_batch(n))?;
    out.emit("barrier", pair.n_pes().into(), ns, "ns")?;
    Ok(pair.finish()?)
}

/// The TCP engine's rows (PE 1 on another node): 8 B to 4 KiB latencies of put + quiet, get, put-with-signal
/// one-way and fetch-add, put/get bandwidth (each put completed by a quiet and blocking gets, as OSHMEM's rows do,
/// and streams of puts or deferred gets completed by one quiet, as the raw stream is), then the raw TCP ping-pongs (one-way; blocking, then spinning reads)
/// and stream between the same two processes.
fn measure_tcp(pair: &mut Pair, out: &mut Output, cfg: &JobConfig) -> Result<(), BoxError> {
    let plan = cfg.plan;
    if pair.n_pes() < 2 {
        return Err("the benchmarks need at least 2 PEs".into());
    }
    for s in LAT_SIZES {
        let ns = measure(&plan, |n| pair.put_batch(s, n))?;
        out.emit("put_lat", s as u64, ns, "ns")?;
    }
    for s in LAT_SIZES {
        let ns = measure(&plan, |n| pair.get_batch(s, n))?;
        out.emit("get_lat", s as u64, ns, "ns")?;
    }
    for s in LAT_SIZES {
        let ns = measure(&plan, |n| pair.pingpong_batch(s, n))?;
        out.emit("put_signal_oneway", s as u64, ns / 2.0, "ns")?;
    }
    let ns = measure(&plan, |n| pair.fetch_add_batch(n))?;
    out.emit("fetch_add", 8, ns, "ns")?;
    let sizes = bw_sizes(cfg.max_bw.min(pair.data_len()));
    for &s in &sizes {
        let ns = measure(&plan, |n| pair.put_batch(s, n))?;
        out.emit("put_bw", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
    }
    for &s in &sizes {
        let ns = measure(&plan, |n| pair.put_stream_batch(s, n))?;
        out.emit("put_stream_bw", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
    }
    for &s in &sizes {
        let ns = measure(&plan, |n| pair.get_batch(s, n))?;
        out.emit("get_bw", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
    }
    for &s in &sizes {
        let ns = measure(&plan, |n| pair.get_stream_batch(s, n))?;
        out.emit("get_stream_bw", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
    }
    let max = sizes.last().copied().unwrap_or(crate::BW_MIN).max(crate::pair::PINGPONG_MAX);
    let (mut raw, addr) = pair.raw_tcp(max)?;
    for s in LAT_SIZES {
        let ns = measure(&plan, |n| raw.pingpong(s, n))?;
        out.emit("raw_tcp_oneway", s as u64, ns / 2.0, "ns")?;
    }
    raw.start_spin(addr)?;
    for s in LAT_SIZES {
        let ns = measure(&plan, |n| raw.pingpong_spin(s, n))?;
        out.emit("raw_tcp_oneway_spin", s as u64, ns / 2.0, "ns")?;
    }
    raw.start_stream(addr)?;
    for &s in &sizes {
        let ns = measure(&plan, |n| raw.stream(s, n))?;
        out.emit("raw_tcp_stream_bw", s as u64, gb_per_s(s as u64, ns), "GB/s")?;
    }
    raw.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in [Role::All, Role::Barrier] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("x"), None);
    }

    #[test]
    fn config_env_names_every_variable() {
        let c = JobConfig {
            role: Role::Barrier,
            plan: Plan::QUICK,
            max_bw: 4096,
            out: "/tmp/x".into(),
            engines: EngineSet::Mte,
            sdma_channels: Some(2),
            netns: None,
        };
        let env = c.env();
        let has = |k: &str, v: &str| env.contains(&(k.to_owned(), v.to_owned()));
        assert!(has(BATCH_NS_VAR, "4000000"));
        assert!(has(BATCHES_VAR, "5"));
        assert!(has(ROLE_VAR, "barrier"));
        assert!(has(DATA_OP_ENGINE_VAR, "MTE"));
        assert!(!env.iter().any(|(k, _)| k == SDMA_CHANNELS_VAR), "MTE jobs do not set the channel count");
        assert_eq!(c.heap_bytes(), BARRIER_HEAP);
        let c = JobConfig { role: Role::All, engines: EngineSet::MteSdma, ..c };
        let env = c.env();
        assert!(env.contains(&(DATA_OP_ENGINE_VAR.to_owned(), "MTE|SDMA".to_owned())));
        assert!(env.contains(&(ENGINES_VAR.to_owned(), "mte+sdma".to_owned())));
        assert!(env.contains(&(SDMA_CHANNELS_VAR.to_owned(), "2".to_owned())));
        assert_eq!(c.heap_bytes(), heap_bytes(OVERLAP_BYTES));
    }
}
