"""Frozen value types shared by every part of intentroute.

A layer answers with a :class:`LayerResult`; the cascade answers with a :class:`Route`, whose
``trace`` holds one :class:`TraceStep` per layer consulted. About 420 lines: :class:`LayerResult`
and :class:`Route` are written by hand rather than as dataclasses, with their equality, repr and
pickling, because their explanations (evidence, trace) are built only when read.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import FrozenInstanceError, dataclass
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

    @classmethod
    def trusted(cls, intent: str, score: float) -> Candidate:
        """A candidate built without the checks, for a layer whose values are valid by
        construction (a non-empty intent, a float in [0, 1]): a third of the cost.

        >>> Candidate.trusted("quotes", 0.5) == Candidate("quotes", 0.5)
        True
        """
        c = object.__new__(cls)
        _set_intent(c, intent)
        _set_score(c, score)
        return c

    def to_dict(self) -> dict[str, Any]:
        return {"intent": self.intent, "score": self.score}


def _setters(cls: type, *names: str) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a frozen class's slots (their descriptors' ``__set__``), for the class's
    own constructors: a field set a third faster than through ``object.__setattr__``."""
    return tuple(getattr(cls, name).__set__ for name in names)


_set_intent, _set_score = _setters(Candidate, "intent", "score")


def ranked(candidates: Iterable[Candidate]) -> tuple[Candidate, ...]:
    """Candidates best first: by score, ties by intent name (the order of ``LayerResult.candidates``).

    >>> [c.intent for c in ranked([Candidate("quotes", 0.4), Candidate("facts", 0.8), Candidate("activity", 0.4)])]
    ['facts', 'activity', 'quotes']
    """
    cands = tuple(candidates)
    for a, b in itertools.pairwise(cands):  # (most come ranked already: a layer sorts them)
        if a.score < b.score or (a.score == b.score and a.intent > b.intent):
            return tuple(sorted(cands, key=lambda c: (-c.score, c.intent)))
    return cands


