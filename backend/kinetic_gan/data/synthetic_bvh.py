"""A procedural performer as BVH, in each naming family: for tests and benchmarks.

Real motion capture in installed packages comes with licences we cannot extend, so tests
and ``benchmarks/bvh_build.py`` write their own takes: one body (an adult of 1.78 m in a
T-pose, facing +Z with its left side at +X, as BVH files usually are), the skeleton of a
family (``mixamo``, ``cmu``, ``biovision``, ``rigify``) placed on it, and three actions made
of rotation channels — ``walk`` (travels, legs and arms swing), ``wave`` (the right arm up,
the forearm waving) and ``squat`` (hips and knees bend, the pelvis drops). A take number
varies speed, amplitude and phase a little, so takes of one action differ. Any frame rate,
units and up axis (the channels are turned with the axes, so the motion is the same).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from kinetic_gan.data.bvh import BvhJoint, BvhMotion
from kinetic_gan.data.bvh_writer import depth_first_order
from kinetic_gan.data.source_frame import UNITS, UP_AXES
from kinetic_gan.errors import KineticGanError

ACTIONS = ("walk", "wave", "squat")

# Points of the body in metres: Y up, facing +Z, left at +X (left-side points; right = −x).
POINTS: dict[str, tuple[float, float, float]] = {
    "hips": (0.0, 0.95, 0.0), "spine_low": (0.0, 1.05, -0.01), "spine_mid": (0.0, 1.18, -0.02),
    "chest": (0.0, 1.32, -0.02), "neck": (0.0, 1.48, -0.01), "neck_mid": (0.0, 1.54, 0.0),
    "head": (0.0, 1.60, 0.01), "head_top": (0.0, 1.78, 0.01),
    "collar": (0.03, 1.44, 0.0), "shoulder": (0.18, 1.44, -0.01), "upper_mid": (0.32, 1.44, -0.01),
    "elbow": (0.46, 1.44, -0.01), "fore_mid": (0.585, 1.44, -0.01), "wrist": (0.71, 1.44, 0.0),
    "knuckle": (0.80, 1.44, 0.0), "finger_mid": (0.845, 1.44, 0.0), "finger_tip": (0.89, 1.44, 0.0),
    "thumb_base": (0.73, 1.43, 0.03), "thumb_tip": (0.78, 1.43, 0.06),
    "hip": (0.09, 0.92, 0.0), "thigh_mid": (0.09, 0.71, 0.0), "knee": (0.09, 0.50, 0.01),
    "shin_mid": (0.09, 0.29, 0.0), "ankle": (0.09, 0.08, -0.02), "toe": (0.09, 0.02, 0.11),
    "toe_end": (0.09, 0.02, 0.18),
}

END = None  # an End Site (named ``<parent>_end`` when read back)

# (name, parent, point); ``{S}`` Left/Right, ``{s}`` L/R: one entry per side.
_MIXAMO = [
    ("Hips", "", "hips"), ("Spine", "Hips", "spine_low"), ("Spine1", "Spine", "spine_mid"),
    ("Spine2", "Spine1", "chest"), ("Neck", "Spine2", "neck"), ("Head", "Neck", "head"),
    ("HeadTop_End", "Head", "head_top"),
    ("{S}Shoulder", "Spine2", "collar"), ("{S}Arm", "{S}Shoulder", "shoulder"),
    ("{S}ForeArm", "{S}Arm", "elbow"), ("{S}Hand", "{S}ForeArm", "wrist"),
    ("{S}HandThumb1", "{S}Hand", "thumb_base"), ("{S}HandThumb4", "{S}HandThumb1", "thumb_tip"),
    ("{S}HandMiddle1", "{S}Hand", "knuckle"), ("{S}HandMiddle4", "{S}HandMiddle1", "finger_tip"),
    ("{S}UpLeg", "Hips", "hip"), ("{S}Leg", "{S}UpLeg", "knee"), ("{S}Foot", "{S}Leg", "ankle"),
    ("{S}ToeBase", "{S}Foot", "toe"), ("{S}Toe_End", "{S}ToeBase", "toe_end"),
]
_CMU = [
    ("Hips", "", "hips"), ("LowerBack", "Hips", "hips"), ("Spine", "LowerBack", "spine_mid"),
    ("Spine1", "Spine", "chest"), ("Neck", "Spine1", "neck"), ("Neck1", "Neck", "neck_mid"),
    ("Head", "Neck1", "head"), (END, "Head", "head_top"),
    ("{S}Shoulder", "Spine1", "collar"), ("{S}Arm", "{S}Shoulder", "shoulder"),
    ("{S}ForeArm", "{S}Arm", "elbow"), ("{S}Hand", "{S}ForeArm", "wrist"),
    ("{S}FingerBase", "{S}Hand", "knuckle"), ("{S}HandIndex1", "{S}FingerBase", "finger_mid"),
    (END, "{S}HandIndex1", "finger_tip"), ("{s}Thumb", "{S}Hand", "thumb_base"),
    (END, "{s}Thumb", "thumb_tip"),
    ("{s}HipJoint", "Hips", "hips"), ("{S}UpLeg", "{s}HipJoint", "hip"),
    ("{S}Leg", "{S}UpLeg", "knee"), ("{S}Foot", "{S}Leg", "ankle"),
    ("{S}ToeBase", "{S}Foot", "toe"), (END, "{S}ToeBase", "toe_end"),
]
_BIOVISION = [
    ("Hips", "", "hips"), ("Chest", "Hips", "spine_mid"), ("Chest2", "Chest", "chest"),
    ("Neck", "Chest2", "neck"), ("Head", "Neck", "head"), (END, "Head", "head_top"),
    ("{S}Collar", "Chest2", "collar"), ("{S}Shoulder", "{S}Collar", "shoulder"),
    ("{S}Elbow", "{S}Shoulder", "elbow"), ("{S}Wrist", "{S}Elbow", "wrist"),
    (END, "{S}Wrist", "finger_tip"),
    ("{S}Hip", "Hips", "hip"), ("{S}Knee", "{S}Hip", "knee"), ("{S}Ankle", "{S}Knee", "ankle"),
    (END, "{S}Ankle", "toe"),
]
_RIGIFY = [
    ("DEF-spine", "", "hips"), ("DEF-spine.001", "DEF-spine", "spine_low"),
    ("DEF-spine.002", "DEF-spine.001", "spine_mid"), ("DEF-spine.003", "DEF-spine.002", "chest"),
    ("DEF-spine.004", "DEF-spine.003", "neck"), ("DEF-spine.005", "DEF-spine.004", "neck_mid"),
    ("DEF-spine.006", "DEF-spine.005", "head"), (END, "DEF-spine.006", "head_top"),
    ("DEF-shoulder.{s}", "DEF-spine.003", "collar"),
    ("DEF-upper_arm.{s}", "DEF-shoulder.{s}", "shoulder"),
    ("DEF-upper_arm.{s}.001", "DEF-upper_arm.{s}", "upper_mid"),
    ("DEF-forearm.{s}", "DEF-upper_arm.{s}.001", "elbow"),
    ("DEF-forearm.{s}.001", "DEF-forearm.{s}", "fore_mid"),
    ("DEF-hand.{s}", "DEF-forearm.{s}.001", "wrist"),
    ("DEF-f_middle.01.{s}", "DEF-hand.{s}", "knuckle"), (END, "DEF-f_middle.01.{s}", "finger_tip"),
    ("DEF-thumb.01.{s}", "DEF-hand.{s}", "thumb_base"), (END, "DEF-thumb.01.{s}", "thumb_tip"),
    ("DEF-thigh.{s}", "DEF-spine", "hip"), ("DEF-thigh.{s}.001", "DEF-thigh.{s}", "thigh_mid"),
    ("DEF-shin.{s}", "DEF-thigh.{s}.001", "knee"), ("DEF-shin.{s}.001", "DEF-shin.{s}", "shin_mid"),
    ("DEF-foot.{s}", "DEF-shin.{s}.001", "ankle"), ("DEF-toe.{s}", "DEF-foot.{s}", "toe"),
    (END, "DEF-toe.{s}", "toe_end"),
]
SKELETONS = {"mixamo": _MIXAMO, "cmu": _CMU, "biovision": _BIOVISION, "rigify": _RIGIFY}

_ROTATION = ("Zrotation", "Xrotation", "Yrotation")  # R = Rz · Rx · Ry, as most files
_ROLES = ("spine_mid", "shoulder", "elbow", "hip", "knee")  # points whose joints move


def _point(key: str, side: str) -> np.ndarray:
    x, y, z = POINTS[key]
    return np.array([-x if side == "Right" else x, y, z])


def _entries(family: str) -> list[tuple[str | None, str, str, str]]:
    """(name or END, parent name, point, side) with the side templates filled in."""
    try:
        table = SKELETONS[family]
    except KeyError:
        raise KineticGanError(f"synthetic BVH: unknown family {family!r} "
                              f"(known: {', '.join(SKELETONS)})") from None
    out = []
    for name, parent, point in table:
        templated = "{" in (name or "") + parent
        for side in (("Left", "Right") if templated else ("",)):
            def fill(text: str, side: str = side) -> str:
                return text.replace("{S}", side).replace("{s}", side[:1])
            out.append((fill(name) if name else END, fill(parent), point, side))
    return out


def _angles(action: str, t: np.ndarray, take: int) -> Callable[[str, str], np.ndarray]:
    """(point, side) → (F, 3) Z, X, Y rotation channels in degrees for that action."""
    speed = 1.0 + 0.06 * ((take % 5) - 2)
    amp = 1.0 + 0.08 * ((take * 3 % 5) - 2)
    w = 2 * np.pi * 0.9 * speed * t + 0.37 * take
    zeros = np.zeros_like(t)
    squat = 45.0 * amp * (1 - np.cos(2 * np.pi * 0.4 * speed * t + 0.2 * take))

    def walk(point: str, sign: float) -> tuple:
        return {"hip": (zeros, -25 * amp * sign * np.sin(w), zeros),
                "knee": (zeros, 5 + 30 * amp * (1 - np.cos(w + sign * np.pi / 2)) / 2, zeros),
                "shoulder": (-75 * sign + zeros, 20 * amp * sign * np.sin(w), zeros),
                "elbow": (zeros, zeros, 15 * sign + zeros),
                "spine_mid": (zeros, zeros, 5 * np.sin(w))}.get(point, (zeros,) * 3)

    def wave(point: str, sign: float) -> tuple:
        raised = sign < 0  # the right arm
        return {"shoulder": ((-80.0 if raised else -75.0) + zeros, zeros, zeros),
                "elbow": (zeros, zeros, (25 + 30 * np.sin(2 * np.pi * 1.5 * speed * t + take))
                          if raised else 10 + zeros),
                "spine_mid": (zeros, zeros, 3 * np.sin(w))}.get(point, (zeros,) * 3)

    def crouch(point: str, sign: float) -> tuple:
        return {"hip": (zeros, -squat, zeros), "knee": (zeros, 2 * squat, zeros),
                "shoulder": (-75 * sign + zeros, -0.8 * squat, zeros),
                "spine_mid": (zeros, 0.3 * squat, zeros)}.get(point, (zeros,) * 3)

    moves = {"walk": walk, "wave": wave, "squat": crouch}
    if action not in moves:
        raise KineticGanError(f"synthetic BVH: unknown action {action!r} (known: {ACTIONS})")

    def channels(point: str, side: str) -> np.ndarray:
        return np.stack(moves[action](point, -1.0 if side == "Right" else 1.0), axis=1)

    channels.root = _root(action, t, speed, amp, w, squat)  # type: ignore[attr-defined]
    return channels


def _root(action: str, t, speed, amp, w, squat) -> np.ndarray:
    """(F, 6) root channels: X, Y, Z position (metres) then Z, X, Y rotation (degrees)."""
    zeros = np.zeros_like(t)
    if action == "walk":
        pos = (0.1 * np.sin(0.2 * t), 0.95 + 0.02 * np.cos(2 * w), 1.1 * speed * t)
        rot = (zeros, zeros, 8 * np.sin(0.25 * t))
    elif action == "squat":
        drop = 0.84 * (1 - np.cos(np.deg2rad(squat)))
        pos, rot = (zeros, 0.95 - drop, zeros), (zeros, 0.2 * squat, zeros)
    else:
        pos, rot = (zeros, 0.95 + zeros, zeros), (zeros, zeros, 4 * np.sin(0.5 * t))
    return np.stack([*pos, *rot], axis=1)


def performer(family: str, action: str = "walk", take: int = 0, fps: float = 30.0,
              seconds: float = 4.0, units: str = "m", up: str = "+y") -> BvhMotion:
    """A take of ``action`` by the procedural performer with ``family``'s skeleton."""
    entries = _entries(family)
    index = {name: k for k, (name, *_rest) in enumerate(entries) if name}
    parents = [index[p] if p else -1 for _, p, _, _ in entries]
    t = np.arange(round(seconds * fps)) / fps
    angles = _angles(action, t, take)
    joints, columns = [], []
    for k in depth_first_order(parents):
        name, parent, point, side = entries[k]
        here = _point(point, side)
        # the root's place is all in its position channels
        base = _point(entries[parents[k]][2], entries[parents[k]][3]) if parent else here
        offset = tuple(float(v) for v in here - base)
        if name is END:
            joints.append((k, f"{parent}_end", offset, (), True))
            continue
        if not parent:
            channels = ("Xposition", "Yposition", "Zposition", *_ROTATION)
            columns.append(angles.root)  # type: ignore[attr-defined]
        else:
            channels = _ROTATION
            moving = point in _ROLES
            columns.append(angles(point, side) if moving else np.zeros((len(t), 3)))
        joints.append((k, name, offset, channels, False))
    new = {k: i for i, (k, *_rest) in enumerate(joints)}
    bvh_joints = tuple(BvhJoint(name, new[parents[k]] if parents[k] >= 0 else -1, offset,
                                channels, end) for k, name, offset, channels, end in joints)
    motion = BvhMotion(bvh_joints, 1.0 / fps, np.concatenate(columns, axis=1))
    return reoriented(motion, units, up)


