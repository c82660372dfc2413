"""Where the ghosts of N variations stand, and what each is called (plain data)."""

from __future__ import annotations

import math

import numpy as np

MAX_VARIATIONS = 16


def ghost_offsets(count: int, spacing: float = 1.5) -> np.ndarray:
    """(count, 3) Blender offsets: a centred row per ``ceil(sqrt(count))`` ghosts, rows going
    back (+Y, away from a camera looking along +Y at the −Y facing character)."""
    if not 1 <= count <= MAX_VARIATIONS:
        raise ValueError(f"variations: count must be 1..{MAX_VARIATIONS}, got {count}")
    columns = math.ceil(math.sqrt(count))
    out = np.zeros((count, 3))
    for k in range(count):
        row, col = divmod(k, columns)
        in_row = min(columns, count - row * columns)
        out[k, 0] = (col - (in_row - 1) / 2) * spacing
        out[k, 1] = row * spacing
    return out


def ghost_label(seed: int) -> str:
    return f"seed {seed}"


def variation_seeds(seed: int, count: int) -> list[int]:
    """Take k of a request is made from ``seed + k`` (the backend's rule)."""
    return [seed + k for k in range(count)]