class _Frozen:
    """A value whose attributes cannot be set after ``__init__`` (as a frozen dataclass)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


#: evidence given as a function: called once, when someone reads it (the trace, ``explain()``)
Evidence = Sequence[str] | Callable[[], Iterable[str]]


def _evidence_now(evidence: Evidence) -> tuple[str, ...]:
    if not callable(evidence):
        return tuple(str(e) for e in evidence)
    try:
        return tuple(str(e) for e in evidence())
    except Exception as exc:  # a lazy explanation must not turn reading a trace into a crash
        return (f"evidence unavailable: {type(exc).__name__}: {exc}",)


class LayerResult(_Frozen):
    """What a layer answers for one utterance.

    ``candidates`` are ranked best first (the constructor sorts them). An empty result means the
    layer abstains. ``extracted`` holds parameters the layer found; ``evidence`` short strings that
    say why (matched rules, a model's label ...), given as a sequence or as a function that builds
    them, called only when someone reads ``evidence``; ``meta`` anything else worth keeping.

    >>> r = LayerResult([Candidate("quotes", 0.4), Candidate("facts", 0.8)])
    >>> r.top.intent
    'facts'
    >>> LayerResult().abstained
    True
    >>> LayerResult([Candidate("quotes", 0.9)], evidence=lambda: ["built when read"]).evidence
    ('built when read',)
    """

    __slots__ = ("_evidence", "candidates", "extracted", "meta")
    _evidence: Evidence
    candidates: tuple[Candidate, ...]
    extracted: dict[str, Any]
    meta: dict[str, Any]

    def __init__(
        self,
        candidates: Iterable[Candidate] = (),
        extracted: Mapping[str, Any] | None = None,
        evidence: Evidence = (),
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        cands = tuple(candidates)
        for c in cands:
            if not isinstance(c, Candidate):
                raise TypeError(f"LayerResult candidates must be Candidate objects, got {c!r}")
        _set_candidates(self, ranked(cands) if len(cands) > 1 else cands)
        _set_extracted(self, dict(extracted) if extracted else {})
        _set_meta(self, dict(meta) if meta else {})
        _set_evidence(self, evidence if callable(evidence) else _evidence_now(evidence))

    @classmethod
    def trusted(
        cls, candidates: tuple[Candidate, ...], evidence: Evidence = (), meta: dict[str, Any] | None = None
    ) -> LayerResult:
        """A result built without the checks and copies, for a layer whose values are valid by
        construction: ``candidates`` a tuple of :class:`Candidate` already ranked, ``evidence`` a
        function or a tuple of strings, ``meta`` a dict the result may keep (no parameters).

        >>> LayerResult.trusted((Candidate("quotes", 0.9),), meta={"n": 1}) == LayerResult(
        ...     [Candidate("quotes", 0.9)], meta={"n": 1})
        True
        """
        r = object.__new__(cls)
        _set_candidates(r, candidates)
        _set_extracted(r, {})
        _set_meta(r, {} if meta is None else meta)
        _set_evidence(r, evidence)
        return r

    @property
    def evidence(self) -> tuple[str, ...]:
        """Why the layer answered so (built on first read when given as a function)."""
        ev = self._evidence
        if isinstance(ev, tuple):
            return ev
        ev = _evidence_now(ev)
        object.__setattr__(self, "_evidence", ev)
        return ev

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

    def _fields(self) -> tuple[Any, ...]:
        return (self.candidates, self.extracted, self.evidence, self.meta)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, LayerResult)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # (its dicts are not hashable)

    def __repr__(self) -> str:
        c, x, e, m = self._fields()
        return f"LayerResult(candidates={c!r}, extracted={x!r}, evidence={e!r}, meta={m!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (LayerResult, self._fields())


_set_candidates, _set_extracted, _set_meta, _set_evidence = _setters(
    LayerResult, "candidates", "extracted", "meta", "_evidence"
)


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

    def accepts(self, candidates: Sequence[Candidate]) -> bool:
        """Whether ranked ``candidates`` are accepted: :meth:`decide`'s answer without its reason.

        >>> Policy(threshold=0.75, margin=0.1).accepts([Candidate("quotes", 0.9), Candidate("facts", 0.85)])
        False
        """
        if not candidates:
            return False
        if self.force:
            return True
        top = candidates[0].score
        if top < self.threshold:
            return False
        return len(candidates) < 2 or self.margin <= 0.0 or top - candidates[1].score >= self.margin

    def decide(self, candidates: Sequence[Candidate]) -> tuple[bool, str]:
        """Return ``(accepted, reason)`` for ranked ``candidates`` (the same answer as :meth:`accepts`)."""
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
    #: the intents the call allowed (``route(text, allowed=...)``), empty when it allowed all
    restricted_to: tuple[str, ...] = ()

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
            **({"restricted_to": list(self.restricted_to)} if self.restricted_to else {}),
        }


class Route(_Frozen):
    """The cascade's final answer for one utterance.

    ``layer`` names who decided (``"fallback"`` when nobody was confident enough). ``trace`` may be
    given as a function that builds it: the cascade does so, and the steps (reasons, evidence) are
    built the first time someone reads ``trace``, ``to_dict()`` or ``explain()``.
    """

    __slots__ = ("_trace", "candidates", "confidence", "extracted", "intent", "layer", "meta", "missing_params")
    _trace: tuple[TraceStep, ...] | Callable[[], Iterable[TraceStep]]
    intent: str
    confidence: float
    layer: str
    candidates: tuple[Candidate, ...]
    extracted: Mapping[str, Any]
    missing_params: tuple[str, ...]
    meta: Mapping[str, Any]

    def __init__(
        self,
        intent: str,
        confidence: float,
        layer: str,
        candidates: tuple[Candidate, ...] = (),
        extracted: Mapping[str, Any] | None = None,
        missing_params: tuple[str, ...] = (),
        meta: Mapping[str, Any] | None = None,
        trace: tuple[TraceStep, ...] | Callable[[], Iterable[TraceStep]] = (),
    ) -> None:
        (  # (the slots' own setters: see _setters)
            set_intent,
            set_confidence,
            set_layer,
            set_candidates,
            set_extracted,
            set_missing,
            set_meta,
            set_trace,
        ) = _ROUTE_SETTERS
        set_intent(self, intent)
        set_confidence(self, confidence)
        set_layer(self, layer)
        set_candidates(self, candidates)
        set_extracted(self, {} if extracted is None else extracted)
        set_missing(self, missing_params)
        set_meta(self, {} if meta is None else meta)
        set_trace(self, trace)

    @property
    def trace(self) -> tuple[TraceStep, ...]:
        """One :class:`TraceStep` per layer consulted, in order (built on first read)."""
        trace = self._trace
        if callable(trace):
            trace = tuple(trace())
            object.__setattr__(self, "_trace", trace)
        return tuple(trace) if not isinstance(trace, tuple) else trace

    @property
    def is_clarify(self) -> bool:
        return self.intent == CLARIFY

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.intent,
            self.confidence,
            self.layer,
            self.candidates,
            self.extracted,
            self.missing_params,
            self.meta,
            self.trace,
        )

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Route)
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # (its dicts are not hashable)

    def __repr__(self) -> str:
        names = ("intent", "confidence", "layer", "candidates", "extracted", "missing_params", "meta", "trace")
        return "Route(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._fields(), strict=True)) + ")"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Route, self._fields())

    def to_dict(self, *, trace: bool = True) -> dict[str, Any]:
        """A JSON-serialisable dict of every field (``json.dumps(route.to_dict())`` always works);
        ``trace=False`` leaves the trace out (and does not build it)."""
        out = {
            "intent": self.intent,
            "confidence": self.confidence,
            "layer": self.layer,
            "candidates": [c.to_dict() for c in self.candidates],
            "extracted": _jsonable(self.extracted),
            "missing_params": list(self.missing_params),
            "meta": _jsonable(self.meta),
        }
        if trace:
            out["trace"] = [s.to_dict() for s in self.trace]
        return out

    def explain(self) -> str:
        """A few human-readable lines: the decision, then one line per layer consulted."""
        lines = [f"intent: {self.intent}  confidence: {self.confidence:.3f}  decided by: {self.layer}"]
        if self.extracted:
            params = ", ".join(f"{k}={v}" for k, v in self.extracted.items())
            lines.append(f"extracted: {params}")
        if self.missing_params:
            lines.append(f"missing: {', '.join(self.missing_params)}")
        allowed = self.meta.get("allowed")
        if allowed:
            lines.append(f"restricted to: {', '.join(map(str, allowed))}")
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


_ROUTE_SETTERS = _setters(
    Route, "intent", "confidence", "layer", "candidates", "extracted", "missing_params", "meta", "_trace"
)


def _fmt_candidates(cands: Iterable[Candidate]) -> str:
    return "  ".join(f"{c.intent} {c.score:.3f}" for c in cands)
