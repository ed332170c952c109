"""The learning loop, simulated: route traffic, let a teacher LLM answer what the classifier
cannot, accept its answers, retrain, and watch escalations fall while accuracy rises.

    python -m benchmarks.learning_loop [--rounds 4] [--noise 0.1] [--weight 3]
                                       [--data ../shared/benchmarks] [--plot docs/learning_loop.png]
                                       [--json out.json]

The teacher is an OpenAI-compatible server on 127.0.0.1 (tests/llm_server.py) that knows every
traffic utterance's true label and answers with it ("perfect"), or with another intent for a fixed
``--noise`` share of the texts ("noisy": the same text always gets the same wrong answer, as a
model's blind spot would), and "none" (an abstention) for out-of-scope texts. The cascade calls it
through the real LLM layer with its verdict log on; each round then does what a team would run:

    intentroute review LOGS --out review.jsonl --accept-all     (loop.read_traffic, review_rows)
    intentroute train --data D --extra review.jsonl ...         (train(extra=read_extra(...)))

and, for brokerage, ``make model``'s threshold fit (``tune --target oos_recall:0.8``) on the
validation split. Measured after every round on a fixed test set the loop never trains on (the
loop's own guard drops any text of it): the classifier's accuracy alone (its top candidate), the
share of the test set the cascade without its LLM would escalate, the share of out-of-scope test
texts it still routes to clarify, and the LLM calls spent so far. The control: the seed model
retrained at other random seeds with nothing added (``--control-seeds``), the spread a retrain
alone moves the figures by.

Datasets:

- ``brokerage``: ``make model``'s recipe (25,000 examples from templates, a template-held-out
  split). The phrasings of the held-out templates (the model never saw one), 10,000 of them
  generated with the same split, none a training or validation text, are cut in two at random:
  one half is the traffic, streamed in ``--rounds`` equal parts, the other the fixed test set.
- ``banking77`` (when ``--data`` has it): 10 labelled training utterances per intent are the seed,
  the rest of the training set is the traffic, the test set is the test set. No rules, the
  classifier by its top probability at ``--threshold``.
- ``clinc150`` (the same, from its training set; its out-of-scope queries join traffic and test).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.heldout import brokerage_templates, recipe_cascade
from benchmarks.recipe import train_overrides
from intentroute import Cascade, Policy
from intentroute.bundle import save_bundle
from intentroute.config import build_cascade
from intentroute.data import GeneratorConfig, generate, read_extra, read_jsonl, write_dataset
from intentroute.data.generate import text_key
from intentroute.domains import domain_path, load_domain, load_recipe
from intentroute.layers.llm import LLMLayer
from intentroute.layers.torch_bow import TorchBowLayer
from intentroute.loop import read_review, read_traffic, review_rows, write_review
from intentroute.train import train
from tests.llm_server import ChatServer, Reply, verdict

ROOT = Path(__file__).resolve().parent.parent
OUT_OF_SCOPE = {"none", "oos"}


@dataclass
class Task:
    """One simulated domain: where its model trains, what streams in, what it is tested on."""

    name: str
    data: Path  # intent_train.jsonl, intent_val.jsonl (optional), intent_test.jsonl = the fixed test set
    traffic: list[tuple[str, str]]
    test: list[tuple[str, str]]
    intents: list[str]
    build: Callable[[Path], Cascade]  # bundle folder -> the cascade without its LLM
    preset: str = "linear"
    overrides: dict[str, Any] | None = None
    slots: dict[str, Any] | None = None


def teacher(truth: dict[str, str], intents: list[str], noise: float) -> Callable[[Any], Reply]:
    """A chat-completions answer for a request: the true label, or for ``noise`` of the texts
    (chosen by a hash of the text, so always the same ones) another intent; "none" out of scope."""

    def answer(body: Any) -> Reply:
        text = body["messages"][-1]["content"]
        label = truth.get(text)
        if label is None or label in OUT_OF_SCOPE:
            return Reply(200, verdict("none", 0.9))
        h = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
        if (h % 10_000) / 10_000 < noise:
            others = [i for i in intents if i != label]
            label = others[(h // 10_000) % len(others)]
        return Reply(200, verdict(label, 0.9))

    return answer


def brokerage_task(folder: Path, seed: int = 7) -> Task:
    steps = load_recipe("brokerage")
    fragments = bool(steps["generate"].get("fragments"))
    dataset = generate(
        brokerage_templates(), GeneratorConfig(size=25000, seed=seed, split="template", fragments=fragments)
    )
    write_dataset(dataset, folder)
    # more phrasings of the same held-out templates (the split depends on the seed, not the size),
    # none of them a training or validation text
    more = generate(
        brokerage_templates(), GeneratorConfig(size=100_000, seed=seed, split="template", fragments=fragments)
    )
    assert {ex.template_id for ex in more.test} == {ex.template_id for ex in dataset.test}
    seen = {text_key(ex.text) for ex in [*dataset.train, *dataset.val]}
    held = [(ex.text, ex.intent) for ex in more.test if text_key(ex.text) not in seen]
    random.Random(seed).shuffle(held)
    traffic, test = held[: len(held) // 2], held[len(held) // 2 :]
    _write(folder / "intent_test.jsonl", test)
    configured = build_cascade(domain_path("brokerage", "cascade.toml"))
    val = read_jsonl(folder / "intent_val.jsonl")
    slots = load_domain("brokerage").slots

    def build(bundle: Path) -> Cascade:
        return recipe_cascade(configured, TorchBowLayer(bundle, confidence="in_scope"), val)

    intents = sorted({y for _, y in held if y not in OUT_OF_SCOPE})
    preset = steps["train"].get("preset", "default")
    return Task("brokerage", folder, traffic, test, intents, build, preset, train_overrides(), slots)


def public_task(name: str, source: Path, folder: Path, per_intent: int, threshold: float, seed: int = 7) -> Task:
    texts, labels = read_jsonl(source / "train.jsonl")
    rng = random.Random(seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    taken: dict[str, int] = {}
    seed_rows, traffic = [], []
    for i in order:
        if taken.get(labels[i], 0) < per_intent:
            taken[labels[i]] = taken.get(labels[i], 0) + 1
            seed_rows.append((texts[i], labels[i]))
        else:
            traffic.append((texts[i], labels[i]))
    test = list(zip(*read_jsonl(source / "test.jsonl"), strict=True))
    if (source / "oos_train.jsonl").exists():  # CLINC150: out-of-scope queries in traffic and test
        traffic += list(zip(*read_jsonl(source / "oos_train.jsonl"), strict=True))
        test += list(zip(*read_jsonl(source / "oos_test.jsonl"), strict=True))
        rng.shuffle(traffic)
    _write(folder / "intent_train.jsonl", seed_rows)
    _write(folder / "intent_test.jsonl", test)

    def build(bundle: Path) -> Cascade:
        layer = TorchBowLayer(bundle, confidence="probability")
        return Cascade([layer], [Policy(threshold)], labels=sorted(set(labels)))

    return Task(name, folder, traffic, test, sorted(set(labels)), build)


def _write(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"text": t, "intent": y}) + "\n" for t, y in rows), encoding="utf-8")


def measure(cascade: Cascade, test: list[tuple[str, str]]) -> dict[str, Any]:
    """On the fixed test set: the classifier's own accuracy (in scope), the share the cascade
    without its LLM escalates (in scope), and the share of out-of-scope texts it sends to clarify."""
    classifier = next(layer for layer in cascade.layers if isinstance(layer, TorchBowLayer))
    inside = [(t, y) for t, y in test if y not in OUT_OF_SCOPE]
    outside = [t for t, y in test if y in OUT_OF_SCOPE]
    tops = [r.top.intent if r.top else None for r in classifier.route_batch([t for t, _ in inside])]
    routes = cascade.route_batch([t for t, _ in inside])
    row = {
        "classifier_accuracy": round(float(np.mean([p == y for p, (_, y) in zip(tops, inside, strict=True)])), 4),
        "escalation_rate": round(float(np.mean([r.layer == "fallback" for r in routes])), 4),
        "cascade_accuracy_without_llm": round(
            float(np.mean([r.intent == y for r, (_, y) in zip(routes, inside, strict=True)])), 4
        ),
    }
    if outside:
        row["oos_to_clarify"] = round(float(np.mean([r.intent == "clarify" for r in cascade.route_batch(outside)])), 4)
    return row


def simulate(
    task: Task, rounds: int, noise: float, weight: int, work: Path, spread_seeds: tuple[int, ...] = ()
) -> list[dict[str, Any]]:
    """Seed model, then ``rounds`` of route -> escalate -> review (accept all) -> retrain.
    ``spread_seeds``: also retrain the seed model at these random seeds (the control)."""
    truth = dict(task.traffic)
    chunks = [task.traffic[i::rounds] for i in range(rounds)]
    review = work / "review.jsonl"
    logs: list[Path] = []
    rows: list[dict[str, Any]] = []
    spent = 0

    def fit(k: int) -> tuple[Cascade, dict[str, Any]]:
        """Train on the data and the review file's accepted rows; the cascade, and what it cost."""
        extra = read_extra([review])[0] if review.exists() else []
        t0 = time.perf_counter()
        result = train(
            task.data, task.preset, overrides=task.overrides, slots=task.slots, extra=extra, extra_weight=weight
        )
        seconds = time.perf_counter() - t0
        bundle = work / f"bundle{k}"
        save_bundle(bundle, result.vectorizer, result.classifier)
        report = result.training.get("extra") or {}
        return task.build(bundle), {
            "extra_added": report.get("added", 0),
            "extra_held_out": report.get("held_out", 0),
            "train_seconds": round(seconds, 1),
        }

    with ChatServer() as server:
        server.default = teacher(truth, task.intents, noise)  # type: ignore[assignment]
        cascade, _ = fit(0)
        rows.append({"round": 0, "traffic": 0, "llm_calls": 0, **measure(cascade, task.test)})
        if noise == 0 and spread_seeds:
            # the control: the seed model retrained at other random seeds, nothing added; how far
            # a retrain moves the figures without the loop
            spread = []
            for rs in spread_seeds:
                result = train(
                    task.data, task.preset, overrides={**(task.overrides or {}), "random_state": rs}, slots=task.slots
                )
                save_bundle(work / f"control{rs}", result.vectorizer, result.classifier)
                spread.append(measure(task.build(work / f"control{rs}"), task.test))
            rows[0]["control"] = {
                key: [min(r[key] for r in spread), max(r[key] for r in spread)]
                for key in ("classifier_accuracy", "escalation_rate")
            }
            print(json.dumps({"task": task.name, "control_seeds": spread_seeds, **rows[0]["control"]}), flush=True)
        for k, chunk in enumerate(chunks, 1):
            log = work / f"verdicts{k}.jsonl"
            logs.append(log)
            llm = LLMLayer(
                model="teacher",
                base_url=server.url,
                api_key="sk-simulation",
                intents={i: i for i in task.intents},
                cache_size=0,
                log_file=log,
            )
            live = Cascade([*cascade.layers, llm], [*cascade.policies, Policy(0.5)], labels=task.intents)
            before = len(server.requests)
            routes = live.route_batch([t for t, _ in chunk])
            calls = len(server.requests) - before
            spent += calls
            traffic = read_traffic(logs, intents=task.intents)
            classifier = next(layer for layer in cascade.layers if isinstance(layer, TorchBowLayer))
            reviewed = review_rows(
                traffic, classifier, existing=read_review(review) if review.exists() else [], accept_all=True
            )
            write_review(reviewed, review)
            accepted = [r for r in reviewed if r["review"] == "accepted"]
            wrong = sum(truth.get(r["text"]) != r["intent"] for r in accepted)
            cascade, cost = fit(k)
            rows.append(
                {
                    "round": k,
                    "traffic": len(chunk),
                    "live_escalation_rate": round(float(np.mean([r.layer in ("llm", "fallback") for r in routes])), 4),
                    "llm_calls": calls,
                    "llm_calls_total": spent,
                    "accepted": len(accepted),
                    "accepted_wrong": wrong,
                    "abstained": traffic.abstained,
                    **cost,
                    **measure(cascade, task.test),
                }
            )
            print(json.dumps({"task": task.name, "noise": noise, **rows[-1]}), flush=True)
    return rows


