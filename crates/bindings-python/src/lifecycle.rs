//! Life cycle and environment: init (three ways), finalize, status, attributes, identity, info, global
//! exit, engine parameters, and the store's TLS settings.

use crate::blocking::detached;
use crate::buffer::I32Arg;
use crate::error::{invalid, shmem_err, ResultExt, NOT_INITED};
use crate::state;
use pyo3::prelude::*;
use pyo3::types::PyModule;
use shmem::{InitAttr, OpEngineType};
use std::sync::Arc;
use std::time::Duration;

/// `Ok(0)`: what the functions documented to return a code return on success.
const OK: i32 = 0;

fn types(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("shmem._types")
}

/// Starts the runtime with `attr`, with the GIL released, and records its heap.
pub(crate) fn start(py: Python<'_>, attr: InitAttr) -> PyResult<i32> {
    if shmem::init_status() == shmem::InitStatus::Initialized {
        return Err(shmem_err(-4, "shmem is already initialized in this process; call aclshmem_finalize first"));
    }
    // The TLS key material set before init reaches the runtime now (and is validated by the init that uses it).
    crate::tls_conf::apply()?;
    // No binding lock is held while init runs: the TLS decrypt callback may call back into this module. The
    // binding keeps no life-cycle state of its own: from here on it asks the facade (see `state`).
    detached(py, move || shmem::init(attr).map(drop))?;
    Ok(OK)
}

/// Initializes this PE (collective over the job). Returns 0; raises ShmemError on failure.
///
/// Two forms, as the seed and upstream have them:
/// - `aclshmem_init(attributes)` (or `attributes=`): an `InitAttr`, as `init_attr(attributes)`.
/// - `aclshmem_init(mype, npes, mem_size)`: with no arguments, rank, job size and heap size come from the
///   launch environment (shmemrun, torchrun, Slurm; `SHMEM_SYMMETRIC_SIZE`, default 64 MiB); `mem_size` alone
///   overrides the heap size. With `mype` and `npes`, the store address still comes from the environment
///   (`SHMEM_MASTER_ADDR`/`SHMEM_MASTER_PORT`, else `MASTER_ADDR` and `MASTER_PORT + 11`).
#[pyfunction]
#[pyo3(signature = (mype=None, npes=None, mem_size=None, attributes=None))]
pub(crate) fn aclshmem_init(
    py: Python<'_>,
    mype: Option<&Bound<'_, PyAny>>,
    npes: Option<i64>,
    mem_size: Option<i64>,
    attributes: Option<&Bound<'_, PyAny>>,
) -> PyResult<i32> {
    let by_attr = match (mype, attributes) {
        (Some(m), None) if !m.is_instance_of::<pyo3::types::PyInt>() && m.hasattr("option_attr")? => Some(m),
        (None, Some(a)) => Some(a),
        (Some(_), Some(_)) => return Err(invalid("pass either attributes or (mype, npes, mem_size), not both")),
        _ => None,
    };
    if let Some(a) = by_attr {
        if npes.is_some() || mem_size.is_some() {
            return Err(invalid("aclshmem_init(attributes) takes no other argument"));
        }
        let a = attr_from_py(a)?;
        return start(py, a);
    }
    let mype: Option<i64> = mype.map(|m| m.extract()).transpose()?;
    let attr = match (mype, npes) {
        (Some(me), Some(n)) => {
            // As shmem::api::init_with: the rank and size given, the store address and every knob of the
            // optional attributes (engines, timeouts) from the environment, as the launcher set them.
            let mem = mem_size.unwrap_or(shmem::api::DEFAULT_HEAP_BYTES as i64);
            let url = env_store(me, n)?.map(|u| u.to_string()).unwrap_or_default();
            let mut attr = InitAttr::new(me, n, mem, &url).py()?;
            attr.option_attr = shmem::config::Config::from_env().and_then(|c| c.optional_attr()).py()?;
            attr.validate().py()?;
            attr
        }
        (None, None) => {
            let mut attr = shmem::attr_from_env().py()?;
            if let Some(m) = mem_size {
                attr.local_mem_size = u64::try_from(m).map_err(|_| invalid(format!("mem_size {m} must be > 0")))?;
                attr.validate().py()?;
            }
            attr
        }
        _ => return Err(invalid("pass both mype and npes, or neither (to read them from the environment)")),
    };
    start(py, attr)
}

