//! `shmem._shmem`: the Python extension module of the `shmem` package (pyo3). It binds both API
//! generations of the seeds (the newer `aclshmem*` names are defined here; the `shmem` package adds the older
//! names as aliases of the same objects), NumPy-ready symmetric blocks, and the launcher.
//!
//! # Design choices
//! - **Validate, then call the raw API.** Symmetric addresses are checked by the runtime against the heap;
//!   local memory is a buffer object held exported during the call, or an int inside the heap (see
//!   `buffer`). Sizes, PEs and codes are range-checked into `ShmemError(INVALID_PARAM)`; wrong Python types
//!   raise `TypeError`.
//! - **The GIL is released in every blocking call**: waits (a loop of probes that checks for Ctrl-C every
//!   20 ms), barriers, collective allocation, init/finalize, and copies of 64 KiB or more. Small puts and gets
//!   keep it: releasing costs more than the copy.
//! - **Symmetric memory is never freed by the garbage collector**; see `memory` and `state` for how arrays
//!   stay safe after `free` and `finalize`.
//!
//! # Thread safety
//! Every function may be called from any Python thread. Collective calls (allocation, barriers, team splits,
//! init/finalize) must be made by one thread per PE at a time, in the same order on every PE.

#![deny(missing_docs)]

mod amo;
mod blocking;
mod buffer;
mod collectives;
mod core_buffer;
mod ctx;
mod error;
mod launcher;
mod lifecycle;
mod memory;
mod ndarray;
mod np_collectives;
mod rma;
mod state;
mod stream;
mod strided;
mod team;
mod tls_conf;
mod typed_pg;
mod uid;
mod upstream_extra;
mod waits;

use pyo3::prelude::*;

/// The extension module.
#[pymodule(gil_used = true)]
fn _shmem(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ShmemError", m.py().get_type::<error::ShmemError>())?;
    lifecycle::register(m)?;
    memory::register(m)?;
    rma::register(m)?;
    waits::register(m)?;
    amo::register(m)?;
    team::register(m)?;
    launcher::register(m)?;
    uid::register(m)?;
    typed_pg::register(m)?;
    stream::register(m)?;
    upstream_extra::register(m)?;
    core_buffer::register(m)?;
    strided::register(m)?;
    collectives::register(m)?;
    np_collectives::register(m)?;
    ctx::register(m)?;
    Ok(())
}