def plot(results: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, rows in results.items():
        x = [r["round"] for r in rows]
        left.plot(x, [r["classifier_accuracy"] for r in rows], marker="o", label=name)
        right.plot(x, [r["escalation_rate"] for r in rows], marker="o", label=name)
    left.set(title="classifier accuracy on the fixed test set", xlabel="round", ylabel="accuracy")
    right.set(title="share of the test set escalated to the LLM", xlabel="round", ylabel="escalation rate")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.set_xticks(range(max(len(r) for r in results.values())))
    left.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def table(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| run | round | traffic | LLM calls (total) | accepted (wrong) | classifier accuracy | escalated | "
        "out of scope to clarify |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        for r in rows:
            oos = f"{r['oos_to_clarify']:.3f}" if "oos_to_clarify" in r else "-"
            accepted = f"{r['accepted']} ({r['accepted_wrong']})" if "accepted" in r else "-"
            calls = f"{r['llm_calls']} ({r.get('llm_calls_total', 0)})"
            lines.append(
                f"| {name} | {r['round']} | {r['traffic']} | {calls} | {accepted} | {r['classifier_accuracy']:.3f} | "
                f"{r['escalation_rate']:.3f} | {oos} |"
            )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--noise", type=float, default=0.1, help="the noisy teacher's share of wrong answers")
    ap.add_argument("--weight", type=int, default=3, help="train --extra-weight")
    ap.add_argument("--per-intent", type=int, default=10, help="labelled seed examples per intent (public sets)")
    ap.add_argument("--threshold", type=float, default=0.5, help="the public sets' classifier threshold")
    ap.add_argument(
        "--control-seeds",
        type=int,
        nargs="*",
        default=[8, 9, 10, 11],
        help="retrain the seed model at these random seeds too, nothing added: the spread without the loop",
    )
    ap.add_argument("--tasks", nargs="+", default=["brokerage", "banking77", "clinc150"])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "benchmarks")
    ap.add_argument("--plot", type=Path, default=None, help="write the curves here (PNG)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.tasks:
            if name != "brokerage" and not (args.data / name / "train.jsonl").exists():
                print(f"{name}: skipped, no {args.data / name}")
                continue
            for noise in (0.0, args.noise):
                work = Path(tmp) / f"{name}-{noise}"
                (work / "data").mkdir(parents=True)
                task = (
                    brokerage_task(work / "data")
                    if name == "brokerage"
                    else public_task(name, args.data / name, work / "data", args.per_intent, args.threshold)
                )
                label = f"{name}, {'perfect' if noise == 0 else f'{noise:.0%} noisy'} teacher"
                results[label] = simulate(task, args.rounds, noise, args.weight, work, tuple(args.control_seeds))
    print(table(results))
    for name, rows in results.items():
        if "control" in rows[0]:
            c = rows[0]["control"]
            print(
                f"control, {name.split(',')[0]}: the seed model retrained at random seeds {args.control_seeds}: "
                f"classifier accuracy {c['classifier_accuracy'][0]:.3f}-{c['classifier_accuracy'][1]:.3f}, "
                f"escalated {c['escalation_rate'][0]:.3f}-{c['escalation_rate'][1]:.3f}"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
