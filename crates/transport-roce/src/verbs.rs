//! A small safe layer over `libibverbs` (through `ibverbs-sys`): the handful of objects the engine needs, each
//! owning its handle and releasing it on drop, and the three work requests it posts (RDMA WRITE, RDMA READ,
//! 64-bit atomics). Every `unsafe` of the crate is here.
//!
//! Why not the `ibverbs` crate's safe API: 0.9.2 keeps the raw context, queue-pair and memory-region handles
//! private, can register only memory it allocates itself (the engine must register the symmetric heap, which
//! the facade has mapped already), and posts only SEND/RECV. Its FFI crate, `ibverbs-sys`, is what it is
//! built on; this module uses that directly.

use ibverbs_sys as ffi;
use std::ffi::CStr;
use std::io;
use std::ptr::{self, NonNull};

/// Why a verbs call failed: the call and the OS error.
#[derive(Debug)]
pub(crate) struct VerbsError {
    /// The verb that failed (`ibv_reg_mr`).
    pub(crate) call: &'static str,
    /// What the library or kernel said.
    pub(crate) source: io::Error,
}

impl std::fmt::Display for VerbsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.call, self.source)
    }
}

pub(crate) type VResult<T> = std::result::Result<T, VerbsError>;

fn last(call: &'static str) -> VerbsError {
    VerbsError { call, source: io::Error::last_os_error() }
}

fn code(call: &'static str, rc: i32) -> VResult<()> {
    if rc == 0 {
        Ok(())
    } else {
        // Verbs return a positive errno, or -1 with errno set.
        let source = if rc > 0 { io::Error::from_raw_os_error(rc) } else { io::Error::last_os_error() };
        Err(VerbsError { call, source })
    }
}

/// What is known of one device before opening it.
#[derive(Debug, Clone)]
pub(crate) struct DeviceInfo {
    /// The kernel's name for it (`rxe0`, `mlx5_0`).
    pub(crate) name: String,
    index: usize,
}

/// The verbs devices of this host.
///
/// # Errors
/// The OS error of `ibv_get_device_list`: `ENOSYS` where the kernel has no RDMA support at all.
pub(crate) fn devices() -> VResult<Vec<DeviceInfo>> {
    let mut n = 0i32;
    // SAFETY: n is a valid out-pointer; the list is freed below and never used after.
    let list = unsafe { ffi::ibv_get_device_list(&mut n) };
    if list.is_null() {
        return Err(last("ibv_get_device_list"));
    }
    let mut out = Vec::new();
    for i in 0..n.max(0) as usize {
        // SAFETY: the list holds n device pointers.
        let dev = unsafe { *list.add(i) };
        // SAFETY: dev is a live device of the list; the name is a NUL-terminated string owned by it.
        let name = unsafe { CStr::from_ptr(ffi::ibv_get_device_name(dev)) }.to_string_lossy().into_owned();
        out.push(DeviceInfo { name, index: i });
    }
    // SAFETY: list came from ibv_get_device_list and is freed once.
    unsafe { ffi::ibv_free_device_list(list) };
    Ok(out)
}

/// An open device context.
#[derive(Debug)]
pub(crate) struct Context {
    ctx: NonNull<ffi::ibv_context>,
}

// SAFETY: libibverbs objects may be used from any thread (the library locks internally where needed).
unsafe impl Send for Context {}
// SAFETY: as above; the engine serialises posting and polling per queue pair itself.
unsafe impl Sync for Context {}

/// Attributes of one port (the fields the engine uses).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PortInfo {
    pub(crate) active: bool,
    pub(crate) lid: u16,
    pub(crate) mtu: u32,
    pub(crate) max_msg_sz: u32,
    pub(crate) ethernet: bool,
    pub(crate) gid_table_len: i32,
}

/// One GID table entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GidInfo {
    pub(crate) index: u32,
    pub(crate) gid: [u8; 16],
    pub(crate) roce_v2: bool,
}

impl Context {
    /// Opens `dev`.
    pub(crate) fn open(dev: &DeviceInfo) -> VResult<Context> {
        let mut n = 0i32;
        // SAFETY: as in `devices`.
        let list = unsafe { ffi::ibv_get_device_list(&mut n) };
        if list.is_null() {
            return Err(last("ibv_get_device_list"));
        }
        let ctx = if dev.index < n.max(0) as usize {
            // SAFETY: index < n; the context keeps its own reference to the device after the list is freed.
            unsafe { ffi::ibv_open_device(*list.add(dev.index)) }
        } else {
            ptr::null_mut()
        };
        let err = io::Error::last_os_error();
        // SAFETY: freed once; the opened context does not borrow the list.
        unsafe { ffi::ibv_free_device_list(list) };
        NonNull::new(ctx).map(|ctx| Context { ctx }).ok_or(VerbsError { call: "ibv_open_device", source: err })
    }

