"""The model bundle: the legacy pipeline's four files, the weights again in safetensors, and a
manifest; written atomically, loaded safely, loadable without torch.

A bundle is a folder::

    intent_router.safetensors     the weights (see _LAYOUTS), read with NumPy alone
    intent_router.pt              the same weights as a torch state_dict, the legacy pipeline's file
                                  (written when torch is installed)
    intent_router_vocab.json      {feature: column}  ({} with feature hashing)
    intent_router_labels.json     the sorted labels
    intent_router_config.json     the legacy pipeline's keys (max_vocab, token_pattern, ngram_max, epochs, ...)
    intent_router_idf.json        idf weights, only with TF-IDF weighting
    manifest.json                 format version, library version, sha256 of every file,
                                  featurizer settings, temperature, training-data summary, metrics

The weights are named as the legacy pipeline named them: ``linear.weight`` (classes x features)
and ``linear.bias``; with a hidden layer ``hidden.weight`` and ``hidden.bias`` too; with a linear
model and a hidden-layer model summed, ``linear.*``, ``hidden.*`` and the hidden model's output
layer as ``head.weight``, ``head.bias``. Loading reads the safetensors file when the manifest
lists it (no torch needed), else the ``.pt`` with ``torch.load(weights_only=True)``; neither
unpickles arbitrary objects. Every checksum and every shape is checked, and a problem is a
:class:`~intentroute.errors.BundleError` naming the file. A folder of the legacy pipeline's files
alone (no manifest) loads too (:mod:`intentroute.legacy`). The module is the format's one
definition, writing and reading side by side (about 510 lines, most of it the checks that turn
a bad file into an error naming it).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import safetensors.numpy

from ._io import atomic_write_folder, interrupted_save_hint
from ._version import __version__
from .errors import BundleError
from .features import SETTINGS, Features, Featurizer
from .legacy import CONFIG_FILE, LABELS_FILE, LEGACY_FEATURIZER, VOCAB_FILE, WEIGHTS_FILE
from .optional import import_torch, torch_missing_reason
from .text import TOKEN_PATTERN
from .validation import is_number

if TYPE_CHECKING:
    from .estimators import BowVectorizer, LogitSumClassifier, TorchBowClassifier

__all__ = [
    "FORMAT_VERSION",
    "Bundle",
    "BundlePaths",
    "load_bundle",
    "model_kind",
    "save_bundle",
    "weight_arrays",
]

#: the newest format this version reads and writes; a bundle is written with the lowest version
#: that holds its model: 1 for a linear or hidden-layer model, 2 for a LogitSumClassifier (which
#: a reader of version 1 refuses, telling the user to upgrade, rather than misreading it), 3 for a
#: model with a lexical head (``train --lexical``), which an older reader would silently ignore
FORMAT_VERSION = 3
WEIGHTS, VOCAB, LABELS, CONFIG = WEIGHTS_FILE, VOCAB_FILE, LABELS_FILE, CONFIG_FILE
SAFETENSORS, IDF, MANIFEST = "intent_router.safetensors", "intent_router_idf.json", "manifest.json"
LEXICAL = "intent_router_lexical.safetensors"  # the lexical head's weights (format 3)

#: the weights of each kind of model, by name, in the order they are written
_LAYOUTS: dict[str, tuple[str, ...]] = {
    "linear": ("linear.weight", "linear.bias"),
    "mlp": ("hidden.weight", "hidden.bias", "linear.weight", "linear.bias"),
    "linear+mlp": ("linear.weight", "linear.bias", "hidden.weight", "hidden.bias", "head.weight", "head.bias"),
}
#: the manifest's featurizer keys, in the order written: the settings and the vocabulary cap
#: ("slots" is written only when set, so a bundle without slot markers keeps the manifest it had)
_FEATURIZER_KEYS = (*SETTINGS[:2], "max_vocab", *SETTINGS[2:])


def _torch_if_installed() -> Any:
    return None if torch_missing_reason() else import_torch()


@dataclass(frozen=True)
class BundlePaths:
    """Where a bundle's files are: a folder, or the legacy pipeline's three separate paths."""

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
    """A loaded bundle: its featurizer, its weight arrays by name, the labels and the temperature,
    and what the manifest says (``paths`` is ``None`` for estimators that were never saved).

    Loading needs neither scikit-learn nor torch; :attr:`vectorizer` and :attr:`classifier` build
    the scikit-learn estimators on first use (importing scikit-learn then).
    """

    paths: BundlePaths | None
    featurizer: Features
    weights: dict[str, np.ndarray]
    labels: list[str]
    temperature: float
    config: dict[str, Any]
    manifest: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    #: the lexical head (``weight``, ``bias``, ``mix``, ``temperature``, ``table``, ``table_sha256``)
    lexical: dict[str, Any] | None = None
    _estimators: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def kind(self) -> str:
        """``linear``, ``mlp`` or ``linear+mlp`` (:data:`_LAYOUTS`)."""
        kind = _layout_kind(self.weights)
        assert kind is not None  # (load_bundle refuses weights of no known layout)
        return kind

    @property
    def n_features(self) -> int:
        return int(self.weights["hidden.weight" if "hidden.weight" in self.weights else "linear.weight"].shape[1])

    @property
    def hidden_size(self) -> int:
        return int(self.weights["hidden.weight"].shape[0]) if "hidden.weight" in self.weights else 0

    @property
    def format_version(self) -> int | None:
        return None if self.manifest is None else int(self.manifest["format_version"])

    @property
    def vectorizer(self) -> BowVectorizer:
        """The featurizer as a fitted ``BowVectorizer`` (built on first use)."""
        if "vectorizer" not in self._estimators:
            from .estimators import BowVectorizer  # scikit-learn: only when asked for the estimator

            f = self.featurizer
            self._estimators["vectorizer"] = f if isinstance(f, BowVectorizer) else BowVectorizer.from_featurizer(f)
        vec: BowVectorizer = self._estimators["vectorizer"]
        return vec

    @property
    def classifier(self) -> TorchBowClassifier | LogitSumClassifier:
        """The weights as a fitted ``TorchBowClassifier`` or ``LogitSumClassifier`` (built on first use)."""
        if "classifier" not in self._estimators:
            self._estimators["classifier"] = _classifier(self.kind, self.weights, self.labels, self.temperature)
        clf: TorchBowClassifier | LogitSumClassifier = self._estimators["classifier"]
        return clf


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
    lexical: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle folder atomically and return its path.

    The files are written into a new folder beside ``path``, flushed, then swapped in with two
    renames, so a crash never leaves a half-written bundle where the old one was: at worst
    ``path`` is briefly absent while the previous bundle sits complete in ``.<name>.old-*``, which
    :func:`load_bundle`'s error then points to. Without torch installed the legacy ``.pt`` file
    is not written (the bundle then loads with intentroute only). ``lexical``: a lexical head
    (:func:`intentroute.train.fit_lexical_head`), written beside the model (format 3).
    """
    target = Path(path)
    vec, clf = vectorizer, classifier
    if not hasattr(clf, "classes_") or not hasattr(vec, "n_features_out_"):
        raise BundleError(f"{target}: the vectorizer and the classifier must both be fitted")
    if clf.n_features_in_ != vec.n_features_out_:
        raise BundleError(
            f"{target}: the classifier expects {clf.n_features_in_} features, "
            f"the vectorizer makes {vec.n_features_out_}"
        )
    kind = model_kind(clf)
    summed = kind == "linear+mlp"
    # the legacy config keys and the manifest's hyperparameters come from the model trained
    # first: the only one, or the summed pair's linear model (the legacy layout)
    first = clf.linear_ if summed else clf
    arrays = weight_arrays(clf)
    hp = hyperparameters or {}
    config = {
        "max_vocab": vec.max_vocab,
        "token_pattern": vec.token_pattern,
        "ngram_max": vec.ngram_max,
        "epochs": hp.get("epochs", first.epochs),
        "batch_size": hp.get("batch_size", first.batch_size),
        "learning_rate": hp.get("lr", first.lr),
    }
    files: dict[str, bytes] = {SAFETENSORS: safetensors.numpy.save(arrays)}
    torch = _torch_if_installed()
    if torch is not None:  # the legacy pipeline's weights file
        buf = io.BytesIO()
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, buf)
        files[WEIGHTS] = buf.getvalue()
    files |= {
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
    if lexical is not None:
        n_classes = len(clf.classes_)
        head = {k: np.ascontiguousarray(lexical[k], dtype=np.float32) for k in ("weight", "bias")}
        if head["weight"].ndim != 2 or head["weight"].shape[0] != n_classes or head["bias"].shape != (n_classes,):
            raise BundleError(f"{target}: the lexical head's weights do not match the {n_classes} classes")
        files[LEXICAL] = safetensors.numpy.save({"lexical.weight": head["weight"], "lexical.bias": head["bias"]})
    manifest = {
        "format": "intentroute-bundle",
        "format_version": 3 if lexical is not None else 2 if summed else 1,
        "library_version": __version__,
        "files": {name: {"sha256": _sha256(data), "bytes": len(data)} for name, data in files.items()},
        "featurizer": featurizer,
        "model": {
            "kind": kind,
            "hidden_size": clf.hidden_size,
            "n_features": int(clf.n_features_in_),
            "n_classes": len(clf.classes_),
        },
        "hyperparameters": (
            {"linear": _model_hyperparameters(clf.linear_), "hidden": _model_hyperparameters(clf.hidden_)}
            if summed
            else _model_hyperparameters(clf)
        )
        | hp,
        "temperature": float(clf.temperature_),
        **(
            {"lexical": {k: lexical[k] for k in ("table", "table_sha256", "mix", "temperature")}}
            if lexical is not None
            else {}
        ),
        "training": training or {},
        "metrics": metrics or {},
    }
    files[MANIFEST] = _json_bytes(manifest)

    atomic_write_folder(target, files)
    return target


def _layout_kind(weights: Mapping[str, Any]) -> str | None:
    """The kind of model whose layout (:data:`_LAYOUTS`) has exactly these weight names, or ``None``."""
    return next((k for k, names in _LAYOUTS.items() if set(names) == set(weights)), None)


def weight_arrays(clf: TorchBowClassifier | LogitSumClassifier) -> dict[str, np.ndarray]:
    """The classifier's weights by their bundle names (float32, C order), in :data:`_LAYOUTS`'s order."""
    if hasattr(clf, "linear_"):  # a LogitSumClassifier
        lin, hid = clf.linear_, clf.hidden_
        values = [lin.coef_, lin.intercept_, hid.hidden_coef_, hid.hidden_intercept_, hid.coef_, hid.intercept_]
    elif clf.hidden_size:
        values = [clf.hidden_coef_, clf.hidden_intercept_, clf.coef_, clf.intercept_]
    else:
        values = [clf.coef_, clf.intercept_]
    names = _LAYOUTS[model_kind(clf)]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in zip(names, values, strict=True)}


