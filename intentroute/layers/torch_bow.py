"""The trained bag-of-words layer (``torch_bow``): a bundle's classifier, answering in microseconds.

The bundle comes from ``bundle=PATH`` (a folder), an embedded domain name, or the seed's
``TORCH_ROUTER_MODEL_PATH`` / ``TORCH_ROUTER_VOCAB_PATH`` / ``TORCH_ROUTER_LABELS_PATH``; by
default the embedded brokerage bundle. A new bundle written to the path is picked up without a
restart (one ``stat`` per file at most every ``reload_interval`` seconds); a bad new bundle leaves
the old model serving and ``status()`` says why. Loading needs torch (the ``[torch]`` extra);
without it, or without the files, the layer is unavailable and the cascade skips it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, IntentRouteError, LayerUnavailable
from ..hookspecs import hookimpl
from ..types import Candidate, LayerResult

__all__ = ["TorchBowLayer"]


class _Model:
    """A loaded bundle prepared for fast single-utterance scoring."""

    def __init__(self, bundle: Any) -> None:
        self.bundle = bundle
        self.vec = bundle.vectorizer
        clf = bundle.classifier
        self.labels = bundle.labels
        self.temperature = bundle.temperature
        self.linear = not clf.hidden_size
        # per feature column, the row of weights it adds to the logits (float64: no surprises)
        first = clf.coef_ if self.linear else clf.hidden_coef_
        self.rows = np.ascontiguousarray(first.T, dtype=np.float64)  # multiplied by the idf, then float32
        self.bias = np.asarray(clf.intercept_ if self.linear else clf.hidden_intercept_, dtype=np.float64)
        self.clf = clf
        self.vocab = self.vec.vocabulary_
        idf = getattr(self.vec, "idf_", None) if self.vec.weighting == "tfidf" else None
        if idf is not None:
            self.rows = self.rows * np.asarray(idf, dtype=np.float64)[:, None]
        # float32 halves the memory a single utterance touches (its rows are scattered over the
        # table); every sum over them is still taken in float64
        self.rows = np.ascontiguousarray(self.rows, dtype=np.float32)
        self.rows64 = self.rows.astype(np.float64)  # the same values, for the batch's sparse product
        self.sq_weight = np.ones(len(self.rows)) if idf is None else np.asarray(idf, dtype=np.float64) ** 2

    def tokens(self, text: str) -> list[str]:
        found: list[str] = self.vec._tokens(text)
        return found

    def known_words(self, tokens: list[str]) -> int:
        """How many of the utterance's word tokens the model was trained on (hashing: all)."""
        if self.vocab is None:
            return len(tokens)
        return sum(1 for t in tokens if t in self.vocab)

    def proba(self, text: str) -> list[float]:
        """Probabilities for one utterance (see :meth:`proba_tokens`)."""
        return self.proba_tokens(self.tokens(text))

    def proba_tokens(self, tokens: list[str]) -> list[float]:
        """Probabilities for one tokenised utterance, equal to the vectorizer + classifier's
        (tested), with as few NumPy calls as possible: an utterance has only tens of features."""
        cols: list[int] = self.vec._row_columns(tokens)
        if not cols:
            z = self.bias if self.linear else self._head(self.bias)
        else:
            w = self.vec.weighting
            distinct = set(cols)
            if len(distinct) == len(cols) or w == "binary":
                # every feature once (the usual case) or binary weights: each weight is 1 before
                # the idf, under any weighting, so the logits are a plain sum of rows
                u = np.fromiter(distinct, dtype=np.intp, count=len(distinct))
                z = self.rows[u].sum(axis=0, dtype=np.float64)
                sq = float(self.sq_weight[u].sum())
            else:
                counts = Counter(cols)
                u = np.fromiter(counts, dtype=np.intp, count=len(counts))
                if w == "binary":
                    vals = np.ones(len(counts))
                elif self.vec.sublinear_tf:
                    vals = np.array([1.0 + math.log(c) if c > 1 else 1.0 for c in counts.values()])
                else:
                    vals = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
                # rows and squared weights are pre-multiplied by the idf (see __init__)
                z = vals @ self.rows[u].astype(np.float64)
                sq = float((vals * vals) @ self.sq_weight[u])
            if self.vec.norm == "l2":
                z = z / math.sqrt(sq)
            z = z + self.bias
            if not self.linear:
                z = self._head(z)
        zs = (z / self.temperature).tolist()
        m = max(zs)
        e = [math.exp(v - m) for v in zs]
        total = sum(e)
        return [v / total for v in e]

    def _head(self, h: np.ndarray) -> np.ndarray:
        out: np.ndarray = np.maximum(h, 0.0) @ self.clf.coef_.T.astype(np.float64) + self.clf.intercept_
        return out

    def proba_batch(self, texts: list[str], token_lists: list[list[str]] | None = None) -> np.ndarray:
        """Probabilities for many utterances: the same float64 arithmetic as :meth:`proba`, as
        sparse products over the whole batch (``token_lists``: the texts already tokenised)."""
        vec = self.vec
        if token_lists is None:
            token_lists = [self.tokens(t) for t in texts]
        counts = vec._counts(token_lists).astype(np.float64)
        if vec.weighting == "binary":
            counts.data[:] = 1.0
        elif vec.sublinear_tf:
            counts.data = 1.0 + np.log(counts.data)
        z = np.asarray(counts @ self.rows64)
        if vec.norm == "l2":
            sq = counts.multiply(counts) @ self.sq_weight
            z = z / np.where(sq > 0, np.sqrt(np.maximum(sq, 1e-300)), 1.0)[:, None]
        z = z + self.bias
        if not self.linear:
            z = self._head(z)
        z = z / self.temperature
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out


