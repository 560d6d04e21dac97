//! The NumPy-level collectives of the `shmem` package: `broadcast`, `reduce` and its named forms
//! (`sum_reduce`, ... `xor_reduce`), `fcollect`, `collect`, `alltoall` (bound in `shmem/_collectives.py`).
//!
//! They were Python functions over the typed `aclshmem_<TYPE>_*` calls; for an 8-byte collective the Python
//! layer (dtype dispatch, a function lookup, keyword handling, one more call) cost several times the runtime's
//! own work, so the whole path is one call into Rust here: the dtype is read from the array (`ndarray`), the
//! typed helper of `collectives` runs with the GIL released. Only the rare paths go back to Python: allocating
//! a `dest` that was omitted (a collective allocation, see `_collectives._dest` / `_collect_dest`). A call that
//! allocated its `dest` and then fails frees it again (on every member: a failed collective fails on all of
//! them), so a refused call takes no heap space.
//!
//! # Same behaviour as the Python functions they replace
//! Arguments are checked in the order those functions checked them, with the same exceptions: `source` (and a
//! broadcast's `dest`) not a NumPy array of a collective dtype is `TypeError` (`np.longdouble` included); an
//! unknown `op` is `ValueError`; a `team` or `root` outside 32 bits is `ShmemError(INVALID_PARAM)`, a non-int
//! one `TypeError`; a non-contiguous array `ShmemError(INVALID_PARAM)` (the buffer protocol's refusal); an array
//! too small for the count joins the collective and fails it on every member (INVALID_PARAM). A `dest` that is
//! not an array of a collective dtype (an int address, another buffer) still goes through the buffer protocol.

use crate::buffer::{I32Arg, Sym};
use crate::collectives as typed;
use crate::ndarray::{classify, refuse_type, Class};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyString, PyTuple};
use shmem::collectives::{DataType, ReduceOp};
use shmem::team::TEAM_WORLD;

/// An optional argument kept as given and converted later, so that arguments are checked in the order of the
/// former Python functions, and an explicit `None` stays distinct from an omitted argument (`root=None` is a
/// TypeError as before, not the default).
pub(crate) enum Opt<'py> {
    /// Not passed: the default applies.
    Absent,
    /// Passed (possibly `None`).
    Given(Bound<'py, PyAny>),
}

impl<'a, 'py> FromPyObject<'a, 'py> for Opt<'py> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Opt::Given(obj.to_owned()))
    }
}

impl<'py> Opt<'py> {
    /// The object, unless absent or `None`.
    fn object(&self) -> Option<&Bound<'py, PyAny>> {
        match self {
            Opt::Given(o) if !o.is_none() => Some(o),
            _ => None,
        }
    }

    /// A 32-bit int argument (team, root): `default` when absent; the typed calls' conversion and errors
    /// otherwise (TypeError for a non-int, INVALID_PARAM outside 32 bits).
    fn i32_or(&self, default: i32) -> PyResult<i32> {
        match self {
            Opt::Absent => Ok(default),
            Opt::Given(o) => I32Arg::extract(o.as_borrowed()).map(|v| v.0),
        }
    }

    /// Whether converting it runs no Python code (absent, or an exact `int`): then nothing can have changed an
    /// array classified before the conversion, and it need not be read again ([`fresh`]).
    #[inline(always)]
    fn is_plain(&self) -> bool {
        match self {
            Opt::Absent => true,
            Opt::Given(o) => o.is_exact_instance_of::<pyo3::types::PyInt>(),
        }
    }

    /// The object to hand to the Python helpers (the default team when absent).
    fn team_object(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Opt::Given(o) => Ok(o.clone()),
            Opt::Absent => Ok(TEAM_WORLD.into_pyobject(py)?.into_any()),
        }
    }
}

/// A collective's `source` (or a broadcast's `dest`): a NumPy array of a collective dtype, else TypeError.
#[inline(always)]
fn array_arg(obj: &Bound<'_, PyAny>) -> PyResult<Class> {
    let c = classify(obj)?;
    if c.is_collective_array() {
        Ok(c)
    } else {
        Err(refuse_type(obj, &c))
    }
}

