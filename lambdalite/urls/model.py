"""The records of function URLs: a URL's configuration and its CORS settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PATH_PREFIX = "/_lambdalite/url/"


class AuthType(StrEnum):
    NONE = "NONE"
    AWS_IAM = "AWS_IAM"


@dataclass(frozen=True)
class Cors:
    """The Cors structure of a function URL, in AWS's member names when rendered."""

    allow_credentials: bool | None = None
    allow_headers: tuple[str, ...] | None = None
    allow_methods: tuple[str, ...] | None = None
    allow_origins: tuple[str, ...] | None = None
    expose_headers: tuple[str, ...] | None = None
    max_age: int | None = None

    @classmethod
    def from_api(cls, value: dict[str, Any]) -> Cors:
        def strings(key: str) -> tuple[str, ...] | None:
            return tuple(value[key]) if key in value else None

        return cls(
            allow_credentials=value.get("AllowCredentials"),
            allow_headers=strings("AllowHeaders"),
            allow_methods=strings("AllowMethods"),
            allow_origins=strings("AllowOrigins"),
            expose_headers=strings("ExposeHeaders"),
            max_age=value.get("MaxAge"),
        )

    def to_api(self) -> dict[str, Any]:
        members: dict[str, Any] = {
            "AllowCredentials": self.allow_credentials,
            "AllowHeaders": self.allow_headers,
            "AllowMethods": self.allow_methods,
            "AllowOrigins": self.allow_origins,
            "ExposeHeaders": self.expose_headers,
            "MaxAge": self.max_age,
        }
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in members.items() if v is not None
        }


@dataclass(frozen=True)
class FunctionUrlConfig:
    account_id: str
    function_name: str
    qualifier: str  # "$LATEST" (the unqualified function) or an alias name
    url_id: str
    auth_type: AuthType
    cors: Cors | None
    invoke_mode: str
    created_at: str
    last_modified: str

    @property
    def invoked_qualifier(self) -> str | None:
        """The qualifier an invocation through the URL names (None: unqualified)."""
        return None if self.qualifier == "$LATEST" else self.qualifier

    def url(self, base_url: str) -> str:
        """The URL lambdalite serves it at (docs/decisions/0501-function-urls.md)."""
        return f"{base_url.rstrip('/')}{PATH_PREFIX}{self.url_id}/"

    def domain_name(self, region: str) -> str:
        """The host name that also routes to this URL: <url-id>.lambda-url.<region>.localhost."""
        return f"{self.url_id}.lambda-url.{region}.localhost"
