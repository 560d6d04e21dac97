//! What the store does with each request, and the watch connections' events (see the parent module's docs
//! for the waiting and watch designs).

use super::{Shared, State, Watcher, MAX_WAIT};
use crate::conn::Conn;
use crate::store::{Arrival, Collective, Store};
use crate::wire::{write_frame, ErrorKind, Notice, Request, Response};
use std::io::{ErrorKind as IoKind, Read};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

fn stopping_error() -> Response {
    Response::Error {
        kind: ErrorKind::Bootstrap,
        message: "the store is shutting down (PE 0 finalized or exited)".into(),
    }
}

enum Parked<T> {
    Ready(T),
    Expired,
    Stopping,
}

/// Parks the calling connection thread until `ready` yields a value, `timeout_ms` passes or the store stops.
fn park<'a, T>(
    shared: &'a Shared,
    mut st: MutexGuard<'a, State>,
    timeout_ms: u64,
    mut ready: impl FnMut(&State) -> Option<T>,
) -> (MutexGuard<'a, State>, Parked<T>) {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms).min(MAX_WAIT);
    loop {
        if let Some(v) = ready(&st) {
            return (st, Parked::Ready(v));
        }
        if st.stopping {
            return (st, Parked::Stopping);
        }
        let now = Instant::now();
        if now >= deadline {
            return (st, Parked::Expired);
        }
        st = shared.changed.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
    }
}

/// Applies a mutation and wakes every parked waiter, which rechecks its own condition.
fn mutate(shared: &Shared, f: impl FnOnce(&mut Store) -> Response) -> Response {
    let r = f(&mut shared.lock().store);
    shared.changed.notify_all();
    r
}

pub(super) fn handle(shared: &Shared, rank: u32, request: Request) -> Response {
    match request {
        Request::Set { key, value } => mutate(shared, |s| s.set(key, value)),
        Request::TryGet { key } => Response::Value(shared.lock().store.get(&key).cloned()),
        Request::Get { key, timeout_ms } => {
            let st = shared.lock();
            match park(shared, st, timeout_ms, |st| st.store.get(&key).cloned()).1 {
                Parked::Ready(v) => Response::Value(Some(v)),
                Parked::Expired => Response::Timeout { missing: Vec::new() },
                Parked::Stopping => stopping_error(),
            }
        }
        Request::Add { key, delta } => mutate(shared, |s| s.add(key, delta)),
        Request::Cas { key, expected, new } => mutate(shared, |s| s.compare_and_swap(key, expected, new)),
        Request::Append { key, value } => mutate(shared, |s| s.append(key, &value)),
        Request::Delete { key } => shared.lock().store.delete(&key),
        Request::Barrier { name, n, timeout_ms } => {
            collective(shared, Collective::Barrier, &name, n, rank, Vec::new(), timeout_ms)
                .map_or_else(|r| r, |_| Response::Ok)
        }
        Request::Allgather { name, n, data, timeout_ms } => {
            collective(shared, Collective::Allgather, &name, n, rank, data, timeout_ms)
                .map_or_else(|r| r, |parts| Response::Gathered(parts.to_vec()))
        }
        Request::GlobalExit { status } => global_exit(shared, rank, status),
        Request::Leave => {
            let mut st = shared.lock();
            st.left.insert(rank);
            for w in st.watchers.values_mut().filter(|w| w.rank == rank) {
                w.left = true;
            }
            debug!(rank, "store: rank left");
            Response::Ok
        }
        Request::WatchTicket => match crate::secret::random_bytes(16) {
            Ok(ticket) => {
                shared.lock().tickets.insert(rank, ticket.clone());
                Response::Value(Some(ticket))
            }
            Err(e) => {
                Response::Error { kind: ErrorKind::Bootstrap, message: format!("cannot draw a watch ticket: {e}") }
            }
        },
    }
}

fn collective(
    shared: &Shared,
    kind: Collective,
    name: &str,
    n: u32,
    rank: u32,
    data: Vec<u8>,
    timeout_ms: u64,
) -> std::result::Result<Arc<Vec<Vec<u8>>>, Response> {
    let mut st = shared.lock();
    match st.store.arrive(kind, name, n, rank, data)? {
        Arrival::Complete(parts) => {
            drop(st);
            shared.changed.notify_all();
            Ok(parts)
        }
        Arrival::Wait(generation) => {
            let (mut st, parked) = park(shared, st, timeout_ms, |st| st.store.completed(kind, name, generation));
            match parked {
                Parked::Ready(parts) => Ok(parts),
                Parked::Expired => {
                    let missing = st.store.withdraw(kind, name, generation, rank);
                    debug!(rank, ?missing, "store: {} {name:?} expired", kind.label());
                    Err(Response::Timeout { missing })
                }
                Parked::Stopping => Err(stopping_error()),
            }
        }
    }
}

/// Writes a notice to one watch connection; a failure only means that watcher is gone.
pub(super) fn send_notice(sink: &Mutex<Conn>, notice: &Notice) -> bool {
    let Ok(frame) = notice.to_frame() else {
        return false;
    };
    let mut conn = sink.lock().unwrap_or_else(PoisonError::into_inner);
    match write_frame(&mut *conn, &frame) {
        Ok(()) => true,
        Err(e) => {
            debug!("store: cannot deliver {notice:?} to a watcher: {e}");
            false
        }
    }
}

