//! The shared engine conformance suite (shmem-core, feature `conformance`) against the RoCE engine: every PE of
//! the testbed is a thread with its own queue pairs on the one verbs device.
//!
//! It needs a verbs device, so it builds only with this crate's `device-tests` feature: the VM test
//! (`scripts/test-roce-vm.sh`) runs it on soft-RoCE; on a host without RDMA, `no_device.rs` checks the error.

use transport_roce::RoceEngine;

shmem_core::conformance_tests!(<RoceEngine as shmem_core::engine::BuildEngine>::build);
