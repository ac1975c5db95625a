"""The records of the platform: Account, FunctionConfig, FunctionVersion, Alias.

Plain frozen dataclasses; the store persists them, the API renders them into botocore's
output shapes. Configuration is kept in AWS's own field names so that it round-trips.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

LATEST = "$LATEST"


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str
    account_id: str


@dataclass(frozen=True)
class LayerRef:
    """A layer version a function uses: AWS shows its ARN and CodeSize; `sha256` (hex)
    names its content, which stays while any version uses it, even once the layer
    version itself is deleted (as on AWS)."""

    arn: str
    code_size: int
    sha256: str


@dataclass(frozen=True)
class FunctionConfig:
    """What a user configures on a version (everything but the code)."""

    runtime: str
    handler: str
    role: str
    description: str = ""
    memory_size: int = 128
    timeout: int = 3
    ephemeral_storage: int = 512
    environment: dict[str, str] = field(default_factory=dict)
    architectures: tuple[str, ...] = ("x86_64",)
    tracing_mode: str = "PassThrough"
    dead_letter_target_arn: str | None = None
    log_format: str = "Text"
    log_group: str | None = None  # None: /aws/lambda/<function>
    layers: tuple[LayerRef, ...] = ()  # merged under /opt in this order, later ones win
    # The key of the dependency build of the code's requirements.txt (None: it has none).
    # Part of the configuration so that it is stored, and published, with the code.
    dependencies: str | None = None

    def to_store(self) -> dict[str, Any]:
        return {
            "Runtime": self.runtime,
            "Handler": self.handler,
            "Role": self.role,
            "Description": self.description,
            "MemorySize": self.memory_size,
            "Timeout": self.timeout,
            "EphemeralStorage": self.ephemeral_storage,
            "Environment": dict(self.environment),
            "Architectures": list(self.architectures),
            "TracingMode": self.tracing_mode,
            "DeadLetterTargetArn": self.dead_letter_target_arn,
            "LogFormat": self.log_format,
            "LogGroup": self.log_group,
            "Layers": [
                {"Arn": ref.arn, "CodeSize": ref.code_size, "Sha256": ref.sha256}
                for ref in self.layers
            ],
            "Dependencies": self.dependencies,
        }

    @classmethod
    def from_store(cls, data: dict[str, Any]) -> FunctionConfig:
        return cls(
            runtime=data["Runtime"],
            handler=data["Handler"],
            role=data["Role"],
            description=data["Description"],
            memory_size=data["MemorySize"],
            timeout=data["Timeout"],
            ephemeral_storage=data["EphemeralStorage"],
            environment=dict(data["Environment"]),
            architectures=tuple(data["Architectures"]),
            tracing_mode=data["TracingMode"],
            dead_letter_target_arn=data["DeadLetterTargetArn"],
            log_format=data["LogFormat"],
            log_group=data["LogGroup"],
            # Rows written before layers existed have neither key.
            layers=tuple(
                LayerRef(ref["Arn"], ref["CodeSize"], ref["Sha256"])
                for ref in data.get("Layers") or ()
            ),
            dependencies=data.get("Dependencies"),
        )

    def updated(self, **changes: Any) -> FunctionConfig:
        return replace(self, **changes)


@dataclass(frozen=True)
class Code:
    """A stored code package: `sha256` (hex) names the blob, AWS shows base64."""

    sha256: str
    size: int

    @property
    def sha256_base64(self) -> str:
        import base64

        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


@dataclass(frozen=True)
class VersionStatus:
    """State and LastUpdateStatus as AWS reports them ("Lambda function states").

    Derived, not stored with the version: from its dependency build, and for $LATEST
    from its last code update (docs/decisions/0701)."""

    state: str = "Active"  # Pending | Active | Failed
    state_reason: str | None = None
    state_reason_code: str | None = None  # Creating | DependencyError | ...
    last_update: str | None = "Successful"  # InProgress | Successful | Failed; None: creating
    last_update_reason: str | None = None
    last_update_reason_code: str | None = None


ACTIVE = VersionStatus()


@dataclass(frozen=True)
class FunctionVersion:
    account_id: str
    function_name: str
    version: str
    config: FunctionConfig
    code: Code
    revision_id: str
    last_modified: str
    status: VersionStatus = ACTIVE

    @property
    def is_latest(self) -> bool:
        return self.version == LATEST


@dataclass(frozen=True)
class Function:
    """The function resource itself: what all its versions share."""

    account_id: str
    name: str
    last_version: int
    reserved_concurrency: int | None
    tags: dict[str, str]


@dataclass(frozen=True)
class Alias:
    account_id: str
    function_name: str
    name: str
    function_version: str
    description: str
    routing_weights: dict[str, float]
    revision_id: str
