"""The floors the Invoke API is compared against, served the way lambdalite is served
(uvicorn + uvloop + httptools, one process), each started as its own process:

    python -m bench.floors trivial --port P   an ASGI app that answers a fixed body
    python -m bench.floors hop --port P       the same, plus one round trip over a unix
                                              socket to a warm worker process (a
                                              length-prefixed frame there and back)

    python -m bench.floors pool --port P      the same round trip, but to one of 64
                                              worker processes, each holding one request
                                              at a time and asleep between requests

`hop` is the least a platform that runs the function in another process can do per
request; `trivial` is the web stack alone. `pool` is `hop` in the shape AWS's model
gives a platform at concurrency 64: one invocation per sandbox at a time, so 64
processes, each woken for every request it serves (hop's one worker never sleeps
under load, and its wake-ups cost nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvicorn

BODY = b'{"hello": "world"}'
_LEN = struct.Struct("!I")
Scope = dict[str, Any]
Message = dict[str, Any]


async def _read_body(receive: Any) -> bytes:
    chunks = []
    more = True
    while more:
        message: Message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(send: Any, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def trivial_app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await _read_body(receive)
    await _answer(send, BODY)


class HopApp:
    """Each request borrows an idle connection to the worker (opening one if none is
    idle), sends the body as a frame, and answers with the worker's frame."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        conn = self.idle.pop() if self.idle else await asyncio.open_unix_connection(self.path)
        reader, writer = conn
        writer.write(_LEN.pack(len(body)) + body)
        (length,) = _LEN.unpack(await reader.readexactly(_LEN.size))
        answer = await reader.readexactly(length)
        self.idle.append(conn)
        await _answer(send, answer)


class PoolApp:
    """Each request takes an idle worker connection (waiting if all are busy), sends the
    body as a frame and answers with the worker's frame."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] | None
        self.idle = None
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if self.idle is None:
            self.idle = asyncio.Queue()
            for sock in self.sockets:
                self.idle.put_nowait(await asyncio.open_unix_connection(sock=sock))
        body = await _read_body(receive)
        reader, writer = await self.idle.get()
        writer.write(_LEN.pack(len(body)) + body)
        (length,) = _LEN.unpack(await reader.readexactly(_LEN.size))
        answer = await reader.readexactly(length)
        self.idle.put_nowait((reader, writer))
        await _answer(send, answer)


def _blocking_worker(fd: int) -> None:
    """The least a sandbox's runtime does: sleep in recv, answer, sleep again; as
    SCHED_BATCH as lambdalite's runtime is from its second invocation (a woken worker
    then does not preempt the server's event loop)."""
    os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    # The benchmark stops a floor by SIGTERM to its process group: the worker stays until
    # the server, done with its last requests, closes the socket (EOF below).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    sock.sendall(b"R")  # started: the floor is measured only once all 64 are
    reply = _LEN.pack(len(BODY)) + BODY
    while True:
        head = sock.recv(_LEN.size, socket.MSG_WAITALL)
        if len(head) < _LEN.size:
            return
        (length,) = _LEN.unpack(head)
        sock.recv(length, socket.MSG_WAITALL)
        sock.sendall(reply)


def _run_pool(port: int, workers: int) -> None:
    ours, procs = [], []
    try:
        for _ in range(workers):
            mine, theirs = socket.socketpair()
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.floors",
                        "blocking-worker",
                        "--fd",
                        str(theirs.fileno()),
                    ],
                    pass_fds=(theirs.fileno(),),
                    cwd=Path(__file__).resolve().parent.parent,
                )
            )
            theirs.close()
            ours.append(mine)
        for sock in ours:
            if sock.recv(1) != b"R":
                sys.exit("a worker of the pool floor died before it started")
        _run(PoolApp(ours), port)
    finally:
        for sock in ours:
            sock.close()  # each worker sees EOF and returns
        for proc in procs:
            proc.wait(timeout=10)


async def _worker(path: str) -> None:
    # SIGTERM reaches the whole process group at once; the server kills this worker once
    # it has answered its last requests (a worker gone first reset them, with tracebacks).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (length,) = _LEN.unpack(await reader.readexactly(_LEN.size))
                await reader.readexactly(length)
                writer.write(_LEN.pack(len(BODY)) + BODY)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_unix_server(serve, path)
    async with server:
        await server.serve_forever()


def _run(app: Any, port: int) -> None:
    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["trivial", "hop", "pool", "worker", "blocking-worker"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--socket", default="")
    parser.add_argument("--fd", type=int, default=-1)
    parser.add_argument("--workers", type=int, default=64)
    args = parser.parse_args()
    if args.kind == "trivial":
        _run(trivial_app, args.port)
    elif args.kind == "pool":
        _run_pool(args.port, args.workers)
    elif args.kind == "blocking-worker":
        _blocking_worker(args.fd)
    elif args.kind == "worker":
        import uvloop

        uvloop.run(_worker(args.socket))
    else:
        path = os.path.join(tempfile.mkdtemp(prefix="lambdalite-floor-"), "worker.sock")
        worker = subprocess.Popen(
            [sys.executable, "-m", "bench.floors", "worker", "--socket", path],
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            for _ in range(500):
                if os.path.exists(path):
                    break
                if worker.poll() is not None:
                    sys.exit("the floor's worker process died")
                time.sleep(0.01)
            probe = socket.socket(socket.AF_UNIX)
            probe.connect(path)
            probe.close()
            _run(HopApp(path), args.port)
        finally:
            worker.kill()
            worker.wait(timeout=10)


if __name__ == "__main__":
    main()
