"""A code package's dependencies: requirements.txt, or pyproject.toml's [project]
dependencies, read from the zip in memory and normalised into a build request.

The key of a build is a digest of the normalised requirement lines, the interpreter and
the platform (`interpreter.py`): the same requirements deployed twice, by two functions
or two versions of one, are built once. Comments, blank lines, line continuations and
order do not change the key; anything else does. The lines are not interpreted here:
pip reads them in the build sandbox, and a line it cannot use fails the build with its
own error, as `pip install -r` would.
"""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
import zipfile
from dataclasses import dataclass

from lambdalite.control.zipcheck import EntryKind, ZipManifest
from lambdalite.errors import InvalidParameterValueException
from lambdalite.layers.interpreter import platform_tag, python_version

REQUIREMENTS_TXT = "requirements.txt"
PYPROJECT_TOML = "pyproject.toml"
MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class BuildRequest:
    key: str  # hex: names the build among the account's
    requirements: tuple[str, ...]  # normalised lines, sorted
    source: str  # the file they came from
    python: str
    platform: str

    @property
    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.requirements)


def request_for(lines: list[str], source: str) -> BuildRequest | None:
    """The build of `lines` (None when there is nothing to install)."""
    normalised = tuple(sorted(set(_logical_lines(lines))))
    if not normalised:
        return None
    python, platform = python_version(), platform_tag()
    material = json.dumps([list(normalised), python, platform])
    key = hashlib.sha256(material.encode()).hexdigest()
    return BuildRequest(key, normalised, source, python, platform)


def from_package(data: bytes, manifest: ZipManifest) -> BuildRequest | None:
    """The package's build request: requirements.txt at its root wins over pyproject.toml;
    None when it has neither (or they list nothing). Raises InvalidParameterValueException
    for a file that cannot be read (too big, not UTF-8, not TOML)."""
    files = {e.name for e in manifest.entries if e.kind is EntryKind.FILE}
    if REQUIREMENTS_TXT in files:
        return request_for(_read(data, REQUIREMENTS_TXT).splitlines(), REQUIREMENTS_TXT)
    if PYPROJECT_TOML in files:
        return request_for(_pyproject_dependencies(_read(data, PYPROJECT_TOML)), PYPROJECT_TOML)
    return None


def _read(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        if zf.getinfo(name).file_size > MAX_FILE_BYTES:
            raise InvalidParameterValueException(
                f"{name} is larger than {MAX_FILE_BYTES} bytes; list fewer requirements."
            )
        raw = zf.read(name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidParameterValueException(f"{name} is not UTF-8 text.") from None


def _pyproject_dependencies(text: str) -> list[str]:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidParameterValueException(f"pyproject.toml is not valid TOML: {exc}") from None
    project = document.get("project")
    dependencies = project.get("dependencies") if isinstance(project, dict) else None
    if dependencies is None:
        return []
    if not isinstance(dependencies, list) or not all(isinstance(d, str) for d in dependencies):
        raise InvalidParameterValueException(
            "pyproject.toml: [project] dependencies must be a list of strings."
        )
    return dependencies


def _logical_lines(lines: list[str]) -> list[str]:
    """pip's reading of a requirements file: `\\` joins lines, `#` after whitespace (or
    at the start) begins a comment, blank lines go."""
    out: list[str] = []
    pending = ""
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = pending + line, ""
        out.append(line)
    if pending:
        out.append(pending)
    kept = []
    for line in out:
        text = line
        for marker in (" #", "\t#"):
            text = text.split(marker, 1)[0]
        text = "" if text.lstrip().startswith("#") else text
        text = " ".join(text.split())
        if text:
            kept.append(text)
    return kept
