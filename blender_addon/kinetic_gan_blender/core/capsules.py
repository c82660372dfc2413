"""Capsule meshes (numpy only): the body parts of the built-in character."""

from __future__ import annotations

import numpy as np


def capsule(
    start: np.ndarray,
    end: np.ndarray,
    radii: tuple[float, float],
    frame: np.ndarray,
    depth: float = 1.0,
    segments: int = 16,
    cap_rings: int = 4,
) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Vertices (n, 3) and faces (quads, pole triangles) of a capsule from ``start`` to ``end``.

    ``frame``: 3×3 with columns X, Y, Z; the capsule runs along Y, its cross-section is an
    ellipse with radius r along X and r·depth along Z (a flattened torso, hands, feet).
    """
    length = float(np.linalg.norm(end - start))
    r0, r1 = radii
    # Profile from the start pole to the end pole: (distance along Y, ring radius).
    profile: list[tuple[float, float]] = []
    for k in range(1, cap_rings + 1):
        theta = 0.5 * np.pi * k / cap_rings
        profile.append((-r0 * np.cos(theta), r0 * np.sin(theta)))
    for k in range(cap_rings, 0, -1):
        theta = 0.5 * np.pi * k / cap_rings
        profile.append((length + r1 * np.cos(theta), r1 * np.sin(theta)))
    angles = 2 * np.pi * np.arange(segments) / segments
    rings = [
        np.stack([r * np.cos(angles), np.full(segments, y), r * depth * np.sin(angles)], axis=1)
        for y, r in profile
    ]
    local = np.concatenate([[[0.0, -r0, 0.0]], *rings, [[0.0, length + r1, 0.0]]])
    verts = start + local @ frame.T
    faces: list[tuple[int, ...]] = []
    last_pole = len(local) - 1
    for s in range(segments):
        n = (s + 1) % segments
        faces.append((0, 1 + n, 1 + s))
        for ring in range(len(rings) - 1):
            a, b = 1 + ring * segments, 1 + (ring + 1) * segments
            faces.append((a + s, a + n, b + n, b + s))
        top = 1 + (len(rings) - 1) * segments
        faces.append((top + s, top + n, last_pole))
    return verts, faces
