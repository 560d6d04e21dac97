//! The TCP engine: one-sided operations between PEs on different nodes, carried over sockets.
//!
//! # How an operation travels
//! Every PE runs a progress thread ([`progress`](crate::progress)) that listens on one socket and owns the
//! connections other PEs open to it. An initiator opens one connection per target on first use; both ends prove
//! to each other that they know the job's secret by an HMAC-SHA256 challenge-response over fresh nonces (the
//! secret never crosses the wire, a recorded handshake cannot be replayed, and a listener that cannot prove it,
//! say a process that took a dead PE's port, is sent no request: [`wire`]). Then the initiator sends requests
//! in order:
//! - a **put** is a header and the payload, written with one vectored write from the caller's buffer (no
//!   staging copy); the target reads the payload straight into its heap, then applies the signal, if any,
//!   with the same atomic instruction the same-node engines use, and wakes its sleeping waiters. The put
//!   returns once the bytes are in the socket;
//! - a **get** and an **atomic** wait for the target's reply (the data, or the word's previous value); the
//!   target applies atomics with the same instructions as MTE and SDMA, so they are atomic together. A
//!   **deferred get** (`_nbi`) only sends its request: its reply is read by the next call on that connection
//!   that reads one (replies come in request order) or by the `quiet` that completes it, so gets issued back to
//!   back stream their replies (at most 64 in flight per target);
//! - **quiet** sends a flush to every target with unconfirmed puts and waits for its reply: the target
//!   applies a connection's requests in order, so the reply means all of them are visible;
//! - **fence** has nothing to do: puts to one target share its connection and are applied in order;
//! - a burst of **small puts** to one target is batched into one write ([`outbox`](crate::outbox)).
//!
//! # Who serves incoming requests
//! The progress thread, unless a thread of this PE is waiting inside the library: for a word (a `wait_until`, a
//! barrier, a signal wait: the facade's waits call [`DataOpEngine::progress`](shmem_core::engine::DataOpEngine),
//! and the waiting thread then writes this PE's batches and serves whatever has arrived itself), or for a
//! reply (a `quiet`, a get, a fetching atomic: the thread reads its reply from its own socket itself and,
//! while the progress thread is parked for a driving waiter, serves this PE's incoming requests; otherwise it
//! sleeps in `recv` on its own socket, one system call, while the progress thread serves). No thread has to be
//! woken and scheduled to pass a reply on (see [`progress`](crate::progress)). A waiter peeks the requests it
//! serves and removes them from the socket at its next read, after its caller went on: the read that empties a
//! one-way connection's queue is where the kernel sends its pure ACK, which would otherwise come before the
//! waiter sees a put + signal (about 1 us per message on loopback). A large get reply is written as the
//! socket takes it, never with a blocking write, so two PEs that wait for each other's replies while serving
//! each other's requests cannot stall each other.
//!
//! # Failures
//! Reads and writes are bounded by the control timeout, and so is a request that a peer's node no longer
//! acknowledges (it died or was cut off without closing: no FIN, no RST;
//! [`shmem_core::liveness::bound_unacknowledged`], where the kernel would otherwise retransmit for ~15 min): an
//! `Inner` error naming the PE, as is a closed connection; puts that a failed connection left unconfirmed make the next `quiet` of
//! their context an error too, and so is a listener that does not prove the job's secret (not this job's PE).
//! The progress thread refuses a wrong proof, a malformed frame or a range outside its heap by closing that
//! connection (logged); it never trusts or crashes on its input. A connection must
//! prove the job's secret within the control timeout (at most 10 s), at most 128 unproven ones (or the job's PE
//! count) are kept, and when the process runs out of descriptors the listener pauses instead of spinning: an
//! outsider can neither hold a PE's descriptors nor busy its progress thread.

#![deny(missing_docs)]

mod config;
mod engine;
mod fdio;
mod outbox;
mod progress;
pub mod wire;

pub use config::{
    auto_spin, spin_from, spin_from_env, spin_setting, TcpConfig, ADDR_VAR, AUTO_SPIN, DEFAULT_SPIN, MAX_SPIN, SPIN_VAR,
};
pub use engine::TcpEngine;
pub use fdio::unpaced_if_host_local;
