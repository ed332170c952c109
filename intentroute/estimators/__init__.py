"""scikit-learn estimators: :class:`BowVectorizer` (and, with the ``[torch]`` extra, the classifier).

Importing this package does not import torch.
"""

from __future__ import annotations

from .vectorizer import BowVectorizer

__all__ = ["BowVectorizer"]
