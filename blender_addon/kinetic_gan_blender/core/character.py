"""The built-in character as plain data: rest joints, bones, and the shapes of its body.

Blender frame (Z up, facing −Y, the character's left is +X), metres, a 1.75 m adult in a
relaxed A-pose (arms 50° below horizontal, which skins better than a T-pose). Bone names
are the canonical ones, so the "default" bone map is the identity. ``rig.py`` turns this
into an armature and a skinned mesh; tests use it without Blender.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .vectors import normalize

_LEFT_JOINTS = {
    "Shoulder": (0.18, 0.0, 1.42),
    "Elbow": (0.36, 0.0, 1.206),
    "Wrist": (0.527, 0.0, 1.007),
    "Hand": (0.572, 0.0, 0.953),
    "HandTip": (0.623, -0.005, 0.892),
    "Thumb": (0.565, -0.05, 0.95),
    "Hip": (0.09, 0.0, 0.93),
    "Knee": (0.095, -0.01, 0.50),
    "Ankle": (0.10, 0.01, 0.085),
    "Foot": (0.11, -0.14, 0.025),
}

REST_JOINTS: dict[str, tuple[float, float, float]] = {
    "SpineBase": (0.0, 0.0, 0.98),
    "SpineMid": (0.0, 0.01, 1.22),
    "SpineShoulder": (0.0, 0.0, 1.45),
    "Neck": (0.0, -0.005, 1.53),
    "Head": (0.0, -0.015, 1.66),
    **{f"{k}Left": v for k, v in _LEFT_JOINTS.items()},
    **{f"{k}Right": (-v[0], v[1], v[2]) for k, v in _LEFT_JOINTS.items()},
}

FORWARD = (0.0, -1.0, 0.0)
UP = (0.0, 0.0, 1.0)


@dataclass(frozen=True)
class BoneSpec:
    name: str
    head: str  # joint name, or "floor" for the root
    tail: str
    parent: str | None
    z_hint: tuple[float, float, float]  # the bone's local Z points this way (its roll)


def _limb_bones(s: str) -> list[BoneSpec]:
    side = "Left" if s == "L" else "Right"
    return [
        BoneSpec(f"pelvis.{s}", "SpineBase", f"Hip{side}", "hips", FORWARD),
        BoneSpec(f"thigh.{s}", f"Hip{side}", f"Knee{side}", f"pelvis.{s}", FORWARD),
        BoneSpec(f"shin.{s}", f"Knee{side}", f"Ankle{side}", f"thigh.{s}", FORWARD),
        BoneSpec(f"foot.{s}", f"Ankle{side}", f"Foot{side}", f"shin.{s}", UP),
        BoneSpec(f"shoulder.{s}", "SpineShoulder", f"Shoulder{side}", "spine", FORWARD),
        BoneSpec(f"upper_arm.{s}", f"Shoulder{side}", f"Elbow{side}", f"shoulder.{s}", FORWARD),
        BoneSpec(f"forearm.{s}", f"Elbow{side}", f"Wrist{side}", f"upper_arm.{s}", FORWARD),
        BoneSpec(f"hand.{s}", f"Wrist{side}", f"Hand{side}", f"forearm.{s}", FORWARD),
        BoneSpec(f"fingers.{s}", f"Hand{side}", f"HandTip{side}", f"hand.{s}", FORWARD),
        BoneSpec(f"thumb.{s}", f"Hand{side}", f"Thumb{side}", f"hand.{s}", UP),
    ]


# Parents first. "root" sits on the floor and is never keyed: it lets artists move a take.
BONES: tuple[BoneSpec, ...] = (
    BoneSpec("root", "floor", "floor_back", None, UP),
    BoneSpec("hips", "SpineBase", "SpineMid", "root", FORWARD),
    BoneSpec("spine", "SpineMid", "SpineShoulder", "hips", FORWARD),
    BoneSpec("neck", "SpineShoulder", "Neck", "spine", FORWARD),
    BoneSpec("head", "Neck", "Head", "neck", FORWARD),
    *_limb_bones("L"),
    *_limb_bones("R"),
)

_EXTRA_POINTS = {"floor": (0.0, 0.0, 0.0), "floor_back": (0.0, 0.3, 0.0)}


def point(name: str) -> np.ndarray:
    return np.asarray(REST_JOINTS.get(name) or _EXTRA_POINTS[name], dtype=np.float64)


def bone_matrix(head: np.ndarray, tail: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """Rest rotation (columns = the bone's X, Y, Z axes): Y along the bone, Z towards ``z_hint``.

    The same frame Blender gives an edit bone after ``align_roll(z_hint)``.
    """
    y, _ = normalize(tail - head)
    z, _ = normalize(z_hint - np.dot(z_hint, y) * y)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=1)


@dataclass(frozen=True)
class Shape:
    """One capsule of the body: skinned rigidly to ``bone``."""

    bone: str
    start: tuple[str, str, float]  # point = lerp(joint a, joint b, t)
    end: tuple[str, str, float]
    radii: tuple[float, float]
    depth: float  # radius along the bone's Z, relative to the X radius
    material: str


def _seg(a: str, b: str, t0: float = 0.0, t1: float = 1.0) -> tuple[tuple, tuple]:
    return (a, b, t0), (a, b, t1)


def _limb_shapes(s: str) -> list[Shape]:
    side = "Left" if s == "L" else "Right"

    def j(name: str) -> str:
        return f"{name}{side}"

    return [
        Shape(f"thigh.{s}", *_seg(j("Hip"), j("Knee"), 0.0, 0.97), (0.080, 0.055), 1.0, "trousers"),
        Shape(
            f"shin.{s}", *_seg(j("Knee"), j("Ankle"), 0.03, 1.0), (0.054, 0.040), 1.0, "trousers"
        ),
        Shape(f"foot.{s}", *_seg(j("Ankle"), j("Foot"), -0.15, 1.05), (0.045, 0.035), 0.6, "shoes"),
        Shape(
            f"shoulder.{s}",
            *_seg("SpineShoulder", j("Shoulder"), 0.35, 1.0),
            (0.06, 0.055),
            0.8,
            "shirt",
        ),
        Shape(
            f"upper_arm.{s}",
            *_seg(j("Shoulder"), j("Elbow"), 0.05, 0.97),
            (0.048, 0.040),
            1.0,
            "shirt",
        ),
        Shape(
            f"forearm.{s}", *_seg(j("Elbow"), j("Wrist"), 0.03, 1.0), (0.038, 0.030), 1.0, "skin"
        ),
        Shape(f"hand.{s}", *_seg(j("Wrist"), j("Hand"), 0.1, 1.0), (0.030, 0.036), 0.55, "skin"),
        Shape(
            f"fingers.{s}", *_seg(j("Hand"), j("HandTip"), 0.1, 0.85), (0.032, 0.022), 0.5, "skin"
        ),
        Shape(f"thumb.{s}", *_seg(j("Hand"), j("Thumb"), 0.2, 0.9), (0.013, 0.011), 1.0, "skin"),
    ]


SHAPES: tuple[Shape, ...] = (
    Shape("hips", *_seg("SpineBase", "SpineMid", -0.25, 0.8), (0.15, 0.14), 0.7, "trousers"),
    Shape("spine", *_seg("SpineMid", "SpineShoulder", 0.0, 0.95), (0.14, 0.16), 0.62, "shirt"),
    Shape("neck", *_seg("SpineShoulder", "Neck", 0.3, 1.2), (0.045, 0.045), 1.0, "skin"),
    Shape("head", *_seg("Neck", "Head", 0.9, 1.45), (0.095, 0.09), 1.1, "skin"),
    *_limb_shapes("L"),
    *_limb_shapes("R"),
)

MATERIALS: dict[str, tuple[float, float, float, float]] = {
    "skin": (0.80, 0.60, 0.48, 1.0),
    "shirt": (0.20, 0.42, 0.70, 1.0),
    "trousers": (0.16, 0.17, 0.22, 1.0),
    "shoes": (0.35, 0.22, 0.14, 1.0),
}


def rest_bones() -> tuple[list[str], list[int], np.ndarray, np.ndarray, np.ndarray]:
    """Names, parent indices, heads (B, 3), tails (B, 3) and rest matrices (B, 3, 3)."""
    names = [b.name for b in BONES]
    parents = [names.index(b.parent) if b.parent else -1 for b in BONES]
    heads = np.stack([point(b.head) for b in BONES])
    tails = np.stack([point(b.tail) for b in BONES])
    mats = np.stack(
        [
            bone_matrix(h, t, np.asarray(b.z_hint))
            for b, h, t in zip(BONES, heads, tails, strict=True)
        ]
    )
    return names, parents, heads, tails, mats
