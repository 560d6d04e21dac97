//! What the program said about the store's TLS before init, kept by the binding and handed to the runtime by
//! the init that uses it.
//!
//! # Why the binding keeps the key
//! Upstream programs call `set_conf_store_tls_key` early (sometimes before the certificates, or before the
//! decrypt handler is registered) and learn about a bad key from the init that uses TLS. So the key material
//! is kept as given and only handed to the runtime (which parses it) at init; a key the init rejects is an
//! error of that init, naming the problem. `set_conf_store_tls(False, "")` switches off what the program
//! configured: the certificate info is cleared and a kept key is not used while TLS stays switched off. TLS
//! the launcher asks for (`SHMEM_TLS_INFO`) stays in force. Key and password are wiped from memory when
//! replaced or dropped.

use pyo3::prelude::*;
use shmem::tls::DecryptFn;
use std::sync::Mutex;
use zeroize::Zeroizing;

use crate::error::{invalid, ResultExt};

/// The key material as `set_conf_store_tls_key` received it.
struct KeptKey {
    pem: Zeroizing<String>,
    password_cipher: Option<Zeroizing<String>>,
    decrypt: Option<DecryptFn>,
}

#[derive(Default)]
struct Conf {
    key: Option<KeptKey>,
    /// The handler of `register_decrypt_handler`, used when the key came without one.
    handler: Option<DecryptFn>,
    /// `set_conf_store_tls(False, ...)` was the last word.
    disabled: bool,
}

static CONF: Mutex<Option<Conf>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Conf) -> R) -> R {
    let mut g = CONF.lock().unwrap_or_else(|e| e.into_inner());
    f(g.get_or_insert_with(Conf::default))
}

/// Keeps the key, its encrypted password and decrypt handler for the next init.
pub(crate) fn keep_key(pem: &str, password_cipher: Option<&str>, decrypt: Option<DecryptFn>) {
    with(|c| {
        c.key = Some(KeptKey {
            pem: Zeroizing::new(pem.to_string()),
            password_cipher: password_cipher.map(|p| Zeroizing::new(p.to_string())),
            decrypt,
        })
    });
}

/// Keeps the handler of `register_decrypt_handler`.
pub(crate) fn keep_handler(decrypt: DecryptFn) {
    with(|c| c.handler = Some(decrypt));
}

/// The seed's `set_conf_store_tls_info(info)`: non-empty enables TLS with these certificates, empty clears them.
pub(crate) fn set_info(info: &str) {
    with(|c| c.disabled = false);
    shmem::tls::set_tls_info(info);
}

/// Upstream's `set_conf_store_tls(enable, info)`.
pub(crate) fn set_enabled(enable: bool, info: &str) -> PyResult<()> {
    if enable && info.trim().is_empty() {
        return Err(invalid(
            "set_conf_store_tls(True, tls_info) needs the certificate files in tls_info (\"tlsCaPath: /dir; \
             tlsCert: cert.pem; tlsCaFile: ca.pem\"); pass False to disable TLS",
        ));
    }
    with(|c| c.disabled = !enable);
    shmem::tls::set_tls_info(if enable { info } else { "" });
    Ok(())
}

/// Hands the kept key to the runtime (called by init, before it starts): the runtime checks it there, so a bad
/// key fails this init with a message naming the problem.
pub(crate) fn apply() -> PyResult<()> {
    let pending = with(|c| {
        if c.disabled {
            return None;
        }
        c.key
            .as_ref()
            .map(|k| (k.pem.clone(), k.password_cipher.clone(), k.decrypt.clone().or_else(|| c.handler.clone())))
    });
    let Some((pem, pw, decrypt)) = pending else {
        return Ok(());
    };
    shmem::tls::set_tls_key(&pem, pw.as_ref().map(|p| p.as_str()), decrypt)
        .map_err(|e| shmem::Error::InvalidParam(format!("the TLS key given to set_conf_store_tls_key: {e}")))
        .py()
}
