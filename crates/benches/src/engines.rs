//! The data-op engine sets a benchmark job can run with, and how they show up in the results.
//!
//! A job's engine set is chosen through the runtime's `SHMEM_DATA_OP_ENGINE` variable (see the `shmem` crate's
//! `api::attr_from_env`). With `MTE|SDMA` the runtime's policy variables (`SHMEM_SDMA_NBI_MIN`, default
//! 64 KiB; `SHMEM_SDMA_BLOCKING_MIN`, default off) decide which same-node transfers go to the copy engine;
//! the benchmarks pass them through from the caller's environment unchanged.

use std::fmt;
use std::str::FromStr;

/// The runtime's variable that selects the engine set.
pub const DATA_OP_ENGINE_VAR: &str = "SHMEM_DATA_OP_ENGINE";
/// The SDMA engine's channel-count variable (`transport_sdma::CHANNELS_VAR`).
pub const SDMA_CHANNELS_VAR: &str = transport_sdma::CHANNELS_VAR;

/// An engine set a benchmark job runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineSet {
    /// MTE alone: every same-node operation is a load/store on the calling thread.
    Mte,
    /// SDMA alone: every same-node transfer goes through the asynchronous copy engine (atomics stay on the
    /// calling thread).
    Sdma,
    /// Both: small and blocking transfers go to MTE, large `_nbi` ones to SDMA (the runtime's policy).
    MteSdma,
    /// The TCP engine between two "nodes" on this machine (each PE its own `SHMEM_NODE_ID`, loopback
    /// addresses): `MTE|TCP`, every operation of PE 0 on PE 1 crosses a socket.
    Tcp,
    /// The TCP engine between two network namespaces joined by a veth pair (made and removed by the run; needs
    /// root): PE 0 in one, PE 1 in the other.
    TcpNetns,
}

impl EngineSet {
    /// Every set, in the order the reports list them.
    pub const ALL: [EngineSet; 5] =
        [EngineSet::Mte, EngineSet::Sdma, EngineSet::MteSdma, EngineSet::Tcp, EngineSet::TcpNetns];

    /// The name used on the command line and in criterion group names: `mte`, `sdma`, `mte+sdma`.
    pub fn label(self) -> &'static str {
        match self {
            EngineSet::Mte => "mte",
            EngineSet::Sdma => "sdma",
            EngineSet::MteSdma => "mte+sdma",
            EngineSet::Tcp => "tcp",
            EngineSet::TcpNetns => "tcp-netns",
        }
    }

    /// The value of [`DATA_OP_ENGINE_VAR`] that selects this set.
    pub fn env_value(self) -> &'static str {
        match self {
            EngineSet::Mte => "MTE",
            EngineSet::Sdma => "SDMA",
            EngineSet::MteSdma => "MTE|SDMA",
            EngineSet::Tcp | EngineSet::TcpNetns => "MTE|TCP",
        }
    }

    /// What appends to a metric name measured with this set: nothing for MTE (the historical rows keep their
    /// names), `[sdma]` and `[mte+sdma]` for the others.
    pub fn suffix(self) -> &'static str {
        match self {
            EngineSet::Mte => "",
            EngineSet::Sdma => "[sdma]",
            EngineSet::MteSdma => "[mte+sdma]",
            EngineSet::Tcp => "[tcp]",
            EngineSet::TcpNetns => "[tcp-netns]",
        }
    }

    /// The runtime's flags of this set.
    pub fn op_type(self) -> shmem::OpEngineType {
        match self {
            EngineSet::Mte => shmem::OpEngineType::MTE,
            EngineSet::Sdma => shmem::OpEngineType::SDMA,
            EngineSet::MteSdma => shmem::OpEngineType::MTE | shmem::OpEngineType::SDMA,
            EngineSet::Tcp | EngineSet::TcpNetns => shmem::OpEngineType::MTE | shmem::OpEngineType::TCP,
        }
    }

    /// Whether the set includes the SDMA copy engine.
    pub fn uses_sdma(self) -> bool {
        matches!(self, EngineSet::Sdma | EngineSet::MteSdma)
    }

    /// Whether PE 0 and PE 1 sit on different nodes and talk through the TCP engine.
    pub fn uses_tcp(self) -> bool {
        matches!(self, EngineSet::Tcp | EngineSet::TcpNetns)
    }
}

impl fmt::Display for EngineSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl FromStr for EngineSet {
    type Err = String;

    /// `mte`, `sdma`, `mte+sdma` (also `mte|sdma`, `sdma+mte`), case-insensitive.
    fn from_str(s: &str) -> Result<EngineSet, String> {
        let mut names: Vec<String> =
            s.split(['+', '|']).map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
        names.sort();
        names.dedup();
        match names.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["mte"] => Ok(EngineSet::Mte),
            ["sdma"] => Ok(EngineSet::Sdma),
            ["mte", "sdma"] => Ok(EngineSet::MteSdma),
            ["tcp"] | ["mte", "tcp"] => Ok(EngineSet::Tcp),
            ["tcp-netns"] => Ok(EngineSet::TcpNetns),
            _ => Err(format!("{s:?} is not an engine set: use mte, sdma, mte+sdma, tcp or tcp-netns")),
        }
    }
}

/// The logical cores this process may use (at least 1).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether a copy engine of `channels` channels has a core of its own for every channel while the caller
/// computes on another and PE 1 sleeps: `cores >= channels + 1`.
pub fn core_free_for(channels: u32, cores: usize) -> bool {
    cores > channels as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip() {
        for e in EngineSet::ALL {
            assert_eq!(e.label().parse::<EngineSet>(), Ok(e));
            if e != EngineSet::TcpNetns {
                assert_eq!(e.env_value().parse::<EngineSet>(), Ok(e));
            }
            assert_eq!(shmem::OpEngineType::parse(e.env_value()).unwrap(), e.op_type());
        }
        assert_eq!("SDMA+mte".parse::<EngineSet>(), Ok(EngineSet::MteSdma));
        assert_eq!("tcp".parse::<EngineSet>(), Ok(EngineSet::Tcp));
        assert_eq!("tcp-netns".parse::<EngineSet>(), Ok(EngineSet::TcpNetns));
        assert!("rdma".parse::<EngineSet>().is_err());
        assert!(EngineSet::TcpNetns.uses_tcp() && !EngineSet::Tcp.uses_sdma() && !EngineSet::MteSdma.uses_tcp());
        assert!("".parse::<EngineSet>().is_err());
        assert_eq!(EngineSet::Mte.suffix(), "");
        assert_eq!(EngineSet::Sdma.suffix(), "[sdma]");
        assert!(!EngineSet::Mte.uses_sdma() && EngineSet::MteSdma.uses_sdma());
    }

    #[test]
    fn free_core_rule() {
        assert!(core_free_for(1, 2));
        assert!(!core_free_for(2, 2));
        assert!(core_free_for(2, 3));
    }
}
