"""The `lambdalite` command: serve, deploy, ls, rm, accounts.

Every command but `serve` is a thin client of the HTTP API, never of the store.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import httpx
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)
from rich.console import Console
from rich.table import Table

from lambdalite.cli.client import target
from lambdalite.cli.packaging import package

# Outside a terminal rich would wrap at 80 columns: long ARNs and error lines must stay
# whole for pipes and scripts (`lambdalite ls | grep`), so soft-wrap and no width cap.
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 10_000)
errors = Console(stderr=True, soft_wrap=True)
# CreateFunction requires a Role; lambdalite has no IAM, so any well-formed ARN does.
PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/lambdalite"


@click.group()
@click.version_option(package_name="lambdalite")
def main() -> None:
    """lambdalite: AWS Lambda, self-hosted."""


@main.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 9000).")
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where state lives (default ~/.lambdalite).",
)
@click.option(
    "--database-url",
    default=None,
    help="SQLAlchemy URL, e.g. postgresql://... (default: SQLite in the data dir).",
)
def serve(
    host: str | None, port: int | None, data_dir: Path | None, database_url: str | None
) -> None:
    """Start the platform."""
    from lambdalite.server import serve as run
    from lambdalite.settings import Settings

    if database_url and database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    settings = Settings.from_env().with_overrides(
        host=host,
        port=port,
        data_dir=data_dir.expanduser() if data_dir else None,
        database_url=database_url,
    )
    run(settings)


@main.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Function name.")
@click.option("--handler", default=None, help="module.function (default app.handler).")
@click.option("--runtime", default=None, help="Runtime (default python3.11).")
@click.option("--memory", type=int, default=None, help="Memory in MB (128-10240).")
@click.option("--timeout", type=int, default=None, help="Timeout in seconds (1-900).")
@click.option("--env", "env", multiple=True, help="KEY=VALUE, repeatable.")
@click.option("--publish", is_flag=True, help="Publish a version after deploying.")
def deploy(
    source: Path,
    name: str,
    handler: str | None,
    runtime: str | None,
    memory: int | None,
    timeout: int | None,
    env: tuple[str, ...],
    publish: bool,
) -> None:
    """Create or update function NAME from a directory or zip file."""
    variables = dict(_pair(item) for item in env)
    zip_file = package(source)
    config: dict[str, Any] = {}
    if handler is not None:
        config["Handler"] = handler
    if runtime is not None:
        config["Runtime"] = runtime
    if memory is not None:
        config["MemorySize"] = memory
    if timeout is not None:
        config["Timeout"] = timeout
    if env:
        config["Environment"] = {"Variables": variables}
    with _api() as client:
        if _exists(client, name):
            result = client.update_function_code(FunctionName=name, ZipFile=zip_file)
            if config:
                result = client.update_function_configuration(FunctionName=name, **config)
            verb = "updated"
        else:
            config.setdefault("Handler", "app.handler")
            config.setdefault("Runtime", "python3.11")
            result = client.create_function(
                FunctionName=name, Role=PLACEHOLDER_ROLE, Code={"ZipFile": zip_file}, **config
            )
            verb = "created"
        if publish:
            result = client.publish_version(FunctionName=name)
    version = f" version {result['Version']}" if publish else ""
    console.print(
        f"{verb} {result['FunctionArn']}{version} "
        f"({result['CodeSize']} bytes, sha256 {result['CodeSha256']})"
    )


@main.command("ls")
def list_functions() -> None:
    """List functions."""
    with _api() as client:
        rows = [
            f
            for page in client.get_paginator("list_functions").paginate()
            for f in page["Functions"]
        ]
    table = Table("name", "runtime", "handler", "memory", "timeout", "code", "last modified")
    for f in rows:
        table.add_row(
            f["FunctionName"],
            f["Runtime"],
            f["Handler"],
            f"{f['MemorySize']} MB",
            f"{f['Timeout']} s",
            f"{f['CodeSize']} B",
            f["LastModified"],
        )
    console.print(table if rows else "no functions")


@main.command("rm")
@click.argument("name")
def remove(name: str) -> None:
    """Delete function NAME and all its versions."""
    with _api() as client:
        client.delete_function(FunctionName=name)
    console.print(f"deleted {name}")


@main.command("invoke")
@click.argument("name")
@click.option("--payload", default="{}", help="The event, as JSON (default {}).")
@click.option("--qualifier", default=None, help="A version number or alias.")
@click.option("--tail", is_flag=True, help="Also print the invocation's log tail (stderr).")
def invoke(name: str, payload: str, qualifier: str | None, tail: bool) -> None:
    """Invoke function NAME and print its result; exit 1 if the function failed."""
    extra: dict[str, Any] = {"Qualifier": qualifier} if qualifier else {}
    with _api() as client:
        response = client.invoke(
            FunctionName=name, Payload=payload.encode(), LogType="Tail" if tail else "None", **extra
        )
        result = response["Payload"].read().decode("utf-8", errors="replace")
    if tail and response.get("LogResult"):
        log_tail = base64.b64decode(response["LogResult"]).decode("utf-8", errors="replace")
        errors.print(log_tail, markup=False, highlight=False, end="")
    console.print(result, markup=False, highlight=False)
    if response.get("FunctionError"):
        errors.print(
            f"error: the function failed ({response['FunctionError']}) in version "
            f"{response.get('ExecutedVersion')}",
            markup=False,
        )
        sys.exit(1)


@main.group()
def accounts() -> None:
    """Manage accounts (root account only)."""


@accounts.command("create")
@click.argument("name")
def create_account(name: str) -> None:
    """Create account NAME and print its access key (shown once)."""
    with _api():
        response = target().signed_post("/_lambdalite/accounts", {"Name": name})
    try:
        body = response.json()
    except ValueError:
        _fail(f"unexpected answer from {target().endpoint} (HTTP {response.status_code})")
    if response.status_code != 201:
        _fail(
            f"{response.headers.get('x-amzn-ErrorType', response.status_code)}: "
            f"{body.get('message') or body.get('Message')}"
        )
    console.print(f"account {body['Name']} ({body['AccountId']}); add to ~/.aws/credentials:\n")
    console.print(
        f"[{body['Name']}]\naws_access_key_id = {body['AccessKeyId']}\n"
        f"aws_secret_access_key = {body['SecretAccessKey']}",
        markup=False,
    )


def _exists(client: Any, name: str) -> bool:
    try:
        client.get_function_configuration(FunctionName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ResourceNotFoundException":
            return False
        raise
    return True


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        _fail(f"--env expects KEY=VALUE, got {item!r}")
    return key, value


@contextmanager
def _api() -> Iterator[Any]:
    """A Lambda client; API and connection errors become one clear line and exit 1."""
    endpoint = target().endpoint
    try:
        yield target().lambda_client()
    except ClientError as exc:
        error = exc.response["Error"]
        _fail(f"{error.get('Code')}: {error.get('Message')}")
    except (EndpointConnectionError, httpx.TransportError):
        _fail(
            f"cannot reach lambdalite at {endpoint}: is `lambdalite serve` running? "
            "(set LAMBDALITE_ENDPOINT to use another address)"
        )
    except NoCredentialsError:
        _fail(
            "no credentials: run this on the server's machine (it reads "
            "~/.lambdalite/credentials, or LAMBDALITE_DATA_DIR/credentials), or set "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    except BotoCoreError as exc:  # e.g. boto3's own parameter validation
        _fail(" ".join(str(exc).split()))
    except OSError as exc:
        _fail(str(exc))


def _fail(message: str) -> Any:
    errors.print(f"error: {message}", markup=False)
    sys.exit(1)
