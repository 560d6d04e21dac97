//! Where a job's secret comes from: the one resolver every connection of the job relies on (the store today,
//! PE-to-PE engines later).
//!
//! Every connection to the store proves it belongs to the job with a secret; nothing public (an address, a
//! port) is ever turned into one. [`resolve_job_secret`] takes, in this order:
//! 1. the secret in the init attributes (the unique-ID start-up puts one there);
//! 2. `SHMEM_JOB_TOKEN` (shmemrun sets a random one for every job);
//! 3. TLS: mutual TLS already authenticates every peer, so the hello carries a fixed marker;
//! 4. `SHMEM_INSECURE_NO_TOKEN=1`: the user's explicit choice to run unprotected (a warning is logged);
//! 5. a same-node job (the store address is a loopback address or one of this host's): PE 0 draws a random
//!    secret and writes it into a file only this user can read, the other PEs read it ([`NodeSecretFile`]);
//! 6. otherwise (a store on another node, no secret): an error that says how to supply one.
//!
//! # The node secret file
//! `$XDG_RUNTIME_DIR/shmem/` or else `<temp dir>/shmem-<uid>/`, mode 0700, holds one file per store address,
//! mode 0600, with PE 0's pid and the secret. PE 0 writes it (atomically, by rename) once its store listens and
//! removes it when the store shuts down. Other PEs wait for it, bounded by the init deadline, and skip a file
//! whose writer is no longer alive (left by a killed job). A directory or file that is not owned by this user,
//! is a symbolic link, or can be read by others is refused, never used.
//!
//! Secrets never appear in logs or `Debug` output.

use shmem_core::attr::StoreUrl;
use shmem_core::launch_env::vars;
use shmem_core::{Error, JobSecret, Result};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{IpAddr, UdpSocket};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

/// The hello marker of a job authenticated by mutual TLS alone.
const TLS_MARKER: &str = "shmem-mutual-tls";
/// The hello marker of a job whose user opted out of any secret.
const INSECURE_MARKER: &str = "shmem-insecure-no-token";

/// Where a job's secret came from (for logs; never the secret itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource {
    /// `InitAttr::job_secret` (the unique-ID start-up).
    Attributes,
    /// `SHMEM_JOB_TOKEN` (shmemrun, or the user).
    Environment,
    /// Mutual TLS authenticates the peers.
    Tls,
    /// `SHMEM_INSECURE_NO_TOKEN=1`: no protection, by the user's choice.
    Insecure,
    /// The node secret file PE 0 writes for a same-node job.
    NodeFile,
}

/// A resolved job secret. `Debug` shows only its source.
pub struct ResolvedSecret {
    /// The secret every hello of the job carries.
    pub secret: JobSecret,
    /// Where it came from.
    pub source: SecretSource,
    /// For PE 0 of a same-node job: the file to publish once its store listens
    /// ([`crate::StoreServer::publish_secret`]).
    pub to_publish: Option<NodeSecretFile>,
}

impl std::fmt::Debug for ResolvedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedSecret").field("source", &self.source).finish_non_exhaustive()
    }
}

/// The job secret for PE `rank` of a job whose store is at `url`. `explicit` is the attributes' secret, `tls`
/// whether the store uses mutual TLS, `deadline` bounds how long a PE other than 0 waits for PE 0's node
/// secret file (the init deadline).
///
/// # Errors
/// [`Error::Bootstrap`] for a store on another node when no secret was given (the message says how to give
/// one), for an unsafe secret directory or file, or when PE 0's file cannot be written; [`Error::Timeout`]
/// naming PE 0 when its file did not appear before `deadline`.
pub fn resolve_job_secret(
    url: &StoreUrl,
    rank: u32,
    explicit: Option<&JobSecret>,
    tls: bool,
    deadline: Instant,
) -> Result<ResolvedSecret> {
    let plain = |secret: JobSecret, source| Ok(ResolvedSecret { secret, source, to_publish: None });
    if let Some(s) = explicit {
        return plain(s.clone(), SecretSource::Attributes);
    }
    if let Some(t) = std::env::var(vars::JOB_TOKEN).ok().filter(|t| !t.is_empty()) {
        return plain(JobSecret::new(t)?, SecretSource::Environment);
    }
    if tls {
        return plain(JobSecret::new(TLS_MARKER)?, SecretSource::Tls);
    }
    if std::env::var(vars::INSECURE_NO_TOKEN).is_ok_and(|v| v == "1") {
        warn!(
            "{}=1: the bootstrap store at {url} accepts anybody who can reach it, with no secret; anyone on the \
             network can join, disturb or end this job",
            vars::INSECURE_NO_TOKEN
        );
        return plain(JobSecret::new(INSECURE_MARKER)?, SecretSource::Insecure);
    }
    if !is_this_host(url) {
        return Err(Error::Bootstrap(format!(
            "the bootstrap store at {url} is on another node and this job has no secret, so anyone who can reach \
             the store could join or end the job; give every PE the same secret: start the job with shmemrun, or \
             set SHMEM_JOB_TOKEN to the same random value on every PE (e.g. `openssl rand -hex 16`), or start \
             with a unique ID (aclshmem_get_unique_id / aclshmem_init_using_unique_id), or use TLS for the store \
             (SHMEM_TLS_INFO / set_conf_store_tls); {}=1 runs without protection",
            vars::INSECURE_NO_TOKEN
        )));
    }
    let mut file = NodeSecretFile::for_store(url)?;
    if rank == 0 {
        let secret = JobSecret::new(hex(&random_bytes(32)
            .map_err(|e| Error::Bootstrap(format!("cannot draw a job secret from the operating system: {e}")))?))?;
        file.secret = Some(secret.clone());
        let to_publish = Some(file);
        return Ok(ResolvedSecret { secret, source: SecretSource::NodeFile, to_publish });
    }
    let secret = file.wait_for(deadline)?;
    Ok(ResolvedSecret { secret, source: SecretSource::NodeFile, to_publish: None })
}

