//! Where the job secret comes from (issue 10): the attributes, SHMEM_JOB_TOKEN, TLS, the explicit opt-out, the
//! node secret file of a same-node job, or a refusal for a store on another node. One test function: it
//! changes the process environment, which other threads must not see half-done.

use shmem_bootstrap::secret::{resolve_job_secret, NodeSecretFile, SecretSource};
use shmem_bootstrap::{StoreClient, StoreConfig, StoreLimits, StoreServer};
use shmem_core::attr::StoreUrl;
use shmem_core::{Error, JobSecret};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

fn soon(ms: u64) -> Instant {
    Instant::now() + Duration::from_millis(ms)
}

fn url(host: &str, port: u16) -> StoreUrl {
    StoreUrl { host: host.into(), port, ipv6: false }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn every_source_of_the_job_secret() {
    let runtime_dir = std::env::temp_dir().join(format!("shmem-secret-test-{}", std::process::id()));
    std::fs::create_dir_all(&runtime_dir).unwrap();
    std::env::set_var("XDG_RUNTIME_DIR", &runtime_dir);
    std::env::remove_var("SHMEM_JOB_TOKEN");
    std::env::remove_var("SHMEM_INSECURE_NO_TOKEN");
    let local = url("127.0.0.1", 0);

    // Explicit secrets win, in order: attributes, environment, TLS.
    let explicit = JobSecret::new("from-the-unique-id").unwrap();
    let r = resolve_job_secret(&local, 1, Some(&explicit), true, soon(10)).unwrap();
    assert_eq!((r.source, r.secret.expose()), (SecretSource::Attributes, "from-the-unique-id"));
    assert!(!format!("{r:?}").contains("from-the-unique-id"), "Debug hides the secret: {r:?}");
    std::env::set_var("SHMEM_JOB_TOKEN", "from-shmemrun");
    let r = resolve_job_secret(&local, 1, None, true, soon(10)).unwrap();
    assert_eq!((r.source, r.secret.expose()), (SecretSource::Environment, "from-shmemrun"));
    std::env::remove_var("SHMEM_JOB_TOKEN");
    assert_eq!(resolve_job_secret(&local, 1, None, true, soon(10)).unwrap().source, SecretSource::Tls);

    // A store on another node without a secret: refused, saying how to give one.
    let remote = url("192.0.2.1", 29511);
    let e = resolve_job_secret(&remote, 1, None, false, soon(10)).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)), "{e}");
    assert_eq!(e.code(), -6);
    for hint in ["SHMEM_JOB_TOKEN", "shmemrun", "unique ID", "TLS", "SHMEM_INSECURE_NO_TOKEN=1"] {
        assert!(e.to_string().contains(hint), "{hint}: {e}");
    }
    // ... unless the user opts out explicitly.
    std::env::set_var("SHMEM_INSECURE_NO_TOKEN", "1");
    assert_eq!(resolve_job_secret(&remote, 1, None, false, soon(10)).unwrap().source, SecretSource::Insecure);
    std::env::remove_var("SHMEM_INSECURE_NO_TOKEN");

    // Same node, no secret: PE 0 draws one and publishes it once its store listens; the others read it.
    let r0 = resolve_job_secret(&local, 0, None, false, soon(10)).unwrap();
    assert_eq!(r0.source, SecretSource::NodeFile);
    let cfg = |port: u16, token: &str| StoreConfig {
        url: url("127.0.0.1", port),
        token: token.into(),
        tls: None,
        connect_timeout: Duration::from_secs(5),
        op_timeout: Duration::from_secs(5),
    };
    let mut server = StoreServer::start_with(&cfg(0, r0.secret.expose()), StoreLimits::for_job(2)).unwrap();
    let port = server.local_addr().port();
    let store = url("127.0.0.1", port);
    // PE 0's file is keyed by the address it serves; republish it under the real port.
    let r0 = resolve_job_secret(&store, 0, None, false, soon(10)).unwrap();
    let secret0 = r0.secret.expose().to_owned();
    drop(server);
    server = StoreServer::start_with(&cfg(port, &secret0), StoreLimits::for_job(2)).unwrap();
    // A reader that starts first waits for the file.
    let reader = std::thread::spawn(move || resolve_job_secret(&store, 1, None, false, soon(5000)));
    std::thread::sleep(Duration::from_millis(100));
    server.publish_secret(r0.to_publish.unwrap()).unwrap();
    let r1 = reader.join().unwrap().unwrap();
    assert_eq!((r1.source, r1.secret.expose()), (SecretSource::NodeFile, secret0.as_str()));
    assert!(secret0.len() >= 32, "a random secret");
    let file = NodeSecretFile::for_store(&url("127.0.0.1", port)).unwrap();
    let meta = std::fs::metadata(file.path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(file.path().parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
    let c = StoreClient::connect(&cfg(port, r1.secret.expose()), 1).unwrap();
    c.set("k", b"v").unwrap();
    drop(c);

    // A file or directory others can read is refused, not used; so is one owned by another user.
    chmod(file.path(), 0o644);
    let e = resolve_job_secret(&url("127.0.0.1", port), 1, None, false, soon(10)).unwrap_err();
    assert!(e.to_string().contains("mode 0644"), "{e}");
    chmod(file.path(), 0o600);
    let dir = file.path().parent().unwrap().to_owned();
    chmod(&dir, 0o755);
    let e = resolve_job_secret(&url("127.0.0.1", port), 1, None, false, soon(10)).unwrap_err();
    assert!(e.to_string().contains("directory") && e.to_string().contains("mode 0755"), "{e}");
    chmod(&dir, 0o700);
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(file.path(), Some(65534), None).unwrap();
        let e = resolve_job_secret(&url("127.0.0.1", port), 1, None, false, soon(10)).unwrap_err();
        assert!(e.to_string().contains("owned by uid 65534"), "{e}");
        std::os::unix::fs::chown(file.path(), Some(0), None).unwrap();
    }

    // Shutting the store down removes the file; a PE that comes later waits for the next one, in time.
    server.shutdown();
    assert!(!file.path().exists(), "the secret file outlived its store");
    let t = Instant::now();
    let e = resolve_job_secret(&url("127.0.0.1", port), 1, None, false, soon(300)).unwrap_err();
    assert!(matches!(&e, Error::Timeout { missing_pes, .. } if missing_pes == &[0]), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
    // A file left by a process that is gone (a killed PE 0) is skipped.
    std::fs::write(file.path(), "pid 2147483000\nsecret stale\n").unwrap();
    chmod(file.path(), 0o600);
    let e = resolve_job_secret(&url("127.0.0.1", port), 1, None, false, soon(200)).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e}");
    std::fs::remove_dir_all(&runtime_dir).unwrap();
}
