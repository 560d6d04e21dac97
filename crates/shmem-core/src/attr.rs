//! Initialization attributes, engine flags, status and team configuration, with the defaults and the
//! validation rules of `api.md`.

use crate::error::{Error, Result};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

bitflags::bitflags! {
    /// The data-op engines a job may use (bit flags, combinable: `MTE | SDMA`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct OpEngineType: u32 {
        /// Same-node load/store by the calling thread.
        const MTE = 0x01;
        /// Same-node asynchronous copy engine.
        const SDMA = 0x02;
        /// RDMA verbs.
        const ROCE = 0x04;
        /// Reserved for UDMA (not implemented on the host).
        const UDMA = 0x08;
        /// One-sided operations carried over TCP sockets.
        const TCP = 0x10;
    }
}

impl Default for OpEngineType {
    fn default() -> Self {
        OpEngineType::MTE
    }
}

impl OpEngineType {
    /// Parses a user spelling: names joined by `|` or `,` (`MTE|SDMA`, case-insensitive) or a number
    /// (`3`, `0x3`).
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        let number = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).map(|h| u32::from_str_radix(h, 16));
        if let Some(n) = number.or_else(|| t.chars().all(|c| c.is_ascii_digit()).then(|| t.parse::<u32>())) {
            let n = n.map_err(|_| Error::invalid(format!("engine set {text:?} is not a number")))?;
            return Self::from_bits_checked(n);
        }
        let mut set = OpEngineType::empty();
        for name in t.split(['|', ',', '+']).map(str::trim).filter(|s| !s.is_empty()) {
            set |= OpEngineType::from_name(&name.to_ascii_uppercase()).ok_or_else(|| {
                Error::invalid(format!("unknown engine {name:?} in {text:?}; known: MTE, SDMA, ROCE, UDMA, TCP"))
            })?;
        }
        Self::from_bits_checked(set.bits())
    }

    /// Parses raw bits, rejecting unknown ones and the empty set.
    pub fn from_bits_checked(bits: u32) -> Result<Self> {
        let t = OpEngineType::from_bits(bits).ok_or_else(|| {
            Error::invalid(format!(
                "data_op_engine_type {bits:#x} has unknown bits; known: MTE 0x1, SDMA 0x2, ROCE 0x4, UDMA 0x8, TCP 0x10"
            ))
        })?;
        if t.is_empty() {
            return Err(Error::invalid("data_op_engine_type is 0: enable at least one engine (e.g. MTE 0x1)"));
        }
        Ok(t)
    }
}

/// The life cycle of the runtime in this process (`api.md` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum InitStatus {
    /// `init` has not run (or `finalize` has completed).
    NotInitialized = 0,
    /// The local heap segment exists but peers are not connected yet.
    ShmCreated = 1,
    /// The runtime is ready.
    Initialized = 2,
    /// A previous `init` failed; the process must not use the runtime.
    Invalid = 2147483647,
}

/// Default of each of the three timeouts, in seconds (`api.md`).
pub const DEFAULT_TIMEOUT_SECS: u64 = 120;
/// Largest job this runtime accepts.
pub const MAX_PES: u32 = 16384;
/// Largest symmetric heap per PE (40 GiB).
pub const MAX_LOCAL_MEM_SIZE: u64 = 40 << 30;
/// Longest store URL accepted, in characters (the reference's buffer).
pub const MAX_URL_LEN: usize = 63;
/// Longest duration (timeout, grace period) accepted anywhere: one year (365 days). Longer values are
/// INVALID_PARAM where they are set, so that no deadline computed from them can overflow later.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Converts a user's number of seconds into a [`Duration`], refusing NaN, infinities, zero or negative values
/// and anything above [`MAX_DURATION`] with an INVALID_PARAM error that names `what`.
pub fn duration_from_secs(what: &str, secs: f64) -> Result<Duration> {
    if !secs.is_finite() || secs <= 0.0 || secs > MAX_DURATION.as_secs_f64() {
        return Err(Error::invalid(format!(
            "{what} {secs} s must be a number of seconds above 0 and at most {} (one year)",
            MAX_DURATION.as_secs()
        )));
    }
    Ok(Duration::from_secs_f64(secs).max(Duration::from_nanos(1)))
}

