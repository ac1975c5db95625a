"""A throwaway redis-server for tests, on 127.0.0.1 (and another address if asked).

`apt-get install -y redis-server` provides it (`.ci/run` does); without it the tests that
need one are skipped. Started with no persistence in a temporary directory (~40 ms).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from tests.support.servers import free_port


@dataclass
class RedisServer:
    host: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_redis(bind: tuple[str, ...] = ("127.0.0.1",)) -> RedisServer | None:
    """A redis-server listening on the first of `bind` (and the others), or None where
    redis-server is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    directory = Path(tempfile.mkdtemp(prefix="lambdalite-redis-"))
    port = free_port()
    process = subprocess.Popen(
        [
            *(binary, "--bind", *bind, "--port", str(port)),
            *("--save", "", "--appendonly", "no", "--dir", str(directory)),
            *("--protected-mode", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(bind[0], port, directory, process)
    deadline = time.monotonic() + 10
    while True:
        try:
            server.client().ping()
            return server
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                server.stop()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.01)
