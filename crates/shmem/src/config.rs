//! The runtime's configuration: every `SHMEM_*` knob of the runtime, parsed once at init into typed values.
//!
//! `init` takes one [`Settings`] snapshot of the environment and resolves it here before it does anything
//! else, so that a malformed value (`SHMEM_WAIT_WARN_SECS=abc`) fails init with `InvalidParam` naming the
//! variable, and no layer reads the live environment afterwards: the synchronization layer gets its
//! [`SyncConfig`], the engines get the same snapshot through `EngineSetup::settings` and parse their own
//! knobs from it. The attributes `init_from_env` builds (heap size, timeouts, engines) are read here too. The
//! README's "Configuration" table lists every variable.
//!
//! Not here: the launcher's layout variables (`SHMEM_PE`, `RANK`, ...: `shmem_core::launch_env`), the job
//! secret (`SHMEM_JOB_TOKEN`, read by `shmem_bootstrap` where the launcher reads it too), and the unique-ID
//! start-up's `SHMEM_UID_*` (read when the ID is made, before any init).

use crate::engine::BulkPolicy;
use shmem_core::launch_env::{parse_size, vars, LaunchEnv};
use shmem_core::{Error, InitAttr, OpEngineType, OptionalAttr, Result};
use shmem_sync::SyncConfig;
use std::time::Duration;

pub use shmem_core::Settings;

/// Default symmetric heap per PE for `init_from_env` when `SHMEM_SYMMETRIC_SIZE` is unset.
pub const DEFAULT_HEAP_BYTES: u64 = 64 << 20;

/// Default prefix of this PE's shared-memory object name (`/PREFIX-RANK-PID-N`).
pub const DEFAULT_SHM_PREFIX: &str = "shmem";

/// The runtime's configuration, resolved once at init.
#[derive(Debug, Clone)]
pub struct Config {
    /// The snapshot everything was parsed from (engines parse their own knobs from it).
    pub settings: Settings,
    /// Waits and barriers (`SHMEM_WAIT_*`, `SHMEM_BARRIER_ALGO`).
    pub sync: SyncConfig,
    /// Log level (`SHMEM_LOG_LEVEL`).
    pub log_level: tracing::Level,
    /// Prefix of the shared-memory object names (`SHMEM_SHM_PREFIX`).
    pub shm_prefix: String,
    /// When transfers go to SDMA with MTE|SDMA (`SHMEM_SDMA_NBI_MIN`, `SHMEM_SDMA_BLOCKING_MIN`).
    pub(crate) bulk: BulkPolicy,
    /// Collectives across nodes (`SHMEM_COLL_NET_ALGO`, `SHMEM_COLL_RING_MIN`).
    pub(crate) coll_net: crate::coll_policy::NetPolicy,
    /// Symmetric allocations of at least this many bytes get their whole 2 MiB pages made huge pages
    /// (`SHMEM_HEAP_COLLAPSE_MIN`; `None`: never). See `Segment::collapse_huge_pages`.
    pub(crate) heap_collapse_min: Option<u64>,
}

/// `SHMEM_HEAP_COLLAPSE_MIN`: allocation size from which the heap's 2 MiB pages are made huge (size, `0` or `off`).
pub(crate) const HEAP_COLLAPSE_MIN_VAR: &str = "SHMEM_HEAP_COLLAPSE_MIN";
/// Default of [`HEAP_COLLAPSE_MIN_VAR`]: every allocation that can hold a whole 2 MiB page.
pub(crate) const DEFAULT_HEAP_COLLAPSE_MIN: u64 = shmem_core::heap::HUGE_PAGE_BYTES;

impl Config {
    /// Reads the process environment once and resolves it (see [`Config::resolve`]).
    ///
    /// # Errors
    /// As [`Config::resolve`].
    pub fn from_env() -> Result<Config> {
        Config::resolve(Settings::from_env())
    }

