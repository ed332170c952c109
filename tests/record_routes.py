"""Record the embedded default cascade's answers, for ``test_recorded_routes.py``.

Run ``python -m tests.record_routes`` only when the embedded model or its rules change on
purpose: the test then proves that every other change (a refactor, a speed-up) leaves each
decision exactly as it was. The utterances are the held-out test split of ``make model``'s
data (its recipe.toml's generate options: whole templates the model never saw) and the domain's
probe lists, kept route by route; and 10,000 generated utterances, kept as a digest.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import intentroute
from intentroute.data import GeneratorConfig, generate, load_templates, merge_templates
from intentroute.domains import domain_path, load_probes, load_recipe

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "recorded_routes.jsonl"
DIGEST = HERE / "data" / "recorded_digest.json"
GENERATED = {"seed": 11, "size": 12000, "count": 10000}  # the digest's utterances (generate_utterances)


def answer(route: intentroute.Route) -> dict[str, object]:
    """What the fixture keeps of a route: the decision, not the timings of its trace."""
    return {
        "intent": route.intent,
        "layer": route.layer,
        "confidence": route.confidence,
        "extracted": route.extracted,
        "missing": list(route.missing_params),
    }


def utterances() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        options = [f"--{k}" if v is True else f"--{k}={v}" for k, v in load_recipe("brokerage")["generate"].items()]
        subprocess.run([sys.executable, "-m", "intentroute", "generate", "--out", tmp, *options], check=True)
        rows = [json.loads(line) for line in Path(tmp, "intent_test.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = [r["text"] for r in rows]
    for group in load_probes("brokerage").values():
        texts.extend(group if isinstance(group, list) else [t for ts in group.values() for t in ts])
    return list(dict.fromkeys(texts))


def generated_utterances() -> list[str]:
    """10,000 distinct utterances the generator makes from the domain's templates and its
    background class (out-of-domain requests), with its affixes, variants and typing noise."""
    templates = merge_templates(
        load_templates(domain_path("brokerage", "templates.json")),
        load_templates(domain_path("brokerage", "background.json")),
    )
    data = generate(templates, GeneratorConfig(size=GENERATED["size"], seed=GENERATED["seed"], split="random"))
    texts = list(dict.fromkeys(e.text for e in data.train + data.val + data.test))
    return texts[: GENERATED["count"]]


def digest(routes: list[intentroute.Route]) -> str:
    """A fingerprint of the routes' decisions (confidence to 9 decimals): equal digests, equal decisions."""
    lines = []
    for route in routes:
        a = answer(route)
        a["confidence"] = f"{a['confidence']:.9f}"
        lines.append(json.dumps(a, sort_keys=True, ensure_ascii=False))
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def main() -> None:
    cascade = intentroute.default_cascade()
    lines = [json.dumps({"text": t, **answer(cascade.route(t))}, ensure_ascii=False) for t in utterances()]
    FIXTURE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} routes to {FIXTURE}")
    texts = generated_utterances()
    record = {**GENERATED, "count": len(texts), "sha256": digest([cascade.route(t) for t in texts])}
    DIGEST.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"wrote the digest of {len(texts)} generated routes to {DIGEST}")


if __name__ == "__main__":
    main()
