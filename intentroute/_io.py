"""Atomic file writing: a crash mid-write never leaves a half-written file where a good one was."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_files",
    "atomic_write_folder",
    "interrupted_save_hint",
    "read_toml_or_json",
]


def read_toml_or_json(path: Path, what: str) -> Any:
    """Parse ``path`` as TOML when it ends in ``.toml``, else as JSON.

    Raises :class:`~intentroute.errors.ConfigError` naming the file: ``cannot read <what>: ...``
    or ``not valid TOML/JSON: ...``.
    """
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=str(path)) from exc
    try:
        text = raw.decode("utf-8")
        return tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not valid {kind}: {exc}", source=str(path)) from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    atomic_write_files({path: data})


def atomic_write_files(files: Mapping[Path, bytes]) -> None:
    """Write several files so that each is either its old content or its complete new content.

    Every file is first written and fsynced under a temporary name beside its target; only when
    all are written are they renamed into place. If anything fails before the renames, no target
    is touched and the temporary files are removed.
    """
    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fchmod(fh.fileno(), 0o666 & ~_umask())  # mkstemp's 0600, as an ordinary file would be
                os.fsync(fh.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
        staged.clear()
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


@contextlib.contextmanager
def atomic_output(path: Path, *, text: bool = True) -> Iterator[Any]:
    """A file to write ``path`` through, streamed: it is written under a temporary name beside
    ``path`` and renamed into place only when the block ends without an error, so a partial
    output never stands where a complete one would (a failed or killed run leaves nothing at
    ``path``; its temporary file is removed, or left as ``.<name>.*.partial`` by a kill)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") if text else os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for every thread)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_write_folder(target: Path, files: Mapping[str, bytes]) -> None:
    """Replace the folder ``target`` with one holding exactly ``files`` (name -> content), each
    file with the mode an ordinary file would get (0644 under the usual umask).

    The files are written and fsynced into a new folder beside ``target``, then swapped in with
    two renames, so a reader never sees a mix of old and new files and a crash never leaves a
    half-written folder where the old one was: at worst ``target`` is briefly absent while the
    previous folder sits complete in ``.<name>.old-*`` (:func:`interrupted_save_hint` names it).
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        os.chmod(staged, 0o777 & ~_umask())  # mkdtemp makes it private; the folder holds ordinary data
        for name, data in files.items():
            with open(staged / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(staged, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    _remove_leftovers(target)


#: a staging folder this old belongs to a save that was killed, not to one under way
_STALE_SECONDS = 600


def _remove_leftovers(target: Path) -> None:
    """Remove what killed saves of ``target`` left beside it, now that ``target`` is complete:
    every ``.<name>.old-*`` (a previous folder) and the ``.<name>.new-*`` staging folders older
    than ten minutes (a younger one may be another process's save under way)."""
    now = time.time()
    for leftover in target.parent.glob(f".{target.name}.*-*"):
        kind = leftover.name[len(target.name) + 2 :].split("-", 1)[0]
        try:
            stale = kind == "old" or (kind == "new" and now - leftover.stat().st_mtime > _STALE_SECONDS)
        except OSError:
            continue
        if stale and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def interrupted_save_hint(folder: Path) -> str:
    """Where the previous folder is when :func:`atomic_write_folder` died between its two renames."""
    if folder.exists() or not folder.parent.exists():
        return ""
    olds = sorted(folder.parent.glob(f".{folder.name}.old-*"))
    return f" (a save was interrupted; the previous bundle is complete at {olds[-1]})" if olds else ""
