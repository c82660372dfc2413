"""What retargeting can work out once per rig, bone map and joint names (numpy only).

A take is retargeted with a few dozen numpy calls on whole (frames × bones) stacks rather
than a hundred per bone, so everything that does not depend on the motion is settled here
once and cached: which rig bone each canonical bone drives and from which joints, where
those joints sit on the rig in rest pose, how each bone is turned relative to the segment
it is aimed along, the rig's body axes, every usable twist reference, and the rig's bones
grouped by depth, so each group can be posed in one go after its parents.

Nothing is assumed about which way a bone points: a rig's joints are read off the heads of
the bones that start at them (a bone turns about its head), and each driven bone is aimed
by the rest-pose relation between the bone and its segment — the line from its head to the
rig's position of its tail joint. Blender's BVH importer, for one, gives Mixamo's Hips a
short tail pointing down, away from the spine it leads.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .. import body
from ..vectors import normalize
from .types import RigRest

# Plans for the rigs used lately: an artist alternates between a handful at most.
_CACHE_SIZE = 8
_cache: OrderedDict[tuple, Plan] = OrderedDict()


@dataclass(frozen=True)
class Level:
    """The rig bones at one depth of the hierarchy: posed together, after their parents."""

    bones: np.ndarray  # (K,) rig indices, the driven ones first
    parents: np.ndarray  # (K,) rig index of each bone's parent; all -1 on the roots' level
    to_rest: np.ndarray  # (K, 3, 3) the bone's rest frame in its parent's (roots: armature's)
    head_offsets: np.ndarray  # (K, 3) the bone's rest head in its parent's rest frame
    follows: np.ndarray  # (K,) rig bone whose posed transform a constraint copies, or -1
    drivers: slice  # this level's driven bones, a slice of the plan's driver order

    @property
    def is_root(self) -> bool:
        return bool(self.parents[0] < 0)


@dataclass(frozen=True)
class References:
    """Every usable twist reference of every driven bone, flattened (R of them).

    Reference ``r`` belongs to driver ``owner[r]`` and is its ``slot[r]``-th choice. Its
    target vector in a frame is ``second - first`` between two joints, or for a hinge
    (``planes`` lists those) the normal ``(second - first) × (third - second)``.
    ``rest_x``/``rest_z``: where the reference points in rest, in its bone's aim frame
    (unit, ⟂ the segment). ``successor``: the owner's next reference, which takes over
    where this one fades (``-1`` for the last).
    """

    owner: np.ndarray
    slot: np.ndarray
    first: np.ndarray
    second: np.ndarray
    third: np.ndarray  # hinges only, aligned with ``planes``
    planes: np.ndarray
    rest_x: np.ndarray
    rest_z: np.ndarray
    successor: np.ndarray
    slots: tuple[np.ndarray, ...]  # per choice k: the references that are some bone's k-th


@dataclass(frozen=True)
class Reaching:
    """The legs that can reach for the floor (``grounding.reach``), L of them: those whose
    thigh and shin are driven from hip, knee and ankle, and whose ankle is a foot point."""

    sides: np.ndarray  # (L,) 0 left, 1 right
    columns: np.ndarray  # (L, 4) joint columns of hip, knee, ankle and toe (-1: none)
    lengths: np.ndarray  # (L, 2) the rig's thigh and shin, between its joints
    thighs: np.ndarray  # (L,) rig index of the thigh bone
    # (L, 3) the knee's hinge axis, ``(knee - hip) × (ankle - knee)`` as the twist aims
    # it, in the thigh bone's own frame (zero where the thigh has no hinge reference).
    hinges: np.ndarray


@dataclass(frozen=True)
class Plan:
    """How one rig is driven by one bone map from one set of joint names."""

    joint_index: dict[str, int]  # canonical joint name → column of the motion
    skipped: tuple[str, ...]  # canonical bones left at rest, with why
    # Driven bones, level by level (the order every (T, D, ...) stack uses).
    driver_bones: np.ndarray  # (D,) rig index
    driver_heads: np.ndarray  # (D,) joint column of the segment's head
    driver_tails: np.ndarray  # (D,) joint column of the segment's tail
    # Bone = aim frame · offset: the aim frame's Y runs along the segment, its X is fixed
    # by the twist references; the offset is the bone's rest frame in the rest aim frame.
    aim_offsets: np.ndarray  # (D, 3, 3)
    output_order: np.ndarray  # driver positions listing the driven bones by rig index
    rest_bones: np.ndarray  # undriven, posable rig bones between driven ones: keyed at rest
    legs: tuple[np.ndarray, np.ndarray, float]  # joint columns (heads, tails), rig length
    root: int | None  # rig index of the bone carrying the translation
    up: np.ndarray  # (3,) the world's up in armature space
    # The rig's foot joints (ankles, toes) as points F: which joint of the motion each is,
    # which foot (0 left, 1 right), the bone carrying it and where it sits on that bone.
    foot_columns: np.ndarray  # (F,) joint column
    foot_sides: np.ndarray  # (F,)
    foot_bones: np.ndarray  # (F,) rig bone
    foot_offsets: np.ndarray  # (F, 3) the point in that bone's rest frame
    foot_rest_heights: np.ndarray  # (F,) the point's height in rest, along ``up``
    rig_floor: float  # the rig's lowest foot point in rest, along ``up``
    reaching: Reaching
    references: References
    levels: tuple[Level, ...]


def plan_for(
    rig: RigRest,
    mapping: dict[str, str],
    joint_names: tuple[str, ...],
    up: np.ndarray | None = None,
) -> Plan:
    """The plan for this rig, bone map and joint names (built once, then cached).

    ``up``: the world's up direction in armature space (+Z when the armature object is not
    rotated).
    """
    up = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, dtype=np.float64)
    key = (
        rig.bone_names,
        rig.parents,
        rig.follows,
        rig.posable,
        rig.heads.tobytes(),
        rig.tails.tobytes(),
        rig.matrices.tobytes(),
        frozenset(mapping.items()),
        tuple(joint_names),
        up.tobytes(),
    )
    plan = _cache.get(key)
    if plan is None:
        plan = _cache[key] = _build(rig, mapping, tuple(joint_names), up)
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return plan


_LEG_BONES = ("thigh.L", "shin.L", "thigh.R", "shin.R")


@dataclass(frozen=True)
class _Driver:
    """A canonical bone resolved against the motion's joints and the rig."""

    bone: body.CanonicalBone
    rig_index: int
    head: str  # joint name
    tail: str


