"""Fit the default cascade's thresholds on labelled validation data, for two different goals.

python examples/fit_thresholds.py

The validation data here is the embedded model's own validation split (``make model``'s data:
seed 7, whole templates held out of training, with the background class ``none`` of out-of-domain
requests, which count as "should clarify"); in an application it would be real, labelled traffic,
with out-of-scope messages labelled ``oos``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import intentroute
from intentroute.config import build_cascade, default_config
from intentroute.data import GeneratorConfig, generate, load_templates, merge_templates
from intentroute.domains import domain_path
from intentroute.tune import fit_policies, save_policies


def main() -> None:
    templates = merge_templates(
        load_templates(domain_path("brokerage", "templates.json")),
        load_templates(domain_path("brokerage", "background.json")),
    )
    val = generate(templates, GeneratorConfig(size=25000, seed=7, split="template")).val
    texts, labels = [e.text for e in val], [e.intent for e in val]
    print(f"{len(texts)} validation texts, {labels.count('none')} of them out of scope")

    cascade = intentroute.default_cascade()
    goals = {
        "fewest mistakes (rejections count as mistakes)": ("accuracy", None),
        "reject 90% of out-of-scope texts, with 95% confidence": ("oos_recall:0.9", 0.95),
    }
    for goal, (target, confidence) in goals.items():
        result = fit_policies(cascade, texts, labels, target=target, confidence=confidence)
        policies = ", ".join(f"{n} >= {p.threshold:g} (margin {p.margin:g})" for n, p in result.policies.items())
        print(f"\n{goal}: {policies}" + ("" if result.target_met else " (target not reached)"))
        print(
            f"  accuracy {result.accuracy}, answered {result.coverage}, precision {result.precision}, "
            f"out-of-scope recall {result.oos_recall}, in-scope answered correctly {result.in_scope_correct}"
        )

    # keep the last fit: a policies file, used by a cascade config (or as the domain's policies.toml)
    out = Path(tempfile.mkdtemp(prefix="intentroute-example-")) / "policies.toml"
    save_policies(out, result, note=" (examples/fit_thresholds.py)")
    tuned = build_cascade({**default_config(), "policies": str(out)})
    route = tuned.route("what's the weather in Paris tomorrow")
    print(f"\nwith {out.name}: 'what's the weather in Paris tomorrow' -> {route.intent}")
    print(f"  {route.explain().splitlines()[-1].strip()}")


if __name__ == "__main__":
    main()