/// Delivers the global exit to every watcher. Order matters because a watcher ends its process on this
/// event: first the ranks other than the caller and rank 0, then the caller, and rank 0 last, since the
/// store usually lives in PE 0's process and dies with it.
fn global_exit(shared: &Shared, rank: u32, status: i32) -> Response {
    let mut sinks: Vec<_> = {
        let mut st = shared.lock();
        st.exit_status = Some(status);
        st.watchers.values().map(|w| (w.rank, w.sink.clone())).collect()
    };
    sinks.sort_by_key(|&(r, _)| (r == 0, r == rank, r));
    warn!(rank, status, "store: rank {rank} called global exit with status {status}; telling {} watchers", sinks.len());
    for (r, sink) in sinks {
        if !send_notice(&sink, &Notice::GlobalExit(status)) {
            warn!(rank = r, "store: could not deliver the global exit to rank {r}");
        }
    }
    Response::Ok
}

/// Serves a watch connection whose hello was accepted: registers its watcher, only then answers the hello with
/// `ok` (so that when the client's `watch` returns, every later event reaches it: a peer lost or a rank's leave
/// right after it would otherwise race with the registration), and at its close reports the losses of every
/// watch closed so far, in the order they closed (see `close_order`), unless another thread already has.
///
/// The notices are written under a lock of their own, so a watcher that stops reading (each write is bounded
/// by `WRITE_TIMEOUT`) delays the reports of later losses too; they are the same job's failure by then.
pub(super) fn serve_watch(shared: &Shared, id: u64, conn: Conn, peer: SocketAddr, rank: u32, ok: &[u8]) {
    let reader = match conn.tcp().try_clone() {
        Ok(r) => r,
        Err(e) => return warn!(%peer, rank, "store: cannot watch the connection of rank {rank}: {e}"),
    };
    // Silent until an event: without keepalive, a PE whose node died unnoticed would never be reported lost.
    if let Err(e) = shmem_core::liveness::keep_alive(&reader) {
        warn!(%peer, rank, "store: cannot turn keepalive on for the watch of rank {rank}: {e}");
    }
    let fd = reader.as_raw_fd();
    let sink = Arc::new(Mutex::new(conn));
    let exit_status = {
        // The sink is held from before the registration until the answer is written, so that a notice another
        // thread sends to the new watcher comes after the answer, never in its place. (Lock order: a sink, then
        // the state; nobody takes a sink while holding the state.)
        let mut out = sink.lock().unwrap_or_else(PoisonError::into_inner);
        let exit_status = {
            let mut st = shared.lock();
            if st.stopping {
                return;
            }
            let left = st.left.contains(&rank);
            st.watchers.insert(id, Watcher { rank, left, sink: sink.clone() });
            // Before the answer too: a close right after `watch` returns must already be queued in order (see
            // `close_order`). If the socket cannot join the set, its loss is reported when this thread notices it,
            // after the losses the set ordered before.
            if let Err(e) = shared.closes.add(fd, id) {
                warn!(%peer, rank, "store: cannot order the close of rank {rank}'s watch among others: {e}");
            }
            st.exit_status
        };
        if let Err(e) = write_frame(&mut *out, ok) {
            debug!(%peer, "store: lost {peer} during the handshake: {e}");
        }
        exit_status
    };
    if let Some(status) = exit_status {
        send_notice(&sink, &Notice::GlobalExit(status));
    }
    // The client sends nothing more; read only to notice the close (the bytes, if any, are ignored).
    let mut buf = [0u8; 512];
    loop {
        match (&reader).read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(_) => break,
        }
    }
    // Held until the notices are written: losses drained by two threads must also reach every watcher in
    // the order they were drained. (Lock order: this, then a sink or the state.)
    let _reporting = shared.reporting_losses.lock().unwrap_or_else(PoisonError::into_inner);
    let (lost, mut others): (Vec<u32>, Vec<_>) = {
        let mut st = shared.lock();
        // Every close the kernel has seen so far, in its order, this one last if it is not among them.
        let mut closed = shared.closes.drain();
        shared.closes.remove(fd);
        if !closed.contains(&id) {
            closed.push(id);
        }
        let lost: Vec<u32> = if st.stopping || st.exit_status.is_some() {
            // No news: only this watch goes (the others' threads remove their own).
            st.watchers.remove(&id);
            Vec::new()
        } else {
            // Another thread's watch is taken here to report it in order; its thread then finds it gone.
            closed.iter().filter_map(|c| st.watchers.remove(c)).filter(|w| !w.left).map(|w| w.rank).collect()
        };
        (lost, st.watchers.values().map(|w| (w.rank, w.sink.clone())).collect())
    };
    if lost.is_empty() {
        return debug!(%peer, rank, "store: watch closed");
    }
    // Rank 0 last: the store lives in PE 0's process, which may exit as soon as it hears of the loss; every
    // other watcher must have the notice in its socket by then, so that it names this rank as the cause and
    // not the store going away (issue 10, defect 11). Each watcher gets the losses in the order they happened.
    others.sort_by_key(|&(r, _)| (r == 0, r));
    for &r in &lost {
        if r == rank {
            warn!(%peer, rank, "store: rank {rank} closed its watch connection without leaving; reporting it lost");
        } else {
            warn!(rank = r, "store: rank {r} closed its watch connection without leaving; reporting it lost");
        }
    }
    for (_, s) in others {
        for &r in &lost {
            send_notice(&s, &Notice::PeerLost(r));
        }
    }
}
