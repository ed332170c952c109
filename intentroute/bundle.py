"""The model bundle: the seed's four files plus a manifest, written atomically, loaded safely.

A bundle is a folder::

    intent_router.pt              state_dict (seed layout: linear.weight (classes x features), linear.bias;
                                  with a hidden layer hidden.weight, hidden.bias; with a linear model and a
                                  hidden-layer model summed, linear.* and hidden.* with the hidden model's
                                  output layer as head.weight, head.bias)
    intent_router_vocab.json      {feature: column}  (the seed's vocabulary; {} with feature hashing)
    intent_router_labels.json     the sorted labels
    intent_router_config.json     the seed's keys (max_vocab, token_pattern, ngram_max, epochs, ...)
    intent_router_idf.json        idf weights, only with TF-IDF weighting
    manifest.json                 format version, library version, sha256 of every file,
                                  featurizer settings, temperature, training-data summary, metrics

Loading uses ``torch.load(weights_only=True)`` (never unpickles arbitrary objects), checks every
checksum and every shape, and raises :class:`~intentroute.errors.BundleError` naming the file and
the problem. A folder written by the seed's own script (no manifest) loads too.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .errors import BundleError, MissingDependency
from .estimators.classifier import TorchBowClassifier
from .estimators.ensemble import LogitSumClassifier
from .estimators.vectorizer import BowVectorizer
from .legacy import CONFIG_FILE, LABELS_FILE, VOCAB_FILE, WEIGHTS_FILE
from .text import TOKEN_PATTERN

__all__ = ["FORMAT_VERSION", "Bundle", "BundlePaths", "load_bundle", "save_bundle", "torch_missing_reason"]

#: the newest format this version reads and writes; a bundle is written with the lowest version
#: that holds its model: 1 for a linear or hidden-layer model, 2 for a LogitSumClassifier (which
#: a reader of version 1 refuses, telling the user to upgrade, rather than misreading it)
FORMAT_VERSION = 2
WEIGHTS, VOCAB, LABELS, CONFIG = WEIGHTS_FILE, VOCAB_FILE, LABELS_FILE, CONFIG_FILE
IDF, MANIFEST = "intent_router_idf.json", "manifest.json"
_FEATURIZER_KEYS = (
    "ngram_max",
    "char_ngrams",
    "max_vocab",
    "hashing",
    "n_features",
    "weighting",
    "sublinear_tf",
    "norm",
    "lowercase",
    "token_pattern",
    "slots",  # written only when set: a bundle without slot markers keeps the manifest it had
)


def torch_missing_reason() -> str | None:
    """``None`` when torch can be imported, else the one line that says how to get it."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed: pip install 'intentroute[torch]'"
    return None


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependency("torch is not installed: pip install 'intentroute[torch]'") from exc
    return torch


@dataclass(frozen=True)
class BundlePaths:
    """Where a bundle's files are: a folder, or the seed's three separate paths."""

    weights: Path
    vocab: Path
    labels: Path
    config: Path | None = None
    root: Path | None = None

    @classmethod
    def folder(cls, path: str | Path) -> BundlePaths:
        root = Path(path)
        return cls(root / WEIGHTS, root / VOCAB, root / LABELS, root / CONFIG, root)

    @property
    def manifest(self) -> Path | None:
        return self.root / MANIFEST if self.root is not None else None

    def signature(self) -> tuple[Any, ...]:
        """A cheap fingerprint (one stat per file) that changes when the bundle is replaced."""
        out: list[Any] = []
        for p in (self.manifest, self.weights, self.vocab, self.labels):
            if p is None:
                continue
            try:
                st = p.stat()
                out.append((st.st_ino, st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)


@dataclass
class Bundle:
    """A loaded bundle: a fitted vectorizer and classifier, and what the manifest says
    (``paths`` is ``None`` for estimators that were never saved)."""

    paths: BundlePaths | None
    vectorizer: BowVectorizer
    classifier: TorchBowClassifier | LogitSumClassifier
    config: dict[str, Any]
    manifest: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.classifier.classes_]

    @property
    def temperature(self) -> float:
        return float(self.classifier.temperature_)

    @property
    def format_version(self) -> int | None:
        return None if self.manifest is None else int(self.manifest["format_version"])


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=1, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")


