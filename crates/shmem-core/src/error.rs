//! The one public error type of the runtime and its mapping onto the numeric codes of `api.md`.

use std::time::Duration;

/// Numeric result codes of the SHMEM API (`api.md`, "error codes"). Part of the contract.
pub mod code {
    /// The call succeeded.
    pub const SUCCESS: i32 = 0;
    /// An argument is out of range or malformed.
    pub const INVALID_PARAM: i32 = -1;
    /// A value is inconsistent with the state of the job.
    pub const INVALID_VALUE: i32 = -2;
    /// The shared-memory layer failed.
    pub const SMEM_ERROR: i32 = -3;
    /// An internal error of the runtime.
    pub const INNER_ERROR: i32 = -4;
    /// The runtime is not initialized.
    pub const NOT_INITED: i32 = -5;
    /// PEs could not find each other through the bootstrap store.
    pub const BOOTSTRAP_ERROR: i32 = -6;
    /// A bounded wait expired.
    pub const TIMEOUT_ERROR: i32 = -7;
    /// A symmetric allocation failed.
    pub const MALLOC_FAILED: i32 = -8;
    /// A dynamically loaded function was missing.
    pub const DL_FUNC_FAILED: i32 = -9;
    /// An internal wait expired.
    pub const INNER_TIMEOUT: i32 = -10;
    /// The API is being unloaded.
    pub const UNDER_API_UNLOAD: i32 = -11;
    /// The operation is not supported by this build or engine.
    pub const NOT_SUPPORTED: i32 = -100;
}

/// Everything that can go wrong in a SHMEM call. Each variant maps to one numeric code of `api.md`
/// through [`Error::code`]; each message says what was wrong and, where it can, what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument is out of range or malformed (INVALID_PARAM).
    #[error("invalid argument: {0}")]
    InvalidParam(String),
    /// A value conflicts with the job's state, e.g. PEs disagreeing on a collective call (INVALID_VALUE).
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// Creating, sizing or mapping a shared-memory segment failed (SMEM_ERROR).
    #[error("shared memory: {what}: {source}")]
    Smem {
        /// What the runtime was doing.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The runtime reached a state it cannot continue from, e.g. a peer left the job (INNER_ERROR).
    #[error("internal error: {0}")]
    Inner(String),
    /// The call needs an initialized runtime (NOT_INITED).
    #[error("shmem is not initialized: {0}")]
    NotInited(String),
    /// PEs could not find or talk to each other through the bootstrap store (BOOTSTRAP_ERROR).
    #[error("bootstrap: {0}")]
    Bootstrap(String),
    /// A bounded control-plane wait expired; names the PEs that did not arrive (TIMEOUT_ERROR).
    #[error("timed out after {waited:?} waiting for {what}{}", missing_list(.missing_pes))]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the caller waited.
        waited: Duration,
        /// The PEs that had not arrived, when known.
        missing_pes: Vec<u32>,
    },
    /// A symmetric allocation did not fit in the heap (MALLOC_FAILED).
    #[error(
        "symmetric heap exhausted: requested {requested} B (alignment {align}), largest free block {largest_free} B, \
         {free} B free of {heap_size} B; pass a larger local_mem_size (or SHMEM_SYMMETRIC_SIZE)"
    )]
    MallocFailed {
        /// Bytes asked for.
        requested: u64,
        /// Alignment asked for.
        align: u64,
        /// Total free bytes.
        free: u64,
        /// Size of the largest free block.
        largest_free: u64,
        /// Size of the symmetric heap.
        heap_size: u64,
    },
    /// The operation is not available in this build or with this engine (NOT_SUPPORTED).
    #[error("not supported: {0}")]
    NotSupported(String),
}

fn missing_list(pes: &[u32]) -> String {
    if pes.is_empty() {
        return String::new();
    }
    const SHOWN: usize = 32;
    let mut s: Vec<String> = pes.iter().take(SHOWN).map(|p| p.to_string()).collect();
    if pes.len() > SHOWN {
        s.push(format!("... ({} in all)", pes.len()));
    }
    format!("; PEs that did not arrive: [{}]", s.join(", "))
}

impl Error {
    /// The numeric code of `api.md` for this error.
    pub fn code(&self) -> i32 {
        match self {
            Error::InvalidParam(_) => code::INVALID_PARAM,
            Error::InvalidValue(_) => code::INVALID_VALUE,
            Error::Smem { .. } => code::SMEM_ERROR,
            Error::Inner(_) => code::INNER_ERROR,
            Error::NotInited(_) => code::NOT_INITED,
            Error::Bootstrap(_) => code::BOOTSTRAP_ERROR,
            Error::Timeout { .. } => code::TIMEOUT_ERROR,
            Error::MallocFailed { .. } => code::MALLOC_FAILED,
            Error::NotSupported(_) => code::NOT_SUPPORTED,
        }
    }

    /// Shorthand for [`Error::InvalidParam`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidParam(msg.into())
    }

    /// Wraps an OS error from the shared-memory layer with what was being done.
    pub fn smem(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Smem { what: what.into(), source }
    }
}

/// The result type of every fallible runtime call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_its_api_code() {
        let io = || std::io::Error::from_raw_os_error(libc::ENOMEM);
        let table: Vec<(Error, i32)> = vec![
            (Error::invalid("x"), -1),
            (Error::InvalidValue("x".into()), -2),
            (Error::smem("x", io()), -3),
            (Error::Inner("x".into()), -4),
            (Error::NotInited("x".into()), -5),
            (Error::Bootstrap("x".into()), -6),
            (Error::Timeout { what: "x".into(), waited: Duration::from_secs(1), missing_pes: vec![3] }, -7),
            (Error::MallocFailed { requested: 1, align: 16, free: 0, largest_free: 0, heap_size: 0 }, -8),
            (Error::NotSupported("x".into()), -100),
        ];
        for (e, c) in table {
            assert_eq!(e.code(), c, "{e}");
        }
    }

    #[test]
    fn timeout_message_names_missing_pes() {
        let e = Error::Timeout { what: "barrier".into(), waited: Duration::from_millis(1500), missing_pes: vec![2, 5] };
        let m = e.to_string();
        assert!(m.contains("[2, 5]"), "{m}");
        assert!(m.contains("barrier"), "{m}");
    }

    #[test]
    fn oom_message_says_how_to_get_more() {
        let e = Error::MallocFailed { requested: 4096, align: 16, free: 1024, largest_free: 512, heap_size: 1 << 20 };
        let m = e.to_string();
        assert!(m.contains("4096") && m.contains("1048576") && m.contains("local_mem_size"), "{m}");
    }
}
