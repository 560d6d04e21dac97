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

mod alloc;
pub mod amo;
pub mod api;
pub mod collectives;
pub mod config;
pub mod ctx;
mod engine;
pub mod lock;
mod log;
mod rma;
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
pub use shmem_core::engine::{AtomicOp, AtomicWidth, SignalOp};
pub use shmem_core::{Error, InitAttr, InitStatus, OpEngineType, OptionalAttr, Result, TeamConfig};
pub use shmem_sync::CmpOp;
pub use sym::SymVec;

use runtime::Runtime;
use std::sync::Arc;

/// A handle on this PE's initialized runtime. Obtained from [`init`] / [`init_from_env`]; ends with
/// [`Shmem::finalize`].
#[derive(Debug)]
pub struct Shmem {
    rt: Arc<Runtime>,
}

impl Shmem {
    /// This PE's number in TEAM_WORLD.
    pub fn my_pe(&self) -> u32 {
        self.rt.me.0
    }

    /// Number of PEs in the job.
    pub fn n_pes(&self) -> u32 {
        self.rt.n_pes
    }

    /// Bytes of symmetric heap per PE.
    pub fn heap_size(&self) -> u64 {
        self.rt.layout.heap_size()
    }

    /// Completes every outstanding operation of this PE, then waits for all PEs.
    pub fn barrier_all(&self) -> Result<()> {
        self.rt.check_live()?;
        self.rt.barrier_all()
    }

    /// Waits for all PEs (without completing outstanding operations).
    pub fn sync_all(&self) -> Result<()> {
        self.rt.check_live()?;
        self.rt.sync_all()
    }

    /// Completes every outstanding operation of this PE.
    pub fn quiet(&self) -> Result<()> {
        self.rt.check_live()?;
        self.rt.quiet()
    }

    /// Orders this PE's puts to each target.
    pub fn fence(&self) -> Result<()> {
        self.rt.fence()
    }

    /// Ends this PE's part of the job (collective).
    pub fn finalize(self) -> Result<()> {
        api::finalize_runtime(Some(&self.rt))
    }

    /// Ends every PE of the job with `status`, promptly (does not return).
    pub fn global_exit(&self, status: i32) -> ! {
        self.rt.global_exit(status)
    }
}
