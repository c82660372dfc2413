"""Fidelity: is the action performed the action asked for? (nearest class among real windows)

No network is involved, so no generator can learn what this measure looks at instead of
the action. Every take is compared with every training window of every class as training
shows them (mirrored, and time-warped over the training range), on what the body does
(``body_features``: root-relative joints, root height, root velocity, facing aligned), and
the comparison tolerates timing: a take is also slid against each window by a range of
time shifts, and the best alignment counts. A take is *faithful* when the class of its
nearest window is the class it was generated for.

Distances are squared feature differences averaged over the overlapping frames, with the
three feature groups weighted so that, over the real windows, the pose carries half of the
variance and the root height and root velocity a quarter each (a 72-number pose would
otherwise drown the root's four numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kinetic_gan.metrics import body_features

# Speed factors of the training time warp (0.8–1.25, log-uniform), in geometric steps.
WARPS = tuple(float(w) for w in np.geomspace(0.8, 1.25, 5))
FRAME_STEP = 2  # compare every other frame: at 30 fps a 15 Hz sampling still sees every step
MAX_SHIFT = 16  # frames (at the take's rate) a take may lead or lag a window
SHIFT_STEP = 4
GROUP_SHARE = {"pose": 0.5, "height": 0.25, "velocity": 0.25}
BANK_CHUNK = 4096


def time_warped(joints: np.ndarray, factor: float) -> np.ndarray:
    """``(N, T, V, C)`` played ``factor`` times faster, the last frame held (data/augment.py's
    time warp, on a batch)."""
    frames = joints.shape[1]
    src = np.clip(np.arange(frames) * factor, 0, frames - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, frames - 1)
    w = (src - lo)[None, :, None, None]
    return (1 - w) * joints[:, lo] + w * joints[:, hi]


@dataclass
class Bank:
    """The real windows as training shows them, as weighted feature sequences."""

    features: np.ndarray  # (M, T', D) float32
    labels: np.ndarray  # (M,) int64
    scales: dict[str, float]  # per feature group, the factor applied
    n_classes: int


def group_scales(groups: dict[str, np.ndarray]) -> dict[str, float]:
    """Factors giving each group its share of the total variance (see the module doc)."""
    scales = {}
    for name, share in GROUP_SHARE.items():
        values = groups[name].reshape(-1, groups[name].shape[-1]).astype(np.float64)
        total = float(values.var(axis=0).sum())
        scales[name] = float(np.sqrt(share / max(total, 1e-12)))
    return scales


def weighted(groups: dict[str, np.ndarray], scales: dict[str, float]) -> np.ndarray:
    """The groups side by side, scaled, every ``FRAME_STEP``-th frame: ``(N, T', D)``."""
    parts = [groups[name] * scales[name] for name in GROUP_SHARE]
    return np.ascontiguousarray(np.concatenate(parts, axis=-1)[:, ::FRAME_STEP], np.float32)


def build_bank(joints: np.ndarray, labels: np.ndarray, fps: float, n_classes: int,
               warps: tuple[float, ...] = WARPS, mirror: bool = True) -> Bank:
    """Every window at every warp, and mirrored too when ``mirror``."""
    joints = np.asarray(joints, dtype=np.float64)
    variants = [joints, body_features.mirrored(joints)] if mirror else [joints]
    # The scales come from the windows as they are (and mirrored): the warps hardly change
    # them, and one copy at a time keeps the memory to the features' (float32, every other frame).
    scales = group_scales(body_features.frame_features(np.concatenate(variants), fps))
    features = [take_features(time_warped(v, w), fps, scales) for v in variants for w in warps]
    bank_labels = np.tile(np.asarray(labels, dtype=np.int64), len(features))
    return Bank(np.concatenate(features), bank_labels, scales, n_classes)


def take_features(joints: np.ndarray, fps: float, scales: dict[str, float]) -> np.ndarray:
    return weighted(body_features.frame_features(joints, fps), scales)


def _shifts(frames: int) -> list[int]:
    """Shifts in compared frames; the overlap always keeps at least half the take."""
    limit = min(MAX_SHIFT // FRAME_STEP, frames // 2)
    step = max(1, SHIFT_STEP // FRAME_STEP)
    return list(range(-limit, limit + 1, step))


def window_distances(takes: np.ndarray, bank: np.ndarray):
    """(N, M) torch tensor: per take and window, the mean squared feature distance at the
    best time shift."""
    import torch

    g = torch.from_numpy(takes)
    r = torch.from_numpy(bank)
    t = g.shape[1]
    best = torch.full((len(g), len(r)), float("inf"))
    for s in _shifts(t):
        # Take frame i meets window frame i + s.
        ga, gb = max(0, -s), t - max(0, s)
        gs = g[:, ga:gb].reshape(len(g), -1)
        rs = r[:, ga + s : gb + s].reshape(len(r), -1)
        d2 = (gs.square().sum(1, keepdim=True) + rs.square().sum(1)[None]
              - 2.0 * gs @ rs.T) / (gb - ga)
        torch.minimum(best, d2, out=best)
    return best.clamp_min_(0.0)


def class_distances(takes: np.ndarray, bank: Bank) -> np.ndarray:
    """(N, classes): per take, the distance (RMS, weighted units) to each class's nearest window."""
    import torch

    out = torch.full((len(takes), bank.n_classes), float("inf"), dtype=torch.float32)
    labels = torch.from_numpy(bank.labels)
    for start in range(0, len(bank.features), BANK_CHUNK):
        d2 = window_distances(takes, bank.features[start : start + BANK_CHUNK])
        index = labels[start : start + BANK_CHUNK][None].expand_as(d2)
        out = out.scatter_reduce(1, index, d2, reduce="amin")
    return out.sqrt().numpy().astype(np.float64)


@dataclass
class FidelityResult:
    asked: np.ndarray  # (N,) the class each take was generated for
    nearest: np.ndarray  # (N,) the class of its nearest real window
    distances: np.ndarray  # (N, classes)
    class_names: list[str]

    @property
    def faithful(self) -> np.ndarray:
        return self.asked == self.nearest

    def confusion(self) -> np.ndarray:
        """(classes, classes) counts: row = asked, column = nearest."""
        k = len(self.class_names)
        counts = np.zeros((k, k), dtype=np.int64)
        np.add.at(counts, (self.asked, self.nearest), 1)
        return counts

    def per_class(self) -> list[dict[str, object]]:
        rows = []
        confusion = self.confusion()
        for c, name in enumerate(self.class_names):
            total = int(confusion[c].sum())
            others = confusion[c].copy()
            others[c] = -1
            worst = int(np.argmax(others))
            rows.append({
                "class": name, "takes": total,
                "faithful": float(confusion[c, c] / total) if total else None,
                "confused_with": self.class_names[worst] if total and others[worst] > 0 else None,
                "confused_share": float(others[worst] / total) if total and others[worst] > 0
                else 0.0,
            })
        return rows

    def summary(self) -> dict[str, object]:
        shares = [r["faithful"] for r in self.per_class() if r["faithful"] is not None]
        return {
            "faithful": float(self.faithful.mean()) if len(self.asked) else None,
            "worst_class_faithful": float(min(shares)) if shares else None,
            "per_class": self.per_class(),
            "confusion": self.confusion().tolist(),
        }


def fidelity(joints: np.ndarray, asked: np.ndarray, fps: float, bank: Bank,
             class_names: list[str]) -> FidelityResult:
    """The nearest class of each take (``joints`` (N, T, 25, 3) metres) against ``bank``."""
    distances = class_distances(take_features(joints, fps, bank.scales), bank)
    return FidelityResult(np.asarray(asked, dtype=np.int64), distances.argmin(axis=1),
                          distances, list(class_names))
