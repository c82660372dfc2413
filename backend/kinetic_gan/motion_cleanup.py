"""Motion cleanup: constant bone lengths, a zero-phase low-pass filter, planted feet.

Input is NTU-25 joints in metres, ``(T, 25, 3)`` or ``(N, T, 25, 3)``, y up, the floor at
y = 0 (our dataset frame), and the take's frame rate. Each step is a toggle; they run in
the order that lets each one keep what the one before achieved:

1. ``filter`` — a 2nd-order Butterworth low-pass run forward and backward (zero phase, so
   nothing lags), −3 dB at ``CUTOFF_HZ`` for the pair of passes; a straight line through
   the first and last frames is taken out before filtering and put back after, and the
   ends are padded by odd reflection, so a constant velocity passes unchanged and the ends
   neither sag nor lag.
2. ``bones`` — every bone gets one length (its median over the take, or given lengths),
   keeping its direction (low-passed too when the filter is on); joints are placed from
   the root outwards, so the root's trajectory is untouched. Filtering stretches bones a
   little; this makes them exact.
3. ``feet`` — foot contacts are detected (the lower of ankle and foot tip within
   ``CONTACT_HEIGHT_M`` of the floor and slower than ``CONTACT_SPEED_MS`` horizontally),
   and during each contact the foot is held where it stands (horizontally, and lifted
   out of the floor if it sinks in) by moving the ankle with a two-bone IK of
   hip–knee–ankle: thigh and shin keep their lengths, the knee bends forward, and the
   lock fades in and out over ``BLEND_S``.

Standard library and numpy only: the Blender add-on bundles this very file (``vendor/``),
with the ``records`` package it takes NTU's joint tree from, so it must not import the
``kinetic_gan`` package. docs/cleanup.md has the measurements.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import pairwise

import numpy as np

# Relative, so that the add-on's copy finds the records copied beside it (vendor/records/).
from .records.joint_tables import NTU_PARENTS

NUM_JOINTS = len(NTU_PARENTS)
BONE_CHILDREN = tuple(c for c, p in enumerate(NTU_PARENTS) if p >= 0)  # bone order
HIP_LEFT, HIP_RIGHT = 12, 16
# (hip, knee, ankle, foot tip) of each leg, left then right.
LEGS = ((12, 13, 14, 15), (16, 17, 18, 19))

STEPS = ("filter", "bones", "feet")

# 6 Hz: the usual cutoff for filtering human movement capture (Winter, *Biomechanics and
# Motor Control of Human Movement*: joint trajectories of gait and most everyday actions
# carry almost all their power below 6 Hz), and the boundary our plausibility metric
# counts as "high frequency". Real DeepMimic clips move by a few millimetres under it;
# generator jitter (frame-to-frame stepping at 10–15 Hz at 30 fps) is what it removes.
CUTOFF_HZ = 6.0
# A dual-pass 2nd-order Butterworth is −3 dB where a single pass is −1.5 dB: its design
# frequency is the wanted cutoff divided by this factor, (√2 − 1)^(1/4) (Winter's
# correction for filtering twice).
_DUAL_PASS = (math.sqrt(2.0) - 1.0) ** 0.25
# Every contact threshold of the project, side by side: the add-on's core/contact.py.
# Contacts use the plausibility metric's height (5 cm: the lower foot joint of a standing
# foot; swing feet clear it) but a stricter speed: the metric counts everything under
# 1.5 m/s so that sliding is *measured*, but locking every foot that slow would also pin
# the pivots and drags of real motion (a spin turns on a foot moving ≈ 0.5 m/s).
# 1.0 m/s catches most of the generator's sliding stance feet (0.6 m/s on average in
# the metric) while real clips move by 0.6 cm on average (docs/cleanup.md).
CONTACT_HEIGHT_M = 0.05
CONTACT_SPEED_MS = 1.0
# A contact shorter than this is a foot brushing the floor in passing: not locked.
MIN_CONTACT_S = 0.1
# Gaps in a contact shorter than this are noise in the speed, not a lift-off: closed.
MAX_GAP_S = 0.07
# The lock fades in before and out after each contact over this long (no pop).
BLEND_S = 0.15
# When the original knee is within ~2 cm of the hip–ankle line its bending plane is
# noise: the IK leans it towards the anatomical forward, so a straight leg bends forward.
_KNEE_FORWARD_BIAS_M = 0.02


class CleanupError(ValueError):
    """Bad input to the cleanup: the message names what is wrong, in one line."""


def _depth_order(parents: Sequence[int]) -> tuple[int, ...]:
    depth = []
    for j in range(len(parents)):
        d, p = 0, parents[j]
        while p >= 0:
            d, p = d + 1, parents[p]
        depth.append(d)
    return tuple(sorted(range(len(parents)), key=lambda j: (depth[j], j)))


ROOT_FIRST = _depth_order(NTU_PARENTS)


def parse_steps(text: str | Iterable[str] | None) -> tuple[str, ...]:
    """``all`` (or None), ``none``, or a comma-separated subset of ``STEPS``, in run order."""
    if text is None:
        return STEPS
    items = [t.strip().lower() for t in (text.split(",") if isinstance(text, str) else text)]
    items = [t for t in items if t]
    if items == ["all"]:
        return STEPS
    if items in (["none"], []):
        return ()
    unknown = [t for t in items if t not in STEPS]
    if unknown:
        raise CleanupError(
            f"unknown cleanup step {unknown[0]!r}: use all, none, or some of {', '.join(STEPS)}"
        )
    return tuple(s for s in STEPS if s in items)


def check_joints(joints: np.ndarray, fps: float) -> np.ndarray:
    """The joints as float64 ``(N, T, 25, 3)``; one clear error for anything else."""
    x = np.asarray(joints, dtype=np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[2:] != (NUM_JOINTS, 3) or x.shape[1] < 1:
        raise CleanupError(
            f"cleanup expects NTU-25 joints (T, 25, 3) or (N, T, 25, 3), got {np.shape(joints)}"
        )
    if not np.isfinite(x).all():
        raise CleanupError("cleanup: joints contain NaN or infinite values")
    if not (isinstance(fps, int | float) and math.isfinite(fps) and fps > 0):
        raise CleanupError(f"cleanup: the frame rate must be a positive number, got {fps!r}")
    return x


def clean_motion(
    joints: np.ndarray,
    fps: float,
    steps: str | Iterable[str] | None = STEPS,
    bone_lengths: np.ndarray | None = None,
    cutoff_hz: float = CUTOFF_HZ,
) -> np.ndarray:
    """The cleaned joints, same shape and float dtype as ``joints`` (``steps``: see
    ``parse_steps``; ``bone_lengths``: see ``constant_bone_lengths``)."""
    chosen = parse_steps(steps)
    x = check_joints(joints, fps)
    if "filter" in chosen:
        x = low_pass(x, fps, cutoff_hz)
    if "bones" in chosen:
        smoothing = (fps, cutoff_hz) if "filter" in chosen else None
        x = constant_bone_lengths(x, bone_lengths, smooth_directions=smoothing)
    if "feet" in chosen:
        x = lock_feet(x, fps)
    x = x.reshape(np.shape(joints))
    dtype = np.asarray(joints).dtype
    return x.astype(dtype if np.issubdtype(dtype, np.floating) else np.float64, copy=False)


# --- 1. bone lengths -------------------------------------------------------------------


def measure_bones(joints: np.ndarray) -> np.ndarray:
    """``(N, T, 24)`` length of every bone, bones in the order of their child joints."""
    x = check_joints(joints, 1.0)
    parents = [NTU_PARENTS[c] for c in BONE_CHILDREN]
    return np.linalg.norm(x[:, :, list(BONE_CHILDREN)] - x[:, :, parents], axis=-1)


def constant_bone_lengths(
    joints: np.ndarray,
    lengths: np.ndarray | None = None,
    smooth_directions: tuple[float, float] | None = None,
) -> np.ndarray:
    """Joints with every bone at one length: ``lengths`` (24,) or (N, 24) in bone order
    (``BONE_CHILDREN``), or by default each bone's median over the take. Directions and
    the root stay as they are.

    ``smooth_directions=(fps, cutoff_hz)`` low-passes the bone directions first (what
    ``clean_motion`` does after its filter step). Filtering positions smooths a bone's
    direction only in proportion to its length: a generated bone that collapses to a few
    millimetres and flips is still a flip after the filter, and giving it back its full
    length would turn the flip into a jump as long as the bone. Its unit direction,
    filtered, turns smoothly instead.
    """
    x = check_joints(joints, 1.0)
    n = x.shape[0]
    if lengths is None:
        target = np.median(measure_bones(x), axis=1)  # (N, 24)
    else:
        target = np.asarray(lengths, dtype=np.float64)
        if target.shape not in ((len(BONE_CHILDREN),), (n, len(BONE_CHILDREN))):
            raise CleanupError(
                f"bone lengths: expected ({len(BONE_CHILDREN)},) or ({n}, "
                f"{len(BONE_CHILDREN)}) in metres, got {target.shape}"
            )
        if not (np.isfinite(target).all() and (target >= 0).all()):
            raise CleanupError("bone lengths must be finite and not negative")
        target = np.broadcast_to(target, (n, len(BONE_CHILDREN)))
    directions = np.zeros_like(x)
    for j in BONE_CHILDREN:
        directions[:, :, j] = _directions(x[:, :, j] - x[:, :, NTU_PARENTS[j]])
    if smooth_directions is not None:
        fps, cutoff_hz = smooth_directions
        smooth = low_pass(directions, fps, cutoff_hz)
        for j in BONE_CHILDREN:
            directions[:, :, j] = _directions(smooth[:, :, j])
    bone_of = {c: b for b, c in enumerate(BONE_CHILDREN)}
    out = x.copy()
    for j in ROOT_FIRST[1:]:
        offset = directions[:, :, j] * target[:, None, bone_of[j], None]
        out[:, :, j] = out[:, :, NTU_PARENTS[j]] + offset
    return out


def _directions(offsets: np.ndarray) -> np.ndarray:
    """Unit vectors of ``(N, T, 3)`` offsets; a collapsed bone borrows its take's mean
    direction (or +y), so it still gets its length."""
    norm = np.linalg.norm(offsets, axis=-1, keepdims=True)
    unit = offsets / np.maximum(norm, 1e-12)
    bad = norm[..., 0] < 1e-9
    if bad.any():
        mean = unit.sum(axis=1, keepdims=True)
        mean_norm = np.linalg.norm(mean, axis=-1, keepdims=True)
        fallback = np.where(mean_norm > 1e-9, mean / np.maximum(mean_norm, 1e-12), [0, 1, 0])
        unit = np.where(bad[..., None], np.broadcast_to(fallback, unit.shape), unit)
    return unit


# --- 2. zero-phase low-pass ------------------------------------------------------------


def butterworth_coefficients(fps: float, cutoff_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` of the 2nd-order digital Butterworth whose forward-backward pair is
    −3 dB at ``cutoff_hz`` (bilinear transform with pre-warping)."""
    k = math.tan(math.pi * cutoff_hz / fps) / _DUAL_PASS
    norm = 1.0 + math.sqrt(2.0) * k + k * k
    b0 = k * k / norm
    b = np.array([b0, 2.0 * b0, b0])
    a = np.array([1.0, 2.0 * (k * k - 1.0) / norm, (1.0 - math.sqrt(2.0) * k + k * k) / norm])
    return b, a


