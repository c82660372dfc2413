"""Small filters on time series (numpy only), fast on the short rows a take has."""

from __future__ import annotations

import numpy as np


def smooth(points: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0); edges padded with the edge frame."""
    if sigma_frames <= 0 or points.shape[0] < 2:
        return points
    radius = max(1, int(np.ceil(3 * sigma_frames)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    taps /= taps.sum()
    padded = np.concatenate(
        [np.repeat(points[:1], radius, 0), points, np.repeat(points[-1:], radius, 0)]
    )
    out = np.zeros_like(points)
    for k, w in enumerate(taps):
        out += w * padded[k : k + points.shape[0]]
    return out


def smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi`` (or the reverse when ``hi < lo``), smooth between."""
    t = np.clip((x - lo) * (1.0 / (hi - lo)), 0.0, 1.0)
    return t * t * (3 - 2 * t)


# np.median / np.percentile spend 20–60 µs in Python per call; on these short rows a sort
# does the same job (numpy's default "linear" percentile) in a few.
def median(rows: np.ndarray) -> np.ndarray:
    """Medians along the last axis."""
    ordered, mid = np.sort(rows, axis=-1), rows.shape[-1] // 2
    return (
        ordered[..., mid] if rows.shape[-1] % 2 else (ordered[..., mid - 1] + ordered[..., mid]) / 2
    )


def percentile(values: np.ndarray, percent: float, axis: int = 0) -> np.ndarray | float:
    """numpy's default ("linear") percentile along ``axis``."""
    ordered = np.sort(values, axis=axis)
    count = ordered.shape[axis]
    position = percent / 100 * (count - 1)
    low = int(position)
    high = min(low + 1, count - 1)
    below, above = np.take(ordered, low, axis=axis), np.take(ordered, high, axis=axis)
    result = below + (above - below) * (position - low)
    return float(result) if np.ndim(result) == 0 else result