    /// The device's physical port count.
    pub(crate) fn port_count(&self) -> VResult<u8> {
        let mut attr = ffi::ibv_device_attr::default();
        // SAFETY: ctx is open; attr is a valid out-pointer of the right type.
        code("ibv_query_device", unsafe { ffi::ibv_query_device(self.ctx.as_ptr(), &mut attr) })?;
        Ok(attr.phys_port_cnt)
    }

    /// Port `port`'s attributes.
    pub(crate) fn port(&self, port: u8) -> VResult<PortInfo> {
        let mut attr = ffi::ibv_port_attr::default();
        // SAFETY: ctx is open; the exported ibv_query_port fills the compatible prefix of ibv_port_attr (the
        // fields read below), which is what the pointer cast says.
        let rc =
            unsafe { ffi::ibv_query_port(self.ctx.as_ptr(), port, &mut attr as *mut ffi::ibv_port_attr as *mut _) };
        code("ibv_query_port", rc)?;
        Ok(PortInfo {
            active: attr.state == ffi::ibv_port_state::IBV_PORT_ACTIVE,
            lid: attr.lid,
            mtu: attr.active_mtu,
            max_msg_sz: attr.max_msg_sz,
            ethernet: u32::from(attr.link_layer) == ffi::IBV_LINK_LAYER_ETHERNET,
            gid_table_len: attr.gid_tbl_len,
        })
    }

    /// The valid GID entries of `port`.
    pub(crate) fn gids(&self, port: u8, len: i32) -> VResult<Vec<GidInfo>> {
        let mut table = vec![ffi::ibv_gid_entry::default(); len.max(0) as usize];
        // SAFETY: table has room for table.len() entries of the size passed.
        let got = unsafe {
            ffi::_ibv_query_gid_table(
                self.ctx.as_ptr(),
                table.as_mut_ptr(),
                table.len(),
                0,
                std::mem::size_of::<ffi::ibv_gid_entry>(),
            )
        };
        if got < 0 {
            return Err(VerbsError { call: "ibv_query_gid_table", source: io::Error::from_raw_os_error(-got as i32) });
        }
        table.truncate(got as usize);
        Ok(table
            .iter()
            .filter(|e| e.port_num == u32::from(port))
            .map(|e| GidInfo {
                index: e.gid_index,
                // SAFETY: every bit pattern of the union is a valid byte array.
                gid: unsafe { e.gid.raw },
                roce_v2: e.gid_type == ffi::IBV_GID_TYPE_ROCE_V2,
            })
            .collect())
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: opened in `open`, closed once, after every object made from it (the engine drops them first).
        unsafe { ffi::ibv_close_device(self.ctx.as_ptr()) };
    }
}

/// A protection domain.
#[derive(Debug)]
pub(crate) struct Pd {
    pd: NonNull<ffi::ibv_pd>,
}
// SAFETY: see Context.
unsafe impl Send for Pd {}
// SAFETY: see Context.
unsafe impl Sync for Pd {}

impl Pd {
    pub(crate) fn alloc(ctx: &Context) -> VResult<Pd> {
        // SAFETY: ctx is open.
        let pd = unsafe { ffi::ibv_alloc_pd(ctx.ctx.as_ptr()) };
        NonNull::new(pd).map(|pd| Pd { pd }).ok_or_else(|| last("ibv_alloc_pd"))
    }
}

impl Drop for Pd {
    fn drop(&mut self) {
        // SAFETY: allocated in `alloc`, freed once after its MRs and QPs.
        unsafe { ffi::ibv_dealloc_pd(self.pd.as_ptr()) };
    }
}

/// A registered memory region.
#[derive(Debug)]
pub(crate) struct Mr {
    mr: NonNull<ffi::ibv_mr>,
}
// SAFETY: see Context.
unsafe impl Send for Mr {}
// SAFETY: see Context.
unsafe impl Sync for Mr {}

