//! The one resolver of launch environments: shmemrun's, torchrun's, Slurm's and Open MPI's variables are
//! read here, once, into a typed [`LaunchEnv`].
//!
//! Precedence for each value: shmemrun's `SHMEM_*` variable, then torchrun's, then Slurm's, then Open MPI's.
//! The store address follows `api.md`: `SHMEM_MASTER_ADDR`/`SHMEM_MASTER_PORT`, else `MASTER_ADDR` with
//! `MASTER_PORT + 11` (so that torchrun's own store keeps its port), else, under `srun`, the first host of the
//! step's node list (where Slurm puts task 0) with a port from the step's reserved ports (`--resv-ports`) or,
//! without those, one derived from the job and step ids ([`slurm_store_port`]). Open MPI exports no address
//! of rank 0's host, so a multi-node `mpirun` job passes `-x MASTER_ADDR -x MASTER_PORT` (or the `SHMEM_`
//! pair); the init error says so.
//!
//! Across nodes the global rank and size come from the same variables (torchrun's `RANK`/`WORLD_SIZE`, Slurm's
//! `SLURM_PROCID`/`SLURM_NTASKS`, Open MPI's `OMPI_COMM_WORLD_RANK`/`_SIZE` are global); the position on the
//! node (`LOCAL_RANK`/`LOCAL_WORLD_SIZE`, `SLURM_LOCALID`, `OMPI_COMM_WORLD_LOCAL_RANK`/`_LOCAL_SIZE`) and the
//! node's rank (`GROUP_RANK`, `SLURM_NODEID`) are read too, for logs and checks; which PEs share a node is
//! decided by host identity (`SHMEM_NODE_ID`), not by these.

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
    /// Rank among the PEs of this node, when the launcher says.
    pub local_pe: Option<u32>,
    /// Number of PEs on this node, when the launcher says.
    pub local_n_pes: Option<u32>,
    /// This node's rank in the job (torchrun's `GROUP_RANK`, Slurm's `SLURM_NODEID`), when the launcher says.
    pub node_rank: Option<u32>,
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
        // The same launcher's variables for the node-local values (a stray LOCAL_RANK from an outer torchrun
        // must not describe an srun task).
        let (local_var, local_size_var, node_var) = match source {
            "shmemrun" => (vars::LOCAL_PE, vars::LOCAL_N_PES, "GROUP_RANK"),
            "torchrun" => ("LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK"),
            "slurm" => ("SLURM_LOCALID", "", "SLURM_NODEID"),
            _ => ("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE", ""),
        };
        let opt = |name: &str| if name.is_empty() { Ok(None) } else { num(name) };
        let (local_pe, local_n_pes, node_rank) = (opt(local_var)?, opt(local_size_var)?, opt(node_var)?);
        if let (Some(l), Some(ln)) = (local_pe, local_n_pes) {
            if l >= ln {
                return Err(Error::invalid(format!(
                    "{source} launch environment: local rank {l} is not below the {ln} PEs of this node"
                )));
            }
        }
        let store_url = match store_url_from(&get)? {
            Some(url) => Some(url),
            None if source == "slurm" => slurm_store_url(&get)?,
            None => None,
        };
        Ok(Some(LaunchEnv {
            pe,
            n_pes,
            store_url,
            job_token: get(vars::JOB_TOKEN),
            source,
            local_pe,
            local_n_pes,
            node_rank,
        }))
    }
}

/// The store address under `srun` without `MASTER_ADDR`: task 0 runs on the first host of the step's node list
/// (Slurm's block distribution and every other one start task 0 there).
fn slurm_store_url(get: &impl Fn(&str) -> Option<String>) -> Result<Option<StoreUrl>> {
    let Some(list) = get("SLURM_STEP_NODELIST").or_else(|| get("SLURM_JOB_NODELIST")).or_else(|| get("SLURM_NODELIST"))
    else {
        return Ok(None);
    };
    let host = first_host(&list)
        .ok_or_else(|| Error::invalid(format!("cannot read the first host of the Slurm node list {list:?}")))?;
    let port = slurm_store_port(get)?;
    StoreUrl::parse(&format!("tcp://{host}:{port}")).map(Some)
}

/// The store port under `srun`: the first of the step's reserved ports (`srun --resv-ports`,
/// `SLURM_STEP_RESV_PORTS=12000-12003`), else `20000 + (job id * 16 + step id) mod 20000`, the same on every
/// task of the step and different for the steps of one job (a collision with a busy port fails init; then
/// reserve ports or set MASTER_ADDR/MASTER_PORT).
pub fn slurm_store_port(get: &impl Fn(&str) -> Option<String>) -> Result<u16> {
    if let Some(ports) = get("SLURM_STEP_RESV_PORTS") {
        let first = ports.split([',', '-']).next().unwrap_or("").trim();
        return match first.parse::<u16>() {
            Ok(p) if p > 1024 => Ok(p),
            _ => Err(Error::invalid(format!("SLURM_STEP_RESV_PORTS={ports:?} does not start with a port above 1024"))),
        };
    }
    let id = |name: &str| get(name).and_then(|v| v.trim().parse::<u64>().ok());
    let job = id("SLURM_STEP_JOB_ID").or_else(|| id("SLURM_JOB_ID")).ok_or_else(|| {
        Error::invalid("srun sets no SLURM_JOB_ID: set MASTER_ADDR and MASTER_PORT for the bootstrap store")
    })?;
    let step = id("SLURM_STEP_ID").unwrap_or(0) % 16;
    // (job mod 20000 first: the same port as job * 16 would give, without overflowing for an absurd job id.)
    Ok(20_000 + (((job % 20_000) * 16 + step) % 20_000) as u16)
}