/// Whether every address `url` names belongs to this host (a loopback address, or one this host can bind).
pub fn is_this_host(url: &StoreUrl) -> bool {
    let Ok(addrs) = url.socket_addrs() else { return false };
    !addrs.is_empty() && addrs.iter().all(|a| is_local_ip(a.ip()))
}

fn is_local_ip(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind((ip, 0)).is_ok()
}

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes(n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether process `pid` exists (and is ours to signal).
fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists and may be signalled; nothing is sent.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// When process `pid` started (clock ticks after boot, `/proc/PID/stat` field 22), `None` when it cannot be read:
/// with its pid this names one process for good, where a pid alone may be reused by another once it is gone.
fn start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces: count fields after its end.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process that wrote a secret file (`pid`, and `start` when the file has it) still runs: a pid
/// reused by another process since (its writer was killed and left the file) is not it.
fn writer_alive(pid: i32, start: Option<u64>) -> bool {
    alive(pid) && start.is_none_or(|s| start_time(pid) == Some(s))
}

/// Refuses `meta` unless it is owned by this user and gives nothing to group or others.
fn check_private(path: &Path, meta: &fs::Metadata, what: &str) -> Result<()> {
    let mode = meta.mode() & 0o7777;
    if meta.uid() != euid() || mode & 0o077 != 0 {
        return Err(Error::Bootstrap(format!(
            "refusing the job secret {what} {}: it is owned by uid {} with mode {mode:04o}, but must belong to \
             this user (uid {}) with no access for others (0700 for the directory, 0600 for the file); remove it \
             or fix it, or set SHMEM_JOB_TOKEN",
            path.display(),
            meta.uid(),
            euid()
        )));
    }
    Ok(())
}

/// The directory of node secret files, created (0700) if missing and checked.
fn secret_dir() -> Result<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|d| d.is_absolute()) {
        Some(d) => d.join("shmem"),
        None => std::env::temp_dir().join(format!("shmem-{}", euid())),
    };
    match DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            return Err(Error::Bootstrap(format!("cannot create the job secret directory {}: {e}", dir.display())))
        }
    }
    let meta = fs::symlink_metadata(&dir)
        .map_err(|e| Error::Bootstrap(format!("cannot inspect the job secret directory {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(Error::Bootstrap(format!(
            "refusing the job secret directory {}: it is not a directory (a symbolic link?)",
            dir.display()
        )));
    }
    check_private(&dir, &meta, "directory")?;
    Ok(dir)
}

/// The file through which PE 0 hands a same-node job its secret (see the module docs). Holding a published
/// one keeps the file; dropping it removes the file.
pub struct NodeSecretFile {
    path: PathBuf,
    /// PE 0's secret, to write; `None` for a reader.
    secret: Option<JobSecret>,
    published: bool,
}

impl std::fmt::Debug for NodeSecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSecretFile").field("path", &self.path).field("published", &self.published).finish()
    }
}

impl NodeSecretFile {
    /// The file of the store at `url` in this user's checked secret directory.
    pub fn for_store(url: &StoreUrl) -> Result<NodeSecretFile> {
        let key: String = format!("{}-{}", url.host, url.port)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
            .collect();
        Ok(NodeSecretFile { path: secret_dir()?.join(format!("job-{key}")), secret: None, published: false })
    }

