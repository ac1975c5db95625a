"""`lambdalite layers ls|publish`, and following a dependency build for `deploy`.

Thin clients of the HTTP API: PublishLayerVersion through boto3, and lambdalite's own
POST /_lambdalite/layers (the layer store: sizes and reference counts) and POST
/_lambdalite/builds (a version's build and its log, which `deploy` streams while pip
runs on the server).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click
import httpx
from rich.console import Console
from rich.table import Table

from lambdalite.cli.client import target
from lambdalite.cli.packaging import package

# main's `_api(service)` and `_fail(message)` (see schedules.py).
Api = Callable[[str], AbstractContextManager[Any]]
Fail = Callable[[str], Any]
POLL_S = 0.5


def size_text(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def own_endpoint(path: str, document: dict[str, Any], fail: Fail) -> dict[str, Any]:
    """POST to one of lambdalite's own endpoints; its error becomes one line and exit 1."""
    try:
        response = target().signed_post(path, document)
    except httpx.TransportError:
        fail(f"cannot reach lambdalite at {target().endpoint}: is `lambdalite serve` running?")
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        fail(f"unexpected answer from {target().endpoint} (HTTP {response.status_code})")
    if response.status_code != 200:
        kind = response.headers.get("x-amzn-ErrorType", str(response.status_code))
        fail(f"{kind}: {body.get('message') or body.get('Message')}")
    return body


def follow_build(
    name: str, console: Console, fail: Fail, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Print the function's dependency build as it goes (pip's lines), then its result:
    the layer's size, or the reason it failed (exit 1)."""
    offset = 0
    while True:
        found = own_endpoint("/_lambdalite/builds", {"FunctionName": name, "Offset": offset}, fail)
        build = found.get("Build")
        if build is None:
            return
        if build["Log"]:
            console.print(build["Log"], end="", markup=False, highlight=False)
            offset += len(build["Log"])
        busy = found["State"] == "Pending" or found["LastUpdateStatus"] == "InProgress"
        if build["Status"] in ("ready", "failed") and not busy:
            break
        sleep(POLL_S)
    if build["Status"] == "failed" or found["LastUpdateStatus"] == "Failed":
        fail(found.get("LastUpdateStatusReason") or found.get("StateReason") or build["Reason"])
    console.print(
        f"dependencies: {len(build['Packages'])} package(s), {size_text(build['LayerSize'] or 0)}"
        + (f"; pre-imported: {', '.join(build['PreImport'])}" if build["PreImport"] else ""),
        markup=False,
        highlight=False,
    )


def wait_idle(name: str, client: Any, sleep: Callable[[float], None] = time.sleep) -> None:
    """Until the function accepts another update (none in progress, not Pending)."""
    while True:
        found = client.get_function_configuration(FunctionName=name)
        if found["State"] != "Pending" and found.get("LastUpdateStatus") != "InProgress":
            return
        sleep(POLL_S)


def layer_commands(api: Api, console: Console, fail: Fail) -> click.Group:
    @click.group("layers")
    def layers() -> None:
        """Layers: the dependency layers built from requirements.txt, and published ones."""

    @layers.command("ls")
    def list_layers() -> None:
        """The layer store: each layer's size on disk and how many versions use it."""
        found = own_endpoint("/_lambdalite/layers", {}, fail)
        table = Table("kind", "name", "id", "state", "size", "used by", "pre-imported")
        for row in found["Layers"]:
            table.add_row(
                row["Kind"],
                row["Name"],
                row["Id"],
                row["State"],
                size_text(row["SizeBytes"]),
                f"{row['References']} version(s)",
                ", ".join(row["PreImport"]) or "-",
            )
        console.print(table if found["Layers"] else "no layers")
        console.print(f"disk: {size_text(found['DiskBytes'])}", markup=False, highlight=False)

    @layers.command("publish")
    @click.argument("name")
    @click.argument("source", type=click.Path(exists=True, path_type=Path))
    @click.option("--description", default="", help="A note kept with the version.")
    @click.option("--runtime", "runtimes", multiple=True, help="A compatible runtime (repeatable).")
    def publish(name: str, source: Path, description: str, runtimes: tuple[str, ...]) -> None:
        """Publish SOURCE (a directory or zip: python/..., bin/..., lib/...) as a new
        version of layer NAME, and print its ARN."""
        content = package(source)
        with api("lambda") as client:
            found = client.publish_layer_version(
                LayerName=name,
                Content={"ZipFile": content},
                Description=description,
                CompatibleRuntimes=list(runtimes),
            )
        console.print(
            f"{found['LayerVersionArn']} ({size_text(found['Content']['CodeSize'])})",
            markup=False,
            highlight=False,
        )

    return layers
