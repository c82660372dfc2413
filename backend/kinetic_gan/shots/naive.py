"""The baseline every shot figure is shown beside: independent takes, cut end to end.

Each segment is filled with independent takes of its action (``generate``, seed + i for the
i-th take of the shot), cropped to length; each take is moved on the floor so that its
root starts where the previous take's root ended (no turn, no blend): what a user gets by
stitching ``generate``'s takes together by hand.
"""

from __future__ import annotations

import numpy as np

from kinetic_gan.generate import generate
from kinetic_gan.records.shot import Segment


def concatenate(generator, segments: tuple[Segment, ...], *, seed: int,
                truncation: float | None) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """(F, V, 3) joints and the cuts (first frame after the cut, label before, label after)."""
    window = generator.card.frames
    pieces: list[np.ndarray] = []
    labels: list[int] = []
    take = 0
    for seg in segments:
        left = seg.frames
        while left > 0:
            res = generate(generator, seg.action, count=1, seed=seed + take, truncation=truncation)
            take += 1
            piece = res.joints[0, : min(window, left)].astype(np.float64)
            if pieces:
                end = pieces[-1][-1, 0]
                piece[..., 0] += end[0] - piece[0, 0, 0]
                piece[..., 2] += end[2] - piece[0, 0, 2]
            pieces.append(piece)
            labels.append(int(res.labels[0]))
            left -= len(piece)
    starts = np.cumsum([len(p) for p in pieces])[:-1]
    cuts = [(int(f), labels[i], labels[i + 1]) for i, f in enumerate(starts)]
    return np.concatenate(pieces), cuts