/// `obj`'s class again, read just before its address is used, when Python code may have run since it was first
/// classified (a `dest` allocation, a team object's `__index__`): another thread could have reshaped or replaced
/// the array meanwhile, and the address and size must be the ones of the call.
#[inline(always)]
fn fresh(obj: &Bound<'_, PyAny>, class: Class) -> PyResult<Class> {
    if class.is_usable() {
        classify(obj)
    } else {
        Ok(class)
    }
}

/// The type of an accepted array.
#[inline(always)]
fn dtype_of(class: &Class) -> DataType {
    // array_arg accepts only arrays of a collective dtype.
    class.dtype().unwrap_or(DataType::Bytes)
}

/// The symmetric address of an argument: read from the array when it is a contiguous array of a collective
/// dtype, through the buffer protocol (or as an int address) otherwise, with that path's errors.
#[inline(always)]
fn sym_of(obj: &Bound<'_, PyAny>, class: &Class) -> PyResult<Sym> {
    if class.is_usable() {
        Ok(Sym { addr: class.addr, room: Some(class.bytes()), read_only: !class.is_writeable() })
    } else {
        Sym::from_obj(obj, "symmetric address")
    }
}

/// `dest` and `source` as symmetric addresses. An argument the binding cannot read as one (a non-contiguous
/// array, a refused buffer export) is this PE's own error, which the runtime never sees: the collective is still
/// joined, only to fail it (`meet`), so that the other members fail at once (INVALID_PARAM naming this PE)
/// instead of waiting for this PE until the control timeout; this PE gets the binding's error.
fn syms_or_meet(
    py: Python<'_>,
    dest: PyResult<Sym>,
    source: PyResult<Sym>,
    meet: impl FnOnce(shmem::Error) -> shmem::Result<()> + Send,
) -> PyResult<(Sym, Sym)> {
    match (dest, source) {
        (Ok(d), Ok(s)) => Ok((d, s)),
        (Err(e), _) | (_, Err(e)) => {
            if e.is_instance_of::<crate::error::ShmemError>(py) {
                let msg = e.value(py).to_string();
                // This PE's answer is `e`; what the meeting returns (the same refusal) adds nothing.
                let _ = crate::blocking::detached(py, move || meet(shmem::Error::invalid(msg)));
            }
            Err(e)
        }
    }
}

/// A `dest` that was given: classified so that arrays take the fast path.
#[inline(always)]
fn dest_sym(obj: &Bound<'_, PyAny>) -> PyResult<Sym> {
    let class = classify(obj)?;
    sym_of(obj, &class)
}

/// The element count of an accepted `source` (`source.size`).
#[inline(always)]
fn size_of(obj: &Bound<'_, PyAny>, class: &Class) -> PyResult<usize> {
    if class.is_usable() {
        Ok(class.size)
    } else {
        // Not reached in practice: a strided array fails its buffer export first.
        obj.getattr("size")?.extract()
    }
}

/// `shmem._collectives`'s helper `name`, looked up once.
fn helper<'py>(py: Python<'py>, cell: &'static PyOnceLock<Py<PyAny>>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || Ok::<_, PyErr>(py.import("shmem._collectives")?.getattr(name)?.unbind()))
        .map(|f| f.bind(py).clone())
}

static DEST: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static COLLECT_DEST: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `dest` as given, or (omitted or None) a new symmetric array made by `_collectives._dest(None, team, shape,
/// dtype)`: collective over every PE, so only on TEAM_WORLD (INVALID_PARAM on another team).
fn dest_or_new<'py>(
    source: &Bound<'py, PyAny>,
    dest: Opt<'py>,
    team: &Opt<'py>,
    shape: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Some(d) = dest.object() {
        return Ok(d.clone());
    }
    let py = source.py();
    helper(py, &DEST, "_dest")?.call1((py.None(), team.team_object(py)?, shape()?, source.getattr("dtype")?))
}

/// The reduction behind `reduce` and its named forms.
fn reduce_array<'py>(
    py: Python<'py>,
    op: ReduceOp,
    source: &Bound<'py, PyAny>,
    dest: Opt<'py>,
    team: Opt<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = array_arg(source)?;
    if !kind.is_native() {
        return Err(refuse_swapped(source));
    }
    // No Python code runs below when `dest` is given, `team` is plain and arrays are classified from their heads:
    // `source` need not be read again.
    let fast = crate::ndarray::classifies_without_python(py)?;
    let plain = fast && dest.object().is_some() && team.is_plain();
    let made = dest.object().is_none();
    let dest = dest_or_new(source, dest, &team, || source.getattr("shape"))?;
    match reduce_into(py, op, source, kind, &dest, team, fast, plain) {
        Ok(()) => Ok(dest),
        Err(e) => Err(free_made(py, made, &dest, e)),
    }
}

