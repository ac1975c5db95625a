"""CodeStore: code packages stored by content, and their extracted, read-only trees.

Layout under `code_dir` (nothing is created until the first `put` or `extract`):
    blobs/<hex[:2]>/<hex>.zip   the package as uploaded, named by its SHA-256 (hex)
    trees/<hex>/                the package extracted, read-only: a sandbox's /var/task
    tmp/                        blobs being written

Every write lands in a temporary name and is renamed into place, so a reader sees a whole
blob or tree or none, and two processes racing to store or extract the same package both
end with the same result. Blobs are checked by `check_zip` before `put`; `extract` re-runs
its name and symlink checks anyway, since a blob on disk may not have come through us.
Which blobs are still referenced is the caller's business (`blobs()` lists them all).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

from lambdalite.control.zipcheck import EntryKind, ZipManifest, read_entries

_HEX = re.compile(r"[0-9a-f]{64}")
_CHUNK = 64 * 1024


class CodeStoreError(Exception):
    """The store cannot serve a package (not an API error: the caller decides what to say)."""


class CodeNotFoundError(CodeStoreError, LookupError):
    pass


class CodeCorruptError(CodeStoreError):
    pass


class CodeStore:
    def __init__(self, code_dir: Path) -> None:
        self._blobs = code_dir / "blobs"
        self._trees = code_dir / "trees"
        self._tmp = code_dir / "tmp"

    def path(self, sha256: str) -> Path:
        # The name comes from callers and ends up in a path: only a digest may.
        if not _HEX.fullmatch(sha256):
            raise ValueError(f"not a lowercase hex SHA-256: {sha256!r}")
        return self._blobs / sha256[:2] / f"{sha256}.zip"

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise CodeNotFoundError(f"no code package {sha256}") from None

    def unzipped_size(self, sha256: str) -> int:
        """What a stored package expands to: the sizes its entries declare, which
        `check_zip` verified against the real ones before it was stored."""
        try:
            with zipfile.ZipFile(self.path(sha256)) as zf:
                return sum(info.file_size for info in zf.infolist())
        except FileNotFoundError:
            raise CodeNotFoundError(f"no code package {sha256}") from None

    def put(self, data: bytes, manifest: ZipManifest) -> None:
        """Stores `data` durably under its digest; storing the same bytes again is a no-op."""
        if hashlib.sha256(data).hexdigest() != manifest.sha256:
            raise ValueError("the manifest was made for other bytes")
        final = self.path(manifest.sha256)
        if final.is_file():
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix="blob-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fchmod(out.fileno(), 0o444)
                os.fsync(out.fileno())
            os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename, and the shard directory if it is new, must survive a crash too.
        _fsync_dir(final.parent)
        _fsync_dir(self._blobs)

    def extract(self, sha256: str) -> Path:
        """The package's read-only tree, built on first use. Safe to race across processes."""
        final = self._trees / sha256
        if final.is_dir():
            return final
        data = self.read(sha256)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise CodeCorruptError(f"code package {sha256} does not match its digest")
        self._trees.mkdir(parents=True, exist_ok=True)
        # Built beside its final name: renaming a directory into another parent would need
        # write permission on it (to update '..'), which the sealed tree no longer has.
        work = Path(tempfile.mkdtemp(dir=self._trees, prefix=".partial-"))
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                _extract_into(zf, work)
            try:
                os.rename(work, final)
            except OSError:
                if not final.is_dir():
                    raise
                _remove_tree(work)  # another process finished first: use its tree
            else:
                _fsync_dir(self._trees)
        except BaseException:
            _remove_tree(work)
            raise
        return final

    def delete(self, sha256: str) -> None:
        """Removes the blob and its tree. The caller makes sure no sandbox still uses it."""
        tree = self._trees / sha256
        self.path(sha256)  # validates the name before it is used in a path
        # Renamed away first so that nobody finds a half-deleted tree under the real name.
        doomed = self._trees / f".deleting-{uuid.uuid4().hex}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(tree, doomed)
            _remove_tree(doomed)
        self.path(sha256).unlink(missing_ok=True)

    def blobs(self) -> Iterator[str]:
        """The digests of all stored blobs (for garbage collection by the caller)."""
        if not self._blobs.is_dir():
            return
        for shard in sorted(self._blobs.iterdir()):
            for blob in sorted(shard.glob("*.zip")):
                if _HEX.fullmatch(blob.stem) and blob.stem[:2] == shard.name:
                    yield blob.stem


def _extract_into(zf: zipfile.ZipFile, root: Path) -> None:
    links: list[tuple[Path, str]] = []
    for info, entry in read_entries(zf):
        dest = _inside(root, entry.name)
        if entry.kind is EntryKind.DIRECTORY:
            dest.mkdir(parents=True, exist_ok=True)
        elif entry.link_target is not None:  # a symlink
            links.append((dest, entry.link_target))
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            _write_file(zf, info, dest, entry.executable)
    # Links come last: while files are written there is no link a write could follow.
    for dest, target in links:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, dest)
    _seal(root)


def _inside(root: Path, name: str) -> Path:
    dest = Path(os.path.normpath(root / name))
    if root not in dest.parents:
        raise CodeCorruptError(f"zip entry {name!r} would land outside the tree")
    return dest


def _write_file(zf: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, executable: bool) -> None:
    # O_EXCL | O_NOFOLLOW: never write through anything already at that name.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(dest, flags, 0o600), "wb") as out, zf.open(info) as src:
        shutil.copyfileobj(src, out, _CHUNK)
        out.flush()
        os.fchmod(out.fileno(), 0o555 if executable else 0o444)
        # A tree is renamed into place only once whole: after a crash it must not hold
        # empty files under its final name, or the function stays broken.
        os.fsync(out.fileno())


def _seal(root: Path) -> None:
    """Makes every directory read-only (0o555) and durable, deepest first."""
    for dirpath, _dirs, _files in os.walk(root, topdown=False):
        fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
            os.fchmod(fd, 0o555)
        finally:
            os.close(fd)


def _remove_tree(path: Path) -> None:
    if not path.exists():
        return
    # A sealed directory's entries cannot be unlinked until it is writable again.
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, 0o700)
    shutil.rmtree(path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
