"""Turning a directory into a deployment zip, reproducibly.

Entries are sorted and stamped with one fixed time, so deploying an unchanged directory
uploads byte-identical code: the same CodeSha256, and PublishVersion sees "no change".
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = {"__pycache__", ".git", ".venv", ".mypy_cache", ".pytest_cache", "node_modules"}


def package(path: Path) -> bytes:
    """The zip bytes for a directory, or the bytes of an existing .zip file."""
    if path.is_file():
        return path.read_bytes()
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a directory nor a zip file")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in _files(path):
            info = zipfile.ZipInfo(file.relative_to(path).as_posix(), _FIXED_TIME)
            mode = 0o755 if os.access(file, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, file.read_bytes())
    return buffer.getvalue()


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        found.extend(Path(directory) / name for name in sorted(files) if not name.endswith(".pyc"))
    return found
