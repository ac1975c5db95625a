"""Raw HTTP/1.1 keep-alive load generators: wrk when installed, else an asyncio client,
and for one connection a plain blocking client.

Both replay one pre-built request byte for byte (a SigV4 signature has no nonce and is
valid for five minutes), over `connections` keep-alive connections to 127.0.0.1, and
stop at whichever comes first of `duration_s` and `max_requests`. Each reports the same
`LoadResult`: per-request latency percentiles and throughput.

The Python clients run in a process of their own (`python -m bench.loadgen ...`) so they
never share a GIL with the benchmark or the server: `run_python_client` spawns them.

One connection (the c=1 latency rows) is measured with the blocking client, whatever is
installed: send, block in recv until the response is whole, repeat, with the collector
off. It measures the server and nothing else: against floor B on the benchmark's VM it
gives p99 109 µs where wrk gives 1.67 ms and the asyncio client more (wrk's and asyncio's
own event loops add their tails to every percentile past p90).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class RawRequest:
    """One HTTP request exactly as it goes on the wire."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]  # Host included, Content-Length excluded
    body: bytes

    def wire(self) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_us: float
    p99_us: float
    max_us: float
    errors: int  # non-2xx answers, connection errors, timeouts
    generator: str

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(
    port: int,
    request: RawRequest,
    connections: int,
    duration_s: float,
    max_requests: int,
    force_python: bool = False,
) -> LoadResult:
    if connections == 1:
        return run_python_client(port, request, 1, duration_s, max_requests, blocking=True)
    if wrk_available() and not force_python:
        return run_wrk(port, request, connections, duration_s, max_requests)
    return run_python_client(port, request, connections, duration_s, max_requests)


# -- wrk ---------------------------------------------------------------------------------


def _lua_string(value: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" for b in value) + '"'


def _wrk_script(request: RawRequest) -> str:
    """wrk's settings for `request`, and a `done` that prints the result as JSON. No
    per-response callback: one makes wrk build a Lua table of every response's headers
    and run Lua, which added ~40 µs to each request's measured latency and wrk's own GC
    pauses to the p99 (c=1 p99 5.2 ms vs 1.0 ms from a plain blocking client). The
    duration bounds the run."""
    lines = [
        f"wrk.method = {_lua_string(request.method.encode())}",
        f"wrk.path = {_lua_string(request.path.encode('latin-1'))}",
        f"wrk.body = {_lua_string(request.body)}",
    ]
    for name, value in request.headers:
        lines.append(f"wrk.headers[{_lua_string(name.encode())}] = {_lua_string(value.encode())}")
    lines += [
        "function done(summary, latency, requests)",
        "  local e = summary.errors",
        '  io.write(string.format(\'WRKJSON {"requests":%d,"duration_us":%d,'
        '"p50":%d,"p99":%d,"max":%d,"errors":%d}\\n\','
        " summary.requests, summary.duration, latency:percentile(50),"
        " latency:percentile(99), latency.max,"
        " e.status + e.connect + e.read + e.write + e.timeout))",
        "end",
    ]
    return "\n".join(lines) + "\n"


def run_wrk(
    port: int, request: RawRequest, connections: int, duration_s: float, max_requests: int
) -> LoadResult:
    # One wrk thread: on 2 cores a second one only takes CPU from the server.
    threads = 1
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_wrk_script(request))
    try:
        seconds = max(1, round(duration_s))
        proc = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}{request.path}",
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
        )
    finally:
        os.unlink(script.name)
    for line in proc.stdout.splitlines():
        if line.startswith("WRKJSON "):
            data = json.loads(line.removeprefix("WRKJSON "))
            return LoadResult(
                requests=int(data["requests"]),
                seconds=int(data["duration_us"]) / 1e6,
                p50_us=float(data["p50"]),
                p99_us=float(data["p99"]),
                max_us=float(data["max"]),
                errors=int(data["errors"]),
                generator="wrk",
            )
    raise RuntimeError(f"wrk gave no result: {proc.stdout}\n{proc.stderr}")


# -- the asyncio client ----------------------------------------------------------------


