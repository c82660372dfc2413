"""MMD-a and MMD-s: the maximum mean discrepancy of the published action-synthesis protocol.

Wang et al. (AAAI 2020) score a generator by the MMD between real and generated
motions of each class, with an RBF kernel ``k(a, b) = exp(-|a - b|² / h)``:

- **MMD-a** ("avg"): per frame, the MMD between the poses of that frame, averaged over
  frames — how well the *poses* match, frame by frame.
- **MMD-s** ("joint"): each whole sequence is one vector — how well the *motions* match.

The bandwidth ``h`` is swept over 10^-4 … 10^9 and the largest MMD is kept; the result is
the mean over classes, with (up to) 100 real and 100 generated motions per class.

The estimator is the published one: ``sqrt(sum_{i≠j} h_ij / (m (m - 1)))`` with
``h_ij = k(x_i, x_j) + k(y_i, y_j) - 2 k(x_i, y_j)``, which needs equally many real and
generated samples. Where the unbiased estimate dips below zero its root is undefined;
the published code then got NaN, which never beats the running maximum (it starts at
0) — here such a bandwidth simply contributes 0, which is the same result.

numpy only, pure functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from kinetic_gan.errors import KineticGanError

Mode = Literal["avg", "joint"]
BANDWIDTHS = tuple(10.0**j for j in range(-4, 10))
SAMPLES_PER_CLASS = 100


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise |a_i - b_j|² over the last axis; (..., m, d), (..., n, d) → (..., m, n)."""
    sq = (
        (a * a).sum(-1)[..., :, None]
        + (b * b).sum(-1)[..., None, :]
        - 2.0 * a @ np.swapaxes(b, -1, -2)
    )
    return np.maximum(sq, 0.0)  # round-off can make tiny distances negative


def rkhs_mmd(
    x: np.ndarray, y: np.ndarray, bandwidths: tuple[float, ...] = BANDWIDTHS
) -> np.ndarray:
    """MMD between sample sets ``x`` (..., m, d) and ``y`` (..., m, d), one value per bandwidth.

    Leading axes are batched (used for the frames of MMD-a). Returns (len(bandwidths), ...).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape:
        raise KineticGanError(
            f"MMD: real and generated sets differ in shape ({x.shape} vs {y.shape})"
        )
    m = x.shape[-2]
    if m < 2:
        raise KineticGanError("MMD: needs at least 2 samples in each set")
    dxx, dyy, dxy = _squared_distances(x, x), _squared_distances(y, y), _squared_distances(x, y)
    off_diagonal = ~np.eye(m, dtype=bool)
    out = []
    for h in bandwidths:
        hxy = np.exp(-dxx / h) + np.exp(-dyy / h) - 2.0 * np.exp(-dxy / h)
        mmd2 = (hxy * off_diagonal).sum(axis=(-1, -2)) / (m * (m - 1))
        out.append(np.sqrt(np.maximum(mmd2, 0.0)))
    return np.stack(out)


def sequence_mmd(
    real: np.ndarray, generated: np.ndarray, mode: Mode, bandwidths: tuple[float, ...] = BANDWIDTHS
) -> float:
    """Max over bandwidths of the MMD between two sets of sequences (m, T, D)."""
    if real.ndim != 3:
        raise KineticGanError(f"MMD: sequences must be (samples, frames, dims), got {real.shape}")
    if mode == "avg":
        per_frame = rkhs_mmd(np.swapaxes(real, 0, 1), np.swapaxes(generated, 0, 1), bandwidths)
        per_bandwidth = per_frame.mean(axis=1)  # average over frames at each bandwidth
    elif mode == "joint":
        m = real.shape[0]
        per_bandwidth = rkhs_mmd(real.reshape(m, -1), generated.reshape(m, -1), bandwidths)
    else:
        raise KineticGanError(f"MMD: unknown mode {mode!r} (expected 'avg' or 'joint')")
    return float(per_bandwidth.max())


@dataclass(frozen=True)
class MmdResult:
    mmd_a: float
    mmd_s: float
    per_class: dict[str, dict[str, float]]  # class name → {"mmd_a", "mmd_s", "samples"}
    published_quirk: bool


def _as_sequences(motions: np.ndarray) -> np.ndarray:
    """(N, C, T, V) → (N, T, V·C): one pose vector per frame."""
    n, c, t, v = motions.shape
    return np.ascontiguousarray(motions.transpose(0, 2, 3, 1).reshape(n, t, v * c))


def _quirk_sequences(motion: np.ndarray) -> np.ndarray:
    """The published script's view of one motion (C, T, V): V "samples" of (T, C) each.

    It transposed its batch to (N, V, T, C) and then passed ``batch[0]`` where a batch
    was expected, so its sets were the 25 joints of the first motion of the class.
    """
    return np.ascontiguousarray(motion.transpose(2, 1, 0))


def first_per_class(
    labels: np.ndarray, n_classes: int, count: int = SAMPLES_PER_CLASS
) -> list[np.ndarray]:
    """Indices of the first ``count`` samples of each class, in data order (as published)."""
    return [np.flatnonzero(labels == c)[:count] for c in range(n_classes)]


def class_mmd(
    real: np.ndarray,
    real_labels: np.ndarray,
    generated: np.ndarray,
    generated_labels: np.ndarray,
    class_names: list[str],
    samples_per_class: int = SAMPLES_PER_CLASS,
    published_quirk: bool = False,
) -> MmdResult:
    """MMD-a and MMD-s between normalized motions (N, C, T, V), averaged over classes.

    Each class compares its first ``k`` real with its first ``k`` generated motions, where
    ``k = min(samples_per_class, real count, generated count)``. Classes with fewer than
    two samples on either side are skipped and left out of the mean.
    """
    if real.shape[1:] != generated.shape[1:]:
        raise KineticGanError(
            f"MMD: real motions are {real.shape[1:]} (C, T, V), generated are {generated.shape[1:]}"
        )
    n_classes = len(class_names)
    real_idx = first_per_class(real_labels, n_classes, samples_per_class)
    gen_idx = first_per_class(generated_labels, n_classes, samples_per_class)
    per_class: dict[str, dict[str, float]] = {}
    for c, name in enumerate(class_names):
        k = min(len(real_idx[c]), len(gen_idx[c]))
        if k < 2:
            continue
        r, g = real[real_idx[c][:k]], generated[gen_idx[c][:k]]
        if published_quirk:
            rs, gs = _quirk_sequences(r[0]), _quirk_sequences(g[0])
        else:
            rs, gs = _as_sequences(r), _as_sequences(g)
        per_class[name] = {
            "mmd_a": sequence_mmd(rs, gs, "avg"),
            "mmd_s": sequence_mmd(rs, gs, "joint"),
            "samples": k,
        }
    if not per_class:
        raise KineticGanError("MMD: no class has at least 2 real and 2 generated motions")
    return MmdResult(
        mmd_a=float(np.mean([v["mmd_a"] for v in per_class.values()])),
        mmd_s=float(np.mean([v["mmd_s"] for v in per_class.values()])),
        per_class=per_class,
        published_quirk=published_quirk,
    )
