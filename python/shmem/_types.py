"""Classes and constants of the SHMEM API: engines, status, attributes, team configuration, codes.

The numeric values are part of the API contract (``api.md``).
"""
from __future__ import annotations

import enum

__all__ = [
    "OpEngineType", "InitStatus", "OptionalAttr", "InitAttr", "TeamConfig",
    "SUCCESS", "INVALID_PARAM", "INVALID_VALUE", "SMEM_ERROR", "INNER_ERROR", "NOT_INITED", "BOOTSTRAP_ERROR",
    "TIMEOUT_ERROR", "MALLOC_FAILED", "DL_FUNC_FAILED", "INNER_TIMEOUT", "UNDER_API_UNLOAD", "NOT_SUPPORTED",
    "SIGNAL_SET", "SIGNAL_ADD", "CMP_EQ", "CMP_NE", "CMP_GT", "CMP_GE", "CMP_LT", "CMP_LE",
    "SignalOp", "CmpOp", "DEFAULT_TIMEOUT_S",
]


class OpEngineType(enum.IntFlag):
    """The data-op engines a job may use; a bit set (``MTE | SDMA``)."""

    MTE = 0x01
    """Same-node peers: the calling thread loads/stores into the peer's mapped heap."""
    SDMA = 0x02
    """Same-node peers: asynchronous copy-engine workers."""
    ROCE = 0x04
    """Any PE with an RDMA NIC (RDMA verbs)."""
    UDMA = 0x08
    """Reserved for UDMA (not implemented on the host)."""
    TCP = 0x10
    """Any PE over IP: one-sided operations carried over sockets."""


class InitStatus(enum.IntEnum):
    """Life-cycle status of the runtime in this process."""

    NOT_INITIALIZED = 0
    SHM_CREATED = 1
    INITIALIZED = 2
    IS_INITIALIZED = 2
    INVALID = 2147483647


class SignalOp(enum.IntEnum):
    """How put-with-signal updates the signal word."""

    SIGNAL_SET = 0
    SIGNAL_ADD = 1


class CmpOp(enum.IntEnum):
    """Comparison operators of the wait/test families."""

    CMP_EQ = 0
    CMP_NE = 1
    CMP_GT = 2
    CMP_GE = 3
    CMP_LT = 4
    CMP_LE = 5


SIGNAL_SET = SignalOp.SIGNAL_SET
SIGNAL_ADD = SignalOp.SIGNAL_ADD
CMP_EQ, CMP_NE, CMP_GT, CMP_GE, CMP_LT, CMP_LE = (CmpOp(i) for i in range(6))

SUCCESS = 0
INVALID_PARAM = -1
INVALID_VALUE = -2
SMEM_ERROR = -3
INNER_ERROR = -4
NOT_INITED = -5
BOOTSTRAP_ERROR = -6
TIMEOUT_ERROR = -7
MALLOC_FAILED = -8
DL_FUNC_FAILED = -9
INNER_TIMEOUT = -10
UNDER_API_UNLOAD = -11
NOT_SUPPORTED = -100

DEFAULT_TIMEOUT_S = 120
"""Default of the three timeouts, in seconds."""


class OptionalAttr:
    """Attributes with defaults: the engine set and the timeouts (in seconds; ``shmem_set_timeout`` takes
    milliseconds and sets all three)."""

    __slots__ = ("version", "data_op_engine_type", "shm_init_timeout", "shm_create_timeout",
                 "control_operation_timeout")

    def __init__(self) -> None:
        self.version: int = 1
        """Version of the attribute layout (informational)."""
        self.data_op_engine_type: OpEngineType = OpEngineType.MTE
        self.shm_init_timeout: float = DEFAULT_TIMEOUT_S
        self.shm_create_timeout: float = DEFAULT_TIMEOUT_S
        self.control_operation_timeout: float = DEFAULT_TIMEOUT_S

    def __repr__(self) -> str:
        return (f"OptionalAttr(version={self.version}, data_op_engine_type={self.data_op_engine_type!r}, "
                f"shm_init_timeout={self.shm_init_timeout}, shm_create_timeout={self.shm_create_timeout}, "
                f"control_operation_timeout={self.control_operation_timeout})")


class InitAttr:
    """Everything init needs: rank, job size, heap bytes per PE, the store URL (``tcp://host:port``; empty:
    from the environment) and the optional attributes. Fill it with ``shmem_set_attributes`` and start with
    ``init_attr(attr)``."""

    __slots__ = ("my_rank", "n_ranks", "ip_port", "local_mem_size", "option_attr")

    def __init__(self) -> None:
        self.my_rank: int = 0
        self.n_ranks: int = 1
        self.ip_port: str = ""
        self.local_mem_size: int = 64 << 20
        self.option_attr: OptionalAttr = OptionalAttr()

    def __repr__(self) -> str:
        return (f"InitAttr(my_rank={self.my_rank}, n_ranks={self.n_ranks}, ip_port={self.ip_port!r}, "
                f"local_mem_size={self.local_mem_size}, option_attr={self.option_attr!r})")


class TeamConfig:
    """Configuration of a team at creation."""

    __slots__ = ("num_contexts",)

    def __init__(self, num_contexts: int = 0) -> None:
        self.num_contexts: int = num_contexts
        """Number of contexts the team may run at once (kept; informational on the host)."""

    def __repr__(self) -> str:
        return f"TeamConfig(num_contexts={self.num_contexts})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TeamConfig) and other.num_contexts == self.num_contexts

    __hash__ = None  # type: ignore[assignment]
