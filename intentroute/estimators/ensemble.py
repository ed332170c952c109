"""``LogitSumClassifier``: a linear and a hidden-layer ``TorchBowClassifier``, their logits summed.

Each model is trained on its own, with its own settings, on the same features; the sum of their
logits is the normalised product of their probabilities (a product of experts). Summed, the
model is one sparse first layer (the linear model's class weights beside the hidden layer's
input weights), so the ``torch_bow`` layer scores it as it scores a single model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import clone

from .base import LogitsClassifier
from .classifier import EpochCallback, TorchBowClassifier

__all__ = ["HIDDEN_DEFAULTS", "LINEAR_DEFAULTS", "LogitSumClassifier"]


#: the linear model's settings when ``linear`` is None: the ``linear`` preset's (intentroute.train)
LINEAR_DEFAULTS: dict[str, Any] = {
    "hidden_size": 0,
    "epochs": 15,
    "batch_size": 1024,
    "lr": 6e-2,
    "weight_decay": 3e-6,
    "random_state": 7,
}
#: the hidden-layer model's settings when ``hidden`` is None (docs/training.md)
HIDDEN_DEFAULTS: dict[str, Any] = {
    "hidden_size": 128,
    "row_optimizer": "rowwise_rmsprop",
    "dropout": 0.5,
    "epochs": 8,
    "batch_size": 128,
    "lr": 3e-3,
    "random_state": 7,
}


class LogitSumClassifier(LogitsClassifier):
    """Class scores are the sum of a linear model's and a hidden-layer model's logits.

    Parameters
    ----------
    linear : TorchBowClassifier or None, default=None
        The linear model (``hidden_size=0``); None: the ``linear`` preset's classifier (lr 6e-2,
        weight decay 3e-6, batch 1024, 15 epochs).
    hidden : TorchBowClassifier or None, default=None
        The hidden-layer model (``hidden_size > 0``); None: 128 ReLU units, dropout 0.5,
        row-wise RMSprop, lr 3e-3, batch 128, 8 epochs.

    Both are cloned and fitted on the same data; their parameters are this estimator's nested
    parameters (``linear__lr``, ``hidden__epochs``), as in scikit-learn's ensembles, so
    ``GridSearchCV`` searches them (also with a model left as None: setting one of its parameters
    sets it to its defaults first).

    Attributes
    ----------
    linear_, hidden_ : the fitted models
    classes_ : ndarray of the class labels
    temperature_ : float
        Divides the summed logits before the softmax; 1.0 until :meth:`calibrate` fits it.
    history_ : list of dict
        Both models' epochs (``model``: ``"linear"`` or ``"hidden"``), as ``TorchBowClassifier``'s.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 0], [0, 1]] * 10, dtype=np.float32)
    >>> y = ["quotes", "facts"] * 10
    >>> clf = LogitSumClassifier(
    ...     linear=TorchBowClassifier(hidden_size=0, epochs=30, random_state=0),
    ...     hidden=TorchBowClassifier(hidden_size=8, epochs=30, random_state=0),
    ... ).fit(X, y)
    >>> clf.predict([[1, 0], [0, 1]]).tolist()
    ['quotes', 'facts']
    """

    def __init__(self, linear: TorchBowClassifier | None = None, hidden: TorchBowClassifier | None = None) -> None:
        self.linear = linear
        self.hidden = hidden

    _fitted_attribute = "linear_"

    def set_params(self, **params: Any) -> LogitSumClassifier:
        """As scikit-learn's; a nested parameter of a model left as None (``hidden__lr`` with
        ``hidden=None``) first sets that model to its defaults, so searches work on the defaults."""
        for name, defaults in (("linear", LINEAR_DEFAULTS), ("hidden", HIDDEN_DEFAULTS)):
            if getattr(self, name) is None and name not in params and any(k.startswith(f"{name}__") for k in params):
                setattr(self, name, TorchBowClassifier(**defaults))
        out: LogitSumClassifier = super().set_params(**params)
        return out

    def _models(self) -> tuple[TorchBowClassifier, TorchBowClassifier]:
        for name, given in (("linear", self.linear), ("hidden", self.hidden)):
            if given is not None and not isinstance(given, TorchBowClassifier):
                raise ValueError(f"LogitSumClassifier: {name} must be a TorchBowClassifier, got {type(given).__name__}")
        linear = TorchBowClassifier(**LINEAR_DEFAULTS) if self.linear is None else clone(self.linear)
        hidden = TorchBowClassifier(**HIDDEN_DEFAULTS) if self.hidden is None else clone(self.hidden)
        for name, model, want in (("linear", linear, False), ("hidden", hidden, True)):
            if bool(model.hidden_size) != want:
                raise ValueError(
                    f"LogitSumClassifier: {name} must have hidden_size {'> 0' if want else '0'}, "
                    f"got {model.hidden_size}"
                )
        return linear, hidden

    # -- what the bundle and the layer read ----------------------------------------------------

    @property
    def hidden_size(self) -> int:
        """The hidden model's width (a fitted estimator's, else the configured one's)."""
        model = getattr(self, "hidden_", None) or self._models()[1]
        return int(model.hidden_size)

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_val: Any = None,
        y_val: Any = None,
        epoch_callback: EpochCallback | None = None,
    ) -> LogitSumClassifier:
        """Fit both models from scratch on ``X``, ``y`` (each with ``X_val``/``y_val``, see
        ``TorchBowClassifier.fit``); ``epoch_callback`` gets every epoch of both, with ``model``."""
        linear, hidden = self._models()
        self.history_: list[dict[str, Any]] = []
        for name, model in (("linear", linear), ("hidden", hidden)):

            def record(row: dict[str, Any], name: str = name) -> None:
                row = {"model": name, **row}
                self.history_.append(row)
                if epoch_callback is not None:
                    epoch_callback(row)

            model.fit(X, y, X_val=X_val, y_val=y_val, epoch_callback=record)
        self.linear_, self.hidden_ = linear, hidden
        self.classes_ = linear.classes_
        self.n_features_in_ = linear.n_features_in_
        self.temperature_ = 1.0
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> LogitSumClassifier:
        """One pass of each model over new examples from its current weights (see
        ``TorchBowClassifier.partial_fit``; the first call, on an unfitted estimator, needs
        ``classes``). The temperature stays as it was."""
        if not hasattr(self, "linear_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit")
            self.linear_, self.hidden_ = self._models()
            self.temperature_ = 1.0
            self.history_ = []
        for name, model in (("linear", self.linear_), ("hidden", self.hidden_)):
            done = len(getattr(model, "history_", []))
            model.partial_fit(X, y, classes=classes)
            self.history_ += [{"model": name, **row} for row in model.history_[done:]]
        self.classes_ = self.linear_.classes_
        self.n_features_in_ = self.linear_.n_features_in_
        return self

    def _encode(self, y: Any) -> np.ndarray:
        return self.linear_._encode(y)

    def _logits(self, X: Any) -> np.ndarray:  # decision_function, predict_proba, predict: LogitsClassifier's
        out: np.ndarray = self.linear_._logits(X) + self.hidden_._logits(X)
        return out

    @classmethod
    def from_models(
        cls, linear: TorchBowClassifier, hidden: TorchBowClassifier, temperature: float = 1.0
    ) -> LogitSumClassifier:
        """A fitted sum of two fitted models (what a bundle stores)."""
        if not np.array_equal(linear.classes_, hidden.classes_) or linear.n_features_in_ != hidden.n_features_in_:
            raise ValueError("LogitSumClassifier: the two models have different classes or features")
        clf = cls(linear=clone(linear), hidden=clone(hidden))
        clf._models()  # the same checks as fit
        clf.linear_, clf.hidden_ = linear, hidden
        clf.classes_ = linear.classes_
        clf.n_features_in_ = int(linear.n_features_in_)
        clf.temperature_ = float(temperature)
        clf.history_ = []
        return clf
