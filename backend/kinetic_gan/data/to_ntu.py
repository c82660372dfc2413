"""Retarget joint positions of common skeletons to the NTU RGB+D 25-joint layout.

A *rig table* says, for each NTU joint, how to get it from the source's points:

- ``"Name"``            the source joint itself;
- ``("lerp", a, b, t)``  ``a + t (b - a)``: a point between two joints (t in [0, 1]) or,
  with t > 1, carried on along the a→b direction (extrapolating a hand tip or a toe a
  skeleton lacks, in proportion to the limb);
- ``("front", a, metres)`` joint ``a`` moved forward (the way the torso faces) — for a
  thumb on rigs without fingers;
- a list of those: the first whose joints exist in the source is used.

Joint names are compared without a namespace prefix (``mixamorig:Hips`` → ``Hips``); BVH end
sites are named ``<parent>_end``. ``docs/data.md`` lists the rules with their reasons.

Then ``to_dataset_frame`` turns the result into our dataset frame: a proper rotation from the
source's axes, then a turn about the vertical so the subject faces −Z (left side at −X) at the
first frame, the pelvis over the origin, and the floor at y = 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kinetic_gan.data.bvh import BvhMotion
from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import NTU_JOINTS

Rule = str | tuple | list

_SIDES = ("Left", "Right")


def both_sides(rules: dict[str, Rule]) -> dict[str, Rule]:
    """Expand ``{side}`` templates into a Left and a Right entry."""
    out: dict[str, Rule] = {}
    for key, rule in rules.items():
        if "{side}" not in key:
            out[key] = rule
            continue
        for side in _SIDES:
            out[key.format(side=side)] = _fill(rule, side)
    return out


def _fill(rule: Rule, side: str) -> Rule:
    if isinstance(rule, str):
        return rule.format(side=side, s=side[0])
    if isinstance(rule, list):
        return [_fill(r, side) for r in rule]
    return tuple(_fill(r, side) if isinstance(r, str | list | tuple) else r for r in rule)


# The DeepMimic humanoid (points of deepmimic.POINT_NAMES): every NTU joint is a joint or a
# site of the humanoid, so no rule is needed here.
DEEPMIMIC = {
    "SpineBase": "root", "SpineMid": "chest", "Neck": "neck_top", "Head": "head",
    "SpineShoulder": "neck",
    **{f"{k}Left": f"left_{v}" for k, v in (
        ("Shoulder", "shoulder"), ("Elbow", "elbow"), ("Wrist", "wrist"), ("Hand", "hand"),
        ("Hip", "hip"), ("Knee", "knee"), ("Ankle", "ankle"), ("Foot", "foot"),
        ("HandTip", "hand_tip"), ("Thumb", "thumb"))},
    **{f"{k}Right": f"right_{v}" for k, v in (
        ("Shoulder", "shoulder"), ("Elbow", "elbow"), ("Wrist", "wrist"), ("Hand", "hand"),
        ("Hip", "hip"), ("Knee", "knee"), ("Ankle", "ankle"), ("Foot", "foot"),
        ("HandTip", "hand_tip"), ("Thumb", "thumb"))},
}

# Mixamo: Neck is the base of the neck (NTU's SpineShoulder); Head is the skull base and
# HeadTop_End the crown, so the head centre is half way; LeftArm is the shoulder joint
# (LeftShoulder is the clavicle).
MIXAMO = both_sides({
    "SpineBase": "Hips", "SpineMid": "Spine1", "SpineShoulder": "Neck",
    "Neck": ("lerp", "Neck", "Head", 0.5),
    "Head": [("lerp", "Head", "HeadTop_End", 0.5), ("lerp", "Neck", "Head", 1.6)],
    "Shoulder{side}": "{side}Arm", "Elbow{side}": "{side}ForeArm", "Wrist{side}": "{side}Hand",
    "Hand{side}": ["{side}HandMiddle1", ("lerp", "{side}ForeArm", "{side}Hand", 1.3)],
    "HandTip{side}": ["{side}HandMiddle4", "{side}HandMiddle3_end",
                      ("lerp", "{side}ForeArm", "{side}Hand", 1.65)],
    "Thumb{side}": ["{side}HandThumb4", "{side}HandThumb3_end",
                    ("front", ("lerp", "{side}ForeArm", "{side}Hand", 1.3), 0.035)],
    "Hip{side}": "{side}UpLeg", "Knee{side}": "{side}Leg", "Ankle{side}": "{side}Foot",
    "Foot{side}": ["{side}ToeBase", ("front", "{side}Foot", 0.12)],
})

# CMU mocap as converted to BVH (cgspeed naming).
CMU = both_sides({
    "SpineBase": "Hips", "SpineMid": "Spine", "SpineShoulder": "Neck", "Neck": "Neck1",
    "Head": [("lerp", "Head", "Head_end", 0.5), "Head"],
    "Shoulder{side}": "{side}Arm", "Elbow{side}": "{side}ForeArm", "Wrist{side}": "{side}Hand",
    "Hand{side}": ["{side}FingerBase", ("lerp", "{side}ForeArm", "{side}Hand", 1.3)],
    "HandTip{side}": ["{side}HandIndex1_end", ("lerp", "{side}ForeArm", "{side}Hand", 1.65)],
    "Thumb{side}": ["{s}Thumb_end",
                    ("front", ("lerp", "{side}ForeArm", "{side}Hand", 1.3), 0.035)],
    "Hip{side}": "{side}UpLeg", "Knee{side}": "{side}Leg", "Ankle{side}": "{side}Foot",
    "Foot{side}": ["{side}ToeBase", ("front", "{side}Foot", 0.12)],
})

# Biovision-style names (MocapBank): LeftShoulder is the shoulder joint, LeftCollar the
# clavicle; no fingers and no toes: the wrist's and ankle's end sites (≈ 14 cm and 17 cm
# long in MocapBank) give the hand and foot, else the limbs are extrapolated.
BIOVISION = both_sides({
    "SpineBase": "Hips", "SpineMid": "Chest", "SpineShoulder": "Neck",
    "Neck": ("lerp", "Neck", "Head", 0.5),
    "Head": [("lerp", "Head", "Head_end", 0.5), ("lerp", "Neck", "Head", 1.6)],
    "Shoulder{side}": "{side}Shoulder", "Elbow{side}": "{side}Elbow", "Wrist{side}": "{side}Wrist",
    "Hand{side}": [("lerp", "{side}Wrist", "{side}Wrist_end", 0.55),
                   ("lerp", "{side}Elbow", "{side}Wrist", 1.3)],
    "HandTip{side}": [("lerp", "{side}Wrist", "{side}Wrist_end", 1.2),
                      ("lerp", "{side}Elbow", "{side}Wrist", 1.65)],
    "Thumb{side}": ("front", [("lerp", "{side}Wrist", "{side}Wrist_end", 0.6),
                              ("lerp", "{side}Elbow", "{side}Wrist", 1.3)], 0.035),
    "Hip{side}": "{side}Hip", "Knee{side}": "{side}Knee", "Ankle{side}": "{side}Ankle",
    "Foot{side}": ["{side}Toe", ("lerp", "{side}Ankle", "{side}Ankle_end", 0.6),
                   ("front", "{side}Ankle", 0.12)],
})

RIGS: dict[str, dict[str, Rule]] = {
    "deepmimic": DEEPMIMIC, "mixamo": MIXAMO, "cmu": CMU, "biovision": BIOVISION,
}

# Source axes → dataset axes (proper rotations). DeepMimic: Y up, faces +x, right side +z;
# a turn of +90° about Y sends +x to −Z and +z to +X. BVH files are Y up, and the heading
# is fixed by to_dataset_frame anyway.
SOURCE_AXES: dict[str, np.ndarray] = {
    "deepmimic": np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]]),
    "y_up": np.eye(3),
    "z_up": np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]),
}

_J = {name: i for i, name in enumerate(NTU_JOINTS)}


def strip_namespace(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def detect_rig(joint_names: Sequence[str]) -> str:
    names = {strip_namespace(n) for n in joint_names}
    if "root" in names and "left_ankle" in names:
        return "deepmimic"
    if "LeftForeArm" in names and "Spine1" in names and "Neck1" not in names:
        return "mixamo"
    if "LeftForeArm" in names and "Neck1" in names:
        return "cmu"
    if "LeftElbow" in names and "LeftKnee" in names:
        return "biovision"
    raise KineticGanError(
        "retarget: unknown skeleton (expected Mixamo, CMU, Biovision/MocapBank or DeepMimic "
        f"joint names), got {sorted(names)[:8]}..."
    )


def retarget(positions: np.ndarray, joint_names: Sequence[str], rig: str = "auto") -> np.ndarray:
    """(F, J, 3) source positions → (F, 25, 3) NTU joints, still in the source's axes."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (len(joint_names), 3):
        raise KineticGanError(
            f"retarget: positions must be (frames, {len(joint_names)}, 3), got {positions.shape}"
        )
    rig = detect_rig(joint_names) if rig == "auto" else rig
    if rig not in RIGS:
        raise KineticGanError(f"retarget: unknown rig {rig!r} (known: {', '.join(RIGS)})")
    table = RIGS[rig]
    index = {strip_namespace(n): i for i, n in enumerate(joint_names)}
    forward = _torso_forward(positions, index, table)
    out = np.empty((len(positions), len(NTU_JOINTS), 3))
    for joint in NTU_JOINTS:
        point = _resolve(table[joint], positions, index, forward)
        if point is None:
            raise KineticGanError(f"retarget ({rig}): the source has no joints to make {joint}")
        out[:, _J[joint]] = point
    return out


