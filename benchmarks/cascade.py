"""What one utterance costs in the embedded default cascade, stage by stage.

    python benchmarks/cascade.py [--data ../shared/benchmarks]

``intentroute.default_cascade()`` (rules, then the classifier, then extraction of the accepted
intent's parameters) on the embedded model's template-held-out test phrasings (the data of
``make model``: seed 7, split by template, with the background class) and, when the converted
files are in --data, on CLINC150's out-of-scope test queries. Per stage, the median time of one
call (the best of several passes, benchmarks/timing.py): the rules layer alone, the classifier
layer alone, the extractor alone, and the whole ``route()``; then ``route_batch`` throughput
and which layer decided. The same run measures a baseline cascade whose extractor has its own
copy of the domain's slots, as before the classifier and the extractor shared them: the
classifier's slot markers and extraction then each look for the slots in the utterance.
"""

from __future__ import annotations

import argparse
import copy
from collections import Counter
from pathlib import Path

from heldout import brokerage_templates
from timing import p50_us, throughput

import intentroute
from intentroute import Cascade
from intentroute.data import GeneratorConfig, generate
from intentroute.extract import ParamExtractor
from intentroute.train import read_jsonl

ROOT = Path(__file__).resolve().parent.parent


def held_out_texts() -> list[str]:
    """The embedded model's test split: ``intentroute generate --seed 7 --split template --background brokerage``."""
    return [e.text for e in generate(brokerage_templates(), GeneratorConfig(seed=7, split="template")).test]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--n", type=int, default=2000, help="utterances of each set timed (default 2000)")
    args = ap.parse_args()
    shared = intentroute.default_cascade()
    rules, classifier = shared.layers[:2]
    extractor = shared.extractor
    assert isinstance(extractor, ParamExtractor)
    own = ParamExtractor(copy.deepcopy(extractor.slots), extractor.params, extractor.required)
    unshared = Cascade(shared.layers, shared.policies, extractor=own, labels=sorted(shared.labels or []))
    sets = {"held-out brokerage": held_out_texts()[: args.n]}
    oos_file = args.data / "clinc150" / "oos_test.jsonl"
    if oos_file.exists():
        sets["CLINC150 out of scope"] = read_jsonl(oos_file)[0][: args.n]
    rows = {
        "rules layer": rules.route,
        "classifier layer": classifier.route,
        "extraction (quotes)": lambda t: extractor.extract("quotes", t),
        "route(), slots shared": shared.route,
        "route(), slots not shared (baseline)": unshared.route,
    }
    print(f"{'p50 us per utterance':<40}" + "".join(f"{s:>24}" for s in sets))
    for name, fn in rows.items():
        print(f"{name:<40}" + "".join(f"{p50_us(fn, texts):>24.1f}" for texts in sets.values()), flush=True)
    rates = (throughput(shared.route_batch, t, 20000) for t in sets.values())
    print(f"{'route_batch, utterances/s':<40}" + "".join(f"{r:>24,}" for r in rates))
    for name, texts in sets.items():
        decided = Counter(r.layer for r in shared.route_batch(texts))
        shares = ", ".join(f"{k} {v / len(texts):.1%}" for k, v in decided.most_common())
        print(f"{name} ({len(texts)} utterances), decided by: {shares}")


if __name__ == "__main__":
    main()
