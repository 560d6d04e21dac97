//! The bootstrap store as the engines' [`KeyExchange`]: engines trade connection data through it at init
//! without depending on the store's crate.

use shmem_bootstrap::StoreClient;
use shmem_core::engine_setup::KeyExchange;
use shmem_core::Result;
use std::time::Duration;

/// A job's store client, seen by engines as a collective exchange among all `n_pes` PEs.
pub(crate) struct StoreExchange<'a> {
    pub(crate) client: &'a StoreClient,
    pub(crate) n_pes: u32,
}

impl KeyExchange for StoreExchange<'_> {
    fn allgather(&self, key: &str, mine: &[u8], timeout: Duration) -> Result<Vec<Vec<u8>>> {
        // Engine keys live in a namespace of their own, apart from the runtime's init keys.
        self.client.allgather(&format!("engine/{key}"), self.n_pes, mine, timeout)
    }
}