def _biquad(x: np.ndarray, b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """One causal pass along axis 0, started in the steady state of the first sample."""
    b0, b1, b2 = b
    _, a1, a2 = a
    z2 = (b2 - a2) * x[0]
    z1 = (b1 - a1) * x[0] + z2
    y = np.empty_like(x)
    for t in range(x.shape[0]):
        xt = x[t]
        yt = b0 * xt + z1
        z1 = b1 * xt - a1 * yt + z2
        z2 = b2 * xt - a2 * yt
        y[t] = yt
    return y


def low_pass(joints: np.ndarray, fps: float, cutoff_hz: float = CUTOFF_HZ) -> np.ndarray:
    """Zero-phase low-pass of every joint coordinate over time (see the module notes).

    A cutoff at or above 0.8 × Nyquist leaves the motion as it is: there is no band left
    to remove at that frame rate.
    """
    x = check_joints(joints, fps)
    if not (math.isfinite(cutoff_hz) and cutoff_hz > 0):
        raise CleanupError(f"filter cutoff must be a positive frequency in Hz, got {cutoff_hz}")
    frames = x.shape[1]
    if cutoff_hz >= 0.4 * fps or frames < 3:
        return x.copy()
    b, a = butterworth_coefficients(fps, cutoff_hz)
    series = np.moveaxis(x, 1, 0)  # (T, N, V, 3)
    # The line through the ends is what the filter must pass untouched (constant
    # velocity); what remains starts and ends at zero, which the reflection keeps smooth.
    ramp = np.linspace(0.0, 1.0, frames)[:, None, None, None]
    line = series[0] + ramp * (series[-1] - series[0])
    rest = series - line
    pad = min(frames - 1, max(9, round(3 * fps / cutoff_hz)))
    head = -rest[pad:0:-1]
    tail = -rest[-2 : -pad - 2 : -1]
    padded = np.concatenate([head, rest, tail])
    smooth = _biquad(_biquad(padded, b, a)[::-1], b, a)[::-1]
    return np.moveaxis(smooth[pad : pad + frames] + line, 0, 1)


# --- 3. foot contacts and locking ------------------------------------------------------


def _horizontal_speed(points: np.ndarray, fps: float) -> np.ndarray:
    """``(N, T)`` horizontal speed (m/s) of ``(N, T, 3)`` points, central differences."""
    if points.shape[1] < 2:
        return np.zeros(points.shape[:2])
    return np.linalg.norm(np.gradient(points[..., [0, 2]], axis=1), axis=-1) * fps


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` of every run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def detect_contacts(
    joints: np.ndarray,
    fps: float,
    height_m: float = CONTACT_HEIGHT_M,
    speed_ms: float = CONTACT_SPEED_MS,
) -> np.ndarray:
    """``(N, T, 2)`` contact mask of the left and right foot.

    Per frame the lower of ankle and foot tip decides (the heel or the toes), as in the
    plausibility metric; gaps under ``MAX_GAP_S`` are closed and contacts under
    ``MIN_CONTACT_S`` dropped.
    """
    x = check_joints(joints, fps)
    max_gap = round(MAX_GAP_S * fps)
    min_len = max(2, round(MIN_CONTACT_S * fps))
    out = np.zeros((*x.shape[:2], 2), dtype=bool)
    for side, (_, _, ankle, tip) in enumerate(LEGS):
        low = _lower_joint(x, ankle, tip)
        raw = (low[..., 1] < height_m) & (_horizontal_speed(low, fps) < speed_ms)
        for n in range(x.shape[0]):
            mask = raw[n].copy()
            runs = _runs(mask)
            for (_, stop), (start, _) in pairwise(runs):
                if start - stop <= max_gap:
                    mask[stop:start] = True
            for start, stop in _runs(mask):
                if stop - start < min_len:
                    mask[start:stop] = False
            out[n, :, side] = mask
    return out


def _lower_joint(x: np.ndarray, ankle: int, tip: int) -> np.ndarray:
    """``(N, T, 3)``: per frame, the lower of the two joints."""
    tip_lower = x[:, :, tip, 1] < x[:, :, ankle, 1]
    return np.where(tip_lower[..., None], x[:, :, tip], x[:, :, ankle])


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def foot_offsets(
    joints: np.ndarray, contacts: np.ndarray, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """How far each foot must move to stay planted: ``(N, T, 2, 3)`` offsets and
    ``(N, T, 2)`` weights in [0, 1] (1 during a contact, fading out around it).

    A contact holds the foot on its *contact joint* — of ankle and tip, the one lower in
    most of its frames (toes for a pivot on the ball of the foot) — at that joint's mean
    horizontal position over the contact, so the foot moves as little as it can; its
    height stays, except that a foot sunk into the floor is lifted onto it (a longer
    leg, once bones are made constant, often reaches below y = 0). Before and after, the
    edge frame's offset is faded out over ``BLEND_S``.
    """
    n_takes, frames = joints.shape[:2]
    blend = max(1, round(BLEND_S * fps))
    offsets = np.zeros((n_takes, frames, 2, 3))
    weights = np.zeros((n_takes, frames, 2))
    t = np.arange(frames)
    for side, (_, _, ankle, tip) in enumerate(LEGS):
        for n in range(n_takes):
            for start, stop in _runs(contacts[n, :, side]):
                span = joints[n, start:stop]
                tip_lower = (span[:, tip, 1] < span[:, ankle, 1]).mean() > 0.5
                contact = span[:, tip if tip_lower else ankle]
                delta = np.zeros((frames, 3))
                delta[start:stop, [0, 2]] = contact[:, [0, 2]].mean(axis=0) - contact[:, [0, 2]]
                lowest = np.minimum(span[:, ankle, 1], span[:, tip, 1])
                delta[start:stop, 1] = np.maximum(0.0, -lowest)  # out of the floor
                delta[:start] = delta[start]
                delta[stop:] = delta[stop - 1]
                before = _smoothstep((t - (start - blend - 1)) / (blend + 1))
                after = _smoothstep(((stop + blend) - t) / (blend + 1))
                weight = np.minimum(before, after)
                weight[start:stop] = 1.0
                # Neighbouring contacts' fades overlap: the stronger one holds the foot.
                take = weight > weights[n, :, side]
                offsets[n, take, side] = delta[take]
                weights[n, take, side] = weight[take]
    return offsets, weights


def lock_feet(
    joints: np.ndarray,
    fps: float,
    height_m: float = CONTACT_HEIGHT_M,
    speed_ms: float = CONTACT_SPEED_MS,
) -> np.ndarray:
    """Joints with each foot held in place during its contacts (see ``foot_offsets``):
    the ankle is moved by two-bone IK from the unchanged hip, the foot goes with it."""
    x = check_joints(joints, fps)
    contacts = detect_contacts(x, fps, height_m, speed_ms)
    offsets, weights = foot_offsets(x, contacts, fps)
    out = x.copy()
    left = _unit(x[:, :, HIP_LEFT] - x[:, :, HIP_RIGHT])
    for side, (hip, knee, ankle, tip) in enumerate(LEGS):
        w = weights[..., side]
        moving = w > 0
        if not moving.any():
            continue
        target = x[:, :, ankle] + w[..., None] * offsets[:, :, side]
        new_knee, new_ankle = two_bone_ik(
            x[moving][:, hip], x[moving][:, knee], x[moving][:, ankle], target[moving],
            left[moving], w[moving],
        )
        out_knee = out[:, :, knee]
        out_knee[moving] = new_knee
        out[:, :, knee] = out_knee
        foot = x[:, :, tip] - x[:, :, ankle]
        out_ankle = out[:, :, ankle]
        out_ankle[moving] = new_ankle
        out[:, :, ankle] = out_ankle
        out[:, :, tip] = out[:, :, ankle] + foot
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _rotate_about(v: np.ndarray, axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: ``v`` turned by ``angle`` about unit ``axis`` (both ``(..., 3)``)."""
    cos, sin = np.cos(angle)[..., None], np.sin(angle)[..., None]
    dot = np.sum(axis * v, axis=-1, keepdims=True)
    return v * cos + np.cross(axis, v) * sin + axis * dot * (1.0 - cos)


def knee_triangle(
    thigh: np.ndarray | float, shin: np.ndarray | float, distance: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two-bone IK core: where the knee sits for a hip–ankle ``distance`` (no longer
    than ``thigh + shin``, no shorter than their difference), as how far ``along`` the
    hip–ankle line from the hip and how far ``across`` it (law of cosines).

    Both of the project's leg solvers use it: ``two_bone_ik`` (holding planted feet) and
    the add-on's ``core.retarget.grounding`` (the rig's legs reaching for the floor, which
    imports this bundled file); each picks its own knee side and limits.
    """
    along = (thigh * thigh - shin * shin + distance * distance) / (2.0 * distance)
    across = np.sqrt(np.maximum(thigh * thigh - along * along, 0.0))
    return along, across


def two_bone_ik(
    hip: np.ndarray,
    knee: np.ndarray,
    ankle: np.ndarray,
    target: np.ndarray,
    left: np.ndarray,
    weight: np.ndarray | float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """New ``(knee, ankle)`` putting the ankle at ``target`` (or as close as the leg
    reaches) with the hip fixed and thigh and shin at their current lengths.

    All arrays are ``(..., 3)``; ``left`` is the body's right→left axis (from the hips).
    The knee stays in its current bending plane when that bends forward; a knee bent
    backwards (or straight) is turned about the hip–ankle line into the forward half,
    in proportion to ``weight`` (the lock's fade), so it never snaps. Forward flexion
    means thigh × shin points to the body's left (y up, right-handed).
    """
    thigh = np.linalg.norm(knee - hip, axis=-1)
    shin = np.linalg.norm(ankle - knee, axis=-1)
    reach = target - hip
    distance = np.linalg.norm(reach, axis=-1)
    axis = _unit(reach)
    # Keep a sliver of bend at full stretch and a sliver of opening when folded: the
    # knee's side is undefined on a straight line.
    longest = (thigh + shin) * (1.0 - 1e-6)
    shortest = np.abs(thigh - shin) + 1e-6 * (thigh + shin)
    d = np.clip(distance, shortest, np.maximum(longest, shortest))
    along, height = knee_triangle(thigh, shin, d)

    forward = _unit(np.cross(axis, left))
    offset = knee - hip
    current = offset - np.sum(offset * axis, axis=-1, keepdims=True) * axis
    # A knee within the bias of straight leans forward, fading out as it bends more.
    size = np.linalg.norm(current, axis=-1, keepdims=True)
    lean = np.maximum(0.0, 1.0 - size / _KNEE_FORWARD_BIAS_M) * _KNEE_FORWARD_BIAS_M
    current = current + lean * forward
    size = np.linalg.norm(current, axis=-1, keepdims=True)
    current = np.where(size > 1e-9, current / np.maximum(size, 1e-12), forward)
    facing = np.sum(current * forward, axis=-1, keepdims=True)
    wanted = np.where(facing < 0, current - 2.0 * facing * forward, current)
    # Signed angle about the leg axis from the current knee side to the wanted one.
    angle = np.arctan2(np.sum(np.cross(current, wanted) * axis, axis=-1),
                       np.sum(current * wanted, axis=-1))
    pole = _rotate_about(current, axis, np.asarray(weight) * angle)

    new_knee = hip + along[..., None] * axis + height[..., None] * pole
    new_ankle = new_knee + shin[..., None] * _unit(hip + d[..., None] * axis - new_knee)
    return new_knee, new_ankle
