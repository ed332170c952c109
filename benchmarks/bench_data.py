"""Generation and featurisation of the 25,000-example brokerage dataset, side by side with baselines.

    python -m benchmarks.bench_data [--size 25000] [--json out.json]

Generation: intentroute's generator (random and template split) against a re-implementation of the
legacy pipeline's generator (first INTENT_MAX_COMBOS combinations, set-based variants, unseeded shuffle), each in
a fresh subprocess so its peak resident memory (ru_maxrss) is its own; "growth" is the peak minus
the peak after imports. Featurisation of the train split:
BowVectorizer (legacy settings, + char n-grams, + hashing) against the legacy pipeline's per-example dense torch
encoding and scikit-learn's CountVectorizer with the same tokens and bigrams.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from intentroute.legacy import LEGACY_FEATURIZER

ROOT = Path(__file__).resolve().parent.parent

GEN_CODE = r"""
import json, resource, sys, time
from intentroute.data import GeneratorConfig, generate, load_templates
from intentroute.domains import domain_path
kind, size = sys.argv[1], int(sys.argv[2])
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t0 = time.perf_counter()
ts = load_templates(domain_path("brokerage", "templates.json"))
if kind == "legacy":
    from benchmarks.legacy_generator import legacy_generate
    n = len(legacy_generate(ts, size))
else:
    ds = generate(ts, GeneratorConfig(size=size, split=kind))
    n = len(ds.train) + len(ds.val) + len(ds.test)
secs = time.perf_counter() - t0
rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"examples": n, "seconds": secs, "maxrss_mb": rss1, "growth_mb": rss1 - rss0}))
"""


def run_generation(kind: str, size: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", GEN_CODE, kind, str(size)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,  # (so that the benchmarks package imports)
    )
    return json.loads(out.stdout)


def featurise(size: int) -> list[dict[str, object]]:
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    from intentroute.data import GeneratorConfig, generate, load_templates
    from intentroute.domains import domain_path
    from intentroute.estimators import BowVectorizer

    ds = generate(load_templates(domain_path("brokerage", "templates.json")), GeneratorConfig(size=size))
    texts = [ex.text for ex in ds.train]
    rows: list[dict[str, object]] = []

    def timed(name: str, fit, transform) -> None:  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        model = fit()
        t1 = time.perf_counter()
        m = transform(model)
        t2 = time.perf_counter()
        rows.append(
            {
                "featuriser": name,
                "fit_s": round(t1 - t0, 3),
                "transform_s": round(t2 - t1, 3),
                "texts_per_s": round(len(texts) / (t2 - t1)),
                "columns": int(m.shape[1]),
            }
        )

    for name, params in [
        ("BowVectorizer (legacy settings)", dict(LEGACY_FEATURIZER)),
        ("BowVectorizer legacy + char 3-5", {**LEGACY_FEATURIZER, "char_ngrams": (3, 5), "max_vocab": None}),
        (
            "BowVectorizer legacy + hashing, char 3-5",
            {**LEGACY_FEATURIZER, "hashing": True, "char_ngrams": (3, 5)},
        ),
        ("BowVectorizer legacy + tf-idf l2", {**LEGACY_FEATURIZER, "weighting": "tfidf", "norm": "l2"}),
        ("BowVectorizer() (the defaults)", {}),
    ]:
        timed(name, lambda p=params: BowVectorizer(**p).fit(texts), lambda v: v.transform(texts))
    timed(
        "sklearn CountVectorizer (1-2, max 6000)",
        lambda: CountVectorizer(
            token_pattern=r"[A-Za-z0-9']+", ngram_range=(1, 2), max_features=6000, dtype=np.float32
        ).fit(texts),
        lambda v: v.transform(texts),
    )
    try:
        import torch
    except ImportError:
        return rows
    vocab = BowVectorizer(**LEGACY_FEATURIZER).fit(texts).vocabulary_
    from intentroute.text import tokenize, word_ngrams

    def legacy_encode(text: str):  # type: ignore[no-untyped-def]  # the legacy pipeline's encode_text
        vec = torch.zeros(len(vocab), dtype=torch.float32)
        for feature in word_ngrams(tokenize(text), 2):
            idx = vocab.get(feature)
            if idx is not None:
                vec[idx] += 1.0
        return vec

    timed("legacy dense torch encode_text", lambda: vocab, lambda _: torch.stack([legacy_encode(t) for t in texts]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=25000)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    gen = {kind: run_generation(kind, args.size) for kind in ("random", "template", "legacy")}
    print(f"Generation of {args.size} examples (fresh process each)")
    print(f"{'generator':<34}{'examples':>9}{'seconds':>9}{'peak RSS MB':>13}{'growth MB':>11}")
    labels = {
        "random": "intentroute (random split)",
        "template": "intentroute (template split)",
        "legacy": "legacy re-implementation",
    }
    for kind, r in gen.items():
        print(f"{labels[kind]:<34}{r['examples']:>9}{r['seconds']:>9.2f}{r['maxrss_mb']:>13.1f}{r['growth_mb']:>11.1f}")
    feats = featurise(args.size)
    print(f"\nFeaturising the train split ({int(args.size * 0.8)} texts)")
    print(f"{'featuriser':<48}{'fit s':>8}{'transform s':>13}{'texts/s':>10}{'columns':>9}")
    for r in feats:
        print(f"{r['featuriser']:<48}{r['fit_s']:>8}{r['transform_s']:>13}{r['texts_per_s']:>10}{r['columns']:>9}")
    if args.json:
        args.json.write_text(json.dumps({"generation": gen, "featurisation": feats}, indent=2))


if __name__ == "__main__":
    main()
