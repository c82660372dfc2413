"""A classifier two-sample test: can a linear model tell two sets of takes apart?

Each take becomes a vector of simple motion statistics (``motion_statistics``); an
L2-regularised logistic regression (Newton's method, numpy) is fitted on k − 1 folds and
scored on the held-out fold. The mean held-out accuracy is 0.5 when the two sets are
indistinguishable to such a model and 1 when every take gives itself away (Lopez-Paz &
Oquab, "Revisiting classifier two-sample tests", ICLR 2017). The larger set is subsampled
so both sides count equally (chance is then exactly 0.5).
"""

from __future__ import annotations

import numpy as np

from kinetic_gan.metrics import body_features
from kinetic_gan.skeletons import NTU_JOINTS

FOLDS = 5
L2 = 1e-2  # on standardised statistics: keeps the fit finite when a statistic separates alone
NEWTON_STEPS = 25
STILL_MS = 0.2  # a joint slower than this is near still (m/s)
MIDDLING_MS = (0.5, 1.5)
_GROUPS = {
    "legs": ("KneeLeft", "AnkleLeft", "FootLeft", "KneeRight", "AnkleRight", "FootRight"),
    "arms": ("ElbowLeft", "WristLeft", "HandLeft", "ElbowRight", "WristRight", "HandRight"),
    "trunk": ("SpineMid", "Neck", "Head", "SpineShoulder"),
}


def _group_statistics(speed: np.ndarray, rel: np.ndarray, joints: tuple[str, ...]) -> list:
    idx = [NTU_JOINTS.index(j) for j in joints]
    s = speed[:, :, idx]
    # Pose range within a take: the spread of each joint's root-relative position over time.
    spread = np.sqrt(rel[:, :, idx].var(axis=1).sum(axis=-1)).mean(axis=1)
    lo, hi = MIDDLING_MS
    return [s.mean(axis=(1, 2)), s.std(axis=(1, 2)), (s < STILL_MS).mean(axis=(1, 2)),
            ((s >= lo) & (s < hi)).mean(axis=(1, 2)), spread]


def motion_statistics(joints: np.ndarray, fps: float) -> np.ndarray:
    """(N, F) statistics of ``(N, T, 25, 3)`` takes in metres; none depends on the facing."""
    joints = np.asarray(joints, dtype=np.float64)
    body = body_features.canonical(joints)
    root = body[:, :, body_features.ROOT]
    rel = body - root[:, :, None, :]
    velocity = np.diff(body, axis=1) * fps
    speed = np.linalg.norm(velocity, axis=-1)  # (N, T-1, V)
    accel = np.linalg.norm(np.diff(velocity, axis=1) * fps, axis=-1)
    root_speed = np.linalg.norm(np.diff(root[:, :, [0, 2]], axis=1) * fps, axis=-1)
    height = root[:, :, 1]
    extent = body[..., 1].max(axis=2) - body[..., 1].min(axis=2)  # head-to-toe span, y
    stats = [height.mean(1), height.std(1), height.min(1), height.max(1),
             root_speed.mean(1), root_speed.std(1), np.median(accel, axis=(1, 2)),
             extent.mean(1), extent.std(1), body[..., 1].min(axis=2).mean(1)]
    for names in _GROUPS.values():
        stats.extend(_group_statistics(speed, rel, names))
    return np.stack(stats, axis=1)


def _fit(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Logistic regression weights (bias last) by Newton's method on the penalised loss."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.full(xb.shape[1], l2 * len(x))
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + penalty * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def classifier_accuracy(a: np.ndarray, b: np.ndarray, folds: int = FOLDS, seed: int = 0,
                        l2: float = L2) -> dict[str, object]:
    """Cross-validated accuracy of telling rows of ``a`` from rows of ``b`` (equal counts)."""
    rng = np.random.default_rng(seed)
    n = min(len(a), len(b))
    if n < folds:
        raise ValueError(f"two-sample test: need at least {folds} takes per side, got {n}")
    a = np.asarray(a, np.float64)[rng.permutation(len(a))[:n]]
    b = np.asarray(b, np.float64)[rng.permutation(len(b))[:n]]
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    fold_of = np.concatenate([rng.permutation(n) % folds, rng.permutation(n) % folds])
    scores = []
    for k in range(folds):
        train, test = fold_of != k, fold_of == k
        mean, std = x[train].mean(0), x[train].std(0) + 1e-9
        w = _fit((x[train] - mean) / std, y[train], l2)
        xt = (x[test] - mean) / std
        predicted = (np.hstack([xt, np.ones((len(xt), 1))]) @ w) > 0
        scores.append(float((predicted == (y[test] > 0.5)).mean()))
    return {"accuracy": float(np.mean(scores)), "folds": scores, "per_side": n}


def two_sample_test(joints_a: np.ndarray, joints_b: np.ndarray, fps: float,
                    seed: int = 0) -> dict[str, object]:
    return classifier_accuracy(motion_statistics(joints_a, fps), motion_statistics(joints_b, fps),
                               seed=seed)
