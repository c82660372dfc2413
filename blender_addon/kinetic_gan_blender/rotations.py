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
    """(w, x, y, z) unit quaternions of rotation matrices (..., 3, 3), w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    # The four algebraically equal formulas differ in precision; take the one whose
    # divisor is largest (Shepperd's method).
    candidates = np.stack([trace, m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]], axis=-1)
    best = np.argmax(candidates, axis=-1)
    q = np.empty((*m.shape[:-2], 4))
    r = np.sqrt(np.maximum(1.0 + 2.0 * candidates - trace[..., None], 0.0))
    s = np.where(r > EPS, 0.5 / np.where(r > EPS, r, 1.0), 0.0)

    def pick(k: int) -> tuple[np.ndarray, np.ndarray]:
        return r[..., k], s[..., k]

    w_case = np.stack(
        [
            0.5 * pick(0)[0],
            (m[..., 2, 1] - m[..., 1, 2]) * pick(0)[1],
            (m[..., 0, 2] - m[..., 2, 0]) * pick(0)[1],
            (m[..., 1, 0] - m[..., 0, 1]) * pick(0)[1],
        ],
        axis=-1,
    )
    x_case = np.stack(
        [
            (m[..., 2, 1] - m[..., 1, 2]) * pick(1)[1],
            0.5 * pick(1)[0],
            (m[..., 0, 1] + m[..., 1, 0]) * pick(1)[1],
            (m[..., 0, 2] + m[..., 2, 0]) * pick(1)[1],
        ],
        axis=-1,
    )
    y_case = np.stack(
        [
            (m[..., 0, 2] - m[..., 2, 0]) * pick(2)[1],
            (m[..., 0, 1] + m[..., 1, 0]) * pick(2)[1],
            0.5 * pick(2)[0],
            (m[..., 1, 2] + m[..., 2, 1]) * pick(2)[1],
        ],
        axis=-1,
    )
    z_case = np.stack(
        [
            (m[..., 1, 0] - m[..., 0, 1]) * pick(3)[1],
            (m[..., 0, 2] + m[..., 2, 0]) * pick(3)[1],
            (m[..., 1, 2] + m[..., 2, 1]) * pick(3)[1],
            0.5 * pick(3)[0],
        ],
        axis=-1,
    )
    q = np.choose(best[..., None], [w_case, x_case, y_case, z_case])
    q = np.where(q[..., :1] < 0, -q, q)
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
    q = np.array(q, dtype=np.float64, copy=True)
    for t in range(1, q.shape[0]):
        flip = np.sum(q[t] * q[t - 1], axis=-1) < 0
        q[t][flip] *= -1.0
    return q
