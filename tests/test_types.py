from __future__ import annotations

import json
import math

import pytest

from intentroute.types import CLARIFY, Candidate, LayerResult, Policy, Route, TraceStep


def test_candidate_rejects_scores_outside_unit_interval_and_nan() -> None:
    for bad in (-0.1, 1.5, math.nan, math.inf, "0.5", True):
        with pytest.raises(ValueError):
            Candidate("quotes", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Candidate("", 0.5)


def test_layer_result_ranks_candidates_best_first_with_ties_by_name() -> None:
    r = LayerResult([Candidate("b", 0.5), Candidate("c", 0.9), Candidate("a", 0.5)])
    assert [c.intent for c in r.candidates] == ["c", "a", "b"]
    assert r.top == Candidate("c", 0.9)
    assert not r.abstained
    assert LayerResult().abstained and LayerResult().top is None


def test_layer_result_from_scores_drops_zero_scores() -> None:
    r = LayerResult.from_scores({"a": 0.0, "b": 0.3})
    assert [c.intent for c in r.candidates] == ["b"]


def test_values_are_frozen() -> None:
    c = Candidate("a", 0.5)
    with pytest.raises(AttributeError):
        c.score = 0.7  # type: ignore[misc]
    route = Route("a", 0.5, "rules")
    with pytest.raises(AttributeError):
        route.intent = "b"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("policy", "cands", "accepted", "fragment"),
    [
        (Policy(0.75, 0.1), [], False, "abstained"),
        (Policy(0.75, 0.1), [("a", 0.74)], False, "< threshold"),
        (Policy(0.75, 0.1), [("a", 0.75)], True, ">= threshold"),
        (Policy(0.75, 0.1), [("a", 0.9), ("b", 0.85)], False, "ambiguous"),
        (Policy(0.75, 0.1), [("a", 0.9), ("b", 0.79)], True, "gap"),
        (Policy(0.75, 0.0), [("a", 0.9), ("b", 0.9)], True, ">= threshold"),
        (Policy(0.99, 0.5, force=True), [("a", 0.1), ("b", 0.1)], True, "forced"),
    ],
)
def test_policy_decides_on_threshold_margin_and_force(
    policy: Policy, cands: list[tuple[str, float]], accepted: bool, fragment: str
) -> None:
    ok, reason = policy.decide([Candidate(i, s) for i, s in cands])
    assert ok is accepted
    assert fragment in reason


def test_policy_validates_its_fields() -> None:
    for kwargs in ({"threshold": 1.5}, {"margin": -0.1}, {"threshold": "high"}, {"force": "yes"}):
        with pytest.raises(ValueError):
            Policy(**kwargs)  # type: ignore[arg-type]


def test_route_to_dict_is_json_serialisable_even_with_odd_values() -> None:
    step = TraceStep("rules", "accepted", "ok", (Candidate("a", 0.9),), Policy(0.5), 12.5, ("e",))
    route = Route(
        intent="a",
        confidence=0.9,
        layer="rules",
        candidates=(Candidate("a", 0.9),),
        extracted={"symbol": "AAPL", "when": object(), "nan": math.nan, "set": {2, 1}},
        missing_params=("account",),
        meta={"nested": {"t": (1, 2)}},
        trace=(step,),
    )
    d = json.loads(json.dumps(route.to_dict()))
    assert d["intent"] == "a" and d["layer"] == "rules"
    assert d["extracted"]["symbol"] == "AAPL" and d["extracted"]["nan"] is None
    assert d["extracted"]["set"] == [1, 2]
    assert d["trace"][0]["accepted"] is True and d["trace"][0]["policy"]["threshold"] == 0.5
    assert d["missing_params"] == ["account"]
    assert CLARIFY == "clarify"
