"""What one utterance costs in the embedded default cascade, stage by stage.

    python -m benchmarks.cascade [--data ../shared/benchmarks]

``intentroute.default_cascade()`` (rules, then the classifier, then extraction of the accepted
intent's parameters) on the embedded model's template-held-out test phrasings (the data of
``make model``: seed 7, split by template, with the background class) and, when the converted
files are in --data, on CLINC150's out-of-scope test queries. Per stage, the median time of one
call (the best of several passes, benchmarks/timing.py): the rules layer alone, the classifier
layer alone, the extractor alone, and the whole ``route()``; then ``route_batch`` throughput on
each set as one batch, every utterance in it once (with a baseline without the batch's slot
memory, an extractor without ``remembering()``: the extraction then looks again for the slots the classifier
found) and which layer decided. The same run measures a baseline cascade whose extractor has
its own copy of the domain's slots, as before the classifier and the extractor shared them: the
classifier's slot markers and extraction then each look for the slots in the utterance.

Those medians are of repeated passes, in which every word has been seen before. "First sight"
routes each utterance once through a newly built cascade, so each word the model's vocabulary
lacks is scored for the first time (a typo, a name, another domain's words; BANKING77's test
queries are added for more of them): mean, p50 and p90 of those calls, of the pass with the
lowest mean of three.
"""

from __future__ import annotations

import argparse
import copy
import statistics
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import intentroute
from benchmarks.heldout import brokerage_templates
from benchmarks.timing import one_pass_us, p50_us, quantiles_us, throughput
from intentroute import Cascade
from intentroute.data import GeneratorConfig, generate, read_jsonl
from intentroute.extract import ParamExtractor
from intentroute.features import Featurizer
from intentroute.scoring import BowScorer

ROOT = Path(__file__).resolve().parent.parent


def held_out_texts() -> list[str]:
    """The embedded model's test split: ``intentroute generate --seed 7 --split template --background brokerage``."""
    return [e.text for e in generate(brokerage_templates(), GeneratorConfig(seed=7, split="template")).test]


class _ForgetfulExtractor:
    """The domain's extractor without its ``remembering()`` block: the baseline of the batch row,
    whose extraction looks again for the slots the classifier found in all but the last few."""

    def __init__(self, extractor: ParamExtractor) -> None:
        self._extractor = extractor

    def extract(self, intent: str, text: str) -> tuple[dict[str, Any], list[str]]:
        return self._extractor.extract(intent, text)


def _without_slots(features: Any) -> Featurizer:
    """The same features and vocabulary with no slot markers (the model's marker columns unused)."""
    idf = features.idf_ if features.weighting == "tfidf" else None
    return Featurizer({**features.settings(), "slots": None}, features.vocabulary_, idf)


def first_sight(texts: list[str], passes: int = 3) -> list[float]:
    """Microseconds of each utterance's one ``route()`` through a newly built cascade; of
    ``passes`` passes (each with a new cascade), the one with the lowest mean."""
    best: list[float] = []
    for _ in range(passes):
        times = one_pass_us(intentroute.default_cascade().route, texts)
        if not best or statistics.mean(times) < statistics.mean(best):
            best = times
    return best


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
    # what a user calls, beside the classifier alone: the figures issue 20's targets are about
    scorer = classifier.scorer
    assert scorer is not None
    plain = BowScorer.from_bundle(replace(scorer.bundle, featurizer=_without_slots(scorer.bundle.featurizer)))
    calls = {
        "default_cascade().route": shared.route,
        "classifier probabilities, slot markers": scorer.proba,
        "classifier probabilities, no markers": plain.proba,
    }
    print(f"{'p50 / p99 us per utterance':<40}" + "".join(f"{s:>24}" for s in sets))
    for name, fn in calls.items():
        cells = [quantiles_us(fn, texts) for texts in sets.values()]
        print(f"{name:<40}" + "".join(f"{f'{a} / {b}':>24}" for a, b in cells), flush=True)
    batches = {
        "route_batch": shared.route_batch,
        "classifier batch, slot markers": scorer.proba_batch,
        "classifier batch, no markers": plain.proba_batch,
    }
    print(f"{'utterances/s in one batch':<40}" + "".join(f"{s:>24}" for s in sets))
    for name, fn in batches.items():
        print(f"{name:<40}" + "".join(f"{throughput(fn, t, len(t)):>24,}" for t in sets.values()), flush=True)
    print()
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
    rates = (throughput(shared.route_batch, t, len(t)) for t in sets.values())
    print(f"{'route_batch, utterances/s':<40}" + "".join(f"{r:>24,}" for r in rates))
    forgetful = Cascade(shared.layers, shared.policies, extractor=_ForgetfulExtractor(extractor))
    rates = (throughput(forgetful.route_batch, t, len(t)) for t in sets.values())
    print(f"{'route_batch, no batch memory (baseline)':<40}" + "".join(f"{r:>24,}" for r in rates), flush=True)
    fresh = dict(sets)
    banking_file = args.data / "banking77" / "test.jsonl"
    if banking_file.exists():
        fresh["BANKING77 test"] = read_jsonl(banking_file)[0][: args.n]
    print(f"\n{'first sight: mean / p50 / p90 us':<40}" + "".join(f"{s:>24}" for s in fresh))
    cells = []
    for texts in fresh.values():
        v = sorted(first_sight(texts))
        cells.append(f"{statistics.mean(v):.0f} / {v[len(v) // 2]:.0f} / {v[int(0.9 * len(v))]:.0f}")
    print(f"{'first sight':<40}" + "".join(f"{c:>24}" for c in cells), flush=True)
    print()
    for name, texts in sets.items():
        decided = Counter(r.layer for r in shared.route_batch(texts))
        shares = ", ".join(f"{k} {v / len(texts):.1%}" for k, v in decided.most_common())
        print(f"{name} ({len(texts)} utterances), decided by: {shares}")


if __name__ == "__main__":
    main()
