"""Augmentations the trainer applies at load time (never baked into a dataset).

Pure functions on one take ``(T, V, C)`` in metres; randomness comes from the ``rng`` passed
in, so the dataset can make item ``i`` of epoch ``e`` reproducible on any worker or rank.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from kinetic_gan.skeletons import NTU_JOINTS, get_skeleton

_BASE = NTU_JOINTS.index("SpineBase")


@dataclass(frozen=True)
class Augment:
    """Options; a zero / None option is off."""

    yaw_deg: float = 180.0  # uniform turn about the vertical through the pelvis, ±yaw_deg
    mirror_p: float = 0.5  # probability of a left–right mirror (with joint swap)
    time_warp: tuple[float, float] | None = (0.8, 1.25)  # speed factor range (log-uniform)
    bone_jitter: float = 0.05  # each bone length × U(1 − j, 1 + j), same on both sides
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> Augment:
        d = dict(d)
        if d.get("time_warp") is not None:
            d["time_warp"] = tuple(d["time_warp"])
        return cls(**d)


def random_yaw(joints: np.ndarray, rng: np.random.Generator, max_deg: float) -> np.ndarray:
    """Turn the take about the vertical through its pelvis' mean position.

    That is the origin of our corpus (whose normalization is widened for such turns) and the
    subject's own place in camera-space data such as NTU's.
    """
    angle = np.deg2rad(rng.uniform(-max_deg, max_deg))
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    pivot = joints[:, _BASE].mean(axis=0) * np.array([1.0, 0.0, 1.0])
    return (joints - pivot) @ turn.T + pivot


def mirror(joints: np.ndarray, twins: tuple[int, ...] | np.ndarray) -> np.ndarray:
    """Left–right mirror: x → −x, then each joint takes its twin's place (left stays at −X)."""
    out = joints.copy()
    out[..., 0] = -out[..., 0]
    return out[:, np.asarray(twins)]


def time_warp(joints: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (linear interpolation), holding the last frame at the end."""
    frames = len(joints)
    src = np.clip(np.arange(frames) * factor, 0, frames - 1)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, frames - 1)
    w = (src - lo)[:, None, None]
    return (1 - w) * joints[lo] + w * joints[hi]


def bone_jitter(joints: np.ndarray, scales: np.ndarray, parents: tuple[int, ...]) -> np.ndarray:
    """Scale each bone (child joint ``v``'s bone to its parent) by ``scales[v]``, root outward.

    A joint is the root plus the scaled bones on its path, so the whole take is one product
    with the (V, V) "bone u lies on the path to joint v" matrix.
    """
    parent = np.asarray(parents)
    roots = parent < 0
    bones = joints - joints[:, np.where(roots, np.arange(len(parent)), parent)]
    root_of = _root_of(parents)
    return joints[:, root_of] + (_paths(parents) * scales) @ bones


@cache
def _paths(parents: tuple[int, ...]) -> np.ndarray:
    """(V, V) with [v, u] = 1 when u's bone (u → its parent) is on the path from the root to v."""
    paths = np.zeros((len(parents), len(parents)))
    for v in range(len(parents)):
        u = v
        while parents[u] >= 0:
            paths[v, u] = 1.0
            u = parents[u]
    return paths


@cache
def _root_of(parents: tuple[int, ...]) -> np.ndarray:
    roots = []
    for v in range(len(parents)):
        while parents[v] >= 0:
            v = parents[v]
        roots.append(v)
    return np.array(roots)


@cache
def _ntu_tables() -> tuple[tuple[int, ...], np.ndarray]:
    sk = get_skeleton("ntu")
    return sk.parents, np.asarray(sk.mirror)


def apply(joints: np.ndarray, augment: Augment, rng: np.random.Generator,
          skeleton: str = "ntu") -> np.ndarray:
    """All enabled augmentations on one (T, V, C) take, in metres. Spatial ones need 3-D NTU."""
    out = np.asarray(joints, dtype=np.float64)
    if augment.time_warp is not None:
        lo, hi = augment.time_warp
        out = time_warp(out, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
    if skeleton != "ntu":
        return out
    parents, twins = _ntu_tables()
    if augment.bone_jitter:
        per_joint = rng.uniform(1 - augment.bone_jitter, 1 + augment.bone_jitter, len(parents))
        scales = np.where(twins < np.arange(len(twins)), per_joint[twins], per_joint)
        out = bone_jitter(out, scales, parents)
    if augment.mirror_p and rng.random() < augment.mirror_p:
        out = mirror(out, twins)
    if augment.yaw_deg:
        out = random_yaw(out, rng, augment.yaw_deg)
    return out