impl Mr {
    /// Registers `len` bytes at `addr` for local access and remote read, write and atomics.
    ///
    /// # Safety
    /// `addr..addr+len` must stay mapped until the region is dropped, and the caller accepts that peers write
    /// it at any time (it is shared memory by design).
    pub(crate) unsafe fn register(pd: &Pd, addr: *mut u8, len: usize) -> VResult<Mr> {
        let access = ffi::ibv_access_flags::IBV_ACCESS_LOCAL_WRITE
            | ffi::ibv_access_flags::IBV_ACCESS_REMOTE_WRITE
            | ffi::ibv_access_flags::IBV_ACCESS_REMOTE_READ
            | ffi::ibv_access_flags::IBV_ACCESS_REMOTE_ATOMIC;
        // SAFETY: the caller keeps the range mapped for the region's life; pd is live.
        let mr = unsafe { ffi::ibv_reg_mr(pd.pd.as_ptr(), addr.cast(), len, access.0 as i32) };
        NonNull::new(mr).map(|mr| Mr { mr }).ok_or_else(|| last("ibv_reg_mr"))
    }

    pub(crate) fn lkey(&self) -> u32 {
        // SAFETY: the region is live.
        unsafe { self.mr.as_ref() }.lkey
    }

    pub(crate) fn rkey(&self) -> u32 {
        // SAFETY: the region is live.
        unsafe { self.mr.as_ref() }.rkey
    }
}

impl Drop for Mr {
    fn drop(&mut self) {
        // SAFETY: registered in `register`, deregistered once.
        unsafe { ffi::ibv_dereg_mr(self.mr.as_ptr()) };
    }
}

/// A completion queue.
#[derive(Debug)]
pub(crate) struct Cq {
    cq: NonNull<ffi::ibv_cq>,
}
// SAFETY: see Context; one thread at a time polls a CQ (the engine's per-peer lock).
unsafe impl Send for Cq {}
// SAFETY: as above.
unsafe impl Sync for Cq {}

/// One work completion: which request, and its status (0 = success).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Done {
    pub(crate) wr_id: u64,
    pub(crate) status: u32,
    pub(crate) vendor_err: u32,
}

impl Cq {
    pub(crate) fn create(ctx: &Context, entries: i32) -> VResult<Cq> {
        // SAFETY: ctx is open; no channel, no context pointer.
        let cq = unsafe { ffi::ibv_create_cq(ctx.ctx.as_ptr(), entries, ptr::null_mut(), ptr::null_mut(), 0) };
        NonNull::new(cq).map(|cq| Cq { cq }).ok_or_else(|| last("ibv_create_cq"))
    }

    /// Takes up to `out.len()` completions without waiting; returns how many.
    pub(crate) fn poll(&self, out: &mut Vec<Done>, max: usize) -> VResult<usize> {
        // SAFETY: ibv_wc is plain data; all-zero is a valid value.
        let mut wc: [ffi::ibv_wc; 16] = unsafe { std::mem::zeroed() };
        let want = max.min(wc.len()) as i32;
        // SAFETY: the CQ is live; poll_cq is the provider's entry point (ibv_poll_cq is an inline wrapper of
        // exactly this call); wc has room for `want` entries.
        let n = unsafe {
            let ctx = (*self.cq.as_ptr()).context;
            let poll = (*ctx)
                .ops
                .poll_cq
                .ok_or(VerbsError { call: "ibv_poll_cq", source: io::Error::from_raw_os_error(libc::ENOSYS) })?;
            poll(self.cq.as_ptr(), want, wc.as_mut_ptr())
        };
        if n < 0 {
            return Err(VerbsError { call: "ibv_poll_cq", source: io::Error::other("the completion queue failed") });
        }
        for w in &wc[..n as usize] {
            let (status, vendor_err) = w.error().unwrap_or((0, 0));
            out.push(Done { wr_id: w.wr_id(), status, vendor_err });
        }
        Ok(n as usize)
    }
}

impl Drop for Cq {
    fn drop(&mut self) {
        // SAFETY: created in `create`, destroyed once after its QPs.
        unsafe { ffi::ibv_destroy_cq(self.cq.as_ptr()) };
    }
}

/// The remote end of a queue pair, as traded at set-up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remote {
    pub(crate) qpn: u32,
    pub(crate) psn: u32,
    pub(crate) lid: u16,
    pub(crate) gid: [u8; 16],
}

/// Where the local queue pair sends from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Path {
    pub(crate) port: u8,
    pub(crate) mtu: u32,
    /// `Some(index)`: address by GID (RoCE, routed InfiniBand); `None`: by LID.
    pub(crate) gid_index: Option<u8>,
    pub(crate) psn: u32,
}

/// Atomics in flight per queue pair, each way (the device's limit is at least this on every RoCE NIC).
const RD_ATOMIC: u8 = 8;

