"""Every seed name exists; aliases are the same objects; constants have the values of api.md; the stub is
complete. No PEs needed."""
import ast
import pathlib

import shmem

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def seed_names():
    return [l.strip() for l in (HERE / "seed_names.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]


def test_every_seed_name_exists():
    names = seed_names()
    assert len(names) > 200
    missing = [n for n in names if not hasattr(shmem, n)]
    assert not missing, f"missing from module shmem: {missing}"


def test_aliases_are_the_primary_objects():
    pairs = {
        "shmem_init": "aclshmem_init", "shmem_finalize": "aclshmem_finalize",
        "aclshmem_finialize": "aclshmem_finalize", "shmem_init_status": "aclshmemx_init_status",
        "shmem_malloc": "aclshmem_malloc", "shmem_putmem": "aclshmem_putmem",
        "shmem_putmem_signal": "aclshmemx_putmem_signal", "shmem_putmem_signal_nbi": "aclshmemx_putmem_signal_nbi",
        "shmem_team_get_config": "aclshmem_team_get_config", "get_team_my_pe": "team_my_pe",
        "get_team_pe_count": "team_n_pes", "aclshmem_char_wait_until": "aclshmem_int8_wait_until",
        "aclshmem_int_test": "aclshmem_int32_test", "aclshmem_long_atomic_fetch_add": "aclshmem_int64_atomic_fetch_add",
        "free": "aclshmem_free",
    }
    for alias, primary in pairs.items():
        assert getattr(shmem, alias) is getattr(shmem, primary), alias


def test_constants_and_classes():
    E = shmem.OpEngineType
    assert (E.MTE, E.SDMA, E.ROCE, E.UDMA, E.TCP) == (1, 2, 4, 8, 16)
    assert E.MTE | E.SDMA == 3 and isinstance(E.MTE | E.SDMA, E)
    S = shmem.InitStatus
    assert (S.NOT_INITIALIZED, S.SHM_CREATED, S.INITIALIZED, S.IS_INITIALIZED, S.INVALID) == (0, 1, 2, 2, 2147483647)
    assert (shmem.SIGNAL_SET, shmem.SIGNAL_ADD) == (0, 1)
    assert [shmem.CMP_EQ, shmem.CMP_NE, shmem.CMP_GT, shmem.CMP_GE, shmem.CMP_LT, shmem.CMP_LE] == list(range(6))
    assert (shmem.TEAM_WORLD, shmem.TEAM_INVALID) == (0, -1)
    codes = dict(SUCCESS=0, INVALID_PARAM=-1, INVALID_VALUE=-2, SMEM_ERROR=-3, INNER_ERROR=-4, NOT_INITED=-5,
                 BOOTSTRAP_ERROR=-6, TIMEOUT_ERROR=-7, MALLOC_FAILED=-8, DL_FUNC_FAILED=-9, INNER_TIMEOUT=-10,
                 UNDER_API_UNLOAD=-11, NOT_SUPPORTED=-100)
    for k, v in codes.items():
        assert getattr(shmem, k) == v
    o = shmem.OptionalAttr()
    assert o.data_op_engine_type == E.MTE and o.shm_init_timeout == o.control_operation_timeout == 120
    a = shmem.InitAttr()
    assert isinstance(a.option_attr, shmem.OptionalAttr) and hasattr(a, "ip_port")
    assert shmem.TeamConfig().num_contexts == 0


def test_attribute_setters_validate():
    a = shmem.InitAttr()
    assert shmem.shmem_set_attributes(1, 4, 1 << 20, "tcp://127.0.0.1:9999", a) == 0
    assert (a.my_rank, a.n_ranks, a.local_mem_size, a.ip_port) == (1, 4, 1 << 20, "tcp://127.0.0.1:9999")
    assert shmem.shmem_set_data_op_engine_type(a, shmem.OpEngineType.MTE | shmem.OpEngineType.SDMA) == 0
    assert a.option_attr.data_op_engine_type == 3
    assert shmem.shmem_set_timeout(a, 1500) == 0 and a.option_attr.shm_init_timeout == 1.5
    for bad in [(4, 4, 1 << 20, "tcp://127.0.0.1:9999"), (0, 2, 0, "tcp://127.0.0.1:9999"),
                (0, 2, 1 << 20, "http://x:1"), (0, 2, 1 << 20, "tcp://127.0.0.1:80")]:
        try:
            shmem.shmem_set_attributes(*bad, a)
        except shmem.ShmemError as e:
            assert e.code == shmem.INVALID_PARAM
        else:
            raise AssertionError(bad)
    for v in (0, 0x40, -1):
        try:
            shmem.shmem_set_data_op_engine_type(a, v)
        except shmem.ShmemError as e:
            assert e.code == -1
        else:
            raise AssertionError(v)


def test_not_initialized_errors():
    assert shmem.aclshmemx_init_status() == shmem.InitStatus.NOT_INITIALIZED
    for fn, args in [(shmem.my_pe, ()), (shmem.aclshmem_malloc, (8,)), (shmem.aclshmem_quiet, ()),
                     (shmem.aclshmem_finalize, ())]:
        try:
            fn(*args)
        except shmem.ShmemError as e:
            assert e.code == shmem.NOT_INITED, (fn, e)
        else:
            raise AssertionError(fn)
    assert shmem.team_my_pe(0) == -1 and shmem.team_n_pes(5) == -1
    assert shmem.aclshmem_info_get_version() == (1, 5)
    assert "shmem" in shmem.aclshmem_info_get_name()


def test_stub_is_complete():
    tree = ast.parse((ROOT / "python/shmem/__init__.pyi").read_text())
    declared = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            declared.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            declared.add(node.target.id)
        elif isinstance(node, ast.ImportFrom):
            declared.update(a.asname or a.name for a in node.names)
    types_names = set(__import__("shmem._types", fromlist=["__all__"]).__all__)
    public = [n for n in dir(shmem) if not n.startswith("_") and callable(getattr(shmem, n))]
    missing = [n for n in public if n not in declared and n not in types_names]
    assert not missing, missing
    assert (ROOT / "python/shmem/py.typed").exists()


def test_docstrings_everywhere():
    undocumented = [n for n in dir(shmem) if not n.startswith("_") and callable(getattr(shmem, n))
                    and not (getattr(shmem, n).__doc__ or "").strip()]
    assert not undocumented, undocumented
