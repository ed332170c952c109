"""What background.py and template_splits.py measure on a generated dataset's held-out test split,
and the templates ``make model`` generates its data from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from intentroute import Cascade
from intentroute.data import TemplateSet, load_templates, merge_templates, read_jsonl
from intentroute.domains import domain_path
from intentroute.evaluate import error_analysis
from intentroute.tune import fit_policies


def brokerage_templates(background: bool = True) -> TemplateSet:
    """The brokerage domain's templates, with its background class ``none`` merged in unless
    ``background`` is false (``intentroute generate --background brokerage``, as make model runs)."""
    base = load_templates(domain_path("brokerage", "templates.json"))
    return merge_templates(base, load_templates(domain_path("brokerage", "background.json"))) if background else base


def recipe_cascade(configured: Cascade, layer: Any, val: tuple[list[str], list[str]]) -> Cascade:
    """The cascade ``make model`` fits for a classifier layer: the domain's rules and policies
    (``configured``: the domain's cascade.toml built), then ``layer`` at the threshold ``intentroute
    tune --layer torch_bow --target oos_recall:0.8 --confidence 0.95`` fits on ``val``."""
    labels = sorted(configured.labels or [])
    start = Cascade([configured.layers[0], layer], configured.policies, extractor=configured.extractor, labels=labels)
    fitted = fit_policies(start, *val, target="oos_recall:0.8", confidence=0.95, layers=["torch_bow"])
    return Cascade(start.layers, fitted.policies, extractor=start.extractor, labels=labels)


def in_domain_test(data: Path) -> tuple[list[str], list[str]]:
    """The test split's texts and intents without the background class ``none``."""
    texts, labels = read_jsonl(data / "intent_test.jsonl")
    keep = [i for i, y in enumerate(labels) if y != "none"]
    return [texts[i] for i in keep], [labels[i] for i in keep]


def held_out_row(
    cascade: Any, layer: Any, texts: list[str], labels: list[str], oos: list[str] | None
) -> dict[str, Any]:
    """The cascade's accuracy and clarify share on the in-domain test texts, the classifier layer's
    own accuracy on them (its top candidate, abstentions wrong), the share of the cascade's wrong
    answers with a word the classifier has no feature for (``intentroute evaluate``'s error
    analysis), and the share of ``oos`` (CLINC150's out-of-scope test queries, when given) the
    cascade routes to clarify."""
    routes = cascade.route_batch(texts)
    tops = [r.top.intent if r.top else "clarify" for r in layer.route_batch(texts)]
    errors = error_analysis(texts, labels, [r.intent for r in routes], model=layer.scorer)
    row: dict[str, Any] = {
        "in_domain_test": len(texts),
        "cascade_accuracy": round(float(np.mean([r.intent == y for r, y in zip(routes, labels, strict=True)])), 4),
        "cascade_clarify_share": round(float(np.mean([r.intent == "clarify" for r in routes])), 4),
        "classifier_accuracy": round(float(np.mean([t == y for t, y in zip(tops, labels, strict=True)])), 4),
        "errors_with_unknown_word": errors.get("errors_with_unknown_word"),
        "right_with_unknown_word": errors.get("right_with_unknown_word"),
    }
    if oos is not None:
        row["clinc150_oos_to_clarify"] = round(
            float(np.mean([r.intent == "clarify" for r in cascade.route_batch(oos)])), 4
        )
    return row


def probe_counts(cascade: Any, unanswerable: list[str], labelled: list[tuple[str, str]]) -> tuple[int, int]:
    """How many of ``unanswerable`` the cascade sends to clarify, and how many of the ``labelled``
    ``(text, intent)`` pairs it answers with their intent (the probe lists of
    tests/test_brokerage_routing.py)."""
    clarified = sum(r.intent == "clarify" for r in cascade.route_batch(unanswerable))
    routes = cascade.route_batch([t for t, _ in labelled])
    right = sum(r.intent == intent for r, (_, intent) in zip(routes, labelled, strict=True))
    return clarified, right
