"""The default preset's choices against the alternatives, on brokerage and the public sets, in one run.

    python benchmarks/presets.py [--data ../shared/benchmarks] [--hidden] [--json out.json]

Each variant is the default preset with some settings changed; each is trained (featurising
included in the time) and scored on: the brokerage template-held-out test split (the embedded
templates, 25,000 examples, seed 7, no background class: the data of bench_bow.py), BANKING77's
test set and CLINC150's in-scope test set (when the converted files are in --data).
``--hidden`` adds the ``mlp`` preset's classifier (512 hidden units with dropout; slow). Two
reference rows train scikit-learn's converged linear models on the default features instead: how
far a linear model on these features goes, whatever its optimiser.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from intentroute.data import GeneratorConfig, generate, load_templates
from intentroute.domains import domain_path
from intentroute.estimators import BowVectorizer, TorchBowClassifier
from intentroute.train import PRESETS

ROOT = Path(__file__).resolve().parent.parent
Split = tuple[list[str], list[str]]

#: name -> (vectorizer overrides, classifier overrides) of the default preset
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "default": ({}, {}),
    "sublinear TF-IDF + l2, batch 256, lr 2e-2": (
        {"sublinear_tf": True, "norm": "l2"},
        {"batch_size": 256, "lr": 2e-2},
    ),
    "l2_sum, batch 256, lr 2e-2": ({}, {"batch_size": 256, "lr": 2e-2}),
    "sublinear TF-IDF + l2": ({"sublinear_tf": True, "norm": "l2"}, {}),
    "less regularised: lr 6e-2, weight decay 1e-5": ({}, {"lr": 6e-2, "weight_decay": 1e-5}),
    "char 2-5 n-grams": ({"char_ngrams": (2, 5)}, {}),
}


def load(path: Path) -> Split:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["intent"] for r in rows]


def datasets(data: Path) -> dict[str, tuple[Split, Split]]:
    templates = load_templates(domain_path("brokerage", "templates.json"))
    ds = generate(templates, GeneratorConfig(size=25000, seed=7, split="template"))
    out = {
        "brokerage held-out": (
            ([e.text for e in ds.train], [e.intent for e in ds.train]),
            ([e.text for e in ds.test], [e.intent for e in ds.test]),
        )
    }
    if (data / "banking77").is_dir():
        out["BANKING77"] = (load(data / "banking77" / "train.jsonl"), load(data / "banking77" / "test.jsonl"))
    if (data / "clinc150").is_dir():
        out["CLINC150 in-scope"] = (load(data / "clinc150" / "train.jsonl"), load(data / "clinc150" / "test.jsonl"))
    return out


#: reference rows: scikit-learn linear models fitted to convergence on the default preset's features
REFERENCES: dict[str, Callable[[], Any]] = {
    "reference: LinearSVC (C=2) on these features": lambda: LinearSVC(C=2.0),
    "reference: LogisticRegression (C=100, lbfgs)": lambda: LogisticRegression(C=100.0, max_iter=300),
}


def run(
    variant: tuple[dict[str, Any], dict[str, Any]] | Callable[[], Any], train: Split, test: Split
) -> dict[str, float]:
    spec = PRESETS["default"]
    t0 = time.perf_counter()
    vec = BowVectorizer(**{**spec["vectorizer"], **({} if callable(variant) else variant[0])})
    X = vec.fit_transform(train[0])
    clf = variant() if callable(variant) else TorchBowClassifier(**{**spec["classifier"], **variant[1]})
    clf.fit(X, train[1])
    seconds = time.perf_counter() - t0
    accuracy = float((clf.predict(vec.transform(test[0])) == np.array(test[1])).mean())
    return {"accuracy": round(accuracy, 4), "train_s": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--hidden", action="store_true", help="add the mlp preset's hidden-layer classifier (slow)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    import torch  # noqa: F401  (imported before any clock starts: its import is not training time)

    variants: dict[str, Any] = dict(VARIANTS)
    if args.hidden:  # the mlp preset's classifier exactly (it has no weight decay; the default has)
        assert PRESETS["mlp"]["vectorizer"] == PRESETS["default"]["vectorizer"]
        mlp = {"weight_decay": 0.0, **PRESETS["mlp"]["classifier"]}
        assert set(PRESETS["default"]["classifier"]) <= set(mlp)
        variants["mlp preset: 512 hidden units, dropout 0.5"] = ({}, mlp)
    variants.update(REFERENCES)
    sets = datasets(args.data)
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, variant in variants.items():
        for set_name, (train, test) in sets.items():
            results.setdefault(name, {})[set_name] = r = run(variant, train, test)
            print(f"{name} | {set_name}: {json.dumps(r)}", flush=True)
    print(f"\n{'variant of the default preset':<47}" + "".join(f"{s:>26}" for s in sets))
    print(f"{'':<47}" + "".join(f"{'accuracy':>17}{'train s':>9}" for _ in sets))
    for name, by_set in results.items():
        cells = "".join(f"{r['accuracy']:>17.3f}{r['train_s']:>9.1f}" for r in by_set.values())
        print(f"{name:<47}{cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