/// `e`, after freeing `dest` when the call allocated it (`made`): a collective that fails, fails on every
/// member, so every member frees it (the free is collective) and a refused call takes no heap space.
fn free_made(py: Python<'_>, made: bool, dest: &Bound<'_, PyAny>, e: PyErr) -> PyErr {
    if made {
        // The call's own error is the one to report; a failing free adds nothing to it.
        let _ = crate::memory::aclshmem_free(py, dest);
    }
    e
}

/// The end of [`reduce_array`] once `dest` exists.
#[allow(clippy::too_many_arguments)]
fn reduce_into<'py>(
    py: Python<'py>,
    op: ReduceOp,
    source: &Bound<'py, PyAny>,
    kind: Class,
    dest: &Bound<'py, PyAny>,
    team: Opt<'py>,
    fast: bool,
    plain: bool,
) -> PyResult<()> {
    let team = team.i32_or(TEAM_WORLD)?;
    // Read `source` again where Python code may have run since: allocating `dest`, a team's `__index__`, or (when
    // arrays are classified by their attributes) classifying `dest` itself, which comes first then.
    let kind = if plain || !fast { kind } else { fresh(source, kind)? };
    let dest_kind = classify(dest)?;
    if !dest_kind.is_native() {
        return Err(refuse_swapped(dest));
    }
    let kind = if fast { kind } else { fresh(source, kind)? };
    if !kind.is_native() {
        return Err(refuse_swapped(source));
    }
    let (d, s) = syms_or_meet(py, sym_of(dest, &dest_kind), sym_of(source, &kind), move |e| {
        shmem::collectives::refuse(team, e)
    })?;
    typed::reduce(py, team, op, dtype_of(&kind), d, s, size_of(source, &kind)?)
}

/// Copies ``source`` of team PE ``root`` into ``dest`` on every member (the root's too); returns ``dest``.
#[pyfunction]
#[pyo3(
    signature = (dest, source, root = Opt::Absent, team = Opt::Absent),
    text_signature = "(dest, source, root=0, team=TEAM_WORLD)"
)]
fn broadcast<'py>(
    py: Python<'py>,
    dest: Bound<'py, PyAny>,
    source: &Bound<'py, PyAny>,
    root: Opt<'py>,
    team: Opt<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = array_arg(source)?;
    let dest_kind = array_arg(&dest)?;
    // Plain ints (or defaults) convert without running Python code, and arrays classified from their heads ran
    // none either: then the arrays need not be read again.
    let plain = team.is_plain() && root.is_plain() && crate::ndarray::classifies_without_python(py)?;
    let team = team.i32_or(TEAM_WORLD)?;
    let root = root.i32_or(0)?;
    let (kind, dest_kind) = if plain { (kind, dest_kind) } else { (fresh(source, kind)?, fresh(&dest, dest_kind)?) };
    let n = size_of(source, &kind)?;
    let dt = dtype_of(&kind);
    let (d, s) = syms_or_meet(py, sym_of(&dest, &dest_kind), sym_of(source, &kind), move |e| {
        shmem::collectives::broadcast::refuse(team, dt, n, root, e)
    })?;
    typed::broadcast(py, team, dtype_of(&kind), d, s, n, root)?;
    Ok(dest)
}

/// The operators of `reduce`, in the order of their runtime codes (`shmem._collectives.OPS`).
const OPS: [(&str, ReduceOp); 7] = [
    ("and", ReduceOp::And),
    ("or", ReduceOp::Or),
    ("xor", ReduceOp::Xor),
    ("max", ReduceOp::Max),
    ("min", ReduceOp::Min),
    ("sum", ReduceOp::Sum),
    ("prod", ReduceOp::Prod),
];

