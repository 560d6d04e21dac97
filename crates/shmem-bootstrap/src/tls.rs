//! TLS 1.3 with mutual authentication for the store (rustls, ring provider).
//!
//! Every party holds the same CA certificates, its own certificate chain and its private key. The store
//! requires a client certificate signed by one of the CAs (and not revoked by the CRLs, when given); clients
//! verify the store's certificate against the CAs and the host of the store URL (an IP host is checked
//! against the certificate's IP subject alternative names). Only TLS 1.3 is offered.
//!
//! The private key may arrive encrypted (PKCS#8 "ENCRYPTED PRIVATE KEY"); its password then arrives as a
//! cipher text that the user's decrypt callback turns into plain text. The plain password and the decoded
//! key are held in zeroizing buffers and wiped when dropped.

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer,
    PrivateSec1KeyDer, ServerName,
};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use shmem_core::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::{Zeroize, Zeroizing};

/// The user's password decryption callback: turns the password cipher text into the plain password.
pub type Decrypt = dyn Fn(&str) -> Result<String>;

/// The TLS material of one party (store or client): trusted CAs, own certificate chain and private key,
/// optional revocation lists. Cheap to clone; the key bytes are shared and wiped when the last clone drops.
#[derive(Clone)]
pub struct TlsConfig {
    ca_certs: Vec<CertificateDer<'static>>,
    cert_chain: Vec<CertificateDer<'static>>,
    key: Arc<KeyMaterial>,
    crls: Vec<CertificateRevocationListDer<'static>>,
}

/// A private key in DER form; the bytes are zeroized on drop.
struct KeyMaterial {
    der: Zeroizing<Vec<u8>>,
    format: KeyFormat,
}

#[derive(Clone, Copy)]
enum KeyFormat {
    Pkcs8,
    Pkcs1,
    Sec1,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_certs", &self.ca_certs.len())
            .field("cert_chain", &self.cert_chain.len())
            .field("key", &"<redacted>")
            .field("crls", &self.crls.len())
            .finish()
    }
}

/// The parsed fields of a TLS info string.
#[derive(Debug, Default, PartialEq, Eq)]
struct InfoPaths {
    cert: PathBuf,
    ca_files: Vec<PathBuf>,
    crl_files: Vec<PathBuf>,
}

fn parse_info(info: &str) -> Result<InfoPaths> {
    let bad = |why: String| {
        Error::invalid(format!(
            "tls info {info:?}: {why}; expected \"tlsCaPath: /dir; tlsCert: cert.pem; tlsCaFile: a.pem,b.pem; \
             tlsCrlFile: c.pem\" (tlsCaPath and tlsCrlFile optional)"
        ))
    };
    let (mut ca_path, mut cert, mut ca_files, mut crl_files) = (None, None, None, None);
    for item in info.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item.split_once(':').ok_or_else(|| bad(format!("item {item:?} has no ':'")))?;
        let (key, value) = (key.trim(), value.trim());
        if value.is_empty() {
            return Err(bad(format!("{key} has an empty value")));
        }
        let slot = match key {
            "tlsCaPath" => &mut ca_path,
            "tlsCert" => &mut cert,
            "tlsCaFile" => &mut ca_files,
            "tlsCrlFile" => &mut crl_files,
            other => return Err(bad(format!("unknown key {other:?} (keys are case-sensitive)"))),
        };
        if slot.replace(value).is_some() {
            return Err(bad(format!("{key} is given twice")));
        }
    }
    let base = ca_path.map(PathBuf::from).unwrap_or_default();
    let resolve = |p: &str| {
        if Path::new(p).is_absolute() {
            PathBuf::from(p)
        } else {
            base.join(p)
        }
    };
    let list = |v: Option<&str>| -> Vec<PathBuf> {
        v.map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(resolve).collect()).unwrap_or_default()
    };
    let cert = cert.ok_or_else(|| bad("tlsCert is missing".into()))?;
    let paths = InfoPaths { cert: resolve(cert), ca_files: list(ca_files), crl_files: list(crl_files) };
    if paths.ca_files.is_empty() {
        return Err(bad("tlsCaFile is missing".into()));
    }
    Ok(paths)
}

