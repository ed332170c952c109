"""The learning loop: what the LLM answered becomes the classifier's next training data.

Route traffic with the LLM layer's verdict log on (``INTENTROUTE_LLM_LOG``, ``log_file=``), or
keep the routed records (``intentroute route --input ... --output ...``); then

1. :func:`read_traffic` reads them: the LLM's verdicts, grouped by text, what it abstained on,
   and which layer decided each routed record;
2. :func:`review_rows` turns the verdicts into rows to review, each with the LLM's label and
   confidence and what the classifier says, disagreements and low confidence first, merged with
   an earlier review file so that a reviewer's decisions are kept and a rerun changes nothing;
3. ``intentroute train --extra review.jsonl`` (or ``generate --extra``) trains on the accepted
   rows (:func:`intentroute.data.read_extra`), never on one in the validation or test split.

:func:`traffic_view` is the loop's report: the share of traffic each layer decided, and the words
of the escalated utterances the classifier has no feature for, ranked: the next templates to write.
``intentroute review`` is the command.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from ._io import atomic_write_bytes
from .data.generate import text_key
from .data.jsonl import ACCEPTED, LLM_MIN_CONFIDENCE, REVIEW_STATES, json_lines
from .errors import ConfigError
from .evaluate import unknown_words
from .types import CLARIFY

#: The name a route decided by no layer carries (``Route.layer`` of the cascade's fallback).
FALLBACK_LAYER = "fallback"


@dataclass
class Verdicts:
    """The LLM's answers for one text (by its words: :func:`~intentroute.data.generate.text_key`)."""

    text: str
    labels: Counter[str] = field(default_factory=Counter)
    confidence_sum: dict[str, float] = field(default_factory=dict)

    def add(self, intent: str, confidence: float) -> None:
        self.labels[intent] += 1
        self.confidence_sum[intent] = self.confidence_sum.get(intent, 0.0) + confidence

    @property
    def intent(self) -> str:
        """The label given most often (on a tie, the one given with the higher mean confidence)."""
        return max(self.labels, key=lambda k: (self.labels[k], self.confidence_sum[k] / self.labels[k], k))

    @property
    def seen(self) -> int:
        return sum(self.labels.values())

    @property
    def confidence(self) -> float:
        """The mean confidence of the answers that gave :attr:`intent`."""
        return self.confidence_sum[self.intent] / self.labels[self.intent]


@dataclass
class Traffic:
    """What :func:`read_traffic` read.

    ``verdicts``: the LLM's usable answers by text. ``records``: lines read. ``by_layer``: routed
    records per deciding layer (a verdict log's lines count as the LLM's). ``escalated``: the texts
    the rules and the classifier did not answer (decided by the LLM or by nobody). ``abstained``:
    escalations the LLM named no intent for (or the fallback took); ``restricted``: answers to a
    restricted question (the best of the intents offered); neither is ever a label.
    """

    verdicts: dict[str, Verdicts] = field(default_factory=dict)
    records: int = 0
    by_layer: Counter[str] = field(default_factory=Counter)
    escalated: list[str] = field(default_factory=list)
    abstained: int = 0
    restricted: int = 0
    unusable: int = 0  # a label not among the intents, or a text without words


def read_traffic(
    paths: Iterable[str | Path],
    *,
    intents: Sequence[str] | None = None,
    llm_layer: str = "llm",
    fallback: str = CLARIFY,
    text_field: str = "text",
    prefix: str = "",
) -> Traffic:
    """Read verdict logs and routed-record files (JSONL; a line of either kind in any file).

    A verdict-log line (``"source": "llm"``) is an LLM answer. A routed record (one with
    ``prefix + "layer"``, as ``intentroute route --output`` writes them) counts for its deciding
    layer; it is an LLM answer when ``llm_layer`` decided it. An answer can become a label only
    when it names one of ``intents`` (when given) other than ``fallback`` and was not restricted.
    Errors name the file and the line.
    """
    out = Traffic()
    known = None if intents is None else set(intents)
    layer_key, intent_key, conf_key = prefix + "layer", prefix + "intent", prefix + "confidence"
    for path in paths:
        p = Path(path)
        for n, row, line in json_lines(p, "the traffic file"):
            text = row.get(text_field)
            if not isinstance(text, str):
                raise ConfigError(f"line {n}: no {text_field!r} string in {line[:80]!r}", source=str(p))
            if row.get("source") == "llm" and layer_key not in row:
                layer = llm_layer
                intent, confidence = row.get("intent"), row.get("confidence")
            elif isinstance(row.get(layer_key), str):
                layer = row[layer_key]
                intent, confidence = row.get(intent_key), row.get(conf_key)
            else:
                raise ConfigError(
                    f"line {n}: neither a verdict-log line (source 'llm') nor a routed record "
                    f"(a {layer_key!r} field): {line[:80]!r}",
                    source=str(p),
                )
            out.records += 1
            out.by_layer[layer] += 1
            if layer not in (llm_layer, FALLBACK_LAYER):
                continue
            out.escalated.append(text)
            if layer == FALLBACK_LAYER or intent is None or intent == fallback or row.get("abstained"):
                out.abstained += 1
                continue
            if row.get("restricted_to") is not None:
                out.restricted += 1
                continue
            if not isinstance(intent, str) or not _is_unit(confidence):
                raise ConfigError(
                    f"line {n}: an answer needs an intent string and a confidence in [0, 1], got {line[:80]!r}",
                    source=str(p),
                )
            if known is not None and intent not in known:
                out.unusable += 1
                continue
            key = text_key(text)
            if not key:
                out.unusable += 1
                continue
            out.verdicts.setdefault(key, Verdicts(text)).add(intent, float(confidence))
    return out