class TorchBowLayer:
    """The trained BoW classifier as a cascade layer.

    Parameters
    ----------
    bundle:
        A bundle folder, or an embedded domain name (``"brokerage"``). ``None`` (default): the
        seed's ``TORCH_ROUTER_*_PATH`` variables when set, else the embedded brokerage bundle.
    name:
        The layer's name in the cascade.
    top_k:
        Candidates returned, best first.
    reload_interval:
        Seconds between checks for a new bundle on disk (0: every call; negative: never).
    min_known_words:
        Abstain when fewer of the utterance's words than this were seen in training: a linear
        model still spreads probability over intents for "asdf qwer", and no evidence is not a
        reason to answer.
    background_label:
        The label of a background class the bundle may have been trained with (``"none"``:
        out-of-domain requests). When it wins, the layer abstains ("out of scope"); otherwise it
        is left out of the candidates.
    """

    def __init__(
        self,
        bundle: str | Path | None = None,
        *,
        name: str = "torch_bow",
        top_k: int = 3,
        reload_interval: float = 1.0,
        min_known_words: int = 1,
        background_label: str | None = "none",
    ) -> None:
        from ..bundle import BundlePaths

        if not isinstance(name, str) or not name:
            raise ConfigError("must be a non-empty string", param="name", value=name)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ConfigError(f"must be a positive integer, got {top_k!r}", param="top_k", value=top_k)
        if isinstance(reload_interval, bool) or not isinstance(reload_interval, int | float):
            raise ConfigError(
                f"must be a number of seconds, got {reload_interval!r}",
                param="reload_interval",
                value=reload_interval,
            )
        if isinstance(min_known_words, bool) or not isinstance(min_known_words, int) or min_known_words < 0:
            raise ConfigError(
                f"must be an integer >= 0, got {min_known_words!r}",
                param="min_known_words",
                value=min_known_words,
            )
        self.min_known_words = min_known_words
        self.background_label = background_label
        self.name = name
        self.top_k = top_k
        self.reload_interval = float(reload_interval)
        self.paths = self._resolve(bundle, BundlePaths)
        self._model: _Model | None = None
        self._signature: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self.load_error: str | None = None
        self.reload_error: str | None = None
        self.reloads = 0
        self.loaded_at: float | None = None
        self._try_load(initial=True)

    @staticmethod
    def _resolve(bundle: str | Path | None, BundlePaths: Any) -> Any:
        from ..domains import domain_file_or_path, domain_path

        if bundle is None:
            model = os.environ.get("TORCH_ROUTER_MODEL_PATH")
            vocab = os.environ.get("TORCH_ROUTER_VOCAB_PATH")
            labels = os.environ.get("TORCH_ROUTER_LABELS_PATH")
            if model or vocab or labels:
                default = BundlePaths.folder(domain_path("brokerage", "bundle"))
                m = Path(model) if model else default.weights
                root = m.parent
                return BundlePaths(
                    m,
                    Path(vocab) if vocab else root / "intent_router_vocab.json",
                    Path(labels) if labels else root / "intent_router_labels.json",
                    root / "intent_router_config.json",
                    root if (root / "manifest.json").exists() else None,
                )
            bundle = "brokerage"
        return BundlePaths.folder(domain_file_or_path(bundle, "bundle"))

    @staticmethod
    def availability() -> str | None:
        from ..bundle import torch_missing_reason

        return torch_missing_reason()

    # -- loading -----------------------------------------------------------------------------

    def _try_load(self, *, initial: bool = False) -> None:
        from ..bundle import load_bundle

        with self._lock:
            signature = self.paths.signature()
            if not initial and signature == self._signature:
                return
            try:
                model = _Model(load_bundle(self.paths if self.paths.root is None else self.paths.root))
            except (IntentRouteError, ImportError) as exc:
                message = f"{type(exc).__name__}: {exc}"
                if self._model is None:
                    self.load_error = message
                else:
                    self.reload_error = message  # keep serving the old model
                self._signature = signature
                return
            if self._model is not None:
                self.reloads += 1
            self._model = model
            self._signature = signature
            self.load_error = self.reload_error = None
            self.loaded_at = time.time()

    def _current(self) -> _Model:
        if self.reload_interval >= 0:
            now = time.monotonic()
            if now - self._last_check >= self.reload_interval:
                self._last_check = now
                if self.paths.signature() != self._signature:
                    self._try_load()
        model = self._model
        if model is None:
            raise LayerUnavailable(self.load_error or "no bundle loaded")
        return model

    def reload(self) -> bool:
        """Check for a new bundle now; ``True`` if a new model is serving."""
        before = self.reloads
        self._try_load()
        return self.reloads > before

    # -- routing -----------------------------------------------------------------------------

    def _result(self, model: _Model, proba: Any) -> LayerResult:
        probs = proba.tolist() if isinstance(proba, np.ndarray) else proba
        order = sorted(range(len(probs)), key=lambda i: -probs[i])
        bg = self.background_label
        if bg is not None and model.labels[order[0]] == bg:
            return LayerResult(meta={"reason": f"out of scope: background class {bg!r} p={probs[order[0]]:.3f}"})
        order = [i for i in order if model.labels[i] != bg][: self.top_k]
        cands = [Candidate(model.labels[i], min(1.0, max(0.0, probs[i]))) for i in order]
        top = cands[0]
        return LayerResult(cands, evidence=[f"model label {top.intent} p={top.score:.3f} (T={model.temperature:.2f})"])

    def _unknown(self, model: _Model, tokens: list[str]) -> LayerResult | None:
        if self.min_known_words and model.known_words(tokens) < self.min_known_words:
            return LayerResult(meta={"reason": f"fewer than {self.min_known_words} known word(s)"})
        return None

    def route(self, text: str) -> LayerResult:
        model = self._current()
        tokens = model.tokens(text)  # once, for the known-word check and the features
        return self._unknown(model, tokens) or self._result(model, model.proba_tokens(tokens))

    def route_batch(self, texts: list[str]) -> list[LayerResult]:
        model = self._current()
        token_lists = [model.tokens(t) for t in texts]
        probs = model.proba_batch(list(texts), token_lists)
        return [
            self._unknown(model, toks) or self._result(model, p) for toks, p in zip(token_lists, probs, strict=True)
        ]

    def status(self) -> dict[str, Any]:
        """The seed's ``torch_router_status()`` keys, and what this layer knows besides."""
        from ..bundle import torch_missing_reason
        from ..config import env_bool, env_unit_float

        env_error = None
        try:
            threshold, force = env_unit_float("TORCH_ROUTER_CONF_THRESHOLD", 0.6), env_bool("TORCH_ROUTER_FORCE", False)
        except ConfigError as exc:  # a diagnostics call reports a bad setting instead of failing
            threshold, force, env_error = None, None, str(exc)

        model = self._model
        manifest = model.bundle.manifest if model else None
        vec = model.vec if model else None
        artifacts = all(p.exists() for p in (self.paths.weights, self.paths.vocab, self.paths.labels))
        torch_ok = torch_missing_reason() is None
        return {
            "torch_available": torch_ok,
            "artifacts_present": artifacts,
            "enabled": model is not None,
            "confidence_threshold": threshold,
            "force_enabled": force,
            "ngram_max": vec.ngram_max if vec else None,
            "token_pattern": vec.token_pattern if vec else None,
            "available": model is not None,
            "bundle": str(self.paths.root or self.paths.weights),
            "format_version": model.bundle.format_version if model else None,
            "library_version": manifest.get("library_version") if manifest else None,
            "labels": model.labels if model else [],
            "n_features": int(model.clf.n_features_in_) if model else None,
            "char_ngrams": list(vec.char_ngrams) if vec and vec.char_ngrams else None,
            "weighting": vec.weighting if vec else None,
            "temperature": model.temperature if model else None,
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "load_error": self.load_error,
            "reload_error": self.reload_error,
            "env_error": env_error,
        }


@hookimpl
def register_layers(register: Any) -> None:
    register("torch_bow", TorchBowLayer)
