"""The presets' choices against the alternatives, on brokerage and the public sets, in one run.

    python -m benchmarks.presets [--data ../shared/benchmarks] [--hidden] [--json out.json]
    python -m benchmarks.presets --validation --grid     # how the linear model's lr and weight decay were chosen
    python -m benchmarks.presets --validation --pairs    # how the default preset's hidden model was chosen
    python -m benchmarks.presets --validation --input-dropout   # the linear and the default with input dropout

Each variant is the linear preset with some settings changed, then the default preset (the linear
model and a 128-unit model, their logits summed); each is trained (featurising included in the
time) and scored on: the brokerage template-held-out test split (the embedded
templates, 25,000 examples, seed 7, no background class: the data of bench_bow.py), BANKING77's
test set and CLINC150's in-scope test set (when the converted files are in --data).
``--hidden`` adds the ``mlp`` preset's classifier (512 hidden units with dropout; slow). Two
reference rows train scikit-learn's converged linear models on the default features instead: how
far a linear model on these features goes, whatever its optimiser.

``--validation`` scores on validation data instead of the test sets (the brokerage split's
validation templates, a seeded tenth of BANKING77's training set held out, CLINC150's validation
split): what to choose settings on. ``--grid`` replaces the variants with the linear preset at
lr 4e-2 / 6e-2 and weight decay 0 to 3e-5; ``--pairs`` with the default preset whose hidden model
has other settings (128 to 256 units, batch, learning rate, epochs, dropout); ``--input-dropout``
with the linear and the default preset at input dropout 0, 0.3 and 0.5 (``make model`` trains the
embedded model with 0.5; for the default preset, on its linear model).
"""

from __future__ import annotations

import argparse
import json
import random
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
from intentroute.train import PRESETS, preset_classifier

ROOT = Path(__file__).resolve().parent.parent
Split = tuple[list[str], list[str]]

#: name -> (vectorizer overrides, classifier overrides) of the linear preset
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "linear preset": ({}, {}),
    "sublinear TF-IDF + l2, batch 256, lr 2e-2": (
        {"sublinear_tf": True, "norm": "l2"},
        {"batch_size": 256, "lr": 2e-2},
    ),
    "l2_sum, batch 256, lr 2e-2": ({}, {"batch_size": 256, "lr": 2e-2}),
    "sublinear TF-IDF + l2": ({"sublinear_tf": True, "norm": "l2"}, {}),
    "the previous default: lr 4e-2, weight decay 3e-5": ({}, {"lr": 4e-2, "weight_decay": 3e-5}),
    "more regularised: weight decay 1e-5": ({}, {"weight_decay": 1e-5}),
    "char 2-5 n-grams": ({"char_ngrams": (2, 5)}, {}),
}


def load(path: Path) -> Split:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["intent"] for r in rows]


GRID: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    f"lr {lr:g}, weight decay {wd:g}": ({}, {"lr": lr, "weight_decay": wd})
    for lr in (4e-2, 6e-2)
    for wd in (3e-5, 1e-5, 3e-6, 1e-6, 0.0)
}


def _held_out_tenth(split: Split) -> tuple[Split, Split]:
    order = list(range(len(split[0])))
    random.Random(0).shuffle(order)
    cut = int(0.9 * len(order))

    def pick(idx: list[int]) -> Split:
        return [split[0][i] for i in idx], [split[1][i] for i in idx]

    return pick(order[:cut]), pick(order[cut:])


def datasets(data: Path, validation: bool = False) -> dict[str, tuple[Split, Split]]:
    templates = load_templates(domain_path("brokerage", "templates.json"))
    ds = generate(templates, GeneratorConfig(size=25000, seed=7, split="template"))
    scored = ds.val if validation else ds.test
    out = {
        "brokerage " + ("validation" if validation else "held-out"): (
            ([e.text for e in ds.train], [e.intent for e in ds.train]),
            ([e.text for e in scored], [e.intent for e in scored]),
        )
    }
    if (data / "banking77").is_dir():
        train = load(data / "banking77" / "train.jsonl")
        out["BANKING77"] = _held_out_tenth(train) if validation else (train, load(data / "banking77" / "test.jsonl"))
    if (data / "clinc150").is_dir():
        scored_file = "val.jsonl" if validation else "test.jsonl"
        out["CLINC150 in-scope"] = (load(data / "clinc150" / "train.jsonl"), load(data / "clinc150" / scored_file))
    return out


def pair(**hidden: Any) -> Callable[[], Any]:
    """The default preset's classifier, its hidden model with ``hidden`` settings."""
    return lambda: preset_classifier("default").set_params(**{f"hidden__{k}": v for k, v in hidden.items()})