fn read_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        Error::Bootstrap(format!("cannot read the TLS {what} {}: {e}; check the paths in the tls info", path.display()))
    })
}

fn pem_certs(pem: &[u8], origin: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut &pem[..])
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Bootstrap(format!("cannot parse the certificates in {origin}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Bootstrap(format!("{origin} holds no PEM certificate (\"BEGIN CERTIFICATE\")")));
    }
    Ok(certs)
}

fn pem_crls(pem: &[u8], origin: &str) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let crls = rustls_pemfile::crls(&mut &pem[..])
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Bootstrap(format!("cannot parse the revocation lists in {origin}: {e}")))?;
    if crls.is_empty() {
        return Err(Error::Bootstrap(format!("{origin} holds no PEM revocation list (\"BEGIN X509 CRL\")")));
    }
    Ok(crls)
}

const ENCRYPTED_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// Decodes the private key PEM; an encrypted PKCS#8 key is decrypted with `password`.
fn decode_key(key_pem: &str, password: Option<&Zeroizing<String>>) -> Result<KeyMaterial> {
    if key_pem.contains(&format!("-----BEGIN {ENCRYPTED_LABEL}-----")) {
        let password = password.ok_or_else(|| {
            Error::invalid(
                "the TLS private key is encrypted (ENCRYPTED PRIVATE KEY) but no password cipher text and decrypt \
                 handler were given; pass both (set_conf_store_tls_key / register_decrypt_handler)",
            )
        })?;
        let (label, doc) = pkcs8::SecretDocument::from_pem(key_pem.trim())
            .map_err(|e| Error::Bootstrap(format!("cannot parse the encrypted TLS private key PEM: {e}")))?;
        if label != ENCRYPTED_LABEL {
            return Err(Error::Bootstrap(format!(
                "the TLS private key PEM holds a {label:?} block first; put only the ENCRYPTED PRIVATE KEY in it"
            )));
        }
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
            .map_err(|e| Error::Bootstrap(format!("the encrypted TLS private key is not valid PKCS#8: {e}")))?;
        let plain = info.decrypt(password.as_bytes()).map_err(|e| {
            Error::Bootstrap(format!(
                "cannot decrypt the TLS private key ({e}): the password returned by the decrypt handler is wrong, \
                 or the key uses an unsupported cipher (use PBES2 with PBKDF2 or scrypt and AES-CBC)"
            ))
        })?;
        return Ok(KeyMaterial { der: Zeroizing::new(plain.as_bytes().to_vec()), format: KeyFormat::Pkcs8 });
    }
    if key_pem.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::Bootstrap(
            "the TLS private key uses legacy OpenSSL PEM encryption, which is not supported; convert it with \
             `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                .into(),
        ));
    }
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| Error::Bootstrap(format!("cannot parse the TLS private key PEM: {e}")))?
        .ok_or_else(|| {
            Error::Bootstrap(
                "the TLS private key PEM holds no PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block".into(),
            )
        })?;
    let format = match &key {
        PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1,
        PrivateKeyDer::Sec1(_) => KeyFormat::Sec1,
        _ => KeyFormat::Pkcs8,
    };
    let mut key = key;
    let der = Zeroizing::new(key.secret_der().to_vec());
    key.zeroize();
    Ok(KeyMaterial { der, format })
}