/// A reliable-connected queue pair.
#[derive(Debug)]
pub(crate) struct Qp {
    qp: NonNull<ffi::ibv_qp>,
}
// SAFETY: see Context; the engine posts to one QP under its per-peer lock.
unsafe impl Send for Qp {}
// SAFETY: as above.
unsafe impl Sync for Qp {}

/// A scatter entry: local bytes of a registered region.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Local {
    pub(crate) addr: u64,
    pub(crate) len: u32,
    pub(crate) lkey: u32,
}

/// A work request the engine posts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    /// RDMA WRITE of `local` to `remote`.
    Write { local: Local, remote: u64, rkey: u32 },
    /// RDMA READ of `remote` into `local`.
    Read { local: Local, remote: u64, rkey: u32 },
    /// 64-bit fetch-and-add; the old value lands at `local` (8 bytes).
    FetchAdd { local: Local, remote: u64, rkey: u32, add: u64 },
    /// 64-bit compare-and-swap; the old value lands at `local` (8 bytes).
    CompareSwap { local: Local, remote: u64, rkey: u32, cond: u64, swap: u64 },
}

impl Qp {
    /// Creates an RC queue pair with `depth` send entries (no receives: the engine is one-sided only) and
    /// brings it to INIT.
    pub(crate) fn create(pd: &Pd, cq: &Cq, depth: u32, port: u8) -> VResult<Qp> {
        let mut init = ffi::ibv_qp_init_attr {
            send_cq: cq.cq.as_ptr(),
            recv_cq: cq.cq.as_ptr(),
            qp_type: ffi::ibv_qp_type::IBV_QPT_RC,
            sq_sig_all: 0,
            ..Default::default()
        };
        init.cap.max_send_wr = depth;
        init.cap.max_recv_wr = 1;
        init.cap.max_send_sge = 1;
        init.cap.max_recv_sge = 1;
        // SAFETY: pd and cq are live; init is fully initialised.
        let qp = unsafe { ffi::ibv_create_qp(pd.pd.as_ptr(), &mut init) };
        let qp = NonNull::new(qp).map(|qp| Qp { qp }).ok_or_else(|| last("ibv_create_qp"))?;
        let mut a = ffi::ibv_qp_attr {
            qp_state: ffi::ibv_qp_state::IBV_QPS_INIT,
            pkey_index: 0,
            port_num: port,
            qp_access_flags: (ffi::ibv_access_flags::IBV_ACCESS_REMOTE_WRITE
                | ffi::ibv_access_flags::IBV_ACCESS_REMOTE_READ
                | ffi::ibv_access_flags::IBV_ACCESS_REMOTE_ATOMIC)
                .0,
            ..Default::default()
        };
        let mask = ffi::ibv_qp_attr_mask::IBV_QP_STATE
            | ffi::ibv_qp_attr_mask::IBV_QP_PKEY_INDEX
            | ffi::ibv_qp_attr_mask::IBV_QP_PORT
            | ffi::ibv_qp_attr_mask::IBV_QP_ACCESS_FLAGS;
        qp.modify(&mut a, mask, "ibv_modify_qp(INIT)")?;
        Ok(qp)
    }

    /// This queue pair's number.
    pub(crate) fn num(&self) -> u32 {
        // SAFETY: the QP is live.
        unsafe { self.qp.as_ref() }.qp_num
    }

    fn modify(&self, a: &mut ffi::ibv_qp_attr, mask: ffi::ibv_qp_attr_mask, call: &'static str) -> VResult<()> {
        // SAFETY: the QP is live; a is initialised for the fields mask names.
        code(call, unsafe { ffi::ibv_modify_qp(self.qp.as_ptr(), a, mask.0 as i32) })
    }

    /// Moves the queue pair to the error state: the device stops working on its outstanding requests (they
    /// complete as flushed, and no later response of theirs is written into local memory), so that a request the
    /// engine gave up on (a timeout) never writes a buffer that its caller, given the error, has reused.
    pub(crate) fn set_error(&self) -> VResult<()> {
        let mut a = ffi::ibv_qp_attr { qp_state: ffi::ibv_qp_state::IBV_QPS_ERR, ..Default::default() };
        self.modify(&mut a, ffi::ibv_qp_attr_mask::IBV_QP_STATE, "ibv_modify_qp(ERR)")
    }