#: the default preset with other hidden models (on the same features): how it was chosen
PAIRS: dict[str, Callable[[], Any]] = {
    "default: 128 units, batch 128, lr 3e-3, 8 epochs": pair(),
    "128 units, batch 256, lr 5e-3": pair(batch_size=256, lr=5e-3),
    "128 units, batch 256, lr 5e-3, 12 epochs": pair(batch_size=256, lr=5e-3, epochs=12),
    "128 units, batch 256, lr 8e-3": pair(batch_size=256, lr=8e-3),
    "128 units, batch 256, lr 5e-3, dropout 0.3": pair(batch_size=256, lr=5e-3, dropout=0.3),
    "192 units, batch 256, lr 5e-3": pair(hidden_size=192, batch_size=256, lr=5e-3),
    "256 units, batch 256, lr 5e-3": pair(hidden_size=256, batch_size=256, lr=5e-3),
}

#: the linear and the default preset with input dropout (the default: on its linear model)
INPUT_DROPOUT: dict[str, Any] = {
    **{f"linear preset, input dropout {p:g}": ({}, {"input_dropout": p}) for p in (0.0, 0.3, 0.5)},
    **{
        f"default preset, linear model's input dropout {p:g}": (
            lambda p=p: preset_classifier("default").set_params(linear__input_dropout=p)
        )
        for p in (0.0, 0.3, 0.5)
    },
}

#: reference rows: scikit-learn linear models fitted to convergence on the linear preset's features
REFERENCES: dict[str, Callable[[], Any]] = {
    "default preset: linear + 128 units, logits summed": lambda: preset_classifier("default"),
    "reference: LinearSVC (C=2) on these features": lambda: LinearSVC(C=2.0),
    "reference: LogisticRegression (C=100, lbfgs)": lambda: LogisticRegression(C=100.0, max_iter=300),
}


def _seeded(clf: Any, seed: int | None) -> Any:
    """``clf`` with random seed ``seed`` (both models of a summed pair); None: as it is."""
    if seed is None:
        return clf
    params = clf.get_params()
    keys = [k for k in ("random_state", "linear__random_state", "hidden__random_state") if k in params]
    return clf.set_params(**dict.fromkeys(keys, seed))


def run(
    variant: tuple[dict[str, Any], dict[str, Any]] | Callable[[], Any],
    train: Split,
    test: Split,
    seed: int | None = None,
) -> dict[str, float]:
    spec = PRESETS["linear"]
    t0 = time.perf_counter()
    vec = BowVectorizer(**{**spec["vectorizer"], **({} if callable(variant) else variant[0])})
    X = vec.fit_transform(train[0])
    clf = variant() if callable(variant) else TorchBowClassifier(**{**spec["classifier"], **variant[1]})
    _seeded(clf, seed).fit(X, train[1])
    seconds = time.perf_counter() - t0
    accuracy = float((clf.predict(vec.transform(test[0])) == np.array(test[1])).mean())
    return {"accuracy": round(accuracy, 4), "train_s": round(seconds, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--hidden", action="store_true", help="add the mlp preset's hidden-layer classifier (slow)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--validation", action="store_true", help="score on validation data, not the test sets")
    ap.add_argument("--grid", action="store_true", help="the linear preset over a grid of lr and weight decay")
    ap.add_argument("--pairs", action="store_true", help="the default preset with other hidden models")
    ap.add_argument("--input-dropout", action="store_true", help="the linear and default presets with input dropout")
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="random seeds to train each row with (mean; default: 7)"
    )
    args = ap.parse_args()
    import torch  # noqa: F401  (imported before any clock starts: its import is not training time)

    chosen = GRID if args.grid else PAIRS if args.pairs else INPUT_DROPOUT if args.input_dropout else VARIANTS
    variants: dict[str, Any] = dict(chosen)
    assert PRESETS["default"]["vectorizer"] == PRESETS["linear"]["vectorizer"] == PRESETS["mlp"]["vectorizer"]
    if args.hidden:  # the mlp preset's classifier exactly (it has no weight decay; the linear has)
        mlp = {"weight_decay": 0.0, **PRESETS["mlp"]["classifier"]}
        assert set(PRESETS["linear"]["classifier"]) <= set(mlp)
        variants["mlp preset: 512 hidden units, dropout 0.5"] = ({}, mlp)
    if chosen is VARIANTS:
        variants.update(REFERENCES)
    sets = datasets(args.data, validation=args.validation)
    results: dict[str, dict[str, dict[str, float]]] = {}
    seeds = args.seeds or [None]
    for name, variant in variants.items():
        for set_name, (train, test) in sets.items():
            runs = [run(variant, train, test, seed) for seed in seeds]
            r = {key: round(float(np.mean([x[key] for x in runs])), 4) for key in ("accuracy", "train_s")}
            if len(runs) > 1:
                r["accuracies"] = [x["accuracy"] for x in runs]
            results.setdefault(name, {})[set_name] = r
            print(f"{name} | {set_name}: {json.dumps(r)}", flush=True)
    print(
        f"\n{'variant (means over seeds ' + ' '.join(map(str, args.seeds)) + ')' if args.seeds else 'variant':<47}"
        + "".join(f"{s:>26}" for s in sets)
    )
    print(f"{'':<47}" + "".join(f"{'accuracy':>17}{'train s':>9}" for _ in sets))
    for name, by_set in results.items():
        cells = "".join(f"{r['accuracy']:>17.3f}{r['train_s']:>9.1f}" for r in by_set.values())
        print(f"{name:<47}{cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