/// The store address the environment gives for a PE `me` of `n` (`None`: it gives none); a malformed launch
/// variable is its error, not "no store".
fn env_store(me: i64, n: i64) -> PyResult<Option<shmem_core::attr::StoreUrl>> {
    use shmem_core::launch_env::{vars, LaunchEnv};
    let env = LaunchEnv::from_lookup(|k| match k {
        k if k == vars::PE => Some(me.to_string()),
        k if k == vars::N_PES => Some(n.to_string()),
        _ => std::env::var(k).ok(),
    })
    .py()?;
    Ok(env.and_then(|e| e.store_url))
}

/// Converts a Python timeout in seconds into a Duration.
fn secs(v: &Bound<'_, PyAny>, name: &str) -> PyResult<Duration> {
    let s: f64 = v.extract()?;
    shmem_core::attr::duration_from_secs(name, s).py()
}

/// Builds the runtime's attributes from a Python `InitAttr`.
fn attr_from_py(attr: &Bound<'_, PyAny>) -> PyResult<InitAttr> {
    let my_rank: i64 = attr.getattr("my_rank")?.extract()?;
    let n_ranks: i64 = attr.getattr("n_ranks")?.extract()?;
    let mem: i64 = attr.getattr("local_mem_size")?.extract()?;
    let ip_port: String = attr.getattr("ip_port")?.extract()?;
    let url = match ip_port.as_str() {
        "" => env_store(my_rank, n_ranks)?.map(|u| u.to_string()).unwrap_or_default(),
        s => s.to_string(),
    };
    let mut a = InitAttr::new(my_rank, n_ranks, mem, &url).py()?;
    let opt = attr.getattr("option_attr")?;
    let bits: i64 = opt.getattr("data_op_engine_type")?.extract()?;
    let bits = u32::try_from(bits).map_err(|_| invalid(format!("data_op_engine_type {bits} is not a bit set")))?;
    a.option_attr.data_op_engine_type = OpEngineType::from_bits_checked(bits).py()?;
    a.option_attr.shm_init_timeout = secs(&opt.getattr("shm_init_timeout")?, "shm_init_timeout")?;
    a.option_attr.shm_create_timeout = secs(&opt.getattr("shm_create_timeout")?, "shm_create_timeout")?;
    a.option_attr.control_operation_timeout =
        secs(&opt.getattr("control_operation_timeout")?, "control_operation_timeout")?;
    a.validate().py()?;
    Ok(a)
}

/// Initializes this PE from an `InitAttr` (e.g. filled by `shmem_set_attributes`). Returns 0.
#[pyfunction]
pub(crate) fn init_attr(py: Python<'_>, attr: &Bound<'_, PyAny>) -> PyResult<i32> {
    let a = attr_from_py(attr)?;
    start(py, a)
}

/// Fills `attributes` (an `InitAttr`) with validated values: rank, job size, heap bytes and the store URL
/// `tcp://host:port` / `tcp6://[addr]:port`. Returns 0; raises ShmemError for invalid values.
#[pyfunction]
pub(crate) fn shmem_set_attributes(
    my_rank: i64,
    n_ranks: i64,
    local_mem_size: i64,
    ip_port: &str,
    attributes: &Bound<'_, PyAny>,
) -> PyResult<i32> {
    InitAttr::new(my_rank, n_ranks, local_mem_size, ip_port).py()?;
    attributes.setattr("my_rank", my_rank)?;
    attributes.setattr("n_ranks", n_ranks)?;
    attributes.setattr("local_mem_size", local_mem_size)?;
    attributes.setattr("ip_port", ip_port)?;
    Ok(OK)
}

