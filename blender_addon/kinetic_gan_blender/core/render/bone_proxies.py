"""Bone proxies (numpy only): an octahedron per bone, for rigs that have no mesh to render.

An armature alone renders as nothing — Blender draws bones in the viewport only — so a
batch of a bare rig would film the empty floor. Each bone gets the shape Blender's
viewport gives it: a point at the head and the tail and a square waist a tenth of the way
along, as wide as a fifth of the bone is long.
"""

from __future__ import annotations

import numpy as np

WAIST_AT = 0.1  # of the bone's length from its head
WAIST_HALF_WIDTH = 0.1  # of the bone's length
# The waist of a long bone is capped (a 1 m spine is not 20 cm thick), that of a tiny one
# kept visible at the picture's scale.
WAIST_RANGE_M = (0.01, 0.05)
# Each octahedron's 8 faces as indices into its 6 vertices: head 0, waist 1–4, tail 5.
_FACES = tuple((0, 1 + k, 1 + (k + 1) % 4) for k in range(4)) + tuple(
    (5, 1 + (k + 1) % 4, 1 + k) for k in range(4)
)


def octahedra(
    heads: np.ndarray, tails: np.ndarray, x_axes: np.ndarray, z_axes: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Vertices ``(6B, 3)`` and triangles of one octahedron per bone.

    ``heads``, ``tails``: ``(B, 3)`` rest positions; ``x_axes``, ``z_axes``: ``(B, 3)``
    unit vectors across each bone (its rest frame's X and Z), which orient the waist.
    Bone ``b`` owns vertices ``6b … 6b + 5``; faces wind outwards.
    """
    heads, tails = np.asarray(heads, float), np.asarray(tails, float)
    x_axes, z_axes = np.asarray(x_axes, float), np.asarray(z_axes, float)
    length = np.linalg.norm(tails - heads, axis=1, keepdims=True)
    half = np.clip(WAIST_HALF_WIDTH * length, *WAIST_RANGE_M)
    waist = heads + WAIST_AT * (tails - heads)
    ring = [waist + half * x_axes, waist + half * z_axes, waist - half * x_axes,
            waist - half * z_axes]
    verts = np.stack([heads, *ring, tails], axis=1).reshape(-1, 3)
    faces = [tuple(6 * b + i for i in face) for b in range(len(heads)) for face in _FACES]
    return verts, faces
