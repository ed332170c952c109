"""The rule layer: per-intent keywords, phrases and regular expressions with weights.

A rules file (TOML or JSON) maps each intent to weighted rules::

    [intents.quotes]
    keywords = { quote = 0.7, price = 0.55 }           # one word each
    phrases  = { "trading at" = 0.85 }                # word sequences
    regexes  = { '\\bhow much is \\w+ (stock|shares?)\\b' = 0.7 }

Everything matches against :func:`intentroute.text.normalize` of the utterance (case-folded words
separated by single spaces, apostrophes removed), and keywords and phrases in the file are
normalised the same way, so ``"what's"`` in a file matches "Whats" and "what’s". Weights lie in
[-1, 1]. An intent's score combines its matched positive weights as a noisy-OR,
``1 - prod(1 - w)``, then multiplies by ``1 - |w|`` for each matched negative weight, so it stays
in [0, 1] and every matched rule is listed as evidence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import read_toml_or_json
from ..domains import DEFAULT_DOMAIN, available_domains, domain_file_or_path
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..patterns import BoundedPattern, Prefilter
from ..text import Scanner, normal_form, normalize
from ..types import Candidate, LayerResult, ranked
from ..validation import is_number

__all__ = ["Rule", "RuleLayer", "load_rules"]

_KINDS = ("keywords", "phrases", "regexes")
_RANKINGS_SIZE = 4096  # distinct sets of matched rules whose ranking a layer keeps


def _by_place(hit: tuple[int, int, Any]) -> tuple[int, int]:
    return hit[0], hit[1]


@dataclass(frozen=True, slots=True)
class Rule:
    """One weighted rule of one intent."""

    intent: str
    kind: str
    pattern: str
    weight: float

    def describe(self) -> str:
        """One line for the trace: ``quotes: phrase 'trading at' +0.88``."""
        kind = {"keywords": "keyword", "phrases": "phrase", "regexes": "regex"}[self.kind]
        pattern = self.pattern if len(self.pattern) <= 60 else self.pattern[:57] + "..."
        return f"{self.intent}: {kind} '{pattern}' {self.weight:+.2f}"


def _read_rules_file(path: Path) -> dict[str, Any]:
    data = read_toml_or_json(path, "rules file")
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a table/object with an 'intents' key", source=str(path))
    return data


def load_rules(source: Mapping[str, Any] | str | Path) -> tuple[list[Rule], str]:
    """Read and validate rules from a mapping or a TOML/JSON file; returns ``(rules, source name)``.

    Raises :class:`~intentroute.errors.ConfigError` naming the file, the intent and the rule.
    """
    if isinstance(source, Mapping):
        data: Mapping[str, Any] = source
        where = "<rules dict>"
    else:
        path = Path(source)
        data = _read_rules_file(path)
        where = str(path)
    unknown = sorted(set(data) - {"version", "intents", "description"})
    if unknown:
        raise ConfigError(
            f"unknown top-level keys {unknown}; expected 'intents' (and optional 'version', 'description')",
            source=where,
        )
    intents = data.get("intents")
    if not isinstance(intents, Mapping) or not intents:
        raise ConfigError("'intents' must be a non-empty table of intent -> rules", source=where)
    rules: list[Rule] = []
    for intent, spec in intents.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"intent {intent!r}: rules must be a table with {_KINDS}", source=where)
        bad = sorted(set(spec) - set(_KINDS))
        if bad:
            raise ConfigError(f"intent {intent!r}: unknown rule kinds {bad}; expected {list(_KINDS)}", source=where)
        n_before = len(rules)
        for kind in _KINDS:
            entries = spec.get(kind, {})
            if not isinstance(entries, Mapping):
                raise ConfigError(f"intent {intent!r}: {kind} must be a table of pattern -> weight", source=where)
            for pattern, weight in entries.items():
                rules.append(_make_rule(where, str(intent), kind, pattern, weight))
        if len(rules) == n_before:
            raise ConfigError(f"intent {intent!r} has no rules", source=where)
    return rules, where


def _make_rule(where: str, intent: str, kind: str, pattern: Any, weight: Any) -> Rule:
    loc = f"intent {intent!r}: {kind}[{pattern!r}]"
    if not is_number(weight, -1.0, 1.0) or weight == 0:
        raise ConfigError(f"{loc}: weight must be a non-zero number in [-1, 1], got {weight!r}", source=where)
    if not isinstance(pattern, str) or not pattern.strip():
        raise ConfigError(f"{loc}: pattern must be a non-empty string", source=where)
    if kind == "regexes":
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"{loc}: invalid regular expression: {exc}", source=where) from exc
        return Rule(intent, kind, pattern, float(weight))
    norm = normalize(pattern)
    if not norm:
        raise ConfigError(f"{loc}: pattern has no letters or digits", source=where)
    if kind == "keywords" and " " in norm:
        raise ConfigError(f"{loc}: a keyword is one word; put {pattern!r} under phrases", source=where)
    return Rule(intent, kind, norm, float(weight))


class RuleLayer:
    """Scores intents by weighted keyword, phrase and regex rules.

    Parameters
    ----------
    rules:
        A rules file (TOML or JSON), a mapping in the same shape, or the name of an embedded
        domain (``"brokerage"``, the default) whose ``rules.toml`` is used.
    name:
        The layer's name in the cascade and the trace.
    min_score:
        Candidates scoring below this are dropped (keeps the trace short).

    Examples
    --------
    >>> layer = RuleLayer({"intents": {"quotes": {"phrases": {"trading at": 0.85}}}})
    >>> layer.route("What's TSLA trading at?").top
    Candidate(intent='quotes', score=0.85)
    """

    def __init__(
        self,
        rules: Mapping[str, Any] | str | Path = DEFAULT_DOMAIN,
        *,
        name: str = "rules",
        min_score: float = 0.0,
    ) -> None:
        # the embedded domains' rules are the library's own: re's speed; anything else is a
        # user's file, searched under a time bound (intentroute.patterns)
        trusted = isinstance(rules, str) and rules in available_domains() and not Path(rules).exists()
        if isinstance(rules, str | Path):
            rules = domain_file_or_path(rules, "rules.toml")
        self.rules, self.source = load_rules(rules)
        if not isinstance(name, str) or not name:
            raise ConfigError("must be a non-empty string", param="name", value=name)
        self.name = name
        if not is_number(min_score, 0.0, 1.0):
            raise ConfigError(f"must be a number in [0, 1], got {min_score!r}", param="min_score", value=min_score)
        self.min_score = float(min_score)
        self.intents: tuple[str, ...] = tuple(dict.fromkeys(r.intent for r in self.rules))
        #: the multi-word phrases that count for an intent, read as one unit (Cascade.route_all
        #: does not cut an utterance inside one: "bid and ask")
        self.phrases: frozenset[str] = frozenset(
            r.pattern for r in self.rules if r.kind == "phrases" and r.weight > 0 and " " in r.pattern
        )
        # One pass of an automaton over the normalised text finds every keyword and phrase (as
        # " phrase ", so only whole words match) and every string some regex cannot match without
        # (intentroute.patterns.Prefilter): a regex is searched only when one of its strings is there.
        grams: dict[str, list[Rule]] = {}
        self._regexes: list[tuple[Any, Rule, frozenset[str] | None]] = []  # (pattern, rule, its strings)
        # equal rules ("what's" and "whats" both normalise to one keyword) count once: the first
        # of them is looked for, the others not, so rules are told apart by identity (a rule's
        # own hash is a Python-level function; ids hash in C)
        for r in dict.fromkeys(self.rules):
            if r.kind in ("keywords", "phrases"):
                grams.setdefault(r.pattern, []).append(r)
            else:
                strings = Prefilter(r.pattern).strings
                rx = re.compile(r.pattern) if trusted else BoundedPattern(r.pattern)
                self._regexes.append((rx, r, None if strings is None else frozenset(strings)))
        # each key: the keywords and phrases it is (or None), and the regexes (by index) that need it
        keys: dict[str, tuple[tuple[Rule, ...] | None, tuple[int, ...]]] = {
            f" {g} ": (tuple(rs), ()) for g, rs in grams.items()
        }
        for j, (_, _, required) in enumerate(self._regexes):
            for needed in required or ():
                same, needing = keys.get(needed, (None, ()))
                keys[needed] = (same, (*needing, j))
        self._unfiltered = tuple(j for j, (_, _, required) in enumerate(self._regexes) if required is None)
        self._scanner = Scanner(keys)
        self._rankings: dict[tuple[int, ...], tuple[float, tuple[Candidate, ...]]] = {}  # (see _result)

    def matches(self, text: str) -> list[Rule]:
        """Every rule that matches ``text``: its keywords and phrases by where they start (the longest
        first), then its regexes in the file's order; each rule once."""
        norm = normal_form(text)[0]
        if not norm:
            return []
        phrases = []
        searched = set(self._unfiltered)  # the regexes to search: those one of whose strings is there
        for end, (n, (rules, needing)) in self._scanner.ends(f" {norm} "):
            if rules is not None:
                phrases.append((end - n, -n, rules))  # (by start: one before the start, for all)
            if needing:
                searched.update(needing)
        hits: list[Rule] = []
        if phrases:
            if len(phrases) > 1:
                phrases.sort(key=_by_place)
            for _, _, rules in phrases:
                hits.extend(rules)
        if searched:
            regexes = self._regexes
            for j in sorted(searched):  # (in the file's order)
                rx, r, _ = regexes[j]
                if rx.search(norm):
                    hits.append(r)
        if len(hits) > 1 and len(set(map(id, hits))) < len(hits):  # a phrase said twice counts once
            return list(dict.fromkeys(hits))
        return hits

    def route(self, text: str) -> LayerResult:
        return self._result(self.matches(text))

    def route_batch(self, texts: Sequence[str]) -> list[LayerResult]:
        """``[self.route(t) for t in texts]`` (the rules' work is per text: this saves the
        cascade's per-text calls)."""
        matches, result = self.matches, self._result
        return [result(matches(t)) for t in texts]

    def _result(self, hits: list[Rule]) -> LayerResult:
        if not hits:
            return LayerResult.trusted((), meta={"rules_matched": 0})
        # the same rules matched in the same order give the same ranking, worked out once and
        # kept with the min_score it was ranked under: a domain's texts match a few hundred
        # distinct sets (keyed by the rules' ids: the layer holds its rules, so their ids stay theirs)
        key = tuple(map(id, hits))
        kept = self._rankings.get(key)
        if kept is None or kept[0] != self.min_score:
            kept = (self.min_score, self._rank(hits))
            if len(self._rankings) >= _RANKINGS_SIZE:
                self._rankings.clear()
            self._rankings[key] = kept
        candidates = kept[1]
        if not candidates:
            return LayerResult.trusted((), meta={"rules_matched": len(hits)})
        return LayerResult.trusted(candidates, _RulesSaid(candidates, hits), {"rules_matched": len(hits)})

    def _rank(self, hits: list[Rule]) -> tuple[Candidate, ...]:
        """The intents ``hits`` score at least ``min_score`` for, ranked (see the module's doc)."""
        pos: dict[str, float] = {}
        neg: dict[str, float] = {}
        for r in hits:
            if r.weight > 0:
                pos[r.intent] = pos.get(r.intent, 1.0) * (1.0 - r.weight)
            else:
                neg[r.intent] = neg.get(r.intent, 1.0) * (1.0 + r.weight)
        min_score = self.min_score
        scores = {}
        for i, miss in pos.items():
            s = (1.0 - miss) * neg.get(i, 1.0)
            if s > 0.0 and s >= min_score:
                scores[i] = min(1.0, max(0.0, s))
        return ranked([Candidate.trusted(i, s) for i, s in scores.items()])

    def status(self) -> dict[str, Any]:
        return {
            "available": True,
            "source": self.source,
            "rules": len(self.rules),
            "intents": list(self.intents),
        }


class _RulesSaid:
    """The rules' evidence for one answer: the matched rules of its top three intents, described
    when someone reads it (one object, where a closure was a function and two cells)."""

    __slots__ = ("candidates", "hits")

    def __init__(self, candidates: tuple[Candidate, ...], hits: list[Rule]) -> None:
        self.candidates, self.hits = candidates, hits

    def __call__(self) -> list[str]:
        shown = {c.intent for c in self.candidates[:3]}
        return [r.describe() for r in self.hits if r.intent in shown]


@hookimpl
def register_layers(register: Any) -> None:
    register("rules", RuleLayer)
