"""The embedded default cascade answers every recorded utterance exactly as it did when recorded.

``tests/data/recorded_routes.jsonl`` holds the held-out test split of ``make model``'s data and the
domain's probe lists, each with the intent, deciding layer, confidence, extracted and missing
parameters the default cascade gave (``python -m tests.record_routes`` rewrites it, for a change
of the embedded model or rules made on purpose). Refactors and speed-ups must leave it unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import intentroute
from tests.record_routes import DIGEST, answer, digest, generated_utterances

FIXTURE = Path(__file__).parent / "data" / "recorded_routes.jsonl"
ROWS = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def cascade() -> intentroute.Cascade:
    return intentroute.default_cascade()


def test_the_fixture_covers_the_held_out_split_and_the_probes() -> None:
    layers = {r["layer"] for r in ROWS}
    assert len(ROWS) > 2500 and {"rules", "torch_bow", "fallback"} <= layers


def test_every_recorded_utterance_routes_exactly_as_recorded(cascade: intentroute.Cascade) -> None:
    changed = []
    for row in ROWS:
        now = answer(cascade.route(row["text"]))
        before = {k: row[k] for k in now}
        if now != before:
            changed.append((row["text"], before, now))
    assert changed == [], f"{len(changed)} of {len(ROWS)} routes changed; first: {changed[:3]}"


def test_a_batch_routes_the_recorded_utterances_as_recorded(cascade: intentroute.Cascade) -> None:
    # the batch path sums in another order: the same decisions, confidences equal to 1e-9
    routes = cascade.route_batch([r["text"] for r in ROWS])
    for row, route in zip(ROWS, routes, strict=True):
        now = answer(route)
        assert (now["intent"], now["layer"], now["extracted"], now["missing"]) == (
            row["intent"],
            row["layer"],
            row["extracted"],
            row["missing"],
        ), row["text"]
        assert now["confidence"] == pytest.approx(row["confidence"], abs=1e-9), row["text"]


def test_ten_thousand_generated_utterances_route_exactly_as_recorded(cascade: intentroute.Cascade) -> None:
    # the decisions of 10,000 generated utterances (brokerage and out-of-domain), as one digest
    recorded = json.loads(DIGEST.read_text(encoding="utf-8"))
    texts = generated_utterances()
    assert len(texts) == recorded["count"]
    assert digest([cascade.route(t) for t in texts]) == recorded["sha256"]
    assert digest(cascade.route_batch(texts)) == recorded["sha256"]
