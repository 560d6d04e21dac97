//! The typed handle on this PE's runtime, [`Shmem`]: what `init` returns to Rust programs.

use crate::config::Config;
use crate::runtime::Runtime;
use shmem_core::{InitAttr, Result};
use std::sync::Arc;

/// A handle on this PE's initialized runtime. Obtained from [`crate::init`] / [`crate::init_from_env`]; ends with
/// [`Shmem::finalize`].
#[derive(Debug)]
pub struct Shmem {
    pub(crate) rt: Arc<Runtime>,
}

impl Shmem {
    /// Starts a runtime (see `crate::current::start`) and returns its handle.
    pub(crate) fn start(attr: InitAttr, config: Config) -> Result<Shmem> {
        crate::current::start(attr, config).map(|rt| Shmem { rt })
    }

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
        crate::current::finalize(Some(&self.rt))
    }

    /// Ends every PE of the job with `status`, promptly (does not return).
    pub fn global_exit(&self, status: i32) -> ! {
        self.rt.global_exit(status)
    }
}
