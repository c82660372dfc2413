"""Vector helpers on stacks of 3-vectors (numpy only): the one copy the add-on's math uses.

Two layouts, because each is fastest where it is used:

- *component-last* ``(..., 3)`` — ``dot``, ``norm``, ``cross``, ``normalize``, ``unit``,
  ``flatten``: poses, rest frames, the legs' IK; stacks of a few hundred small vectors, where
  numpy's per-call overhead, not arithmetic, is the cost: einsum and three multiplies beat
  np.linalg.norm / np.sum / np.cross (which reshape and move axes) by 2–3×.
- *component-first* ``(3, ...)`` — ``dot_first``, ``norm_first``, ``cross_first``,
  ``normalize_first``: the (references × frames) stacks of the twist, where each of x, y, z
  is one contiguous block, so they run at memory speed.

``normalize`` and ``unit`` differ on purpose: ``normalize`` also returns the lengths and
leaves vectors under ``EPS`` at zero; ``unit`` (the IK's) divides by ``np.linalg.norm`` and
leaves vectors under 1e-12 as they are. Each keeps the arithmetic its callers were measured
with.
"""

from __future__ import annotations

import numpy as np

# Below this length a vector has no direction; callers fall back instead of dividing.
EPS = 1e-9


# --- component-last (..., 3) ----------------------------------------------------------


def dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dot products along the last axis."""
    return np.einsum("...i,...i->...", a, b)


def norm(v: np.ndarray) -> np.ndarray:
    """Lengths along the last axis."""
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products along the last axis (a and b broadcast)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def normalize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and their original lengths; zero vectors stay zero (never NaN)."""
    length = norm(v)
    has_length = length > EPS
    return v * (has_length / np.where(has_length, length, 1.0))[..., None], length


def unit(v: np.ndarray) -> np.ndarray:
    """Unit vectors along the last axis; vectors shorter than 1e-12 are left as they are."""
    length = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(length > 1e-12, length, 1.0)


def flatten(v: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``v`` (..., 3) with its component along unit ``up`` removed."""
    return v - (v @ up)[..., None] * up


# --- component-first (3, ...) ---------------------------------------------------------


def dot_first(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def norm_first(v: np.ndarray) -> np.ndarray:
    return np.sqrt(dot_first(v, v))


def cross_first(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )


def normalize_first(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and their lengths, component-first; zero vectors stay zero."""
    length = norm_first(v)
    has_length = length > EPS
    return v * (has_length / np.where(has_length, length, 1.0)), length
