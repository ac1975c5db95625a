"""The one typed configuration object. Built once (by the CLI or a test) and passed down.

Nothing in lambdalite reads the environment at import time: `Settings.from_env()` is
called by the composition root only, so a test can build two servers with two settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_PORT = 9000
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class CodeLimits:
    """Checks applied to every uploaded code package (AWS's quotas by default)."""

    max_zipped_bytes: int = 50 * 1024 * 1024
    max_unzipped_bytes: int = 250 * 1024 * 1024
    max_entries: int = 20_000
    # A deflated entry past this ratio is a zip bomb, not code (real packages sit under ~20).
    max_compression_ratio: int = 200


@dataclass(frozen=True)
class LogLimits:
    """Flood caps on what one sandbox's functions print (docs/decisions/0601-logs-api.md).

    A token bucket per sandbox (log stream): `burst_bytes` may arrive at once, refilled
    at `bytes_per_second`; output past it is dropped and a marker line says how much.
    START, END and REPORT lines are never dropped. `bytes_per_second=0` turns caps off.
    """

    bytes_per_second: int = 256 * 1024
    # At least one invocation's whole output (the sandbox keeps <= 1 MiB of it).
    burst_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class BuildSettings:
    """Dependency builds and layers (docs/decisions/0701-dependency-layers.md)."""

    # A build (pip in a sandbox) is killed past this, and fails with the reason.
    timeout_seconds: float = 600.0
    # Platform-built dependency layers have their own cap: AWS's 250 MB applies to
    # uploaded code and layers only.
    max_layer_bytes: int = 2 * 1024 * 1024 * 1024
    memory_mb: int = 2048  # the build sandbox's memory cgroup
    # How often the builder and the layer garbage collector run (0: never on their own;
    # tests call run_once), how long a claimed build stays with its server without a
    # renewal, and how old an unreferenced build must be before the collector takes it.
    interval_seconds: float = 1.0
    lease_seconds: float = 60.0
    gc_interval_seconds: float = 3600.0
    gc_grace_seconds: float = 600.0
    # Where pip finds packages: a local wheel directory (`--no-index --find-links`, for
    # tests and machines without an index), else an index URL, else PyPI.
    find_links: str | None = None
    index_url: str | None = None
    # Pre-imported spares (docs/decisions/0701): a dependency layer's top-level modules
    # whose import took at least `preimport_min_ms` when measured after its build, the
    # `preimport_max_modules` slowest, are imported by a version's spare sandbox before
    # it is needed; `preimport` False turns it off.
    preimport: bool = True
    preimport_min_ms: float = 20.0
    preimport_max_modules: int = 8


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=lambda: Path.home() / ".lambdalite")
    database_url: str | None = None  # None: SQLite file in the data dir
    region: str = DEFAULT_REGION
    root_access_key_id: str | None = None
    root_secret_access_key: str | None = None
    code_limits: CodeLimits = field(default_factory=CodeLimits)
    # AWS rejects requests whose X-Amz-Date is further than this from its clock.
    max_clock_skew_seconds: int = 300
    # The largest request body the API reads: AWS's CreateFunction limit (a 50 MB zip is
    # ~67 MB in base64 JSON).
    max_request_bytes: int = 70_167_211
    # A synchronous Invoke's request payload (6 MB, "Lambda quotas").
    max_sync_payload_bytes: int = 6 * 1024 * 1024
    # An Event (asynchronous) Invoke's payload: 1 MB since 2025 ("Lambda quotas").
    max_async_payload_bytes: int = 1024 * 1024
    # Asynchronous invocation (docs/decisions/0402): AWS's retry waits (1 and 2 minutes
    # after a function error; 1 s doubling to 5 minutes after a throttle) times this.
    async_backoff_scale: float = 1.0
    # How long a claimed event stays with its server without a renewal: after a crash,
    # another server (or the restarted one) retries it once this has passed.
    async_lease_seconds: float = 60.0
    # How often the delivery loop looks for due events (0: never; tests call run_once).
    async_poll_interval_seconds: float = 0.2
    # Events one server runs at the same time (each still needs a concurrency Lease).
    async_max_in_flight: int = 64
    # Event source mappings (docs/decisions/0403): how often their states are reconciled
    # and pollers started or stopped (0: never on its own; tests call run_once), and how
    # many batches one mapping runs at once when it sets no MaximumConcurrency.
    event_source_reconcile_seconds: float = 1.0
    event_source_max_concurrency: int = 50
    # The account-wide concurrency AWS gives by default (GetAccountSettings).
    account_concurrency: int = 1000
    # An idle sandbox is kept this long for warm starts, then destroyed (scale to zero).
    keep_alive_seconds: float = 600.0
    # How often the reaper looks for idle sandboxes past their keep-alive.
    reaper_interval_seconds: float = 15.0
    # Sandboxes' outbound network (docs/decisions/0102): on by default as on AWS; the host
    # and private ranges stay unreachable except these "ip:port" destinations.
    sandbox_network: bool = True
    sandbox_network_allow: tuple[str, ...] = ()
    sandbox_subnet: str = "10.200.0.0/16"
    sandbox_dns: tuple[str, ...] = ()  # empty: the host's resolvers
    # How often the scheduler looks for due scheduled rules (0: never; tests call
    # run_once). Rules fire at most this late (docs/decisions/0502-schedules.md).
    schedule_poll_interval_seconds: float = 1.0
    # Functions' log output: per-sandbox flood caps, and how often retention is enforced.
    log_limits: LogLimits = field(default_factory=LogLimits)
    log_retention_interval_seconds: float = 600.0
    # Who writes log lines and usage records to the database: "process", a process of
    # its own at a lower priority (lambdalite/logs/sink.py), or "thread", a worker thread
    # of the server (the GIL it holds then slows the invoke path; decision 0007).
    log_sink: str = "process"
    # How often buffered log lines and usage records are stored. Each flush briefly slows
    # the invocations around it (decision 0007, "third round"): on the 2-vCPU benchmark VM
    # 0.2 s gave warm c=1 p99 ~1.2 ms, 0.5 s ~0.75 ms, 1 s ~0.55 ms; c=64 p99 rises with
    # the interval instead (45, 58, 78 ms). Logs show up within this.
    log_flush_seconds: float = 0.5
    # Metering (docs/decisions/0603): the price book usage records and bills use by
    # default ("aws", "self-hosted" or a TOML file's path).
    price_book: str = "aws"
    # GET /metrics (docs/decisions/0604): a bearer token scrapers must send (None: only
    # loopback clients are answered), and how many functions get labels of their own.
    metrics_token: str | None = None
    metrics_max_functions: int = 100
    # Dependency builds (requirements.txt), layers and their garbage collection.
    builds: BuildSettings = field(default_factory=BuildSettings)
    # Buckets (docs/decisions/0503-buckets.md): how the watcher notices objects ("auto":
    # inotify where the kernel has it, else scans; "inotify"; "scan"), how often it runs
    # (0: never on its own; tests call run_once), how often an inotify watcher rescans
    # everything anyway, and the largest object the objects API takes in one PUT.
    bucket_watch: str = "auto"
    bucket_poll_interval_seconds: float = 1.0
    bucket_rescan_seconds: float = 600.0
    bucket_max_object_bytes: int = 64 * 1024 * 1024
    # Redis stream sources (docs/decisions/0504-redis-streams.md): the "host:port"
    # servers accounts other than root may register (root may register any).
    redis_stream_allow: tuple[str, ...] = ()
    # How long an idle vCPU polls before halting, set on the whole machine while this
    # server runs (lambdalite/idle_poll.py, decision 0008); None: leave it as found.
    idle_poll_us: int | None = None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lambdalite.db'}"

    @property
    def code_dir(self) -> Path:
        return self.data_dir / "code"

    @property
    def bucket_dir(self) -> Path:
        """Where buckets created without --path live: <bucket_dir>/<account>/<name>."""
        return self.data_dir / "buckets"

    @property
    def layers_dir(self) -> Path:
        return self.data_dir / "layers"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def with_overrides(self, **changes: object) -> Settings:
        present = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **present)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        base = cls()
        data_dir = env.get("LAMBDALITE_DATA_DIR")
        allow = env.get("LAMBDALITE_SANDBOX_NETWORK_ALLOW")
        network = env.get("LAMBDALITE_SANDBOX_NETWORK")
        port = env.get("LAMBDALITE_PORT")
        log_rate = env.get("LAMBDALITE_LOG_BYTES_PER_SECOND")
        log_burst = env.get("LAMBDALITE_LOG_BURST_BYTES")
        backoff_scale = env.get("LAMBDALITE_ASYNC_BACKOFF_SCALE")
        lease = env.get("LAMBDALITE_ASYNC_LEASE_SECONDS")
        metrics_functions = env.get("LAMBDALITE_METRICS_MAX_FUNCTIONS")
        build_timeout = env.get("LAMBDALITE_BUILD_TIMEOUT_SECONDS")
        layer_cap = env.get("LAMBDALITE_LAYER_MAX_BYTES")
        builds = replace(
            base.builds,
            timeout_seconds=float(build_timeout) if build_timeout else base.builds.timeout_seconds,
            max_layer_bytes=int(layer_cap) if layer_cap else base.builds.max_layer_bytes,
            find_links=env.get("LAMBDALITE_BUILD_FIND_LINKS") or None,
            index_url=env.get("LAMBDALITE_BUILD_INDEX_URL") or None,
        )
        redis_allow = env.get("LAMBDALITE_REDIS_ALLOW")
        idle_poll = env.get("LAMBDALITE_IDLE_POLL_US")
        log_sink = env.get("LAMBDALITE_LOG_SINK")
        log_flush = env.get("LAMBDALITE_LOG_FLUSH_SECONDS")
        return base.with_overrides(
            builds=builds,
            price_book=env.get("LAMBDALITE_PRICE_BOOK"),
            bucket_watch=env.get("LAMBDALITE_BUCKET_WATCH"),
            redis_stream_allow=tuple(a.strip() for a in redis_allow.split(",") if a.strip())
            if redis_allow
            else None,
            metrics_token=env.get("LAMBDALITE_METRICS_TOKEN"),
            idle_poll_us=int(idle_poll) if idle_poll else None,
            log_sink=log_sink if log_sink in ("process", "thread") else None,
            log_flush_seconds=float(log_flush) if log_flush else None,
            metrics_max_functions=int(metrics_functions) if metrics_functions else None,
            async_backoff_scale=float(backoff_scale) if backoff_scale else None,
            async_lease_seconds=float(lease) if lease else None,
            log_limits=LogLimits(
                int(log_rate) if log_rate else base.log_limits.bytes_per_second,
                int(log_burst) if log_burst else base.log_limits.burst_bytes,
            ),
            host=env.get("LAMBDALITE_HOST"),
            port=int(port) if port else None,
            data_dir=Path(data_dir).expanduser() if data_dir else None,
            database_url=env.get("LAMBDALITE_DATABASE_URL"),
            region=env.get("LAMBDALITE_REGION"),
            root_access_key_id=env.get("LAMBDALITE_ROOT_ACCESS_KEY_ID"),
            root_secret_access_key=env.get("LAMBDALITE_ROOT_SECRET_ACCESS_KEY"),
            sandbox_network=network.lower() not in ("0", "off", "false", "none")
            if network
            else None,
            sandbox_network_allow=tuple(a.strip() for a in allow.split(",") if a.strip())
            if allow
            else None,
        )
