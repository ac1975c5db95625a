"""What a function can see and reach from inside its sandbox: its code, its own /tmp, the
runtime — and nothing of the host, of other functions, or of the host's network."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalite.sandbox.pool import SandboxPool
from lambdalite.sandbox.zygote_backend import ZygoteBackend
from tests.sandbox.conftest import Functions, invoke, result

pytestmark = pytest.mark.sandbox

PROBE = """
import os

def can_read(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False

def writable(path):
    try:
        with open(os.path.join(path, ".probe"), "w"):
            pass
        return True
    except OSError:
        return False

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return line.split()[1]

def handler(event, context):
    return {
        "read": {p: can_read(p) for p in event["paths"]},
        "exists": {p: os.path.exists(p) for p in event["paths"]},
        "root": sorted(os.listdir("/")),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "cap_eff": status("CapEff"), "cap_bnd": status("CapBnd"),
        "no_new_privs": status("NoNewPrivs"),
        "writable": {p: writable(p) for p in ["/", "/var/task", "/tmp", "/usr", "/etc"]},
        "cwd": os.getcwd(),
    }
"""


async def test_sees_only_its_code_tmp_and_runtime(
    rooted: tuple[SandboxPool, ZygoteBackend], functions: Functions, tmp_path: Path
) -> None:
    pool, _ = rooted
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "lambdalite.db").write_text("secret")
    other = functions.make("def handler(e, c):\n    return 1\n", name="other")
    spec = functions.make(PROBE, name="probe")
    paths = [
        "/etc/shadow", "/root", "/home", "/sys/fs/cgroup", "/var/task/app.py",
        str(data_dir / "lambdalite.db"), str(other.code_dir / "app.py"),
        str(Path(__file__)), "/proc/1/environ",
    ]  # fmt: skip
    body = result(await invoke(pool, spec, {"paths": paths}))
    assert body["read"] == {
        **dict.fromkeys(paths, False),
        "/var/task/app.py": True,
        "/proc/1/environ": True,  # its own pid 1: the sandbox's init
    }
    assert not any(body["exists"][p] for p in ["/etc/shadow", "/root", "/home", "/sys/fs/cgroup"])
    assert body["root"] == sorted(
        ["bin", "dev", "etc", "lib", "lib64", "opt", "proc", "sbin", "tmp", "usr", "var"]
    )
    assert body["pids"] == [1, 2]  # its init and its runtime, nothing else
    assert (body["uid"], body["gid"], body["groups"]) == (993, 990, [])
    assert int(body["cap_eff"], 16) == 0 and int(body["cap_bnd"], 16) == 0
    assert body["no_new_privs"] == "1"
    assert body["writable"] == {
        "/": False,
        "/var/task": False,
        "/tmp": True,
        "/usr": False,
        "/etc": False,
    }
    assert body["cwd"] == "/var/task"


async def test_tmp_is_private_to_each_sandbox(pool: SandboxPool, functions: Functions) -> None:
    writer = functions.make(
        """
        import os
        def handler(event, context):
            open("/tmp/" + event["name"], "w").write("mine")
            return sorted(os.listdir("/tmp"))
        """
    )
    reader = functions.make(
        """
        import os
        def handler(event, context):
            return sorted(os.listdir("/tmp"))
        """
    )
    name = f"secret-{uuid.uuid4().hex}"
    assert result(await invoke(pool, writer, {"name": name})) == [name]
    assert result(await invoke(pool, reader)) == []
    # The host's /tmp is not the sandbox's either.
    assert not _host_has(f"/tmp/{name}")


def _host_has(path: str) -> bool:
    return os.path.exists(path)


@pytest.fixture
def host_server() -> Iterator[tuple[int, list[object]]]:
    """A TCP server on the host's loopback, standing in for lambdalite's API."""
    accepted: list[object] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, peer = server.accept()
            except OSError:
                continue
            accepted.append(peer)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join()
    server.close()


def _host_address() -> str:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent; picks the outbound address
        return str(probe.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


async def test_host_loopback_and_network_unreachable(
    pool: SandboxPool, functions: Functions, host_server: tuple[int, list[object]]
) -> None:
    port, accepted = host_server
    # The test's own check that the server is reachable from the host: this must succeed.
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    spec = functions.make(
        """
        import socket
        def handler(event, context):
            out = {}
            for host in event["hosts"]:
                try:
                    socket.create_connection((host, event["port"]), timeout=1).close()
                    out[host] = "connected"
                except OSError as e:
                    out[host] = type(e).__name__
            return out
        """
    )
    # Sandboxes have outbound network now: no real external address here (the workplace
    # allows no traffic off this machine); test_network.py covers the internet side
    # against a test host in a namespace of its own.
    hosts = ["127.0.0.1", _host_address()]
    body = result(await invoke(pool, spec, {"hosts": hosts, "port": port}))
    assert "connected" not in body.values(), body
    assert len(accepted) == 1  # only the host's own probe above


async def test_no_new_namespaces_mounts_or_keyrings(
    pool: SandboxPool, functions: Functions
) -> None:
    spec = functions.make(
        """
        import ctypes, os, subprocess
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        def call(name, *args):
            result = getattr(libc, name)(*args)
            return 0 if result >= 0 else ctypes.get_errno()
        def handler(event, context):
            child = subprocess.run(["sh", "-c", "echo forked"], capture_output=True)
            user_ns = subprocess.run(["unshare", "-U", "true"], capture_output=True)
            return {
                "unshare_user": call("unshare", 0x10000000),
                "unshare_net": call("unshare", 0x40000000),
                "mount": call("mount", b"none", b"/tmp", b"tmpfs", 0, None),
                "keyctl": call("syscall", 250, 0, 0, 0),
                "bpf": call("syscall", 321, 0, 0, 0),
                "unshare_binary": user_ns.returncode,
                "subprocess": child.stdout.decode(),
            }
        """
    )
    body = result(await invoke(pool, spec))
    assert body == {
        "unshare_user": 1, "unshare_net": 1, "mount": 1, "keyctl": 1, "bpf": 1,
        "unshare_binary": 1, "subprocess": "forked\n",
    }  # fmt: skip
