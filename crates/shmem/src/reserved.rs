//! Store listeners bound ahead of init in this process (by `UniqueId::generate`), waiting for PE 0's init to
//! serve the job's store on them. A leaf: the unique-ID module puts listeners here, the runtime takes them.

use shmem_core::StoreUrl;
use std::net::TcpListener;
use std::sync::Mutex;

static RESERVED: Mutex<Vec<(StoreUrl, TcpListener)>> = Mutex::new(Vec::new());

/// Most listeners kept at a time: a process that makes IDs it never inits with (a loop, a test, IDs for jobs
/// another process serves) would otherwise hold a port and a descriptor for each until it exits. One more closes
/// the oldest: an init with that ID as PE 0 then binds its port again (as after a reservation was used).
pub(crate) const MAX_RESERVED: usize = 8;

/// Keeps `listener`, bound to `url`, until an init serves on it (closing the oldest beyond [`MAX_RESERVED`]).
pub(crate) fn reserve(url: StoreUrl, listener: TcpListener) {
    let mut r = RESERVED.lock().unwrap_or_else(|e| e.into_inner());
    if r.len() >= MAX_RESERVED {
        r.remove(0);
    }
    r.push((url, listener));
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
