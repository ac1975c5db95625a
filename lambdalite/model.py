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
class FunctionVersion:
    account_id: str
    function_name: str
    version: str
    config: FunctionConfig
    code: Code
    revision_id: str
    last_modified: str

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
