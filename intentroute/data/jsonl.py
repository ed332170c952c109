"""Reading labelled utterances from JSONL files: one ``{"text": ..., "intent": ...}`` object a line,
the format ``intentroute generate`` writes and ``train``, ``evaluate`` and ``tune`` read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["read_jsonl", "read_jsonl_rows"]


def read_jsonl(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and intents of a ``{"text", "intent"}`` JSONL file; errors name the file and line."""
    rows = read_jsonl_rows(path)
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def read_jsonl_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``{"text", "intent", ...}`` JSONL file, checked as :func:`read_jsonl` checks
    them, with any other fields they have (the generator's ``template_id``)."""
    p = Path(path)
    rows: list[dict[str, Any]] = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read data file: {exc.strerror or exc}", source=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", source=str(p)) from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {n}: not valid JSON: {exc.msg}", source=str(p)) from exc
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("intent"), str):
            raise ConfigError(f'line {n}: expected {{"text": str, "intent": str}}, got {line[:80]!r}', source=str(p))
        if not row["intent"].strip():
            raise ConfigError(f"line {n}: the intent is empty (an intent needs a name)", source=str(p))
        rows.append(row)
    if not rows:
        raise ConfigError("no examples", source=str(p))
    return rows
