"""The trained bag-of-words layer (``torch_bow``): a bundle's classifier, answering in microseconds.

The bundle comes from ``bundle=PATH`` (a folder), an embedded domain name, or the legacy pipeline's
``TORCH_ROUTER_MODEL_PATH`` / ``TORCH_ROUTER_VOCAB_PATH`` / ``TORCH_ROUTER_LABELS_PATH``; by
default the embedded brokerage bundle. A new bundle written to the path is picked up without a
restart (one ``stat`` per file at most every ``reload_interval`` seconds); a bad new bundle leaves
the old model serving and ``status()`` says why. Scoring is NumPy only, and so is loading a
bundle this library wrote (its weights are also in safetensors): torch is needed only to train,
and to load a folder of the legacy pipeline's files alone. Without the files the layer is
unavailable and the cascade skips it. About 400 lines: loading and hot reload, and the answers in
their forms (one text, a batch, restricted to some intents).
"""

from __future__ import annotations

import logging
import math
import threading
import time
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from .. import legacy
from ..bundle import MANIFEST, BundlePaths, load_bundle
from ..domains import DEFAULT_DOMAIN, domain_file_or_path, domain_path
from ..errors import BundleError, ConfigError, LayerUnavailable
from ..hookspecs import hookimpl
from ..optional import torch_missing_reason
from ..scoring import BowScorer
from ..types import Candidate, LayerResult, ranked
from ..validation import is_number

__all__ = ["CONFIDENCES", "TorchBowLayer"]

_log = logging.getLogger(__name__)


def _check_scores(model: BowScorer) -> None:
    """Score two probes with a newly loaded model before it serves: a bundle whose files are
    consistent but whose numbers are not (NaN or infinite weights) is refused like a broken one."""
    for text in ("", "a"):
        probs = model.proba(text)
        if not all(math.isfinite(p) for p in probs) or abs(sum(probs) - 1.0) > 1e-6:
            raise BundleError(f"the model's probabilities for {text!r} are not a distribution: {probs[:3]}...")


#: the models serving, by bundle files, their signature and background label: a second cascade
#: built from the same bundle uses the first one's model (kept while some layer serves it)
_SHARED: weakref.WeakValueDictionary[tuple[Any, ...], BowScorer] = weakref.WeakValueDictionary()

#: what the ``torch_bow`` layer's top score can be (see :class:`TorchBowLayer`)
CONFIDENCES = ("probability", "in_scope")


