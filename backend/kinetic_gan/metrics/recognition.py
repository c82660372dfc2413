"""Recognition-based metrics (Action2Motion → ACTOR → MDM protocol), on recogniser features.

All functions take the recogniser's penultimate features (N, D) and are pure numpy:

- **FID** between real and generated feature Gaussians (``fid.frechet_distance``).
- **Accuracy**: how often the recogniser names the class a motion was generated for.
- **Diversity**: mean distance between the features of 200 random pairs of motions
  (classes ignored) — variety across the whole set.
- **Multimodality**: mean distance between 20 random pairs *within* each class,
  averaged over classes — variety inside one action.

Each metric is repeated over independent draws and reported as mean ± the half-width
of the 95 % confidence interval, ``1.96 σ / sqrt(repeats)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics.fid import fid_from_features

DIVERSITY_PAIRS = 200
MULTIMODALITY_PAIRS = 20


@dataclass(frozen=True)
class Estimate:
    """A metric over repeated draws: mean and 95 % confidence half-width."""

    mean: float
    ci95: float
    values: tuple[float, ...]

    @classmethod
    def of(cls, values: list[float] | np.ndarray) -> Estimate:
        v = np.asarray(values, dtype=np.float64)
        if v.size == 0:
            raise KineticGanError("no values to summarise")
        return cls(float(v.mean()), float(1.96 * v.std() / np.sqrt(v.size)), tuple(map(float, v)))

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean, "ci95": self.ci95, "values": list(self.values)}

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.ci95:.2g}"


def _two_index_sets(n: int, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Without replacement where the set is large enough (as the reference code), else with.
    replace = n < k
    return rng.choice(n, k, replace=replace), rng.choice(n, k, replace=replace)


def diversity(
    features: np.ndarray, rng: np.random.Generator, pairs: int = DIVERSITY_PAIRS
) -> float:
    """Mean Euclidean distance between ``pairs`` random pairs of feature vectors."""
    features = np.asarray(features, dtype=np.float64)
    if len(features) < 2:
        raise KineticGanError("diversity needs at least 2 motions")
    a, b = _two_index_sets(len(features), pairs, rng)
    return float(np.linalg.norm(features[a] - features[b], axis=1).mean())


def multimodality(
    features: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    pairs: int = MULTIMODALITY_PAIRS,
) -> float:
    """Mean over classes of the mean distance between ``pairs`` random same-class pairs.

    Classes with fewer than 2 motions cannot form a pair and are left out.
    """
    features, labels = np.asarray(features, dtype=np.float64), np.asarray(labels)
    per_class = []
    for c in np.unique(labels):
        members = features[labels == c]
        if len(members) < 2:
            continue
        a, b = _two_index_sets(len(members), pairs, rng)
        per_class.append(np.linalg.norm(members[a] - members[b], axis=1).mean())
    if not per_class:
        raise KineticGanError("multimodality needs a class with at least 2 motions")
    return float(np.mean(per_class))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((np.asarray(logits).argmax(axis=1) == np.asarray(labels)).mean())


@dataclass(frozen=True)
class DrawMetrics:
    """The metrics of one draw of generated (or real) motions."""

    fid: float | None
    accuracy: float
    diversity: float
    multimodality: float


def draw_metrics(
    features: np.ndarray,
    logits: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
    reference_features: np.ndarray | None = None,
) -> DrawMetrics:
    """All four metrics of one set; FID only when reference (real) features are given."""
    fid = None if reference_features is None else fid_from_features(reference_features, features)
    return DrawMetrics(
        fid=fid,
        accuracy=accuracy(logits, labels),
        diversity=diversity(features, rng),
        multimodality=multimodality(features, labels, rng),
    )


def summarise(draws: list[DrawMetrics]) -> dict[str, Estimate]:
    out = {
        "accuracy": Estimate.of([d.accuracy for d in draws]),
        "diversity": Estimate.of([d.diversity for d in draws]),
        "multimodality": Estimate.of([d.multimodality for d in draws]),
    }
    if all(d.fid is not None for d in draws):
        out = {"fid": Estimate.of([d.fid for d in draws]), **out}
    return out
