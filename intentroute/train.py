"""Training a bundle from generated JSONL data: presets, the loop the CLI runs, the metrics it keeps."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar

from .data import read_jsonl
from .data.generate import extra_examples
from .errors import ConfigError
from .estimators import BowVectorizer, LogitSumClassifier, TorchBowClassifier
from .estimators.ensemble import HIDDEN_DEFAULTS, LINEAR_DEFAULTS
from .estimators.metrics import expected_calibration_error
from .legacy import LEGACY_FEATURIZER
from .lexical import LexicalHead, LexicalTable

__all__ = ["PRESETS", "TrainResult", "preset_classifier", "preset_epochs", "train"]

_FEATURES: dict[str, Any] = {  # BowVectorizer's defaults, spelt out so a preset never drifts
    "ngram_max": 2,
    "char_ngrams": (3, 4),
    "max_vocab": None,
    "weighting": "tfidf",
    "sublinear_tf": False,
    "norm": "l2_sum",
}

#: The training presets (docs/training.md has the measurements behind each choice):
#: ``default``, a ``linear`` and a 128-unit hidden-layer model with their logits summed, the most
#: accurate on all three data sets; ``linear``, the fastest (and the embedded model's); ``mlp``, a
#: 512-unit hidden layer, the most accurate single model (``TorchBowClassifier()``'s defaults);
#: ``legacy``, the legacy pipeline's features and model exactly, uncalibrated.
PRESETS: dict[str, dict[str, Any]] = {
    "legacy": {
        "vectorizer": dict(LEGACY_FEATURIZER),
        "classifier": {"hidden_size": 0, "epochs": 12, "batch_size": 32, "lr": 1e-2, "random_state": 7},
        "calibrate": False,
    },
    "linear": {
        "vectorizer": dict(_FEATURES),
        "classifier": dict(LINEAR_DEFAULTS),
        "calibrate": True,
    },
    "default": {
        "vectorizer": dict(_FEATURES),
        "classifier": {"linear": dict(LINEAR_DEFAULTS), "hidden": dict(HIDDEN_DEFAULTS)},
        "calibrate": True,
    },
    "mlp": {
        "vectorizer": dict(_FEATURES),
        "classifier": {  # TorchBowClassifier's defaults, spelt out
            "hidden_size": 512,
            "row_optimizer": "adam",
            "dropout": 0.5,
            "epochs": 10,
            "batch_size": 128,
            "lr": 2e-3,
            "random_state": 7,
        },
        "calibrate": True,
    },
}


def _with_overrides(params: dict[str, Any], overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A preset's classifier settings with ``overrides``; a summed pair's go to both models."""
    ov = overrides or {}
    if "linear" in params and "hidden" in params:
        return {"linear": {**params["linear"], **ov}, "hidden": {**params["hidden"], **ov}}
    return {**params, **ov}