def _resolve_drivers(
    mapping: dict[str, str], rig: RigRest, joints: dict[str, int], skipped: list[str]
) -> dict[int, _Driver]:
    drivers: dict[int, _Driver] = {}
    for bone in body.CANONICAL_BONES:
        rig_name = mapping.get(bone.name)
        if rig_name is None:
            continue
        if rig_name not in rig.bone_names:
            skipped.append(f"{bone.name}: the rig has no bone {rig_name!r}")
            continue
        head = next((j for j in bone.head if j in joints), None)
        if head is None or bone.tail not in joints:
            absent = bone.tail if head is not None else bone.head[0]
            skipped.append(f"{bone.name}: the motion has no {absent} joint")
            continue
        index = rig.index(rig_name)
        if index in drivers:
            skipped.append(f"{bone.name}: rig bone {rig_name!r} is already driven")
            continue
        drivers[index] = _Driver(bone, index, head, bone.tail)
    return drivers


@dataclass(frozen=True)
class _Landmark:
    """Where a joint sits on the rig in rest, and which bone carries it when posed."""

    point: np.ndarray  # armature space
    bone: int


def _rest_joints(drivers: list[_Driver], rig: RigRest) -> dict[str, _Landmark]:
    """The rig's joints in rest pose.

    A joint is the head of the first driven bone that starts there (bones turn about their
    heads, so heads are where a rig's joints are); a joint no driven bone starts at — a
    head top, a toe, a finger tip — is the tail of the bone that ends there.
    """
    rest: dict[str, _Landmark] = {}
    for d in drivers:
        rest.setdefault(d.head, _Landmark(rig.heads[d.rig_index], d.rig_index))
    for d in drivers:
        rest.setdefault(d.tail, _Landmark(rig.tails[d.rig_index], d.rig_index))
    return rest


