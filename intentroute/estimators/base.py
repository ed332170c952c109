"""``LogitsClassifier``: the base of intentroute's classifiers (sparse input, temperature-scaled
predictions from logits, calibration by one scalar)."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from .metrics import expected_calibration_error, softmax

__all__ = ["LogitsClassifier"]


class LogitsClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """What intentroute's classifiers share: sparse input, and predictions from ``_logits(X)``
    (float64, one column per class) divided by ``temperature_``. A subclass sets
    ``_fitted_attribute``, the attribute ``fit`` sets last."""

    _fitted_attribute = "classes_"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.classifier_tags.poor_score = False
        return tags

    def _logits(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def _checked_logits(self, X: Any) -> np.ndarray:
        check_is_fitted(self, self._fitted_attribute)
        X = validate_data(self, X, accept_sparse="csr", dtype=np.float32, reset=False)
        return self._logits(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Raw logits (before the temperature), one column per class; for two classes, as
        scikit-learn expects, one column: the second class's logit minus the first's."""
        logits = self._checked_logits(X)
        if logits.shape[1] == 2:
            out: np.ndarray = logits[:, 1] - logits[:, 0]
            return out
        return logits

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities: ``softmax(logits / temperature_)``."""
        return softmax(self._checked_logits(X) / self.temperature_)

    def predict(self, X: Any) -> np.ndarray:
        index = self._checked_logits(X).argmax(axis=1)
        out: np.ndarray = self.classes_[index]
        return out

    def _encode(self, y: Any) -> np.ndarray:
        raise NotImplementedError

    def calibrate(self, X: Any, y: Any) -> Self:
        """Fit ``temperature_`` on held-out data with scikit-learn's temperature scaling.

        Uses ``CalibratedClassifierCV(FrozenEstimator(self), method="temperature")`` and keeps the
        one scalar it learns, so prediction stays a single sparse product (no wrapper at run time)
        and the bundle stores a number. Sets ``ece_before_`` and ``ece_after_`` on ``X``.
        """
        check_is_fitted(self, self._fitted_attribute)
        self.temperature_ = 1.0
        cal = CalibratedClassifierCV(FrozenEstimator(self), method="temperature").fit(X, y)
        beta = float(cal.calibrated_classifiers_[0].calibrators[0].beta_)
        if not np.isfinite(beta) or beta <= 0:
            raise ValueError(f"temperature scaling failed (inverse temperature {beta})")
        y_idx = self._encode(y)
        self.ece_before_ = expected_calibration_error(self.predict_proba(X), y_idx)
        self.temperature_ = 1.0 / beta
        self.ece_after_ = expected_calibration_error(self.predict_proba(X), y_idx)
        return self
