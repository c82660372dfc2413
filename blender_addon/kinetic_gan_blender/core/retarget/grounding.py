"""Where a retargeted take's root goes so the rig's own feet meet the floor, how its
planted legs reach for it, and how far the rig as rendered is lifted (numpy only).

A take meets the floor in three steps, all but the first here: the cleanup
(``core.cleanup``, optional) holds the performer's planted feet still; ``root_path`` and
``reach`` put the rig's feet where the performer's are; ``ground_lift`` then lifts the
character as rendered (its meshes' soles, which lie below its foot bones) onto the floor.
Which frames count as planted: ``core.contact``.

The rig's legs, hip width and hip offset are not the performer's, so putting the
performer's feet on the floor leaves the rig's floating, sunk or sliding by the
difference. The rig is posed first (rotations do not depend on the root's path), its feet
are measured as posed, and the root's path is then corrected so that wherever the
performer has a foot planted, the rig's foot is where the performer's is — over the same
spot, at the same height over its standing height. Between contacts (a jump, a
cartwheel's flight) the correction is interpolated, so arcs keep their shape, and no frame
lets a foot sink below the floor.

One path cannot do that for both feet at once when the rig's feet or legs are shaped
otherwise than the performer's. A longer foot rises higher at toe-off, so with one foot
striking and the other pushing off the two ask for root heights centimetres apart; and
with both feet down, each foot's step asks for its own drift of the root. So each planted
leg makes up the rest at the knee (``reach``: two-bone IK on the performer's joints, in
the rig's thigh and shin lengths, its foot keeping its direction), turning its thigh and
shin no more than ``MAX_TURN_DEG`` off the performer's. The path takes the feet's mean
step, and keeps its smooth height wherever every planted leg can make up the difference
(to within ``FOOT_TOLERANCE_M``); where they cannot, it takes the height nearest that
leaves the feet least far off. The legs are then aimed again; nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...vendor.motion_cleanup import knee_triangle
from ..contact import planted_weights
from ..filters import percentile, smooth
from ..vectors import flatten, unit
from .plan import Plan
from .pose import posed_heads

# Frames of Gaussian smoothing on the correction, so contacts starting or ending do not pop.
CORRECTION_SIGMA = 2.0
# How straight ``reach`` may stretch a leg: hip to ankle at most this fraction of thigh +
# shin (a knee about 8° short of straight, so it never locks and its hinge stays defined).
FULL_REACH = 0.9975
# How far ``reach`` may turn a thigh or shin off the performer's direction (degrees): the
# legs make up what the root's path cannot, within this; a rig whose feet are shaped far
# otherwise keeps the rest as a height or step off the performer's.
MAX_TURN_DEG = 4.5
# How far a planted foot may stand off the performer's height (metres) before the root's
# path leaves its smooth course to help the legs; the legs still make up what they can.
FOOT_TOLERANCE_M = 0.01
# How much the path's own course counts against a planted foot (which counts 1) where the
# feet ask for more than the legs and that tolerance make up; and how many rounds of
# smoothing and settling again ease the path in and out of such frames.
_KEEP = 0.01
_EASING_ROUNDS = 6


@dataclass(frozen=True)
class Grounding:
    """Where the root goes, and what each leg still has to make up."""

    root: np.ndarray  # (T, 3) the root bone's head, armature space
    # (L, T, 3) for each leg of ``plan.reaching``: how far its foot must move (rig units)
    # to stand where the performer's does; zero where it is not planted.
    leg_moves: np.ndarray


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
) -> Grounding:
    """Where the root bone's head goes, (T, 3), in armature space, and what each planted
    leg has to make up (see ``Grounding``).

    ``points`` (T, V, 3): the take in armature space, already scaled to the rig. The path
    starts over the root's rest place; with ``snap_to_floor`` the rig's feet are planted
    as described above, else the take's own floor is put at the rig's lowest rest foot.
    """
    up = plan.up
    no_moves = np.zeros((len(plan.reaching.sides), len(points), 3))
    root = points[:, plan.joint_index["SpineBase"]]
    height = root @ up
    flat = root - height[:, None] * up
    rest_flat = rest_head - (rest_head @ up) * up
    start = rest_flat - flat[0]
    target = np.broadcast_to(rest_flat, root.shape).copy() if in_place else flat + start
    target += height[:, None] * up
    if not snap_to_floor or not len(plan.foot_bones):
        return Grounding(target + plan.rig_floor * up, no_moves)

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
        data_flat = flatten(data_feet[mine], up).mean(axis=0)
        rig_flat = flatten(target + rig_feet[mine], up).mean(axis=0)
        steps.append(np.diff(data_flat - rig_flat, axis=0))
        lowest.append(data_low)
        tracks.append(data_flat)
    weights = planted_weights(np.stack(lowest) / scale, np.stack(tracks) / scale, fps)
    total = weights.sum(axis=0)
    lift = _fill_gaps((weights * np.stack(heights)).sum(axis=0) / np.maximum(total, 1e-9),
                      total > 0.25)
    if lift is None:  # never planted: one shift puts the take's low point on the floor
        low = (target @ up) + (rig_feet @ up).min(axis=0)
        lift = np.full(len(target), plan.rig_floor - percentile(low, 5))
        weights = np.zeros_like(weights)
    lift = smooth(lift, CORRECTION_SIGMA)
    # Where each side's lowest point is with the path as it started (S, T), and where a
    # planted one goes: as high over the floor as the performer's, never under it.
    lows = (target @ up) + np.stack([(rig_feet[plan.foot_sides == s] @ up).min(axis=0)
                                     for s in sides])
    ground = np.maximum(lows + np.stack(heights), plan.rig_floor)
    wanted = ground - lows  # (S, T) the lift that would put each foot there
    # Each planted leg can make up a root height from ``wanted - raise`` to ``wanted +
    # drop`` (its foot lifted or lowered, ``_room``); a side without a reaching leg, none.
    # The path keeps its height where every planted side can, else moves as little as
    # leaves the feet least far off (equally far, for two feet planted alike).
    legs = np.searchsorted(sides, plan.reaching.sides)
    raise_room, drop_room = np.zeros_like(lows), np.zeros_like(lows)
    if len(legs):
        raise_room[legs], drop_room[legs] = _room(points, plan, _hinges(plan, world))
    give = FOOT_TOLERANCE_M * scale
    ends = wanted - raise_room - give, wanted + drop_room + give
    settled = _settle(lift, *ends, weights)
    # Eased in and out (as smooth as the path was), then settled again: the smoothing
    # stands wherever the feet allow it.
    for _ in range(_EASING_ROUNDS):
        settled = _settle(lift + smooth(settled - lift, CORRECTION_SIGMA), *ends, weights)
    lift = settled
    # No frame lets a foot go through the floor: the path is raised for what the legs
    # leave under it.
    made_up = np.clip(weights * (wanted - lift), -drop_room, raise_room)
    lift = lift + np.maximum(plan.rig_floor - (lows + lift + made_up).min(axis=0), 0.0)
    target = target + lift[:, None] * up
    # What the path leaves for each planted leg to make up: its height (and any foot the
    # raise left under the floor lifts itself) ...
    lifts = np.maximum(weights * (wanted - lift), plan.rig_floor - lows - lift)[legs]
    leg_moves = lifts[..., None] * up
    if not in_place:  # in place, the root stays over its rest spot
        step_weights = np.minimum(weights[:, 1:], weights[:, :-1])  # (S, T - 1)
        drift = (step_weights[..., None] * np.stack(steps)).sum(axis=0) / np.maximum(
            step_weights.sum(axis=0), 1.0
        )[:, None]
        target[1:] += np.cumsum(drift, axis=0)
        # ... and, with both feet down, how far its foot has strayed from the performer's
        # track since it was planted: the path takes the mean of the feet's steps.
        leg_moves += weights[legs, :, None] * _strayed(np.stack(steps) - drift, step_weights)[legs]
    return Grounding(target, leg_moves)


def _settle(
    lift: np.ndarray, low_end: np.ndarray, high_end: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """The height (T,) nearest ``lift`` (T,) that leaves the least of each side outside
    its range (``low_end``…``high_end``, (S, T)): the minimum over x of
    Σ weight·(distance of x from the range)² + ``_KEEP``·(x − lift)², by bisection on
    its (monotone) derivative."""

    def slope(x: np.ndarray) -> np.ndarray:
        outside = np.maximum(x - high_end, 0.0) - np.maximum(low_end - x, 0.0)
        return (weights * outside).sum(axis=0) + _KEEP * (x - lift)

    below = np.minimum(lift, low_end.min(axis=0))
    above = np.maximum(lift, high_end.max(axis=0))
    for _ in range(32):
        middle = (below + above) / 2
        rising = slope(middle) > 0
        above = np.where(rising, middle, above)
        below = np.where(rising, below, middle)
    return (below + above) / 2


def _strayed(misses: np.ndarray, step_weights: np.ndarray) -> np.ndarray:
    """(S, T, 3) each foot's summed ``misses`` (S, T - 1, 3), weighted by ``step_weights``
    (S, T - 1), since it was last lifted (a weight of 0 starts the sum again)."""
    total = np.zeros((misses.shape[0], misses.shape[1] + 1, 3))
    for t, (miss, weight) in enumerate(zip(np.swapaxes(misses, 0, 1), step_weights.T, strict=True)):
        total[:, t + 1] = np.where(weight[:, None] > 0, total[:, t] + weight[:, None] * miss, 0.0)
    return total


def reach(points: np.ndarray, plan: Plan, world: np.ndarray, leg_moves: np.ndarray) -> np.ndarray:
    """``points`` (T, V, 3) with each leg of ``plan.reaching`` bent or stretched at the
    knee so that the rig's foot moves by ``leg_moves`` (L, T, 3), or as far towards that
    as turning its thigh and shin ``MAX_TURN_DEG`` off the performer's allows.

    Two-bone IK in the rig's proportions: the rig's hip-to-ankle vector is its thigh and
    shin lengths along the performer's directions; its goal is that moved (as far as the
    leg reaches, no straighter than ``FULL_REACH``), and the knee bends about the hinge
    axis of the posed thigh (``world``, (B, T, 3, 3)): the leg's own plane where it is
    bent, and where it is straight the roll the twist carried from the frames around, so
    a straight leg bends the way its neighbouring frames do. The performer's knee, ankle
    and toe are then put along the new directions at their own distances, so the foot
    keeps its direction and the hip its place.
    """
    return _limited(points, plan, _hinges(plan, world), leg_moves)[0]


def _limited(
    points: np.ndarray, plan: Plan, hinges: np.ndarray, leg_moves: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_solve`` with each move shortened till no bone turns more than ``MAX_TURN_DEG``:
    the moved points, and how far each foot moved (L, T, 3).

    The turn grows as the move to some power (1 for a bent leg, ½ for a straight one),
    taken from the last two solves, so a few rounds find the longest move allowed."""
    scale = np.ones(leg_moves.shape[:2])
    moved, turned, done = _solve(points, plan, hinges, leg_moves)
    power = np.ones_like(scale)
    for _ in range(6):
        over = turned > MAX_TURN_DEG * (1 + 1e-3)
        if not over.any():
            break
        shorter = np.where(over, scale * (MAX_TURN_DEG / np.maximum(turned, 1e-12)) ** (1 / power),
                           scale)
        moved, turned_now, done = _solve(points, plan, hinges, leg_moves * shorter[..., None])
        grew = over & (turned_now > 1e-9)
        power[grew] = np.clip(
            np.log(turned_now[grew] / turned[grew]) / np.log(shorter[grew] / scale[grew]), 0.3, 1.5
        )
        scale, turned = shorter, turned_now
    return moved, leg_moves * (scale * done)[..., None]


