"""lambdalite's Python runtime waits for its next event without being woken for nothing.

A process asleep in recv() on a Unix socket is woken by every wake-up of the socket's
wait queue, and the platform reading the answer the runtime just sent frees buffer
space, which is one: an empty wake-up and two context switches per invocation. The
runtime waits in poll() for POLLIN instead (bootstrap.serve)."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from lambdalite.runtime import protocol
from lambdalite.runtime.protocol import Kind

RUNTIME = (
    "import socket, sys\n"
    "from lambdalite.runtime import bootstrap\n"
    "bootstrap.prepare()\n"
    "bootstrap.serve(socket.socket(fileno=int(sys.argv[1])), 'app.handler')\n"
)


def test_reading_an_answer_does_not_wake_the_waiting_runtime(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return event\n")
    platform, runtime_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    runtime = subprocess.Popen(
        [sys.executable, "-c", RUNTIME, str(runtime_end.fileno())],
        pass_fds=[runtime_end.fileno()],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    runtime_end.close()
    try:
        assert protocol.recv_frame(platform)[0] is Kind.READY
        for n in range(5):
            meta = {"requestId": f"r{n}", "deadlineMs": 2**42, "invokedFunctionArn": "a"}
            protocol.send_frame(platform, Kind.INVOKE, meta, b'{"n": %d}' % n)
            # Once the answer is there to read, let the runtime fall asleep waiting for
            # the next event before the platform reads it. (Asleep before the answer
            # could mean not yet woken for the event.)
            assert select.select([platform], [], [], 10)[0], "no answer"
            asleep = _asleep(runtime.pid)
            kind, _, body = protocol.recv_frame(platform)
            assert (kind, body) == (Kind.RESPONSE, b'{"n": %d}' % n)
            time.sleep(0.05)  # an empty wake-up happens within microseconds, if at all
            assert _switches(runtime.pid) == asleep, "woken by the read of its answer"
    finally:
        platform.close()
        runtime.wait(timeout=10)


def _asleep(pid: int) -> int:
    """The process's voluntary context switches, once it sleeps with that count."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = _switches(pid)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "S" and _switches(pid) == before:
            return before
    raise AssertionError("the runtime never went to sleep")


def _switches(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("voluntary_ctxt_switches"):
            return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")
