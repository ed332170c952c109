"""scikit-learn estimators: :class:`BowVectorizer` and :class:`TorchBowClassifier`.

Importing this package does not import torch (the classifier imports it only to train).
"""

from __future__ import annotations

from .classifier import TorchBowClassifier
from .vectorizer import BowVectorizer

__all__ = ["BowVectorizer", "TorchBowClassifier"]
