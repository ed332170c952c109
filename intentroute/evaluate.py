"""Evaluation reports for a bundle or a whole cascade.

Accuracy, per-intent precision/recall/F1, the confusion matrix, expected calibration error with
its reliability bins, coverage and accuracy against the confidence threshold (risk-coverage),
latency p50/p99 for single utterances and batch throughput, for a cascade the share and the
accuracy of each layer, and where the errors are (``error_analysis``: by template, when the data
names its examples' templates, and the words of the misrouted utterances the model has no feature
for), and the learning loop's view (``escalations``: how much went past the classifier, and the
words of those utterances it has no feature for). ``write_report`` turns a report into
``report.json``, ``report.md`` and, with matplotlib (the ``[report]`` extra), PNG plots. About
430 lines: each part of a report is computed and formatted side by side, in one file to read.
"""

from __future__ import annotations

import json
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from .bundle import Bundle, load_bundle
from .data import read_jsonl_rows
from .estimators.metrics import reliability
from .layers.torch_bow import TorchBowLayer
from .scoring import BowScorer
from .types import CLARIFY, OUT_OF_SCOPE

__all__ = [
    "error_analysis",
    "evaluate_bundle",
    "evaluate_cascade",
    "format_report",
    "read_examples",
    "score",
    "write_report",
]

THRESHOLDS = [round(t, 2) for t in np.arange(0.0, 1.0, 0.05)]


def score(y_true: Sequence[str], y_pred: Sequence[str], confidence: Sequence[float]) -> dict[str, Any]:
    """Quality metrics of predictions with their confidences (no timing)."""
    yt, yp = np.asarray(y_true, dtype=object), np.asarray(y_pred, dtype=object)
    conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    correct = yt == yp
    labels = sorted(set(yt.tolist()) | set(yp.tolist()))
    p, r, f, s = precision_recall_fscore_support(yt, yp, labels=labels, zero_division=0)
    ece, bins = reliability(conf, correct.astype(float), n_bins=10)
    ece = round(ece, 4)
    curve = []
    for t in THRESHOLDS:
        covered = conf >= t
        curve.append(
            {
                "threshold": t,
                "coverage": round(float(covered.mean()), 4),
                "accuracy": round(float(correct[covered].mean()), 4) if covered.any() else None,
            }
        )
    with warnings.catch_warnings():  # one label only (a file of out-of-scope texts): a 1x1 matrix is right
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        matrix = confusion_matrix(yt, yp, labels=labels).tolist()
    return {
        "examples": len(yt),
        "accuracy": round(float(correct.mean()), 4) if len(yt) else None,
        "macro_f1": round(float(np.mean(f)), 4) if len(labels) else None,
        "per_intent": {
            lab: {
                "precision": round(float(p[i]), 4),
                "recall": round(float(r[i]), 4),
                "f1": round(float(f[i]), 4),
                "support": int(s[i]),
            }
            for i, lab in enumerate(labels)
        },
        "confusion": {"labels": labels, "matrix": matrix},
        "ece": ece,
        "reliability": bins,
        "risk_coverage": curve,
    }


def read_examples(path: str | Path, key: str = "template_id") -> tuple[list[str], list[str], list[str | None] | None]:
    """Texts, intents and each example's ``key`` (the generator writes ``template_id``) of a JSONL
    data file, read and checked once (:func:`~intentroute.data.read_jsonl_rows`); the last is
    None when no example has a string ``key``."""
    rows = read_jsonl_rows(path)
    groups = [g if isinstance(g := r.get(key), str) else None for r in rows]
    found = groups if any(g is not None for g in groups) else None
    return [r["text"] for r in rows], [r["intent"] for r in rows], found