    /// Whether the queue pair is in the error state, as the device reports it (for the device tests).
    #[cfg(feature = "device-tests")]
    pub(crate) fn in_error_state(&self) -> VResult<bool> {
        let mut a = ffi::ibv_qp_attr::default();
        // SAFETY: an all-zero ibv_qp_init_attr (null pointers, zero numbers) is a valid value for the call to fill.
        let mut init: ffi::ibv_qp_init_attr = unsafe { std::mem::zeroed() };
        let mask = ffi::ibv_qp_attr_mask::IBV_QP_STATE.0 as i32;
        // SAFETY: the QP is live; a and init are writable structures the call fills in.
        code("ibv_query_qp", unsafe { ffi::ibv_query_qp(self.qp.as_ptr(), &mut a, mask, &mut init) })?;
        Ok(a.qp_state == ffi::ibv_qp_state::IBV_QPS_ERR)
    }

    /// Connects to `remote`: INIT → RTR → RTS.
    pub(crate) fn connect(&self, path: Path, remote: Remote) -> VResult<()> {
        let mut a = ffi::ibv_qp_attr {
            qp_state: ffi::ibv_qp_state::IBV_QPS_RTR,
            path_mtu: path.mtu,
            dest_qp_num: remote.qpn,
            rq_psn: remote.psn,
            max_dest_rd_atomic: RD_ATOMIC,
            min_rnr_timer: 12,
            ..Default::default()
        };
        a.ah_attr.dlid = remote.lid;
        a.ah_attr.sl = 0;
        a.ah_attr.src_path_bits = 0;
        a.ah_attr.port_num = path.port;
        if let Some(gid_index) = path.gid_index {
            a.ah_attr.is_global = 1;
            a.ah_attr.grh.dgid.raw = remote.gid;
            a.ah_attr.grh.sgid_index = gid_index;
            a.ah_attr.grh.hop_limit = 64;
        }
        let mask = ffi::ibv_qp_attr_mask::IBV_QP_STATE
            | ffi::ibv_qp_attr_mask::IBV_QP_AV
            | ffi::ibv_qp_attr_mask::IBV_QP_PATH_MTU
            | ffi::ibv_qp_attr_mask::IBV_QP_DEST_QPN
            | ffi::ibv_qp_attr_mask::IBV_QP_RQ_PSN
            | ffi::ibv_qp_attr_mask::IBV_QP_MAX_DEST_RD_ATOMIC
            | ffi::ibv_qp_attr_mask::IBV_QP_MIN_RNR_TIMER;
        self.modify(&mut a, mask, "ibv_modify_qp(RTR)")?;
        let mut a = ffi::ibv_qp_attr {
            qp_state: ffi::ibv_qp_state::IBV_QPS_RTS,
            sq_psn: path.psn,
            // 4.096 us * 2^14 = 67 ms per try, 1 + 6 tries: a dead peer fails a request in about half a second.
            // Not 7: soft-RoCE (rxe) treats a retry count of 7 as "retry for ever" (as the spec does only for
            // the RNR retry count), and a dead peer would then hang every request until the control timeout.
            timeout: 14,
            retry_cnt: 6,
            rnr_retry: 7,
            max_rd_atomic: RD_ATOMIC,
            ..Default::default()
        };
        let mask = ffi::ibv_qp_attr_mask::IBV_QP_STATE
            | ffi::ibv_qp_attr_mask::IBV_QP_TIMEOUT
            | ffi::ibv_qp_attr_mask::IBV_QP_RETRY_CNT
            | ffi::ibv_qp_attr_mask::IBV_QP_RNR_RETRY
            | ffi::ibv_qp_attr_mask::IBV_QP_SQ_PSN
            | ffi::ibv_qp_attr_mask::IBV_QP_MAX_QP_RD_ATOMIC;
        self.modify(&mut a, mask, "ibv_modify_qp(RTS)")
    }