/// Reduces ``source`` of every member with ``op`` (and/or/xor/max/min/sum/prod); returns ``dest`` (new when
/// omitted). ``dest`` may be ``source`` (in place).
#[pyfunction]
#[pyo3(
    signature = (source, op = Opt::Absent, dest = Opt::Absent, team = Opt::Absent),
    text_signature = "(source, op='sum', dest=None, team=TEAM_WORLD)"
)]
fn reduce<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    op: Opt<'py>,
    dest: Opt<'py>,
    team: Opt<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let op = match &op {
        Opt::Absent => ReduceOp::Sum,
        Opt::Given(o) => {
            let name = o.cast::<PyString>().ok().and_then(|s| s.to_str().ok());
            match OPS.iter().find(|(n, _)| Some(*n) == name) {
                Some((_, op)) => *op,
                None => return Err(unknown_op(o)),
            }
        }
    };
    reduce_array(py, op, source, dest, team)
}

/// The TypeError of a reduction's array whose dtype has the other byte order: the runtime computes on native
/// values, so the result would be silently wrong.
#[cold]
#[inline(never)]
fn refuse_swapped(obj: &Bound<'_, PyAny>) -> PyErr {
    let dt = obj.getattr("dtype").and_then(|d| d.str()).map(|s| s.to_string()).unwrap_or_default();
    PyTypeError::new_err(format!(
        "a reduction computes in the machine's byte order; dtype {dt} is not: pass arr.astype(arr.dtype.newbyteorder('='))"
    ))
}

#[cold]
fn unknown_op(op: &Bound<'_, PyAny>) -> PyErr {
    let names = OPS.iter().map(|(n, _)| format!("'{n}'")).collect::<Vec<_>>().join(", ");
    match op.repr() {
        Ok(r) => PyValueError::new_err(format!("op {r} is not one of ({names})")),
        Err(e) => e,
    }
}

macro_rules! named_reductions {
    ($($name:ident => $op:ident, $word:literal;)*) => {$(
        #[doc = concat!("``reduce(source, '", $word, "', dest, team)``: the ", $word, " of every member's ``source``.")]
        #[pyfunction]
        #[pyo3(
            signature = (source, dest = Opt::Absent, team = Opt::Absent),
            text_signature = "(source, dest=None, team=TEAM_WORLD)"
        )]
        fn $name<'py>(
            py: Python<'py>,
            source: &Bound<'py, PyAny>,
            dest: Opt<'py>,
            team: Opt<'py>,
        ) -> PyResult<Bound<'py, PyAny>> {
            reduce_array(py, ReduceOp::$op, source, dest, team)
        }
    )*
        fn register_named(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(
                let f = wrap_pyfunction!($name, m)?;
                m.add(concat!("_np_", stringify!($name)), &f)?;
                m.add(stringify!($name), f)?;
            )*
            Ok(())
        }
    };
}

named_reductions!(
    and_reduce => And, "and";
    or_reduce => Or, "or";
    xor_reduce => Xor, "xor";
    max_reduce => Max, "max";
    min_reduce => Min, "min";
    sum_reduce => Sum, "sum";
    prod_reduce => Prod, "prod";
);

/// Concatenates every member's ``source`` (same size everywhere) in team order; returns ``dest``.
#[pyfunction]
#[pyo3(
    signature = (source, dest = Opt::Absent, team = Opt::Absent),
    text_signature = "(source, dest=None, team=TEAM_WORLD)"
)]
fn fcollect<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    dest: Opt<'py>,
    team: Opt<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = array_arg(source)?;
    let t = team.i32_or(TEAM_WORLD)?;
    let made = dest.object().is_none();
    let dest = dest_or_new(source, dest, &team, || {
        let n = shmem::team::n_pes(t).max(0) as usize;
        let total = n.saturating_mul(size_of(source, &kind)?);
        Ok(PyTuple::new(py, [total])?.into_any())
    })?;
    collect_into(py, t, source, kind, dest.clone(), true).map_err(|e| free_made(py, made, &dest, e))
}

