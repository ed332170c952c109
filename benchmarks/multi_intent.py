"""Two requests in one message: ``Cascade.route_all`` on utterances built from held-out phrasings.

    python -m benchmarks.multi_intent [--n 1000]

Two-request set: pairs of the embedded model's held-out test phrasings (seed 7, split by template;
two different brokerage intents), joined by a connector people use ("and", "also", ", and",
"plus", "then", ", then"), the second in lower case half the time: both requests found means
exactly two routes, with the two intents in order, each with the parameters its own part has.
Single-request sets: every held-out phrasing with a brokerage intent, and the ones among them
containing "and" naturally ("bid and ask", "transfers in and out"): how many are split.
"""

from __future__ import annotations

import argparse
import random

import intentroute
from benchmarks.heldout import brokerage_templates
from intentroute.data import GeneratorConfig, generate

CONNECTORS = [" and ", " also ", ", and ", " plus ", " then ", ", then "]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    cascade = intentroute.default_cascade()
    labels = cascade.labels or frozenset()
    split = generate(brokerage_templates(), GeneratorConfig(seed=7, split="template"))
    singles = [(e.text, e.intent) for e in split.test if e.intent in labels]
    rng = random.Random(7)
    found = 0
    params_ok = 0
    for _ in range(args.n):
        (a, ya), (b, yb) = rng.sample(singles, 2)
        while ya == yb:
            b, yb = rng.choice(singles)
        second = b[0].lower() + b[1:] if rng.random() < 0.5 else b
        routes = cascade.route_all(a.rstrip("?!.") + rng.choice(CONNECTORS) + second)
        if [r.intent for r in routes] == [ya, yb]:
            found += 1
            own = [cascade.route(a).extracted, cascade.route(b).extracted]
            params_ok += all(dict(o).items() <= dict(r.extracted).items() for o, r in zip(own, routes, strict=True))
    split_all = sum(len(cascade.route_all(t)) > 1 for t, _ in singles)
    with_and = [t for t, _ in singles if " and " in f" {t.lower()} "]
    split_and = sum(len(cascade.route_all(t)) > 1 for t in with_and)
    print(
        f"two-request utterances: both found (right intents, in order) {found / args.n:.1%} of {args.n}; "
        f"with each part's own parameters {params_ok / args.n:.1%}"
    )
    print(f"single-request held-out phrasings split: {split_all / len(singles):.2%} of {len(singles)}")
    print(f"  of those containing 'and': {split_and} of {len(with_and)} split")


if __name__ == "__main__":
    main()
