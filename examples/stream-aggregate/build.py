"""Build aggregate.zip: the function, with redis-py vendored in (pure Python, so the files
of the copy installed for this Python serve any machine; else pip fetches them).

    python examples/stream-aggregate/build.py [--out DIR]   -> DIR/aggregate.zip
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def redis_files() -> tuple[Path, list[str]]:
    """(the directory they are under, the files' paths relative to it)."""
    try:
        found = importlib.metadata.distribution("redis")
    except importlib.metadata.PackageNotFoundError:
        target = Path(tempfile.mkdtemp(prefix="redis-py-"))
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
        subprocess.run([*pip, "--target", str(target), "redis"], check=True)
        return target, [p.relative_to(target).as_posix() for p in target.rglob("*.py")]
    root = Path(str(found.locate_file("")))
    names = [str(f) for f in found.files or [] if str(f).endswith(".py")]
    return root, [n for n in names if not n.startswith("..")]


def add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible
    info.external_attr = 0o100644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, path.read_bytes())


def build(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "aggregate.zip"
    root, names = redis_files()
    with zipfile.ZipFile(target, "w") as archive:
        for name in sorted(names):
            add(archive, root / name, name)
        add(archive, HERE / "function" / "app.py", "app.py")
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=HERE / "build")
    made = build(parser.parse_args().out)
    print(f"{made} ({made.stat().st_size // 1024} KiB)")