/// Concatenates every member's ``source`` (sizes may differ) in team order; returns ``dest``. Without
/// ``dest`` the sizes are gathered first to size the new array.
#[pyfunction]
#[pyo3(
    signature = (source, dest = Opt::Absent, team = Opt::Absent),
    text_signature = "(source, dest=None, team=TEAM_WORLD)"
)]
fn collect<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    dest: Opt<'py>,
    team: Opt<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = array_arg(source)?;
    let made = dest.object().is_none();
    let dest = match dest.object() {
        Some(d) => d.clone(),
        None => helper(py, &COLLECT_DEST, "_collect_dest")?.call1((source, team.team_object(py)?))?,
    };
    let t = team.i32_or(TEAM_WORLD)?;
    collect_into(py, t, source, kind, dest.clone(), false).map_err(|e| free_made(py, made, &dest, e))
}

/// The common end of `fcollect` (`fixed`) and `collect`: `source` re-read (Python code may have run since it was
/// classified), both addresses resolved (or the collective met to fail it), the collect into `dest`.
fn collect_into<'py>(
    py: Python<'py>,
    t: i32,
    source: &Bound<'py, PyAny>,
    kind: Class,
    dest: Bound<'py, PyAny>,
    fixed: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = fresh(source, kind)?;
    let (d, s) = syms_or_meet(py, dest_sym(&dest), sym_of(source, &kind), move |e| shmem::collectives::refuse(t, e))?;
    typed::collect(py, t, dtype_of(&kind), d, s, size_of(source, &kind)?, fixed)?;
    Ok(dest)
}

/// Sends block ``j`` of ``source`` (``source.size // team size`` elements) to member ``j``; block ``i`` of
/// ``dest`` comes from member ``i``. Returns ``dest``.
#[pyfunction]
#[pyo3(
    signature = (source, dest = Opt::Absent, team = Opt::Absent),
    text_signature = "(source, dest=None, team=TEAM_WORLD)"
)]
fn alltoall<'py>(
    py: Python<'py>,
    source: &Bound<'py, PyAny>,
    dest: Opt<'py>,
    team: Opt<'py>,
) -> PyResult<Bound<'py, PyAny>> {
    let kind = array_arg(source)?;
    let t = team.i32_or(TEAM_WORLD)?;
    let n = shmem::team::n_pes(t);
    let made = dest.object().is_none();
    let dest = dest_or_new(source, dest, &team, || source.getattr("shape"))?;
    let run = || {
        let kind = fresh(source, kind)?;
        let (d, s) =
            syms_or_meet(py, dest_sym(&dest), sym_of(source, &kind), move |e| shmem::collectives::refuse(t, e))?;
        let block = if n > 0 { size_of(source, &kind)? / n as usize } else { 0 };
        typed::alltoalls(py, t, dtype_of(&kind), d, s, 1, 1, block)
    };
    match run() {
        Ok(()) => Ok(dest),
        Err(e) => Err(free_made(py, made, &dest, e)),
    }
}

/// The collective type of an array, by the name of its typed calls (`"double"` for float64), or TypeError:
/// the dtype rule of the functions above, for tests and tools.
#[pyfunction]
fn _coll_type_name(arr: &Bound<'_, PyAny>) -> PyResult<&'static str> {
    Ok(dtype_of(&array_arg(arr)?).name())
}

/// How the functions above see `arr`: `(type code, state, data address, size)` the fast way, or with `slow`
/// the way used when NumPy's layout differs from the one expected (for tests: both must agree).
#[pyfunction]
#[pyo3(signature = (arr, slow = false))]
fn _coll_classify(arr: &Bound<'_, PyAny>, slow: bool) -> PyResult<(u32, u32, usize, usize)> {
    crate::ndarray::classify_for_test(arr, slow)
}

/// Registers the functions under private names (`_np_broadcast`, ...); `shmem/_collectives.py` binds them to
/// the public ones. Each is also reachable under its own `__name__` in this module, where `pickle` looks a
/// builtin function up (the former Python functions pickled).
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    for f in [
        wrap_pyfunction!(broadcast, m)?,
        wrap_pyfunction!(reduce, m)?,
        wrap_pyfunction!(fcollect, m)?,
        wrap_pyfunction!(collect, m)?,
        wrap_pyfunction!(alltoall, m)?,
    ] {
        let name: String = f.getattr("__name__")?.extract()?;
        m.add(format!("_np_{name}"), &f)?;
        m.add(name, f)?;
    }
    m.add_function(wrap_pyfunction!(_coll_type_name, m)?)?;
    m.add_function(wrap_pyfunction!(_coll_classify, m)?)?;
    register_named(m)
}
