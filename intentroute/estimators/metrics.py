"""Calibration metrics of predicted probabilities: the softmax, reliability bins, expected
calibration error. NumPy only."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["expected_calibration_error", "reliability", "softmax"]


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def reliability(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> tuple[float, list[dict[str, Any]]]:
    """Expected calibration error and its bins: ``n_bins`` equal-width confidence bins, each with
    its count, accuracy and mean confidence (empty bins left out)."""
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    rows, ece = [], 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            acc, conf = float(correct[mask].mean()), float(confidence[mask].mean())
            ece += float(mask.mean()) * abs(acc - conf)
            rows.append(
                {
                    "bin": [b / n_bins, (b + 1) / n_bins],
                    "count": int(mask.sum()),
                    "accuracy": round(acc, 4),
                    "confidence": round(conf, 4),
                }
            )
    return ece, rows


def expected_calibration_error(proba: np.ndarray, y_true_index: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class probability, with ``n_bins`` equal-width bins.

    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), n_bins=10)
    0.35
    """
    correct = (proba.argmax(axis=1) == y_true_index).astype(float)
    return round(reliability(proba.max(axis=1), correct, n_bins)[0], 6)
