"""scikit-learn estimators: :class:`BowVectorizer`, :class:`TorchBowClassifier` and :class:`LogitSumClassifier`.

Importing this package does not import torch (the classifier imports it only to train).
"""

from __future__ import annotations

from .classifier import TorchBowClassifier
from .ensemble import LogitSumClassifier
from .vectorizer import BowVectorizer

__all__ = ["BowVectorizer", "LogitSumClassifier", "TorchBowClassifier"]
