"""The BoW layer against the legacy pipeline and against standard baselines, in one run, on the same data.

    python -m benchmarks.bench_bow [--size 25000] [--skip-legacy] [--json out.json]

Data: the embedded brokerage templates, 25,000 examples, seed 7, split twice: at random (the legacy pipeline's
80/10/10) and by template (whole phrasings held out of training). On each split, every pipeline is
trained on the train part and scored on the test part:

- legacy-equivalent: a faithful re-implementation of the legacy pipeline's train_intent_router.py and
  TorchRouter (dense 6,000-wide vectors built one example at a time, DataLoader batch 32,
  nn.Linear, Adam lr 1e-2, 12 epochs; prediction builds a dense vector per utterance);
- intentroute --preset legacy and --preset default (BowVectorizer + TorchBowClassifier);
- scikit-learn LogisticRegression on the default preset's features;
- fastText (2-gram, 25 epochs), when the fasttext package imports.

Reported: training time (featurising included), test accuracy, single-utterance prediction p50
(label and confidence for one text) and batch throughput.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.timing import p50_us, throughput
from intentroute.data import GeneratorConfig, generate, load_templates
from intentroute.domains import domain_path
from intentroute.estimators import BowVectorizer
from intentroute.train import PRESETS, preset_classifier


# -- the legacy pipeline, re-implemented faithfully -------------------------------------------------
def legacy_pipeline(
    train: list[tuple[str, str]], epochs: int = 12
) -> tuple[Callable[[str], tuple[str, float]], Callable[[list[str]], Any]]:
    import random
    import re

    import torch
    from torch import nn

    token_re = re.compile(r"[A-Za-z0-9']+")

    def tokenize(text: str) -> list[str]:
        return [t.lower() for t in token_re.findall(text)]

    def extract_features(tokens: list[str]) -> list[str]:
        return list(tokens) + [f"{tokens[i]}_{tokens[i + 1]}" for i in range(len(tokens) - 1)]

    freq: dict[str, int] = {}
    for text, _ in train:
        for f in extract_features(tokenize(text)):
            freq[f] = freq.get(f, 0) + 1
    vocab = {t: i for i, (t, _) in enumerate(sorted(freq.items(), key=lambda x: (-x[1], x[0]))[:6000])}
    labels = sorted({y for _, y in train})
    label_to_idx = {y: i for i, y in enumerate(labels)}

    def encode_text(text: str) -> torch.Tensor:
        vec = torch.zeros(len(vocab), dtype=torch.float32)
        for f in extract_features(tokenize(text)):
            idx = vocab.get(f)
            if idx is not None:
                vec[idx] += 1.0
        return vec

    class IntentDataset(torch.utils.data.Dataset):  # type: ignore[misc]
        def __len__(self) -> int:
            return len(train)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
            return encode_text(train[i][0]), label_to_idx[train[i][1]]

    random.seed(7)
    torch.manual_seed(7)
    model = nn.Linear(len(vocab), len(labels))
    loader = torch.utils.data.DataLoader(IntentDataset(), batch_size=32, shuffle=True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in loader:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
    model.eval()

    def predict(text: str) -> tuple[str, float]:
        with torch.no_grad():
            probs = torch.softmax(model(encode_text(text).unsqueeze(0)), dim=1).squeeze(0)
            conf, idx = torch.max(probs, dim=0)
            return labels[int(idx)], float(conf.item())

    def predict_batch(texts: list[str]) -> list[str]:
        with torch.no_grad():
            x = torch.stack([encode_text(t) for t in texts])
            return [labels[i] for i in model(x).argmax(dim=1).tolist()]

    return predict, predict_batch


def run_legacy_equivalent(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict[str, Any]:
    t0 = time.perf_counter()
    predict, predict_batch = legacy_pipeline(train)
    secs = time.perf_counter() - t0
    texts = [t for t, _ in test]
    acc = float(np.mean([p == y for p, (_, y) in zip(predict_batch(texts), test, strict=True)]))
    return {
        "train_s": secs,
        "accuracy": acc,
        "p50_us": p50_us(predict, texts[:1000]),
        "batch_per_s": throughput(predict_batch, texts, 5000),
    }


def run_intentroute(preset: str, train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict[str, Any]:
    from intentroute.scoring import BowScorer

    spec = PRESETS[preset]
    t0 = time.perf_counter()
    vec = BowVectorizer(**spec["vectorizer"])
    X = vec.fit_transform([t for t, _ in train])
    clf = preset_classifier(preset).fit(X, [y for _, y in train])
    secs = time.perf_counter() - t0
    texts = [t for t, _ in test]
    model = BowScorer.from_estimators(vec, clf)

    def predict(text: str) -> tuple[str, float]:
        p = model.proba(text)
        i = max(range(len(p)), key=p.__getitem__)
        return model.labels[i], p[i]

    acc = float((clf.predict(vec.transform(texts)) == np.array([y for _, y in test])).mean())
    return {
        "train_s": secs,
        "accuracy": acc,
        "p50_us": p50_us(predict, texts[:1000]),
        "batch_per_s": throughput(model.proba_batch, texts),
    }


def run_logreg(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    vec = BowVectorizer(**PRESETS["default"]["vectorizer"])
    X = vec.fit_transform([t for t, _ in train])
    clf = LogisticRegression(max_iter=1000, C=10.0).fit(X, [y for _, y in train])
    secs = time.perf_counter() - t0
    texts = [t for t, _ in test]
    acc = float((clf.predict(vec.transform(texts)) == np.array([y for _, y in test])).mean())

    def predict(text: str) -> Any:
        return clf.predict_proba(vec.transform([text]))

    return {
        "train_s": secs,
        "accuracy": acc,
        "p50_us": p50_us(predict, texts[:300]),
        "batch_per_s": throughput(lambda b: clf.predict_proba(vec.transform(b)), texts),
    }


def train_fasttext(train: list[tuple[str, str]]) -> tuple[Callable[[str], tuple[str, float]], float] | None:
    """fastText (2-grams, 25 epochs, one thread) trained on ``train``: its predict (label and
    probability for one text) and the training seconds; None without the package."""
    try:
        import fasttext
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("".join(f"__label__{y} {t.lower()}\n" for t, y in train), encoding="utf-8")
        t0 = time.perf_counter()
        model = fasttext.train_supervised(str(path), wordNgrams=2, epoch=25, verbose=0, thread=1, seed=7)
        secs = time.perf_counter() - t0

    # fasttext's own predict() calls np.array(..., copy=False), which NumPy 2 refuses; the
    # binding underneath returns (probability, label) pairs directly (none for a text of no words)
    def predict(text: str) -> tuple[str, float]:
        found = model.f.predict(text.lower().replace("\n", " "), 1, 0.0, "strict")
        return (found[0][1], found[0][0]) if found else ("", 0.0)

    return predict, secs


def run_fasttext(train: list[tuple[str, str]], test: list[tuple[str, str]]) -> dict[str, Any] | None:
    trained = train_fasttext(train)
    if trained is None:
        return None
    predict, secs = trained
    texts = [t for t, _ in test]
    acc = float(np.mean([predict(t)[0] == f"__label__{y}" for t, y in test]))
    return {
        "train_s": secs,
        "accuracy": acc,
        "p50_us": p50_us(predict, texts[:1000]),
        "batch_per_s": throughput(lambda b: [predict(t) for t in b], texts),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=25000)
    ap.add_argument("--skip-legacy", action="store_true", help="skip the (slow) legacy-equivalent pipeline")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    templates = load_templates(domain_path("brokerage", "templates.json"))
    results: dict[str, dict[str, Any]] = {}
    for split in ("random", "template"):
        ds = generate(templates, GeneratorConfig(size=args.size, seed=7, split=split))
        train = [(e.text, e.intent) for e in ds.train]
        test = [(e.text, e.intent) for e in ds.test]
        runs: list[tuple[str, Callable[..., dict[str, Any] | None], tuple[Any, ...]]] = [
            ("legacy-equivalent (dense, batch 32)", run_legacy_equivalent, ()),
            ("intentroute --preset legacy", run_intentroute, ("legacy",)),
            ("intentroute --preset default", run_intentroute, ("default",)),
            ("sklearn LogisticRegression (default features)", run_logreg, ()),
            ("fastText (2-grams, 25 epochs)", run_fasttext, ()),
        ]
        if args.skip_legacy:
            runs = runs[1:]
        for name, run, extra in runs:
            r = run(*extra, train, test)
            if r is not None:
                results.setdefault(name, {})[split] = r
                print(f"[{split}] {name}: {json.dumps({k: round(v, 4) for k, v in r.items()})}", flush=True)
    print(f"\nBrokerage data, {args.size} examples (train {int(args.size * 0.8)}), same splits for every pipeline")
    head = f"{'pipeline':<47}{'train s':>9}{'acc random':>12}{'acc held-out':>14}{'p50 us':>9}{'batch/s':>10}"
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        rnd, tpl = r.get("random", {}), r.get("template", {})
        print(
            f"{name:<47}{rnd.get('train_s', float('nan')):>9.2f}{rnd.get('accuracy', float('nan')):>12.3f}"
            f"{tpl.get('accuracy', float('nan')):>14.3f}{rnd.get('p50_us', float('nan')):>9.1f}"
            f"{rnd.get('batch_per_s', 0):>10,}"
        )
    legacy = results.get("legacy-equivalent (dense, batch 32)", {}).get("random")
    ours = results["intentroute --preset default"]["random"]
    if legacy:
        print(
            f"\ndefault vs legacy-equivalent: training {legacy['train_s'] / ours['train_s']:.1f}x faster, "
            f"single-utterance p50 {legacy['p50_us'] / ours['p50_us']:.1f}x faster, "
            f"batch {ours['batch_per_s'] / legacy['batch_per_s']:.0f}x"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
