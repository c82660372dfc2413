"""How good a shot is: its seams against real motion, its keys, its path, its plausibility.

Seams. At a seam two windows cross-fade (the naive baseline cuts from one take to the
next). The seam's *step* is the largest per-frame displacement of any joint (cm), its
*acceleration* the largest second difference of any joint (cm/frame²), both over the
seam frames: the five frames around the middle of the overlap, where the cross-fade turns
fastest (at a cut, the two frames either side of it). Each is set against the 99th
percentile of the same quantity over every frame of the seam's actions' real clips
(data/deepmimic15, train split: the larger of the two actions' percentiles), so a seam
passes when it moves no more than its actions' real motion does 99 % of the time.

Keys: distance (cm) of the keyed joints from their keys. Path: the root's lateral
distance (cm) from the polyline, mean and max. Plausibility: ``metrics.plausibility``'s
statistics of the whole shot as one take. docs/metrics.md ("Shots") has the definitions.
"""

from __future__ import annotations

import functools
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics import plausibility
from kinetic_gan.shots.path import Polyline
from kinetic_gan.shots.plan import Plan

SEAM_HALF_WIDTH = 2  # frames either side of the seam's middle
PERCENTILE = 99.0


@dataclass(frozen=True)
class Thresholds:
    step_cm: dict[int, float]  # per class index: p99 of the largest joint step per frame
    accel_cm: dict[int, float]  # per class index: p99 of the largest joint second difference


@dataclass(frozen=True)
class Seam:
    frame: int  # the shot frame at its middle
    kind: str  # "segment" (two actions or segments), "window" (inside a segment), "loop"
    labels: tuple[int, int]
    step_cm: float
    accel_cm: float
    step_limit_cm: float
    accel_limit_cm: float

    @property
    def ok(self) -> bool:
        return self.step_cm <= self.step_limit_cm and self.accel_cm <= self.accel_limit_cm