def _classifier(
    kind: str, arrays: dict[str, np.ndarray], labels: list[str], temperature: float
) -> TorchBowClassifier | LogitSumClassifier:
    """The inverse of :func:`weight_arrays`, for checked arrays of a model of ``kind``."""
    from .estimators import LogitSumClassifier, TorchBowClassifier  # scikit-learn: only when asked for

    classes = np.asarray(labels)
    if kind == "linear+mlp":
        linear = TorchBowClassifier.from_arrays(classes, arrays["linear.weight"], arrays["linear.bias"])
        hidden = TorchBowClassifier.from_arrays(
            classes,
            arrays["head.weight"],
            arrays["head.bias"],
            hidden_coef=arrays["hidden.weight"],
            hidden_intercept=arrays["hidden.bias"],
        )
        return LogitSumClassifier.from_models(linear, hidden, temperature=temperature)
    return TorchBowClassifier.from_arrays(
        classes,
        arrays["linear.weight"],
        arrays["linear.bias"],
        hidden_coef=arrays.get("hidden.weight"),
        hidden_intercept=arrays.get("hidden.bias"),
        temperature=temperature,
    )


def model_kind(clf: TorchBowClassifier | LogitSumClassifier) -> str:
    """The manifest's ``model.kind`` (and the ``torch_bow`` layer's ``model_kind``): ``linear``,
    ``mlp`` (one hidden layer) or ``linear+mlp`` (a ``LogitSumClassifier``, which has ``linear_``)."""
    if hasattr(clf, "linear_"):
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


