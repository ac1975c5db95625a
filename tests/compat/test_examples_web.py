"""The function-URL examples, run the way their READMEs say: `lambdalite deploy`, a URL,
then plain HTTP. The mobile backend keeps its state in a PostgreSQL outside the sandbox,
reached through the operator's allow-list on a non-loopback host address."""

from __future__ import annotations

import os
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from lambdalite.settings import Settings
from tests.support.cli import cli_env, run, succeeded
from tests.support.servers import (
    RunningServer,
    _as_postgres,
    free_port,
    start_server,
)

pytestmark = pytest.mark.sandbox

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PASSWORD = "todo-secret"


def deploy_with_url(server: RunningServer, tmp_path: Path, example: str, *extra: str) -> str:
    name = f"{example}-{uuid.uuid4().hex[:8]}"
    succeeded(
        run(
            cli_env(server.endpoint, tmp_path), "deploy", EXAMPLES / example, "--name", name, *extra
        )
    )
    config = server.client().create_function_url_config(FunctionName=name, AuthType="NONE")
    url: str = config["FunctionUrl"]
    return url


# -- web-app ------------------------------------------------------------------------------
def test_web_app_serves_its_page_and_api(server: RunningServer, tmp_path: Path) -> None:
    url = deploy_with_url(server, tmp_path, "web-app")
    page = httpx.get(url, timeout=60)
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>lambdalite web app</title>" in page.text
    assert 'fetch("api/hello?name="' in page.text  # relative: works under the URL's prefix
    hello = httpx.get(httpx.URL(url).join("api/hello"), params={"name": "Ada"}, timeout=60)
    assert (hello.status_code, hello.json()) == (200, {"message": "Hello, Ada!"})
    clock = httpx.get(url + "api/time", timeout=60).json()
    assert clock["requestId"] and clock["utc"].endswith("Z")
    echo = httpx.post(url + "api/echo", json={"n": [1, 2]}, timeout=60)
    assert echo.json() == {"received": {"n": [1, 2]}, "contentType": "application/json"}
    missing = httpx.get(url + "nope", timeout=60)
    assert (missing.status_code, missing.json()) == (404, {"message": "no page at GET /nope"})


# -- mobile-backend -----------------------------------------------------------------------
@dataclass
class ExternalPostgres:
    host: str
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"postgresql://todo:{PASSWORD}@{self.host}:{self.port}/todo"


def host_address() -> str | None:
    """The host's outbound IPv4 address: not loopback, which sandboxes never reach."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent; picks the source address
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.fixture(scope="module")
def database() -> Iterator[ExternalPostgres]:
    """A PostgreSQL of its own listening on the host's non-loopback address, with a
    password (SCRAM) for connections from the sandboxes' subnet."""
    host = host_address()
    if host is None:
        pytest.skip("no non-loopback IPv4 address on this host for sandboxes to reach")
    directory = Path(tempfile.mkdtemp(prefix="lambdalite-example-pg-"))
    os.chmod(directory, 0o777)  # initdb refuses root: it runs as the postgres user
    data = directory / "data"
    password_file = directory / "password"
    password_file.write_text(f"{PASSWORD}\n")
    os.chmod(password_file, 0o644)
    _as_postgres(
        ["initdb", "--no-sync", "-D", str(data), "-U", "todo", f"--pwfile={password_file}",
         "-A", "scram-sha-256"]
    )  # fmt: skip
    with (data / "pg_hba.conf").open("a") as hba:
        # The sandboxes' subnet (their address reaches the host unmasqueraded), and this
        # host itself, for the test's own look at the rows.
        hba.write(f"host all all {Settings().sandbox_subnet} scram-sha-256\n")
        hba.write(f"host all all {host}/32 scram-sha-256\n")
    port = free_port()
    options = f"-c listen_addresses={host} -p {port} -k {directory} -c fsync=off"
    _as_postgres(
        ["pg_ctl", "-D", str(data), "-l", str(directory / "log"), "-w", "-o", options, "start"]
    )
    with psycopg.connect(
        host=host, port=port, user="todo", password=PASSWORD, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute("CREATE DATABASE todo")
    yield ExternalPostgres(host, port, directory)
    _as_postgres(["pg_ctl", "-D", str(data), "-m", "immediate", "stop"])


@pytest.fixture(scope="module")
def allowed_server(
    database: ExternalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("mobile"),
        sandbox_network_allow=(f"{database.host}:{database.port}",),
    )
    yield running
    running.stop()


def test_mobile_backend_keeps_its_state_in_the_external_database(
    allowed_server: RunningServer, database: ExternalPostgres, tmp_path: Path
) -> None:
    url = deploy_with_url(
        allowed_server, tmp_path, "mobile-backend", "--env", f"DATABASE_URL={database.url}"
    )
    if allowed_server.platform.engine.network_warning:
        pytest.skip(
            f"sandbox network unavailable: {allowed_server.platform.engine.network_warning}"
        )

    def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, url + path, timeout=60, **kwargs)

    milk = call("POST", "todos", json={"title": "buy milk"})
    assert milk.status_code == 201, milk.text
    item = milk.json()
    assert (item["title"], item["done"]) == ("buy milk", False)
    assert item["created_at"].endswith("Z")
    bread = call("POST", "todos", json={"title": "bake bread"}).json()
    assert [i["title"] for i in call("GET", "todos").json()["items"]] == ["buy milk", "bake bread"]

    done = call("PATCH", f"todos/{item['id']}", json={"done": True})
    assert (done.status_code, done.json()["done"], done.json()["title"]) == (200, True, "buy milk")
    assert call("GET", f"todos/{item['id']}").json()["done"] is True
    assert call("DELETE", f"todos/{bread['id']}").status_code == 204
    assert call("GET", f"todos/{bread['id']}").status_code == 404
    assert call("POST", "todos", json={"title": ""}).status_code == 400
    assert call("POST", "todos", content=b"[1]").status_code == 400

    # The state is in PostgreSQL, outside the sandbox: read it from the host.
    with psycopg.connect(
        host=database.host, port=database.port, user="todo", password=PASSWORD, dbname="todo"
    ) as conn:
        rows = conn.execute("SELECT title, done FROM todos ORDER BY id").fetchall()
    assert rows == [("buy milk", True)]