/// Sets the engines the job may use (`OpEngineType` bits, e.g. `MTE | SDMA`) in `attributes`. Returns 0.
#[pyfunction]
pub(crate) fn shmem_set_data_op_engine_type(attributes: &Bound<'_, PyAny>, value: i64) -> PyResult<i32> {
    let bits = u32::try_from(value).map_err(|_| invalid(format!("data_op_engine_type {value} is not a bit set")))?;
    OpEngineType::from_bits_checked(bits).py()?;
    let flag = types(attributes.py())?.getattr("OpEngineType")?.call1((value,))?;
    attributes.getattr("option_attr")?.setattr("data_op_engine_type", flag)?;
    Ok(OK)
}

/// Sets the three timeouts of `attributes` (init, create, control operations) to `value` milliseconds.
/// Returns 0.
#[pyfunction]
pub(crate) fn shmem_set_timeout(attributes: &Bound<'_, PyAny>, value: i64) -> PyResult<i32> {
    let max_ms = shmem_core::attr::MAX_DURATION.as_millis() as i64;
    if value <= 0 || value > max_ms {
        return Err(invalid(format!("timeout {value} ms must be in 1..={max_ms} (one year)")));
    }
    let s = value as f64 / 1000.0;
    let opt = attributes.getattr("option_attr")?;
    for name in ["shm_init_timeout", "shm_create_timeout", "control_operation_timeout"] {
        opt.setattr(name, s)?;
    }
    Ok(OK)
}

/// Ends this PE's part of the job (collective): outstanding operations complete, every PE arrives, and all
/// symmetric memory is released. Arrays that still view the heap stay readable and writable (their memory is
/// no longer managed: peers that still map it may write it) until they are garbage collected; a RuntimeWarning
/// names how many there are.
/// Returns 0 (upstream programs check it).
#[pyfunction]
pub(crate) fn aclshmem_finalize(py: Python<'_>) -> PyResult<i32> {
    if shmem::init_status() != shmem::InitStatus::Initialized {
        return Err(shmem_err(NOT_INITED, "finalize called before init (or twice)"));
    }
    let live = crate::memory::live_blocks();
    if live > 0 {
        let msg = format!(
            "shmem finalize: {live} symmetric array(s) are still referenced; their memory stays mapped until \
             they are garbage collected, but it is no longer managed: other PEs may still write it"
        );
        let warnings = py.import("warnings")?;
        let category = py.get_type::<pyo3::exceptions::PyRuntimeWarning>();
        warnings.call_method1("warn", (msg, category, 2))?;
    }
    crate::memory::forget_blocks();
    // Heap ints are refused from the moment the facade's finalize takes the runtime out; a detached copy that
    // is still running holds a pin of the heap it uses (see `state`).
    let r = detached(py, shmem::api::finalize);
    // A finalize refused because another thread's init or finalize is running leaves a runtime in use: that
    // finalize's quiet may still be completing operations on the lent buffers, and it releases them itself.
    if r.is_err() && shmem::init_status() == shmem::InitStatus::Initialized {
        return r.map(|()| OK);
    }
    // Every operation ended with the runtime: all of them, the contexts' too.
    state::release_lent(py, u64::MAX);
    crate::ctx::release_all(py);
    r.map(|()| OK)
}

/// The life-cycle status of this process: an `InitStatus` (INITIALIZED once init has completed).
#[pyfunction]
pub(crate) fn aclshmemx_init_status(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let v = shmem::init_status() as i32;
    types(py)?.getattr("InitStatus")?.call1((v,))
}

/// This PE's number: in TEAM_WORLD, or in `team` when given (-1 when this PE is not in that team).
#[pyfunction]
#[pyo3(signature = (team=None))]
pub(crate) fn my_pe(team: Option<I32Arg>) -> PyResult<i64> {
    match team {
        None => Ok(i64::from(shmem::api::my_pe().py()?)),
        Some(t) => Ok(i64::from(shmem::team::my_pe(t.0))),
    }
}