def _hinges(plan: Plan, world: np.ndarray) -> np.ndarray:
    """(L, T, 3) each leg's knee hinge axis as the posed thigh carries it."""
    return (world[plan.reaching.thighs] @ plan.reaching.hinges[:, None, :, None])[..., 0]


def _room(points: np.ndarray, plan: Plan, hinges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far each leg can lift and lower its foot (rig units, (L, T) each) with no bone
    turning more than ``MAX_TURN_DEG`` and no leg straighter than ``FULL_REACH``."""
    probe = 0.2 * plan.reaching.lengths.sum(axis=1)[:, None, None] * plan.up  # (L, 1, 3)
    frames = points.shape[0]
    rooms = []
    for sign in (1.0, -1.0):
        moves = np.broadcast_to(sign * probe, (len(probe), frames, 3))
        rooms.append(np.abs(_limited(points, plan, hinges, moves)[1] @ plan.up))
    return rooms[0], rooms[1]


def _solve(
    points: np.ndarray, plan: Plan, hinges: np.ndarray, leg_moves: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``reach`` without its limit on turning: the moved points, how far each leg's thigh
    or shin turned (degrees, (L, T)) and what fraction of its move it made (L, T)."""
    moved = points.copy()
    turned = np.zeros(leg_moves.shape[:2])
    done = np.ones(leg_moves.shape[:2])
    for k, (hip_at, knee_at, ankle_at, toe_at) in enumerate(plan.reaching.columns):
        a, b = plan.reaching.lengths[k]
        frames = np.flatnonzero(np.abs(leg_moves[k]).max(axis=-1) > 1e-9 * (a + b))
        if not len(frames):
            continue
        hip, knee, ankle = (points[frames, c] for c in (hip_at, knee_at, ankle_at))
        upper, lower = unit(knee - hip), unit(ankle - knee)
        span = upper * a + lower * b
        # Stretching stops where the leg is as straight as it may be (or as it was, if
        # straighter): the move's first point at that distance, |span + t·move| = limit.
        move = leg_moves[k, frames]
        limit = np.maximum(FULL_REACH * (a + b), np.linalg.norm(span, axis=-1))
        along_move, move_sq = np.sum(span * move, -1), np.sum(move * move, -1)
        room = np.sum(span * span, -1) - limit**2  # ≤ 0
        furthest = (
            -along_move + np.sqrt(np.maximum(along_move**2 - move_sq * room, 0.0))
        ) / move_sq
        done[k, frames] = np.minimum(furthest, 1.0)
        goal = span + done[k, frames, None] * move
        distance = np.maximum(np.linalg.norm(goal, axis=-1), abs(a - b) + 1e-6 * (a + b))
        axis = unit(goal)
        # The knee's side of the hip-ankle line: ⟂ the line and the hinge axis n, since
        # (knee - hip) × (ankle - knee) = n for a knee off the line towards line × n.
        pole = np.cross(axis, hinges[k, frames])
        pole = unit(pole - np.sum(pole * axis, -1, keepdims=True) * axis)
        if not np.any(plan.reaching.hinges[k]):  # no hinge reference: the knee as it is
            pole = unit(upper - np.sum(upper * axis, -1, keepdims=True) * axis)
        along, across = knee_triangle(a, b, distance)
        knee_goal = along[:, None] * axis + across[:, None] * pole
        upper_new, lower_new = unit(knee_goal), unit(axis * distance[:, None] - knee_goal)
        turned[k, frames] = np.degrees(np.arccos(np.clip(np.minimum(
            np.sum(upper * upper_new, -1), np.sum(lower * lower_new, -1)), -1.0, 1.0)))
        moved_knee = hip + upper_new * np.linalg.norm(knee - hip, axis=-1, keepdims=True)
        moved_ankle = moved_knee + lower_new * np.linalg.norm(ankle - knee, axis=-1, keepdims=True)
        moved[frames, knee_at] = moved_knee
        moved[frames, ankle_at] = moved_ankle
        if toe_at >= 0:
            moved[frames, toe_at] = points[frames, toe_at] + (moved_ankle - ankle)
    return moved, turned, done


def _fill_gaps(values: np.ndarray, known: np.ndarray) -> np.ndarray | None:
    """``values`` (T,) where ``known``, linearly interpolated (held at the ends) between."""
    if not known.any():
        return None
    frames = np.arange(len(values))
    return np.interp(frames, frames[known], values[known])


def ground_lift(lowest: np.ndarray, percentile: float = 20.0) -> np.ndarray:
    """Per frame, how far (F,) to raise a character whose lowest point is at ``lowest`` (F,).

    The rig as rendered: retargeting grounds the performer's feet, but a rig's soles (its
    meshes) lie below its foot bones, so ``blender.rig_floor.ground_rig`` measures them
    and keys this lift. One shift for the whole take puts its usual lowest point on the
    floor, so hops and jumps keep their height; the frames that would then sink get lifted
    just out. A percentile rather than the minimum: one stray frame must not float all the
    others.
    """
    lowest = np.asarray(lowest, dtype=np.float64)
    finite = lowest[np.isfinite(lowest)]
    if finite.size == 0:
        return np.zeros(lowest.shape)
    base = -float(np.percentile(finite, percentile))
    return base + np.maximum(0.0, -(np.where(np.isfinite(lowest), lowest, 0.0) + base))