def run_python_client(
    port: int,
    request: RawRequest,
    connections: int,
    duration_s: float,
    max_requests: int,
    blocking: bool = False,
) -> LoadResult:
    with tempfile.NamedTemporaryFile("wb", suffix=".http", delete=False) as wire:
        wire.write(request.wire())
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "--port",
                str(port),
                "--request-file",
                wire.name,
                "--connections",
                str(connections),
                "--duration",
                str(duration_s),
                "--max-requests",
                str(max_requests),
                *(["--blocking"] if blocking else []),
            ],
            capture_output=True,
            text=True,
            timeout=duration_s + 60,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        os.unlink(wire.name)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return LoadResult(**data)


class _Connection(asyncio.Protocol):
    """Sends the request, reads one response (by Content-Length), repeats."""

    def __init__(self, wire: bytes, shared: _Shared) -> None:
        self.wire = wire
        self.shared = shared
        self.buffer = bytearray()
        self.started = 0
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if not self.shared.may_send():
            self.transport.close()
            return
        self.started = time.perf_counter_ns()
        self.transport.write(self.wire)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        if len(self.buffer) < end + 4 + length:
            return
        elapsed = time.perf_counter_ns() - self.started
        ok = head.startswith(b"http/1.1 2")
        del self.buffer[: end + 4 + length]
        self.shared.record(elapsed, ok)
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _Shared:
    def __init__(self, deadline: float, max_requests: int) -> None:
        self.deadline = deadline
        self.remaining = max_requests
        self.latencies: list[int] = []
        self.errors = 0

    def may_send(self) -> bool:
        if self.remaining <= 0 or time.monotonic() >= self.deadline:
            return False
        self.remaining -= 1
        return True

    def record(self, elapsed_ns: int, ok: bool) -> None:
        self.latencies.append(elapsed_ns)
        if not ok:
            self.errors += 1


async def _client(
    port: int, wire: bytes, connections: int, duration_s: float, max_requests: int
) -> LoadResult:
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    shared = _Shared(time.monotonic() + duration_s, max_requests)
    protocols: list[_Connection] = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(
            lambda: _Connection(wire, shared), "127.0.0.1", port
        )
        protocols.append(protocol)
    await asyncio.wait_for(asyncio.gather(*(p.closed for p in protocols)), timeout=duration_s + 30)
    seconds = time.perf_counter() - started
    ordered = sorted(shared.latencies) or [0]

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] / 1000

    return LoadResult(
        requests=len(shared.latencies),
        seconds=seconds,
        p50_us=pct(0.5),
        p99_us=pct(0.99),
        max_us=ordered[-1] / 1000,
        errors=shared.errors,
        generator="python-asyncio",
    )


def _blocking_client(port: int, wire: bytes, duration_s: float, max_requests: int) -> LoadResult:
    """One connection, one request at a time, blocking I/O."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies: list[int] = []
    errors = 0
    clock = time.perf_counter_ns
    started = time.perf_counter()
    deadline = clock() + int(duration_s * 1e9)
    gc.disable()  # a collection here would be counted as the server's latency
    try:
        while len(latencies) < max_requests:
            began = clock()
            if began >= deadline:
                break
            sock.sendall(wire)
            head, _ = read_response(sock)
            latencies.append(clock() - began)
            errors += not head.startswith("HTTP/1.1 2")
    finally:
        gc.enable()
        sock.close()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies) or [0]
    return LoadResult(
        requests=len(latencies),
        seconds=seconds,
        p50_us=ordered[min(len(ordered) - 1, len(ordered) // 2)] / 1000,
        p99_us=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1000,
        max_us=ordered[-1] / 1000,
        errors=errors,
        generator="python-blocking",
    )


def read_response(sock: socket.socket) -> tuple[str, bytes]:
    """One whole response from a blocking socket: its head (status line and headers) and
    its body, read by Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _recv(sock)
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        body += _recv(sock)
    return head.decode("latin-1"), body[:length]


def _recv(sock: socket.socket) -> bytes:
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def main() -> None:
    parser = argparse.ArgumentParser(description="raw keep-alive HTTP/1.1 replay client")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--request-file", type=Path, required=True)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--blocking", action="store_true", help="one connection, blocking I/O")
    args = parser.parse_args()
    if args.blocking:
        wire = args.request_file.read_bytes()
        result = _blocking_client(args.port, wire, args.duration, args.max_requests)
        print(json.dumps(asdict(result)))
        return
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    result = asyncio.run(
        _client(
            args.port,
            args.request_file.read_bytes(),
            args.connections,
            args.duration,
            args.max_requests,
        )
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
