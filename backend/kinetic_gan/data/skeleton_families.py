"""Which naming family a BVH skeleton belongs to, and its joints as NTU-25.

A *family* is a rig table in ``to_ntu``'s rule language (a source joint, ``lerp``,
``front``, or a list of options). The families artists meet:

- ``mixamo``: Mixamo and HumanIK (``mixamorig:Hips``, ``Spine1``, ``LeftArm``,
  ``LeftForeArm``, ``HeadTop_End``, fingers ``LeftHandMiddle1``);
- ``cmu``: CMU's BVH conversion and MotionBuilder (``Hips``, ``LowerBack``, ``Neck1``,
  ``LeftUpLeg``, ``LeftLeg``, ``LeftFoot``, ``LeftToeBase``);
- ``biovision``: Biovision / MocapBank, a bone named after the joint it starts at
  (``LeftCollar``, ``LeftShoulder``, ``LeftElbow``, ``LeftHip``, ``LeftKnee``, ``LeftAnkle``);
- ``rigify``: Blender's metarig and Rigify's deform/original bones (``DEF-spine.003``,
  ``DEF-upper_arm.L``, ``ORG-thigh.R``; the prefixes are ignored);
- ``ntu``: our own export (``bvh_writer.joints_motion``), the NTU joint names themselves.

Names are compared without a namespace (``mixamorig:``, ``Armature|``) or a ``DEF-`` /
``ORG-`` prefix. The family chosen is the one that finds the most of the 15 *core* joints
(pelvis, neck base, head, shoulders, elbows, wrists, hips, knees, ankles), ties broken by
the family's own marker names; a skeleton is usable when all 15 are found. The other ten NTU
joints (spine middle, neck, hands, hand tips, thumbs, feet) come from the family's joints
when it has them and are otherwise *derived* from the core ones (``GENERIC``,
docs/data.md). Any other rig maps through a joint map (``load_joint_map``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kinetic_gan.data.to_ntu import BIOVISION, CMU, MIXAMO, Rule, both_sides
from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import NTU_JOINTS

CORE: tuple[str, ...] = (
    "SpineBase", "SpineShoulder", "Head",
    *(f"{j}{s}" for s in ("Left", "Right")
      for j in ("Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")),
)

# Joints a skeleton may lack, made from the core ones (NTU names), in an order where every
# rule's joints come before it. The proportions are those of to_ntu's fallbacks: a hand is
# ≈ 0.65 of the forearm past the wrist, its palm centre 0.3, the thumb 3.5 cm in front of
# the palm, the mid-foot 12 cm in front of the ankle.
GENERIC: dict[str, Rule] = both_sides({
    "SpineMid": ("lerp", "SpineBase", "SpineShoulder", 0.5),
    "Neck": ("lerp", "SpineShoulder", "Head", 0.5),
    "Hand{side}": ("lerp", "Elbow{side}", "Wrist{side}", 1.3),
    "HandTip{side}": ("lerp", "Elbow{side}", "Wrist{side}", 1.65),
    "Thumb{side}": ("front", "Hand{side}", 0.035),
    "Foot{side}": ("front", "Ankle{side}", 0.12),
})

# Rigify / metarig: a bone's head is the joint it starts at (upper_arm at the shoulder);
# spine is the pelvis, spine.003 the chest, spine.004 the neck's base, spine.006 the head.
RIGIFY = both_sides({
    "SpineBase": "spine", "SpineMid": "spine.002", "SpineShoulder": "spine.004",
    "Neck": ["spine.005", ("lerp", "spine.004", "spine.006", 0.5)],
    "Head": [("lerp", "spine.006", "spine.006_end", 0.5), ("lerp", "spine.004", "spine.006", 1.6)],
    "Shoulder{side}": "upper_arm.{s}", "Elbow{side}": "forearm.{s}", "Wrist{side}": "hand.{s}",
    "Hand{side}": ["f_middle.01.{s}", "palm.02.{s}"],
    "HandTip{side}": ["f_middle.03.{s}_end", "f_middle.03.{s}", "f_middle.01.{s}_end"],
    "Thumb{side}": ["thumb.03.{s}_end", "thumb.03.{s}", "thumb.01.{s}_end"],
    "Hip{side}": "thigh.{s}", "Knee{side}": "shin.{s}", "Ankle{side}": "foot.{s}",
    "Foot{side}": ["toe.{s}", "foot.{s}_end"],
})

NTU = {name: name for name in NTU_JOINTS}


@dataclass(frozen=True)
class Family:
    name: str
    title: str
    table: dict[str, Rule]
    markers: tuple[str, ...]  # names only this family uses: they break ties


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("mixamo", "Mixamo / HumanIK", MIXAMO,
           ("HeadTop_End", "Spine2", "LeftHandMiddle1", "LeftHandThumb1", "LeftToe_End")),
    Family("cmu", "CMU BVH / MotionBuilder (Hips, LeftUpLeg, LeftLeg, LeftFoot, LeftToeBase)",
           CMU, ("LowerBack", "Neck1", "LHipJoint", "LeftFingerBase", "LThumb")),
    Family("biovision", "Biovision / MocapBank (bones named after the joint they start at)",
           BIOVISION, ("LeftCollar", "Chest", "Chest2", "LeftHip", "LeftElbow")),
    Family("rigify", "Rigify / metarig (DEF-, ORG- bones)", RIGIFY,
           ("spine.001", "spine.003", "upper_arm.L", "thigh.L", "shin.L")),
    Family("ntu", "Kinetic-GAN export (NTU-25 joint names)", NTU,
           ("SpineShoulder", "HandTipLeft", "ThumbLeft")),
)}

_PREFIXES = ("DEF-", "ORG-")


def canonical(name: str) -> str:
    """A joint name without its namespace (``a:b``, ``a|b``) or Rigify prefix."""
    name = name.rsplit(":", 1)[-1].rsplit("|", 1)[-1]
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


@dataclass(frozen=True)
class JointMapping:
    family: str
    title: str
    table: dict[str, Rule]
    core_found: int
    missing: tuple[str, ...]  # core NTU joints the source cannot make

    @property
    def coverage(self) -> float:
        return self.core_found / len(CORE)

    def describe(self) -> str:
        return f"{self.family} ({self.core_found}/{len(CORE)} core joints)"


def _names_in(rule: Rule) -> list[list[str]]:
    """The alternatives of a rule, each as the source names it needs."""
    if isinstance(rule, str):
        return [[rule]]
    if isinstance(rule, list):
        return [names for option in rule for names in _names_in(option)]
    parts = [r for r in rule[1:] if isinstance(r, str | list | tuple)]
    needs: list[list[str]] = [[]]
    for part in parts:
        needs = [a + b for a in needs for b in _names_in(part)]
    return needs


def _makes(rule: Rule | None, names: set[str]) -> bool:
    return rule is not None and any(all(n in names for n in need) for need in _names_in(rule))


def evaluate_family(family: Family, names: set[str]) -> JointMapping:
    missing = tuple(j for j in CORE if not _makes(family.table.get(j), names))
    return JointMapping(family.name, family.title, family.table, len(CORE) - len(missing),
                        missing)


def choose_mapping(joint_names: Sequence[str]) -> JointMapping:
    """The family that fits ``joint_names`` best; one error naming the closest if none does."""
    names = {canonical(n) for n in joint_names}
    raw = " ".join(joint_names)
    scored = []
    for order, family in enumerate(FAMILIES.values()):
        mapping = evaluate_family(family, names)
        markers = sum(m in names for m in family.markers)
        if family.name == "mixamo" and "mixamorig" in raw:
            markers += len(family.markers)
        scored.append((mapping.core_found, markers, -order, mapping))
    best = max(scored, key=lambda s: s[:3])[3]
    if best.missing:
        raise KineticGanError(
            f"unknown skeleton: closest family {best.family} finds {best.core_found}/"
            f"{len(CORE)} core joints (lacks {', '.join(best.missing[:4])}"
            f"{'…' if len(best.missing) > 4 else ''}); give --joint-map")
    return best


def load_joint_map(path: str | Path) -> JointMapping:
    """A JSON object ``{NTU joint: rule}`` for any other rig (docs/data.md).

    A rule is a joint name, ``["lerp", a, b, t]``, ``["front", a, metres]`` or a list of
    rules (the first the file has is used). The 15 core joints must be given; the others
    are derived when left out.
    """
    where = f"--joint-map {path}"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KineticGanError(f"{where}: not readable JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise KineticGanError(f"{where}: expected an object {{NTU joint: source joint}}")
    unknown = sorted(set(doc) - set(NTU_JOINTS))
    if unknown:
        raise KineticGanError(f"{where}: {unknown[0]!r} is not an NTU-25 joint name "
                              f"(known: {', '.join(NTU_JOINTS[:4])}, …)")
    table = {joint: _json_rule(rule, where, joint) for joint, rule in doc.items()}
    missing = [j for j in CORE if j not in table]
    if missing:
        raise KineticGanError(f"{where}: no rule for the core joints {', '.join(missing)}")
    return JointMapping("joint-map", f"joint map {Path(path).name}", table, len(CORE), ())


def _json_rule(rule: object, where: str, joint: str) -> Rule:
    if isinstance(rule, str):
        return canonical(rule)
    if isinstance(rule, list) and rule and rule[0] in ("lerp", "front"):
        arity = {"lerp": 4, "front": 3}[rule[0]]
        number = rule[-1] if len(rule) == arity else None
        if not isinstance(number, int | float) or isinstance(number, bool):
            raise KineticGanError(f"{where}: {joint}: expected [\"lerp\", a, b, t] or "
                                  f"[\"front\", a, metres], got {rule!r}")
        parts = [_json_rule(r, where, joint) for r in rule[1:-1]]
        return (rule[0], *parts, float(number))
    if isinstance(rule, list) and rule:
        return [_json_rule(r, where, joint) for r in rule]
    raise KineticGanError(f"{where}: {joint}: expected a joint name or a rule, got {rule!r}")


def map_joints(positions: np.ndarray, joint_names: Sequence[str],
               mapping: JointMapping) -> tuple[np.ndarray, tuple[str, ...]]:
    """(F, J, 3) source points → ((F, 25, 3) NTU joints in the source's axes and units,
    the NTU joints that were derived rather than found)."""
    index: dict[str, int] = {}
    for i, name in enumerate(joint_names):
        index.setdefault(canonical(name), i)
    source = _Points(lambda n: positions[:, index[n]] if n in index else None)
    made: dict[str, np.ndarray] = {}
    ntu = _Points(made.get)
    derived = []
    for joint in (*CORE, *GENERIC):
        point, invented = source.resolve(mapping.table.get(joint))
        if point is None and joint in GENERIC:
            point, _ = ntu.resolve(GENERIC[joint])
            invented = True
        if point is None:
            raise KineticGanError(f"{mapping.family}: the skeleton has no joints to make {joint}")
        made[joint] = point
        if invented:
            derived.append(joint)
        if joint == CORE[-1]:  # every core joint is known: the torso's facing is too
            source.forward = ntu.forward = _torso_forward(made)
    out = np.stack([made[j] for j in NTU_JOINTS], axis=1)
    return out, tuple(derived)


class _Points:
    """Resolves rules against one namespace of points (source joints, or NTU joints).

    ``resolve`` also says whether the point is *invented*: carried past the joints it is
    made from (``lerp`` with t outside [0, 1]) or moved in front of one (``front``), rather
    than a joint of the source or a point between two.
    """

    def __init__(self, lookup) -> None:
        self.lookup = lookup
        self.forward: np.ndarray | None = None

    def resolve(self, rule: Rule | None) -> tuple[np.ndarray | None, bool]:
        if rule is None:
            return None, False
        if isinstance(rule, str):
            return self.lookup(rule), False
        if isinstance(rule, list):
            for option in rule:
                point, invented = self.resolve(option)
                if point is not None:
                    return point, invented
            return None, False
        if rule[0] == "lerp":
            (a, inv_a), (b, inv_b) = self.resolve(rule[1]), self.resolve(rule[2])
            if a is None or b is None:
                return None, False
            return a + rule[3] * (b - a), inv_a or inv_b or not 0.0 <= rule[3] <= 1.0
        if rule[0] == "front":
            base, _ = self.resolve(rule[1])
            if base is None or self.forward is None:
                return None, False
            return base + rule[2] * self.forward, True
        raise KineticGanError(f"joint rule: unknown kind {rule[0]!r}")


def _torso_forward(made: dict[str, np.ndarray]) -> np.ndarray:
    """Per-frame unit vector the torso faces: (spine up) × (left → right hip)."""
    right = made["HipRight"] - made["HipLeft"]
    up = made["SpineShoulder"] - made["SpineBase"]
    forward = np.cross(up, right)
    return forward / np.maximum(np.linalg.norm(forward, axis=-1, keepdims=True), 1e-9)
