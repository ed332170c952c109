"""Train a bundle, serve it from a cascade, and swap in a retrained one (with slot markers) without a restart.

python examples/train_and_hot_reload.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from intentroute import Cascade, Policy
from intentroute.bundle import save_bundle
from intentroute.data import GeneratorConfig, generate, load_templates, write_dataset
from intentroute.domains import domain_path, load_domain
from intentroute.layers.rules import RuleLayer
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.train import train


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="intentroute-example-"))
    templates = load_templates(domain_path("brokerage", "templates.json"))
    write_dataset(generate(templates, GeneratorConfig(size=4000, seed=1, split="template")), work / "data")
    first = train(work / "data", "default")
    print(f"first model: held-out test accuracy {first.metrics['test_accuracy']:.3f}")
    save_bundle(work / "bundle", first.vectorizer, first.classifier, metrics=first.metrics)

    domain = load_domain("brokerage")
    classifier = TorchBowLayer(work / "bundle", reload_interval=0)  # check for a new bundle on every call
    cascade = Cascade(
        [RuleLayer("brokerage"), classifier],
        {"rules": Policy(0.75, 0.1), "torch_bow": Policy(0.6)},
        extractor=domain.extractor(),
        labels=domain.labels,
    )
    text = "is my nvidia stake up or down since march"
    print(cascade.route(text).explain())

    write_dataset(
        generate(templates, GeneratorConfig(size=8000, seed=2, split="template")), work / "data", overwrite=True
    )
    # the new model also sees which of the domain's slots (ticker, account, period, topic) a text
    # names, as the embedded brokerage model does (docs/training.md, "Slot markers")
    second = train(work / "data", "default", slots=domain.slots)
    print(f"second model: held-out test accuracy {second.metrics['test_accuracy']:.3f}")
    save_bundle(work / "bundle", second.vectorizer, second.classifier, metrics=second.metrics)
    cascade.route(text)  # the layer sees the new files: it loads them in the background, the old model answering
    classifier.wait_for_reload()  # (a service would not wait; this example wants the new model's answer)
    route = cascade.route(text)
    status = classifier.status()
    print(
        f"\nafter retraining on 8,000 examples with slot markers {status['slots']}: reloads={status['reloads']}, "
        f"{route.intent} {route.confidence:.3f} via {route.layer}"
    )


if __name__ == "__main__":
    main()
