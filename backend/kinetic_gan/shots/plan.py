"""Where a shot's windows go: each segment is covered by overlapping windows of its action.

The generator makes windows of a fixed length T (the card's frames). A segment covers its
own frames plus half an overlap into each neighbour, so consecutive segments share
``overlap`` frames centred on their boundary; inside a segment longer than a window,
windows are spread evenly with at least ``overlap`` frames in common. Each window uses
only its frames inside its segment's cover (``used``); a short segment's window is centred
on its cover and its outer frames go unused.

A looping shot is planned on a circle: the first segment's cover starts half an overlap
before frame 0 and the last one's ends half an overlap after the last frame, so the last
window and the first one overlap across the loop seam. Frames are numbered on the unrolled
timeline: frame ``f`` of a window is shot frame ``f mod F`` of cycle ``f // F``.

Plain numpy: the plan is a fact about lengths, tested without a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_OVERLAP = 16


@dataclass(frozen=True)
class Window:
    start: int  # first frame on the unrolled timeline (may be < 0 or run past the end)
    used: tuple[int, int]  # [first, end) frames on the unrolled timeline it contributes to
    label: int  # class index
    segment: int  # index of its segment


@dataclass(frozen=True)
class Overlap:
    """Frames two consecutive windows both contribute to; ``shift`` cycles for the loop."""

    first: int  # window index
    second: int  # window index
    frames: tuple[int, int]  # [begin, end) on the unrolled timeline of ``first``
    shift: int  # the second window's frames are these minus shift · F (1 across the loop)


@dataclass(frozen=True)
class Plan:
    frames: int  # F, the shot's length
    window: int  # T
    loop: bool
    windows: tuple[Window, ...]
    overlaps: tuple[Overlap, ...]
    segment_starts: tuple[int, ...]

    def window_frames(self, k: int) -> np.ndarray:
        """Shot frames (0..F-1) of window ``k``'s T frames (unused ones included)."""
        return (self.windows[k].start + np.arange(self.window)) % self.frames

    def weights(self) -> np.ndarray:
        """(K, T) blend weights: a smoothstep cross-fade over each overlap; 0 where unused.

        For two windows the fade-out of one and the fade-in of the other sum to one at every
        frame (smoothstep(a) + smoothstep(1 - a) = 1); the caller normalises anyway so that
        three windows over a very short segment still blend to a weighted mean.
        """
        k_count, t = len(self.windows), self.window
        ramp_in = np.zeros(k_count)
        ramp_out = np.zeros(k_count)
        for o in self.overlaps:
            length = o.frames[1] - o.frames[0]
            ramp_out[o.first] = length
            ramp_in[o.second] = length
        out = np.zeros((k_count, t))
        for k, win in enumerate(self.windows):
            f = win.start + np.arange(t)
            lo, hi = win.used
            inside = (f >= lo) & (f < hi)
            w = np.ones(t)
            if ramp_in[k] > 0:
                w *= smoothstep((f - lo + 0.5) / ramp_in[k])
            if ramp_out[k] > 0:
                w *= smoothstep((hi - 0.5 - f) / ramp_out[k])
            out[k] = np.where(inside, np.maximum(w, 1e-6), 0.0)
        return out

    def cycles(self) -> np.ndarray:
        """(K, T) the cycle each window frame falls in (-1, 0 or 1; 0 without a loop)."""
        f = np.array([w.start for w in self.windows])[:, None] + np.arange(self.window)
        return np.floor_divide(f, self.frames)


def smoothstep(a: np.ndarray) -> np.ndarray:
    a = np.clip(a, 0.0, 1.0)
    return a * a * (3.0 - 2.0 * a)


def plan_windows(
    lengths: list[int], labels: list[int], window: int, *, overlap: int = DEFAULT_OVERLAP,
    loop: bool = False,
) -> Plan:
    """The windows of segments of ``lengths`` frames (labels per segment)."""
    if not 2 <= overlap < window:
        raise ValueError(f"overlap must be in 2..{window - 1}, got {overlap}")
    total = int(sum(lengths))
    half = overlap // 2
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    windows: list[Window] = []
    n_seg = len(lengths)
    for i, (a, n) in enumerate(zip(starts, lengths, strict=True)):
        lo = a - half if (i > 0 or loop) else 0
        hi = a + n + half if (i < n_seg - 1 or loop) else total
        if n_seg == 1 and not loop:
            lo, hi = 0, total
        for s in _window_starts(lo, hi, window, overlap):
            windows.append(Window(int(s), (max(lo, int(s)), min(hi, int(s) + window)),
                                  int(labels[i]), i))
    overlaps = [_overlap(windows, k, k + 1, 0) for k in range(len(windows) - 1)]
    if loop:
        overlaps.append(_overlap(windows, len(windows) - 1, 0, total))
    return Plan(total, window, loop, tuple(windows), tuple(o for o in overlaps if o is not None),
                tuple(int(s) for s in starts))


def _window_starts(lo: int, hi: int, window: int, overlap: int) -> list[int]:
    cover = hi - lo
    if cover <= window:
        return [lo - (window - cover) // 2]
    count = math.ceil((cover - overlap) / (window - overlap))
    return [lo + round(k * (cover - window) / (count - 1)) for k in range(count)]


def _overlap(windows: list[Window], a: int, b: int, offset: int) -> Overlap | None:
    """Overlap of window ``a`` with window ``b`` moved ``offset`` frames later."""
    lo = max(windows[a].used[0], windows[b].used[0] + offset)
    hi = min(windows[a].used[1], windows[b].used[1] + offset)
    if hi <= lo:
        return None
    return Overlap(a, b, (lo, hi), 1 if offset else 0)
