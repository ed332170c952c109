"""Fitting each layer's threshold and margin on labelled validation data.

Every layer is asked once per text; the cascade's decision for any set of policies is then
simulated with NumPy, so thousands of candidate policies cost milliseconds. Out-of-scope examples
(gold label ``oos`` or ``clarify``) count as correct only when the cascade routes them to
``clarify``. Three targets:

- ``"accuracy"``: the highest accuracy over all texts, rejections of in-scope texts counted as
  errors;
- ``"precision:P"``: the highest coverage (share of texts answered) whose precision (accuracy
  among answered texts) is at least ``P``;
- ``"oos_recall:R"``: the largest share of in-scope texts answered correctly while at least ``R``
  of the out-of-scope texts go to ``clarify``.

A level measured on a few hundred validation texts is itself uncertain: out-of-scope sets are
often small (CLINC150 validates on 100), and a threshold that just reaches 0.80 recall on them
reaches less on new queries about half of the time. With ``confidence`` (e.g. 0.95) a level
counts as reached only when the one-sided Clopper-Pearson lower bound of the measured proportion
is at least the level, so the target holds beyond the sample with that confidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import beta

from .errors import ConfigError
from .policies import write_policies
from .types import CLARIFY, OUT_OF_SCOPE, LayerResult, Policy
from .validation import is_number

__all__ = [
    "THRESHOLDS",
    "TuneResult",
    "fit_policies",
    "lower_bound",
    "parse_target",
    "save_policies",
]

THRESHOLDS: tuple[float, ...] = tuple(round(t, 2) for t in np.arange(0.0, 1.0, 0.025))
MARGINS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3)


@dataclass
class TuneResult:
    """Fitted policies and what they achieve on the data they were fitted on."""

    policies: dict[str, Policy]
    target: str
    accuracy: float
    coverage: float
    precision: float
    oos_recall: float | None
    examples: int
    curve: list[dict[str, float]] = field(default_factory=list)
    target_met: bool = True
    fitted: list[str] = field(default_factory=list)
    confidence: float | None = None
    in_scope_correct: float | None = None

    @property
    def goal(self) -> str:
        """The target, with the confidence its level was bounded at: ``"oos_recall:0.8 with 0.95
        confidence"``."""
        return self.target + (f" with {self.confidence:g} confidence" if self.confidence is not None else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "policies": {k: v.to_dict() for k, v in self.policies.items()},
            "target": self.target,
            "accuracy": self.accuracy,
            "coverage": self.coverage,
            "precision": self.precision,
            "oos_recall": self.oos_recall,
            "examples": self.examples,
            "target_met": self.target_met,
            "fitted": self.fitted,
            "confidence": self.confidence,
            "in_scope_correct": self.in_scope_correct,
            "curve": self.curve,
        }


def parse_target(target: str) -> tuple[str, float | None]:
    """``"accuracy"``, ``"precision:0.95"`` or ``"oos_recall:0.8"`` -> ``(kind, level)``."""
    if target == "accuracy":
        return "accuracy", None
    kind, sep, value = target.partition(":")
    if sep and kind in ("precision", "oos_recall"):
        try:
            level = float(value)
        except ValueError:
            level = -1.0
        if 0.0 < level <= 1.0:
            return kind, level
    raise ConfigError(
        f"target must be 'accuracy', 'precision:P' or 'oos_recall:R' with 0 < P, R <= 1, got {target!r}",
        param="target",
    )


def lower_bound(successes: Any, trials: Any, confidence: float | None) -> np.ndarray:
    """The proportion ``successes / trials``, or with ``confidence`` its one-sided Clopper-Pearson
    lower bound (``scipy.stats.beta``); 1.0 where there are no trials. Works elementwise.

    >>> float(lower_bound(80, 100, None)), round(float(lower_bound(80, 100, 0.95)), 3)
    (0.8, 0.723)
    """
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if confidence is None:
            out = np.where(n > 0, k / np.maximum(n, 1), 1.0)
        else:
            out = np.where(k > 0, beta.ppf(1.0 - confidence, np.maximum(k, 1), n - k + 1), 0.0)
            out = np.where(n > 0, out, 1.0)
    return np.asarray(out, dtype=np.float64)


