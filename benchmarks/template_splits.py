"""How much the brokerage held-out accuracy depends on which templates are held out.

    python -m benchmarks.template_splits [--seeds 7 11 13 17 19] [--preset NAME] [--no-slots]
                                         [--lr X] [--weight-decay W] [--input-dropout P]
                                         [--fragments on|off] [--lexical off|on|both]
                                         [--data ../shared/benchmarks]

The template-held-out test split holds out a tenth of each intent's templates (about nine of the
brokerage domain's 88-97), and which ones is a draw, so one split's figure moves by a few points.
For each seed this script does what ``make model`` does (generate 25,000 examples with the
background class and a template split, train make model's preset (or ``--preset``) with the
domain's slot markers (``--no-slots``: without) and make model's learning rate and weight decay
and input dropout (read from the domain's recipe.toml, for the preset that it trains;
``--lr``, ``--weight-decay``, ``--input-dropout`` override them), fit the classifier's
threshold with ``tune --layer torch_bow --target oos_recall:0.8 --confidence 0.95`` on the
validation split) and measures the domain's
cascade (rules at the seed's policy, the classifier by its in-scope probability) on the in-domain
test queries, the classifier's own accuracy on them, the share of the cascade's wrong and of its
right answers with a word the classifier has no feature for, (when the files are there) the share of
CLINC150's out-of-scope test queries routed to clarify, how many of the request openings that
name no intent ("what", "how much" ...) and of the short requests ("cash", "my holdings" ...) of
the domain's probes.json go to clarify and get their intent, and the classifier layer's and the
cascade's p50 for one utterance. ``--fragments on|off`` generates with or without the background
fragments (default: as make model does). ``--lexical both`` trains each split twice, without and
with the lexical table's head (``train --lexical``, the ``[lexical]`` extra), and summarises each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.heldout import brokerage_templates, held_out_row, in_domain_test, probe_counts, recipe_cascade
from benchmarks.recipe import train_overrides
from benchmarks.timing import p50_us
from intentroute.bundle import save_bundle
from intentroute.config import build_cascade
from intentroute.data import GeneratorConfig, generate, read_jsonl, write_dataset
from intentroute.domains import domain_path, load_domain, load_probes, load_recipe, probe_pairs
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.train import PRESETS, train

ROOT = Path(__file__).resolve().parent.parent
PROBES = load_probes("brokerage")
FRAGMENTS, SHORT_REQUESTS = PROBES["fragments"], probe_pairs(PROBES["short_requests"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 13, 17, 19])
    ap.add_argument("--preset", choices=sorted(PRESETS), help="the preset to train (default: make model's)")
    ap.add_argument("--no-slots", action="store_true", help="train without the domain's slot-marker features")
    ap.add_argument("--lr", type=float, help="override make model's learning rate")
    ap.add_argument("--weight-decay", type=float, help="override make model's L2 weight decay")
    ap.add_argument("--input-dropout", type=float, help="override make model's input dropout")
    ap.add_argument(
        "--fragments",
        choices=("on", "off"),
        help="generate with or without the background fragments (default: as make model does)",
    )
    ap.add_argument(
        "--lexical",
        choices=("off", "on", "both"),
        default="off",
        help="train with the lexical table's head (train --lexical; the [lexical] extra), without, or both "
        "on each split",
    )
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    args = ap.parse_args()
    steps = load_recipe("brokerage")
    model_preset = steps["train"].get("preset", "default")
    if args.preset is None:
        args.preset = model_preset
    fragments = bool(steps["generate"].get("fragments")) if args.fragments is None else args.fragments == "on"
    given = {"lr": args.lr, "weight_decay": args.weight_decay, "input_dropout": args.input_dropout}
    # make model's preset with make model's settings; another preset keeps its own
    recipe = train_overrides() if args.preset == model_preset else {}
    overrides = {**recipe, **{k: v for k, v in given.items() if v is not None}}
    slots = None if args.no_slots else load_domain("brokerage").slots
    oos_file = args.data / "clinc150" / "oos_test.jsonl"
    oos = read_jsonl(oos_file)[0] if oos_file.exists() else None
    templates = brokerage_templates()
    configured = build_cascade(domain_path("brokerage", "cascade.toml"))  # without the fitted policies
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            folder = Path(tmp) / f"seed{seed}"
            write_dataset(
                generate(templates, GeneratorConfig(size=25000, seed=seed, split="template", fragments=fragments)),
                folder / "data",
            )
            for lexical in {"off": [False], "on": [True], "both": [False, True]}[args.lexical]:
                result = train(folder / "data", args.preset, overrides=overrides, slots=slots, lexical=lexical)
                bundle = folder / ("bundle-lexical" if lexical else "bundle")
                save_bundle(bundle, result.vectorizer, result.classifier, lexical=result.lexical)
                layer = TorchBowLayer(bundle, confidence="in_scope")
                val = read_jsonl(folder / "data" / "intent_val.jsonl")
                cascade = recipe_cascade(configured, layer, val)
                texts, labels = in_domain_test(folder / "data")
                openings_clarified, short_right = probe_counts(cascade, FRAGMENTS, SHORT_REQUESTS)
                row = {
                    "seed": seed,
                    "lexical": lexical,
                    "fragments": fragments,
                    "threshold": cascade.policies[1].threshold,
                    **held_out_row(cascade, layer, texts, labels, oos),
                    "fragments_to_clarify": openings_clarified,
                    "short_requests_right": short_right,
                    # the classifier layer's own time for one utterance (slot markers run the extractor)
                    "layer_p50_us": p50_us(layer.route, texts[:1000], passes=2),
                    "cascade_p50_us": p50_us(cascade.route, texts[:1000], passes=2),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(
        f"fragments_to_clarify: of {len(FRAGMENTS)} request openings, short_requests_right: of "
        f"{len(SHORT_REQUESTS)} short requests (domains/brokerage/probes.json)"
    )
    for lexical in sorted({r["lexical"] for r in rows}):
        _summary([r for r in rows if r["lexical"] == lexical], "with the lexical head" if lexical else "")


def _summary(rows: list[dict[str, Any]], title: str) -> None:
    if title:
        print(title)
    for key in (
        "cascade_accuracy",
        "classifier_accuracy",
        "clinc150_oos_to_clarify",
        "errors_with_unknown_word",
        "right_with_unknown_word",
        "fragments_to_clarify",
        "short_requests_right",
        "layer_p50_us",
        "cascade_p50_us",
    ):
        values = [r[key] for r in rows if r.get(key) is not None]
        if values:
            print(f"{key}: mean {np.mean(values):.3f}, min {min(values):.3f}, max {max(values):.3f}")


if __name__ == "__main__":
    main()
