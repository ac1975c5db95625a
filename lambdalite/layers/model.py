"""The records of layers and dependency builds (frozen dataclasses; the stores persist
them, the API renders them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from lambdalite.model import FunctionVersion


@dataclass(frozen=True)
class LayerVersion:
    account_id: str
    layer_name: str
    version: int
    description: str
    compatible_runtimes: tuple[str, ...]
    compatible_architectures: tuple[str, ...]
    license_info: str | None
    code_sha256: str  # hex: names the zip in the layer content store
    code_size: int
    unzipped_size: int
    created_date: str


class BuildStatus(StrEnum):
    PENDING = "pending"  # waiting for a builder
    BUILDING = "building"  # claimed by a server, until its lease runs out
    READY = "ready"  # `layer_digest` names the dependency layer
    FAILED = "failed"  # `reason` says why (pip's error, the time limit...)


@dataclass(frozen=True)
class Build:
    account_id: str
    key: str
    requirements: str  # normalised, one per line
    source: str
    python: str
    platform: str
    status: BuildStatus
    layer_digest: str | None = None
    layer_size: int | None = None
    reason: str | None = None
    log: str = ""
    attempts: int = 0
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class DependencyLayer:
    account_id: str
    digest: str
    resolved: tuple[str, ...]  # "name==version", sorted
    python: str
    platform: str
    size_bytes: int
    files: int
    preimport: tuple[str, ...] = ()  # top-level modules worth importing ahead, slowest first
    import_ms: dict[str, float] = field(default_factory=dict)
    created_at: float = 0.0


class UpdateStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"


@dataclass(frozen=True)
class FunctionUpdate:
    """A code update of $LATEST waiting for its build, or the reason the last one failed."""

    account_id: str
    function_name: str
    status: UpdateStatus
    revision_id: str  # the $LATEST revision the update wrote
    previous: FunctionVersion | None  # while in progress: the $LATEST that still serves
    reason: str | None = None
    reason_code: str | None = None
    started_at: float = 0.0
