"""The reference model: logistic regression on a seeded synthetic two-class task (numpy only).

Part of the ``local`` sandbox. ``SyntheticTask`` draws labelled examples (two Gaussian
classes); ``LogisticModel`` is trained on them at server start. The model server
(``modelserver``) predicts with it, and the load generator (``loadgen``) draws examples
from the same task so it knows each request's true label for feedback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["LogisticModel", "SyntheticTask", "fit_model"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class SyntheticTask:
    """Two Gaussian classes ``separation`` apart along a fixed direction in ``features`` dims."""

    features: int = 4
    separation: float = 2.5
    seed: int = 7

    def direction(self) -> FloatArray:
        """The unit vector separating the class means (fixed by ``seed``)."""
        raw = np.random.default_rng(self.seed).normal(size=self.features)
        return np.asarray(raw / np.linalg.norm(raw), dtype=np.float64)

    def sample(self, rng: np.random.Generator, count: int) -> tuple[FloatArray, IntArray]:
        """``count`` examples and their labels (0 or 1, equally likely)."""
        labels = rng.integers(0, 2, size=count)
        centres = np.outer(labels - 0.5, self.direction()) * self.separation
        features = centres + rng.normal(size=(count, self.features))
        return np.asarray(features, dtype=np.float64), np.asarray(labels, dtype=np.int64)


@dataclass(frozen=True)
class LogisticModel:
    """Weights and bias of a fitted logistic regression."""

    weights: FloatArray
    bias: float

    def probability(self, features: FloatArray) -> FloatArray:
        """P(label = 1) for each row of ``features``."""
        return np.asarray(1.0 / (1.0 + np.exp(-(features @ self.weights + self.bias))))

    def predict(self, features: FloatArray) -> IntArray:
        """The most likely label of each row of ``features``."""
        return np.asarray(self.probability(features) >= 0.5, dtype=np.int64)


def fit_model(task: SyntheticTask, *, examples: int = 2000, steps: int = 300) -> LogisticModel:
    """Fit by full-batch gradient descent on ``examples`` draws from ``task`` (deterministic)."""
    features, labels = task.sample(np.random.default_rng(task.seed + 1), examples)
    weights = np.zeros(task.features)
    bias = 0.0
    for _ in range(steps):
        error = 1.0 / (1.0 + np.exp(-(features @ weights + bias))) - labels
        weights -= 0.5 * features.T @ error / examples
        bias -= 0.5 * float(error.mean())
    return LogisticModel(weights=np.asarray(weights, dtype=np.float64), bias=bias)
