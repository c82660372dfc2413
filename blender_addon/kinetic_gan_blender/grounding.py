"""Where a retargeted take's root goes so the rig's own feet meet the floor (numpy only).

The rig's legs, hip width and hip offset are not the performer's, so putting the
performer's feet on the floor leaves the rig's floating, sunk or sliding by the
difference. The rig is posed first (rotations do not depend on the root's path), its feet
are measured as posed, and the root's path is then corrected so that wherever the
performer has a foot planted, the rig's foot is where the performer's is — over the same
spot, at the same height over its standing height. Between contacts (a jump, a
cartwheel's flight) the correction is interpolated, so arcs keep their shape, and no frame
lets a foot sink below the floor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .filters import percentile, smooth, smoothstep

if TYPE_CHECKING:
    from .retarget_plan import Plan

# A foot counts as planted below this height over the take's floor (metres, fading from
# the first to the second value) and slower than this (m/s, the same way).
PLANTED_HEIGHT_M = (0.06, 0.035)
PLANTED_SPEED_M_S = (0.7, 0.4)
# Frames of Gaussian smoothing on the correction, so contacts starting or ending do not pop.
CORRECTION_SIGMA = 2.0


def posed_heads(plan: Plan, world: np.ndarray, root: int) -> np.ndarray:
    """Every bone's posed head (B, T, 3), with the root bone's head at the origin.

    Only the root's subtree is meaningful; it is enough to find the rig's own feet.
    """
    heads = np.empty(world.shape[:3])
    for level in plan.levels:
        if level.is_root:
            heads[level.bones] = level.head_offsets[:, None]
        else:
            carried = world[level.parents] @ level.head_offsets[:, None, :, None]
            heads[level.bones] = heads[level.parents] + carried[..., 0]
        copies = np.flatnonzero(level.follows >= 0)
        if len(copies):
            heads[level.bones[copies]] = heads[level.follows[copies]]
        if np.any(level.bones == root):
            heads[root] = 0.0
    return heads


def planted_weights(heights_m: np.ndarray, flat_m: np.ndarray, fps: float) -> np.ndarray:
    """How planted each foot is per frame, 0…1: (S, T) from its lowest point's height
    over the take's floor (S, T) and its horizontal track (S, T, 3), in metres."""
    floor = percentile(heights_m.min(axis=0), 5)
    step = np.linalg.norm(np.diff(flat_m, axis=1), axis=-1) * fps
    speed = np.concatenate([step[:, :1], step], axis=1) if step.shape[1] else step
    return smoothstep(heights_m - floor, *PLANTED_HEIGHT_M) * smoothstep(speed, *PLANTED_SPEED_M_S)


def root_path(
    points: np.ndarray,
    plan: Plan,
    world: np.ndarray,
    rest_head: np.ndarray,
    *,
    scale: float,
    fps: float,
    in_place: bool,
    snap_to_floor: bool,
) -> np.ndarray:
    """Where the root bone's head goes, (T, 3), in armature space.

    ``points`` (T, V, 3): the take in armature space, already scaled to the rig. The path
    starts over the root's rest place; with ``snap_to_floor`` the rig's feet are planted
    as described above, else the take's own floor is put at the rig's lowest rest foot.
    """
    up = plan.up
    root = points[:, plan.joint_index["SpineBase"]]
    height = root @ up
    flat = root - height[:, None] * up
    rest_flat = rest_head - (rest_head @ up) * up
    start = rest_flat - flat[0]
    target = np.broadcast_to(rest_flat, root.shape).copy() if in_place else flat + start
    target += height[:, None] * up
    if not snap_to_floor or not len(plan.foot_bones):
        return target + plan.rig_floor * up

    heads = posed_heads(plan, world, plan.root)
    rig_feet = (
        heads[plan.foot_bones]
        + (world[plan.foot_bones] @ plan.foot_offsets[:, None, :, None])[..., 0]
    )  # (F, T, 3), the root's head at the origin
    data_feet = np.swapaxes(points[:, plan.foot_columns], 0, 1)  # (F, T, 3)
    data_heights = data_feet @ up
    data_floor = percentile(data_heights.min(axis=0), 5)

    # While a foot is planted, its lowest point is as high over the floor as the
    # performer's, and it moves over the floor as the performer's does, step by step:
    # pinning it over the performer's very spot instead would sway a rig whose stance is
    # wider or narrower from one foot to the other.
    sides = np.unique(plan.foot_sides)
    heights, steps, lowest, tracks = [], [], [], []
    for side in sides:
        mine = plan.foot_sides == side
        data_low = data_heights[mine].min(axis=0)
        rig_low = (target @ up) + (rig_feet[mine] @ up).min(axis=0)
        heights.append(plan.rig_floor + data_low - data_floor - rig_low)
        # Ankle and toe alike (the least-squares step for both): following only the
        # lower one slides the other more, as the rig's foot is not the performer's.
        data_flat = _flat(data_feet[mine], up).mean(axis=0)
        rig_flat = _flat(target + rig_feet[mine], up).mean(axis=0)
        steps.append(np.diff(data_flat - rig_flat, axis=0))
        lowest.append(data_low)
        tracks.append(data_flat)
    weights = planted_weights(np.stack(lowest) / scale, np.stack(tracks) / scale, fps)
    total = weights.sum(axis=0)
    lift = _fill_gaps((weights * np.stack(heights)).sum(axis=0) / np.maximum(total, 1e-9),
                      total > 0.25)  # fmt: skip
    if lift is None:  # never planted: one shift puts the take's low point on the floor
        low = (target @ up) + (rig_feet @ up).min(axis=0)
        lift = np.full(len(target), plan.rig_floor - percentile(low, 5))
    target = target + smooth(lift, CORRECTION_SIGMA)[:, None] * up
    if not in_place:  # in place, the root stays over its rest spot
        step_weights = np.minimum(weights[:, 1:], weights[:, :-1])  # (S, T - 1)
        drift = (step_weights[..., None] * np.stack(steps)).sum(axis=0) / np.maximum(
            step_weights.sum(axis=0), 1.0
        )[:, None]
        target[1:] += np.cumsum(drift, axis=0)
    # No frame lets a foot go through the floor.
    low = (target @ up) + (rig_feet @ up).min(axis=0)
    return target + np.maximum(plan.rig_floor - low, 0.0)[:, None] * up


def _flat(v: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``v`` (..., 3) with its ``up`` component removed."""
    return v - (v @ up)[..., None] * up


def _fill_gaps(values: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """``values`` (T,) where ``known``, linearly interpolated (held at the ends) between."""
    if not known.any():
        return None
    frames = np.arange(len(values))
    return np.interp(frames, frames[known], values[known])
