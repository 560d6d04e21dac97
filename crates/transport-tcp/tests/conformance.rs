//! The shared engine conformance suite (shmem-core, feature `conformance`) against the TCP engine: every PE
//! has its own progress thread and real loopback sockets.

use transport_tcp::TcpEngine;

shmem_core::conformance_tests!(<TcpEngine as shmem_core::engine::BuildEngine>::build);
