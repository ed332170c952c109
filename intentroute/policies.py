"""The policies file: fitted thresholds and margins per layer, as TOML.

``intentroute tune --out`` writes it and a cascade config reads it (``policies = "./policies.toml"``,
and the embedded domain's ``policies.toml``)::

    [policies.torch_bow]
    threshold = 0.55
    margin = 0.0
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._io import atomic_write_bytes
from .errors import ConfigError
from .types import Policy

__all__ = ["load_policies", "write_policies"]


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(name: str) -> str:
    """``name`` as a TOML key: bare when it can be, else a quoted string (``"my.rules v2"``)."""
    return name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)


def write_policies(path: str | Path, policies: Mapping[str, Policy], *, header: Sequence[str] = ()) -> Path:
    """Write ``policies`` as a policies file, atomically, each ``header`` line as a comment."""
    lines = [f"# {line}" for line in header]
    for name, pol in policies.items():
        if lines:
            lines.append("")
        lines += [f"[policies.{_toml_key(name)}]", f"threshold = {pol.threshold}", f"margin = {pol.margin}"]
        if pol.force:
            lines.append("force = true")
    out = Path(path)
    atomic_write_bytes(out, ("\n".join(lines) + "\n").encode("utf-8"))
    return out


def load_policies(path: str | Path) -> dict[str, Policy]:
    """Read a policies file written by :func:`write_policies` (or by hand)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read policies file: {exc.strerror or exc}", source=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", source=str(p)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(p)) from exc
    table = data.get("policies")
    if not isinstance(table, dict):
        raise ConfigError("expected [policies.<layer>] tables", source=str(p))
    out = {}
    for name, spec in table.items():
        if not isinstance(spec, dict) or set(spec) - {"threshold", "margin", "force"}:
            raise ConfigError(f"[policies.{name}] takes threshold, margin and force", source=str(p), layer=name)
        try:
            out[name] = Policy(spec.get("threshold", 0.0), spec.get("margin", 0.0), spec.get("force", False))
        except ValueError as exc:
            raise ConfigError(str(exc), source=str(p), layer=name) from exc
    return out