/// Attributes that have defaults: timeouts and the engine set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalAttr {
    /// Which engines the job may use.
    pub data_op_engine_type: OpEngineType,
    /// Bounds how long `init` waits for the other PEs.
    pub shm_init_timeout: Duration,
    /// Bounds creating and exchanging the heap segments.
    pub shm_create_timeout: Duration,
    /// Bounds every control-plane wait (barrier, allocation agreement).
    pub control_operation_timeout: Duration,
}

impl Default for OptionalAttr {
    fn default() -> Self {
        let t = Duration::from_secs(DEFAULT_TIMEOUT_SECS);
        OptionalAttr {
            data_op_engine_type: OpEngineType::MTE,
            shm_init_timeout: t,
            shm_create_timeout: t,
            control_operation_timeout: t,
        }
    }
}

/// Everything `init` needs: who this PE is, the job size, the heap size, the store address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitAttr {
    /// This PE's rank, `0 <= my_rank < n_ranks`.
    pub my_rank: u32,
    /// Number of PEs in the job.
    pub n_ranks: u32,
    /// Bytes of symmetric heap per PE.
    pub local_mem_size: u64,
    /// The bootstrap store, served by PE 0. `None` is allowed only for a single-PE job.
    pub store_url: Option<StoreUrl>,
    /// Timeouts and engines.
    pub option_attr: OptionalAttr,
    /// The secret that every connection of this job presents (to the store, later to progress engines). `None`
    /// means: resolve it at init from the launcher's environment (`SHMEM_JOB_TOKEN`). The unique-ID start-up
    /// sets it from the ID.
    pub job_secret: Option<JobSecret>,
}

/// A job's shared secret. Its `Debug` never shows the value, so that attributes can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct JobSecret(String);

impl JobSecret {
    /// Wraps a secret; an empty one is refused (it would authenticate nothing).
    pub fn new(secret: impl Into<String>) -> Result<Self> {
        let s = secret.into();
        if s.is_empty() {
            return Err(Error::invalid("the job secret is empty"));
        }
        Ok(JobSecret(s))
    }

    /// The secret itself, for the handshake.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for JobSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JobSecret(<redacted>)")
    }
}

impl InitAttr {
    /// Builds attributes from the raw values of `shmem_set_attributes`, validating each.
    pub fn new(my_rank: i64, n_ranks: i64, local_mem_size: i64, ip_port: &str) -> Result<Self> {
        let url = if ip_port.is_empty() { None } else { Some(StoreUrl::parse(ip_port)?) };
        let attr = InitAttr {
            my_rank: u32::try_from(my_rank).map_err(|_| Error::invalid(format!("my_rank {my_rank} must be >= 0")))?,
            n_ranks: u32::try_from(n_ranks).map_err(|_| Error::invalid(format!("n_ranks {n_ranks} must be > 0")))?,
            local_mem_size: u64::try_from(local_mem_size)
                .map_err(|_| Error::invalid(format!("local_mem_size {local_mem_size} must be > 0")))?,
            store_url: url,
            option_attr: OptionalAttr::default(),
            job_secret: None,
        };
        attr.validate()?;
        Ok(attr)
    }