def reoriented(motion: BvhMotion, units: str = "m", up: str = "+y") -> BvhMotion:
    """A Y-up metres motion in other units and with another up axis, moving the same way.

    The file axes are ``file = Mᵀ · dataset`` (M: ``UP_AXES[up]``, a signed permutation);
    a rotation about dataset axis a by θ is one about file axis Mᵀa: the same axis letter's
    image, the angle's sign flipped where Mᵀ flips it.
    """
    to_file = UP_AXES[up].T
    scale = 1.0 / UNITS[units]
    axis_of = {a: (int(np.argmax(np.abs(to_file[:, i]))),
                   float(np.sign(to_file[np.argmax(np.abs(to_file[:, i])), i])))
               for i, a in enumerate("XYZ")}
    joints, col, columns = [], 0, []
    for joint in motion.joints:
        offset = tuple(float(v) for v in to_file @ np.asarray(joint.offset) * scale)
        channels = []
        for channel in joint.channels:
            target, sign = axis_of[channel[0]]
            values = motion.motion[:, col] * sign
            if channel.endswith("position"):
                values = values * scale
            channels.append("XYZ"[target] + channel[1:])
            columns.append(values)
            col += 1
        joints.append(BvhJoint(joint.name, joint.parent, offset, tuple(channels), joint.end_site))
    return BvhMotion(tuple(joints), motion.frame_time, np.stack(columns, axis=1))


