//! The one resolver of launch environments: shmemrun's, torchrun's, Slurm's and Open MPI's variables are
//! read here, once, into a typed [`LaunchEnv`].
//!
//! Precedence for each value: shmemrun's `SHMEM_*` variable, then torchrun's, then Slurm's, then Open MPI's.
//! The store address follows `api.md`: `SHMEM_MASTER_ADDR`/`SHMEM_MASTER_PORT`, else `MASTER_ADDR` with
//! `MASTER_PORT + 11` (so that torchrun's own store keeps its port).

use crate::attr::StoreUrl;
use crate::error::{Error, Result};

/// Variable names shmemrun sets for each PE (and that users may set by hand).
pub mod vars {
    /// This PE's rank.
    pub const PE: &str = "SHMEM_PE";
    /// Number of PEs in the job.
    pub const N_PES: &str = "SHMEM_N_PES";
    /// Rank among the PEs of this node.
    pub const LOCAL_PE: &str = "SHMEM_LOCAL_PE";
    /// Number of PEs on this node.
    pub const LOCAL_N_PES: &str = "SHMEM_LOCAL_N_PES";
    /// Host of the bootstrap store (served by PE 0).
    pub const MASTER_ADDR: &str = "SHMEM_MASTER_ADDR";
    /// Port of the bootstrap store.
    pub const MASTER_PORT: &str = "SHMEM_MASTER_PORT";
    /// Per-job secret every store client must present.
    pub const JOB_TOKEN: &str = "SHMEM_JOB_TOKEN";
    /// `1` lets a job whose store is on another node start without any secret (with a warning): the
    /// explicit opt-out of the job-secret rule.
    pub const INSECURE_NO_TOKEN: &str = "SHMEM_INSECURE_NO_TOKEN";
    /// Symmetric heap size per PE for `init()` from the environment (bytes, or with K/M/G suffix).
    pub const SYMMETRIC_SIZE: &str = "SHMEM_SYMMETRIC_SIZE";
    /// Seconds `init` waits for the other PEs (shm_init_timeout and shm_create_timeout) for `init()` from the
    /// environment.
    pub const INIT_TIMEOUT: &str = "SHMEM_INIT_TIMEOUT";
    /// Seconds every control-plane wait may take (control_operation_timeout) for `init()` from the environment.
    pub const CONTROL_TIMEOUT: &str = "SHMEM_CONTROL_TIMEOUT";
    /// The engine set for `init()` from the environment (`MTE`, `SDMA`, `MTE|SDMA`, or a number).
    pub const DATA_OP_ENGINE: &str = "SHMEM_DATA_OP_ENGINE";
    /// Overrides the node identity so that tests can make several "nodes" on one machine.
    pub const NODE_ID: &str = "SHMEM_NODE_ID";
    /// Log level: DEBUG, INFO, WARN or ERROR.
    pub const LOG_LEVEL: &str = "SHMEM_LOG_LEVEL";
    /// Prefix of shared-memory object names; shmemrun sets a per-job one so that it can clean up.
    pub const SHM_PREFIX: &str = "SHMEM_SHM_PREFIX";
}

/// Offset added to torchrun's `MASTER_PORT` for the SHMEM store (the reference's rule).
pub const TORCHRUN_PORT_OFFSET: u16 = 11;

/// Where this PE sits in the job, as told by its launcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchEnv {
    /// This PE's rank.
    pub pe: u32,
    /// Number of PEs.
    pub n_pes: u32,
    /// Store address, when one was given.
    pub store_url: Option<StoreUrl>,
    /// The per-job token, when the launcher set one.
    pub job_token: Option<String>,
    /// Which launcher the values came from (for logs and error messages).
    pub source: &'static str,
}

