"""The canonical body: joint names, and which joints drive which bone (plain data).

Retargeting works on *canonical bones* (``hips``, ``upper_arm.L`` …). Each one is aimed
from a head joint at a tail joint, and twisted about that axis by *references*: the first
usable one wins, weighted by how well it is defined in the frame (a straight arm has no
elbow plane, so the hand's thumb takes over). A bone map (``bone_map.py``) says which rig
bone plays each canonical bone.

Joint names are NTU RGB+D's; Human3.6M names are aliases of the same joints. The server's
``info`` sends joint names and we match by name.
"""

from __future__ import annotations

from dataclasses import dataclass

# NTU RGB+D's 25 joints and their tree (what the backend sends for the "ntu" skeleton) are
# the backend's own tables, bundled in vendor/ by the build; the body's users take them here.
from ..vendor.records.joint_tables import NTU_JOINTS, NTU_PARENTS  # noqa: F401

# Other skeletons' joint names -> the NTU joint at the same place on the body.
JOINT_ALIASES = {
    # Human3.6M, 16 joints of the published code ("Foot" is the ankle there).
    "Hip": "SpineBase", "Spine": "SpineMid", "Thorax": "SpineShoulder",
    "LeftHip": "HipLeft", "LeftKnee": "KneeLeft", "LeftFoot": "AnkleLeft",
    "RightHip": "HipRight", "RightKnee": "KneeRight", "RightFoot": "AnkleRight",
    "LeftShoulder": "ShoulderLeft", "LeftElbow": "ElbowLeft", "LeftWrist": "WristLeft",
    "RightShoulder": "ShoulderRight", "RightElbow": "ElbowRight", "RightWrist": "WristRight",
}

# Directions of the body in its rest pose, named so references can say where they point.
BODY_AXES = ("left", "right", "up", "down", "forward", "back")


@dataclass(frozen=True)
class Reference:
    """What fixes a bone's twist about its own axis.

    ``joints`` of length 2: the vector from the first joint to the second. Length 3: the
    normal of the plane through them, ``(b - a) × (c - b)`` (a limb's hinge axis).
    ``rest``: where that vector points on a rig in rest pose, as a body axis; for a plane,
    the direction the limb bends towards (the normal is then ``bone × rest``).
    """

    joints: tuple[str, ...]
    rest: str

    @property
    def is_plane(self) -> bool:
        return len(self.joints) == 3


@dataclass(frozen=True)
class CanonicalBone:
    name: str
    head: tuple[str, ...]  # joint(s) at the bone's head, first present one used
    tail: str
    references: tuple[Reference, ...] = ()

    @property
    def side(self) -> str:
        return "L" if self.name.endswith(".L") else "R" if self.name.endswith(".R") else ""


def _side(suffix: str, word: str) -> dict[str, str]:
    """Joint names of one body side (NTU spells the side as a suffix)."""
    side = "Left" if suffix == "L" else "Right"
    return {j: f"{j}{side}" for j in word.split()}


def _limbs(s: str) -> tuple[CanonicalBone, ...]:
    j = _side(s, "Hip Knee Ankle Foot Shoulder Elbow Wrist Hand HandTip Thumb")
    knee_plane = Reference((j["Hip"], j["Knee"], j["Ankle"]), "back")
    toes = Reference((j["Ankle"], j["Foot"]), "forward")
    elbow_plane = Reference((j["Shoulder"], j["Elbow"], j["Wrist"]), "forward")
    thumb = Reference((j["Hand"], j["Thumb"]), "forward")
    return (
        CanonicalBone(
            f"pelvis.{s}", ("SpineBase",), j["Hip"], (Reference(("SpineBase", "SpineMid"), "up"),)
        ),
        CanonicalBone(f"thigh.{s}", (j["Hip"],), j["Knee"], (knee_plane, toes)),
        CanonicalBone(f"shin.{s}", (j["Knee"],), j["Ankle"], (knee_plane, toes)),
        CanonicalBone(
            f"foot.{s}", (j["Ankle"],), j["Foot"], (Reference((j["Ankle"], j["Knee"]), "up"),)
        ),
        CanonicalBone(
            f"shoulder.{s}",
            ("SpineShoulder",),
            j["Shoulder"],
            (Reference(("SpineMid", "SpineShoulder"), "up"),),
        ),
        CanonicalBone(f"upper_arm.{s}", (j["Shoulder"],), j["Elbow"], (elbow_plane, thumb)),
        CanonicalBone(f"forearm.{s}", (j["Elbow"],), j["Wrist"], (elbow_plane, thumb)),
        CanonicalBone(f"hand.{s}", (j["Wrist"],), j["Hand"], (thumb,)),
        CanonicalBone(f"fingers.{s}", (j["Hand"],), j["HandTip"], (thumb,)),
        CanonicalBone(f"thumb.{s}", (j["Hand"],), j["Thumb"]),
    )


_HIPS_SIDE = Reference(("HipRight", "HipLeft"), "left")
_SHOULDERS_SIDE = Reference(("ShoulderRight", "ShoulderLeft"), "left")

# Parents before children: the order retargeting visits them in.
CANONICAL_BONES: tuple[CanonicalBone, ...] = (
    CanonicalBone("hips", ("SpineBase",), "SpineMid", (_HIPS_SIDE,)),
    CanonicalBone("spine", ("SpineMid",), "SpineShoulder", (_SHOULDERS_SIDE, _HIPS_SIDE)),
    CanonicalBone("neck", ("SpineShoulder",), "Neck", (_SHOULDERS_SIDE,)),
    CanonicalBone("head", ("Neck", "SpineShoulder"), "Head", (_SHOULDERS_SIDE,)),
    *_limbs("L"),
    *_limbs("R"),
)
CANONICAL_BY_NAME = {b.name: b for b in CANONICAL_BONES}
ROOT_BONE = "hips"

# The joints whose lowest point touches the floor when a person stands.
FOOT_JOINTS = ("FootLeft", "FootRight", "AnkleLeft", "AnkleRight")


def canonical_joint_indices(joint_names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Map NTU joint names to indices in ``joint_names`` (aliases resolved, unknowns ignored)."""
    indices: dict[str, int] = {}
    for i, name in enumerate(joint_names):
        canonical = name if name in NTU_JOINTS else JOINT_ALIASES.get(name)
        if canonical is not None and canonical not in indices:
            indices[canonical] = i
    return indices


def mirror_name(name: str) -> str:
    """The left/right twin of a joint or canonical bone name (itself when central)."""
    for a, b in (("Left", "Right"), (".L", ".R")):
        if name.endswith(a):
            return name[: -len(a)] + b
        if name.endswith(b):
            return name[: -len(b)] + a
    return name
