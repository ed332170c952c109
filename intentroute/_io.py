"""Atomic file writing: a crash mid-write never leaves a half-written file where a good one was."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["atomic_write_bytes", "atomic_write_files", "read_toml_or_json"]


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
                os.fsync(fh.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
        staged.clear()
    finally:
        for tmp, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