/// Number of PEs: of the job, or of `team` when given (-1 when the team does not exist here).
#[pyfunction]
#[pyo3(signature = (team=None))]
pub(crate) fn pe_count(team: Option<I32Arg>) -> PyResult<i64> {
    match team {
        None => Ok(i64::from(shmem::api::n_pes().py()?)),
        Some(t) => Ok(i64::from(shmem::team::n_pes(t.0))),
    }
}

/// This PE's number in TEAM_WORLD (older name).
#[pyfunction]
pub(crate) fn get_my_pe() -> PyResult<i64> {
    my_pe(None)
}

/// Number of PEs in the job (older name).
#[pyfunction]
pub(crate) fn get_pe_count() -> PyResult<i64> {
    pe_count(None)
}

/// The (major, minor) version of the SHMEM API this library implements.
#[pyfunction]
pub(crate) fn aclshmem_info_get_version() -> (i32, i32) {
    shmem::api::API_VERSION
}

/// The vendor string: this library's name, version and compiled engines.
#[pyfunction]
pub(crate) fn aclshmem_info_get_name() -> String {
    shmem::api::info_name()
}

/// Ends every PE of the job with `status`, promptly. Python's stdout and stderr are flushed first. Does not
/// return.
#[pyfunction]
pub(crate) fn aclshmem_global_exit(py: Python<'_>, status: I32Arg) -> PyResult<()> {
    let sys = py.import("sys")?;
    for stream in ["stdout", "stderr"] {
        if let Ok(s) = sys.getattr(stream) {
            let _ = s.call_method0("flush");
        }
    }
    shmem::api::global_exit(status.0)
}

/// Configures the MTE engine's staging window (`offset`, `size` bytes, `event` id); on the host engine,
/// `size` is the chunk size of its copies. Returns 0; raises ShmemError for invalid values.
#[pyfunction]
pub(crate) fn mte_set_ub_params(offset: i64, size: i64, event: i64) -> PyResult<i32> {
    shmem::api::mte_set_ub_params(offset, size, event).py()?;
    Ok(OK)
}

/// The FFTS synchronization base that device kernels need. The host runtime has no FFTS hardware: it
/// returns the documented constant 0.
#[pyfunction]
pub(crate) fn get_ffts_config() -> u64 {
    0
}

/// Wraps a Python `decrypt(str) -> str` for the runtime; it runs with the GIL, and a Python exception (or a
/// non-str result) becomes INVALID_PARAM.
fn decrypt_fn(func: Py<PyAny>) -> shmem::tls::DecryptFn {
    Arc::new(move |cipher: &str| {
        Python::attach(|py| {
            let r = func.call1(py, (cipher,)).and_then(|r| r.extract::<String>(py));
            r.map_err(|e| shmem::Error::InvalidParam(format!("the Python decrypt handler failed: {e}")))
        })
    })
}

fn check_callable(f: &Bound<'_, PyAny>) -> PyResult<()> {
    if !f.is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "the decrypt handler must be callable: decrypt(str) -> str",
        ));
    }
    Ok(())
}

/// Sets the store's TLS private key (PEM text) and its encrypted password, which `py_decrypt_func(cipher)
/// -> plain` decrypts when init needs it. Call before init; the certificates come from
/// `set_conf_store_tls`, `set_conf_store_tls_info` or `SHMEM_TLS_INFO`. The key material is kept as given and
/// checked by the init that uses TLS (a bad key is an error of that init, naming the problem). Returns 0.
#[pyfunction]
#[pyo3(signature = (tls_pk, tls_pk_pw, py_decrypt_func=None))]
pub(crate) fn set_conf_store_tls_key(
    tls_pk: &str,
    tls_pk_pw: Option<&str>,
    py_decrypt_func: Option<&Bound<'_, PyAny>>,
) -> PyResult<i32> {
    let decrypt = match py_decrypt_func {
        Some(f) if !f.is_none() => {
            check_callable(f)?;
            Some(decrypt_fn(f.clone().unbind()))
        }
        _ => None,
    };
    let pw = tls_pk_pw.filter(|p| !p.is_empty());
    crate::tls_conf::keep_key(tls_pk, pw, decrypt);
    Ok(OK)
}