    /// Where the file lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the secret (mode 0600, then renamed into place, so that readers never see half a file).
    pub(crate) fn publish(&mut self) -> Result<()> {
        let Some(secret) = &self.secret else {
            return Err(Error::Inner("only PE 0 publishes the node secret".into()));
        };
        let fail =
            |e: io::Error| Error::Bootstrap(format!("cannot write the job secret file {}: {e}", self.path.display()));
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(fail)?;
        let pid = std::process::id();
        let start = start_time(pid as i32).map_or_else(String::new, |t| format!("start {t}\n"));
        let body = format!("pid {pid}\n{start}secret {}\n", secret.expose());
        let written =
            f.write_all(body.as_bytes()).and_then(|()| f.sync_all()).and_then(|()| fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(fail(e));
        }
        self.published = true;
        debug!(path = %self.path.display(), "published the job secret for PEs on this node");
        Ok(())
    }

    /// Reads the secret once: `Ok(None)` while there is no file, or only one left by a process that is gone.
    fn read(&self) -> Result<Option<JobSecret>> {
        let f = match OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Error::Bootstrap(format!("cannot open the job secret file {}: {e}", self.path.display())))
            }
        };
        let meta = f.metadata().map_err(|e| {
            Error::Bootstrap(format!("cannot inspect the job secret file {}: {e}", self.path.display()))
        })?;
        if !meta.is_file() {
            return Err(Error::Bootstrap(format!("refusing the job secret file {}: not a file", self.path.display())));
        }
        check_private(&self.path, &meta, "file")?;
        let mut text = String::new();
        if f.take(4096).read_to_string(&mut text).is_err() {
            return Ok(None);
        }
        let (mut pid, mut start, mut secret) = (None, None, None);
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("pid", p)) => pid = p.parse::<i32>().ok(),
                Some(("start", t)) => start = t.parse::<u64>().ok(),
                Some(("secret", s)) => secret = Some(s.to_string()),
                _ => {}
            }
        }
        match (pid, secret) {
            (Some(pid), Some(s)) if writer_alive(pid, start) => JobSecret::new(s).map(Some),
            (Some(pid), Some(_)) => {
                debug!(pid, path = %self.path.display(), "job secret file of a process that is gone; waiting");
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Waits (polling) until PE 0 has published a live secret, or `deadline`.
    fn wait_for(&self, deadline: Instant) -> Result<JobSecret> {
        let started = Instant::now();
        loop {
            if let Some(s) = self.read()? {
                return Ok(s);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout {
                    what: format!(
                        "PE 0 to publish the job secret in {} (is PE 0 running on this node with the same store \
                         address? PEs on other nodes need SHMEM_JOB_TOKEN, shmemrun, a unique ID or TLS)",
                        self.path.display()
                    ),
                    waited: now - started,
                    missing_pes: vec![0],
                });
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
        }
    }
}

impl Drop for NodeSecretFile {
    fn drop(&mut self) {
        if self.published {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_this_host_are_local_and_others_are_not() {
        let url = |h: &str| StoreUrl { host: h.into(), port: 5000, ipv6: h.contains(':') };
        assert!(is_this_host(&url("127.0.0.1")));
        assert!(is_this_host(&url("localhost")));
        assert!(!is_this_host(&url("192.0.2.1")), "TEST-NET-1 is nobody's address");
    }

    /// A file whose writer is gone is not read, even when its pid now belongs to another live process (this
    /// test's own pid stands for the reused one): the start time tells them apart.
    #[test]
    fn a_secret_file_of_a_reused_pid_is_stale() {
        let dir = std::env::temp_dir().join(format!("shmem-secret-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("job-x");
        let file = NodeSecretFile { path: path.clone(), secret: None, published: false };
        let me = std::process::id();
        let now = start_time(me as i32).expect("this process's start time");
        let secret = "ab".repeat(16);
        let write = |body: String| {
            let _ = fs::remove_file(&path);
            let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).unwrap();
            f.write_all(body.as_bytes()).unwrap();
        };
        write(format!("pid {me}\nstart {}\nsecret {secret}\n", now + 1));
        assert!(file.read().unwrap().is_none(), "a file of an earlier process with this pid was taken");
        write(format!("pid {me}\nstart {now}\nsecret {secret}\n"));
        assert_eq!(file.read().unwrap().map(|s| s.expose().to_string()), Some(secret.clone()));
        // A file of an older version (no start time) is judged by the pid alone, as before.
        write(format!("pid {me}\nsecret {secret}\n"));
        assert!(file.read().unwrap().is_some());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn random_secrets_differ() {
        let (a, b) = (random_bytes(32).unwrap(), random_bytes(32).unwrap());
        assert_ne!(a, b);
        assert_eq!(hex(&[0, 0xab]), "00ab");
    }
}
