"""Record the embedded default cascade's answers, for ``test_recorded_routes.py``.

Run ``python -m tests.record_routes`` only when the embedded model or its rules change on
purpose: the test then proves that every other change (a refactor, a speed-up) leaves each
decision exactly as it was. The utterances are the held-out test split of ``make model``'s
data (its recipe.toml's generate options) (whole templates the model never saw) and the domain's probe lists.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import intentroute
from intentroute.domains import load_probes, load_recipe

HERE = Path(__file__).resolve().parent
FIXTURE = HERE / "data" / "recorded_routes.jsonl"


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


def main() -> None:
    cascade = intentroute.default_cascade()
    lines = [json.dumps({"text": t, **answer(cascade.route(t))}, ensure_ascii=False) for t in utterances()]
    FIXTURE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} routes to {FIXTURE}")


if __name__ == "__main__":
    main()
