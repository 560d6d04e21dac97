"""Collectives: the team-based broadcast, collect, fcollect, alltoall(s) and reductions of OpenSHMEM 1.5 (typed
and mem forms, C11 generics), and the deprecated active-set forms (broadcast32/64, ..., shmem_barrier,
shmem_sync, shmem_TYPENAME_OP_to_all) with their pSync constants."""
from . import types

# The spec's distinct C types behind each TYPENAME (fixed-width and size types alias them): a _Generic
# association per distinct type, routed to the first TYPENAME of the list that names it.
_ALIAS = {"int8": "schar", "int16": "short", "int32": "int", "int64": "long", "uint8": "uchar", "uint16": "ushort",
          "uint32": "uint", "uint64": "ulong", "size": "ulong", "ptrdiff": "long"}

SIZES = [32, 64]
SYNC_SIZES = ["BCAST_SYNC_SIZE", "BARRIER_SYNC_SIZE", "REDUCE_SYNC_SIZE", "COLLECT_SYNC_SIZE", "ALLTOALL_SYNC_SIZE",
              "ALLTOALLS_SYNC_SIZE", "SYNC_SIZE"]
# The 1.5 spec's deprecated underscore aliases (the ALLTOALL ones never had one).
_UNDERSCORE = ["BCAST_SYNC_SIZE", "BARRIER_SYNC_SIZE", "REDUCE_SYNC_SIZE", "COLLECT_SYNC_SIZE", "SYNC_VALUE",
               "REDUCE_MIN_WRKDATA_SIZE"]


def constants():
    # Values: shmem::collectives::active_set (SYNC_SIZE, SYNC_VALUE, REDUCE_MIN_WRKDATA_SIZE); tests/c_coll.rs
    # checks they agree.
    out = ["/* pSync arrays of the active-set collectives: every word SHMEM_SYNC_VALUE before the first call. */"]
    out += [f"#define SHMEM_{s} 32" for s in SYNC_SIZES]
    out.append("#define SHMEM_SYNC_VALUE 0L")
    out.append("#define SHMEM_REDUCE_MIN_WRKDATA_SIZE 8")
    out += [f"#define _SHMEM_{n} SHMEM_{n}" for n in _UNDERSCORE]
    return "\n".join(out)


def _typed(template, names):
    return "\n".join(template.format(T=types.ctype(n), N=n) for n in names)


def declarations():
    team = [
        "int shmem_{N}_broadcast(shmem_team_t team, {T} *dest, const {T} *source, size_t nelems, int PE_root);",
        "int shmem_{N}_collect(shmem_team_t team, {T} *dest, const {T} *source, size_t nelems);",
        "int shmem_{N}_fcollect(shmem_team_t team, {T} *dest, const {T} *source, size_t nelems);",
        "int shmem_{N}_alltoall(shmem_team_t team, {T} *dest, const {T} *source, size_t nelems);",
        "int shmem_{N}_alltoalls(shmem_team_t team, {T} *dest, const {T} *source, ptrdiff_t dst, ptrdiff_t sst, "
        "size_t nelems);",
    ]
    out = [_typed(t, types.RMA) for t in team]
    out.append("""\
int shmem_broadcastmem(shmem_team_t team, void *dest, const void *source, size_t nelems, int PE_root);
int shmem_collectmem(shmem_team_t team, void *dest, const void *source, size_t nelems);
int shmem_fcollectmem(shmem_team_t team, void *dest, const void *source, size_t nelems);
int shmem_alltoallmem(shmem_team_t team, void *dest, const void *source, size_t nelems);
int shmem_alltoallsmem(shmem_team_t team, void *dest, const void *source, ptrdiff_t dst, ptrdiff_t sst,
                       size_t nelems);""")
    for op, names in types.REDUCE.items():
        out.append(_typed(f"int shmem_{{N}}_{op}_reduce(shmem_team_t team, {{T}} *dest, const {{T}} *source, "
                          "size_t nreduce);", names))
    out.append("/* Deprecated active-set forms (OpenSHMEM 1.4): members meet on the caller's pSync. */")
    for b in SIZES:
        out.append(f"""\
void shmem_broadcast{b}(void *dest, const void *source, size_t nelems, int PE_root, int PE_start, int logPE_stride,
                      int PE_size, long *pSync);
void shmem_collect{b}(void *dest, const void *source, size_t nelems, int PE_start, int logPE_stride, int PE_size,
                    long *pSync);
void shmem_fcollect{b}(void *dest, const void *source, size_t nelems, int PE_start, int logPE_stride, int PE_size,
                     long *pSync);
void shmem_alltoall{b}(void *dest, const void *source, size_t nelems, int PE_start, int logPE_stride, int PE_size,
                     long *pSync);
void shmem_alltoalls{b}(void *dest, const void *source, ptrdiff_t dst, ptrdiff_t sst, size_t nelems, int PE_start,
                      int logPE_stride, int PE_size, long *pSync);""")
    out.append("""\
void shmem_barrier(int PE_start, int logPE_stride, int PE_size, long *pSync);
void shmem_sync(int PE_start, int logPE_stride, int PE_size, long *pSync);""")
    for op, names in types.REDUCE_TO_ALL.items():
        out.append(_typed(f"void shmem_{{N}}_{op}_to_all({{T}} *dest, const {{T}} *source, int nreduce, int PE_start, "
                          "int logPE_stride, int PE_size, {T} *pWrk, long *pSync);", names))
    return "\n".join(out)


def _by_dest(name, pattern, names):
    """`#define name(team, dest, ...)` choosing `pattern` (with {N}) by the type of `dest`, the second argument."""
    rows, seen = [], set()
    for n in names:
        c = types.ctype(_ALIAS.get(n, n))
        if c in seen:
            continue
        seen.add(c)
        rows.append(f"{c}*: {pattern.format(N=n)}")
    rows.append("default: _shmem_generic_type_not_supported")
    assoc = ", \\\n    ".join(rows)
    return f"#define {name}(...) _Generic((_SHMEM_ARG1(__VA_ARGS__, 0, 0)), \\\n    {assoc})(__VA_ARGS__)"


def generics():
    g = [_by_dest(f"shmem_{c}", f"shmem_{{N}}_{c}", types.RMA)
         for c in ("broadcast", "collect", "fcollect", "alltoall", "alltoalls")]
    g += [_by_dest(f"shmem_{op}_reduce", f"shmem_{{N}}_{op}_reduce", names) for op, names in types.REDUCE.items()]
    # shmem_sync(team) (C11, = shmem_team_sync) beside the deprecated shmem_sync(PE_start, logPE_stride, PE_size,
    # pSync): chosen by the number of arguments; inside the macro the name is the function.
    g.append("#define _SHMEM_SYNC_PICK(_1, _2, _3, _4, NAME, ...) NAME\n"
             "#define shmem_sync(...) _SHMEM_SYNC_PICK(__VA_ARGS__, shmem_sync, _shmem_generic_type_not_supported, \\\n"
             "    _shmem_generic_type_not_supported, shmem_team_sync, 0)(__VA_ARGS__)")
    return "\n".join(g)