def preset_classifier(preset: str, overrides: dict[str, Any] | None = None) -> TorchBowClassifier | LogitSumClassifier:
    """A preset's (unfitted) classifier with ``overrides``: a ``TorchBowClassifier``, or for the
    default preset a ``LogitSumClassifier`` whose two models both take the overrides."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    params = _with_overrides(PRESETS[preset]["classifier"], overrides)
    if "linear" in params and "hidden" in params:
        return LogitSumClassifier(
            linear=TorchBowClassifier(**params["linear"]), hidden=TorchBowClassifier(**params["hidden"])
        )
    return TorchBowClassifier(**params)


def preset_epochs(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, int]:
    """Epochs per model a preset trains (``""``: its only model; ``linear`` and ``hidden``: a pair)."""
    params = _with_overrides(PRESETS[preset]["classifier"], overrides)
    if "linear" in params and "hidden" in params:
        return {"linear": int(params["linear"]["epochs"]), "hidden": int(params["hidden"]["epochs"])}
    return {"": int(params["epochs"])}


@dataclass
class TrainResult:
    vectorizer: BowVectorizer
    classifier: TorchBowClassifier | LogitSumClassifier
    metrics: dict[str, Any]
    training: dict[str, Any]
    hyperparameters: dict[str, Any]
    lexical: dict[str, Any] | None = None  # the lexical head (save_bundle(lexical=...)), when trained


#: How much the lexical head's logits count beside the classifier's (docs/training.md: measured
#: over template splits at 0.25, 0.5 and 1).
LEXICAL_MIX = 0.25
#: The lexical head: a linear model on the table's 256-d vectors (dense inputs: no input dropout).
LEXICAL_HEAD: dict[str, Any] = {"hidden_size": 0, "epochs": 10, "batch_size": 64, "lr": 4e-2, "random_state": 7}


def _word_lists(vec: BowVectorizer, texts: Sequence[str]) -> list[list[str]]:
    markers = frozenset(getattr(vec, "slot_finders", None) or ())
    return [[t for t in vec.analyze(text) if t not in markers] for text in texts]


def fit_lexical_head(
    vec: BowVectorizer,
    clf: TorchBowClassifier | LogitSumClassifier,
    texts: Sequence[str],
    labels: Sequence[str],
    val: tuple[Sequence[str], Sequence[str]] | None,
    mix: float = LEXICAL_MIX,
) -> dict[str, Any]:
    """Train a linear head on the lexical table's vectors of ``texts`` and fit the temperature of
    the classifier's logits plus ``mix`` times the head's on ``val`` (else on ``texts``); the
    head as :func:`~intentroute.bundle.save_bundle` takes it (``lexical=``)."""
    table = LexicalTable.load()
    head = TorchBowClassifier(**LEXICAL_HEAD).fit(sp.csr_matrix(table.vectors(_word_lists(vec, texts))), labels)
    if list(head.classes_) != list(clf.classes_):
        raise ConfigError("the lexical head and the classifier learnt different classes")
    cal_texts, cal_labels = val if val is not None and len(val[0]) else (texts, labels)
    base = clf.temperature_ * np.log(np.maximum(clf.predict_proba(vec.transform(cal_texts)), 1e-300))
    z = base + mix * head._logits(sp.csr_matrix(table.vectors(_word_lists(vec, cal_texts))))
    y = clf._encode(cal_labels)

    def nll(log_t: float) -> float:
        zt = z / math.exp(log_t)
        zt -= zt.max(axis=1, keepdims=True)
        return float(-(zt[np.arange(len(y)), y] - np.log(np.exp(zt).sum(axis=1))).mean())

    fitted = minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded")
    return {
        "weight": np.asarray(head.coef_, np.float32),
        "bias": np.asarray(head.intercept_, np.float32),
        "mix": mix,
        "temperature": round(math.exp(float(fitted.x)), 6),
        "table": table.name,
        "table_sha256": table.sha256,
    }


def train(
    data_dir: str | Path,
    preset: str = "default",
    *,
    overrides: dict[str, Any] | None = None,
    epoch_callback: Callable[[dict[str, Any]], None] | None = None,
    slots: dict[str, Any] | None = None,
    extra: Sequence[tuple[str, str]] = (),
    extra_weight: int = 1,
    lexical: bool = False,
) -> TrainResult:
    """Train on ``intent_train.jsonl`` (scored on ``intent_val.jsonl`` every epoch, tested on
    ``intent_test.jsonl`` when present) with a preset and optional classifier overrides.
    ``slots`` (a domain.json's ``slots`` object) adds slot-marker features (``BowVectorizer``).
    ``extra`` ``(text, intent)`` pairs (reviewed LLM verdicts: ``intentroute review``) join the
    training examples ``extra_weight`` times each, except those whose intent the training split
    does not have and those already in it or in the validation or test split
    (:func:`intentroute.data.generate.extra_examples`); ``training["extra"]`` counts them.
    ``lexical``: also train a head on the lexical table's vectors (the ``[lexical]`` extra,
    :func:`fit_lexical_head`); the metrics are then the combined model's."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
    spec = PRESETS[preset]
    data = Path(data_dir)
    X_tr, y_tr = read_jsonl(data / "intent_train.jsonl")
    if len(set(y_tr)) < 2:
        raise ConfigError(
            f"training needs examples of at least two intents, got only {sorted(set(y_tr))}",
            source=str(data / "intent_train.jsonl"),
        )
    val = read_jsonl(data / "intent_val.jsonl") if (data / "intent_val.jsonl").exists() else None
    test = read_jsonl(data / "intent_test.jsonl") if (data / "intent_test.jsonl").exists() else None
    extra_report: dict[str, int] | None = None
    if extra:
        added, extra_report = extra_examples(
            extra,
            intents=set(y_tr),
            train=X_tr,
            held_out=[*(val[0] if val else []), *(test[0] if test else [])],
            weight=extra_weight,
        )
        X_tr = [*X_tr, *(ex.text for ex in added)]
        y_tr = [*y_tr, *(ex.intent for ex in added)]
    clf_params = _with_overrides(spec["classifier"], overrides)  # (recorded in the bundle)
    t0 = time.perf_counter()
    vec = BowVectorizer(**spec["vectorizer"], slots=slots)
    A = vec.fit_transform(X_tr)
    clf = preset_classifier(preset, overrides)
    known = set(y_tr)
    if val is not None:
        keep = [i for i, y in enumerate(val[1]) if y in known]
        val = ([val[0][i] for i in keep], [val[1][i] for i in keep])
    clf.fit(
        A,
        y_tr,
        X_val=vec.transform(val[0]) if val else None,
        y_val=val[1] if val else None,
        epoch_callback=epoch_callback,
    )
    seconds = time.perf_counter() - t0
    metrics: dict[str, Any] = {"train_seconds": round(seconds, 3), "train_examples": len(X_tr)}
    if val is not None and val[0]:
        Xv = vec.transform(val[0])
        yv_idx = clf._encode(val[1])
        metrics["val_accuracy"] = round(float((clf.predict(Xv) == np.asarray(val[1])).mean()), 6)
        if spec["calibrate"]:
            clf.calibrate(Xv, val[1])
            metrics["val_ece_before_calibration"] = clf.ece_before_
            metrics["val_ece"] = clf.ece_after_
        else:
            metrics["val_ece"] = expected_calibration_error(clf.predict_proba(Xv), yv_idx)

    def proba(texts: Sequence[str]) -> np.ndarray:
        p: np.ndarray = clf.predict_proba(vec.transform(texts))
        return p if head is None else head.mix_batch(p, [vec.analyze(t) for t in texts])

    lexical_head, head = None, None
    if lexical:
        lexical_head = fit_lexical_head(vec, clf, X_tr, y_tr, val)
        head = LexicalHead(
            lexical_head["weight"],
            lexical_head["bias"],
            mix=lexical_head["mix"],
            temperature=lexical_head["temperature"],
            base_temperature=clf.temperature_,
            exclude=frozenset(getattr(vec, "slot_finders", None) or ()),
        )
        metrics["train_seconds"] = round(time.perf_counter() - t0, 3)
        if val is not None and val[0]:
            pv = proba(val[0])
            metrics["val_accuracy_with_lexical"] = round(float((clf.classes_[pv.argmax(1)] == val[1]).mean()), 6)
    if test is not None:
        y_true = np.asarray(test[1])
        pt = proba(test[0])
        metrics["test_accuracy"] = round(float((clf.classes_[pt.argmax(1)] == y_true).mean()), 6)
        if head is not None:
            metrics["test_accuracy_without_lexical"] = round(
                float((clf.predict(vec.transform(test[0])) == y_true).mean()), 6
            )
        metrics["test_examples"] = len(test[0])
        in_known = np.isin(y_true, clf.classes_)
        if in_known.any():
            metrics["test_ece"] = expected_calibration_error(pt[in_known], clf._encode(y_true[in_known]))
    training: dict[str, Any] = {
        "data": str(data),
        "preset": preset,
        "train": len(X_tr),
        "val": len(val[0]) if val else 0,
        "test": len(test[0]) if test else 0,
    }
    if extra_report is not None:
        training["extra"] = extra_report
    summary = data / "dataset_summary.json"
    if summary.exists():
        try:
            s = json.loads(summary.read_text(encoding="utf-8"))
            training["dataset"] = {k: s.get(k) for k in ("config", "size", "splits", "templates", "noise_share")}
        except (OSError, json.JSONDecodeError):
            training["dataset"] = "dataset_summary.json unreadable"
    hp = {"preset": preset, **{k: v for k, v in clf_params.items()}}
    if lexical_head is not None:
        hp["lexical"] = {"mix": lexical_head["mix"], **LEXICAL_HEAD}
    return TrainResult(vec, clf, metrics, training, hp, lexical_head)
