//! The runtime of one PE: its segments, engines, allocator, control plane, and the life cycle
//! (`init` → `finalize`). Every `impl Runtime` lives in this module's tree: address translation, PE checks and
//! data operations in `rma`, the collective allocator in `alloc`, the team table in `teams`. The process-wide
//! state (which runtime is current, the status) is one level up, in `crate::current`.

mod alloc;
pub(crate) mod domains;
pub(crate) mod posted_state;
mod rma;
pub(crate) mod teams;

pub(crate) use alloc::AllocCall;
pub(crate) use teams::{digest, SplitArgs, TeamTable};

use crate::engine::{build_engines, Router};
use crate::store_exchange::StoreExchange;
use shmem_bootstrap::{JobEvent, StoreClient, StoreConfig, StoreLimits, StoreServer, Watch};
use shmem_core::engine_setup::{EngineSetup, EngineTimeouts, KeyExchange};
use shmem_core::heap::{Allocator, HeapLayout, NodeSegments, Segment};
use shmem_core::{Error, InitAttr, Pe, Result};
use shmem_sync::{JobHealth, WaitCtx};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Everything one initialized PE owns.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) attr: InitAttr,
    /// The configuration resolved at init (every `SHMEM_*` knob, typed).
    pub(crate) config: crate::config::Config,
    pub(crate) me: Pe,
    pub(crate) n_pes: u32,
    pub(crate) layout: HeapLayout,
    pub(crate) node: Arc<NodeSegments>,
    /// Node index of every PE (the same on every PE): barriers gather per node first.
    pub(crate) node_of: Vec<u32>,
    pub(crate) router: Router,
    /// The local heap's base address (symmetric addresses are local virtual addresses in the raw API).
    pub(crate) base: usize,
    pub(crate) allocator: Mutex<Allocator>,
    /// Number of collective allocation calls made (the record sequence number).
    pub(crate) alloc_seq: AtomicU64,
    pub(crate) health: Arc<JobHealth>,
    /// Live teams of this PE (TEAM_WORLD and TEAM_NODE included).
    pub(crate) teams: Mutex<TeamTable>,
    /// A process-unique stamp of `teams`' current contents, changed whenever a team is installed or destroyed:
    /// lets a thread reuse the team it looked up last without the lock (see `Runtime::with_team`).
    pub(crate) teams_version: std::sync::atomic::AtomicU64,
    /// TEAM_WORLD's entry of `teams`, which never changes (it cannot be destroyed): looked up once, then every
    /// `barrier_all` and world collective finds it without the table's lock (see `Runtime::team`).
    world_team: std::sync::OnceLock<Arc<teams::TeamInfo>>,
    pub(crate) finalized: AtomicBool,
    control: Mutex<Control>,
    /// How to reach the store without the control lock (global_exit opens its own connection: it must not wait
    /// behind a finalize holding the lock or a parked store request).
    store_cfg: Option<StoreConfig>,
    /// Set when this PE leaves the job (finalize, global exit): job events are expected from then on.
    leaving: Arc<AtomicBool>,
}

/// The control plane: store client and server, job-event watch.
#[derive(Default)]
struct Control {
    client: Option<StoreClient>,
    server: Option<StoreServer>,
    watch: Option<Watch>,
    leaving: Arc<AtomicBool>,
}

