//! Unique-ID start-up, as upstream Ascend SHMEM and NVSHMEM have it: one process (PE 0) makes a unique ID,
//! the program hands it to every PE over its own channel (e.g. `torch.distributed.broadcast_object_list`), and
//! every PE initializes with it.
//!
//! # What the ID carries
//! The store address PE 0 will serve on, a random job secret, and the interface the address was chosen from.
//! The secret becomes the job's `InitAttr::job_secret`, so it is what authenticates every connection of the job
//! to the store; someone who can reach the port but never saw the ID cannot join or disturb the job.
//!
//! # Why the port is bound when the ID is made
//! [`UniqueId::generate`] binds a free port at once and keeps the listener ([`take_reserved`] hands it to the
//! store server at PE 0's init). A port that was merely "free when looked at" could be taken by another program
//! between the ID's creation and init; a bound one cannot. Clients that connect before PE 0 reaches init wait
//! in the listener's backlog.
//!
//! # Which address
//! `SHMEM_UID_SESSION_ID=host:port` (or `[v6]:port`) names the address directly and wins over
//! `SHMEM_UID_SOCK_IFNAME=<ifname>[:inet4|inet6]`, which picks an interface (IPv4 preferred when both exist). With
//! neither ([`default_interface`]): loopback when the launcher's variables say the whole job is on this node
//! (one PE, `LOCAL_WORLD_SIZE == WORLD_SIZE` or its shmemrun/Open MPI equivalents, Slurm's `SLURM_NNODES=1`), as
//! every PE of such a job reaches it and nothing outside does; otherwise (several nodes, or no launcher
//! variables to tell) an address other nodes can reach, since the TCP engine takes the job across nodes: the
//! interface of the default route, else the first non-loopback interface that is up and has an address, else
//! loopback (a host with no network). An interface that has no usable address is an error naming the
//! interfaces that have one.

use crate::config::Config;
use shmem_core::attr::{JobSecret, StoreUrl};
use shmem_core::{Error, InitAttr, Result};
use std::ffi::CStr;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener};

/// Names the store address directly (`host:port`, `[v6addr]:port`); wins over [`IFNAME_ENV`].
pub const SESSION_ID_ENV: &str = "SHMEM_UID_SESSION_ID";
/// Names the interface whose address PE 0 listens on: `eth0`, `eth0:inet4`, `eth0:inet6`.
pub const IFNAME_ENV: &str = "SHMEM_UID_SOCK_IFNAME";
/// Bytes of [`UniqueId::internal`]: a fixed size, as upstream's ID has, so that IDs can be sent as raw bytes.
pub const UID_INNER_LEN: usize = 124;
/// The layout version written at the head of every ID.
pub const UID_VERSION: i32 = (1 << 16) + UID_INNER_LEN as i32;

const MAGIC: &str = "shmem-uid/1";

/// A unique ID: the store address, the job secret and the interface choice, encoded in [`UID_INNER_LEN`]
/// bytes. Its `Debug` hides the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct UniqueId {
    url: StoreUrl,
    secret: JobSecret,
    interface: String,
}

impl std::fmt::Debug for UniqueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UniqueId").field("url", &self.url).field("interface", &self.interface).finish_non_exhaustive()
    }
}