    /// Parses every knob of `settings`.
    ///
    /// # Errors
    /// `InvalidParam` naming the variable and its value when one is malformed.
    pub fn resolve(settings: Settings) -> Result<Config> {
        let sync = SyncConfig::from_settings(&settings)?;
        let log_level = match settings.non_empty(vars::LOG_LEVEL).map(|v| v.trim().to_ascii_uppercase()).as_deref() {
            None | Some("WARN") | Some("WARNING") => tracing::Level::WARN,
            Some("ERROR") => tracing::Level::ERROR,
            Some("INFO") => tracing::Level::INFO,
            Some("DEBUG") => tracing::Level::DEBUG,
            Some("TRACE") => tracing::Level::TRACE,
            Some(_) => {
                return Err(malformed(&settings, vars::LOG_LEVEL, "one of ERROR, WARN, INFO, DEBUG, TRACE"));
            }
        };
        let shm_prefix = match settings.non_empty(vars::SHM_PREFIX) {
            None => DEFAULT_SHM_PREFIX.to_string(),
            Some(p) if p.contains('/') || p.len() > 200 => {
                return Err(malformed(&settings, vars::SHM_PREFIX, "a name without '/' of at most 200 bytes"));
            }
            Some(p) => p.to_string(),
        };
        let bulk = BulkPolicy::from_settings(&settings)?;
        let coll_net = crate::coll_policy::NetPolicy::from_settings(&settings)?;
        let heap_collapse_min = match settings.non_empty(HEAP_COLLAPSE_MIN_VAR) {
            None => Some(DEFAULT_HEAP_COLLAPSE_MIN),
            Some(v) if v.trim().eq_ignore_ascii_case("off") => None,
            Some(v) => match parse_size(v) {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => return Err(malformed(&settings, HEAP_COLLAPSE_MIN_VAR, "a size (2M, 64M), 0 or `off`")),
            },
        };
        Ok(Config { settings, sync, log_level, shm_prefix, bulk, coll_net, heap_collapse_min })
    }

    /// The symmetric heap size `init_from_env` uses (`SHMEM_SYMMETRIC_SIZE`, default [`DEFAULT_HEAP_BYTES`]).
    ///
    /// # Errors
    /// `InvalidParam` when the value is not a size.
    pub fn heap_size(&self) -> Result<u64> {
        match self.settings.get(vars::SYMMETRIC_SIZE) {
            Some(v) => parse_size(v),
            None => Ok(DEFAULT_HEAP_BYTES),
        }
    }

    /// The optional attributes the environment sets: `SHMEM_INIT_TIMEOUT`, `SHMEM_CONTROL_TIMEOUT` (seconds)
    /// and `SHMEM_DATA_OP_ENGINE`; defaults elsewhere.
    ///
    /// # Errors
    /// `InvalidParam` naming the variable when one is malformed.
    pub fn optional_attr(&self) -> Result<OptionalAttr> {
        let mut option_attr = OptionalAttr::default();
        if let Some(t) = self.secs(vars::INIT_TIMEOUT)? {
            option_attr.shm_init_timeout = t;
            option_attr.shm_create_timeout = t;
        }
        if let Some(t) = self.secs(vars::CONTROL_TIMEOUT)? {
            option_attr.control_operation_timeout = t;
        }
        if let Some(v) = self.settings.get(vars::DATA_OP_ENGINE) {
            option_attr.data_op_engine_type = OpEngineType::parse(v)?;
        }
        Ok(option_attr)
    }

    /// The attributes this configuration and the launcher's variables describe (see `crate::attr_from_env`):
    /// rank, size and store address from the launcher (a lone process is PE 0 of 1), the heap size and the
    /// optional attributes from here.
    ///
    /// # Errors
    /// `InvalidParam` for a malformed variable or inconsistent attributes.
    pub fn init_attr(&self) -> Result<InitAttr> {
        let heap = self.heap_size()?;
        let (pe, n, url) = match LaunchEnv::from_env()? {
            Some(e) => (e.pe, e.n_pes, e.store_url),
            None => (0, 1, None),
        };
        let option_attr = self.optional_attr()?;
        let attr =
            InitAttr { my_rank: pe, n_ranks: n, local_mem_size: heap, store_url: url, option_attr, job_secret: None };
        attr.validate()?;
        Ok(attr)
    }

    /// The TLS certificates named by `SHMEM_TLS_INFO`, when set.
    pub(crate) fn tls_info(&self) -> Option<String> {
        self.settings.non_empty(crate::tls::TLS_INFO_ENV).map(str::to_owned)
    }

    fn secs(&self, name: &str) -> Result<Option<Duration>> {
        match self.settings.get(name) {
            None => Ok(None),
            Some(v) => match v.trim().parse::<f64>() {
                Ok(s) if s > 0.0 && s < 1e9 => Ok(Some(Duration::from_secs_f64(s))),
                _ => Err(Error::invalid(format!("{name}={v:?} must be a positive number of seconds"))),
            },
        }
    }
}

