"""What a scikit-learn user gets from the defaults, beside the presets, on the public sets.

    python -m benchmarks.sklearn_defaults [--data ../shared/benchmarks] [--seeds 7 8 9]

``make_pipeline(BowVectorizer(), TorchBowClassifier())`` (only ``random_state`` set, per seed)
against each single-model preset's vectorizer and classifier (``linear``, ``mlp``, ``legacy``)
and TF-IDF + LinearSVC, trained on BANKING77's and CLINC150's training sets and scored on their
test sets (CLINC150: in-scope). Test accuracy is the mean over ``--seeds`` (the preset's own
``random_state`` replaced by each seed); training time is the mean wall-clock of fitting the
pipeline, featurising included. Needs the converted files in --data (../shared/benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.svm import LinearSVC

from intentroute.data import read_jsonl
from intentroute.estimators import BowVectorizer, TorchBowClassifier
from intentroute.train import PRESETS

ROOT = Path(__file__).resolve().parent.parent
SINGLE_MODEL_PRESETS = ("linear", "mlp", "legacy")


def pipelines() -> dict[str, Callable[[int], Pipeline]]:
    def preset(name: str) -> Callable[[int], Pipeline]:
        spec = PRESETS[name]
        return lambda seed: make_pipeline(
            BowVectorizer(**spec["vectorizer"]), TorchBowClassifier(**{**spec["classifier"], "random_state": seed})
        )

    return {
        "make_pipeline(BowVectorizer(), TorchBowClassifier())": lambda seed: make_pipeline(
            BowVectorizer(), TorchBowClassifier(random_state=seed)
        ),
        **{f"{name} preset": preset(name) for name in SINGLE_MODEL_PRESETS},
        "TF-IDF (word 1-2-grams, sublinear) + LinearSVC": lambda seed: make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LinearSVC(random_state=seed)
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    args = ap.parse_args()
    sets = {
        "BANKING77": ("banking77/train.jsonl", "banking77/test.jsonl"),
        "CLINC150": ("clinc150/train.jsonl", "clinc150/test.jsonl"),
    }
    sets = {k: v for k, v in sets.items() if (args.data / v[0]).exists()}
    if not sets:
        raise SystemExit(f"no public data in {args.data} (see ../shared/benchmarks/README.md)")
    data = {k: (read_jsonl(args.data / tr), read_jsonl(args.data / te)) for k, (tr, te) in sets.items()}
    results: dict[str, dict[str, tuple[float, float]]] = {}
    for name, make in pipelines().items():
        for set_name, ((xtr, ytr), (xte, yte)) in data.items():
            accs, secs = [], []
            for seed in args.seeds:
                pipe: Any = make(seed)
                t0 = time.perf_counter()
                pipe.fit(xtr, ytr)
                secs.append(time.perf_counter() - t0)
                accs.append(float(np.mean(pipe.predict(xte) == np.asarray(yte))))
            results.setdefault(name, {})[set_name] = (float(np.mean(accs)), float(np.mean(secs)))
            print(f"{name} / {set_name}: accuracy {np.mean(accs):.4f} {accs}, fit {np.mean(secs):.1f} s", flush=True)
    head = f"{'pipeline':<56}" + "".join(f"{s + ' acc':>16}{'fit s':>8}" for s in data)
    print(f"\nmean over seeds {args.seeds}\n{head}\n{'-' * len(head)}")
    for name, by_set in results.items():
        print(f"{name:<56}" + "".join(f"{by_set[s][0]:>16.4f}{by_set[s][1]:>8.1f}" for s in data))
    defaults = results["make_pipeline(BowVectorizer(), TorchBowClassifier())"]
    for s in data:
        best = max(SINGLE_MODEL_PRESETS, key=lambda p: results[f"{p} preset"][s][0])
        gap = 100 * (results[f"{best} preset"][s][0] - defaults[s][0])
        print(f"{s}: the defaults are {gap:+.2f} points below the best single-model preset ({best})")


if __name__ == "__main__":
    main()
