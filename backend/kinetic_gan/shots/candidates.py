"""Which of several drawn codes each window starts from: the one that continues best.

Codes drawn independently make windows that disagree where they overlap (a stride in the
other phase, a jump that starts from another pose), and an optimiser that starts far
apart spends its steps closing that gap. So each window draws ``C`` candidates (z and
noise), all K·C windows are generated in one batch, and from the first window on each
window keeps the candidate that, once placed onto the previous window by the best turn
and shift, lies closest to it over their overlap (greedy, as a motion graph picks its
next clip). Plain numpy on the generated joints.
"""

from __future__ import annotations

import numpy as np

from kinetic_gan.shots.placement import to_complex
from kinetic_gan.shots.plan import Plan


def choose(windows: np.ndarray, plan: Plan) -> np.ndarray:
    """(K,) the candidate kept for each window; ``windows`` is (K, C, T, V, 3) metres."""
    k_count = windows.shape[0]
    choice = np.zeros(k_count, dtype=np.int64)
    previous = {o.second: o for o in plan.overlaps if not o.shift and o.second == o.first + 1}
    placed = to_complex(windows[0, 0])  # (T, V) the chosen window in shot coordinates
    heights = windows[0, 0, ..., 1]
    for k in range(1, k_count):
        o = previous.get(k)
        u = to_complex(windows[k])  # (C, T, V)
        if o is None:
            placed, heights = u[0], windows[k, 0, ..., 1]
            continue
        f = np.arange(*o.frames)
        a = placed[f - plan.windows[k - 1].start]  # (M, V)
        ha = heights[f - plan.windows[k - 1].start]
        jb = f - plan.windows[k].start
        b = u[:, jb]  # (C, M, V)
        ca, cb = a.mean(), b.mean(axis=(1, 2), keepdims=True)
        cross = np.sum((a - ca)[None] * np.conj(b - cb), axis=(1, 2))
        rot = np.exp(1j * np.angle(cross))[:, None, None]
        fitted = rot * (b - cb) + ca
        ground = np.abs(fitted - a[None]) ** 2
        vertical = (windows[k][:, jb][..., 1] - ha[None]) ** 2
        best = int(np.argmin((ground + vertical).mean(axis=(1, 2))))
        choice[k] = best
        placed = rot[best, 0, 0] * (u[best] - cb[best, 0, 0]) + ca
        heights = windows[k, best, ..., 1]
    return choice
