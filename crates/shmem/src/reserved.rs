//! Store listeners bound ahead of init in this process (by `UniqueId::generate`), waiting for PE 0's init to
//! serve the job's store on them. A leaf: the unique-ID module puts listeners here, the runtime takes them.

use shmem_core::StoreUrl;
use std::net::TcpListener;
use std::sync::Mutex;

static RESERVED: Mutex<Vec<(StoreUrl, TcpListener)>> = Mutex::new(Vec::new());

/// Keeps `listener`, bound to `url`, until an init serves on it.
pub(crate) fn reserve(url: StoreUrl, listener: TcpListener) {
    RESERVED.lock().unwrap_or_else(|e| e.into_inner()).push((url, listener));
}

/// Whether a listener for `url` is reserved in this process.
pub(crate) fn is_reserved(url: &StoreUrl) -> bool {
    RESERVED.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|(u, _)| u == url)
}

/// The listener reserved for `url`, taken (PE 0's init serves on it).
pub(crate) fn take(url: &StoreUrl) -> Option<TcpListener> {
    let mut r = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    let i = r.iter().position(|(u, _)| u == url)?;
    Some(r.swap_remove(i).1)
}
