"""Reading labelled utterances from JSONL files: one ``{"text": ..., "intent": ...}`` object a line,
the format ``intentroute generate`` writes and ``train``, ``evaluate`` and ``tune`` read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import CLARIFY

__all__ = ["json_lines", "read_extra", "read_jsonl", "read_jsonl_rows"]


def json_lines(path: str | Path, what: str = "data file") -> Iterator[tuple[int, dict[str, Any], str]]:
    """``(line number, object, line)`` for each non-blank line of a JSONL file. A file that cannot
    be read, is not UTF-8, or has a line that is not a JSON object is a :class:`ConfigError`
    naming the file (as ``what``) and the line."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=str(p)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", source=str(p)) from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {n}: not valid JSON: {exc.msg}", source=str(p)) from exc
        if not isinstance(row, dict):
            raise ConfigError(f"line {n}: expected a JSON object, got {line[:80]!r}", source=str(p))
        yield n, row, line


def read_jsonl(path: str | Path) -> tuple[list[str], list[str]]:
    """Texts and intents of a ``{"text", "intent"}`` JSONL file; errors name the file and line."""
    rows = read_jsonl_rows(path)
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def read_jsonl_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``{"text", "intent", ...}`` JSONL file, checked as :func:`read_jsonl` checks
    them, with any other fields they have (the generator's ``template_id``)."""
    p = Path(path)
    rows: list[dict[str, Any]] = []
    for n, row, line in json_lines(p):
        if not isinstance(row.get("text"), str) or not isinstance(row.get("intent"), str):
            raise ConfigError(f'line {n}: expected {{"text": str, "intent": str}}, got {line[:80]!r}', source=str(p))
        if not row["intent"].strip():
            raise ConfigError(f"line {n}: the intent is empty (an intent needs a name)", source=str(p))
        rows.append(row)
    if not rows:
        raise ConfigError("no examples", source=str(p))
    return rows


#: A reviewed row is used for training only with this ``review`` value (``intentroute review``).
ACCEPTED = "accepted"
REVIEW_STATES = ("pending", ACCEPTED, "rejected")
#: A verdict-log answer (``"source": "llm"``, not reviewed) below this confidence is not used as a
#: label: the LLM layer's default threshold, under which the cascade would not have taken it either.
LLM_MIN_CONFIDENCE = 0.5


def read_extra(paths: Any) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """The labelled examples of extra training files, and what was left out of them.

    A file is JSONL of ``{"text", "intent", ...}``: reviewed verdicts (``intentroute review``'s
    output), the LLM layer's verdict log, or real labelled messages. A row with a ``review`` field
    is used only when it is ``"accepted"``; a row the LLM abstained on (``"intent": null``, or an
    ``"abstained"`` reason, or the fallback ``clarify``) and an answer to a restricted question
    (``restricted_to``: the best of the intents offered, maybe not the right one) are never used as
    labels, nor is an unreviewed verdict-log answer below :data:`LLM_MIN_CONFIDENCE`. A routed
    record (one with a ``layer``) is an error: its intent is the cascade's own. Errors name the
    file and line.
    """
    pairs: list[tuple[str, str]] = []
    report = {"rows": 0, "not_accepted": 0, "abstained": 0, "restricted": 0, "low_confidence": 0}
    for path in [paths] if isinstance(paths, str | Path) else list(paths):
        p = Path(path)
        for n, row, line in json_lines(p, "extra examples"):
            if not isinstance(row.get("text"), str):
                raise ConfigError(
                    f'line {n}: expected {{"text": str, "intent": str}}, got {line[:80]!r}', source=str(p)
                )
            if "layer" in row:
                raise ConfigError(
                    f"line {n}: a routed record (it has a 'layer'), not a labelled example: its intent is the "
                    f"cascade's own answer; review the file first (intentroute review {p.name} --out FILE)",
                    source=str(p),
                )
            report["rows"] += 1
            review = row.get("review")
            if review is not None and review not in REVIEW_STATES:
                raise ConfigError(
                    f"line {n}: review must be one of {', '.join(REVIEW_STATES)}, got {review!r}", source=str(p)
                )
            intent = row.get("intent")
            if intent is None or intent == CLARIFY or row.get("abstained"):
                report["abstained"] += 1
                continue
            if not isinstance(intent, str) or not intent.strip():
                raise ConfigError(f"line {n}: the intent must be a non-empty string, got {intent!r}", source=str(p))
            if row.get("restricted_to") is not None:  # the best of the intents offered, maybe not the right one
                report["restricted"] += 1
                continue
            if review is not None and review != ACCEPTED:
                report["not_accepted"] += 1
                continue
            confidence = row.get("confidence")
            if (
                review is None
                and row.get("source") == "llm"
                and not (isinstance(confidence, int | float) and confidence >= LLM_MIN_CONFIDENCE)
            ):
                report["low_confidence"] += 1
                continue
            pairs.append((row["text"], intent.strip()))
    return pairs, report
