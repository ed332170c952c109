"""Frozen value types shared by every part of intentroute.

A layer answers with a :class:`LayerResult`; the cascade answers with a :class:`Route`, whose
``trace`` holds one :class:`TraceStep` per layer consulted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .validation import is_number

__all__ = [
    "CLARIFY",
    "OUT_OF_SCOPE",
    "Candidate",
    "LayerResult",
    "Outcome",
    "Policy",
    "Route",
    "TraceStep",
    "ranked",
]

#: The label of the fallback route: the cascade is not sure enough and the app should ask.
CLARIFY = "clarify"

#: Gold labels that mean "no intent: the cascade should clarify": ``oos`` (CLINC150's), ``none``
#: (the generator's background class) and ``clarify`` itself. Tuning and evaluation both use them.
OUT_OF_SCOPE = ("oos", "none", CLARIFY)

#: What happened at one layer of the cascade.
Outcome = Literal["accepted", "rejected", "abstained", "unavailable", "error"]


def _jsonable(value: Any) -> Any:
    """Turn ``value`` into something :func:`json.dumps` accepts (unknown objects become ``str``)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    return str(value)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ranked answer of a layer: an intent and a score in [0, 1].

    >>> Candidate("quotes", 0.9)
    Candidate(intent='quotes', score=0.9)
    """

    intent: str
    score: float

    def __post_init__(self) -> None:
        if not isinstance(self.intent, str) or not self.intent:
            raise ValueError(f"Candidate intent must be a non-empty string, got {self.intent!r}")
        score = self.score
        if not is_number(score):
            raise ValueError(f"Candidate score must be a number, got {score!r}")
        if not (0.0 <= float(score) <= 1.0):  # also rejects NaN
            raise ValueError(f"Candidate score must lie in [0, 1], got {score!r} for {self.intent!r}")
        object.__setattr__(self, "score", float(score))

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "score": self.score}


def ranked(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """Candidates best first: by score, ties by intent name (the order of ``LayerResult.candidates``).

    >>> [c.intent for c in ranked([Candidate("quotes", 0.4), Candidate("facts", 0.8), Candidate("activity", 0.4)])]
    ['facts', 'activity', 'quotes']
    """
    return tuple(sorted(candidates, key=lambda c: (-c.score, c.intent)))


@dataclass(frozen=True, slots=True)
class LayerResult:
    """What a layer answers for one utterance.

    ``candidates`` are ranked best first (the constructor sorts them). An empty result means the
    layer abstains. ``extracted`` holds parameters the layer found; ``evidence`` short strings that
    say why (matched rules, a model's label ...); ``meta`` anything else worth keeping.

    >>> r = LayerResult([Candidate("quotes", 0.4), Candidate("facts", 0.8)])
    >>> r.top.intent
    'facts'
    >>> LayerResult().abstained
    True
    """

    candidates: Sequence[Candidate] = ()
    extracted: Mapping[str, Any] = field(default_factory=dict)
    evidence: Sequence[str] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        cands = tuple(self.candidates)
        for c in cands:
            if not isinstance(c, Candidate):
                raise TypeError(f"LayerResult candidates must be Candidate objects, got {c!r}")
        object.__setattr__(self, "candidates", ranked(cands))
        object.__setattr__(self, "evidence", tuple(str(e) for e in self.evidence))
        object.__setattr__(self, "extracted", dict(self.extracted))
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def top(self) -> Candidate | None:
        """The best candidate, or ``None`` when the layer abstains."""
        return self.candidates[0] if self.candidates else None

    @property
    def abstained(self) -> bool:
        return not self.candidates

    @classmethod
    def from_scores(cls, scores: Mapping[str, float], **kwargs: Any) -> LayerResult:
        """Build a result from ``{intent: score}``, dropping zero scores."""
        return cls([Candidate(i, s) for i, s in scores.items() if s > 0.0], **kwargs)


@dataclass(frozen=True, slots=True)
class Policy:
    """When the cascade accepts a layer's answer.

    The top candidate is accepted when its score is at least ``threshold`` and it leads the
    runner-up by at least ``margin``. ``force`` accepts any non-empty answer (the legacy pipeline's
    ``TORCH_ROUTER_FORCE``).

    >>> Policy(threshold=0.75, margin=0.1).decide([Candidate("quotes", 0.9)])
    (True, 'score 0.900 >= threshold 0.750')
    """

    threshold: float = 0.0
    margin: float = 0.0
    force: bool = False

    def __post_init__(self) -> None:
        for name in ("threshold", "margin"):
            v = getattr(self, name)
            if not is_number(v, 0.0, 1.0):
                raise ValueError(f"Policy {name} must be a number in [0, 1], got {v!r}")
            object.__setattr__(self, name, float(v))
        if not isinstance(self.force, bool):
            raise ValueError(f"Policy force must be true or false, got {self.force!r}")

    def decide(self, candidates: Sequence[Candidate]) -> tuple[bool, str]:
        """Return ``(accepted, reason)`` for ranked ``candidates``."""
        if not candidates:
            return False, "abstained (no candidate)"
        top = candidates[0]
        if self.force:
            return True, f"forced (score {top.score:.3f})"
        if top.score < self.threshold:
            return False, f"score {top.score:.3f} < threshold {self.threshold:.3f}"
        if len(candidates) > 1 and self.margin > 0.0:
            second = candidates[1]
            gap = top.score - second.score
            if gap < self.margin:
                return False, (
                    f"ambiguous: {top.intent} {top.score:.3f} vs {second.intent} "
                    f"{second.score:.3f} (gap {gap:.3f} < margin {self.margin:.3f})"
                )
            return True, (
                f"score {top.score:.3f} >= threshold {self.threshold:.3f}, gap {gap:.3f} >= margin {self.margin:.3f}"
            )
        return True, f"score {top.score:.3f} >= threshold {self.threshold:.3f}"

    def to_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "margin": self.margin, "force": self.force}


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One layer consulted by the cascade: what it said and what the cascade made of it."""

    layer: str
    outcome: Outcome
    reason: str
    candidates: tuple[Candidate, ...] = ()
    policy: Policy | None = None
    micros: float = 0.0
    evidence: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "outcome": self.outcome,
            "accepted": self.accepted,
            "reason": self.reason,
            "candidates": [c.to_dict() for c in self.candidates],
            "policy": self.policy.to_dict() if self.policy else None,
            "micros": round(self.micros, 3),
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Route:
    """The cascade's final answer for one utterance.

    ``layer`` names who decided (``"fallback"`` when nobody was confident enough).
    """

    intent: str
    confidence: float
    layer: str
    candidates: tuple[Candidate, ...] = ()
    extracted: Mapping[str, Any] = field(default_factory=dict)
    missing_params: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    trace: tuple[TraceStep, ...] = ()

    @property
    def is_clarify(self) -> bool:
        return self.intent == CLARIFY

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (``json.dumps(route.to_dict())`` always works)."""
        return {
            "intent": self.intent,
            "confidence": self.confidence,
            "layer": self.layer,
            "candidates": [c.to_dict() for c in self.candidates],
            "extracted": _jsonable(self.extracted),
            "missing_params": list(self.missing_params),
            "meta": _jsonable(self.meta),
            "trace": [s.to_dict() for s in self.trace],
        }

    def explain(self) -> str:
        """A few human-readable lines: the decision, then one line per layer consulted."""
        lines = [f"intent: {self.intent}  confidence: {self.confidence:.3f}  decided by: {self.layer}"]
        if self.extracted:
            params = ", ".join(f"{k}={v}" for k, v in self.extracted.items())
            lines.append(f"extracted: {params}")
        if self.missing_params:
            lines.append(f"missing: {', '.join(self.missing_params)}")
        lines.append("trace:")
        for i, step in enumerate(self.trace, 1):
            pol = ""
            if step.policy is not None:
                pol = f" [threshold {step.policy.threshold:g}, margin {step.policy.margin:g}"
                pol += ", forced]" if step.policy.force else "]"
            lines.append(f"  {i}. {step.layer}{pol}: {step.outcome} - {step.reason} ({step.micros:.0f} us)")
            if step.candidates:
                lines.append("     " + _fmt_candidates(step.candidates))
            for ev in step.evidence:
                lines.append(f"     evidence: {ev}")
        return "\n".join(lines)


def _fmt_candidates(cands: Iterable[Candidate]) -> str:
    return "  ".join(f"{c.intent} {c.score:.3f}" for c in cands)
