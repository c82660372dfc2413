"""Rotation math on stacks of 3×3 matrices and quaternions (numpy only).

Every function works on arrays with any leading shape, so a whole take (T frames)
is handled in one call. Quaternions are (w, x, y, z), Blender's order.
"""

from __future__ import annotations

import numpy as np

# Below this length a vector has no direction; callers fall back instead of dividing.
EPS = 1e-9


def normalize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors and their original lengths; zero vectors stay zero (never NaN)."""
    length = np.linalg.norm(v, axis=-1)
    safe = np.where(length > EPS, length, 1.0)
    return np.where((length > EPS)[..., None], v / safe[..., None], 0.0), length


def project_perpendicular(v: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The part of ``v`` perpendicular to the unit vector ``axis``."""
    return v - np.sum(v * axis, axis=-1, keepdims=True) * axis


def axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues' rotation about unit ``axis`` (..., 3) by ``angle`` (...) radians."""
    x, y, z = np.moveaxis(axis, -1, 0)
    c, s = np.cos(angle), np.sin(angle)
    t = 1.0 - c
    m = np.empty((*np.shape(angle), 3, 3))
    m[..., 0, 0] = t * x * x + c
    m[..., 0, 1] = t * x * y - s * z
    m[..., 0, 2] = t * x * z + s * y
    m[..., 1, 0] = t * x * y + s * z
    m[..., 1, 1] = t * y * y + c
    m[..., 1, 2] = t * y * z - s * x
    m[..., 2, 0] = t * x * z - s * y
    m[..., 2, 1] = t * y * z + s * x
    m[..., 2, 2] = t * z * z + c
    return m


def shortest_arc(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit ``a`` onto unit ``b`` (both (..., 3)).

    Where ``b`` is zero (no target direction) the rotation is the identity. For
    opposite vectors any perpendicular axis would do; we pick one deterministically.
    """
    a, b = np.broadcast_arrays(a, b)
    axis, sin = normalize(np.cross(a, b))
    cos = np.sum(a * b, axis=-1)
    angle = np.arctan2(sin, cos)
    # Opposite vectors: the cross product vanishes; rotate half a turn about any normal of a.
    flipped = (sin <= 1e-12) & (cos < 0)
    if np.any(flipped):
        helper = np.where(np.abs(a[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        other, _ = normalize(np.cross(a, helper))
        axis = np.where(flipped[..., None], other, axis)
    has_target = np.linalg.norm(b, axis=-1) > EPS
    angle = np.where(has_target, angle, 0.0)
    axis = np.where((np.linalg.norm(axis, axis=-1) > 0.5)[..., None], axis, [0.0, 0.0, 1.0])
    return axis_angle_matrix(axis, angle)


def quaternion_from_matrix(m: np.ndarray) -> np.ndarray:
    """(w, x, y, z) unit quaternions of rotation matrices (..., 3, 3), w >= 0.

    Branch-free: each component's magnitude from the diagonal, its sign from the
    antisymmetric part (w is taken non-negative), then one renormalisation.
    """
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    w = 0.5 * np.sqrt(np.maximum(1.0 + m00 + m11 + m22, 0.0))
    x = 0.5 * np.sqrt(np.maximum(1.0 + m00 - m11 - m22, 0.0))
    y = 0.5 * np.sqrt(np.maximum(1.0 - m00 + m11 - m22, 0.0))
    z = 0.5 * np.sqrt(np.maximum(1.0 - m00 - m11 + m22, 0.0))
    x = np.copysign(x, m[..., 2, 1] - m[..., 1, 2])
    y = np.copysign(y, m[..., 0, 2] - m[..., 2, 0])
    z = np.copysign(z, m[..., 1, 0] - m[..., 0, 1])
    q = np.stack([w, x, y, z], axis=-1)
    # Near half a turn the antisymmetric part is ~0 and says nothing about signs: there,
    # keep the largest of x, y, z positive and sign the others by the symmetric part.
    half_turn = w < 1e-4
    if np.any(half_turn):
        sub, v = m[half_turn], np.abs(q[half_turn][:, 1:])
        k = np.argmax(v, axis=-1)
        rows = np.arange(len(k))
        sym = sub + np.swapaxes(sub, -1, -2)  # 4 q_i q_j off the diagonal
        signs = np.where(sym[rows, k] >= 0, 1.0, -1.0)
        signs[rows, k] = 1.0
        q[half_turn, 1:] = v * signs
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def matrix_from_quaternion(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of (w, x, y, z) quaternions (normalised first)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.empty((*q.shape[:-1], 3, 3))
    m[..., 0, 0] = 1 - 2 * (y * y + z * z)
    m[..., 0, 1] = 2 * (x * y - w * z)
    m[..., 0, 2] = 2 * (x * z + w * y)
    m[..., 1, 0] = 2 * (x * y + w * z)
    m[..., 1, 1] = 1 - 2 * (x * x + z * z)
    m[..., 1, 2] = 2 * (y * z - w * x)
    m[..., 2, 0] = 2 * (x * z - w * y)
    m[..., 2, 1] = 2 * (y * z + w * x)
    m[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """Flip signs along axis 0 (time) so neighbouring quaternions lie in one hemisphere.

    q and -q are the same rotation, but F-curves interpolate the four numbers: a sign
    jump between two keys would swing the bone the long way round.
    """
    q = np.asarray(q, dtype=np.float64)
    # Each frame's flip is the previous frame's flip times the sign of their dot product.
    same = np.sum(q[1:] * q[:-1], axis=-1) >= 0
    flips = np.cumprod(np.where(same, 1.0, -1.0), axis=0)
    return np.concatenate([q[:1], q[1:] * flips[..., None]], axis=0)