def save_bundle(
    path: str | Path,
    vectorizer: BowVectorizer,
    classifier: TorchBowClassifier | LogitSumClassifier,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle folder atomically and return its path.

    The files are written into a new folder beside ``path``, flushed, then swapped in with two
    renames, so a crash never leaves a half-written bundle where the old one was: at worst
    ``path`` is briefly absent while the previous bundle sits complete in ``.<name>.old-*``, which
    :func:`load_bundle`'s error then points to.
    """
    torch = _torch()
    target = Path(path)
    vec, clf = vectorizer, classifier
    if not hasattr(clf, "classes_") or not hasattr(vec, "n_features_out_"):
        raise BundleError(f"{target}: the vectorizer and the classifier must both be fitted")
    if clf.n_features_in_ != vec.n_features_out_:
        raise BundleError(
            f"{target}: the classifier expects {clf.n_features_in_} features, "
            f"the vectorizer makes {vec.n_features_out_}"
        )
    summed = isinstance(clf, LogitSumClassifier)
    # the seed's config keys and the manifest's hyperparameters come from the model trained
    # first: the only one, or the summed pair's linear model (the seed's layout)
    first = clf.linear_ if isinstance(clf, LogitSumClassifier) else clf
    if isinstance(clf, LogitSumClassifier):
        state = {
            "linear.weight": clf.linear_.coef_,
            "linear.bias": clf.linear_.intercept_,
            "hidden.weight": clf.hidden_.hidden_coef_,
            "hidden.bias": clf.hidden_.hidden_intercept_,
            "head.weight": clf.hidden_.coef_,
            "head.bias": clf.hidden_.intercept_,
        }
    elif clf.hidden_size:
        state = {
            "hidden.weight": clf.hidden_coef_,
            "hidden.bias": clf.hidden_intercept_,
            "linear.weight": clf.coef_,
            "linear.bias": clf.intercept_,
        }
    else:
        state = {"linear.weight": clf.coef_, "linear.bias": clf.intercept_}
    buf = io.BytesIO()
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}, buf)
    hp = hyperparameters or {}
    config = {
        "max_vocab": vec.max_vocab,
        "token_pattern": vec.token_pattern,
        "ngram_max": vec.ngram_max,
        "epochs": hp.get("epochs", first.epochs),
        "batch_size": hp.get("batch_size", first.batch_size),
        "learning_rate": hp.get("lr", first.lr),
    }
    files: dict[str, bytes] = {
        WEIGHTS: buf.getvalue(),
        VOCAB: _json_bytes(vec.vocabulary_ if vec.vocabulary_ is not None else {}),
        LABELS: _json_bytes([str(c) for c in clf.classes_]),
        CONFIG: _json_bytes(config),
    }
    if vec.weighting == "tfidf":
        files[IDF] = _json_bytes([float(x) for x in vec.idf_])
    featurizer = {k: getattr(vec, k) for k in _FEATURIZER_KEYS if k != "slots"}
    slots = getattr(vec, "slots", None)  # (a vectorizer pickled before slots existed has no attribute)
    if slots is not None:
        featurizer["slots"] = slots
    if featurizer["char_ngrams"] is not None:
        featurizer["char_ngrams"] = list(featurizer["char_ngrams"])
    manifest = {
        "format": "intentroute-bundle",
        "format_version": 2 if summed else 1,
        "library_version": __version__,
        "files": {name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in files.items()},
        "featurizer": featurizer,
        "model": {
            "kind": model_kind(clf),
            "hidden_size": clf.hidden_size,
            "n_features": int(clf.n_features_in_),
            "n_classes": len(clf.classes_),
        },
        "hyperparameters": (
            {"linear": _model_hyperparameters(clf.linear_), "hidden": _model_hyperparameters(clf.hidden_)}
            if isinstance(clf, LogitSumClassifier)
            else _model_hyperparameters(clf)
        )
        | hp,
        "temperature": float(clf.temperature_),
        "training": training or {},
        "metrics": metrics or {},
    }
    files[MANIFEST] = _json_bytes(manifest)

    target.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        os.chmod(staged, 0o755)  # mkdtemp makes it private; a bundle is ordinary readable data
        for name, data in files.items():
            with open(staged / name, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
        os.rename(staged, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return target


def model_kind(clf: TorchBowClassifier | LogitSumClassifier) -> str:
    """The manifest's ``model.kind`` (and the ``torch_bow`` layer's ``model_kind``): ``linear``,
    ``mlp`` (one hidden layer) or ``linear+mlp`` (a ``LogitSumClassifier``)."""
    if isinstance(clf, LogitSumClassifier):
        return "linear+mlp"
    return "mlp" if clf.hidden_size else "linear"


def _model_hyperparameters(clf: TorchBowClassifier) -> dict[str, Any]:
    keys = ["lr", "epochs", "batch_size", "weight_decay", "random_state"]
    if clf.hidden_size:  # a linear model has no use for these
        keys += ["dropout", *(("row_optimizer",) if clf.row_optimizer != "adam" else ())]
    if clf.input_dropout:  # (recorded when used, so the manifests of models without it read as before)
        keys.append("input_dropout")
    params = clf.get_params()
    return {k: params[k] for k in keys}


def _interrupted_save_hint(folder: Path) -> str:
    """Where the previous bundle is when a save died between its two renames (see save_bundle)."""
    if folder.exists() or not folder.parent.exists():
        return ""
    olds = sorted(folder.parent.glob(f".{folder.name}.old-*"))
    return f" (a save was interrupted; the previous bundle is complete at {olds[-1]})" if olds else ""


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: missing {what}{_interrupted_save_hint(path.parent)}") from None
    except OSError as exc:
        raise BundleError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc


def _json(path: Path, data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: {what} is not valid JSON (truncated or corrupted?): {exc}") from exc


def load_bundle(path: str | Path | BundlePaths) -> Bundle:
    """Load and verify a bundle folder (or :class:`BundlePaths` for the seed's separate files)."""
    paths = path if isinstance(path, BundlePaths) else BundlePaths.folder(path)
    if paths.root is not None and not paths.root.is_dir():
        raise BundleError(f"{paths.root}: no bundle folder here{_interrupted_save_hint(paths.root)}")
    manifest = None
    raw: dict[str, bytes] = {}
    if paths.manifest is not None and paths.manifest.exists():
        manifest = _json(paths.manifest, _read(paths.manifest, "manifest"), "the manifest")
        if not isinstance(manifest, dict) or manifest.get("format") != "intentroute-bundle":
            raise BundleError(f"{paths.manifest}: not an intentroute bundle manifest")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise BundleError(
                f"{paths.manifest}: bundle format {version!r} is newer than this intentroute reads "
                f"({FORMAT_VERSION}); upgrade intentroute"
            )
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise BundleError(f"{paths.manifest}: 'files' is missing")
        assert paths.root is not None
        for name, meta in files.items():
            fp = paths.root / name
            data = _read(fp, f"file listed in the manifest ({name})")
            if len(data) != meta.get("bytes") or _sha256(data) != meta.get("sha256"):
                raise BundleError(
                    f"{fp}: does not match the manifest ({len(data)} bytes, expected {meta.get('bytes')}; "
                    "sha256 differs): the file is truncated, tampered with, or from another bundle"
                )
            raw[name] = data
    weights_bytes = raw.get(WEIGHTS) or _read(paths.weights, "model weights")
    vocab = _json(paths.vocab, raw.get(VOCAB) or _read(paths.vocab, "vocabulary"), "the vocabulary")
    labels = _json(paths.labels, raw.get(LABELS) or _read(paths.labels, "labels"), "the labels")
    config: dict[str, Any] = {}
    if paths.config is not None and (CONFIG in raw or paths.config.exists()):
        config = _json(paths.config, raw.get(CONFIG) or _read(paths.config, "config"), "the config")
        if not isinstance(config, dict):
            raise BundleError(f"{paths.config}: the config must be a JSON object")
    if not isinstance(vocab, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in vocab.items()):
        raise BundleError(f"{paths.vocab}: the vocabulary must map features to integer columns")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise BundleError(f"{paths.labels}: the labels must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{paths.labels}: duplicate labels")

    torch = _torch()
    try:
        state = torch.load(io.BytesIO(weights_bytes), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BundleError(f"{paths.weights}: cannot load the weights (truncated or not a state_dict?): {exc}") from exc
    if not isinstance(state, dict):
        raise BundleError(f"{paths.weights}: expected a state_dict, got {type(state).__name__}")
    arrays = {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}
    keys = set(arrays)
    linear = {"linear.weight", "linear.bias"}
    mlp = linear | {"hidden.weight", "hidden.bias"}
    summed = mlp | {"head.weight", "head.bias"}
    if keys not in (linear, mlp, summed):
        raise BundleError(
            f"{paths.weights}: unexpected tensors {sorted(keys)}; expected {sorted(linear)} (or a hidden layer)"
        )
    if keys == summed and (manifest is None or manifest.get("format_version", 1) < 2):
        raise BundleError(f"{paths.weights}: a summed linear and hidden-layer model needs a format 2 manifest")
    if keys == summed:
        head = arrays["head.weight"]
        if head.shape != (len(labels), arrays["hidden.weight"].shape[0]) or arrays["head.bias"].shape != (len(labels),):
            raise BundleError(f"{paths.weights}: head.weight and head.bias do not match hidden.weight and the labels")
        if arrays["linear.weight"].shape[1] != arrays["hidden.weight"].shape[1]:
            raise BundleError(f"{paths.weights}: linear.weight and hidden.weight take different numbers of features")

    featurizer = dict((manifest or {}).get("featurizer") or {})
    hashing = bool(featurizer.get("hashing", False))
    n_in = int(arrays["hidden.weight" if "hidden.weight" in arrays else "linear.weight"].shape[1])
    n_features = int(featurizer.get("n_features", n_in)) if hashing else len(vocab)
    if n_in != n_features:
        raise BundleError(
            f"{paths.weights}: the weights take {n_in} features but {paths.vocab.name} has {n_features}: "
            "the files come from different bundles"
        )
    out = arrays["linear.weight"]
    if out.shape[0] != len(labels) or arrays["linear.bias"].shape != (len(labels),):
        raise BundleError(
            f"{paths.weights}: the model has {out.shape[0]} outputs but {paths.labels.name} lists {len(labels)} labels"
        )
    if "hidden.weight" in arrays and arrays["hidden.bias"].shape != (arrays["hidden.weight"].shape[0],):
        raise BundleError(f"{paths.weights}: hidden.bias does not match hidden.weight")
    if labels != sorted(labels):
        raise BundleError(f"{paths.labels}: labels must be sorted (the order of the model's outputs)")

    params = {k: featurizer[k] for k in _FEATURIZER_KEYS if k in featurizer and k not in ("max_vocab",)}
    params.setdefault("ngram_max", int(config.get("ngram_max") or 1))
    params.setdefault("token_pattern", str(config.get("token_pattern") or TOKEN_PATTERN))
    if params.get("char_ngrams") is not None:
        params["char_ngrams"] = tuple(params["char_ngrams"])
    try:
        if hashing:
            vec = BowVectorizer(**{**params, "max_vocab": None})
            vec.fit([])
        else:
            weighting = params.pop("weighting", "count")
            vec = BowVectorizer.from_vocabulary(
                vocab, **params, weighting="count" if weighting == "tfidf" else weighting
            )
            vec.weighting = weighting
        if vec.weighting == "tfidf":
            idf_path = (paths.root or paths.vocab.parent) / IDF
            idf = _json(idf_path, raw.get(IDF) or _read(idf_path, "idf weights"), "the idf weights")
            if not isinstance(idf, list) or len(idf) != n_features:
                raise BundleError(f"{idf_path}: expected {n_features} idf weights")
            vec.idf_ = np.asarray(idf, dtype=np.float32)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{paths.manifest or paths.vocab}: invalid featurizer settings: {exc}") from exc
    temperature = float((manifest or {}).get("temperature", 1.0))
    if not np.isfinite(temperature) or temperature <= 0:
        raise BundleError(f"{paths.manifest}: temperature must be a positive number, got {temperature}")
    clf: TorchBowClassifier | LogitSumClassifier
    if keys == summed:
        clf = LogitSumClassifier.from_models(
            TorchBowClassifier.from_arrays(np.asarray(labels), arrays["linear.weight"], arrays["linear.bias"]),
            TorchBowClassifier.from_arrays(
                np.asarray(labels),
                arrays["head.weight"],
                arrays["head.bias"],
                hidden_coef=arrays["hidden.weight"],
                hidden_intercept=arrays["hidden.bias"],
            ),
            temperature=temperature,
        )
    else:
        clf = TorchBowClassifier.from_arrays(
            np.asarray(labels),
            arrays["linear.weight"],
            arrays["linear.bias"],
            hidden_coef=arrays.get("hidden.weight"),
            hidden_intercept=arrays.get("hidden.bias"),
            temperature=temperature,
        )
    warnings = [] if manifest is not None else ["no manifest: a seed bundle, loaded without checksums"]
    return Bundle(paths, vec, clf, config, manifest, warnings)