/// The first host of a Slurm host list: `node[07-09,12],gpu1` gives `node07`, `a1,b2` gives `a1`.
pub fn first_host(list: &str) -> Option<String> {
    let list = list.trim();
    let end = list.find([',', '[']).unwrap_or(list.len());
    let prefix = &list[..end];
    if list[end..].starts_with('[') {
        let inside = &list[end + 1..list[end..].find(']')? + end];
        let first = inside.split([',', '-']).next()?.trim();
        let rest = list[end..].find(']').map(|i| &list[end + i + 1..])?;
        // A suffix after the brackets (`n[1-2]-ib`) belongs to the name, up to the next comma.
        let suffix = &rest[..rest.find(',').unwrap_or(rest.len())];
        if first.is_empty() {
            return None;
        }
        return Some(format!("{prefix}{first}{suffix}"));
    }
    (!prefix.is_empty()).then(|| prefix.to_owned())
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
    fn across_nodes() {
        // torchrun on node 1 of 2, 4 per node.
        let e = env(&[
            ("RANK", "6"),
            ("WORLD_SIZE", "8"),
            ("LOCAL_RANK", "2"),
            ("LOCAL_WORLD_SIZE", "4"),
            ("GROUP_RANK", "1"),
            ("MASTER_ADDR", "10.0.0.1"),
            ("MASTER_PORT", "29500"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((e.pe, e.n_pes, e.local_pe, e.local_n_pes, e.node_rank), (6, 8, Some(2), Some(4), Some(1)));
        assert_eq!(e.store_url.unwrap().to_string(), "tcp://10.0.0.1:29511");
        // srun: the store on the step's first host, a port from the reservation or the ids.
        let slurm = [
            ("SLURM_PROCID", "5"),
            ("SLURM_NTASKS", "8"),
            ("SLURM_LOCALID", "1"),
            ("SLURM_NODEID", "2"),
            ("SLURM_STEP_NODELIST", "gpu[07-09,12],cpu1"),
            ("SLURM_JOB_ID", "4242"),
            ("SLURM_STEP_ID", "3"),
        ];
        let e = env(&slurm).unwrap().unwrap();
        assert_eq!((e.pe, e.local_pe, e.node_rank, e.source), (5, Some(1), Some(2), "slurm"));
        assert_eq!(e.store_url.unwrap().to_string(), format!("tcp://gpu07:{}", 20_000 + (4242 * 16 + 3) % 20_000));
        let e = env(&[&slurm[..], &[("SLURM_STEP_RESV_PORTS", "12000-12003")]].concat()).unwrap().unwrap();
        assert_eq!(e.store_url.unwrap().port, 12000);
        let e = env(&[&slurm[..], &[("MASTER_ADDR", "h0"), ("MASTER_PORT", "29500")]].concat()).unwrap().unwrap();
        assert_eq!(e.store_url.unwrap().to_string(), "tcp://h0:29511", "MASTER_ADDR wins over the node list");
        assert!(env(&[&slurm[..], &[("SLURM_STEP_RESV_PORTS", "80")]].concat()).is_err());
        // An absurd job id gives a port (the same on every task), no overflow (a panic where overflow is checked).
        let huge = [("SLURM_JOB_ID", "18446744073709551615"), ("SLURM_STEP_ID", "3")];
        let port = slurm_store_port(&|k: &str| huge.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).unwrap();
        assert_eq!(port as u64, 20_000 + ((u64::MAX % 20_000) * 16 + 3) % 20_000);
        // mpirun across nodes: global ranks, local ranks, and no address unless passed.
        let e = env(&[
            ("OMPI_COMM_WORLD_RANK", "3"),
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "2"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((e.pe, e.local_pe, e.local_n_pes, e.store_url), (3, Some(1), Some(2), None));
        // Inconsistent values are refused.
        assert!(env(&[("RANK", "1"), ("WORLD_SIZE", "8"), ("LOCAL_RANK", "4"), ("LOCAL_WORLD_SIZE", "4")]).is_err());
        assert_eq!(first_host("n[1-2]-ib,x"), Some("n1-ib".into()));
        assert_eq!(first_host("a1,b2"), Some("a1".into()));
        assert_eq!(first_host("single"), Some("single".into()));
        assert_eq!(first_host("[]"), None);
        assert_eq!(first_host(""), None);
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