    /// Posts one signaled work request tagged `wr_id`, fenced behind earlier reads and atomics if `fence`.
    ///
    /// # Safety
    /// `work`'s local range must lie in a region registered with this QP's PD with its `lkey`, and stay valid
    /// (and, for READ and atomics, unaliased by other accesses) until the request's completion is polled.
    pub(crate) unsafe fn post(&self, wr_id: u64, work: Work, fence: bool) -> VResult<()> {
        let (local, opcode) = match work {
            Work::Write { local, .. } => (local, ffi::ibv_wr_opcode::IBV_WR_RDMA_WRITE),
            Work::Read { local, .. } => (local, ffi::ibv_wr_opcode::IBV_WR_RDMA_READ),
            Work::FetchAdd { local, .. } => (local, ffi::ibv_wr_opcode::IBV_WR_ATOMIC_FETCH_AND_ADD),
            Work::CompareSwap { local, .. } => (local, ffi::ibv_wr_opcode::IBV_WR_ATOMIC_CMP_AND_SWP),
        };
        let mut sge = ffi::ibv_sge { addr: local.addr, length: local.len, lkey: local.lkey };
        let mut flags = ffi::ibv_send_flags::IBV_SEND_SIGNALED;
        if fence {
            flags |= ffi::ibv_send_flags::IBV_SEND_FENCE;
        }
        let mut wr = ffi::ibv_send_wr {
            wr_id,
            next: ptr::null_mut(),
            sg_list: &mut sge,
            num_sge: if local.len == 0 { 0 } else { 1 },
            opcode,
            send_flags: flags.0,
            ..Default::default()
        };
        match work {
            Work::Write { remote, rkey, .. } | Work::Read { remote, rkey, .. } => {
                wr.wr.rdma = ffi::ibv_send_wr__bindgen_ty_2__bindgen_ty_1 { remote_addr: remote, rkey };
            }
            Work::FetchAdd { remote, rkey, add, .. } => {
                wr.wr.atomic = ffi::ibv_send_wr__bindgen_ty_2__bindgen_ty_2 {
                    remote_addr: remote,
                    compare_add: add,
                    swap: 0,
                    rkey,
                };
            }
            Work::CompareSwap { remote, rkey, cond, swap, .. } => {
                wr.wr.atomic =
                    ffi::ibv_send_wr__bindgen_ty_2__bindgen_ty_2 { remote_addr: remote, compare_add: cond, swap, rkey };
            }
        }
        let mut bad: *mut ffi::ibv_send_wr = ptr::null_mut();
        // SAFETY: the QP is live; wr and sge live across the call (the provider copies them into its queue);
        // the local buffer's validity is the caller's contract. ibv_post_send is an inline wrapper of exactly
        // this provider call.
        let rc = unsafe {
            let ctx = (*self.qp.as_ptr()).context;
            match (*ctx).ops.post_send {
                Some(post) => post(self.qp.as_ptr(), &mut wr, &mut bad),
                None => libc::ENOSYS,
            }
        };
        code("ibv_post_send", rc)
    }
}

impl Drop for Qp {
    fn drop(&mut self) {
        // SAFETY: created in `create`, destroyed once before its CQ and PD.
        unsafe { ffi::ibv_destroy_qp(self.qp.as_ptr()) };
    }
}

/// The verbs name of a work-completion status (`IBV_WC_RETRY_EXC_ERR`), for error messages.
pub(crate) fn status_name(status: u32) -> String {
    // SAFETY: ibv_wc_status_str returns a static string for any value.
    let s = unsafe { CStr::from_ptr(ffi::ibv_wc_status_str(status)) };
    format!("{} (status {status})", s.to_string_lossy())
}

/// Registered, page-aligned memory the engine owns (bounce buffers for user memory outside the heap).
#[derive(Debug)]
pub(crate) struct Staging {
    base: NonNull<u8>,
    len: usize,
    /// Declared before nothing that outlives it: deregistered before the memory is unmapped (see Drop).
    mr: Option<Mr>,
}
// SAFETY: the memory is owned; access is coordinated by the engine's per-peer lock.
unsafe impl Send for Staging {}
// SAFETY: as above.
unsafe impl Sync for Staging {}

impl Staging {
    /// Maps and registers `len` bytes.
    pub(crate) fn new(pd: &Pd, len: usize) -> VResult<Staging> {
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last("mmap(staging)"));
        }
        let base = NonNull::new(p.cast::<u8>()).expect("mmap never returns null on success");
        let mut s = Staging { base, len, mr: None };
        // SAFETY: the mapping lives until Drop, which deregisters first.
        s.mr = Some(unsafe { Mr::register(pd, base.as_ptr(), len) }?);
        Ok(s)
    }

    pub(crate) fn lkey(&self) -> u32 {
        self.mr.as_ref().expect("registered").lkey()
    }

    /// Address of byte `off` (in bounds: callers slice by fixed slots).
    pub(crate) fn at(&self, off: usize) -> *mut u8 {
        assert!(off <= self.len, "staging offset out of range");
        // SAFETY: off <= len, inside (or one past) the mapping.
        unsafe { self.base.as_ptr().add(off) }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        self.mr = None;
        // SAFETY: mapped in `new` with this length; deregistered above; unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}