impl Control {
    /// Leaves the store together with every other PE: announce, meet at a barrier, then PE 0 stops serving.
    ///
    /// Closing the store must not race with a re-init: PE 0 may stop serving only once every PE has its
    /// barrier answer, and the others return only once the old store stopped listening, so that an init right
    /// after this reaches the new store, never the old one.
    ///
    /// When the job already failed (a PE is gone), nobody can meet everyone: the store is left at once, without
    /// the barrier and the acknowledgements that would only run into their timeouts. `missing`: the PEs a failed
    /// closing barrier waited for in vain (alive but stuck, say): the store's host then waits (at most `timeout`)
    /// until every other PE gave up on that barrier too, so that it does not close the store under a PE still in
    /// it (which would report the store lost instead of its own timeout).
    fn close(&mut self, me: Pe, n: u32, timeout: std::time::Duration, job_failed: bool, missing: &[u32]) -> Result<()> {
        self.leaving.store(true, Ordering::Release);
        let mut result = Ok(());
        match self.client.take() {
            Some(client) if job_failed => {
                let gave_up = client.add("finalize/gave-up", 1);
                if me.0 == 0 && !missing.is_empty() && gave_up.is_ok() {
                    let others = i64::from(n) - missing.len() as i64;
                    let deadline = deadline_after(timeout);
                    while client.add("finalize/gave-up", 0).is_ok_and(|v| v < others)
                        && std::time::Instant::now() < deadline
                    {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
                let _ = client.leave();
            }
            Some(client) => {
                result = client.leave().and_then(|_| client.barrier("finalize/left", n, timeout));
                if me.0 == 0 {
                    let deadline = deadline_after(timeout);
                    while client.add("finalize/acked", 0).is_ok_and(|v| v < i64::from(n) - 1)
                        && std::time::Instant::now() < deadline
                    {
                        std::thread::sleep(std::time::Duration::from_micros(200));
                    }
                } else if client.add("finalize/acked", 1).is_ok() {
                    // Never set: the get ends when PE 0's shutdown answers it, after its listener has closed. An
                    // error above means the connection was already shut, which also happens after the listener
                    // closed; calling again would reconnect, so do not.
                    let _ = client.get("finalize/store-closed", timeout);
                }
            }
            None => {}
        }
        drop(self.watch.take());
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        result
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("store", &self.client.is_some())
            .field("server", &self.server.is_some())
            .finish()
    }
}

/// `now + d`, saturating a year from now (validated timeouts are at most a year; a deadline never panics).
fn deadline_after(d: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(d).or_else(|| now.checked_add(shmem_core::attr::MAX_DURATION)).unwrap_or(now)
}

/// `SHMEM_BIND=core`: binds this PE's calling thread to the CPU of its block among this node's PEs (after the
/// engines started their threads, which keep the wider set). A failure is logged, not fatal: the job runs as if
/// unbound.
fn bind_to_core(node: &NodeSegments) {
    let me = node.me();
    let local_index = (0..me.0).filter(|&pe| node.peer(Pe(pe)).is_some()).count() as u32;
    match shmem_sync::placement::bind_to_core(local_index, node.local_pes()) {
        Ok(cpu) => tracing::debug!("PE {} bound to CPU {cpu} ({}=core)", me.0, shmem_sync::wait::BIND_VAR),
        Err(e) => tracing::warn!("PE {} could not bind to a CPU ({}=core): {e}", me.0, shmem_sync::wait::BIND_VAR),
    }
}

/// Whether an init step failed because some PE is missing or gone (a timeout, a lost store): then nobody can
/// meet everyone, and leaving the store must not wait for them again.
fn peers_missing(e: &Error) -> bool {
    matches!(e, Error::Timeout { .. } | Error::Bootstrap(_))
}

fn segment_name(prefix: &str, rank: u32) -> String {
    static NONCE: AtomicU64 = AtomicU64::new(0);
    let n = NONCE.fetch_add(1, Ordering::Relaxed);
    format!("/{prefix}-{rank}-{}-{n}", std::process::id())
}

fn encode_segment(node: &str, name: &str, len: u64) -> Vec<u8> {
    format!("{node}\n{name}\n{len}").into_bytes()
}

fn decode_segment(pe: u32, raw: &[u8]) -> Result<(String, String, u64)> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| Error::Bootstrap(format!("PE {pe} published a garbled segment record")))?;
    let mut it = s.split('\n');
    match (it.next(), it.next(), it.next().and_then(|l| l.parse().ok())) {
        (Some(n), Some(name), Some(len)) => Ok((n.to_string(), name.to_string(), len)),
        _ => Err(Error::Bootstrap(format!("PE {pe} published a garbled segment record {s:?}"))),
    }
}