/// Registers the Python function that decrypts the TLS key password (`decrypt(cipher) -> plain`). Returns 0.
#[pyfunction]
pub(crate) fn register_decrypt_handler(py_decrypt_func: &Bound<'_, PyAny>) -> PyResult<i32> {
    check_callable(py_decrypt_func)?;
    let f = decrypt_fn(py_decrypt_func.clone().unbind());
    crate::tls_conf::keep_handler(f.clone());
    shmem::tls::set_decrypt_handler(f);
    Ok(OK)
}

/// Enables TLS for the bootstrap store with the certificate files of `info` (`"tlsCaPath: /dir; tlsCert:
/// cert.pem; tlsCaFile: ca.pem; tlsCrlFile: crl.pem"`); an empty string disables it. Returns 0.
#[pyfunction]
pub(crate) fn set_conf_store_tls_info(info: &str) -> i32 {
    crate::tls_conf::set_info(info);
    OK
}

/// Upstream's TLS switch: `set_conf_store_tls(True, info)` enables TLS for the bootstrap store with the
/// certificate files of `info` (as `set_conf_store_tls_info`); `set_conf_store_tls(False, "")` disables what
/// this program configured (info and key). Returns 0; enabling with an empty `info` is INVALID_PARAM.
#[pyfunction]
pub(crate) fn set_conf_store_tls(enable: &Bound<'_, PyAny>, tls_info: &str) -> PyResult<i32> {
    let enable = enable
        .cast::<pyo3::types::PyBool>()
        .map_err(|_| pyo3::exceptions::PyTypeError::new_err("enable must be a bool (True or False)"))?
        .is_true();
    crate::tls_conf::set_enabled(enable, tls_info)?;
    Ok(OK)
}

/// The heap of this PE as (base address, size in bytes).
#[pyfunction]
pub(crate) fn heap_range() -> PyResult<(usize, u64)> {
    shmem::api::heap_range().py()
}

/// Registers this module's functions.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(aclshmem_init, m)?)?;
    m.add_function(wrap_pyfunction!(init_attr, m)?)?;
    m.add_function(wrap_pyfunction!(shmem_set_attributes, m)?)?;
    m.add_function(wrap_pyfunction!(shmem_set_data_op_engine_type, m)?)?;
    m.add_function(wrap_pyfunction!(shmem_set_timeout, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_finalize, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmemx_init_status, m)?)?;
    m.add_function(wrap_pyfunction!(my_pe, m)?)?;
    m.add_function(wrap_pyfunction!(pe_count, m)?)?;
    m.add_function(wrap_pyfunction!(get_my_pe, m)?)?;
    m.add_function(wrap_pyfunction!(get_pe_count, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_info_get_version, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_info_get_name, m)?)?;
    m.add_function(wrap_pyfunction!(aclshmem_global_exit, m)?)?;
    m.add_function(wrap_pyfunction!(mte_set_ub_params, m)?)?;
    m.add_function(wrap_pyfunction!(get_ffts_config, m)?)?;
    m.add_function(wrap_pyfunction!(set_conf_store_tls_key, m)?)?;
    m.add_function(wrap_pyfunction!(register_decrypt_handler, m)?)?;
    m.add_function(wrap_pyfunction!(set_conf_store_tls_info, m)?)?;
    m.add_function(wrap_pyfunction!(set_conf_store_tls, m)?)?;
    m.add_function(wrap_pyfunction!(heap_range, m)?)?;
    Ok(())
}
