"""How the CLI reaches the server: the same HTTP API and SigV4 path boto3 takes.

Credentials come from the standard AWS chain when the user chose one explicitly (AWS_*
variables or a profile), else from the data dir's credentials file that the server wrote
on first start, so `lambdalite` works with no setup on the machine running the server.
"""

from __future__ import annotations

import configparser
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import httpx

DEFAULT_ENDPOINT = "http://127.0.0.1:9000"


@dataclass(frozen=True)
class Target:
    endpoint: str
    session: Any  # boto3.Session

    def lambda_client(self) -> Any:
        config = botocore.config.Config(retries={"max_attempts": 1}, read_timeout=900)
        return self.session.client("lambda", endpoint_url=self.endpoint, config=config)

    def signed_post(self, path: str, document: dict[str, Any]) -> httpx.Response:
        """POST JSON to one of lambdalite's own endpoints, signed like a Lambda call."""
        body = json.dumps(document).encode()
        url = f"{self.endpoint}{path}"
        request = botocore.awsrequest.AWSRequest(
            method="POST", url=url, data=body, headers={"Content-Type": "application/json"}
        )
        credentials = self.session.get_credentials()
        region = self.session.region_name or "us-east-1"
        botocore.auth.SigV4Auth(credentials, "lambda", region).add_auth(request)
        return httpx.post(url, content=body, headers=dict(request.headers.items()), timeout=30)


def target() -> Target:
    endpoint = os.environ.get("LAMBDALITE_ENDPOINT", DEFAULT_ENDPOINT).rstrip("/")
    return Target(endpoint, _session())


def _session() -> Any:
    explicit = any(
        os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    credentials_file = data_dir() / "credentials"
    if not explicit and credentials_file.exists():
        parser = configparser.ConfigParser()
        parser.read(credentials_file)
        if parser.has_section("lambdalite"):
            section = parser["lambdalite"]
            return boto3.Session(
                aws_access_key_id=section["aws_access_key_id"],
                aws_secret_access_key=section["aws_secret_access_key"],
                region_name=section.get("region", region),
            )
    return boto3.Session(region_name=region)


def data_dir() -> Path:
    return Path(os.environ.get("LAMBDALITE_DATA_DIR", "~/.lambdalite")).expanduser()