FAMILY_ORDER = ("mixamo", "cmu", "biovision", "rigify")


def write_corpus(root: str | Path, actions: tuple[str, ...] = ACTIONS, takes: int = 4,
                 seconds: float = 4.0, fps: tuple[float, ...] = (30.0, 60.0, 120.0, 24.0),
                 ) -> list[Path]:
    """``root/<action>/take<k>_<family>.bvh``: every family, units and up axis in turn.

    Take k of action a uses family (a + k) mod 4, fps[k mod len(fps)], centimetres for odd
    k and Z up for k mod 4 in (2, 3); Mixamo files carry the ``mixamorig:`` namespace.
    """
    from kinetic_gan.data.bvh_writer import format_bvh

    paths = []
    for a, action in enumerate(actions):
        for k in range(takes):
            family = FAMILY_ORDER[(a + k) % len(FAMILY_ORDER)]
            motion = performer(family, action, k, fps=fps[k % len(fps)],
                               seconds=seconds + 0.5 * k, units="cm" if k % 2 else "m",
                               up="+z" if k % 4 >= 2 else "+y")
            text = format_bvh(motion, decimals=5)
            if family == "mixamo":
                text = text.replace("ROOT ", "ROOT mixamorig:")
                text = text.replace("JOINT ", "JOINT mixamorig:")
            path = Path(root) / action / f"take{k}_{family}.bvh"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            paths.append(path)
    return paths
