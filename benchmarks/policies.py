"""The threshold trade-off of the brokerage default cascade: seed defaults against fitted policies.

    make model            # writes build/model-data (the embedded model's data, with its val/test splits)
    python benchmarks/policies.py [--data ../shared/benchmarks]

Fits policies on ``build/model-data/intent_val.jsonl`` for several targets (out-of-scope examples:
the generator's background class ``none``), then measures each cascade on the held-out test split
(in-domain accuracy, share answered, precision) and on CLINC150's out-of-scope test queries when
the files are there (share routed to clarify).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import intentroute
from intentroute import Cascade
from intentroute.train import read_jsonl
from intentroute.tune import fit_policies

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--model-data", type=Path, default=ROOT / "build" / "model-data")
    args = ap.parse_args()
    if not (args.model_data / "intent_val.jsonl").exists():
        raise SystemExit(f"no {args.model_data}/intent_val.jsonl: run `make model` first")
    base = intentroute.default_cascade()
    val = read_jsonl(args.model_data / "intent_val.jsonl")
    texts, labels = read_jsonl(args.model_data / "intent_test.jsonl")
    inside = [i for i, y in enumerate(labels) if y != "none"]
    oos_file = args.data / "clinc150" / "oos_test.jsonl"
    oos = read_jsonl(oos_file)[0] if oos_file.exists() else None
    candidates = {"seed defaults": dict(zip(base.layer_names, base.policies, strict=True))}
    for target in ("accuracy", "precision:0.9", "precision:0.95"):
        candidates[target] = fit_policies(base, *val, target=target).policies
    for name, policies in candidates.items():
        cascade = Cascade(base.layers, policies, extractor=base.extractor, labels=sorted(base.labels or []))
        routes = cascade.route_batch(texts)
        answered = [i for i in inside if routes[i].intent != "clarify"]
        row = {
            "policies": {k: (v.threshold, v.margin) for k, v in policies.items()},
            "in_domain_accuracy": round(float(np.mean([routes[i].intent == labels[i] for i in inside])), 3),
            "answered": round(len(answered) / len(inside), 3),
            "precision": round(float(np.mean([routes[i].intent == labels[i] for i in answered])), 3),
        }
        if oos is not None:
            row["clinc150_oos_to_clarify"] = round(
                float(np.mean([r.intent == "clarify" for r in cascade.route_batch(oos)])), 3
            )
        print(f"{name}: {row}", flush=True)


if __name__ == "__main__":
    main()
