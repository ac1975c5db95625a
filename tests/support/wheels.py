"""A local wheel directory for dependency-build tests, downloaded once per session.

Builds in tests install from it with `--no-index --find-links` (the server's
`BuildSettings.find_links`), so they never depend on the package index's speed; only
this download needs the index, and it fails the tests that use it clearly (never hangs)
when the index is unreachable.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

# A small pure-Python package and two with C extensions (manylinux wheels).
PURE = "six==1.17.0"
COMPILED = ("msgpack==1.1.2", "markupsafe==3.0.3")
TIMEOUT_S = 180


def download(directory: Path, *requirements: str) -> Path:
    """Wheels of `requirements` (and what they depend on) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", str(directory),
        "--disable-pip-version-check", "--no-input", "--timeout", "20", "--retries", "1",
        *requirements,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"downloading test wheels ({', '.join(requirements)}) from the package index took "
            f"more than {TIMEOUT_S} s: is the index reachable from this machine?",
            pytrace=False,
        )
    if done.returncode != 0:
        pytest.fail(
            f"cannot download test wheels ({', '.join(requirements)}) from the package index "
            f"(is it reachable?): {done.stderr.strip()[-2000:]}",
            pytrace=False,
        )
    # pytest's directories are private to root; the build user reads this one.
    directory.chmod(0o755)
    for wheel in directory.iterdir():
        wheel.chmod(0o644)
    return directory


def make_wheel(directory: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A pure-Python wheel of our own (for what no index has: a probe package)."""
    dist_info = f"{name}-{version}.dist-info"
    contents = dict(files)
    contents[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    contents[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: lambdalite-tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
    wheel.chmod(0o644)
    return wheel
