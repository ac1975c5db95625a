"""How fast a Redis stream mapping drains a stream, end to end (docs/decisions/0504):
a real `lambdalite serve` (its own pollers, real sandboxes), a redis-server on loopback,
a no-op function; N entries XADDed at once, timed until the mapping's consumer group has
acknowledged them all. Also the idle latency of one entry. Prints; asserts nothing.
`.venv/bin/python -m bench.redis_stream [--entries N]` (needs redis-server and root).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import httpx
import redis

from bench.served import REGION, ROOT_KEY, ROOT_SECRET, ServedLambdalite, free_port


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    process = subprocess.Popen(
        [
            *("redis-server", "--bind", "127.0.0.1", "--port", str(port)),
            *("--save", "", "--appendonly", "no", "--dir", str(directory)),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(500):
        try:
            client.ping()
            return process, port
        except redis.ConnectionError:
            time.sleep(0.01)
    raise RuntimeError("redis-server did not start")


def register(served: ServedLambdalite, name: str, port: int) -> str:
    body = json.dumps({"StreamName": name, "RedisUrl": f"redis://127.0.0.1:{port}/0"}).encode()
    url = f"{served.endpoint}/_lambdalite/streams"
    request = botocore.awsrequest.AWSRequest(method="POST", url=url, data=body)
    botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(ROOT_KEY, ROOT_SECRET), "lambda", REGION
    ).add_auth(request)
    answer = httpx.post(url, content=body, headers=dict(request.headers.items()))
    answer.raise_for_status()
    arn: str = answer.json()["StreamArn"]
    return arn


def drained(client: redis.Redis, stream: str, last: bytes | str) -> bool:
    groups: Any = client.xinfo_groups(stream)
    return bool(groups) and groups[0]["last-delivered-id"] == last and groups[0]["pending"] == 0


def run_case(served: ServedLambdalite, port: int, entries: int, batch_size: int) -> float:
    lam = served.client()
    name = f"bench-{batch_size}-{entries}"
    served.deploy(lam, name)
    arn = register(served, name, port)
    mapping = lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST", BatchSize=batch_size
    )
    while lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] != "Enabled":
        time.sleep(0.05)
    client = redis.Redis(port=port)
    pipe = client.pipeline(transaction=False)
    for i in range(entries):
        pipe.xadd(name, {"data": json.dumps({"n": i})})
    started = time.perf_counter()
    last = pipe.execute()[-1]
    while not drained(client, name, last):
        time.sleep(0.01)
    return time.perf_counter() - started


def idle_latency(served: ServedLambdalite, port: int, samples: int) -> list[float]:
    lam = served.client()
    name = "bench-latency"
    served.deploy(lam, name)
    arn = register(served, name, port)
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn, StartingPosition="LATEST", BatchSize=1
    )
    client = redis.Redis(port=port)
    time.sleep(2)  # the mapping settles and its poller idles (XREAD BLOCK)
    found = []
    for i in range(samples):
        started = time.perf_counter()
        last = client.xadd(name, {"data": str(i)})
        while not drained(client, name, last):
            time.sleep(0.001)
        found.append(time.perf_counter() - started)
        time.sleep(0.2)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, {platform.platform()}, "
        f"Python {platform.python_version()}"
    )
    work = Path(tempfile.mkdtemp(prefix="stream-bench-"))
    redis_process, port = start_redis(work)
    served = ServedLambdalite(work / "data")
    try:
        for batch_size in (10, 100, 1000):
            seconds = run_case(served, port, args.entries, batch_size)
            print(
                f"{args.entries} entries, BatchSize {batch_size}: {seconds:.2f} s, "
                f"{args.entries / seconds:,.0f} records/s",
                flush=True,
            )
        latency = idle_latency(served, port, 30)
        print(
            f"one entry on an idle mapping, XADD -> acknowledged: p50 "
            f"{statistics.median(latency) * 1000:.1f} ms, max {max(latency) * 1000:.1f} ms"
        )
    finally:
        served.stop()
        redis_process.terminate()
        redis_process.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