impl LaunchEnv {
    /// Reads the process environment.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads values through `get` (tests pass a map). `Ok(None)` means no launcher variables at all.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        const SOURCES: [(&str, &str, &str); 4] = [
            ("shmemrun", vars::PE, vars::N_PES),
            ("torchrun", "RANK", "WORLD_SIZE"),
            ("slurm", "SLURM_PROCID", "SLURM_NTASKS"),
            ("openmpi", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"),
        ];
        let num = |name: &str| -> Result<Option<u32>> {
            match get(name) {
                None => Ok(None),
                Some(v) => v.trim().parse::<u32>().map(Some).map_err(|_| {
                    Error::invalid(format!("environment variable {name}={v:?} is not a non-negative integer"))
                }),
            }
        };
        let mut found = None;
        for (source, rank_var, size_var) in SOURCES {
            match (num(rank_var)?, num(size_var)?) {
                (Some(pe), Some(n)) => {
                    found = Some((source, pe, n));
                    break;
                }
                (None, None) => {}
                _ => {
                    return Err(Error::invalid(format!(
                        "{source} launch environment is incomplete: set both {rank_var} and {size_var}"
                    )))
                }
            }
        }
        let Some((source, pe, n_pes)) = found else { return Ok(None) };
        Ok(Some(LaunchEnv { pe, n_pes, store_url: store_url_from(&get)?, job_token: get(vars::JOB_TOKEN), source }))
    }
}

fn store_url_from(get: &impl Fn(&str) -> Option<String>) -> Result<Option<StoreUrl>> {
    let port_of = |name: &str, v: String| -> Result<u16> {
        v.trim().parse::<u16>().map_err(|_| Error::invalid(format!("{name}={v:?} is not a TCP port")))
    };
    let (host, port) = match (get(vars::MASTER_ADDR), get(vars::MASTER_PORT)) {
        (Some(h), Some(p)) => (h, port_of(vars::MASTER_PORT, p)?),
        _ => match (get("MASTER_ADDR"), get("MASTER_PORT")) {
            (Some(h), Some(p)) => {
                let p = port_of("MASTER_PORT", p)?;
                let shifted = p.checked_add(TORCHRUN_PORT_OFFSET).ok_or_else(|| {
                    Error::invalid(format!("MASTER_PORT {p} + {TORCHRUN_PORT_OFFSET} overflows a TCP port"))
                })?;
                (h, shifted)
            }
            _ => return Ok(None),
        },
    };
    let url = if host.contains(':') { format!("tcp6://[{host}]:{port}") } else { format!("tcp://{host}:{port}") };
    StoreUrl::parse(&url).map(Some)
}

/// Parses a size such as `1048576`, `64K`, `256M`, `2G` (binary units) from an environment value.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let (digits, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(Error::invalid(format!("size {s:?} has an unknown unit; use K, M or G"))),
            };
            (&t[..i], m)
        }
        _ => (t, 1),
    };
    digits
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|v| v.checked_mul(mult))
        .ok_or_else(|| Error::invalid(format!("size {s:?} is not a number of bytes (e.g. 1048576, 64M, 1G)")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Result<Option<LaunchEnv>> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LaunchEnv::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn sources_in_order() {
        assert_eq!(env(&[]).unwrap(), None);
        let e = env(&[("SHMEM_PE", "1"), ("SHMEM_N_PES", "4"), ("RANK", "3"), ("WORLD_SIZE", "8")]).unwrap().unwrap();
        assert_eq!((e.pe, e.n_pes, e.source), (1, 4, "shmemrun"));
        let e = env(&[("RANK", "3"), ("WORLD_SIZE", "8"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")])
            .unwrap()
            .unwrap();
        assert_eq!((e.pe, e.n_pes, e.source), (3, 8, "torchrun"));
        assert_eq!(e.store_url.unwrap().port, 29511);
        let e = env(&[("SLURM_PROCID", "2"), ("SLURM_NTASKS", "3")]).unwrap().unwrap();
        assert_eq!((e.pe, e.source), (2, "slurm"));
        let e = env(&[("OMPI_COMM_WORLD_RANK", "0"), ("OMPI_COMM_WORLD_SIZE", "2")]).unwrap().unwrap();
        assert_eq!(e.source, "openmpi");
    }

    #[test]
    fn explicit_store_wins_and_bad_values_fail() {
        let e = env(&[
            ("SHMEM_PE", "0"),
            ("SHMEM_N_PES", "2"),
            ("SHMEM_MASTER_ADDR", "::1"),
            ("SHMEM_MASTER_PORT", "4000"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(e.store_url.unwrap().to_string(), "tcp6://[::1]:4000");
        assert!(env(&[("SHMEM_PE", "x"), ("SHMEM_N_PES", "2")]).is_err());
        assert!(env(&[("SHMEM_PE", "0")]).is_err());
        assert!(env(&[("RANK", "0"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "h"), ("MASTER_PORT", "65530")]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576").unwrap(), 1 << 20);
        assert_eq!(parse_size("64M").unwrap(), 64 << 20);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("").is_err());
    }
}
