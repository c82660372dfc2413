"""The floor's geometry: a closed slab whose top face is a checker of tiles (numpy only).

Tiles make motion readable (feet pass over them; a travelling take visibly travels).
The slab is closed — each edge shared by exactly two faces — because Workbench's
stencil shadows need closed shapes; an open plane smears a dark wedge over the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FloorMesh:
    vertices: np.ndarray  # (V, 3), top face at z = 0
    faces: list[tuple[int, ...]]
    tile_parity: np.ndarray  # (len(faces),) 0 / 1: which of the two floor materials


def checker_slab(size: float, tile: float, depth: float = 0.5) -> FloorMesh:
    """A ``size`` × ``size`` slab centred on the origin, tiles of ``tile`` metres on top."""
    n = max(1, round(size / tile))
    half = n * tile / 2
    ticks = np.linspace(-half, half, n + 1)
    gx, gy = np.meshgrid(ticks, ticks, indexing="xy")  # gx[j, i] = ticks[i], gy[j, i] = ticks[j]
    top = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1)
    bottom = np.array([[x, y, -depth] for y in (-half, half) for x in (-half, half)])
    vertices = np.concatenate([top, bottom])

    def at(i: int, j: int) -> int:
        return j * (n + 1) + i

    faces: list[tuple[int, ...]] = []
    parity: list[int] = []
    for j in range(n):
        for i in range(n):  # counter-clockwise seen from above: normals point up
            faces.append((at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1)))
            parity.append((i + j) % 2)
    b = len(top)  # bottom corners: b (−,−), b+1 (+,−), b+2 (−,+), b+3 (+,+)
    faces.append((b, b + 2, b + 3, b + 1))  # the underside, facing down
    # Each side is one polygon: the top edge's n + 1 vertices, then two bottom corners.
    front = [at(i, 0) for i in range(n + 1)]
    right = [at(n, j) for j in range(n + 1)]
    back = [at(i, n) for i in range(n, -1, -1)]
    left = [at(0, j) for j in range(n, -1, -1)]
    faces.append((*reversed(front), b, b + 1))
    faces.append((*reversed(right), b + 1, b + 3))
    faces.append((*reversed(back), b + 3, b + 2))
    faces.append((*reversed(left), b + 2, b))
    parity += [0] * 5
    return FloorMesh(vertices, faces, np.array(parity, dtype=np.int64))
