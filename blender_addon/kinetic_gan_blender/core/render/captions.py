"""What the caption stamp of a shot says, and how large it can be drawn (stdlib only).

The caption is burnt into the frame by Blender's render stamp, a monospaced font that
wraps at the image edge. Text that wraps looks broken, so lines are kept short (one row
of a grid per line) and the font shrinks until the longest line fits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .plan import Take

# Blender's stamp font: advance width per character and line pitch, as fractions of the
# font size (measured on 5.0 renders), and the padding its background box adds.
CHAR_WIDTH = 0.6
LINE_PITCH = 1.25
BOX_PADDING_PX = 12
PREFERRED_HEIGHT = 0.04  # font size as a fraction of the image height
SMALLEST_FONT_PX = 8
LARGEST_SHARE = 0.3  # the caption never covers more than this much of the picture height


def grid_caption(takes: Sequence[Take], columns: int) -> str:
    """A legend that reads like the grid: one line per row, the back row on top.

    Row 0 of the grid is nearest the camera (lowest in the picture), so the lines are
    listed back row first, each left to right, with the shared seed and ψ last.
    """
    if not takes:
        return ""
    if len(takes) == 1:
        return takes[0].caption
    columns = max(1, columns)
    rows = [takes[i : i + columns] for i in range(0, len(takes), columns)]
    lines = []
    for r in reversed(range(len(rows))):
        names = " · ".join(t.action for t in rows[r])
        if len(rows) > 1:
            names = f"{_row_name(r, len(rows))}{names}"
        lines.append(names)
    seeds = sorted({t.seed for t in takes})
    detail = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"
    psis = {t.truncation for t in takes}
    if len(psis) == 1 and None not in psis:
        detail += f" · psi {takes[0].truncation:.2f}"  # the stamp font has no ψ
    lines.append(detail)
    return "\n".join(lines)


def _row_name(row: int, rows: int) -> str:
    names = {0: "front", rows - 1: "back"}
    return f"{names.get(row, f'row {row + 1}'):<6}"


def font_size(text: str, width: int, height: int) -> int:
    """Largest stamp font size (px, capped at the preferred size) that fits ``text``
    on ``width`` × ``height`` pixels without wrapping or covering too much of the frame."""
    lines = text.split("\n") or [""]
    longest = max(len(line) for line in lines) or 1
    by_width = (width - 2 * BOX_PADDING_PX) / (longest * CHAR_WIDTH)
    by_height = (LARGEST_SHARE * height - BOX_PADDING_PX) / (len(lines) * LINE_PITCH)
    preferred = height * PREFERRED_HEIGHT
    return max(SMALLEST_FONT_PX, math.floor(min(preferred, by_width, by_height)))


def height_share(text: str, width: int, height: int) -> float:
    """The fraction of the picture's height kept for the caption's box (it sits on top).

    Never more than ``LARGEST_SHARE``: on a thumbnail the smallest font cannot fit, and
    the caption then overlaps the picture rather than squeezing it away.
    """
    lines = len(text.split("\n"))
    px = font_size(text, width, height)
    return min(LARGEST_SHARE, (lines * LINE_PITCH * px + BOX_PADDING_PX) / height)
