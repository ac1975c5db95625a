"""Layer trees on disk, under the data dir's `layers/`:

    content/            PublishLayerVersion's zips and their extracted trees (a CodeStore)
    deps/<digest>/      dependency layers: what pip installed (`python/...`), read-only
    opt/<digest>/       a version's merged /opt when it has more than one part
    staging/<name>/     builds in progress (the build sandbox's writable /build)

A merged /opt is named by the digests of its parts in order, so versions with the same
layers share one; it is made of hard links to the parts' files (no copy: a 2 GB
dependency layer costs inodes, not bytes), with later parts replacing earlier ones'
files, as AWS extracts layers into /opt in order. Everything is built beside its final
name and renamed into place, so a reader sees a whole tree or none.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import tempfile
import uuid
from pathlib import Path

from lambdalite.control.code import CodeStore


class UnsafeTreeError(Exception):
    """A build left something in its tree that a layer must not hold."""


class LayerTrees:
    def __init__(self, layers_dir: Path) -> None:
        self.root = layers_dir
        self.content = CodeStore(layers_dir / "content")
        self._deps = layers_dir / "deps"
        self._opt = layers_dir / "opt"
        self._staging = layers_dir / "staging"

    # -- dependency layers ----------------------------------------------------------------
    def dependency_layer(self, digest: str) -> Path:
        return self._deps / _checked(digest)

    def new_staging(self, uid: int, gid: int) -> Path:
        """An empty directory the build sandbox's unprivileged user may write."""
        self._staging.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(dir=self._staging, prefix="build-"))
        os.chown(path, uid, gid)
        return path

    def discard(self, path: Path) -> None:
        remove_tree(path)

    def install(self, staged: Path, digest: str) -> Path:
        """Make the staged tree the dependency layer `digest`: checked (no links leaving
        it, no devices), owned by root and read-only, then renamed into place. If the
        layer exists already (another build resolved to it), the staged tree goes."""
        final = self.dependency_layer(digest)
        if final.is_dir():
            remove_tree(staged)
            return final
        seal(staged)
        self._deps.mkdir(parents=True, exist_ok=True)
        work = self._deps / f".partial-{uuid.uuid4().hex}"
        os.rename(staged, work)
        try:
            os.rename(work, final)
        except OSError:
            remove_tree(work)
            if not final.is_dir():
                raise
        return final

    def remove_dependency_layer(self, digest: str) -> None:
        _remove_renamed(self.dependency_layer(digest))

    def dependency_layers(self) -> set[str]:
        return _names(self._deps)

    # -- merged /opt --------------------------------------------------------------------
    def opt(self, layer_shas: list[str], dependency: str | None) -> Path | None:
        """The /opt of a version: its layers' trees in order, then its dependency layer
        (None without any). One part is used as it is; more are merged."""
        parts = [self.content.extract(sha) for sha in layer_shas]
        if dependency:
            parts.append(self.dependency_layer(dependency))
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        final = self._opt / opt_name(layer_shas, dependency)
        if final.is_dir():
            return final
        self._opt.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=self._opt, prefix=".partial-"))
        try:
            for part in parts:
                _overlay(part, work)
            seal(work, chown=False)
            try:
                os.rename(work, final)
            except OSError:
                if not final.is_dir():
                    raise
                remove_tree(work)
        except BaseException:
            remove_tree(work)
            raise
        return final

    def merged_trees(self) -> set[str]:
        return _names(self._opt)

    def remove_merged(self, name: str) -> None:
        _remove_renamed(self._opt / _checked(name))

    def clear_staging(self) -> None:
        """Builds in progress died with the server that ran them."""
        if self._staging.is_dir():
            for entry in self._staging.iterdir():
                remove_tree(entry)


def opt_name(layer_shas: list[str], dependency: str | None) -> str:
    """The merged tree's name: a digest of its parts' names, in order."""
    material = json.dumps([list(layer_shas), dependency])
    return hashlib.sha256(material.encode()).hexdigest()


def measure(tree: Path) -> tuple[int, int]:
    """(bytes, files) of a tree: regular files' sizes, each inode counted once."""
    seen: set[tuple[int, int]] = set()
    size = files = 0
    for dirpath, _dirs, names in os.walk(tree):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                size += st.st_size
                files += 1
    return size, files


def seal(root: Path, *, chown: bool = True) -> None:
    """Check a tree and make it read-only: files 0444 (0555 if executable), directories
    0555, owned by root; symlinks must stay inside, and nothing but files, directories
    and symlinks may be there. Raises UnsafeTreeError."""
    real_root = os.path.realpath(root)
    for dirpath, dirs, files in os.walk(root, topdown=False):
        for name in [*files, *dirs]:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                _check_link(real_root, path)
                if chown:
                    os.lchown(path, 0, 0)
            elif stat.S_ISREG(st.st_mode):
                if chown:
                    os.lchown(path, 0, 0)
                os.chmod(path, 0o555 if st.st_mode & 0o111 else 0o444)
            elif not stat.S_ISDIR(st.st_mode):
                relative = os.path.relpath(path, root)
                raise UnsafeTreeError(f"{relative} is not a file, directory or symlink")
        if chown:
            os.lchown(dirpath, 0, 0)
        os.chmod(dirpath, 0o555)


def _check_link(real_root: str, path: str) -> None:
    target = os.readlink(path)
    where = os.path.normpath(os.path.join(os.path.dirname(path), target))
    if os.path.isabs(target) or not (where == real_root or where.startswith(real_root + "/")):
        relative = os.path.relpath(path, real_root)
        raise UnsafeTreeError(f"{relative} is a symlink to {target!r}, outside the layer")


def _overlay(part: Path, into: Path) -> None:
    """Hard-link `part`'s files into `into`, replacing what is there (later wins)."""
    for dirpath, dirs, files in os.walk(part):
        relative = os.path.relpath(dirpath, part)
        target_dir = into if relative == "." else into / relative
        for name in dirs:
            dest = target_dir / name
            source = Path(dirpath) / name
            if source.is_symlink():
                _replace(dest)
                os.symlink(os.readlink(source), dest)
                continue
            if (dest.exists() and not dest.is_dir()) or dest.is_symlink():
                _replace(dest)
            dest.mkdir(exist_ok=True)
        for name in files:
            source, dest = Path(dirpath) / name, target_dir / name
            _replace(dest)
            if source.is_symlink():
                os.symlink(os.readlink(source), dest)
                continue
            try:
                os.link(source, dest)
            except OSError as e:  # another file system: copy instead
                if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                    raise
                shutil.copy2(source, dest)
        # A directory replaced by a link above must not be walked into.
        dirs[:] = [d for d in dirs if not (Path(dirpath) / d).is_symlink()]


def _replace(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        remove_tree(path)


def _names(directory: Path) -> set[str]:
    if not directory.is_dir():
        return set()
    return {p.name for p in directory.iterdir() if not p.name.startswith(".")}


def _checked(digest: str) -> str:
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a lowercase hex digest: {digest!r}")
    return digest


def _remove_renamed(path: Path) -> None:
    # Renamed away first: nobody finds a half-deleted tree under the real name.
    doomed = path.with_name(f".deleting-{uuid.uuid4().hex}")
    with contextlib.suppress(FileNotFoundError):
        os.rename(path, doomed)
        remove_tree(doomed)


def remove_tree(path: Path) -> None:
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return
    # A sealed directory's entries cannot be unlinked until it is writable again.
    for dirpath, dirs, _files in os.walk(path):
        os.chmod(dirpath, 0o700)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(dirpath, d))]
    shutil.rmtree(path)