impl TlsConfig {
    /// Parses the reference's TLS info string (`"tlsCaPath: /dir; tlsCert: cert.pem; tlsCaFile: a.pem,b.pem;
    /// tlsCrlFile: c.pem"`; keys case-sensitive, whitespace tolerant, relative files resolved against
    /// `tlsCaPath`) and reads the files it names. `key_pem` is this party's private key; when it is an
    /// encrypted PKCS#8 key, its password is `decrypt(key_password_cipher)`.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] for a malformed info string or an encrypted key without cipher text and
    /// decrypt handler; [`Error::Bootstrap`] for unreadable files, bad PEM, a wrong password or a key that
    /// does not match the certificate.
    pub fn from_info(
        info: &str,
        key_pem: &str,
        key_password_cipher: Option<&str>,
        decrypt: Option<&Decrypt>,
    ) -> Result<TlsConfig> {
        let paths = parse_info(info)?;
        let mut ca_certs = Vec::new();
        for f in &paths.ca_files {
            ca_certs.extend(pem_certs(&read_file(f, "CA file")?, &f.display().to_string())?);
        }
        let cert_chain = pem_certs(&read_file(&paths.cert, "certificate")?, &paths.cert.display().to_string())?;
        let mut crls = Vec::new();
        for f in &paths.crl_files {
            crls.extend(pem_crls(&read_file(f, "CRL file")?, &f.display().to_string())?);
        }
        let password =
            match (key_password_cipher, decrypt) {
                (Some(cipher), Some(decrypt)) => Some(Zeroizing::new(decrypt(cipher).map_err(|e| {
                    Error::Bootstrap(format!("the decrypt handler failed on the TLS key password: {e}"))
                })?)),
                _ => None,
            };
        let key = decode_key(key_pem, password.as_ref())?;
        TlsConfig::assemble(ca_certs, cert_chain, key, crls)
    }

    /// Builds a configuration from PEM text held in memory (CA certificates, own certificate chain, private
    /// key with its plain password if encrypted, optional CRLs). For callers that do not keep the material
    /// in files, and for tests.
    ///
    /// # Errors
    /// As [`TlsConfig::from_info`].
    pub fn from_pem(
        ca_pem: &str,
        cert_chain_pem: &str,
        key_pem: &str,
        key_password: Option<&str>,
        crl_pem: Option<&str>,
    ) -> Result<TlsConfig> {
        let ca_certs = pem_certs(ca_pem.as_bytes(), "the CA PEM")?;
        let cert_chain = pem_certs(cert_chain_pem.as_bytes(), "the certificate PEM")?;
        let crls = crl_pem.map(|c| pem_crls(c.as_bytes(), "the CRL PEM")).transpose()?.unwrap_or_default();
        let password = key_password.map(|p| Zeroizing::new(p.to_string()));
        let key = decode_key(key_pem, password.as_ref())?;
        TlsConfig::assemble(ca_certs, cert_chain, key, crls)
    }

