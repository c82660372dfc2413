"""The floor's geometry: a closed slab whose top face is a checker of tiles (numpy only).

Tiles make motion readable (feet pass over them; a travelling take visibly travels).
The slab is closed — each edge shared by exactly two faces — because Workbench's
stencil shadows need closed shapes; an open plane smears a dark wedge over the frame.

Far tiles shrink below a pixel, and with one sample per pixel they alias into moiré
towards the horizon. :func:`tile_contrast` filters them by hand, as mipmaps would (and
several anti-aliasing samples did): a tile drawn narrower than a few pixels gets colours
closer to the two tiles' mean, so the distance fades to an even grey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .framing import CameraPose

CONTRAST_LEVELS = 6  # materials per tile colour, full contrast down to the plain mean
SHARP_PX = 4.0  # tiles at least this wide on screen keep their full contrast…
BLURRED_PX = 1.0  # …and those this narrow have none left


@dataclass(frozen=True)
class FloorMesh:
    vertices: np.ndarray  # (V, 3), top face at z = 0
    faces: list[tuple[int, ...]]  # the tiles first, then the slab's underside and sides
    tile_parity: np.ndarray  # (len(faces),) 0 / 1: which of the two floor materials

    @property
    def tile_count(self) -> int:
        return len(self.faces) - 5


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


def tile_contrast(
    shape: FloorMesh, pose: CameraPose, width_px: int, height_px: int
) -> np.ndarray:
    """Per tile (tile_count,), the share of the checker's contrast it can show, 0…1.

    The measure is a tile's narrowest width on screen (its projected area over its
    longest side): a tile seen edge-on at the horizon is long and one pixel thin, and it
    is the thin direction that aliases. Tiles reaching behind the camera are near: 1.
    """
    corners = np.asarray([shape.faces[k] for k in range(shape.tile_count)])  # (T, 4)
    uv, depth = pose.project(shape.vertices[corners.ravel()])
    px = ((uv + 1.0) / 2.0 * [width_px, height_px]).reshape(-1, 4, 2)
    x, y = px[..., 0], px[..., 1]
    area = 0.5 * np.abs(np.sum(x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y, axis=1))
    sides = np.linalg.norm(px - np.roll(px, -1, axis=1), axis=2).max(axis=1)
    narrowest = area / np.maximum(sides, 1e-9)
    contrast = np.clip((narrowest - BLURRED_PX) / (SHARP_PX - BLURRED_PX), 0.0, 1.0)
    in_front = (depth.reshape(-1, 4) > 1e-3).all(axis=1)
    return np.where(in_front, contrast, 1.0)


def contrast_level(contrast: np.ndarray, levels: int = CONTRAST_LEVELS) -> np.ndarray:
    """Contrast 0…1 rounded to one of ``levels`` steps: 0 is full contrast, levels-1 none."""
    return np.rint((1.0 - np.clip(contrast, 0.0, 1.0)) * (levels - 1)).astype(np.int32)


def level_colors(
    colors: tuple[tuple[float, ...], tuple[float, ...]], levels: int = CONTRAST_LEVELS
) -> list[tuple[float, ...]]:
    """The two tile colours at each level, level-major: [(level 0, tile 0), (0, 1), (1, 0)…].

    Each level moves both colours the same share of the way to their mean (in linear
    light, which is how pixels average), so a faded region keeps the floor's brightness.
    """
    a, b = (np.asarray(c, dtype=np.float64) for c in colors)
    mean = (a + b) / 2
    out = []
    for level in range(levels):
        keep = 1.0 - level / (levels - 1)
        out += [tuple((mean + keep * (c - mean)).tolist()) for c in (a, b)]
    return out