    /// Checks every rule of `api.md`: rank range, job size, heap size, timeouts, engines.
    pub fn validate(&self) -> Result<()> {
        if self.n_ranks == 0 || self.n_ranks > MAX_PES {
            return Err(Error::invalid(format!("n_ranks {} must be in 1..={MAX_PES}", self.n_ranks)));
        }
        if self.my_rank >= self.n_ranks {
            return Err(Error::invalid(format!("my_rank {} must be in 0..{} (n_ranks)", self.my_rank, self.n_ranks)));
        }
        if self.local_mem_size == 0 || self.local_mem_size > MAX_LOCAL_MEM_SIZE {
            return Err(Error::invalid(format!(
                "local_mem_size {} B must be in 1..={MAX_LOCAL_MEM_SIZE} B (40 GiB)",
                self.local_mem_size
            )));
        }
        let o = &self.option_attr;
        for (name, t) in [
            ("shm_init_timeout", o.shm_init_timeout),
            ("shm_create_timeout", o.shm_create_timeout),
            ("control_operation_timeout", o.control_operation_timeout),
        ] {
            if t.is_zero() || t > MAX_DURATION {
                return Err(Error::invalid(format!(
                    "{name} {t:?} must be above 0 and at most {} s (one year)",
                    MAX_DURATION.as_secs()
                )));
            }
        }
        OpEngineType::from_bits_checked(o.data_op_engine_type.bits())?;
        if self.n_ranks > 1 && self.store_url.is_none() {
            return Err(Error::invalid(format!(
                "a job of {} PEs needs a bootstrap store address: start it with `shmemrun -n {} <program>`, \
                 or set SHMEM_MASTER_ADDR and SHMEM_MASTER_PORT (or MASTER_ADDR/MASTER_PORT) on every PE",
                self.n_ranks, self.n_ranks
            )));
        }
        Ok(())
    }
}

/// A validated bootstrap store address: `tcp://host:port` or `tcp6://[addr]:port`, port > 1024.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreUrl {
    /// Host name or IP address as written (without brackets).
    pub host: String,
    /// TCP port, > 1024.
    pub port: u16,
    /// Whether the URL used the `tcp6://` scheme.
    pub ipv6: bool,
}

impl StoreUrl {
    /// Parses and validates a store URL.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "store url {s:?} {why}; expected tcp://host:port or tcp6://[addr]:port with port > 1024, \
                 at most {MAX_URL_LEN} characters"
            ))
        };
        if s.len() > MAX_URL_LEN {
            return Err(bad("is too long"));
        }
        let (ipv6, rest) = if let Some(r) = s.strip_prefix("tcp6://") {
            (true, r)
        } else if let Some(r) = s.strip_prefix("tcp://") {
            (false, r)
        } else {
            return Err(bad("has an unknown scheme"));
        };
        let (host, port) = if ipv6 {
            let r = rest.strip_prefix('[').ok_or_else(|| bad("needs [brackets] around the IPv6 address"))?;
            let (h, p) = r.split_once("]:").ok_or_else(|| bad("needs ]:port after the address"))?;
            h.parse::<std::net::Ipv6Addr>().map_err(|_| bad("has an invalid IPv6 address"))?;
            (h, p)
        } else {
            rest.rsplit_once(':').ok_or_else(|| bad("has no :port"))?
        };
        if host.is_empty() || host.contains('/') || host.contains(' ') {
            return Err(bad("has an invalid host"));
        }
        let port: u16 = port.parse().map_err(|_| bad("has an invalid port"))?;
        if port <= 1024 {
            return Err(bad("has a port <= 1024"));
        }
        Ok(StoreUrl { host: host.to_string(), port, ipv6 })
    }

    /// Resolves the address to connect to or bind.
    pub fn socket_addrs(&self) -> Result<Vec<SocketAddr>> {
        use std::net::ToSocketAddrs;
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| Error::Bootstrap(format!("cannot resolve store host {:?}: {e}", self.host)))?
            .collect();
        if addrs.is_empty() {
            return Err(Error::Bootstrap(format!("store host {:?} resolves to no address", self.host)));
        }
        Ok(addrs)
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ipv6 {
            write!(f, "tcp6://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "tcp://{}:{}", self.host, self.port)
        }
    }
}