    fn assemble(
        ca_certs: Vec<CertificateDer<'static>>,
        cert_chain: Vec<CertificateDer<'static>>,
        key: KeyMaterial,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<TlsConfig> {
        let cfg = TlsConfig { ca_certs, cert_chain, key: Arc::new(key), crls };
        cfg.certified_key()?; // fail early on a key that does not parse or match the certificate
        Ok(cfg)
    }

    fn provider() -> Arc<CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    fn roots(&self) -> Result<Arc<RootCertStore>> {
        let mut roots = RootCertStore::empty();
        for c in &self.ca_certs {
            roots.add(c.clone()).map_err(|e| Error::Bootstrap(format!("a CA certificate is not usable: {e}")))?;
        }
        Ok(Arc::new(roots))
    }

    /// The own certificate chain with its signing key. The key is parsed from a borrowed view of the
    /// zeroizing buffer, so no unwiped copy of the DER is left behind.
    fn certified_key(&self) -> Result<Arc<CertifiedKey>> {
        let der = &self.key.der[..];
        let key = match self.key.format {
            KeyFormat::Pkcs8 => PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(der)),
            KeyFormat::Pkcs1 => PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(der)),
            KeyFormat::Sec1 => PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(der)),
        };
        let signing = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| {
            Error::Bootstrap(format!("the TLS private key is not usable: {e}; use an RSA, ECDSA or Ed25519 key"))
        })?;
        let ck = CertifiedKey::new(self.cert_chain.clone(), signing);
        ck.keys_match().map_err(|e| {
            Error::Bootstrap(format!("the TLS private key does not belong to the certificate (tlsCert): {e}"))
        })?;
        Ok(Arc::new(ck))
    }

    /// The store's rustls configuration: TLS 1.3 only, client certificates required.
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>> {
        let provider = Self::provider();
        let mut verifier = WebPkiClientVerifier::builder_with_provider(self.roots()?, provider.clone());
        if !self.crls.is_empty() {
            verifier = verifier.with_crls(self.crls.clone()).only_check_end_entity_revocation();
        }
        let verifier =
            verifier.build().map_err(|e| Error::Bootstrap(format!("cannot build the client verifier: {e}")))?;
        let mut cfg = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| Error::Bootstrap(format!("cannot configure TLS 1.3: {e}")))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified_key()?)));
        cfg.send_tls13_tickets = 0; // connections are long-lived; resumption buys nothing
        Ok(Arc::new(cfg))
    }

    /// A client's rustls configuration: TLS 1.3 only, verifies the store, presents its own certificate.
    pub(crate) fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let provider = Self::provider();
        let mut verifier = WebPkiServerVerifier::builder_with_provider(self.roots()?, provider.clone());
        if !self.crls.is_empty() {
            verifier = verifier.with_crls(self.crls.clone()).only_check_end_entity_revocation();
        }
        let verifier =
            verifier.build().map_err(|e| Error::Bootstrap(format!("cannot build the store verifier: {e}")))?;
        let cfg = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| Error::Bootstrap(format!("cannot configure TLS 1.3: {e}")))?
            .with_webpki_verifier(verifier)
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(self.certified_key()?)));
        Ok(Arc::new(cfg))
    }
}

/// The name a client checks the store's certificate against: the URL host, as an IP address when it is one.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>> {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string())
        .map_err(|e| Error::invalid(format!("store host {host:?} is not a valid TLS server name: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_string_parsing() {
        let p = parse_info(" tlsCaPath: /etc/pki ;tlsCert:cert.pem; tlsCaFile: a.pem, /abs/b.pem ; tlsCrlFile: c.pem;")
            .unwrap();
        assert_eq!(p.cert, PathBuf::from("/etc/pki/cert.pem"));
        assert_eq!(p.ca_files, vec![PathBuf::from("/etc/pki/a.pem"), PathBuf::from("/abs/b.pem")]);
        assert_eq!(p.crl_files, vec![PathBuf::from("/etc/pki/c.pem")]);
        let p = parse_info("tlsCert: /x/c.pem; tlsCaFile: ca.pem").unwrap();
        assert_eq!((p.cert, p.ca_files), (PathBuf::from("/x/c.pem"), vec![PathBuf::from("ca.pem")]));
        assert!(p.crl_files.is_empty());
        for bad in [
            "",
            "tlsCert: c.pem",
            "tlsCaFile: a.pem",
            "tlscert: c.pem; tlsCaFile: a.pem",
            "tlsCert c.pem; tlsCaFile: a.pem",
            "tlsCert: ; tlsCaFile: a.pem",
            "tlsCert: c.pem; tlsCert: d.pem; tlsCaFile: a.pem",
            "tlsCert: c.pem; tlsCaFile: ,",
        ] {
            let e = parse_info(bad).unwrap_err();
            assert_eq!(e.code(), shmem_core::error::code::INVALID_PARAM, "{bad}: {e}");
        }
    }

    #[test]
    fn key_errors_are_clear() {
        let e = decode_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("decrypt handler"), "{e}");
        let e = decode_key("no pem here", None).err().unwrap();
        assert!(e.to_string().contains("no PRIVATE KEY"), "{e}");
    }

    #[test]
    fn server_names() {
        assert!(matches!(server_name("127.0.0.1").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("::1").unwrap(), ServerName::IpAddress(_)));
        assert!(matches!(server_name("node-1.example").unwrap(), ServerName::DnsName(_)));
        assert!(server_name("bad name").is_err());
    }
}
