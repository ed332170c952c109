"""Restricting a route to the intents a dialogue state expects (``route(text, allowed=...)``).

    python -m benchmarks.restriction

On the embedded model's held-out test split (seed 7, split by template; background examples left
out), accuracy unrestricted and with each utterance restricted to its true intent plus two others
drawn at random (seed 7); then each utterance restricted to every intent but its true one: how
often the true intent comes back (it must never) and where the routes go instead.
"""

from __future__ import annotations

import random
from collections import Counter

import intentroute
from benchmarks.heldout import brokerage_templates
from intentroute.data import GeneratorConfig, generate


def main() -> None:
    cascade = intentroute.default_cascade()
    labels = sorted(cascade.labels or ())
    split = generate(brokerage_templates(), GeneratorConfig(seed=7, split="template"))
    cases = [(e.text, e.intent) for e in split.test if e.intent in labels]
    rng = random.Random(7)
    plain = sum(cascade.route(t).intent == y for t, y in cases)
    three = 0
    for t, y in cases:
        allowed = {y, *rng.sample([label for label in labels if label != y], 2)}
        three += cascade.route(t, allowed=allowed).intent == y
    back, where = 0, Counter()
    for t, y in cases:
        route = cascade.route(t, exclude=[y])
        back += route.intent == y
        where[route.intent if route.intent == "clarify" else "another intent"] += 1
    n = len(cases)
    print(f"{n} held-out utterances with a brokerage intent")
    print(f"accuracy, unrestricted                         {plain / n:.3f}")
    print(f"accuracy, restricted to the true intent + 2    {three / n:.3f}")
    print(f"true intent returned when restricted away      {back} of {n}")
    print(f"  where they went: clarify {where['clarify'] / n:.1%}, another intent {where['another intent'] / n:.1%}")


if __name__ == "__main__":
    main()