def _is_unit(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0


def review_rows(
    traffic: Traffic,
    classifier: Any,
    *,
    existing: Sequence[dict[str, Any]] = (),
    accept_all: bool = False,
    min_confidence: float = LLM_MIN_CONFIDENCE,
) -> list[dict[str, Any]]:
    """The review file's rows: one per text the LLM labelled.

    Each row: ``text``, ``intent`` (the LLM's label, the one given most often), ``review``
    (``pending``, ``accepted`` or ``rejected``), ``llm_confidence`` (the mean of the answers
    giving that label), ``seen`` (answers read), ``classifier_intent`` and
    ``classifier_confidence`` (``classifier``'s top candidate, ``None`` when it has none: a layer
    with ``route_batch``), ``agree``, and ``labels`` when the LLM gave the text more than one.
    Sorted so that disagreements come first, then the LLM's lowest confidence.

    ``existing`` (an earlier review file's rows) is merged: a row a reviewer decided (accepted or
    rejected) keeps its decision and its intent, which a reviewer may have corrected; a row of a
    text not in ``traffic`` is kept as it is. So reviewing the same traffic twice gives the same
    rows. ``accept_all`` accepts every pending row whose ``llm_confidence`` is at least
    ``min_confidence`` (an unattended loop; the default is the LLM layer's default threshold).
    """
    previous: dict[str, dict[str, Any]] = {}
    for old in existing:
        previous.setdefault(text_key(old["text"]), old)
    keys = list(traffic.verdicts)
    texts = [traffic.verdicts[k].text for k in keys]
    results = classifier.route_batch(texts) if texts else []
    rows: list[dict[str, Any]] = []
    for key, result in zip(keys, results, strict=True):
        v = traffic.verdicts[key]
        top = result.top
        intent = v.intent
        row: dict[str, Any] = {
            "text": v.text,
            "intent": intent,
            "review": "pending",
            "llm_confidence": round(v.confidence, 4),
            "seen": v.seen,
            "classifier_intent": top.intent if top else None,
            "classifier_confidence": round(top.score, 4) if top else None,
            "agree": bool(top and top.intent == intent),
        }
        if len(v.labels) > 1:
            row["labels"] = dict(v.labels.most_common())
        before = previous.pop(key, None)
        if before is not None and before.get("review", "pending") != "pending":
            row["review"], row["intent"] = before["review"], before["intent"]
            row["agree"] = bool(top and top.intent == row["intent"])
        if accept_all and row["review"] == "pending" and row["llm_confidence"] >= min_confidence:
            row["review"] = ACCEPTED
        rows.append(row)
    rows.extend(previous.values())
    rows.sort(key=lambda r: (bool(r.get("agree")), r.get("llm_confidence", 1.0), r["text"]))
    return rows


def read_review(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a review file :func:`write_review` wrote (and a reviewer may have edited);
    a row without ``text``, ``intent`` or a known ``review`` is a :class:`ConfigError` naming its
    line."""
    p = Path(path)
    rows: list[dict[str, Any]] = []
    for n, row, line in json_lines(p, "the review file"):
        if (
            not isinstance(row.get("text"), str)
            or not isinstance(row.get("intent"), str)
            or row.get("review") not in REVIEW_STATES
        ):
            raise ConfigError(
                f"line {n}: a review row needs text, intent and review ({', '.join(REVIEW_STATES)}); "
                f"got {line[:80]!r}; is this a review file?",
                source=str(p),
            )
        rows.append(row)
    return rows


def write_review(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write review rows as JSONL, atomically (a crash leaves the old file whole)."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    atomic_write_bytes(Path(path), data.encode("utf-8"))


def traffic_view(traffic: Traffic, model: Any = None, *, top: int = 20) -> dict[str, Any]:
    """The loop's view of routed traffic: the share each layer decided, the share escalated past
    the classifier, what the LLM abstained on, and (``model``: the classifier layer's scoring model)
    the words of the escalated utterances the classifier has no feature for, each counted once per
    utterance and ranked: what the templates lack."""
    n = max(1, traffic.records)
    view: dict[str, Any] = {
        "records": traffic.records,
        "per_layer": {k: round(v / n, 4) for k, v in traffic.by_layer.most_common()},
        "escalated": len(traffic.escalated),
        "escalated_share": round(len(traffic.escalated) / n, 4),
        "llm_labelled_texts": len(traffic.verdicts),
        "abstained": traffic.abstained,
        "restricted": traffic.restricted,
        "unusable": traffic.unusable,
    }
    if model is not None and getattr(model, "vocab", None) is not None:
        view["unknown_words"] = dict(unknown_words(traffic.escalated, model).most_common(top))
    return view


def summary_lines(view: dict[str, Any], rows: Sequence[dict[str, Any]]) -> list[str]:
    """What ``intentroute review`` prints."""
    layers = ", ".join(f"{k} {v:.1%}" for k, v in view["per_layer"].items())
    states = Counter(r["review"] for r in rows)
    lines = [
        f"{view['records']} records: {layers}",
        f"escalated past the classifier: {view['escalated']} ({view['escalated_share']:.1%}); the LLM labelled "
        f"{view['llm_labelled_texts']} texts, abstained on {view['abstained']}, answered {view['restricted']} "
        f"restricted questions, {view['unusable']} answers unusable (an unknown intent, no words)",
        f"review rows: {len(rows)} ({', '.join(f'{states[s]} {s}' for s in REVIEW_STATES)}), "
        f"{sum(not r.get('agree') for r in rows)} where the classifier disagrees",
    ]
    if view.get("unknown_words"):
        lines.append(
            "words of escalated utterances the classifier has no feature for: "
            + ", ".join(f"{w} ({c})" for w, c in view["unknown_words"].items())
        )
    return lines
