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

from kinetic_gan.records.shot import Keys
from kinetic_gan.shots.placement import to_complex
from kinetic_gan.shots.plan import Plan


def choose(windows: np.ndarray, plan: Plan, keys: Keys | None = None,
           advance: bool = True) -> np.ndarray:
    """(K,) the candidate kept for each window; ``windows`` is (K, C, T, V, 3) metres.

    With keys, a window that holds keyed frames also scores how well each candidate's pose
    at those frames fits the key's shape (after its own best turn and shift): the stride's
    phase and the limbs' places, which the optimiser cannot change far. A loop's last
    window also scores how it runs into the first (``advance``: after a free floor shift).
    """
    k_count = windows.shape[0]
    choice = np.zeros(k_count, dtype=np.int64)
    previous = {o.second: o for o in plan.overlaps if not o.shift and o.second == o.first + 1}
    key_cost = _key_costs(windows, plan, keys)
    choice[0] = int(np.argmin(key_cost[0]))
    placed = to_complex(windows[0, choice[0]])  # (T, V) the chosen window in shot coordinates
    heights = windows[0, choice[0], ..., 1]
    loop = next((o for o in plan.overlaps if o.shift), None)
    first = (placed, windows[0, choice[0]])
    for k in range(1, k_count):
        o = previous.get(k)
        u = to_complex(windows[k])  # (C, T, V)
        if o is None:
            choice[k] = int(np.argmin(key_cost[k]))
            placed, heights = u[choice[k]], windows[k, choice[k], ..., 1]
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
        cost = (ground + vertical).mean(axis=(1, 2)) + key_cost[k]
        placed_all = rot * (u - cb) + ca  # (C, T, V) every candidate placed
        if k == k_count - 1 and loop is not None:
            cost = cost + _loop_cost(placed_all, windows[k], first, loop, plan, advance)
        best = int(np.argmin(cost))
        choice[k] = best
        placed = placed_all[best]
        heights = windows[k, best, ..., 1]
    return choice


def _loop_cost(placed: np.ndarray, last: np.ndarray, first: tuple[np.ndarray, np.ndarray],
               o, plan: Plan, advance: bool) -> np.ndarray:
    """(C,) how far each placed last-window candidate is from the first window over the loop
    seam (after the best floor shift when the loop advances: its advance is free)."""
    f = np.arange(*o.frames)
    a = placed[:, f - plan.windows[o.first].start]  # (C, M, V)
    b = first[0][f - plan.frames - plan.windows[o.second].start][None]  # (1, M, V)
    gap = a - b
    if advance:
        gap = gap - gap.mean(axis=(1, 2), keepdims=True)
    ground = np.abs(gap) ** 2
    ha = last[:, f - plan.windows[o.first].start][..., 1]
    hb = first[1][f - plan.frames - plan.windows[o.second].start][None, ..., 1]
    return (ground + (ha - hb) ** 2).mean(axis=(1, 2))


def _key_costs(windows: np.ndarray, plan: Plan, keys: Keys | None) -> np.ndarray:
    """(K, C) mean squared misfit (m²) of each candidate's shape to the keys in its window."""
    k_count, c_count = windows.shape[:2]
    cost = np.zeros((k_count, c_count))
    if keys is None:
        return cost
    for k, win in enumerate(plan.windows):
        lo, hi = win.used
        for frame, pose, mask in zip(keys.frames, keys.joints, keys.mask, strict=True):
            unrolled = [f for f in (frame, frame + plan.frames, frame - plan.frames)
                        if lo <= f < hi]
            if not unrolled or mask.sum() < 2:
                continue
            j = unrolled[0] - win.start
            cost[k] += _shape_misfit(windows[k, :, j][:, mask], pose[mask])
    return cost


def _shape_misfit(candidates: np.ndarray, key: np.ndarray) -> np.ndarray:
    """(C,) misfit of (C, J, 3) poses to a (J, 3) key after each pose's best turn and shift."""
    a, b = to_complex(key), to_complex(candidates)  # (J,), (C, J)
    ca, cb = a.mean(), b.mean(axis=1, keepdims=True)
    cross = np.sum((a - ca)[None] * np.conj(b - cb), axis=1, keepdims=True)
    fitted = np.exp(1j * np.angle(cross)) * (b - cb) + ca
    vertical = (candidates[..., 1] - key[None, :, 1]) ** 2
    return (np.abs(fitted - a[None]) ** 2 + vertical).mean(axis=1)
