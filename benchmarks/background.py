"""With or without the background class: in-domain accuracy and out-of-scope rejection, same run.

    python -m benchmarks.background [--data ../shared/benchmarks]

Generates the brokerage data twice (seed 7, template split; once with ``--background brokerage``),
trains the default preset on each, and measures, for a cascade of the rules and each model with the
default policies: accuracy on the in-domain held-out test queries, the classifier's own accuracy on
them, and (when the CLINC150 files are there) the share of CLINC150's out-of-scope test queries
routed to clarify.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.heldout import brokerage_templates, held_out_row, in_domain_test
from intentroute import Cascade, Policy
from intentroute.bundle import save_bundle
from intentroute.data import GeneratorConfig, generate, read_jsonl, write_dataset
from intentroute.domains import load_domain
from intentroute.layers.rules import RuleLayer
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.train import train

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    args = ap.parse_args()
    oos_file = args.data / "clinc150" / "oos_test.jsonl"
    oos = read_jsonl(oos_file)[0] if oos_file.exists() else None
    domain = load_domain("brokerage")
    variants = {
        "without background": brokerage_templates(background=False),
        "with background": brokerage_templates(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, templates in variants.items():
            folder = Path(tmp) / name.replace(" ", "_")
            write_dataset(generate(templates, GeneratorConfig(size=25000, seed=7, split="template")), folder / "data")
            result = train(folder / "data", "default")
            save_bundle(folder / "bundle", result.vectorizer, result.classifier)
            texts, labels = in_domain_test(folder / "data")
            layer = TorchBowLayer(folder / "bundle")
            cascade = Cascade(
                [RuleLayer("brokerage"), layer],
                {"rules": Policy(0.75, 0.1), "torch_bow": Policy(0.6)},
                extractor=domain.extractor(),
                labels=domain.labels,
            )
            row = held_out_row(cascade, layer, texts, labels, oos)
            print(f"{name}: {json.dumps(row)}", flush=True)


if __name__ == "__main__":
    main()
