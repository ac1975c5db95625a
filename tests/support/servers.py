"""Real servers for tests: lambdalite on uvicorn in a thread, PostgreSQL as a subprocess."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import uvicorn

from lambdalite.server import Platform, build_platform
from lambdalite.settings import Settings
from tests.support.shapes import check_response

ROOT_KEY = "AKIALAMBDALITETEST01"
ROOT_SECRET = "lambdalite-test-secret-key-0123456789abc"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def boto_client(
    endpoint: str,
    service: str = "lambda",
    key: str = ROOT_KEY,
    secret: str = ROOT_SECRET,
    validate: bool = True,
) -> Any:
    """A boto3 client of a test server that checks every response against botocore's
    output shapes; `validate=False` sends what boto3 would refuse client-side."""
    client = boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )
    client.meta.events.register("before-parse.*.*", check_response)
    return client


@dataclass
class RunningServer:
    platform: Platform
    endpoint: str
    data_dir: Path
    _server: uvicorn.Server
    _thread: threading.Thread

    def client(
        self,
        service: str = "lambda",
        key: str = ROOT_KEY,
        secret: str = ROOT_SECRET,
        validate: bool = True,
    ) -> Any:
        """A boto3 client; `validate=False` sends what boto3 would refuse client-side,
        to see the server's own validation."""
        return boto_client(self.endpoint, service, key, secret, validate)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.platform.close()


def start_server(
    data_dir: Path, database_url: str | None = None, **overrides: Any
) -> RunningServer:
    port = free_port()
    keys = {"root_access_key_id": ROOT_KEY, "root_secret_access_key": ROOT_SECRET}
    settings = Settings(
        port=port, data_dir=data_dir, database_url=database_url, **{**keys, **overrides}
    )
    platform = build_platform(settings)
    server, thread = serve_in_thread(platform, "127.0.0.1", port)
    return RunningServer(platform, f"http://127.0.0.1:{port}", data_dir, server, thread)


def serve_in_thread(
    platform: Platform, host: str, port: int, timeout_s: float = 30
) -> tuple[uvicorn.Server, threading.Thread]:
    """The platform served as `lambdalite serve` serves it (Platform.server_config), on
    a thread of this process; returns once it listens."""
    config = platform.server_config(host, port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("lambdalite test server did not start")
        time.sleep(0.01)
    return server, thread


@dataclass
class PostgresServer:
    url: str
    directory: Path
    process_dir: Path

    def stop(self) -> None:
        _as_postgres(["pg_ctl", "-D", str(self.process_dir), "-m", "immediate", "stop"])
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres() -> PostgresServer | None:
    """A throwaway PostgreSQL on 127.0.0.1, or None where its binaries are missing."""
    if _postgres_bin("initdb") is None:
        return None
    directory = Path(tempfile.mkdtemp(prefix="lambdalite-pg-"))
    os.chmod(directory, 0o777)  # initdb refuses root: it runs as the postgres user
    data = directory / "data"
    port = free_port()
    # --no-sync: a throwaway cluster needs no fsync (saves seconds at start and removal).
    _as_postgres(["initdb", "--no-sync", "-D", str(data), "-A", "trust", "-U", "postgres"])
    _as_postgres(
        [
            "pg_ctl",
            "-D",
            str(data),
            "-l",
            str(directory / "log"),
            "-w",
            "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {directory} -c fsync=off",
            "start",
        ]
    )
    return PostgresServer(
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", directory, data
    )


def _postgres_bin(name: str) -> str | None:
    """Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    return str(candidates[0]) if candidates else None


def _as_postgres(command: list[str]) -> None:
    command = [_postgres_bin(command[0]) or command[0], *command[1:]]
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + command, check=True, capture_output=True, timeout=60)


@dataclass
class ServedApp:
    """Any ASGI app on uvicorn in a thread (for test servers composed by a test)."""

    endpoint: str
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve_app(app: Any, port: int | None = None) -> ServedApp:
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return ServedApp(f"http://127.0.0.1:{port}", server, thread)
