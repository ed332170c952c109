"""The threshold trade-off of the brokerage default cascade: seed defaults against fitted policies.

    make model            # writes build/model-data (the embedded model's data, with its val/test splits)
    python -m benchmarks.policies [--data ../shared/benchmarks]

For the classifier's two confidences (its top probability, the seed's; and its in-scope
probability, ``1 - p(none)``, the embedded domain's), the seed's policies and policies fitted on
``build/model-data/intent_val.jsonl`` for several targets (out-of-scope examples: the generator's
background class ``none``), each cascade measured on the held-out test split (in-domain accuracy,
share answered, precision), on CLINC150's out-of-scope test queries when the files are there
(share routed to clarify), and on the trade and advice requests of
the domain's ``probes.json`` that the assistant does not serve (how many go to clarify) with
the served questions in the same words (how many get their intent).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

import intentroute
from benchmarks.heldout import probe_counts
from intentroute import Cascade, Policy
from intentroute.data import read_jsonl
from intentroute.domains import load_probes, probe_pairs
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.tune import fit_policies

ROOT = Path(__file__).resolve().parent.parent
PROBES = load_probes("brokerage")
UNSERVED, SERVED_LOOK_ALIKES = PROBES["unserved"], probe_pairs(PROBES["served_look_alikes"])

#: targets fitted on the validation split: name -> fit_policies arguments besides the target (the
#: last one is make model's rule for the embedded domain's policies.toml)
TARGETS: dict[str, dict[str, Any]] = {
    "accuracy": {},
    "precision:0.9": {},
    "precision:0.95": {},
    "oos_recall:0.8 (95% confidence, classifier only)": {"confidence": 0.95, "layers": ["torch_bow"]},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--model-data", type=Path, default=ROOT / "build" / "model-data")
    args = ap.parse_args()
    if not (args.model_data / "intent_val.jsonl").exists():
        raise SystemExit(f"no {args.model_data}/intent_val.jsonl: run `make model` first")
    base = intentroute.default_cascade()  # rules, then the classifier scored by its in-scope probability
    rules, in_scope = base.layers
    by_confidence = {"probability": TorchBowLayer(confidence="probability"), "in_scope": in_scope}
    val = read_jsonl(args.model_data / "intent_val.jsonl")
    texts, labels = read_jsonl(args.model_data / "intent_test.jsonl")
    inside = [i for i, y in enumerate(labels) if y != "none"]
    oos_file = args.data / "clinc150" / "oos_test.jsonl"
    oos = read_jsonl(oos_file)[0] if oos_file.exists() else None
    seed = {"rules": Policy(0.75, 0.1), "torch_bow": Policy(0.6)}
    for confidence, layer in by_confidence.items():
        start = Cascade([rules, layer], seed, extractor=base.extractor, labels=sorted(base.labels or []))
        candidates = {"the seed's policies": seed}
        for target, kwargs in TARGETS.items():
            candidates[target] = fit_policies(start, *val, target=target.split()[0], **kwargs).policies
        for name, policies in candidates.items():
            cascade = Cascade([rules, layer], policies, extractor=base.extractor, labels=sorted(base.labels or []))
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
            unserved, right = probe_counts(cascade, UNSERVED, SERVED_LOOK_ALIKES)
            row["unserved_to_clarify"] = f"{unserved}/{len(UNSERVED)}"
            row["served_look_alikes_right"] = f"{right}/{len(SERVED_LOOK_ALIKES)}"
            print(f"{confidence} | {name}: {row}", flush=True)


if __name__ == "__main__":
    main()
