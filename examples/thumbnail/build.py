"""Build thumbnail.zip: the function, with Pillow vendored in (its manylinux wheel's files:
the package and the native libraries it loads, `pillow.libs/`).

Pillow's files come from the Pillow installed for this Python (lambdalite's dev extra
installs it), else from its wheel for this Python and machine, fetched by pip. Native
libraries are stored uncompressed: some compress more than 200 times (zero padding), which
lambdalite's zip check refuses as a zip bomb.

    python examples/thumbnail/build.py [--out DIR]      -> DIR/thumbnail.zip
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAX_RATIO = 100  # deflate at most this well; store the rest (lambdalite refuses > 200)


def pillow_files() -> tuple[Path, list[str]]:
    """(the directory they are under, the files' paths relative to it)."""
    try:
        found = importlib.metadata.distribution("pillow")
    except importlib.metadata.PackageNotFoundError:
        return downloaded()
    root = Path(str(found.locate_file("")))
    names = [str(f) for f in found.files or [] if not str(f).endswith((".pyc", "RECORD"))]
    return root, [n for n in names if not n.startswith("..")]


def downloaded() -> tuple[Path, list[str]]:
    target = Path(tempfile.mkdtemp(prefix="pillow-"))
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--only-binary=:all:"),
            *("--no-deps", "--target", str(target), "pillow"),
        ],
        check=True,
    )
    return target, [p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()]


def add(archive: zipfile.ZipFile, path: Path, name: str) -> None:
    data = path.read_bytes()
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible
    info.external_attr = (path.stat().st_mode & 0o777 | 0o100000) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    if data:
        ratio = len(data) / max(1, len(zlib.compress(data, 6)))
        if ratio > MAX_RATIO:
            info.compress_type = zipfile.ZIP_STORED
    archive.writestr(info, data)


def build(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / "thumbnail.zip"
    root, names = pillow_files()
    with zipfile.ZipFile(target, "w") as archive:
        for name in sorted(names):
            if (root / name).is_file():
                add(archive, root / name, name)
        for source in sorted((HERE / "function").glob("*.py")):
            add(archive, source, source.name)
    return target


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=HERE / "build")
    made = build(parser.parse_args().out)
    print(f"{made} ({made.stat().st_size // 1024} KiB)")
