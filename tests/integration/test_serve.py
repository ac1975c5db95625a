"""`lambdalite serve` as a user runs it: a real process, health, banner, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.servers import free_port

LAMBDALITE = str(Path(sys.executable).parent / "lambdalite")


def start(data_dir: Path, port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDALITE_")}
    return subprocess.Popen(
        [LAMBDALITE, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def wait_healthy(port: int, process: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                document: dict[str, object] = json.loads(response.read())
                return document
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server never became healthy")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_serve_starts_reports_health_and_stops_cleanly(tmp_path: Path, stop_signal: int) -> None:
    port = free_port()
    process = start(tmp_path / "data", port)
    try:
        health = wait_healthy(port, process)
        assert health["status"] == "ok"
        assert health["store"] == "sqlite"
        assert "version" in health
        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert f"listening on http://127.0.0.1:{port}" in output
    assert str(tmp_path / "data" / "credentials") in output
    assert (tmp_path / "data" / "lambdalite.db").exists()


def test_second_start_keeps_the_root_account(tmp_path: Path) -> None:
    port = free_port()
    first = start(tmp_path / "data", port)
    wait_healthy(port, first)
    first.terminate()
    first.communicate(timeout=15)
    credentials = (tmp_path / "data" / "credentials").read_text()
    second = start(tmp_path / "data", port)
    try:
        wait_healthy(port, second)
    finally:
        second.terminate()
        output, _ = second.communicate(timeout=15)
    assert (tmp_path / "data" / "credentials").read_text() == credentials
    key_id = credentials.split("aws_access_key_id = ")[1].split()[0]
    assert key_id in output
