"""Rotation math on stacks of 3×3 matrices and quaternions (numpy only).

Every function works on arrays with any leading shape, so a whole take (T frames)
is handled in one call. Quaternions are (w, x, y, z), Blender's order.
"""

from __future__ import annotations

import numpy as np

from .vectors import cross, dot, norm, normalize


def swing_perpendicular(u: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where the smallest rotation taking unit ``a`` onto unit ``b`` moves ``u`` ⟂ ``a``.

    That rotation is two reflections, across the plane normal to ``h = a + b`` (which
    sends ``a`` to ``-b``) and then across the plane normal to ``b``; the second one leaves
    the image of a ``u`` ⟂ ``a`` unchanged, so ``u ↦ u - 2 (u·h)/|h|² h``, with
    ``u·h = u·b``. |h|² is formed from ``h`` itself, not as ``2 + 2 a·b``, so it keeps its
    precision as ``b`` nears ``-a``. Where ``b`` is ``-a`` (|h| ≤ 1e-12) any half turn
    about a normal of ``a`` would do; we pick one deterministically. Where ``b`` is zero
    (no target direction), ``u`` stays. All arguments are (..., 3).
    """
    h = a + b
    h_sq = dot(h, h)
    flipped = h_sq <= 1e-24
    moved = u - (2.0 * dot(u, b) / np.where(flipped, 1.0, h_sq))[..., None] * h
    if np.any(flipped):
        a_f, u_f = np.broadcast_to(a, h.shape)[flipped], np.broadcast_to(u, h.shape)[flipped]
        helper = np.where(np.abs(a_f[:, :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
        axis, _ = normalize(cross(a_f, helper))
        moved[flipped] = 2.0 * dot(axis, u_f)[:, None] * axis - u_f
    return moved


def quaternion_from_matrix(m: np.ndarray) -> np.ndarray:
    """(w, x, y, z) unit quaternions of rotation matrices (..., 3, 3), w >= 0.

    Branch-free: each component's magnitude from the diagonal, its sign from the
    antisymmetric part (w is taken non-negative), then one renormalization.
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
    return q / norm(q)[..., None]


def matrix_from_quaternion(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of (w, x, y, z) quaternions (normalized first)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / norm(q)[..., None]
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
    same = dot(q[1:], q[:-1]) >= 0
    flips = np.cumprod(np.where(same, 1.0, -1.0), axis=0)
    return np.concatenate([q[:1], q[1:] * flips[..., None]], axis=0)


# Blender's Euler orders: the letters name the axes in the order they are applied, so
# "XYZ" is the matrix Rz · Ry · Rx; angles are always stored as (x, y, z).
EULER_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


def _euler_axes(order: str) -> tuple[int, int, int, float]:
    if order not in EULER_ORDERS:
        raise ValueError(f"unknown Euler order {order!r} (one of {', '.join(EULER_ORDERS)})")
    i, j, k = ("XYZ".index(c) for c in order)
    # Even permutations of XYZ keep the textbook signs, odd ones flip them.
    parity = 1.0 if (j - i) % 3 == 1 else -1.0
    return i, j, k, parity


def matrix_from_euler(angles: np.ndarray, order: str) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of Blender Euler angles (..., 3), radians, (x, y, z)."""
    angles = np.asarray(angles, dtype=np.float64)
    result = np.broadcast_to(np.eye(3), (*angles.shape[:-1], 3, 3)).copy()
    for axis in ("XYZ".index(c) for c in order):
        c, s = np.cos(angles[..., axis]), np.sin(angles[..., axis])
        step = np.zeros_like(result)
        a, b = [n for n in range(3) if n != axis]
        step[..., axis, axis] = 1.0
        step[..., a, a], step[..., b, b] = c, c
        step[..., a, b], step[..., b, a] = -s, s
        if axis == 1:  # about Y the sine signs are the other way round (z × x = y)
            step[..., a, b], step[..., b, a] = s, -s
        result = step @ result
    return result


def euler_from_matrix(m: np.ndarray, order: str) -> np.ndarray:
    """Blender Euler angles (..., 3) of rotation matrices (..., 3, 3); the middle angle in
    [-90°, 90°]. At gimbal lock the last axis takes no rotation."""
    i, j, k, parity = _euler_axes(order)
    m = np.asarray(m, dtype=np.float64)
    cos_j = np.hypot(m[..., i, i], m[..., j, i])
    locked = cos_j < 1e-9
    angles = np.empty((*m.shape[:-2], 3))
    angles[..., j] = np.arctan2(-parity * m[..., k, i], cos_j)
    angles[..., i] = np.where(
        locked,
        np.arctan2(-parity * m[..., j, k], m[..., j, j]),
        np.arctan2(parity * m[..., k, j], m[..., k, k]),
    )
    angles[..., k] = np.where(locked, 0.0, np.arctan2(parity * m[..., j, i], m[..., i, i]))
    return angles


def continuous_euler(angles: np.ndarray, order: str) -> np.ndarray:
    """Euler angles (T, ..., 3) made continuous along axis 0, as F-curves need them.

    Each frame takes, of the two angle triples that give its rotation (and every 2π shift
    of either), the one closest to the previous frame — Blender's "compatible Euler" — so
    no curve jumps by a turn where the rotation itself moves a little.
    """
    i, j, k, _ = _euler_axes(order)
    angles = np.array(angles, dtype=np.float64)
    other = angles.copy()
    other[..., i] += np.pi
    other[..., j] = np.pi - other[..., j]
    other[..., k] += np.pi
    turn = 2 * np.pi
    for t in range(1, len(angles)):
        previous = angles[t - 1]
        first = angles[t] + turn * np.round((previous - angles[t]) / turn)
        second = other[t] + turn * np.round((previous - other[t]) / turn)
        closer = np.abs(second - previous).sum(-1) < np.abs(first - previous).sum(-1)
        angles[t] = np.where(closer[..., None], second, first)
    return angles


def axis_angle_from_quaternion(q: np.ndarray) -> np.ndarray:
    """Blender axis-angle (..., 4) = (angle, x, y, z) of quaternions (w, x, y, z).

    A continuous quaternion track gives a continuous angle (it may exceed π); where the
    angle is ~0 the axis is undefined and Y is used, as Blender's default axis.
    """
    q = np.asarray(q, dtype=np.float64)
    q = q / norm(q)[..., None]
    sine = norm(q[..., 1:])
    angle = 2.0 * np.arctan2(sine, q[..., 0])
    axis = np.where(
        (sine > 1e-12)[..., None], q[..., 1:] / np.maximum(sine, 1e-12)[..., None], [0, 1, 0]
    )
    return np.concatenate([angle[..., None], axis], axis=-1)
