//! A whole job whose bootstrap store runs over mutual TLS 1.3, configured the way the seeds do it: the
//! certificate files through the TLS info string, the private key as encrypted PKCS#8 PEM whose password
//! arrives encrypted and is decrypted by a user callback. Certificates are generated here with rcgen.

use crate::runner;
use crate::{check, ok, Scenario};
use libtest_mimic::{Failed, Trial};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use std::sync::Arc;
use std::time::Duration;

pub(crate) const SCENARIOS: &[(&str, Scenario)] = &[("tls_job", tls_job)];

const KEY_FILE_VAR: &str = "SHMEM_TEST_TLS_KEY_FILE";
const CIPHER_VAR: &str = "SHMEM_TEST_TLS_CIPHER";

/// The user's decrypt callback of the test: a lookup table standing in for a real key service.
fn decrypt(cipher: &str) -> shmem::Result<String> {
    match cipher {
        "cipher-of-right" => Ok("s3cret".into()),
        "cipher-of-wrong" => Ok("guess".into()),
        other => Err(shmem::Error::InvalidParam(format!("cannot decrypt {other:?}"))),
    }
}

fn tls_job() -> Result<(), String> {
    let key = std::fs::read_to_string(std::env::var(KEY_FILE_VAR).unwrap()).unwrap();
    let cipher = std::env::var(CIPHER_VAR).unwrap();
    ok!(shmem::tls::set_tls_key(&key, Some(&cipher), Some(Arc::new(decrypt))));
    match shmem::init_from_env() {
        Ok(sh) => {
            check!(cipher == "cipher-of-right", "init succeeded with the wrong password");
            let (me, n) = (sh.my_pe(), sh.n_pes());
            let v = ok!(sh.alloc_zeroed::<u64>(1));
            ok!(v.put((me + 1) % n, 0, &[me as u64 + 7]));
            ok!(sh.barrier_all());
            check!(ok!(v.to_vec())[0] == ((me + n - 1) % n) as u64 + 7, "ring over a TLS-bootstrapped job");
            ok!(sh.finalize());
            Ok(())
        }
        Err(e) => {
            check!(cipher == "cipher-of-wrong", "init failed with the right password: {e}");
            check!(e.to_string().contains("password"), "the error names the password problem: {e}");
            println!("wrong password refused: {e} (code {})", e.code());
            std::process::exit(4)
        }
    }
}

/// Writes a CA, one certificate for localhost/127.0.0.1 used by every PE (server and clients), and its
/// key encrypted with "s3cret" into `dir`; returns the TLS info string and the key file.
fn make_pki(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "shmem test job CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let (_, doc) = pkcs8::SecretDocument::from_pem(&key.serialize_pem()).unwrap();
    let info = pkcs8::PrivateKeyInfo::try_from(doc.as_bytes()).unwrap();
    let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(1000, &[7; 16], &[9; 16]).unwrap();
    let encrypted = info.encrypt_with_params(params, "s3cret").unwrap();
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
    std::fs::write(dir.join("pe.pem"), cert.pem()).unwrap();
    let key_file = dir.join("pe.key");
    std::fs::write(&key_file, encrypted.to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF).unwrap().as_bytes())
        .unwrap();
    (format!("tlsCaPath: {}; tlsCert: pe.pem; tlsCaFile: ca.pem", dir.display()), key_file)
}

fn run_tls(cipher: &str, want: i32) -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("shmem-pe-tls-{}-{cipher}", std::process::id()));
    let (info, key_file) = make_pki(&dir);
    let key_file = key_file.to_string_lossy().into_owned();
    let env = [("SHMEM_TLS_INFO", info.as_str()), (KEY_FILE_VAR, key_file.as_str()), (CIPHER_VAR, cipher)];
    let res = runner::run(3, "tls_job", &env, Duration::from_secs(60));
    let _ = std::fs::remove_dir_all(&dir);
    for (pe, r) in res?.iter().enumerate() {
        if r.code != want {
            return Err(format!("PE {pe} exited {} (wanted {want}):\n{}", r.code, r.output).into());
        }
    }
    Ok(())
}

pub(crate) fn special_trials() -> Vec<Trial> {
    vec![
        Trial::test("tls_store_with_encrypted_key_3pe", || run_tls("cipher-of-right", 0)),
        Trial::test("tls_wrong_key_password_fails_clearly_3pe", || run_tls("cipher-of-wrong", 4)),
    ]
}
