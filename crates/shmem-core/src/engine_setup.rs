//! What an engine is built from: one struct with everything a transport needs to set itself up, local or remote.
//!
//! Same-node engines need only the node's mappings; remote engines (TCP, RDMA) also need to know which PEs are
//! on other nodes and to trade connection data (addresses, queue-pair numbers, keys) with them before the first
//! operation. That trade goes through [`KeyExchange`], which the facade implements over the bootstrap store, so
//! that transport crates never depend on the store's crate.

use crate::heap::NodeSegments;
use crate::types::Pe;
use crate::Result;
use std::sync::Arc;
use std::time::Duration;

/// A collective exchange of small records among the job's PEs (the bootstrap store in a real job).
pub trait KeyExchange {
    /// Every PE of the job contributes `mine` under `key` (each key used once per job); returns every PE's
    /// contribution in PE order, or an error naming the PEs that did not arrive within `timeout`.
    fn allgather(&self, key: &str, mine: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>>;
}

/// The bounds an engine's set-up and its control waits live by (from the init attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineTimeouts {
    /// How long connecting to the other PEs may take (`shm_init_timeout`).
    pub init: Duration,
    /// How long any later control wait may take (`control_operation_timeout`).
    pub control: Duration,
}

/// Everything one PE's engine is built from.
#[derive(Clone, Copy)]
pub struct EngineSetup<'a> {
    /// This PE.
    pub me: Pe,
    /// PEs in the job.
    pub n_pes: u32,
    /// `node_of[pe]` is the node index of every PE (PEs with the same index share memory); `node_of[me]` is this
    /// node.
    pub node_of: &'a [u32],
    /// This node's mappings: the local heap (base, size, layout) and the same-node peers' heaps.
    pub heap: &'a Arc<NodeSegments>,
    /// Trades connection data with the other PEs; `None` in a single-PE job.
    pub exchange: Option<&'a dyn KeyExchange>,
    /// Set-up and control bounds.
    pub timeouts: EngineTimeouts,
    /// The job's secret: network engines require it of every connection they accept (empty in a one-PE job).
    pub job_secret: &'a [u8],
    /// The address of this host that reaches the job's other nodes (the local side of the route to the store),
    /// for network engines to listen on and advertise; `None` when unknown (a one-PE job).
    pub local_ip: Option<std::net::IpAddr>,
    /// The `SHMEM_*` environment as read once at init: engines parse their knobs from it (each engine's own
    /// config type), never from the live environment.
    pub settings: &'a crate::Settings,
}

impl EngineSetup<'_> {
    /// Whether `pe` is on this PE's node.
    pub fn same_node(&self, pe: Pe) -> bool {
        self.node_of.get(pe.index()) == self.node_of.get(self.me.index())
    }
}

impl std::fmt::Debug for EngineSetup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineSetup")
            .field("me", &self.me)
            .field("n_pes", &self.n_pes)
            .field("node_of", &self.node_of)
            .field("exchange", &self.exchange.is_some())
            .field("timeouts", &self.timeouts)
            .field("job_secret", &"<redacted>")
            .field("local_ip", &self.local_ip)
            .finish()
    }
}