def _resolve(rule: Rule, positions: np.ndarray, index: dict[str, int],
             forward: np.ndarray | None) -> np.ndarray | None:
    if isinstance(rule, str):
        return positions[:, index[rule]] if rule in index else None
    if isinstance(rule, list):
        for option in rule:
            point = _resolve(option, positions, index, forward)
            if point is not None:
                return point
        return None
    kind = rule[0]
    if kind == "lerp":
        a, b = (_resolve(r, positions, index, forward) for r in rule[1:3])
        return None if a is None or b is None else a + rule[3] * (b - a)
    if kind == "front":
        base = _resolve(rule[1], positions, index, forward)
        return None if base is None or forward is None else base + rule[2] * forward
    raise KineticGanError(f"retarget: bad rule {rule!r}")


def _torso_forward(positions: np.ndarray, index: dict[str, int],
                   table: dict[str, Rule]) -> np.ndarray | None:
    """Per-frame unit vector the torso faces: (right − left hip) × (spine up)."""
    parts = [_resolve(table[j], positions, index, None)
             for j in ("HipLeft", "HipRight", "SpineBase", "SpineShoulder")]
    if any(p is None for p in parts):
        return None
    hip_l, hip_r, base, top = parts
    right, up = hip_r - hip_l, top - base
    forward = np.cross(up, right)  # right-handed: up × right points where the body faces
    norm = np.linalg.norm(forward, axis=-1, keepdims=True)
    return forward / np.maximum(norm, 1e-9)