def error_analysis(
    texts: Sequence[str],
    gold: Sequence[str],
    pred: Sequence[str],
    *,
    groups: Sequence[str | None] | None = None,
    model: Any = None,
    top: int = 10,
) -> dict[str, Any]:
    """Where the errors are.

    ``groups`` (one per example, e.g. the template each was generated from): the ``top`` groups
    with the most errors, each with its size, its examples' most common gold intent, what they
    were routed to, and one misrouted text; a few held-out templates often make most of a
    template split's errors. ``model`` (the ``torch_bow`` layer's scoring model): the words of
    the misrouted utterances that the model has no feature for (it was trained on no example with
    them), counted once per utterance, and the share of wrong and of right utterances that have
    one; such a word can only be scored through its character n-grams.
    """
    if len(texts) != len(gold) or (groups is not None and len(groups) != len(gold)):
        raise ValueError(
            f"error_analysis: {len(texts)} texts, {len(gold)} labels"
            + ("" if groups is None else f" and {len(groups)} groups")
            + ": one of each per example"
        )
    wrong = [i for i, (y, p) in enumerate(zip(gold, pred, strict=True)) if y != p]
    out: dict[str, Any] = {"errors": len(wrong), "examples": len(gold)}
    if groups is not None:
        size = Counter(g for g in groups if g is not None)
        per: dict[str, list[int]] = {}
        for i in wrong:
            if groups[i] is not None:
                per.setdefault(str(groups[i]), []).append(i)
        ranked = sorted(per.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        out["groups_with_errors"] = len(per)
        out["by_group"] = [
            {
                "group": g,
                "errors": len(idx),
                "examples": size[g],
                "gold": Counter(gold[i] for i in idx).most_common(1)[0][0],
                "routed_to": dict(Counter(pred[i] for i in idx).most_common()),
                "example": texts[idx[0]],
            }
            for g, idx in ranked[:top]
        ]
        out["errors_in_top_groups"] = sum(len(idx) for _, idx in ranked[:top])
    if getattr(model, "vocab", None) is not None:  # (a hashing vectorizer has a feature for every word)
        unknown_in = [unknown_in_text(texts[i], model) for i in wrong]
        wrong_set = set(wrong)
        right = [i for i in range(len(gold)) if i not in wrong_set]
        words = Counter(w for found in unknown_in for w in found)
        out["unknown_words"] = dict(words.most_common(top))
        out["errors_with_unknown_word"] = round(sum(bool(u) for u in unknown_in) / len(wrong), 4) if wrong else None
        out["right_with_unknown_word"] = (
            round(sum(bool(unknown_in_text(texts[i], model)) for i in right) / len(right), 4) if right else None
        )
    return out


def unknown_in_text(text: str, model: Any) -> set[str]:
    """The words of ``text`` a scoring model (:class:`~intentroute.scoring.BowScorer` with a
    vocabulary) has no feature for: no training example had them."""
    vocab, markers = model.vocab, model.markers
    return {t for t in model.tokens(text) if t not in vocab and t not in markers}


def unknown_words(texts: Sequence[str], model: Any) -> Counter[str]:
    """:func:`unknown_in_text` of each text, each word counted once per text."""
    return Counter(w for t in texts for w in unknown_in_text(t, model))


def _latency(fn: Callable[[str], Any], texts: Sequence[str], samples: int) -> dict[str, float]:
    picked = list(texts[:samples]) or [""]
    for t in picked[:20]:
        fn(t)  # warm caches
    times = []
    for t in picked:
        t0 = time.perf_counter_ns()
        fn(t)
        times.append((time.perf_counter_ns() - t0) / 1000)
    return {
        "p50_us": round(float(np.percentile(times, 50)), 2),
        "p99_us": round(float(np.percentile(times, 99)), 2),
        "samples": len(picked),
    }


def evaluate_bundle(
    bundle: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    latency_samples: int = 1000,
    groups: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """Evaluate a bundle (a :class:`~intentroute.bundle.Bundle` or a path) on labelled texts;
    ``groups``: each example's template, for the report's errors by template (:func:`error_analysis`)."""
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    model = BowScorer.from_bundle(b)
    probs = model.proba_batch(list(texts)) if texts else np.zeros((0, len(b.labels)))
    pred = [b.labels[i] for i in probs.argmax(axis=1)] if len(texts) else []
    report = {
        "kind": "bundle",
        "bundle": str(b.paths.root or b.paths.weights) if b.paths else "<in memory>",
        **score(labels, pred, probs.max(axis=1) if len(texts) else []),
    }
    unknown = sorted(set(labels) - set(b.labels))
    if unknown:
        report["labels_unknown_to_model"] = unknown
    report["error_analysis"] = error_analysis(texts, labels, pred, groups=groups, model=model)
    report["latency"] = _latency(model.proba, texts, latency_samples)
    n = max(1000, len(texts))
    batch = (list(texts) * (n // max(1, len(texts)) + 1))[:n] if texts else [""] * n
    t0 = time.perf_counter()
    model.proba_batch(batch)
    report["latency"]["batch_per_s"] = round(n / (time.perf_counter() - t0))
    return report


def evaluate_cascade(
    cascade: Any,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    latency_samples: int = 1000,
    groups: Sequence[str | None] | None = None,
) -> dict[str, Any]:
    """Evaluate a cascade: routing to ``clarify`` is correct only for out-of-scope gold labels
    (``clarify``, ``oos``, or the generator's background class ``none``), as in tuning.
    ``groups`` as for :func:`evaluate_bundle`; unknown words are the first ``torch_bow`` layer's."""
    routes = cascade.route_batch(list(texts))
    gold = [CLARIFY if y in OUT_OF_SCOPE else y for y in labels]
    pred = [r.intent for r in routes]
    report = {"kind": "cascade", "layers": cascade.layer_names, **score(gold, pred, [r.confidence for r in routes])}
    by_layer: dict[str, list[bool]] = {}
    for r, y in zip(routes, gold, strict=True):
        by_layer.setdefault(r.layer, []).append(r.intent == y)
    report["per_layer"] = {
        name: {
            "share": round(len(v) / max(1, len(routes)), 4),
            "accuracy": round(float(np.mean(v)), 4),
            "count": len(v),
        }
        for name, v in by_layer.items()
    }
    counts = Counter(pred)
    report["clarify_rate"] = round(counts.get("clarify", 0) / max(1, len(pred)), 4)
    bow = [layer.scorer for layer in cascade.layers if isinstance(layer, TorchBowLayer) and layer.scorer is not None]
    model = bow[0] if bow else None
    report["error_analysis"] = error_analysis(texts, gold, pred, groups=groups, model=model)
    report["escalated"] = escalations(cascade, texts, routes, model)
    report["latency"] = _latency(cascade.route, texts, latency_samples)
    return report


def escalations(cascade: Any, texts: Sequence[str], routes: Sequence[Any], model: Any, top: int = 20) -> dict[str, Any]:
    """The loop's view of routed texts: how many went past the cascade's classifier (its first
    ``torch_bow`` layer, or the last layer before an LLM) to a later layer or the fallback, and
    (``model``: that classifier's scoring model) their words it has no feature for, ranked: what
    the templates lack, and what reviewing the LLM's answers would teach it
    (``intentroute review``)."""
    names = list(cascade.layer_names)
    cut = next((i for i, layer in enumerate(cascade.layers) if isinstance(layer, TorchBowLayer)), None)
    if cut is None:
        cut = next((i - 1 for i, n in enumerate(names) if n == "llm"), len(names) - 1)
    before = set(names[: cut + 1])
    escalated = [t for t, r in zip(texts, routes, strict=True) if r.layer not in before]
    out: dict[str, Any] = {
        "past": names[cut] if names and cut >= 0 else None,
        "count": len(escalated),
        "share": round(len(escalated) / max(1, len(routes)), 4),
    }
    if model is not None and getattr(model, "vocab", None) is not None:
        out["unknown_words"] = dict(unknown_words(escalated, model).most_common(top))
    return out


def format_report(report: dict[str, Any]) -> str:
    """The report as Markdown (also what the CLI prints)."""
    lines = [f"# Evaluation ({report['kind']})", ""]
    lines.append(f"- examples: {report['examples']}")
    lines.append(f"- accuracy: {report['accuracy']}")
    lines.append(f"- macro F1: {report['macro_f1']}")
    lines.append(f"- expected calibration error: {report['ece']}")
    if "clarify_rate" in report:
        lines.append(f"- routed to clarify: {report['clarify_rate']:.1%}")
    lat = report["latency"]
    lines.append(
        f"- latency per utterance: p50 {lat['p50_us']} us, p99 {lat['p99_us']} us"
        + (f"; batch {lat['batch_per_s']:,} utterances/s" if "batch_per_s" in lat else "")
    )
    if report.get("labels_unknown_to_model"):
        lines.append(f"- labels the model does not know: {', '.join(report['labels_unknown_to_model'])}")
    if "per_layer" in report:
        lines += ["", "| decided by | share | accuracy |", "|---|---|---|"]
        lines += [f"| {k} | {v['share']:.1%} | {v['accuracy']:.3f} |" for k, v in report["per_layer"].items()]
    lines += ["", "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [
        f"| {k} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
        for k, v in report["per_intent"].items()
    ]
    lines += ["", "| threshold | coverage | accuracy |", "|---|---|---|"]
    lines += [
        f"| {row['threshold']:.2f} | {row['coverage']:.3f} | {'-' if row['accuracy'] is None else row['accuracy']} |"
        for row in report["risk_coverage"]
        if row["threshold"] in (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
    ]
    lines += _format_errors(report.get("error_analysis"))
    esc = report.get("escalated")
    if esc and esc.get("past"):
        lines += ["", "## Escalated", "", f"- past {esc['past']}: {esc['count']} ({esc['share']:.1%})"]
        if esc.get("unknown_words"):
            lines.append(
                "- their words the classifier has no feature for (texts with each): "
                + ", ".join(f"{w} ({n})" for w, n in esc["unknown_words"].items())
            )
    return "\n".join(lines) + "\n"


def _format_errors(errors: dict[str, Any] | None) -> list[str]:
    if not errors or not errors["errors"]:
        return []
    lines = ["", "## Errors", "", f"- {errors['errors']} of {errors['examples']} examples wrong"]
    if "by_group" in errors:
        lines.append(
            f"- {errors['groups_with_errors']} templates with errors; the {len(errors['by_group'])} below make "
            f"{errors['errors_in_top_groups']} of them"
        )
    if "unknown_words" in errors:
        share = errors["errors_with_unknown_word"]
        right = errors["right_with_unknown_word"]
        lines.append(
            f"- wrong utterances with a word the model has no feature for: {share:.1%}"
            + ("" if right is None else f" (right ones: {right:.1%})")
        )
        if errors["unknown_words"]:
            lines.append(
                "- those words (wrong utterances with each): "
                + ", ".join(f"{w} ({n})" for w, n in errors["unknown_words"].items())
            )
    if errors.get("by_group"):
        lines += ["", "| template | wrong | of | gold | routed to | example |", "|---|---|---|---|---|---|"]
        for row in errors["by_group"]:
            routed = ", ".join(f"{k} {v}" for k, v in row["routed_to"].items())
            example = row["example"].replace("|", "\\|")
            lines.append(
                f"| {row['group']} | {row['errors']} | {row['examples']} | {row['gold']} | {routed} | {example} |"
            )
    return lines


def write_report(report: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and, when matplotlib is installed, PNG plots."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.json", out / "report.md"]
    written[0].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    md = format_report(report)
    try:
        written += _plots(report, out)
        md += "".join(f"\n![{p.stem}]({p.name})\n" for p in written[2:])
    except ImportError:
        md += "\n(plots need matplotlib: pip install 'intentroute[report]')\n"
    written[1].write_text(md, encoding="utf-8")
    return written


def _plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    labels, matrix = report["confusion"]["labels"], np.asarray(report["confusion"]["matrix"])
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(labels), 0.8 + 0.5 * len(labels)))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] > matrix.max() / 2 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"accuracy {report['accuracy']}")
    fig.tight_layout()
    paths.append(out / "confusion_matrix.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    rel = report["reliability"]
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot([r["confidence"] for r in rel], [r["accuracy"] for r in rel], "o-", label=f"model (ECE {report['ece']})")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "reliability.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.0))
    rc = [r for r in report["risk_coverage"] if r["accuracy"] is not None]
    ax.plot([r["coverage"] for r in rc], [r["accuracy"] for r in rc], "o-")
    for r in rc[::4]:
        ax.annotate(f"{r['threshold']:.2f}", (r["coverage"], r["accuracy"]), fontsize=7)
    ax.set_xlabel("coverage (share answered)")
    ax.set_ylabel("accuracy when answered")
    fig.tight_layout()
    paths.append(out / "risk_coverage.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths
