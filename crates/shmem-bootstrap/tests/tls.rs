//! Mutual TLS 1.3: certificates are generated here with rcgen; keys may be encrypted PKCS#8.

mod common;

use common::{client, start_with};
use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, CertificateRevocationListParams, DnType, IsCa,
    KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SanType, SerialNumber,
};
use shmem_bootstrap::{JobEvent, StoreClient, TlsConfig};
use shmem_core::{Error, Result};
use std::path::PathBuf;
use std::time::Duration;

struct Ca {
    cert: Certificate,
    key: KeyPair,
}

fn new_ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ca { cert: p.self_signed(&key).unwrap(), key }
}

/// A leaf certificate for `localhost` and 127.0.0.1 with the given serial; returns (cert PEM, key PEM).
fn leaf(ca: &Ca, serial: u64, expired: bool, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    if names.contains(&"localhost") {
        p.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    }
    p.serial_number = Some(SerialNumber::from(serial));
    if expired {
        p.not_before = date_time_ymd(2000, 1, 1);
        p.not_after = date_time_ymd(2001, 1, 1);
    }
    (p.signed_by(&key, &ca.cert, &ca.key).unwrap().pem(), key.serialize_pem())
}

/// Encrypts a PKCS#8 key PEM with a password (PBKDF2-SHA256, few iterations to keep the test fast).
fn encrypt_key(key_pem: &str, password: &str) -> String {
    let (_, doc) = pkcs8::SecretDocument::from_pem(key_pem).unwrap();
    let info = pkcs8::PrivateKeyInfo::try_from(doc.as_bytes()).unwrap();
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, &[7; 16], &[9; 16]).unwrap();
    let encrypted = info.encrypt_with_params(params, password).unwrap();
    encrypted.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF).unwrap().to_string()
}

/// A scratch directory for certificate files, removed on drop.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("shmem-bootstrap-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.0.join(file), text).unwrap();
    }
    fn info(&self, cert: &str) -> String {
        format!("tlsCaPath: {} ; tlsCert: {cert}; tlsCaFile: ca.pem", self.0.display())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn decrypt(cipher: &str) -> Result<String> {
    match cipher {
        "cipher-of-right" => Ok("s3cret".into()),
        "cipher-of-wrong" => Ok("guess".into()),
        other => Err(Error::invalid(format!("cannot decrypt {other:?}"))),
    }
}

fn plain(dir: &Dir, cert: &str, key_pem: &str) -> TlsConfig {
    TlsConfig::from_info(&dir.info(cert), key_pem, None, None).unwrap()
}

#[test]
fn mutual_tls_with_an_encrypted_client_key() {
    let dir = Dir::new("ok");
    let ca = new_ca("job ca");
    dir.write("ca.pem", &ca.cert.pem());
    let (server_cert, server_key) = leaf(&ca, 1, false, &["localhost"]);
    let (client_cert, client_key) = leaf(&ca, 2, false, &["pe"]);
    dir.write("server.pem", &server_cert);
    dir.write("client.pem", &client_cert);
    let encrypted = encrypt_key(&client_key, "s3cret");
    let client_tls =
        TlsConfig::from_info(&dir.info("client.pem"), &encrypted, Some("cipher-of-right"), Some(&decrypt)).unwrap();
    assert!(!format!("{client_tls:?}").contains("PRIVATE"), "Debug hides the key");
    let (_server, mut cfg) = start_with(Some(plain(&dir, "server.pem", &server_key)));
    cfg.tls = Some(client_tls);
    let a = client(&cfg, 0);
    let b = client(&cfg, 1);
    a.set("k", b"over tls").unwrap();
    assert_eq!(b.get("k", Duration::from_secs(5)).unwrap(), b"over tls");
    let t = std::thread::spawn(move || {
        let r = b.barrier("b", 2, Duration::from_secs(5));
        (b, r)
    });
    a.barrier("b", 2, Duration::from_secs(5)).unwrap();
    let (b, r) = t.join().unwrap();
    r.unwrap();
    // Events are pushed through TLS watch connections too.
    let (tx, rx) = std::sync::mpsc::channel();
    let tx2 = tx.clone();
    let w0 = a
        .watch(move |e| {
            let _ = tx.send((0, e));
        })
        .unwrap();
    let w1 = b
        .watch(move |e| {
            let _ = tx2.send((1, e));
        })
        .unwrap();
    drop(w1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), (0, JobEvent::PeerLost(1)));
    a.global_exit(3).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), (0, JobEvent::GlobalExit(3)));
    drop(w0);
}

#[test]
fn key_password_problems_fail_clearly() {
    let dir = Dir::new("pw");
    let ca = new_ca("job ca");
    dir.write("ca.pem", &ca.cert.pem());
    let (cert, key) = leaf(&ca, 1, false, &["pe"]);
    dir.write("c.pem", &cert);
    let encrypted = encrypt_key(&key, "s3cret");
    let e = TlsConfig::from_info(&dir.info("c.pem"), &encrypted, Some("cipher-of-wrong"), Some(&decrypt)).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)) && e.to_string().contains("password"), "{e}");
    let e = TlsConfig::from_info(&dir.info("c.pem"), &encrypted, Some("junk"), Some(&decrypt)).unwrap_err();
    assert!(e.to_string().contains("decrypt handler failed"), "{e}");
    let e = TlsConfig::from_info(&dir.info("c.pem"), &encrypted, None, None).unwrap_err();
    assert!(matches!(e, Error::InvalidParam(_)), "{e}");
    // A key that does not belong to the certificate.
    let (_, other_key) = leaf(&ca, 9, false, &["pe"]);
    let e = TlsConfig::from_info(&dir.info("c.pem"), &other_key, None, None).unwrap_err();
    assert!(e.to_string().contains("does not belong"), "{e}");
    let e = TlsConfig::from_info(&dir.info("missing.pem"), &key, None, None).unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
    let e = TlsConfig::from_info("tlsCert: c.pem", &key, None, None).unwrap_err();
    assert!(matches!(e, Error::InvalidParam(_)), "{e}");
}

#[test]
fn peers_outside_the_trust_are_refused() {
    let dir = Dir::new("refuse");
    let ca = new_ca("job ca");
    let rogue = new_ca("rogue ca");
    dir.write("ca.pem", &ca.cert.pem());
    let (server_cert, server_key) = leaf(&ca, 1, false, &["localhost"]);
    let (good_cert, good_key) = leaf(&ca, 2, false, &["pe"]);
    let (rogue_cert, rogue_key) = leaf(&rogue, 3, false, &["pe"]);
    dir.write("server.pem", &server_cert);
    dir.write("good.pem", &good_cert);
    dir.write("rogue.pem", &rogue_cert);
    let (_server, cfg) = start_with(Some(plain(&dir, "server.pem", &server_key)));

    // A client certificate signed by another CA.
    let mut rogue_cfg = cfg.clone();
    rogue_cfg.tls = Some(plain(&dir, "rogue.pem", &rogue_key));
    let e = StoreClient::connect(&rogue_cfg, 0).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)), "{e}");

    // A plaintext client.
    let mut plain_cfg = cfg.clone();
    plain_cfg.tls = None;
    let e = StoreClient::connect(&plain_cfg, 0).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)) && e.to_string().contains("TLS"), "{e}");

    // The store keeps serving good clients.
    let mut good = cfg.clone();
    good.tls = Some(plain(&dir, "good.pem", &good_key));
    client(&good, 0).set("k", b"v").unwrap();

    // A TLS client against a plain store.
    let (_plain_server, mut cfg2) = common::start();
    cfg2.tls = good.tls.clone();
    let e = StoreClient::connect(&cfg2, 0).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)), "{e}");
}

#[test]
fn bad_store_certificates_are_refused() {
    let dir = Dir::new("expired");
    let ca = new_ca("job ca");
    dir.write("ca.pem", &ca.cert.pem());
    let (expired_cert, expired_key) = leaf(&ca, 1, true, &["localhost"]);
    let (elsewhere_cert, elsewhere_key) = leaf(&ca, 2, false, &["elsewhere.example"]);
    let (client_cert, client_key) = leaf(&ca, 3, false, &["pe"]);
    dir.write("expired.pem", &expired_cert);
    dir.write("elsewhere.pem", &elsewhere_cert);
    dir.write("client.pem", &client_cert);
    let client_tls = plain(&dir, "client.pem", &client_key);
    for (cert, key, expect) in [("expired.pem", expired_key, "xpired"), ("elsewhere.pem", elsewhere_key, "127.0.0.1")] {
        let (_server, mut cfg) = start_with(Some(plain(&dir, cert, &key)));
        cfg.tls = Some(client_tls.clone());
        let e = StoreClient::connect(&cfg, 0).unwrap_err();
        assert!(matches!(e, Error::Bootstrap(_)) && e.to_string().contains(expect), "{cert}: {e}");
    }
}

#[test]
fn revoked_client_certificates_are_refused() {
    let ca = new_ca("job ca");
    let (server_cert, server_key) = leaf(&ca, 1, false, &["localhost"]);
    let (good_cert, good_key) = leaf(&ca, 2, false, &["pe"]);
    let (revoked_cert, revoked_key) = leaf(&ca, 3, false, &["pe"]);
    let crl = CertificateRevocationListParams {
        this_update: date_time_ymd(2024, 1, 1),
        next_update: date_time_ymd(2099, 1, 1),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(3u64),
            revocation_time: date_time_ymd(2024, 1, 1),
            reason_code: None,
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca.cert, &ca.key)
    .unwrap()
    .pem()
    .unwrap();
    let ca_pem = ca.cert.pem();
    let server_tls = TlsConfig::from_pem(&ca_pem, &server_cert, &server_key, None, Some(&crl)).unwrap();
    let (_server, cfg) = start_with(Some(server_tls));
    let with = |cert: &str, key: &str| {
        let mut c = cfg.clone();
        c.tls = Some(TlsConfig::from_pem(&ca_pem, cert, key, None, None).unwrap());
        c
    };
    let e = StoreClient::connect(&with(&revoked_cert, &revoked_key), 0).unwrap_err();
    assert!(matches!(e, Error::Bootstrap(_)), "{e}");
    client(&with(&good_cert, &good_key), 0).set("k", b"v").unwrap();
}
