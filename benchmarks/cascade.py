"""What one utterance costs in the embedded default cascade, beside what it cost before and beside
the classifier alone, the legacy pipeline's ``route_intent`` and fastText.

    python -m benchmarks.cascade [--data ../shared/benchmarks] [--baseline REV] [--n 2000]

``intentroute.default_cascade()`` (rules, then the classifier, then extraction of the accepted
intent's parameters) on the embedded model's template-held-out test phrasings (the data of
``make model``: seed 7, split by template, with the background class) and, when the converted
files are in --data, on CLINC150's out-of-scope test queries. In one run:

- ``route`` p50 and p99 (the best of several passes, benchmarks/timing.py) and ``route_batch``
  throughput (each set as one batch, every utterance once), for this tree and for the library at
  git revision ``--baseline`` (default a3fc335, main before the one-pass routing path; checked
  out into a temporary worktree and timed in a new process of this interpreter on the same texts);
- the classifier alone (its probabilities, with and without slot markers: the same model with its
  marker columns unused);
- a legacy-equivalent of the original pipeline's ``route_intent``: the same rules accepted at 0.75
  unless the top two are within 0.1, else a dense torch model as the legacy ``TorchRouter`` runs
  it (a 6,000-wide vector built per utterance, ``nn.Linear``, softmax), accepted at 0.6, then
  extraction (benchmarks/bench_bow.py's re-implementation, trained one epoch: its speed, not its
  accuracy, is compared);
- fastText (2-grams, 25 epochs) trained on the same training split, when the package imports;
- ``route_batch`` after ``gc.freeze()`` (docs/operating.md);
- each stage alone, and "first sight": each utterance routed once through a newly built cascade,
  so each word the vocabulary lacks is scored for the first time (BANKING77's test queries are
  added for more of them): mean, p50 and p90 of the pass with the lowest mean of three.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import intentroute
from benchmarks.bench_bow import legacy_pipeline, train_fasttext
from benchmarks.heldout import brokerage_templates
from benchmarks.timing import one_pass_us, p50_us, quantiles_us, throughput
from intentroute.data import GeneratorConfig, generate, read_jsonl
from intentroute.extract import ParamExtractor
from intentroute.features import Featurizer
from intentroute.layers.rules import RuleLayer
from intentroute.scoring import BowScorer

ROOT = Path(__file__).resolve().parent.parent


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


BASELINE_PROBE = """
import json, sys
import intentroute
from benchmarks.timing import quantiles_us, throughput
sets = json.load(open(sys.argv[1], encoding="utf-8"))
cascade = intentroute.default_cascade()
print(json.dumps({name: [quantiles_us(cascade.route, texts), throughput(cascade.route_batch, texts, len(texts))]
                  for name, texts in sets.items()}))
"""


def at_revision(rev: str, sets: dict[str, list[str]]) -> dict[str, Any]:
    """``route`` p50/p99 and ``route_batch`` throughput of the library at git revision ``rev``."""
    with tempfile.TemporaryDirectory() as tmp:
        tree, data = Path(tmp) / "baseline", Path(tmp) / "sets.json"
        data.write_text(json.dumps(sets), encoding="utf-8")
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), rev], check=True, cwd=ROOT)
        try:
            out = subprocess.run(
                [sys.executable, "-c", BASELINE_PROBE, str(data)],
                capture_output=True,
                text=True,
                check=True,
                cwd=tree,
                env={**os.environ, "PYTHONPATH": str(tree)},
            )
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], check=True, cwd=ROOT)
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def legacy_route_intent(
    rules: RuleLayer, extractor: ParamExtractor, predict: Callable[[str], tuple[str, float]]
) -> Callable[[str], tuple[str, dict[str, Any], list[str]]]:
    """The legacy pipeline's ``route_intent``: rules accepted at 0.75 unless ambiguous (top two
    within 0.1), else the torch model accepted at 0.6, else the rules' answer; then extraction."""

    def route_intent(text: str) -> tuple[str, dict[str, Any], list[str]]:
        cands = rules.route(text).candidates
        ambiguous = len(cands) >= 2 and abs(cands[0].score - cands[1].score) < 0.1
        if cands and cands[0].score >= 0.75 and not ambiguous:
            intent = cands[0].intent
        else:
            label, confidence = predict(text)
            intent = label if confidence >= 0.6 else (cands[0].intent if cands else "clarify")
        return (intent, *extractor.extract(intent, text))

    return route_intent