impl Runtime {
    /// Runs the whole init sequence; calls `segment_created` once the local segment exists (the life-cycle
    /// status moves to SHM_CREATED then).
    pub(crate) fn start(
        attr: InitAttr,
        config: crate::config::Config,
        segment_created: &dyn Fn(),
    ) -> Result<Arc<Runtime>> {
        attr.validate()?;
        crate::log::init_logging(attr.my_rank, config.log_level);
        let me = Pe(attr.my_rank);
        let n = attr.n_ranks;
        let layout = HeapLayout::new(attr.local_mem_size);
        let seg_len = usize::try_from(layout.segment_len())
            .map_err(|_| Error::invalid("local_mem_size does not fit this address space"))?;
        crate::engine::check_compiled(attr.option_attr.data_op_engine_type)?;
        let own = Segment::create(&segment_name(&config.shm_prefix, me.0), seg_len)?;
        segment_created();
        let opt = &attr.option_attr;

        let mut control = Control::default();
        let mut store_cfg: Option<StoreConfig> = None;
        let mut node_pes: Vec<u32> = vec![me.0];
        // node_of[pe]: an index per distinct node id, in order of first appearance (the same on every PE).
        let mut node_of: Vec<u32> = vec![0; n as usize];
        let mut segs: Vec<Option<Segment>> = (0..n).map(|_| None).collect();
        let own_name = own.name().to_string();
        segs[me.index()] = Some(own);
        let health = Arc::new(JobHealth::default());

        if n > 1 {
            // shm_init_timeout bounds the whole wait for the other PEs: the secret, the connection, the exchange.
            let init_deadline = deadline_after(opt.shm_init_timeout);
            let left = || init_deadline.saturating_duration_since(std::time::Instant::now());
            let url = attr.store_url.clone().expect("validated: n > 1 has a store url");
            let tls = crate::tls::configured(config.tls_info())?;
            let secret = shmem_bootstrap::resolve_job_secret(
                &url,
                me.0,
                attr.job_secret.as_ref(),
                tls.is_some(),
                init_deadline,
            )?;
            tracing::debug!(source = ?secret.source, "job secret resolved");
            let mut cfg = StoreConfig {
                token: secret.secret.expose().to_owned(),
                url,
                tls,
                connect_timeout: left(),
                op_timeout: opt.control_operation_timeout,
            };
            if me.0 == 0 {
                // A unique ID made in this process reserved the port: serve on that listener.
                let limits = StoreLimits::for_job(n);
                let mut server = match crate::reserved::take(&cfg.url) {
                    Some(listener) => StoreServer::start_on(listener, &cfg, limits)?,
                    None => StoreServer::start_with(&cfg, limits)?,
                };
                if let Some(file) = secret.to_publish {
                    server.publish_secret(file)?;
                }
                control.server = Some(server);
            }
            let mut client = StoreClient::connect(&cfg, me.0);
            // A node secret read just before PE 0 replaced it (PE 0 re-initializing after a failed attempt) is
            // refused by the new store: read the file again while the init deadline allows.
            while me.0 != 0
                && secret.source == shmem_bootstrap::SecretSource::NodeFile
                && !left().is_zero()
                && matches!(&client, Err(e) if shmem_bootstrap::is_wrong_secret(e))
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
                let again = shmem_bootstrap::resolve_job_secret(&cfg.url, me.0, None, false, init_deadline)?;
                cfg.token = again.secret.expose().to_owned();
                cfg.connect_timeout = left();
                client = StoreClient::connect(&cfg, me.0);
            }
            let client = client?;
            cfg.connect_timeout = opt.shm_init_timeout;
            store_cfg = Some(cfg.clone());
            let exchanged = (|| -> Result<()> {
                let node_id = shmem_core::heap::node_id(&config.settings);
                let all = client.allgather(
                    "init/segments",
                    n,
                    &encode_segment(&node_id, &own_name, layout.segment_len()),
                    left().max(std::time::Duration::from_millis(1)),
                )?;
                let mut node_ids: Vec<String> = Vec::new();
                for (pe, raw) in all.iter().enumerate() {
                    let (peer_node, name, len) = decode_segment(pe as u32, raw)?;
                    node_of[pe] = match node_ids.iter().position(|id| *id == peer_node) {
                        Some(i) => i as u32,
                        None => {
                            node_ids.push(peer_node.clone());
                            (node_ids.len() - 1) as u32
                        }
                    };
                    if len != layout.segment_len() {
                        return Err(Error::InvalidValue(format!(
                            "PE {pe} has a segment of {len} B but this PE has {} B: every PE must pass the same \
                             local_mem_size",
                            layout.segment_len()
                        )));
                    }
                    if pe != me.index() && peer_node == node_id {
                        segs[pe] = Some(Segment::open(&name, seg_len)?);
                        node_pes.push(pe as u32);
                    }
                }
                // Once every PE has mapped its node's segments, the names can go: no crash can leak them now.
                client.barrier("init/mapped", n, opt.shm_create_timeout)
            })();
            let watched = exchanged.and_then(|()| {
                let health_w = health.clone();
                let leaving = control.leaving.clone();
                client.watch(move |ev| on_job_event(ev, &health_w, &leaving))
            });
            control.client = Some(client);
            match watched {
                Ok(w) => control.watch = Some(w),
                Err(e) => {
                    // Every PE arrived but the job cannot go on (e.g. different heap sizes): leave the store with
                    // the others (as after a failed engine setup) so that a retry cannot meet this attempt's
                    // store. When PEs are missing, nobody can meet everyone: leave at once, so that init fails
                    // within its timeout (issue 10, defect 5).
                    let bound = opt.control_operation_timeout.min(std::time::Duration::from_secs(10));
                    let _ = control.close(me, n, bound, peers_missing(&e), &[]);
                    return Err(e);
                }
            }
        }
        let mut node = NodeSegments::new(layout, me, segs);
        node.unlink_all();
        // An empty watched range until the first sleeper registers (the segment starts zeroed).
        node.wake_line(me).lo.store(u64::MAX, Ordering::SeqCst);
        let node = Arc::new(node);
        let exchange = control.client.as_ref().map(|client| StoreExchange { client, n_pes: n });
        let exchange = exchange.as_ref().map(|x| x as &dyn KeyExchange);
        let built = engine_secret(exchange, me, opt.shm_init_timeout).and_then(|secret| {
            let setup = EngineSetup {
                me,
                n_pes: n,
                node_of: &node_of,
                heap: &node,
                exchange,
                timeouts: EngineTimeouts { init: opt.shm_init_timeout, control: opt.control_operation_timeout },
                job_secret: &secret,
                local_ip: store_cfg.as_ref().and_then(|c| local_ip_towards(&c.url)),
                settings: &config.settings,
            };
            let engines = build_engines(opt.data_op_engine_type, &setup)?;
            Router::new(engines, n, opt.data_op_engine_type, config.bulk)
        });
        let router = match built {
            Ok(r) => r,
            Err(e) => {
                // Every PE reaches the same verdict here (the engine set and the node map are the same
                // everywhere); leave the store together so that a retry cannot meet this job's old store.
                let timeout = opt.control_operation_timeout.min(std::time::Duration::from_secs(10));
                let _ = control.close(me, n, timeout, false, &[]);
                return Err(e);
            }
        };
        if config.sync.bind_core {
            bind_to_core(&node);
        }
        let base = node.local().base().as_ptr() as usize;
        let rt = Arc::new(Runtime {
            me,
            n_pes: n,
            layout,
            allocator: Mutex::new(Allocator::new(layout.heap_size())),
            alloc_seq: AtomicU64::new(0),
            health,
            teams_version: std::sync::atomic::AtomicU64::new(teams::next_teams_version()),
            teams: Mutex::new(TeamTable::new(n, me.0, {
                node_pes.sort_unstable();
                node_pes
            })),
            world_team: std::sync::OnceLock::new(),
            finalized: AtomicBool::new(false),
            leaving: control.leaving.clone(),
            control: Mutex::new(control),
            store_cfg,
            node,
            node_of,
            router,
            base,
            attr,
            config,
        });
        rt.barrier_all()?;
        tracing::info!("PE {} of {} initialized: heap {} B", me.0, n, rt.layout.heap_size());
        Ok(rt)
    }

    /// A wait context for a user wait with an optional time limit.
    /// `clock` is the watchdog clock of a wait made of several limited slices.
    pub(crate) fn wait_ctx_limited<'a>(
        &'a self,
        limit: Option<std::time::Duration>,
        clock: Option<&'a shmem_sync::WaitClock>,
    ) -> WaitCtx<'a> {
        WaitCtx {
            node: &self.node,
            health: &self.health,
            timeout: limit,
            remote_writes_wake: self.remote_writes_wake(),
            config: &self.config.sync,
            progress: self.driven_engines(),
            clock,
        }
    }

    /// A wait context for user waits (unbounded) or control waits (bounded by control_operation_timeout).
    pub(crate) fn wait_ctx(&self, bounded: bool) -> WaitCtx<'_> {
        WaitCtx {
            node: &self.node,
            health: &self.health,
            timeout: bounded.then_some(self.attr.option_attr.control_operation_timeout),
            remote_writes_wake: self.remote_writes_wake(),
            config: &self.config.sync,
            progress: self.driven_engines(),
            clock: None,
        }
    }

    /// The engines a waiting thread should drive between its polls (TCP), or `None` when no engine needs it.
    #[inline]
    fn driven_engines(&self) -> Option<&dyn shmem_core::engine::DataOpEngine> {
        use shmem_core::engine::DataOpEngine;
        self.router.needs_progress().then_some(&self.router as &dyn DataOpEngine)
    }

    /// Whether every engine of this job wakes this PE's sleepers when it writes here (the waits poll in short
    /// slices when one does not).
    #[inline]
    pub(crate) fn remote_writes_wake(&self) -> bool {
        use shmem_core::engine::DataOpEngine;
        self.router.capabilities().remote_writes_wake
    }

    /// Completes this PE's outstanding operations on every engine.
    #[inline]
    pub(crate) fn quiet(&self) -> Result<()> {
        use shmem_core::engine::DataOpEngine;
        // A copy engine's or a network engine's quiet waits for its transfers (see `shmem_sync::hook`).
        self.router.before_engine_block();
        // Every engine's quiet runs even after one failed: the caller, given the error, may reuse buffers.
        let mut first = Ok(());
        for e in self.router.all() {
            let r = e.quiet().map_err(|e| self.first_cause(e));
            first = first.and(r);
        }
        first
    }

    /// quiet, then a barrier over TEAM_WORLD bounded by control_operation_timeout.
    pub(crate) fn barrier_all(&self) -> Result<()> {
        self.quiet()?;
        self.sync_all()
    }

    /// A barrier over TEAM_WORLD without quiet.
    pub(crate) fn sync_all(&self) -> Result<()> {
        self.team_sync(shmem_team::TEAM_WORLD).map_err(|e| self.first_cause(e))
    }

    /// The error to report for `e`, an internal error such as a lost connection to a peer: when a peer fails,
    /// its node's launcher tears down the node's other PEs, so this PE may lose a connection to one of those
    /// a moment before the store's "PE n left the job" event arrives. Give that event a short grace (250 ms)
    /// and report the first cause, with `e` as its consequence, so every PE names the PE that failed first.
    fn first_cause(&self, e: Error) -> Error {
        if !matches!(e, Error::Inner(_)) {
            return e;
        }
        // Sleeps below: a caller holding the GIL gives it up first (see `shmem_sync::hook`).
        shmem_sync::hook::before_block();
        let until = std::time::Instant::now() + std::time::Duration::from_millis(250);
        loop {
            if let Err(first) = self.health.check() {
                let (first, then) = (first.to_string(), e.to_string());
                if then.contains(&first) || first.contains(&then) {
                    return e;
                }
                return Error::Inner(format!("{first} (then: {then})"));
            }
            if std::time::Instant::now() >= until {
                return e;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// The collective end of the job for this PE: barrier, leave the store, stop serving it (PE 0).
    pub(crate) fn finalize(&self) -> Result<()> {
        self.check_live()?;
        // The closing barrier runs while the runtime is still live; only then do later calls see NOT_INITED.
        let first = self.barrier_all();
        if self.finalized.swap(true, Ordering::AcqRel) {
            return Err(Error::NotInited("finalize was already called".into()));
        }
        let mut c = self.control.lock().unwrap_or_else(|e| e.into_inner());
        // A closing barrier that some PE never reached (stuck, its connections alive: no lost-PE event) is a
        // failed job too: leaving the store must not wait for that PE twice more (its barrier, the acks).
        let failed = self.health.check().is_err() || first.as_ref().err().is_some_and(peers_missing);
        let missing = match &first {
            Err(Error::Timeout { missing_pes, .. }) if self.health.check().is_ok() => missing_pes.clone(),
            _ => Vec::new(),
        };
        let left = c.close(self.me, self.n_pes, self.attr.option_attr.control_operation_timeout, failed, &missing);
        // Waits still blocked in other threads of this PE end with an error instead of waiting forever.
        self.health.fail("this PE called finalize");
        first.and(left)
    }

    /// Ends every PE of the job with `status`, promptly. Does not return.
    pub(crate) fn global_exit(&self, status: i32) -> ! {
        self.leaving.store(true, Ordering::Release);
        // Puts still batched in a network engine go out now (without blocking): `_exit` runs no destructor.
        shmem_core::engine::DataOpEngine::progress(&self.router);
        if let Some(cfg) = &self.store_cfg {
            // A connection of its own: the control client may be busy (a parked barrier) or locked (finalize).
            let mut cfg = cfg.clone();
            cfg.connect_timeout = std::time::Duration::from_secs(2);
            cfg.op_timeout = std::time::Duration::from_secs(2);
            if let Err(e) = StoreClient::global_exit_from(&cfg, self.me.0, status) {
                tracing::error!("global_exit could not reach the other PEs through the store: {e}");
            }
        }
        exit_now(status)
    }
}

/// The secret the engines' connections prove (network engines' progress threads check it): fresh random bytes
/// drawn by PE 0 and handed to the others through the store, whose connections the job secret (or TLS) already
/// authenticates. So the engines never reuse the store's secret, and a TLS job's engines are protected too.
fn engine_secret(exchange: Option<&dyn KeyExchange>, me: Pe, timeout: std::time::Duration) -> Result<Vec<u8>> {
    let Some(x) = exchange else { return Ok(Vec::new()) };
    let mine = if me.0 == 0 { random_bytes::<32>()?.to_vec() } else { Vec::new() };
    let all = x.allgather("runtime/engine-secret", &mine, timeout)?;
    match all.into_iter().next() {
        Some(s) if s.len() == 32 => Ok(s),
        _ => Err(Error::Bootstrap("PE 0 published no engine secret".into())),
    }
}

/// Bytes from the kernel's random source.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    let mut got = 0;
    while got < N {
        // SAFETY: b[got..] is a writable buffer of N - got bytes.
        let r = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), N - got, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(Error::smem("reading random bytes for the engine secret", e));
            }
            continue;
        }
        got += r as usize;
    }
    Ok(b)
}

