//! The shared engine conformance suite (shmem-core, feature `conformance`) against the MTE engine.

use shmem_core::engine::BuildEngine;
use transport_mte::MteEngine;

shmem_core::conformance_tests!(MteEngine::build, same_node_only);
