//! TLS settings of the bootstrap store, configured before `init` (as the reference does).
//!
//! The certificate files come from a TLS info string (`tlsCaPath: ...; tlsCert: ...; tlsCaFile: a.pem,b.pem;
//! tlsCrlFile: ...`), set with [`set_tls_info`] or the `SHMEM_TLS_INFO` variable. The private key arrives as
//! PEM text with a password that is itself encrypted; the user's `decrypt` callback turns it into plain text
//! ([`set_tls_key`], the seeds' `set_conf_store_tls_key`). Nothing is decrypted until `init` needs it.

use shmem_bootstrap::TlsConfig;
use shmem_core::{Error, Result};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Turns the encrypted key password into plain text.
pub type DecryptFn = Arc<dyn Fn(&str) -> Result<String> + Send + Sync>;

#[derive(Default)]
struct Pending {
    info: Option<String>,
    key_pem: Option<Zeroizing<String>>,
    password_cipher: Option<Zeroizing<String>>,
    decrypt: Option<DecryptFn>,
}

static PENDING: Mutex<Option<Pending>> = Mutex::new(None);

/// Name of the environment variable holding the TLS info string.
pub const TLS_INFO_ENV: &str = "SHMEM_TLS_INFO";

/// Enables TLS for the store with the certificate files named by `info`; an empty string disables it.
pub fn set_tls_info(info: &str) {
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    p.get_or_insert_with(Pending::default).info = (!info.trim().is_empty()).then(|| info.to_string());
}

/// Sets the private key (PEM) and its encrypted password, decrypted by `decrypt` when `init` runs.
pub fn set_tls_key(key_pem: &str, password_cipher: Option<&str>, decrypt: Option<DecryptFn>) -> Result<()> {
    if !key_pem.contains("-----BEGIN") {
        return Err(Error::invalid("tls private key must be PEM text (-----BEGIN ... PRIVATE KEY-----)"));
    }
    if password_cipher.is_some() && decrypt.is_none() {
        return Err(Error::invalid("an encrypted key password needs a decrypt handler"));
    }
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    let p = p.get_or_insert_with(Pending::default);
    p.key_pem = Some(Zeroizing::new(key_pem.to_string()));
    p.password_cipher = password_cipher.map(|s| Zeroizing::new(s.to_string()));
    p.decrypt = decrypt;
    Ok(())
}

/// Sets only the decrypt handler (the seeds' `register_decrypt_handler`).
pub fn set_decrypt_handler(decrypt: DecryptFn) {
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    p.get_or_insert_with(Pending::default).decrypt = Some(decrypt);
}

/// The TLS configuration `init` should use, if TLS was configured. The user's decrypt callback runs after the
/// settings lock is released: a callback that calls back into the API (even into these setters) cannot
/// deadlock.
///
/// `env_info` is `SHMEM_TLS_INFO` from the init's configuration, used when no info was set by a call.
pub(crate) fn configured(env_info: Option<String>) -> Result<Option<TlsConfig>> {
    let (info, key, cipher, decrypt) = {
        let p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        let empty = Pending::default();
        let p = p.as_ref().unwrap_or(&empty);
        let info = p.info.clone().or(env_info);
        (info, p.key_pem.clone(), p.password_cipher.clone(), p.decrypt.clone())
    };
    let Some(info) = info else {
        if key.is_some() {
            return Err(Error::invalid(format!(
                "a TLS private key was set but no TLS info (certificates): call set_conf_store_tls_info or set {TLS_INFO_ENV}"
            )));
        }
        return Ok(None);
    };
    let key = key.ok_or_else(|| {
        Error::invalid("TLS is enabled but no private key was set: call set_conf_store_tls_key first")
    })?;
    let decrypt_ref = decrypt.as_ref().map(|d| d.as_ref() as &dyn Fn(&str) -> Result<String>);
    TlsConfig::from_info(&info, &key, cipher.as_ref().map(|s| s.as_str()), decrypt_ref).map(Some)
}