def _row(name: str, cells: list[str]) -> None:
    print(f"{name:<44}" + "".join(f"{c:>24}" for c in cells), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--n", type=int, default=2000, help="utterances of each set timed (default 2000)")
    ap.add_argument("--baseline", default="a3fc335", help="git revision to time beside this tree ('' for none)")
    args = ap.parse_args()
    shared = intentroute.default_cascade()
    rules, classifier = shared.layers[:2]
    extractor = shared.extractor
    assert isinstance(extractor, ParamExtractor) and isinstance(rules, RuleLayer)
    split = generate(brokerage_templates(), GeneratorConfig(seed=7, split="template"))
    sets = {"held-out brokerage": [e.text for e in split.test][: args.n]}
    oos_file = args.data / "clinc150" / "oos_test.jsonl"
    if oos_file.exists():
        sets["CLINC150 out of scope"] = read_jsonl(oos_file)[0][: args.n]
    train = [(e.text, e.intent) for e in split.train]
    scorer = classifier.scorer
    assert scorer is not None
    plain = BowScorer.from_bundle(replace(scorer.bundle, featurizer=_without_slots(scorer.bundle.featurizer)))
    legacy_predict, legacy_batch = legacy_pipeline(train, epochs=1)
    route_intent = legacy_route_intent(rules, extractor, legacy_predict)
    trained = train_fasttext(train)
    fast = trained[0] if trained is not None else None
    before = at_revision(args.baseline, sets) if args.baseline else None

    print(f"{'p50 / p99 us per utterance':<44}" + "".join(f"{s:>24}" for s in sets))
    now = {name: quantiles_us(shared.route, texts) for name, texts in sets.items()}
    _row("default_cascade().route", [f"{a} / {b}" for a, b in now.values()])
    if before is not None:
        _row(f"  the same at {args.baseline}", [f"{a} / {b}" for (a, b), _ in before.values()])
    calls: dict[str, Callable[[str], Any]] = {
        "legacy-equivalent route_intent (torch)": route_intent,
        "classifier alone, slot markers": scorer.proba,
        "classifier alone, no markers": plain.proba,
    }
    if fast is not None:
        calls["fastText predict"] = fast
    alone = {}
    for name, fn in calls.items():
        cells = [quantiles_us(fn, texts) for texts in sets.values()]
        alone[name] = cells
        _row(name, [f"{a} / {b}" for a, b in cells])
    for i, set_name in enumerate(sets):
        p50 = now[set_name][0]
        ratios = [f"classifier with markers {p50 / alone['classifier alone, slot markers'][i][0]:.1f}x"]
        if before is not None:
            ratios.insert(0, f"{before[set_name][0][0] / p50:.1f}x faster than {args.baseline}")
        print(f"  {set_name}: route p50 " + ", ".join(ratios))

    print(f"\n{'utterances/s in one batch':<44}" + "".join(f"{s:>24}" for s in sets))
    batch_now = [throughput(shared.route_batch, t, len(t)) for t in sets.values()]
    _row("route_batch", [f"{r:,}" for r in batch_now])
    if before is not None:
        _row(f"  the same at {args.baseline}", [f"{b:,}" for _, b in before.values()])
    gc.collect()
    gc.freeze()  # (the cascade and its model, as a server would after loading)
    _row("route_batch after gc.freeze()", [f"{throughput(shared.route_batch, t, len(t)):,}" for t in sets.values()])
    gc.unfreeze()
    batches: dict[str, Callable[[list[str]], Any]] = {
        "legacy-equivalent torch batch (model only)": legacy_batch,
        "classifier batch, slot markers": scorer.proba_batch,
        "classifier batch, no markers": plain.proba_batch,
    }
    if fast is not None:
        batches["fastText, predict per utterance"] = lambda b: [fast(t) for t in b]  # type: ignore[misc]
    for name, fn in batches.items():
        _row(name, [f"{throughput(fn, t, len(t)):,}" for t in sets.values()])
    if before is not None:
        for set_name, rate in zip(sets, batch_now, strict=True):
            print(f"  {set_name}: route_batch {rate / before[set_name][1]:.1f}x {args.baseline}'s throughput")

    print(f"\n{'p50 us per utterance, each stage alone':<44}" + "".join(f"{s:>24}" for s in sets))
    rows = {
        "rules layer": rules.route,
        "classifier layer": classifier.route,
        "extraction (quotes)": lambda t: extractor.extract("quotes", t),
    }
    for name, fn in rows.items():
        _row(name, [f"{p50_us(fn, texts):.1f}" for texts in sets.values()])
    fresh = dict(sets)
    banking_file = args.data / "banking77" / "test.jsonl"
    if banking_file.exists():
        fresh["BANKING77 test"] = read_jsonl(banking_file)[0][: args.n]
    print(f"\n{'first sight: mean / p50 / p90 us':<44}" + "".join(f"{s:>24}" for s in fresh))
    cells = []
    for texts in fresh.values():
        v = sorted(first_sight(texts))
        cells.append(f"{statistics.mean(v):.0f} / {v[len(v) // 2]:.0f} / {v[int(0.9 * len(v))]:.0f}")
    _row("first sight", cells)
    print()
    for name, texts in sets.items():
        decided = Counter(r.layer for r in shared.route_batch(texts))
        shares = ", ".join(f"{k} {v / len(texts):.1%}" for k, v in decided.most_common())
        print(f"{name} ({len(texts)} utterances), decided by: {shares}")


if __name__ == "__main__":
    main()