/// Configuration of a team at creation (`TeamConfig` of the seeds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TeamConfig {
    /// Number of communication contexts the team's creator asked for (kept, informational on the host).
    pub num_contexts: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = StoreUrl::parse("tcp://127.0.0.1:8666").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.ipv6), ("127.0.0.1", 8666, false));
        assert_eq!(u.to_string(), "tcp://127.0.0.1:8666");
        let u = StoreUrl::parse("tcp6://[::1]:9000").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.ipv6), ("::1", 9000, true));
        for bad in [
            "http://1.2.3.4:5000",
            "tcp://1.2.3.4:80",
            "tcp://1.2.3.4",
            "tcp://:5000",
            "tcp6://::1:5000",
            "tcp6://[zz]:5000",
            "tcp://1.2.3.4:99999",
            "tcp://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:5000",
        ] {
            let e = StoreUrl::parse(bad).unwrap_err();
            assert_eq!(e.code(), -1, "{bad}");
        }
    }

    #[test]
    fn attr_validation() {
        assert!(InitAttr::new(0, 1, 1 << 20, "").is_ok());
        assert!(InitAttr::new(1, 2, 1 << 20, "tcp://127.0.0.1:5000").is_ok());
        for (r, n, m, u) in [
            (2, 2, 1 << 20, "tcp://127.0.0.1:5000"),
            (-1, 2, 1 << 20, "tcp://127.0.0.1:5000"),
            (0, 0, 1 << 20, ""),
            (0, 16385, 1 << 20, "tcp://127.0.0.1:5000"),
            (0, 1, 0, ""),
            (0, 1, (40 << 30) + 1, ""),
            (0, 2, 1 << 20, ""),
        ] {
            assert_eq!(InitAttr::new(r, n, m, u).unwrap_err().code(), -1, "{r} {n} {m} {u}");
        }
        let mut a = InitAttr::new(0, 1, 1 << 20, "").unwrap();
        a.option_attr.control_operation_timeout = Duration::ZERO;
        assert!(a.validate().is_err());
        // Durations a deadline cannot hold (defect 1 of issue 10: 1e19 s panicked at finalize).
        for huge in [Duration::from_secs_f64(1e19), MAX_DURATION + Duration::from_nanos(1), Duration::MAX] {
            for field in 0..3 {
                let mut a = InitAttr::new(0, 1, 1 << 20, "").unwrap();
                let o = &mut a.option_attr;
                *[&mut o.shm_init_timeout, &mut o.shm_create_timeout, &mut o.control_operation_timeout][field] = huge;
                assert_eq!(a.validate().unwrap_err().code(), -1, "{field} {huge:?}");
            }
        }
        a.option_attr.control_operation_timeout = MAX_DURATION;
        assert!(a.validate().is_ok());
    }

    #[test]
    fn durations_from_seconds() {
        assert_eq!(duration_from_secs("t", 1.5).unwrap(), Duration::from_millis(1500));
        assert_eq!(duration_from_secs("t", MAX_DURATION.as_secs_f64()).unwrap(), MAX_DURATION);
        for bad in [1e19, -1.0, 0.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 2f64.powi(63), 3.2e7] {
            let e = duration_from_secs("timeout", bad).unwrap_err();
            assert_eq!(e.code(), -1, "{bad}");
            assert!(e.to_string().contains("31536000"), "{e}");
        }
    }

    #[test]
    fn engine_spellings() {
        assert_eq!(OpEngineType::parse("MTE|SDMA").unwrap(), OpEngineType::MTE | OpEngineType::SDMA);
        assert_eq!(OpEngineType::parse(" sdma ").unwrap(), OpEngineType::SDMA);
        assert_eq!(OpEngineType::parse("0x3").unwrap().bits(), 3);
        assert_eq!(OpEngineType::parse("16").unwrap(), OpEngineType::TCP);
        for bad in ["", "FOO", "0x40", "MTE|X", "0xZZ"] {
            assert_eq!(OpEngineType::parse(bad).unwrap_err().code(), -1, "{bad}");
        }
    }

    #[test]
    fn engine_bits() {
        assert_eq!(OpEngineType::from_bits_checked(3).unwrap(), OpEngineType::MTE | OpEngineType::SDMA);
        assert!(OpEngineType::from_bits_checked(0).is_err());
        assert!(OpEngineType::from_bits_checked(0x40).is_err());
    }
}