fn malformed(settings: &Settings, name: &str, expected: &str) -> Error {
    let v = settings.get(name).unwrap_or_default();
    Error::invalid(format!("{name}={v:?} is malformed: expected {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::resolve(Settings::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = resolve(&[]).unwrap();
        assert_eq!(c.sync, SyncConfig::default());
        assert_eq!(c.log_level, tracing::Level::WARN);
        assert_eq!(c.shm_prefix, DEFAULT_SHM_PREFIX);
        assert_eq!(c.bulk, BulkPolicy { nbi_min: 64 << 10, blocking_min: usize::MAX });
        assert_eq!(c.heap_collapse_min, Some(2 << 20));
        assert_eq!(c.heap_size().unwrap(), DEFAULT_HEAP_BYTES);
        assert_eq!(c.optional_attr().unwrap(), OptionalAttr::default());
    }

    #[test]
    fn typed_values() {
        let c = resolve(&[
            ("SHMEM_WAIT_WARN_SECS", "3"),
            ("SHMEM_LOG_LEVEL", "debug"),
            ("SHMEM_SHM_PREFIX", "job7"),
            ("SHMEM_SDMA_NBI_MIN", "1M"),
            ("SHMEM_SDMA_BLOCKING_MIN", "off"),
            ("SHMEM_SYMMETRIC_SIZE", "2M"),
            ("SHMEM_CONTROL_TIMEOUT", "2.5"),
        ])
        .unwrap();
        assert_eq!(c.sync.warn_after, Duration::from_secs(3));
        assert_eq!(c.log_level, tracing::Level::DEBUG);
        assert_eq!(c.shm_prefix, "job7");
        assert_eq!(c.bulk, BulkPolicy { nbi_min: 1 << 20, blocking_min: usize::MAX });
        assert_eq!(c.heap_size().unwrap(), 2 << 20);
        assert_eq!(c.optional_attr().unwrap().control_operation_timeout, Duration::from_millis(2500));
        for (v, min) in [("16M", Some(16 << 20)), ("OFF", None), ("0", None), (" ", Some(2 << 20))] {
            assert_eq!(resolve(&[("SHMEM_HEAP_COLLAPSE_MIN", v)]).unwrap().heap_collapse_min, min, "{v:?}");
        }
    }

    /// Every malformed knob is `InvalidParam` (-1) naming the variable and the value.
    #[test]
    fn malformed_values_are_invalid_param_naming_the_variable() {
        for (var, bad) in [
            ("SHMEM_WAIT_WARN_SECS", "abc"),
            ("SHMEM_WAIT_SPIN_US", "fast"),
            ("SHMEM_WAIT_YIELDS", "-3"),
            // Absurd but well-formed: a spin or yield phase that long would never look at the deadline.
            ("SHMEM_WAIT_SPIN_US", "18446744073709551615"),
            ("SHMEM_WAIT_SPIN_US", "1000001"),
            ("SHMEM_WAIT_YIELDS", "4294967295"),
            ("SHMEM_BARRIER_ALGO", "tree"),
            ("SHMEM_BIND", "socket"),
            ("SHMEM_BIND", "core,none"),
            ("SHMEM_LOG_LEVEL", "loud"),
            ("SHMEM_SHM_PREFIX", "a/b"),
            ("SHMEM_SDMA_NBI_MIN", "big"),
            ("SHMEM_HEAP_COLLAPSE_MIN", "-1"),
            ("SHMEM_HEAP_COLLAPSE_MIN", "99999999999999999999"),
            ("SHMEM_HEAP_COLLAPSE_MIN", "2X"),
        ] {
            let e = resolve(&[(var, bad)]).unwrap_err();
            assert_eq!(e.code(), -1, "{var}");
            assert!(e.to_string().contains(var) && e.to_string().contains(bad), "{e}");
        }
        for (var, bad) in [("SHMEM_CONTROL_TIMEOUT", "soon"), ("SHMEM_DATA_OP_ENGINE", "FAST")] {
            let e = resolve(&[(var, bad)]).unwrap().optional_attr().unwrap_err();
            assert_eq!(e.code(), -1, "{var}");
        }
        assert_eq!(resolve(&[("SHMEM_SYMMETRIC_SIZE", "lots")]).unwrap().heap_size().unwrap_err().code(), -1);
    }
}
