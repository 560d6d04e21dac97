//! The OpenSHMEM 1.5 C interface over the `shmem` facade: `libshmem_capi.so` with `include/shmem.h` and
//! `include/shmemx.h`, so that programs written against `shmem.h` compile with `oshcc`, run with `oshrun`, and
//! get this runtime's engines, launcher and error reporting.
//!
//! # Layout
//! One module per family of the specification, each a thin conversion layer onto `shmem::api` (symmetric
//! addresses as `usize`, PE numbers as `i64`, the facade validates): [`setup`], [`memory`], [`rma`],
//! [`signal`], [`ordering`], [`team`], [`ctx`], [`coll`]. [`statics`] makes the program's global and static
//! variables symmetric too. The typed functions (`shmem_int_put`, `shmem_ctx_double_get_nbi`, ...) are one macro
//! row per type of the spec's tables ([`types`], generated with the header by `tools/gen_headers.py`).
//! The few functions Rust cannot define with the C ABI (`long double` by value) are `static inline` in `shmem.h`.
//! The `long double` arithmetic of the long double reductions is C (csrc/longdouble_fold.c, built by build.rs).
//!
//! # Errors
//! Calls that return a status (`shmem_init_thread`, `shmem_team_split_strided`, ...) return it; calls that
//! cannot (`void` RMA, AMOs, barriers) report the error on stderr as `shmem: PE <n>: <function>: <message>
//! (error code <code>)` with the code of `api.md` and end the whole job with status 1 ([`fatal`]), because
//! continuing would let the program compute on data that never arrived.

#![allow(clippy::missing_safety_doc)] // Every function's contract is the OpenSHMEM specification's.
#![allow(non_camel_case_types)]

pub mod amo;
pub mod coll;
pub mod ctx;
pub mod fatal;
pub mod handles;
pub mod lock;
pub mod memory;
pub mod ordering;
pub mod p2p;
pub mod rma;
pub mod setup;
pub mod signal;
pub mod static_words;
pub mod statics;
pub mod statics_coll;
pub mod team;
mod types;