class TorchBowLayer:
    """The trained BoW classifier as a cascade layer.

    Parameters
    ----------
    bundle:
        A bundle folder, or an embedded domain name (``"brokerage"``). ``None`` (default): the
        legacy ``TORCH_ROUTER_*_PATH`` variables when set (:mod:`intentroute.legacy`), else the
        embedded brokerage bundle.
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
    confidence:
        What the top candidate's score (the number the cascade's threshold sees) is.
        ``"probability"`` (default, the legacy pipeline's): the top intent's probability. ``"in_scope"``: the
        probability that the utterance is in scope, ``1 - p(background class)``, for bundles
        trained with a background class (others are scored by ``"probability"``; ``status()``
        says which one is in effect); runners-up keep their probabilities, so a margin still
        compares the top two. A model spreads its probability over two intents for many
        in-domain paraphrases it has not seen, which a probability threshold rejects; the
        background class's probability separates those from out-of-scope requests much better
        (docs/benchmarks.md).
    background_reload:
        ``True`` (default): a new bundle found on disk is loaded in a background thread while the
        old model keeps answering, so no route waits for a load; ``False``: the route that finds
        it loads it. :meth:`reload` always loads in the calling thread.
    wait_for_bundle:
        ``False`` (default): a ``bundle`` folder that does not exist is a ``ConfigError`` at once.
        ``True``: the layer starts unavailable and loads the bundle when it appears (hot reload).
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
        confidence: str = "probability",
        wait_for_bundle: bool = False,
        background_reload: bool = True,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("must be a non-empty string", param="name", value=name)
        if not is_number(top_k, 1, integer=True):
            raise ConfigError(f"must be a positive integer, got {top_k!r}", param="top_k", value=top_k)
        if not is_number(reload_interval):
            raise ConfigError(
                f"must be a number of seconds, got {reload_interval!r}",
                param="reload_interval",
                value=reload_interval,
            )
        if not is_number(min_known_words, 0, integer=True):
            raise ConfigError(
                f"must be an integer >= 0, got {min_known_words!r}",
                param="min_known_words",
                value=min_known_words,
            )
        if confidence not in CONFIDENCES:
            raise ConfigError(
                f"must be one of {', '.join(map(repr, CONFIDENCES))}, got {confidence!r}",
                param="confidence",
                value=confidence,
            )
        self.min_known_words = min_known_words
        self.background_label = background_label
        self.confidence = confidence
        self.name = name
        self.top_k = top_k
        self.reload_interval = float(reload_interval)
        self.background_reload = bool(background_reload)
        self._reloading: threading.Thread | None = None
        self._reload_lock = threading.Lock()
        self.paths = self._resolve(bundle)
        if bundle is not None and not wait_for_bundle and self.paths.root is not None and not self.paths.root.exists():
            # a misspelt path would otherwise build a cascade that answers clarify to everything
            raise ConfigError(
                f"no bundle folder at {self.paths.root}; pass wait_for_bundle=true to start without "
                "one and load it when it is written",
                param="bundle",
                value=str(bundle),
            )
        self._scorer: BowScorer | None = None
        self._signature: tuple[Any, ...] | None = None
        self._lock = threading.Lock()
        self._last_check = 0.0
        self.load_error: str | None = None
        self.reload_error: str | None = None
        self.reloads = 0
        self.loaded_at: float | None = None
        self._try_load(initial=True)

    @staticmethod
    def _resolve(bundle: str | Path | None) -> BundlePaths:
        if bundle is None:
            default = BundlePaths.folder(domain_path(DEFAULT_DOMAIN, "bundle"))
            files = legacy.bundle_files_from_env(default.weights)
            if files is not None:  # the legacy three-file form
                weights = files[0]
                root = weights.parent if (weights.parent / MANIFEST).exists() else None
                return BundlePaths(*files, root)
            bundle = DEFAULT_DOMAIN
        return BundlePaths.folder(domain_file_or_path(bundle, "bundle"))

    # -- loading -----------------------------------------------------------------------------

    def _try_load(self, *, initial: bool = False) -> None:
        with self._lock:
            signature = self.paths.signature()
            if not initial and signature == self._signature:
                return
            try:
                model = self._load(signature)
            except Exception as exc:  # whatever is wrong with a new bundle, the old model keeps serving
                message = f"{type(exc).__name__}: {exc}"
                if self._scorer is None:
                    self.load_error = message
                    _log.warning("torch_bow layer %r: cannot load %s: %s", self.name, self.paths.root, message)
                else:
                    self.reload_error = message
                    _log.warning(
                        "torch_bow layer %r: new bundle at %s refused, the old model keeps serving: %s",
                        self.name,
                        self.paths.root,
                        message,
                    )
                self._signature = signature
                return
            if self._scorer is not None:
                self.reloads += 1
                _log.info("torch_bow layer %r: reloaded the bundle at %s", self.name, self.paths.root)
            self._scorer = model
            self._signature = signature
            self.load_error = self.reload_error = None
            self.loaded_at = time.time()

    def _load(self, signature: tuple[Any, ...]) -> BowScorer:
        """The bundle's model: the one another layer loaded from the same files (unchanged since,
        by their signature) when there is one, so that cascades built from one bundle share it."""
        key = (self.paths, signature, self.background_label)
        shared = None if None in signature else _SHARED.get(key)
        if shared is not None:
            return shared
        bundle = load_bundle(self.paths if self.paths.root is None else self.paths.root)
        model = BowScorer.from_bundle(bundle, background_label=self.background_label)
        _check_scores(model)
        if None not in signature:
            _SHARED[key] = model
        return model

    def _current(self) -> BowScorer:
        if self.reload_interval >= 0:
            now = time.monotonic()
            if now - self._last_check >= self.reload_interval:
                self._last_check = now
                if self.paths.signature() != self._signature:
                    self._reload_soon()
        model = self._scorer
        if model is None:
            raise LayerUnavailable(self.load_error or "no bundle loaded")
        return model

    @property
    def scorer(self) -> BowScorer | None:
        """The model serving now (``None`` while no bundle could be loaded)."""
        return self._scorer

    def _reload_soon(self) -> None:
        """Load the new bundle: in a background thread while a model is serving (the routes go on
        with it meanwhile, a load can take a second), at once when none is."""
        if self._scorer is None or not self.background_reload:
            self._try_load()
            return
        with self._reload_lock:
            if self._reloading is not None and self._reloading.is_alive():
                return
            self._reloading = threading.Thread(
                target=self._try_load, name=f"intentroute-reload-{self.name}", daemon=True
            )
            self._reloading.start()

    def wait_for_reload(self, timeout: float | None = None) -> bool:
        """Wait for a background reload under way to finish; ``True`` when none is running."""
        thread = self._reloading
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    def reload(self) -> bool:
        """Check for a new bundle now, in this thread; ``True`` if a new model is serving."""
        before = self.reloads
        self._try_load()
        return self.reloads > before

    # -- routing -----------------------------------------------------------------------------

    def _result(self, model: BowScorer, probs: list[float], order: list[int] | None = None) -> LayerResult:
        """The answer for one utterance's probabilities; ``order``: the classes best first (at
        least ``top_k + 1`` of them), when a batch has sorted them already."""
        bg = model.background_index
        k = self.top_k
        # the top k (and the background class) by a stable sort, as argsort(-p); a copy of a given one
        by_p = probs.__getitem__
        order = sorted(range(len(probs)), key=by_p, reverse=True)[: k + 1] if order is None else list(order)
        if order[0] == bg:
            reason = f"out of scope: background class {self.background_label!r} p={probs[bg]:.3f}"
            return LayerResult.trusted((), meta={"reason": reason})
        if bg in order:
            order.remove(bg)
        order = order[:k]
        labels, trusted = model.labels, Candidate.trusted
        cands = [trusted(labels[i], min(1.0, max(0.0, probs[i]))) for i in order]
        top_p = probs[order[0]]
        in_scope = None
        if self.confidence == "in_scope" and bg is not None:
            in_scope = min(1.0, max(0.0, 1.0 - probs[bg]))
            cands[0] = trusted(cands[0].intent, in_scope)
        evidence = _ModelSaid(cands[0].intent, top_p, model.temperature, in_scope)
        return LayerResult.trusted(ranked(cands), evidence)  # (ties ordered by name, as LayerResult does)

    def _too_few_known(self) -> LayerResult:
        return LayerResult.trusted((), meta={"reason": f"fewer than {self.min_known_words} known word(s)"})

    def route(self, text: str) -> LayerResult:
        model = self._current()
        probs, known = model.proba_known(model.tokens(text))
        if known < self.min_known_words:
            return self._too_few_known()
        return self._result(model, probs)

    def route_batch(self, texts: list[str]) -> list[LayerResult]:
        model = self._current()
        probs, known = model.score_batch(list(texts))
        return self._results(model, probs, known)

    def _results(self, model: BowScorer, probs: np.ndarray, known: np.ndarray) -> list[LayerResult]:
        """The answers for a batch's probabilities and known-word counts."""
        if not len(probs):
            return []
        # every text's classes best first at once (a stable sort, as the single path's)
        order = np.argsort(-probs, axis=1, kind="stable")[:, : self.top_k + 1].tolist()
        few, least, result = self._too_few_known(), self.min_known_words, self._result
        return [
            few if k < least else result(model, p, o)
            for k, p, o in zip(known.tolist(), probs.tolist(), order, strict=True)
        ]

    def route_within(self, text: str, allowed: frozenset[str]) -> LayerResult:
        """:meth:`route` among the ``allowed`` intents only: the probabilities of the others are
        removed and the rest (with the background class's) renormalised to sum to one."""
        model = self._current()
        probs, known = model.proba_known(model.tokens(text))
        if known < self.min_known_words:
            return self._too_few_known()
        keep = self._kept(model, allowed)
        if not keep.any():
            return LayerResult(meta={"reason": "none of the allowed intents is this model's"})
        return self._result(model, _renormalised(np.asarray(probs), keep).tolist())

    def route_batch_within(self, texts: list[str], allowed: frozenset[str]) -> list[LayerResult]:
        """:meth:`route_within` for many texts (the batch path)."""
        model = self._current()
        keep = self._kept(model, allowed)
        if not keep.any():
            return [LayerResult(meta={"reason": "none of the allowed intents is this model's"}) for _ in texts]
        probs, known = model.score_batch(list(texts))
        return self._results(model, _renormalised(probs, keep), known)

    @staticmethod
    def _kept(model: BowScorer, allowed: frozenset[str]) -> np.ndarray:
        """Which classes stay: the allowed intents, and the background class (out of scope is
        always an answer)."""
        keep = np.array([label in allowed for label in model.labels])
        if model.background_index is not None and keep.any():
            keep[model.background_index] = True
        return keep

    def status(self) -> dict[str, Any]:
        """The legacy ``torch_router_status()`` keys (:func:`intentroute.legacy.status_keys`),
        then what this layer knows besides."""
        model = self._scorer
        manifest = model.bundle.manifest if model else None
        vec = model.vec if model else None
        artifacts = all(p.exists() for p in (self.paths.weights, self.paths.vocab, self.paths.labels))
        return {
            **legacy.status_keys(
                torch_available=torch_missing_reason() is None,
                artifacts_present=artifacts,
                enabled=model is not None,
                ngram_max=vec.ngram_max if vec else None,
                token_pattern=vec.token_pattern if vec else None,
            ),
            "available": model is not None,
            "bundle": str(self.paths.root or self.paths.weights),
            "format_version": model.bundle.format_version if model else None,
            "library_version": manifest.get("library_version") if manifest else None,
            "labels": model.labels if model else [],
            "n_features": model.bundle.n_features if model else None,
            "model_kind": model.bundle.kind if model else None,
            "hidden_size": model.bundle.hidden_size if model else None,
            "char_ngrams": list(vec.char_ngrams) if vec and vec.char_ngrams else None,
            "weighting": vec.weighting if vec else None,
            "slots": list(vec.slots) if vec and vec.slots else None,  # the slots marked as features
            "temperature": model.temperature if model else None,
            # the lexical table whose vectors a head adds to the logits (train --lexical), or None
            "lexical": model.bundle.lexical["table"] if model and model.bundle.lexical else None,
            "confidence": self.confidence,
            "confidence_in_effect": (
                "in_scope"
                if self.confidence == "in_scope" and model and model.background_index is not None
                else "probability"
            ),
            "loaded_at": self.loaded_at,
            "reloads": self.reloads,
            "load_error": self.load_error,
            "reload_error": self.reload_error,
        }


class _ModelSaid:
    """The classifier's evidence for one answer, written when someone reads it (one object, where
    a closure was a function and four cells)."""

    __slots__ = ("in_scope", "intent", "p", "temperature")

    def __init__(self, intent: str, p: float, temperature: float, in_scope: float | None) -> None:
        self.intent, self.p, self.temperature, self.in_scope = intent, p, temperature, in_scope

    def __call__(self) -> list[str]:
        said = f"model label {self.intent} p={self.p:.3f} (T={self.temperature:.2f})"
        return [said if self.in_scope is None else f"{said}, in scope p={self.in_scope:.3f}"]


def _renormalised(probs: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``probs`` (one row or a batch) with the classes not kept at 0 and each row summing to one."""
    out = np.where(keep, probs, 0.0)
    total = out.sum(axis=-1, keepdims=True)
    return np.asarray(out / np.where(total > 0, total, 1.0))


@hookimpl
def register_layers(register: Any) -> None:
    register("torch_bow", TorchBowLayer)