impl UniqueId {
    /// Makes an ID for a new job: picks the address (see the module docs), binds it now, and draws a random
    /// secret. Call it on the process that will be PE 0.
    ///
    /// # Errors
    /// `InvalidParam` for malformed `SHMEM_UID_*` values or an interface without a usable address (the message
    /// names the candidates); `Bootstrap` when the address cannot be bound; `Inner` when no randomness is
    /// available.
    pub fn generate() -> Result<UniqueId> {
        let (ip, port, interface) = choose_address()?;
        let listener = TcpListener::bind(SocketAddr::new(ip, port))
            .map_err(|e| Error::Bootstrap(format!("cannot bind the unique ID's store address {ip}:{port}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| Error::Bootstrap(format!("cannot read the unique ID's bound address: {e}")))?;
        let url = url_of(bound)?;
        let id = UniqueId { url: url.clone(), secret: JobSecret::new(random_secret()?)?, interface };
        crate::reserved::reserve(url, listener);
        Ok(id)
    }

    /// The store address PE 0 serves on.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// The job secret every connection presents.
    pub fn secret(&self) -> &JobSecret {
        &self.secret
    }

    /// The interface the address was chosen from (`lo`, `eth0`), or `session` when `SHMEM_UID_SESSION_ID`
    /// named the address.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Whether this process holds the listener of this ID (it made the ID and has not initialized with it).
    pub fn reserved_here(&self) -> bool {
        crate::reserved::is_reserved(&self.url)
    }

    /// The fixed-size encoding ([`UID_INNER_LEN`] bytes, zero padded).
    pub fn to_bytes(&self) -> Vec<u8> {
        let text = format!("{MAGIC}\n{}\n{}\n{}", self.url, self.secret.expose(), self.interface);
        let mut out = text.into_bytes();
        debug_assert!(out.len() <= UID_INNER_LEN, "fields are bounded at creation");
        out.resize(UID_INNER_LEN, 0);
        out
    }

    /// Decodes [`UniqueId::to_bytes`].
    ///
    /// # Errors
    /// `InvalidParam` when `raw` is not an ID made by this library (wrong size, magic or fields).
    pub fn from_bytes(raw: &[u8]) -> Result<UniqueId> {
        let bad = |why: &str| Error::invalid(format!("not a unique ID made by aclshmem_get_unique_id: {why}"));
        if raw.len() != UID_INNER_LEN {
            return Err(bad(&format!("{} bytes, expected {UID_INNER_LEN}", raw.len())));
        }
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        if raw[end..].iter().any(|&b| b != 0) {
            return Err(bad("garbage after the fields"));
        }
        let text = std::str::from_utf8(&raw[..end]).map_err(|_| bad("not UTF-8"))?;
        let mut it = text.split('\n');
        if it.next() != Some(MAGIC) {
            return Err(bad("wrong magic (an empty or foreign ID?)"));
        }
        let (Some(url), Some(secret), Some(interface), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(bad("wrong number of fields"));
        };
        // What `generate` makes and nothing else: 128 random bits in lowercase hex (a hand-made ID with a short
        // secret would protect nothing), and an IP address of the right family (a host name would be resolved
        // at init, outside the init deadline, and could point anywhere).
        if secret.len() != 2 * SECRET_BYTES || !secret.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("the secret is not 32 lowercase hex digits"));
        }
        let secret = JobSecret::new(secret).map_err(|_| bad("empty secret"))?;
        let url = StoreUrl::parse(url)?;
        match url.host.parse::<IpAddr>() {
            Ok(ip) if ip.is_ipv6() == url.ipv6 => {}
            _ => return Err(bad(&format!("the store address {:?} is not an IP address of its scheme", url.host))),
        }
        Ok(UniqueId { url, secret, interface: interface.to_string() })
    }

    /// The attributes of PE `my_pe` of `n_pes` with `mem_size` bytes of heap for a job started from this ID:
    /// the ID's store and secret, timeouts and engines from the environment as for every init.
    ///
    /// # Errors
    /// `InvalidParam` for out-of-range values, or when this process made the ID but is not PE 0 (only the maker
    /// holds the bound port, and only PE 0 serves the store).
    pub fn init_attr(&self, my_pe: i64, n_pes: i64, mem_size: i64) -> Result<InitAttr> {
        let mut attr = InitAttr::new(my_pe, n_pes, mem_size, &self.url.to_string())?;
        if my_pe != 0 && self.reserved_here() {
            return Err(Error::invalid(format!(
                "this process made the unique ID but initializes as PE {my_pe}: call get_unique_id on PE 0, which \
                 serves the job's store"
            )));
        }
        attr.option_attr = Config::from_env()?.optional_attr()?;
        attr.job_secret = Some(self.secret.clone());
        attr.validate()?;
        Ok(attr)
    }
}

/// `aclshmem_init_using_unique_id`: initializes PE `my_pe` of `n_pes` with `mem_size` bytes of heap from a
/// unique ID. Collective over the job.
///
/// # Errors
/// As [`UniqueId::init_attr`] and [`crate::init`].
pub fn init_using_unique_id(my_pe: i64, n_pes: i64, mem_size: i64, uid: &UniqueId) -> Result<crate::Shmem> {
    let attr = uid.init_attr(my_pe, n_pes, mem_size)?;
    crate::handle::Shmem::start(attr, Config::from_env()?)
}

fn url_of(addr: SocketAddr) -> Result<StoreUrl> {
    let text = match addr {
        SocketAddr::V4(a) => format!("tcp://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("tcp6://[{}]:{}", a.ip(), a.port()),
    };
    StoreUrl::parse(&text)
}

/// 16 random bytes from the kernel, as hex.
/// Random bytes in an ID's secret (written as twice as many hex digits).
const SECRET_BYTES: usize = 16;

fn random_secret() -> Result<String> {
    let mut b = [0u8; SECRET_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| Error::Inner(format!("cannot read /dev/urandom for the job secret: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The address to bind: (ip, port (0 = any free one), interface label).
fn choose_address() -> Result<(IpAddr, u16, String)> {
    if let Some(s) = std::env::var(SESSION_ID_ENV).ok().filter(|s| !s.trim().is_empty()) {
        let (ip, port) = parse_session(s.trim())?;
        return Ok((ip, port, "session".into()));
    }
    let spec = std::env::var(IFNAME_ENV).ok().filter(|s| !s.trim().is_empty());
    let ifaces = interfaces()?;
    match spec {
        Some(spec) => pick_interface(Some(spec.trim()), &ifaces),
        None => {
            let name = default_interface(&ifaces, job_is_on_one_node(), &route_interfaces());
            pick_interface(name.as_deref(), &ifaces)
        }
    }
}

/// Whether the launcher's variables say every PE of the job runs on this node.
fn job_is_on_one_node() -> bool {
    let slurm_nodes = ["SLURM_STEP_NUM_NODES", "SLURM_NNODES", "SLURM_JOB_NUM_NODES"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    match shmem_core::launch_env::LaunchEnv::from_env() {
        Ok(Some(e)) if e.source == "slurm" => e.n_pes == 1 || slurm_nodes == Some(1),
        Ok(Some(e)) => e.n_pes == 1 || e.local_n_pes == Some(e.n_pes),
        _ => false,
    }
}

/// The interface to use when none is named: `None` means loopback (the default of [`pick_interface`]).
/// `routes` lists the interfaces of default routes, IPv4 first.
fn default_interface(ifaces: &[Iface], one_node: bool, routes: &[String]) -> Option<String> {
    if one_node {
        return None;
    }
    let usable = |i: &&Iface| !i.loopback && !i.addrs.is_empty();
    routes
        .iter()
        .find_map(|r| ifaces.iter().filter(usable).find(|i| &i.name == r))
        .or_else(|| ifaces.iter().find(usable))
        .map(|i| i.name.clone())
}

/// The interfaces of this host's default routes, IPv4's (`/proc/net/route`) before IPv6's
/// (`/proc/net/ipv6_route`); empty where those files are missing.
fn route_interfaces() -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(t) = std::fs::read_to_string("/proc/net/route") {
        // Iface Destination Gateway Flags ...: a destination of 00000000 with mask 00000000 is the default.
        for f in t.lines().skip(1).map(|l| l.split_whitespace().collect::<Vec<_>>()) {
            if f.len() > 7 && f[1] == "00000000" && f[7] == "00000000" {
                out.push(f[0].to_owned());
            }
        }
    }
    if let Ok(t) = std::fs::read_to_string("/proc/net/ipv6_route") {
        // dest dest_len src src_len next_hop metric refcnt use flags iface: ::/0 is the default.
        for f in t.lines().map(|l| l.split_whitespace().collect::<Vec<_>>()) {
            if f.len() > 9 && f[0].bytes().all(|b| b == b'0') && f[1] == "00" && f[9] != "lo" {
                out.push(f[9].to_owned());
            }
        }
    }
    out
}

/// Parses `SHMEM_UID_SESSION_ID`: `ip:port`, `[v6]:port` or `host:port` (port > 1024).
fn parse_session(s: &str) -> Result<(IpAddr, u16)> {
    let bad = |why: &str| {
        Error::invalid(format!("{SESSION_ID_ENV}={s:?} {why}; expected ip:port, [ipv6]:port or host:port, port > 1024"))
    };
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        rest.split_once("]:").ok_or_else(|| bad("needs ]:port after the IPv6 address"))?
    } else {
        s.rsplit_once(':').ok_or_else(|| bad("has no :port"))?
    };
    let port: u16 = port.parse().map_err(|_| bad("has an invalid port"))?;
    if port <= 1024 {
        return Err(bad("has a port <= 1024"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((ip, port));
    }
    use std::net::ToSocketAddrs;
    let addr =
        (host, port).to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| bad("names an unknown host"))?;
    Ok((addr.ip(), port))
}

/// One interface and its addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Iface {
    name: String,
    loopback: bool,
    addrs: Vec<IpAddr>,
}

/// Chooses the interface address for `spec` (`None`: loopback) among `ifaces`.
fn pick_interface(spec: Option<&str>, ifaces: &[Iface]) -> Result<(IpAddr, u16, String)> {
    let candidates = || {
        let list: Vec<String> = ifaces
            .iter()
            .filter(|i| !i.addrs.is_empty())
            .map(|i| format!("{} ({})", i.name, i.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ")))
            .collect();
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join("; ")
        }
    };
    let (name, family) = match spec {
        None => (None, None),
        Some(s) => match s.rsplit_once(':') {
            Some((n, "inet4")) => (Some(n), Some(4)),
            Some((n, "inet6")) => (Some(n), Some(6)),
            Some((_, f)) => {
                return Err(Error::invalid(format!(
                    "{IFNAME_ENV}={s:?} has an unknown address family {f:?}: use <ifname>, <ifname>:inet4 or \
                     <ifname>:inet6"
                )))
            }
            None => (Some(s), None),
        },
    };
    let chosen = ifaces.iter().find(|i| match name {
        Some(n) => i.name == n,
        None => i.loopback && !i.addrs.is_empty(),
    });
    let what = match name {
        Some(n) if std::env::var(IFNAME_ENV).is_err() => format!("auto-detection (interface {n})"),
        Some(n) => format!("{IFNAME_ENV}={}", spec.unwrap_or(n)),
        None => format!("auto-detection (loopback; set {IFNAME_ENV} or {SESSION_ID_ENV} to choose)"),
    };
    let iface = chosen.ok_or_else(|| {
        Error::invalid(format!("{what}: no such interface with an address; candidates: {}", candidates()))
    })?;
    let pick = |v6: bool| iface.addrs.iter().copied().find(|a| a.is_ipv6() == v6);
    let ip = match family {
        Some(4) => pick(false),
        Some(6) => pick(true),
        _ => pick(false).or_else(|| pick(true)),
    }
    .ok_or_else(|| {
        Error::invalid(format!(
            "{what}: interface {} has no {} address; candidates: {}",
            iface.name,
            if family == Some(6) { "IPv6" } else { "IPv4" },
            candidates()
        ))
    })?;
    Ok((ip, 0, iface.name.clone()))
}

/// The interfaces of this host that are up, with their IPv4/IPv6 addresses (link-local IPv6 left out: it
/// needs a scope id that a URL cannot carry).
fn interfaces() -> Result<Vec<Iface>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head into `head`; it is freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(Error::Inner(format!("cannot list network interfaces: {}", std::io::Error::last_os_error())));
    }
    let mut out: Vec<Iface> = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() || ifa.ifa_flags & libc::IFF_UP as u32 == 0 {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        let loopback = ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
        let addr = if ifa.ifa_addr.is_null() {
            None
        } else {
            // SAFETY: ifa_addr points at a sockaddr whose family field says which struct it is.
            match i32::from(unsafe { (*ifa.ifa_addr).sa_family }) {
                libc::AF_INET => {
                    // SAFETY: the family is AF_INET, so the storage is a sockaddr_in.
                    let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                    Some(IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes()))
                }
                libc::AF_INET6 => {
                    // SAFETY: the family is AF_INET6, so the storage is a sockaddr_in6.
                    let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                    let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    ((ip.segments()[0] & 0xffc0) != 0xfe80).then_some(IpAddr::V6(ip))
                }
                _ => None,
            }
        };
        let entry = match out.iter_mut().position(|i| i.name == name) {
            Some(i) => &mut out[i],
            None => {
                out.push(Iface { name, loopback, addrs: Vec::new() });
                out.last_mut().expect("just pushed")
            }
        };
        if let Some(a) = addr {
            entry.addrs.push(a);
        }
    }
    // SAFETY: head came from getifaddrs and nothing refers into the list any more.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifaces() -> Vec<Iface> {
        vec![
            Iface {
                name: "lo".into(),
                loopback: true,
                addrs: vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            },
            Iface { name: "eth0".into(), loopback: false, addrs: vec!["fd00::2".parse().unwrap()] },
            Iface { name: "ifb0".into(), loopback: false, addrs: vec![] },
        ]
    }

    #[test]
    fn picks_loopback_by_default_and_names_candidates() {
        let (ip, _, name) = pick_interface(None, &ifaces()).unwrap();
        assert_eq!((ip.to_string().as_str(), name.as_str()), ("127.0.0.1", "lo"));
        let (ip, _, _) = pick_interface(Some("lo:inet6"), &ifaces()).unwrap();
        assert_eq!(ip.to_string(), "::1");
        let (ip, _, _) = pick_interface(Some("eth0"), &ifaces()).unwrap();
        assert_eq!(ip.to_string(), "fd00::2");
        for bad in ["eth0:inet4", "ifb0", "nope", "lo:inet5"] {
            let e = pick_interface(Some(bad), &ifaces()).unwrap_err();
            assert_eq!(e.code(), -1, "{bad}");
            if bad != "lo:inet5" {
                assert!(e.to_string().contains("lo (127.0.0.1, ::1); eth0 (fd00::2)"), "{e}");
            }
        }
        let e = pick_interface(None, &ifaces()[1..]).unwrap_err();
        assert!(e.to_string().contains("candidates: eth0 (fd00::2)"), "{e}");
    }

    #[test]
    fn default_is_loopback_on_one_node_else_a_routed_interface() {
        let mut list = ifaces();
        list.push(Iface { name: "veth1".into(), loopback: false, addrs: vec!["10.1.0.2".parse().unwrap()] });
        assert_eq!(default_interface(&list, true, &["veth1".into()]), None, "one node: loopback");
        assert_eq!(default_interface(&list, false, &["veth1".into()]).as_deref(), Some("veth1"), "default route");
        assert_eq!(default_interface(&list, false, &["ifb0".into()]).as_deref(), Some("eth0"), "route has no address");
        assert_eq!(default_interface(&list, false, &[]).as_deref(), Some("eth0"), "first non-loopback");
        assert_eq!(default_interface(&list[..1], false, &[]), None, "no network: loopback");
        let (ip, _, name) = pick_interface(Some("veth1"), &list).unwrap();
        assert_eq!((ip.to_string().as_str(), name.as_str()), ("10.1.0.2", "veth1"));
    }

    #[test]
    fn bytes_round_trip_and_reject_foreign_input() {
        let id = UniqueId {
            url: StoreUrl::parse("tcp6://[::1]:40000").unwrap(),
            secret: JobSecret::new("ab".repeat(16)).unwrap(),
            interface: "lo".into(),
        };
        let raw = id.to_bytes();
        assert_eq!(raw.len(), UID_INNER_LEN);
        assert_eq!(UniqueId::from_bytes(&raw).unwrap(), id);
        assert!(!format!("{id:?}").contains("abab"));
        let mut bad = raw.clone();
        bad[0] = b'x';
        for b in [vec![0u8; UID_INNER_LEN], bad, raw[..10].to_vec()] {
            assert_eq!(UniqueId::from_bytes(&b).unwrap_err().code(), -1);
        }
        // Only what `generate` makes: a 32-digit lowercase hex secret, an IP address of the URL's family.
        let forged = |url: &str, secret: &str| {
            let mut b = format!("{MAGIC}\n{url}\n{secret}\nlo").into_bytes();
            b.resize(UID_INNER_LEN, 0);
            UniqueId::from_bytes(&b)
        };
        assert!(forged("tcp://127.0.0.1:40000", &"0f".repeat(16)).is_ok());
        assert!(forged("tcp6://[::1]:40000", &"0f".repeat(16)).is_ok());
        for (url, secret, why) in [
            ("tcp://127.0.0.1:40000", "x", "secret"),
            ("tcp://127.0.0.1:40000", &"0F".repeat(16), "secret"),
            ("tcp://127.0.0.1:40000", &"0f".repeat(17), "secret"),
            ("tcp://store.example:40000", &"0f".repeat(16), "IP address"),
            ("tcp://localhost:40000", &"0f".repeat(16), "IP address"),
        ] {
            let e = forged(url, secret).unwrap_err();
            assert_eq!(e.code(), -1, "{url} {secret}");
            assert!(e.to_string().contains(why), "{url} {secret}: {e}");
        }
    }

    #[test]
    fn session_spellings() {
        assert_eq!(parse_session("127.0.0.1:5000").unwrap(), ("127.0.0.1".parse().unwrap(), 5000));
        assert_eq!(parse_session("[::1]:5000").unwrap(), ("::1".parse().unwrap(), 5000));
        for bad in ["127.0.0.1", "127.0.0.1:80", "[::1:5000", "x:y"] {
            assert_eq!(parse_session(bad).unwrap_err().code(), -1, "{bad}");
        }
    }

    /// The reservations are per process: the tests that make IDs run one at a time (the cap would close one's
    /// listener under the other).
    static GENERATING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// IDs never used to init do not pile up listeners: after many, this process holds at most MAX_RESERVED
    /// of them (the newest), each still bound.
    #[test]
    fn unused_ids_keep_at_most_a_few_listeners() {
        let _one = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
        let ids: Vec<UniqueId> =
            (0..3 * crate::reserved::MAX_RESERVED).map(|_| UniqueId::generate().unwrap()).collect();
        // By address: a port the cap closed may be bound again by a later ID (the same URL, reserved again).
        let held: std::collections::HashSet<String> =
            ids.iter().filter(|id| id.reserved_here()).map(|id| id.url().to_string()).collect();
        assert!(held.len() <= crate::reserved::MAX_RESERVED, "{} listeners held", held.len());
        assert!(ids.iter().rev().take(crate::reserved::MAX_RESERVED / 2).all(|id| id.reserved_here()), "the newest");
        let reused = ids[1..].iter().any(|id| id.url() == ids[0].url());
        assert!(reused || !ids[0].reserved_here(), "the oldest was kept");
    }

    #[test]
    fn generate_binds_and_reserves() {
        let _one = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
        let id = UniqueId::generate().unwrap();
        assert!(id.url().port > 1024);
        assert!(id.reserved_here());
        assert_eq!(id.init_attr(1, 2, 1 << 20).unwrap_err().code(), -1);
        let a = id.init_attr(0, 2, 1 << 20).unwrap();
        assert_eq!(a.job_secret.as_ref(), Some(id.secret()));
        assert!(crate::reserved::take(id.url()).is_some());
        assert!(!id.reserved_here());
    }
}
