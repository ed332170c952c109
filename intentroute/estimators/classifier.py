"""``TorchBowClassifier``: a one-hidden-layer (or linear) classifier over sparse bag-of-words input.

Trained with PyTorch without ever densifying the input: each batch of CSR rows is multiplied by
the first weight matrix through a small autograd function backed by SciPy's sparse products.
After fitting, the weights are NumPy arrays and prediction is a SciPy sparse product: torch is
needed to train, never to predict. About 430 lines: the estimator's parameters, its training loop
(linear and hidden-layer, early stopping, partial_fit) and their checks; the torch pieces it
trains with are in ``torch_ops``, what it shares with ``LogitSumClassifier`` in ``base``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ..optional import import_torch
from ..validation import is_number
from .base import LogitsClassifier
from .torch_ops import ROW_OPTIMIZERS, sparse_matmul, torch_threads

__all__ = ["EpochCallback", "TorchBowClassifier"]

EpochCallback = Callable[[dict[str, Any]], None]


class TorchBowClassifier(LogitsClassifier):
    """A one-hidden-layer MLP (or multinomial logistic regression) trained with PyTorch on sparse rows.

    The defaults are the most accurate single model measured on BANKING77 and CLINC150 (the
    ``mlp`` preset, docs/training.md); ``hidden_size=0`` with the ``linear`` preset's settings
    (``intentroute.train.PRESETS``) trains several times faster, and ``legacy`` is the legacy
    pipeline's model.

    Parameters
    ----------
    hidden_size : int, default=512
        The width of one ReLU layer; 0 for a linear model (the legacy pipeline's ``nn.Linear``).
        The hidden layer's input weights are trained row-sparse: a batch reads and updates only
        the rows of the features it contains (Adam's moments kept per row, as
        ``torch.optim.SparseAdam`` does), so an epoch costs what the batches' features cost, not
        ``n_features * hidden_size`` per step.
    row_optimizer : {"adam", "rowwise_rmsprop"}, default="adam"
        How the hidden layer's input rows are updated: ``"adam"``, Adam's two moments per weight;
        ``"rowwise_rmsprop"``, RMSprop with one accumulator per row, about twice as fast to train
        (the ``default`` preset's hidden model). Only with ``hidden_size > 0``.
    dropout : float, default=0.5
        The share of hidden units zeroed at random in each training step (inverted dropout; no
        effect on prediction). Only with ``hidden_size > 0``; a linear model ignores it.
    input_dropout : float, default=0.0
        The share of each training example's feature values zeroed at random in each training
        step, the rest scaled by ``1 / (1 - input_dropout)`` (dropout on the input, Wager et al.
        2013's "dropout training"; no effect on prediction). For a linear model it is an adaptive
        regulariser that spreads a class's weight over more of its features, so a phrasing that
        lacks the strongest ones is still recognised (``make model`` trains the embedded model
        with 0.5: docs/benchmarks.md). 0 draws no random numbers, so earlier fits are reproduced.
    lr : float, default=2e-3
        Adam learning rate.
    epochs : int, default=10
        Passes over the training data (at most, with early stopping).
    batch_size : int, default=128
    weight_decay : float, default=0.0
        Adam's L2 penalty (on the hidden layer's input weights, for the rows a batch updates).
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss.
    random_state : int or None, default=None
        Seeds initialisation, shuffling and the early-stopping split; fixed, fitting is reproducible.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the training data and stop when its accuracy has not
        improved by ``tol`` for ``n_iter_no_change`` epochs; the best epoch's weights are kept.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=3
    tol : float, default=1e-4
    n_jobs : int or None, default=None
        Torch threads while training (``None``: 1, which keeps results bit-for-bit reproducible).

    Attributes
    ----------
    classes_ : ndarray of the class labels
    coef_ : ndarray (n_classes, n_features) for a linear model
    intercept_ : ndarray (n_classes,)
    hidden_coef_, hidden_intercept_ : the hidden layer's weights (when ``hidden_size > 0``)
    temperature_ : float
        Divides the logits before the softmax; 1.0 until :meth:`calibrate` fits it.
    history_ : list of dict
        Per epoch: ``epoch``, ``loss`` (summed over batches, as the legacy pipeline prints it), and
        ``val_accuracy`` when validation data is available.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0, 1]] * 10, dtype=np.float32)
    >>> y = ["quotes", "facts"] * 10
    >>> clf = TorchBowClassifier(random_state=0).fit(X, y)
    >>> clf.predict([[1, 0], [0, 1]]).tolist()
    ['quotes', 'facts']
    """

    def __init__(
        self,
        hidden_size: int = 512,
        row_optimizer: str = "adam",
        dropout: float = 0.5,
        input_dropout: float = 0.0,
        lr: float = 2e-3,
        epochs: int = 10,
        batch_size: int = 128,
        weight_decay: float = 0.0,
        class_weight: dict[Any, float] | str | None = None,
        random_state: int | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 3,
        tol: float = 1e-4,
        n_jobs: int | None = None,
    ) -> None:
        self.hidden_size = hidden_size
        self.row_optimizer = row_optimizer
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay
        self.class_weight = class_weight
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.n_jobs = n_jobs

    _fitted_attribute = "coef_"

    # -- parameters --------------------------------------------------------------------------

    def _check_params(self) -> None:
        def num(name: str, lo: float, hi: float, integer: bool = False) -> None:
            v = getattr(self, name)
            if not is_number(v, lo, hi, integer=integer):
                raise ValueError(f"TorchBowClassifier: {name} must be in [{lo}, {hi}], got {v!r}")

        num("hidden_size", 0, 1 << 16, integer=True)
        num("dropout", 0.0, 0.95)
        num("input_dropout", 0.0, 0.95)
        num("lr", 1e-9, 10.0)
        num("epochs", 1, 100_000, integer=True)
        num("batch_size", 1, 1 << 24, integer=True)
        num("weight_decay", 0.0, 10.0)
        num("validation_fraction", 1e-6, 0.9)
        num("n_iter_no_change", 1, 10_000, integer=True)
        num("tol", 0.0, 1.0)
        if self.n_jobs is not None:
            num("n_jobs", 1, 1024, integer=True)
        if self.row_optimizer not in ROW_OPTIMIZERS:
            raise ValueError(
                f"TorchBowClassifier: row_optimizer must be one of {sorted(ROW_OPTIMIZERS)}, got {self.row_optimizer!r}"
            )
        if self.class_weight not in (None, "balanced") and not isinstance(self.class_weight, dict):
            raise ValueError(
                f"TorchBowClassifier: class_weight must be None, 'balanced' or a dict, got {self.class_weight!r}"
            )

    # -- data ------------------------------------------------------------------------------

    @staticmethod
    def _csr(X: Any) -> sp.csr_matrix:
        m = sp.csr_matrix(X, dtype=np.float32)
        m.sum_duplicates()
        return m

    def _class_weights(self, y_idx: np.ndarray) -> np.ndarray:
        n = len(self.classes_)
        if self.class_weight is None:
            return np.ones(n, dtype=np.float32)
        if self.class_weight == "balanced":
            counts = np.bincount(y_idx, minlength=n).astype(np.float64)
            return (len(y_idx) / (n * np.maximum(counts, 1))).astype(np.float32)
        assert isinstance(self.class_weight, dict)
        unknown = set(self.class_weight) - set(self.classes_.tolist())
        if unknown:
            raise ValueError(f"TorchBowClassifier: class_weight names unknown classes {sorted(map(str, unknown))}")
        return np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_], dtype=np.float32)

    # -- torch model -------------------------------------------------------------------------

    def _init_params(self, torch: Any, n_features: int, n_classes: int, gen: Any) -> list[Any]:
        # the same distribution as nn.Linear's default initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        def uniform(shape: tuple[int, ...], fan_in: int) -> Any:
            bound = 1.0 / np.sqrt(max(1, fan_in))
            return ((torch.rand(shape, generator=gen) * 2 - 1) * bound).requires_grad_()

        if self.hidden_size:
            h = self.hidden_size
            return [
                uniform((n_features, h), n_features),
                uniform((h,), n_features),
                uniform((n_classes, h), h),
                uniform((n_classes,), h),
            ]
        return [uniform((n_features, n_classes), n_features), uniform((n_classes,), n_features)]

    def _params_from_numpy(self, torch: Any) -> list[Any]:
        if self.hidden_size:
            arrays = [self.hidden_coef_.T, self.hidden_intercept_, self.coef_, self.intercept_]
        else:
            arrays = [self.coef_.T, self.intercept_]
        return [torch.tensor(np.ascontiguousarray(a), dtype=torch.float32).requires_grad_() for a in arrays]

    def _store_params(self, params: list[Any]) -> None:
        arrays = [p.detach().cpu().numpy().astype(np.float32) for p in params]
        if self.hidden_size:
            self.hidden_coef_ = np.ascontiguousarray(arrays[0].T)  # (hidden, n_features)
            self.hidden_intercept_ = arrays[1]
            self.coef_, self.intercept_ = arrays[2], arrays[3]
        else:
            self.coef_ = np.ascontiguousarray(arrays[0].T)  # (n_classes, n_features)
            self.intercept_ = arrays[1]

    def _dropped(self, xb: sp.csr_matrix, drop: np.random.Generator) -> sp.csr_matrix:
        """``xb`` with each stored value kept with probability ``1 - input_dropout`` and scaled by
        its inverse, the others removed (a hidden layer then neither reads nor decays their rows)."""
        p = float(self.input_dropout)
        keep = drop.random(xb.data.shape[0]) >= p
        kept_before = np.concatenate(([0], np.cumsum(keep)))  # values kept before each position
        indptr = kept_before[xb.indptr].astype(xb.indptr.dtype)
        data = (xb.data[keep] * np.float32(1.0 / (1.0 - p))).astype(np.float32)
        return sp.csr_matrix((data, xb.indices[keep], indptr), shape=xb.shape)

    def _forward(self, torch: Any, params: list[Any], xb: sp.csr_matrix) -> Any:
        return sparse_matmul(torch).apply(params[0], xb) + params[1]

    def _forward_hidden(self, torch: Any, params: list[Any], xb: sp.csr_matrix, gen: Any) -> tuple[Any, Any, Any]:
        """Logits through the hidden layer, reading only the input-weight rows of the batch's
        features; returns them with those rows' indices and the leaf tensor that gets their gradient."""
        cols, inverse = np.unique(xb.indices, return_inverse=True)
        local = sp.csr_matrix((xb.data, inverse.astype(xb.indices.dtype), xb.indptr), shape=(xb.shape[0], len(cols)))
        index = torch.from_numpy(cols.astype(np.int64))
        rows = params[0].detach().index_select(0, index).requires_grad_()
        h = torch.relu(sparse_matmul(torch).apply(rows, local) + params[1])
        if self.dropout:
            keep = torch.rand(h.shape, generator=gen) >= self.dropout
            h = h * keep / (1.0 - self.dropout)
        return h @ params[2].T + params[3], index, rows

    def _run_epochs(
        self,
        X: sp.csr_matrix,
        y_idx: np.ndarray,
        params: list[Any],
        epochs: int,
        val: tuple[sp.csr_matrix, np.ndarray] | None,
        callback: EpochCallback | None,
        rng: np.random.Generator,
        start_epoch: int = 0,
    ) -> None:
        with torch_threads(self.n_jobs or 1) as torch:
            hidden = bool(self.hidden_size)
            dense = params[1:] if hidden else params  # a hidden layer's input weights: RowAdam
            try:  # the fused CPU kernel is 1.5x faster and computes the same update
                opt = torch.optim.Adam(dense, lr=self.lr, weight_decay=self.weight_decay, fused=True)
            except (RuntimeError, TypeError):
                opt = torch.optim.Adam(dense, lr=self.lr, weight_decay=self.weight_decay)
            row_cls = ROW_OPTIMIZERS[self.row_optimizer]
            row_opt = row_cls(torch, params[0], self.lr, self.weight_decay) if hidden else None
            gen = None
            if hidden and self.dropout:
                gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31 - 1)))
            # drawn only when used, so a model without input dropout sees the random streams it always did
            drop = np.random.default_rng(int(rng.integers(0, 2**31 - 1))) if self.input_dropout else None
            cw = torch.tensor(self._class_weights(y_idx))
            best: tuple[float, list[np.ndarray]] | None = None
            stale = 0
            n = X.shape[0]
            for epoch in range(start_epoch, start_epoch + epochs):
                perm = rng.permutation(n)
                Xp = X[perm]
                yt = torch.from_numpy(y_idx[perm].astype(np.int64))
                total = 0.0
                for a in range(0, n, self.batch_size):
                    b = min(n, a + self.batch_size)
                    xb = Xp[a:b] if drop is None else self._dropped(Xp[a:b], drop)
                    if row_opt is None:
                        logits = self._forward(torch, params, xb)
                    else:
                        logits, index, rows = self._forward_hidden(torch, params, xb, gen)
                    loss = torch.nn.functional.cross_entropy(logits, yt[a:b], weight=cw)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if row_opt is not None:
                        row_opt.step(index, rows)
                    total += float(loss.item())
                record: dict[str, Any] = {"epoch": epoch + 1, "loss": round(total, 6)}
                if val is not None:
                    self._store_params(params)
                    acc = float((self._logits(val[0]).argmax(axis=1) == val[1]).mean())
                    record["val_accuracy"] = round(acc, 6)
                    if self.early_stopping:
                        if best is None or acc > best[0] + self.tol:
                            best, stale = (acc, [p.detach().clone() for p in params]), 0
                        else:
                            stale += 1
                self.history_.append(record)
                if callback is not None:
                    callback(record)
                if self.early_stopping and stale >= self.n_iter_no_change:
                    break
            if self.early_stopping and best is not None:
                with torch.no_grad():
                    for p, saved in zip(params, best[1], strict=True):
                        p.copy_(saved)
            self._store_params(params)

    # -- scikit-learn API ---------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_val: Any = None,
        y_val: Any = None,
        epoch_callback: EpochCallback | None = None,
    ) -> TorchBowClassifier:
        """Train from scratch. ``X_val``/``y_val`` (optional) are scored after every epoch
        (``history_``, ``epoch_callback``) and used for early stopping instead of a split of ``X``."""
        self._check_params()
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float32, reset=True)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"TorchBowClassifier needs at least 2 classes in y, got {len(self.classes_)} class")
        X = self._csr(X)
        rng = np.random.default_rng(self.random_state)
        val: tuple[sp.csr_matrix, np.ndarray] | None = None
        if X_val is not None and y_val is not None:
            Xv = self._csr(validate_data(self, X_val, accept_sparse="csr", dtype=np.float32, reset=False))
            val = (Xv, self._encode(y_val))
        elif self.early_stopping:
            order = rng.permutation(X.shape[0])
            n_val = max(1, round(self.validation_fraction * X.shape[0]))
            vi, ti = order[:n_val], order[n_val:]
            val = (X[vi], y_idx[vi])
            X, y_idx = X[ti], y_idx[ti]
        torch = import_torch()
        gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31 - 1)))
        params = self._init_params(torch, X.shape[1], len(self.classes_), gen)
        self.temperature_ = 1.0
        self.history_: list[dict[str, Any]] = []
        self._run_epochs(X, y_idx, params, self.epochs, val, epoch_callback, rng)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> TorchBowClassifier:
        """One pass of Adam over new examples, starting from the current weights.

        The first call (on an unfitted estimator) needs ``classes``, as in scikit-learn. Labels
        outside ``classes_`` and a different number of features are refused.
        """
        first = not hasattr(self, "classes_")
        self._check_params()
        X, y = validate_data(self, X, y, accept_sparse="csr", dtype=np.float32, reset=first)
        check_classification_targets(y)
        if first:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.classes_ = np.unique(np.asarray(classes))
            if len(self.classes_) < 2:
                raise ValueError("TorchBowClassifier needs at least 2 classes")
        elif classes is not None and not np.array_equal(np.unique(np.asarray(classes)), self.classes_):
            raise ValueError(f"classes {list(classes)} differ from classes_ {self.classes_.tolist()} of the first call")
        y_idx = self._encode(y)
        X = self._csr(X)
        rng = np.random.default_rng(self.random_state)
        torch = import_torch()
        if first:
            gen = torch.Generator().manual_seed(int(rng.integers(0, 2**31 - 1)))
            params = self._init_params(torch, X.shape[1], len(self.classes_), gen)
            self.temperature_ = 1.0
            self.history_ = []
        else:
            params = self._params_from_numpy(torch)
        self._run_epochs(X, y_idx, params, 1, None, None, rng, start_epoch=len(self.history_))
        return self

    def _encode(self, y: Any) -> np.ndarray:
        y = np.asarray(y)
        index = {c: i for i, c in enumerate(self.classes_.tolist())}
        unknown = sorted({str(v) for v in y.tolist() if v not in index})
        if unknown:
            raise ValueError(f"labels {unknown[:5]} are not among classes_ {self.classes_.tolist()}")
        return np.array([index[v] for v in y.tolist()], dtype=np.int64)

    def _logits(self, X: Any) -> np.ndarray:
        # float64 so a row's logits do not depend on which other rows share the batch
        X = X.astype(np.float64)
        if self.hidden_size:
            h = X @ self.hidden_coef_.T.astype(np.float64) + self.hidden_intercept_
            h = np.maximum(np.asarray(h), 0.0)
            out = h @ self.coef_.T.astype(np.float64) + self.intercept_
        else:
            out = X @ self.coef_.T.astype(np.float64) + self.intercept_
        return np.asarray(out, dtype=np.float64)

    @classmethod
    def from_arrays(
        cls,
        classes: Any,
        coef: np.ndarray,
        intercept: np.ndarray,
        *,
        hidden_coef: np.ndarray | None = None,
        hidden_intercept: np.ndarray | None = None,
        temperature: float = 1.0,
        **params: Any,
    ) -> TorchBowClassifier:
        """A fitted classifier from weight arrays (what a bundle stores)."""
        hidden = 0 if hidden_coef is None else int(hidden_coef.shape[0])
        clf = cls(hidden_size=hidden, **params)
        clf.classes_ = np.asarray(classes)
        clf.coef_ = np.ascontiguousarray(coef, dtype=np.float32)
        clf.intercept_ = np.ascontiguousarray(intercept, dtype=np.float32)
        if hidden_coef is not None:
            clf.hidden_coef_ = np.ascontiguousarray(hidden_coef, dtype=np.float32)
            clf.hidden_intercept_ = np.ascontiguousarray(hidden_intercept, dtype=np.float32)
        clf.n_features_in_ = int((hidden_coef if hidden_coef is not None else coef).shape[1])
        clf.temperature_ = float(temperature)
        clf.history_ = []
        return clf