def frame_steps(joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(F-1,) largest joint step and (F-2,) largest joint second difference, in cm."""
    step = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=-1)
    accel = np.linalg.norm(np.diff(joints, n=2, axis=0), axis=-1).max(axis=-1)
    return 100 * step, 100 * accel


@functools.lru_cache(maxsize=4)
def real_thresholds(data: str | Path, split: str = "train") -> Thresholds:
    """p99 of per-frame step and acceleration of every class's real windows."""
    folder = Path(data)
    try:
        arr = np.load(folder / f"{split}_data.npy", mmap_mode="r")
        with (folder / f"{split}_label.pkl").open("rb") as fh:
            _, labels = pickle.load(fh)
    except (OSError, ValueError, pickle.UnpicklingError) as exc:
        raise KineticGanError(f"{folder}: cannot read the real clips ({exc})") from None
    joints = np.asarray(arr[..., 0]).transpose(0, 2, 3, 1)  # (N, T, V, 3), body 0
    labels = np.asarray(labels)
    step = np.linalg.norm(np.diff(joints, axis=1), axis=-1).max(axis=-1)
    accel = np.linalg.norm(np.diff(joints, n=2, axis=1), axis=-1).max(axis=-1)
    steps, accels = {}, {}
    for c in np.unique(labels):
        steps[int(c)] = 100 * float(np.percentile(step[labels == c], PERCENTILE))
        accels[int(c)] = 100 * float(np.percentile(accel[labels == c], PERCENTILE))
    return Thresholds(steps, accels)


def seams(joints: np.ndarray, plan: Plan, limits: Thresholds,
          advance: np.ndarray | None = None, pace: float = 1.0) -> list[Seam]:
    """Every overlap of ``plan`` in the blended ``joints`` (F, V, 3); a loop that advances
    by ``advance`` (x, z metres per cycle) is judged as it plays: the next cycle moved on.
    ``pace``: the plan's timeline is that much longer than ``joints`` (a paced path shot)."""
    out = []
    for o in plan.overlaps:
        a, b = plan.windows[o.first], plan.windows[o.second]
        middle = round((o.frames[0] + o.frames[1]) / 2 / pace)
        kind = "loop" if o.shift else ("segment" if a.segment != b.segment else "window")
        out.append(_seam(joints, middle, kind, (a.label, b.label), limits, plan.loop,
                         advance=advance))
    return out


def cut_seams(joints: np.ndarray, cuts: list[tuple[int, int, int]], limits: Thresholds,
              loop: bool = False) -> list[Seam]:
    """Seams of a concatenation at ``cuts``: (first frame after the cut, label before, after);
    with ``loop``, the cut from the last frame back to the first is one too."""
    out = [_seam(joints, f, "segment" if la != lb else "window", (la, lb), limits, False,
                 centre_after=True) for f, la, lb in cuts]
    if loop:
        first, last = cuts[0][1] if cuts else 0, cuts[-1][2] if cuts else 0
        out.append(_seam(joints, 0, "loop", (last, first), limits, True, centre_after=True))
    return out


def _seam(joints, middle: int, kind: str, labels: tuple[int, int], limits: Thresholds,
          wrap: bool, centre_after: bool = False, advance: np.ndarray | None = None) -> Seam:
    f_count = len(joints)
    lo = middle - (1 if centre_after else SEAM_HALF_WIDTH)
    hi = middle + SEAM_HALF_WIDTH
    # Frames lo-1 .. hi+1, around the circle for a loop, clipped to the take otherwise.
    frames = np.arange(lo - 1, hi + 2)
    if wrap:
        cycle = np.floor_divide(frames, f_count)
        played = joints[frames % f_count].copy()
        if advance is not None:
            played[..., 0] += cycle[:, None] * advance[0]
            played[..., 2] += cycle[:, None] * advance[1]
    else:
        played = joints[frames[(frames >= 0) & (frames < f_count)]]
    step, accel = frame_steps(played)
    return Seam(
        int(middle % f_count), kind, labels, float(step.max()), float(accel.max()) if len(
            accel) else 0.0,
        max(limits.step_cm[labels[0]], limits.step_cm[labels[1]]),
        max(limits.accel_cm[labels[0]], limits.accel_cm[labels[1]]),
    )


def path_error_cm(joints: np.ndarray, points: np.ndarray) -> tuple[float, float]:
    """Mean and max distance (cm) of the root's ground position from the polyline."""
    d = Polyline.of(np.asarray(points, np.float64)).distance(joints[:, 0, [0, 2]])
    return 100 * float(d.mean()), 100 * float(d.max())


def plausibility_of(joints: np.ndarray, fps: float,
                    reference: np.ndarray | None = None) -> dict[str, float]:
    """The plausibility protocol's statistics of the shot as one take."""
    return plausibility.statistics(joints[None], fps, reference, source="shot")


def summary(seam_list: list[Seam]) -> dict[str, float]:
    """Worst seam relative to its limits, and how many pass."""
    if not seam_list:
        return {"seams": 0, "passed": 0, "worst_step_ratio": 0.0, "worst_accel_ratio": 0.0}
    return {
        "seams": len(seam_list), "passed": sum(s.ok for s in seam_list),
        "worst_step_ratio": max(s.step_cm / s.step_limit_cm for s in seam_list),
        "worst_accel_ratio": max(s.accel_cm / s.accel_limit_cm for s in seam_list),
    }


def canonical_window(joints: np.ndarray) -> np.ndarray:
    """A (T, V, 3) crop placed as the corpus places its windows: mean pelvis over the origin,
    facing −Z at its first frame (what the recogniser was trained on)."""
    from kinetic_gan.shots.path import facing

    u = joints[..., 2] + 1j * joints[..., 0]
    u = (u - u[:, 0].mean()) * np.exp(1j * (np.pi - facing(joints[0])))
    out = joints.copy()
    out[..., 0], out[..., 2] = u.imag, u.real
    return out


def segment_crops(frames: int, start: int, length: int, window: int) -> list[int]:
    """First frames of the ``window``-long crops that judge a segment: every half window
    inside it, or one centred on it when it is shorter (clipped to the shot)."""
    if length <= window:
        first = start + length // 2 - window // 2
        return [int(np.clip(first, 0, max(0, frames - window)))]
    count = 1 + (length - window) // (window // 2)
    return [start + round(k * (length - window) / max(1, count - 1)) for k in range(count)]


def fidelity(joints: np.ndarray, segments: list[tuple[int, int, int]], recognizer,
             normalization: dict[str, float], window: int = 64) -> list[float]:
    """Per segment (start, frames, label): the share of its crops the recogniser names right."""
    import torch

    lo, hi = float(normalization["min"]), float(normalization["max"])
    out = []
    for start, length, label in segments:
        crops = [canonical_window(joints[f:f + window]) for f in
                 segment_crops(len(joints), start, length, window)]
        x = (np.stack(crops) - lo) / (hi - lo) * 2.0 - 1.0
        with torch.inference_mode():
            logits = recognizer(torch.from_numpy(x.transpose(0, 3, 1, 2)).float())
        out.append(float((logits.argmax(1).numpy() == label).mean()))
    return out