def _rig_body_axes(rest_joints: dict[str, _Landmark], up_default: np.ndarray) -> dict:
    """The rig's left/up/forward in rest, from its joints (the world's if absent)."""

    def between(a: str, b: str) -> np.ndarray | None:
        if a in rest_joints and b in rest_joints:
            v, n = normalize(rest_joints[b].point - rest_joints[a].point)
            return v if n > 1e-6 * max(1.0, float(np.abs(rest_joints[a].point).max())) else None
        return None

    up = next(
        (
            v
            for v in (between("SpineBase", j) for j in ("SpineShoulder", "Neck", "Head"))
            if v is not None
        ),
        up_default,
    )
    left = between("HipRight", "HipLeft")
    if left is None:
        left = between("ShoulderRight", "ShoulderLeft")
    if left is None or abs(np.dot(left, up)) > 0.9:
        helper = np.array([1.0, 0.0, 0.0]) if abs(up[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
        left = helper
    left, _ = normalize(left - np.dot(left, up) * up)
    forward = np.cross(left, up)
    return {
        "left": left,
        "right": -left,
        "up": up,
        "down": -up,
        "forward": forward,
        "back": -forward,
    }


def _aim_frame(rig: RigRest, driver: _Driver, rest_joints: dict[str, _Landmark]) -> np.ndarray:
    """The rest aim frame of a driven bone: Y from its head to its tail joint, X near the
    bone's own X (so a bone that already points along its segment has an identity offset)."""
    matrix = rig.matrices[driver.rig_index]
    head = rig.heads[driver.rig_index]
    y, length = normalize(rest_joints[driver.tail].point - head)
    size = max(float(np.linalg.norm(rig.tails[driver.rig_index] - head)), 1e-9)
    if length < 1e-4 * size:  # the tail joint sits on the head: keep the bone's own axis
        y = matrix[:, 1]
    x = matrix[:, 0] - np.dot(matrix[:, 0], y) * y
    if np.linalg.norm(x) < 0.3:
        x = matrix[:, 2] - np.dot(matrix[:, 2], y) * y
    x, _ = normalize(x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def _depths(rig: RigRest) -> list[int]:
    """Hierarchy depth, where a bone that copies another's transform also comes after it."""
    depth: list[int] = []
    for b, p in enumerate(rig.parents):
        d = depth[p] + 1 if p >= 0 else 0
        if rig.follows[b] >= 0:
            d = max(d, depth[rig.follows[b]] + 1)
        depth.append(d)
    return depth


def _levels(rig: RigRest, driven: set[int]) -> list[list[int]]:
    """Rig bones grouped by depth (roots first), driven bones first within a group."""
    depth = _depths(rig)
    groups: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
    for b, d in enumerate(depth):
        groups[d].append(b)
    return [sorted(g, key=lambda b: b not in driven) for g in groups]


def _chain_at_rest(rig: RigRest, driven: set[int]) -> np.ndarray:
    """Undriven bones an artist can pose that sit between driven bones in the hierarchy.

    The solver takes them to be at rest, so they are keyed at rest: a spine bone the map
    skips would otherwise bend the take by whatever pose it was left in.
    """
    below_driven = [False] * len(rig.parents)
    for b, p in enumerate(rig.parents):
        below_driven[b] = p >= 0 and (p in driven or below_driven[p])
    above_driven = [False] * len(rig.parents)
    for b in reversed(range(len(rig.parents))):
        p = rig.parents[b]
        if p >= 0 and (b in driven or above_driven[b]):
            above_driven[p] = True
    return np.array(
        [
            b
            for b in range(len(rig.parents))
            if b not in driven and below_driven[b] and above_driven[b] and rig.posable[b]
        ],
        dtype=np.intp,
    )


def _references(
    drivers: list[_Driver],
    frames: list[np.ndarray],
    joints: dict[str, int],
    axes: dict[str, np.ndarray],
) -> References:
    rows: list[tuple[int, int, tuple[int, ...], np.ndarray]] = []
    for position, (driver, frame) in enumerate(zip(drivers, frames, strict=True)):
        rest_axis = frame[:, 1]
        slot = 0
        for ref in driver.bone.references:
            if any(j not in joints for j in ref.joints):
                continue
            rest_ref = np.cross(rest_axis, axes[ref.rest]) if ref.is_plane else axes[ref.rest]
            rest_perp, rest_len = normalize(rest_ref - np.dot(rest_ref, rest_axis) * rest_axis)
            if rest_len < 1e-3:
                continue  # this reference runs along the bone in rest: it cannot say where "up" is
            local = frame.T @ rest_perp
            rows.append((position, slot, tuple(joints[j] for j in ref.joints), local))
            slot += 1
    planes = np.array([r for r, row in enumerate(rows) if len(row[2]) == 3], dtype=np.intp)
    # The rest reference is ⟂ the segment up to rounding: drop that, keep it unit.
    local_xz = np.array([[row[3][0], row[3][2]] for row in rows]).reshape(-1, 2)
    local_xz /= np.linalg.norm(local_xz, axis=-1, keepdims=True)
    slot_of = np.array([row[1] for row in rows], dtype=np.intp)
    owner = np.array([row[0] for row in rows], dtype=np.intp)
    # Rows of one owner are consecutive, in slot order: the next row is the next choice.
    successor = np.full(len(rows), -1, dtype=np.intp)
    if len(rows) > 1:
        has_next = owner[1:] == owner[:-1]
        successor[:-1][has_next] = np.flatnonzero(has_next) + 1
    return References(
        owner=owner,
        slot=slot_of,
        first=np.array([row[2][0] for row in rows], dtype=np.intp),
        second=np.array([row[2][1] for row in rows], dtype=np.intp),
        third=np.array([rows[r][2][2] for r in planes], dtype=np.intp),
        planes=planes,
        rest_x=local_xz[:, 0].copy(),
        rest_z=local_xz[:, 1].copy(),
        successor=successor,
        slots=tuple(np.flatnonzero(slot_of == k) for k in range(int(slot_of.max(initial=-1)) + 1)),
    )


def _legs(
    drivers: list[_Driver], rest: dict[str, _Landmark], index: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, float]:
    """Joint pairs that measure a performer against the rig: the legs, else every segment.

    Lengths come from the rig's joints, not its bones: a bone may stop short of the next
    joint (Rigify's deform bones are half limbs) or point elsewhere.
    """
    legs = [d for d in drivers if d.bone.name in _LEG_BONES]
    chosen = legs or drivers
    heads = np.array([index[d.head] for d in chosen], dtype=np.intp)
    tails = np.array([index[d.tail] for d in chosen], dtype=np.intp)
    length = sum(float(np.linalg.norm(rest[d.tail].point - rest[d.head].point)) for d in chosen)
    return heads, tails, length


def _reaching(
    drivers: list[_Driver],
    rest: dict[str, _Landmark],
    index: dict[str, int],
    feet: list[str],
    references: References,
    aim_offsets: np.ndarray,
) -> Reaching:
    position = {d.bone.name: k for k, d in enumerate(drivers)}
    sides, columns, lengths, thighs, hinges = [], [], [], [], []
    for side, (suffix, word) in enumerate((("L", "Left"), ("R", "Right"))):
        thigh, shin = position.get(f"thigh.{suffix}"), position.get(f"shin.{suffix}")
        hip, knee, ankle, toe = (f"{j}{word}" for j in ("Hip", "Knee", "Ankle", "Foot"))
        if thigh is None or shin is None or ankle not in feet:
            continue
        ends = (drivers[thigh].head, drivers[thigh].tail, drivers[shin].head, drivers[shin].tail)
        if ends != (hip, knee, knee, ankle):
            continue
        sides.append(side)
        columns.append([index[hip], index[knee], index[ankle], index.get(toe, -1)])
        lengths.append([
            float(np.linalg.norm(rest[knee].point - rest[hip].point)),
            float(np.linalg.norm(rest[ankle].point - rest[knee].point)),
        ])
        thighs.append(drivers[thigh].rig_index)
        # The hinge reference's rest direction in the aim frame, taken to the bone's frame.
        hinge = np.zeros(3)
        for r in references.planes:
            if references.owner[r] == thigh:
                in_aim = np.array([references.rest_x[r], 0.0, references.rest_z[r]])
                hinge = aim_offsets[thigh].T @ in_aim
                break
        hinges.append(hinge)
    return Reaching(
        sides=np.array(sides, dtype=np.intp),
        columns=np.array(columns, dtype=np.intp).reshape(-1, 4),
        lengths=np.array(lengths).reshape(-1, 2),
        thighs=np.array(thighs, dtype=np.intp),
        hinges=np.array(hinges).reshape(-1, 3),
    )


def _build(
    rig: RigRest, mapping: dict[str, str], joint_names: tuple[str, ...], up: np.ndarray
) -> Plan:
    index = body.canonical_joint_indices(joint_names)
    skipped: list[str] = []
    by_rig_index = _resolve_drivers(mapping, rig, index, skipped)
    rest_joints = _rest_joints(list(by_rig_index.values()), rig)  # in canonical order

    groups = _levels(rig, set(by_rig_index))
    drivers = [by_rig_index[b] for g in groups for b in g if b in by_rig_index]
    position = {d.rig_index: k for k, d in enumerate(drivers)}
    aim_frames = [_aim_frame(rig, d, rest_joints) for d in drivers]
    levels: list[Level] = []
    start = 0
    for group in groups:
        bones = np.array(group, dtype=np.intp)
        parents = np.array([rig.parents[b] for b in group], dtype=np.intp)
        to_rest = np.stack(
            [rig.matrices[p].T @ rig.matrices[b] if p >= 0 else rig.matrices[b]
             for b, p in zip(group, parents, strict=True)]
        )
        head_offsets = np.stack(
            [rig.matrices[p].T @ (rig.heads[b] - rig.heads[p]) if p >= 0 else rig.heads[b]
             for b, p in zip(group, parents, strict=True)]
        )
        follows = np.array([rig.follows[b] for b in group], dtype=np.intp)
        count = sum(b in by_rig_index for b in group)
        levels.append(
            Level(bones, parents, to_rest, head_offsets, follows, slice(start, start + count))
        )
        start += count

    root = next((d.rig_index for d in drivers if d.bone.name == body.ROOT_BONE), None)
    foot_joints = [j for j in body.FOOT_JOINTS if j in index and j in rest_joints]
    feet = [rest_joints[j] for j in foot_joints]
    heights = np.array([float(f.point @ up) for f in feet])
    aim_offsets = np.array(
        [f.T @ rig.matrices[d.rig_index] for d, f in zip(drivers, aim_frames, strict=True)]
    ).reshape(-1, 3, 3)
    references = _references(drivers, aim_frames, index, _rig_body_axes(rest_joints, up))
    return Plan(
        joint_index=index,
        skipped=tuple(skipped),
        driver_bones=np.array([d.rig_index for d in drivers], dtype=np.intp),
        driver_heads=np.array([index[d.head] for d in drivers], dtype=np.intp),
        driver_tails=np.array([index[d.tail] for d in drivers], dtype=np.intp),
        aim_offsets=aim_offsets,
        output_order=np.array([position[b] for b in sorted(position)], dtype=np.intp),
        rest_bones=_chain_at_rest(rig, set(by_rig_index)),
        legs=_legs(drivers, rest_joints, index),
        root=root,
        up=up,
        foot_columns=np.array([index[j] for j in foot_joints], dtype=np.intp),
        foot_sides=np.array([j.endswith("Right") for j in foot_joints], dtype=np.intp),
        foot_bones=np.array([f.bone for f in feet], dtype=np.intp),
        foot_offsets=np.array(
            [rig.matrices[f.bone].T @ (f.point - rig.heads[f.bone]) for f in feet]
        ).reshape(-1, 3),
        foot_rest_heights=heights,
        rig_floor=float(heights.min(initial=np.inf)) if len(feet) else 0.0,
        reaching=_reaching(drivers, rest_joints, index, foot_joints, references, aim_offsets),
        references=references,
        levels=tuple(levels),
    )
