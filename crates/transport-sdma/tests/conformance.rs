//! The shared engine conformance suite (shmem-core, feature `conformance`) against the SDMA engine.

use shmem_core::engine::BuildEngine;
use transport_sdma::SdmaEngine;

shmem_core::conformance_tests!(SdmaEngine::build, same_node_only);