def facing_yaw(joints: np.ndarray) -> float:
    """Yaw (radians about +Y) of the body's right-hand direction at a frame (25, 3)."""
    right = (joints[_J["HipRight"]] - joints[_J["HipLeft"]]
             + joints[_J["ShoulderRight"]] - joints[_J["ShoulderLeft"]])
    return float(np.arctan2(-right[2], right[0]))  # angle from +X towards −Z


def yaw_matrix(angle: float) -> np.ndarray:
    """Rotation about +Y by ``angle`` (right-handed: +X turns towards −Z)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def to_dataset_frame(joints: np.ndarray, axes: str | np.ndarray = "y_up",
                     floor: str = "lowest", origin: str = "first") -> np.ndarray:
    """(T, 25, 3) NTU joints in source axes → our dataset frame (see module docstring).

    ``floor="keep"`` keeps the source's y = 0 (DeepMimic simulates on a floor at y = 0);
    ``"lowest"`` puts the lowest joint of the whole take on y = 0. ``origin="first"`` puts
    the pelvis of the first frame over the origin, ``"mean"`` the pelvis' mean position over
    the take (a travelling take then spans the least room around the origin).
    """
    matrix = SOURCE_AXES[axes] if isinstance(axes, str) else np.asarray(axes)
    if abs(np.linalg.det(matrix) - 1.0) > 1e-6:
        raise KineticGanError("to_dataset_frame: source axes must be a proper rotation")
    out = np.asarray(joints, dtype=np.float64) @ matrix.T
    # turn about Y so the body's right points to +X at frame 0, i.e. it faces −Z
    out = out @ yaw_matrix(-facing_yaw(out[0])).T
    if origin == "first":
        out[..., [0, 2]] -= out[0, _J["SpineBase"], [0, 2]]
    elif origin == "mean":
        out[..., [0, 2]] -= out[:, _J["SpineBase"], [0, 2]].mean(axis=0)
    else:
        raise KineticGanError(f"to_dataset_frame: origin must be 'first' or 'mean', got {origin!r}")
    if floor == "lowest":  # feet for a stand, knees for a kneel, the back for a lie
        out[..., 1] -= out[..., 1].min()
    elif floor != "keep":
        raise KineticGanError(f"to_dataset_frame: floor must be 'keep' or 'lowest', got {floor!r}")
    return out


def bvh_to_ntu(motion: BvhMotion, rig: str = "auto", fps: float | None = 30.0,
               scale: float | str = "auto", axes: str | np.ndarray = "y_up") -> np.ndarray:
    """A BVH take → (T, 25, 3) NTU joints in metres in our dataset frame, floor at y = 0.

    ``scale``: metres per file unit, or ``"auto"`` (centimetres when the first frame stands
    taller than 20 units — Mixamo, MocapBank — else metres). ``fps``: resample the take
    (linear interpolation of positions) or ``None`` to keep the file's rate.
    """
    positions = motion.world_positions()
    if scale == "auto":
        height = float(np.ptp(positions[0, :, 1] if axes == "y_up" else positions[0, :, 2]))
        scale = 0.01 if height > 20.0 else 1.0
    joints = retarget(positions * float(scale), motion.names, rig)
    if fps is not None and abs(fps - motion.fps) > 1e-3 * fps:
        joints = resample(joints, motion.fps, fps)
    return to_dataset_frame(joints, axes=axes, floor="lowest")


def resample(joints: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """(T, V, C) at ``fps_in`` → the same time span at ``fps_out`` (linear interpolation)."""
    duration = (len(joints) - 1) / fps_in
    times = np.arange(int(np.floor(duration * fps_out + 1e-9)) + 1) / fps_out
    src = times * fps_in
    lo = np.minimum(np.floor(src).astype(int), len(joints) - 1)
    hi = np.minimum(lo + 1, len(joints) - 1)
    w = (src - lo)[:, None, None]
    return (1 - w) * joints[lo] + w * joints[hi]