/// The address of this host on the route to the store (where the job's other nodes can reach it too): the local
/// side of a UDP socket connected to the store, which sends nothing.
fn local_ip_towards(url: &shmem_core::StoreUrl) -> Option<std::net::IpAddr> {
    let store = url.socket_addrs().ok()?.into_iter().next()?;
    let any: std::net::SocketAddr =
        if store.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let probe = std::net::UdpSocket::bind(any).ok()?;
    probe.connect(store).ok()?;
    probe.local_addr().ok().map(|a| a.ip())
}

/// Flushes what can be flushed and ends the process without running other threads' destructors.
pub(crate) fn exit_now(status: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    // SAFETY: _exit ends the process immediately; nothing after it runs.
    unsafe { libc::_exit(status) }
}

fn on_job_event(ev: JobEvent, health: &JobHealth, leaving: &AtomicBool) {
    match ev {
        JobEvent::GlobalExit(status) => {
            tracing::info!("global_exit({status}) called by a PE: ending this PE");
            exit_now(status);
        }
        JobEvent::PeerLost(pe) if !leaving.load(Ordering::Acquire) => {
            tracing::error!("PE {pe} left the job without finalize (crashed, killed, or its node stopped answering)");
            health.fail(format!(
                "PE {pe} left the job without finalize (crashed, killed, or its node stopped answering)"
            ));
        }
        JobEvent::StoreLost if !leaving.load(Ordering::Acquire) => {
            // After a lost PE, PE 0 (the store host) usually ends because of it: the first cause stays the one
            // reported, and this is only a consequence (issue 10, defect 11).
            if let Err(first) = health.check() {
                tracing::warn!("the bootstrap store (served by PE 0) went away after the job had failed ({first})");
            } else {
                tracing::error!("lost the bootstrap store served by PE 0: PE 0 crashed or was killed");
            }
            health.fail("the bootstrap store (served by PE 0) went away: PE 0 crashed or was killed");
        }
        _ => {}
    }
}
