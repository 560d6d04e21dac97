//! A SHMEM runtime in the OpenSHMEM family: every PE (process) owns a symmetric heap of the same size, and any
//! PE can put into, get from, signal, and atomically update any other PE's heap with one-sided operations,
//! through pluggable data-op engines.
//!
//! # Quick start
//! ```no_run
//! # fn main() -> shmem::Result<()> {
//! let sh = shmem::init_from_env()?;            // under `shmemrun -n 4 ...`, or alone as PE 0 of 1
//! let me = sh.my_pe();
//! let next = (me + 1) % sh.n_pes();
//! let box_ = sh.alloc_zeroed::<u64>(1)?;        // collective: same offset on every PE
//! box_.put(next, 0, &[me as u64])?;             // one-sided write into the next PE's copy
//! sh.barrier_all()?;
//! println!("PE {me} got {:?}", box_.to_vec()?);
//! box_.free()?;
//! sh.finalize()
//! # }
//! ```
//!
//! # Cargo features
//! - `mte` (default): same-node peers by direct load/store into their mapped heaps.
//!
//! # Thread safety
//! [`Shmem`] is `Send + Sync`: puts, gets and atomics may be issued from several threads. Collective calls
//! (allocation, barriers, finalize) must be made by one thread per PE at a time, in the same order on every PE.
//!
//! # Resource cleanup
//! Heap segments are unlinked from `/dev/shm` as soon as every PE of the node has mapped them, so a crash
//! cannot leak them; the mappings go away at `finalize` (or process exit). `SymVec`s are not freed on drop
//! (freeing is collective): free them explicitly or let `finalize` release everything.
//!
//! # Design choices
//! - The facade validates every argument (PE range, heap bounds, alignment); engines trust it.
//! - Static dispatch over the compiled engines; a per-peer routing table picks the engine.
//! - Waits spin briefly, then yield, then sleep on a futex that remote writers wake.

#![deny(missing_docs)]

pub mod amo;
pub mod api;
mod coll_policy;
pub mod collectives;
pub mod config;
pub mod ctx;
mod current;
mod engine;
mod handle;
pub mod lock;
mod log;
mod reserved;
mod runtime;
mod store_exchange;
mod sym;
pub mod team;
pub mod tls;
pub mod uid;
pub mod waits;

pub use api::{attr_from_env, init, init_from_env, init_status};
pub use collectives::{Complex32, Complex64, DataType, ReduceOp};
pub use ctx::{Ctx, CtxOptions};
pub use engine::compiled_engines;
pub use handle::Shmem;
pub use shmem_core::engine::{AtomicOp, AtomicWidth, IntoSignalOp, SignalOp};
pub use shmem_core::{Error, InitAttr, InitStatus, OpEngineType, OptionalAttr, Result, TeamConfig};
pub use shmem_sync::{CmpOp, IntoCmpOp};
pub use sym::SymVec;