def _layer_table(
    layer: Any, texts: list[str], labels: frozenset[str] | None
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Top intent, top score and runner-up score of one layer for every text (-1: no answer)."""
    results: list[LayerResult | None]
    try:
        batch = getattr(layer, "route_batch", None)
        results = list(batch(texts)) if batch is not None else [layer.route(t) for t in texts]
    except Exception:
        results = []
        for t in texts:
            try:
                results.append(layer.route(t))
            except Exception:
                results.append(None)
    top, s1, s2 = [], np.full(len(texts), -1.0), np.full(len(texts), -1.0)
    for i, r in enumerate(results):
        if r is None or not isinstance(r, LayerResult) or r.abstained:
            top.append(CLARIFY)
            continue
        best = r.candidates[0]
        top.append(best.intent)
        if labels is None or best.intent in labels:
            s1[i] = best.score
            s2[i] = r.candidates[1].score if len(r.candidates) > 1 else 0.0
    return top, s1, s2


def fit_policies(
    cascade: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    target: str = "accuracy",
    thresholds: Sequence[float] = THRESHOLDS,
    margins: Sequence[float] = MARGINS,
    rounds: int = 3,
    confidence: float | None = None,
    layers: Sequence[str] | None = None,
) -> TuneResult:
    """Choose each layer's ``Policy(threshold, margin)`` for ``target`` on labelled data.

    Coordinate search: each round tries every threshold and margin for one layer with the others
    fixed, layer after layer, starting from the cascade's own policies. Ties keep the higher
    threshold (the more cautious policy). When no policy reaches a precision or recall target, the
    result gets as close as it can (the highest precision, or recall, found) and ``target_met`` is
    false. ``confidence`` makes a level count as reached only when its Clopper-Pearson lower bound
    is (see the module's documentation). Returns the policies with the accuracy, coverage,
    precision, out-of-scope recall and share of in-scope texts answered correctly they reach (as
    measured, not bounded), and the risk-coverage curve of the last fitted layer. ``layers``
    names the layers whose policies are fitted (default: all); the others keep their policies.
    """
    kind, level = parse_target(target)
    if confidence is not None and (not is_number(confidence) or not 0.0 < confidence < 1.0):
        raise ConfigError(f"confidence must be between 0 and 1 (exclusive), got {confidence!r}", param="confidence")
    if confidence is not None and kind == "accuracy":
        raise ConfigError(
            "confidence bounds a precision or recall level: use it with 'precision:P' or 'oos_recall:R', "
            f"not {target!r}",
            param="confidence",
        )
    texts, labels = list(texts), list(labels)
    if not texts or len(texts) != len(labels):
        raise ConfigError(f"need as many labels as texts (got {len(texts)} texts, {len(labels)} labels)")
    gold = np.array([CLARIFY if y in OUT_OF_SCOPE else y for y in labels], dtype=object)
    oos = gold == CLARIFY
    n_oos, n_in = int(oos.sum()), int((~oos).sum())
    if kind == "oos_recall" and not n_oos:
        raise ConfigError(
            f"target {target!r} needs out-of-scope examples (labelled {', '.join(map(repr, OUT_OF_SCOPE))})",
            param="target",
        )
    names = cascade.layer_names
    fit = list(names) if layers is None else list(layers)
    unknown = [n for n in fit if n not in names]
    if unknown or not fit:
        raise ConfigError(
            f"layers to fit must be some of the cascade's layers {list(names)}, got {list(fit)}", param="layers"
        )
    fit_idx = [j for j, n in enumerate(names) if n in fit]
    tables = [_layer_table(layer, texts, cascade.labels) for layer in cascade.layers]
    correct_if = [np.array(top, dtype=object) == gold for top, _, _ in tables]
    current = [(p.threshold, p.margin) for p in cascade.policies]

    def outcome(pol: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
        answered = np.zeros(len(texts), dtype=bool)
        correct = np.zeros(len(texts), dtype=bool)
        for (t, m), (_, s1, s2), ok in zip(pol, tables, correct_if, strict=True):
            take = ~answered & (s1 >= t) & (s1 >= 0) & (s1 - s2 >= m)
            correct |= take & ok
            answered |= take
        correct |= ~answered & oos
        return answered, correct

    def value(pol: list[tuple[float, float]]) -> tuple[float, float, float]:
        # compared as tuples: (target met, what to maximise, tie-break by the higher thresholds)
        answered, correct = outcome(pol)
        caution = float(np.mean([t for t, _ in pol]))
        if kind == "accuracy":
            return 1.0, float(correct.mean()), caution
        if kind == "precision":
            reached = float(lower_bound((correct & answered).sum(), answered.sum(), confidence))
            gain = float(answered.mean())
        else:
            reached = float(lower_bound((~answered & oos).sum(), n_oos, confidence))
            gain = float((correct & answered & ~oos).sum() / max(1, n_in))
        if reached + 1e-12 < (level or 0.0):
            return 0.0, reached, caution  # unreachable so far: get as close as possible
        return 1.0, gain, caution

    best = value(current)
    for _ in range(rounds):
        changed = False
        for j in fit_idx:
            for t in thresholds:
                for m in margins:
                    trial = list(current)
                    trial[j] = (float(t), float(m))
                    v = value(trial)
                    if v > best:
                        best, current, changed = v, trial, True
        if not changed:
            break
    target_met = best[0] == 1.0
    answered, correct = outcome(current)
    curve = []
    for t in thresholds:
        trial = list(current)
        trial[fit_idx[-1]] = (float(t), current[fit_idx[-1]][1])
        a, c = outcome(trial)
        curve.append(
            {
                "threshold": float(t),
                "coverage": round(float(a.mean()), 4),
                "precision": round(float((c & a).sum() / a.sum()), 4) if a.any() else 1.0,
                "accuracy": round(float(c.mean()), 4),
                **({"oos_recall": round(float((~a & oos).sum() / n_oos), 4)} if n_oos else {}),
            }
        )
    n_ans = int(answered.sum())
    return TuneResult(
        policies={n: Policy(t, m) for n, (t, m) in zip(names, current, strict=True)},
        target=target,
        accuracy=round(float(correct.mean()), 4),
        coverage=round(float(answered.mean()), 4),
        precision=round(float((correct & answered).sum() / n_ans), 4) if n_ans else 1.0,
        oos_recall=round(float((~answered & oos).sum() / n_oos), 4) if n_oos else None,
        examples=len(texts),
        curve=curve,
        target_met=target_met,
        fitted=[names[j] for j in fit_idx],
        confidence=confidence,
        in_scope_correct=round(float((correct & answered & ~oos).sum() / n_in), 4) if n_in else None,
    )


def save_policies(path: str | Path, result: TuneResult, *, note: str = "") -> Path:
    """Write fitted policies as TOML (``[policies.<layer>] threshold, margin``), atomically: those of
    the layers that were fitted (``result.fitted``; all when it is empty)."""
    header = [
        f"fitted by intentroute tune ({result.goal}) on {result.examples} examples{note}",
        f"accuracy {result.accuracy}, coverage {result.coverage}, precision {result.precision}"
        + (f", out-of-scope recall {result.oos_recall}" if result.oos_recall is not None else ""),
    ]
    # a layer left as configured keeps its configuration's policy
    kept = {n: p for n, p in result.policies.items() if not result.fitted or n in result.fitted}
    return write_policies(path, kept, header=header)