#: the largest file a bundle may hold (the embedded bundle's largest is about 1 MB)
MAX_FILE_BYTES = 1 << 30


def _read(path: Path, what: str, root: Path | None = None) -> bytes:
    """``path``'s bytes: a regular file of at most :data:`MAX_FILE_BYTES`, and, when ``root`` is
    given, one whose real path (symbolic links followed) is directly inside ``root``; anything else
    is a BundleError, raised before a byte is read (a FIFO, a device or an outside file is refused,
    its size never reported)."""
    if root is not None and path.resolve().parent != root.resolve():
        raise BundleError(f"{path}: {what} is not a file of the bundle folder {root} (a link or a path outside it)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # (a FIFO opens without waiting for a writer)
    except FileNotFoundError:
        raise BundleError(f"{path}: missing {what}{interrupted_save_hint(path.parent)}") from None
    except OSError as exc:
        raise BundleError(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise BundleError(f"{path}: {what} is not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise BundleError(f"{path}: {what} is larger than a bundle file may be ({MAX_FILE_BYTES} bytes)")
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise BundleError(f"{path}: {what} is larger than a bundle file may be ({MAX_FILE_BYTES} bytes)")
    return data


def _json(path: Path, data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path}: {what} is not valid JSON (truncated or corrupted?): {exc}") from exc


def _read_weights(paths: BundlePaths, raw: dict[str, bytes], pt_bytes: bytes | None) -> tuple[dict[str, Any], Path]:
    """The weight arrays by name, from the safetensors file when the manifest lists it (NumPy
    only), else from the legacy ``.pt`` (``pt_bytes``, through torch); and the file they came from."""
    if SAFETENSORS in raw:
        assert paths.root is not None  # only a manifest lists files
        where = paths.root / SAFETENSORS
        try:
            loaded = safetensors.numpy.load(raw[SAFETENSORS])
        except Exception as exc:  # safetensors raises its own error types on malformed headers
            raise BundleError(f"{where}: cannot read the weights (not a safetensors file?): {exc}") from exc
        return {k: np.asarray(v) for k, v in loaded.items()}, where
    torch = import_torch()
    try:
        state = torch.load(io.BytesIO(pt_bytes or b""), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BundleError(f"{paths.weights}: cannot load the weights (truncated or not a state_dict?): {exc}") from exc
    if not isinstance(state, dict):
        raise BundleError(f"{paths.weights}: expected a state_dict, got {type(state).__name__}")
    return {k: v.detach().cpu().numpy() for k, v in state.items() if hasattr(v, "detach")}, paths.weights


def load_bundle(path: str | Path | BundlePaths) -> Bundle:
    """Load and verify a bundle folder (or :class:`BundlePaths` for the legacy pipeline's separate files)."""
    paths = path if isinstance(path, BundlePaths) else BundlePaths.folder(path)
    if paths.root is not None and not paths.root.is_dir():
        raise BundleError(f"{paths.root}: no bundle folder here{interrupted_save_hint(paths.root)}")
    manifest = None
    raw: dict[str, bytes] = {}
    if paths.manifest is not None and paths.manifest.exists():
        manifest = _json(paths.manifest, _read(paths.manifest, "manifest", paths.root), "the manifest")
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
            if not isinstance(name, str) or Path(name).name != name or name in (".", "..") or "\x00" in name:
                raise BundleError(f"{paths.manifest}: 'files' may only name files of the bundle folder, got {name!r}")
            if not isinstance(meta, dict) or not isinstance(meta.get("bytes"), int) or not isinstance(
                meta.get("sha256"), str
            ):
                raise BundleError(f"{paths.manifest}: files[{name!r}] must be {{\"sha256\": str, \"bytes\": int}}")
            fp = paths.root / name
            data = _read(fp, f"file listed in the manifest ({name})", paths.root)
            if len(data) != meta.get("bytes") or _sha256(data) != meta.get("sha256"):
                raise BundleError(
                    f"{fp}: does not match the manifest ({len(data)} bytes, expected {meta.get('bytes')}; "
                    "sha256 differs): the file is truncated, tampered with, or from another bundle"
                )
            raw[name] = data
    root = paths.root  # (None for the legacy pipeline's separate files, which the caller names)
    weights_bytes = None if SAFETENSORS in raw else raw.get(WEIGHTS) or _read(paths.weights, "model weights", root)
    vocab = _json(paths.vocab, raw.get(VOCAB) or _read(paths.vocab, "vocabulary", root), "the vocabulary")
    labels = _json(paths.labels, raw.get(LABELS) or _read(paths.labels, "labels", root), "the labels")
    config: dict[str, Any] = {}
    if paths.config is not None and (CONFIG in raw or paths.config.exists()):
        config = _json(paths.config, raw.get(CONFIG) or _read(paths.config, "config", root), "the config")
        if not isinstance(config, dict):
            raise BundleError(f"{paths.config}: the config must be a JSON object")
    if not isinstance(vocab, dict) or not all(isinstance(k, str) and isinstance(v, int) for k, v in vocab.items()):
        raise BundleError(f"{paths.vocab}: the vocabulary must map features to integer columns")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise BundleError(f"{paths.labels}: the labels must be a non-empty list of strings")
    if len(set(labels)) != len(labels):
        raise BundleError(f"{paths.labels}: duplicate labels")

    arrays, weights_file = _read_weights(paths, raw, weights_bytes)
    kind = _layout_kind(arrays)
    if kind is None:
        raise BundleError(
            f"{weights_file}: unexpected tensors {sorted(arrays)}; expected one of "
            + "; ".join(", ".join(sorted(names)) for names in _LAYOUTS.values())
        )
    if kind == "linear+mlp" and (manifest is None or manifest.get("format_version", 1) < 2):
        raise BundleError(f"{weights_file}: a summed linear and hidden-layer model needs a format 2 manifest")
    if kind == "linear+mlp":
        head = arrays["head.weight"]
        if head.shape != (len(labels), arrays["hidden.weight"].shape[0]) or arrays["head.bias"].shape != (len(labels),):
            raise BundleError(f"{weights_file}: head.weight and head.bias do not match hidden.weight and the labels")
        if arrays["linear.weight"].shape[1] != arrays["hidden.weight"].shape[1]:
            raise BundleError(f"{weights_file}: linear.weight and hidden.weight take different numbers of features")

    featurizer = (manifest or {}).get("featurizer") or {}
    if not isinstance(featurizer, dict):
        raise BundleError(f"{paths.manifest}: 'featurizer' must be an object of settings, got {featurizer!r}")
    hashing = bool(featurizer.get("hashing", False))
    n_in = int(arrays["hidden.weight" if "hidden.weight" in arrays else "linear.weight"].shape[1])
    n_features = featurizer.get("n_features", n_in) if hashing else len(vocab)
    if not is_number(n_features, 1, integer=True):
        raise BundleError(f"{paths.manifest}: featurizer n_features must be a positive integer, got {n_features!r}")
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

    # the manifest's settings; what it does not say is the legacy pipeline's (a folder of its files)
    params = {k: v for k, v in LEGACY_FEATURIZER.items() if k != "max_vocab"}
    params["ngram_max"] = int(config.get("ngram_max") or 1)
    params["token_pattern"] = str(config.get("token_pattern") or TOKEN_PATTERN)
    params.update({k: featurizer[k] for k in _FEATURIZER_KEYS if k in featurizer and k != "max_vocab"})
    if params.get("char_ngrams") is not None:
        params["char_ngrams"] = tuple(params["char_ngrams"])
    idf = None
    if params.get("weighting") == "tfidf":
        idf_path = (paths.root or paths.vocab.parent) / IDF
        idf = _json(idf_path, raw.get(IDF) or _read(idf_path, "idf weights", root), "the idf weights")
        if not isinstance(idf, list) or len(idf) != n_features:
            raise BundleError(f"{idf_path}: expected {n_features} idf weights")
    try:
        features = Featurizer(params, None if hashing else vocab, idf)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{paths.manifest or paths.vocab}: invalid featurizer settings: {exc}") from exc
    temperature = (manifest or {}).get("temperature", 1.0)
    if not is_number(temperature) or not 0 < temperature < math.inf:
        raise BundleError(f"{paths.manifest}: temperature must be a positive number, got {temperature!r}")
    temperature = float(temperature)
    weights = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    warnings = [] if manifest is not None else ["no manifest: a legacy bundle, loaded without checksums"]
    lexical = _read_lexical(paths, manifest, raw, len(labels)) if manifest is not None else None
    return Bundle(paths, features, weights, labels, temperature, config, manifest, warnings, lexical)


def _read_lexical(
    paths: BundlePaths, manifest: dict[str, Any], raw: dict[str, bytes], n_classes: int
) -> dict[str, Any] | None:
    """The lexical head a format-3 manifest names, checked; ``None`` when it names none."""
    meta = manifest.get("lexical")
    if meta is None:
        return None
    where = paths.manifest
    if not isinstance(meta, dict) or LEXICAL not in raw:
        raise BundleError(f"{where}: 'lexical' must be an object, and {LEXICAL} listed in 'files'")
    for key in ("mix", "temperature"):
        if not is_number(meta.get(key)) or not 0 < meta[key] < math.inf:
            raise BundleError(f"{where}: lexical {key} must be a positive number, got {meta.get(key)!r}")
    for key in ("table", "table_sha256"):
        if not isinstance(meta.get(key), str):
            raise BundleError(f"{where}: lexical {key} must be a string, got {meta.get(key)!r}")
    try:
        loaded = safetensors.numpy.load(raw[LEXICAL])
    except Exception as exc:
        raise BundleError(f"{where}: cannot read {LEXICAL}: {exc}") from exc
    weight, bias = loaded.get("lexical.weight"), loaded.get("lexical.bias")
    if weight is None or bias is None or weight.ndim != 2 or weight.shape[0] != n_classes or bias.shape != (n_classes,):
        raise BundleError(f"{where}: {LEXICAL} must hold lexical.weight ({n_classes} x d) and lexical.bias")
    return {
        **{k: meta[k] for k in ("table", "table_sha256")},
        "mix": float(meta["mix"]),
        "temperature": float(meta["temperature"]),
        "weight": np.ascontiguousarray(weight, dtype=np.float32),
        "bias": np.ascontiguousarray(bias, dtype=np.float32),
    }
