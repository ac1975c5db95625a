"""What a sandbox runs (`SandboxSpec`), what one invocation asks (`InvocationRequest`) and
what it produced (`InvocationOutcome`).

The Invoker resolves a function version into a `SandboxSpec` once and hands it to
`SandboxPool.acquire`; sandboxes are only ever shared between invocations whose specs have
the same `key`, which names the account, the function version and everything that makes
its code and configuration (so an update of `$LATEST` never reaches an old sandbox).
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

PYTHON_RUNTIMES = frozenset(f"python3.{minor}" for minor in range(9, 14))
PROVIDED_RUNTIMES = frozenset({"provided", "provided.al2", "provided.al2023"})
RUNTIME_API_ADDRESS = "127.0.0.1:9001"
# AWS caps a synchronous response at 6 MiB + 100 bytes (the emulator's MaxPayloadSize).
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
# AWS Lambda allots 1 vCPU at 1,769 MB; CPU weight follows memory in that proportion.
MB_PER_VCPU = 1769
# "default": outbound allowed as on AWS, the host and private ranges not (0102);
# "none": only loopback.
NETWORK_MODES = frozenset({"default", "none"})


@dataclass(frozen=True)
class SandboxSpec:
    account_id: str
    function_name: str
    version: str
    function_arn: str  # unqualified
    code_dir: Path  # an extracted, read-only tree; mounted at /var/task
    handler: str
    runtime: str
    memory_mb: int = 128
    timeout_s: float = 3.0
    ephemeral_storage_mb: int = 512
    environment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    region: str = "us-east-1"
    pids_max: int = 1024  # AWS's documented limit of processes and threads
    # An opaque revision (CodeSha256, RevisionId...) folded into `key` so new code never
    # meets an old sandbox even when everything else is equal.
    revision: str = ""
    network: str = "default"
    # The version's layers and dependencies merged, a read-only tree mounted at /opt
    # (docs/decisions/0701); None: an empty /opt.
    opt_dir: Path | None = None
    # Modules of the version's dependency layer its spare sandboxes import ahead of
    # demand, as the sandbox user (sandbox/armed_spares.py); python runtimes only.
    preimport: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.runtime not in PYTHON_RUNTIMES | PROVIDED_RUNTIMES:
            raise ValueError(f"unsupported runtime {self.runtime!r}")
        if self.network not in NETWORK_MODES:
            raise ValueError(f"unsupported network mode {self.network!r}")
        object.__setattr__(self, "environment", MappingProxyType(dict(self.environment)))

    @property
    def python(self) -> bool:
        return self.runtime in PYTHON_RUNTIMES

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @functools.cached_property
    def key(self) -> str:
        """The identity of the sandboxes this spec may reuse."""
        material = json.dumps(
            [
                self.account_id, self.function_arn, self.version, str(self.code_dir),
                self.handler, self.runtime, self.memory_mb, self.timeout_s,
                self.ephemeral_storage_mb, sorted(self.environment.items()),
                self.region, self.pids_max, self.revision, self.network,
                str(self.opt_dir or ""), list(self.preimport),
            ]
        )  # fmt: skip
        digest = hashlib.sha256(material.encode()).hexdigest()[:16]
        return f"{self.account_id}:{self.function_name}:{self.version}:{digest}"

    def new_log_stream(self, now: float | None = None) -> str:
        """`YYYY/MM/DD/[<version>]<32 hex>`, the name AWS gives a sandbox's log stream."""
        day = time.strftime("%Y/%m/%d", time.gmtime(now))
        return f"{day}/[{self.version}]{secrets.token_hex(16)}"

    def environ(self, log_stream: str) -> dict[str, str]:
        """The environment of the function's runtime process, AWS's reserved names last so
        the function's own variables cannot override them."""
        env = {
            "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LANG": "en_US.UTF-8",
            "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:"
            "/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
            "PYTHONPATH": "/var/runtime",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        }
        env.update(self.environment)
        env.update(
            {
                "_HANDLER": self.handler,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{self.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_FUNCTION_VERSION": self.version,
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": self.log_group,
                "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
                "AWS_LAMBDA_RUNTIME_API": RUNTIME_API_ADDRESS,
                "LAMBDA_TASK_ROOT": "/var/task",
                "LAMBDA_RUNTIME_DIR": "/var/runtime",
                "TZ": ":UTC",
            }
        )
        if self.runtime in PROVIDED_RUNTIMES:
            # AWS sets no _HANDLER-style execution env for custom runtimes.
            env.pop("AWS_EXECUTION_ENV")
        return env


@dataclass(slots=True)
class InvocationRequest:
    request_id: str
    payload: bytes
    invoked_function_arn: str
    # Unix seconds. None: the sandbox sets it to now + the spec's timeout as it starts
    # running the invocation (after a cold start's init, which has its own limit).
    deadline: float | None = None
    client_context: str | None = None  # plain JSON (the Invoke API's base64, decoded)
    cognito_identity: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True, slots=True)
class ColdStart:
    """Where a cold start's time went before the handler ran, in ms (usage records,
    metrics and `lambdalite invoke --timing` show it; decision 0603).

    `create_ms`: the platform preparing the version (its zygote, when it had none) and
    starting the sandbox's process. `runtime_ms`: the runtime getting ready to run the
    function's init (isolation, the interpreter). `function_init_ms`: the function's own
    init code, as the runtime measured it. A `provided` runtime's bootstrap is the
    function's own code, so its whole start is `function_init_ms` and `runtime_ms` is None.
    """

    create_ms: float
    runtime_ms: float | None
    function_init_ms: float


@dataclass(slots=True)
class InvocationOutcome:
    """The result of one invocation. Function errors are data: `function_error` is
    "Unhandled" and `payload` holds AWS's error object.

    Treat it as immutable. It is not `frozen` because one is built per invocation and a
    frozen dataclass's __init__ costs ~0.2 µs a field (object.__setattr__ each): ~3 µs
    of the invoke path for this one (decision 0006)."""

    request_id: str
    payload: bytes
    function_error: str | None = None
    error_type: str | None = None
    log: bytes = b""  # the function's own output during this invocation
    init_log: bytes = b""  # output of the init phase (cold invocations only)
    log_stream: str = ""
    cold: bool = False
    init_duration_ms: float | None = None  # cold only
    duration_ms: float = 0.0
    max_memory_used_mb: int = 0
    sandbox_destroyed: bool = False
    cold_start: ColdStart | None = None  # cold only
    provisioned: bool = False  # ran on a sandbox started ahead of traffic
