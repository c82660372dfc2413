"""What retargeting can work out once per rig, bone map and joint names (numpy only).

A take is retargeted with a few dozen numpy calls on whole (frames × bones) stacks rather
than a hundred per bone, so everything that does not depend on the motion is settled here
once and cached: which rig bone each canonical bone drives and from which joints, the
rig's body axes, every usable twist reference expressed in its bone's rest frame, and the
rig's bones grouped by depth, so each group can be posed in one go after its parents.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import body
from .rotations import normalize

if TYPE_CHECKING:
    from .retarget import RigRest

# Plans for the rigs used lately: an artist alternates between a handful at most.
_CACHE_SIZE = 8
_cache: OrderedDict[tuple, Plan] = OrderedDict()


@dataclass(frozen=True)
class Level:
    """The rig bones at one depth of the hierarchy: posed together, after their parents."""

    bones: np.ndarray  # (K,) rig indices, the driven ones first
    parents: np.ndarray  # (K,) rig index of each bone's parent; all -1 on the roots' level
    to_rest: np.ndarray  # (K, 3, 3) the bone's rest frame in its parent's (roots: armature's)
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
    ``rest_x``/``rest_z``: where the reference points, in its bone's rest frame (unit, ⟂ Y).
    """

    owner: np.ndarray
    slot: np.ndarray
    first: np.ndarray
    second: np.ndarray
    third: np.ndarray  # hinges only, aligned with ``planes``
    planes: np.ndarray
    rest_x: np.ndarray
    rest_z: np.ndarray
    slots: tuple[np.ndarray, ...]  # per choice k: the references that are some bone's k-th


@dataclass(frozen=True)
class Plan:
    """How one rig is driven by one bone map from one set of joint names."""

    joint_index: dict[str, int]  # canonical joint name → column of the motion
    skipped: tuple[str, ...]  # canonical bones left at rest, with why
    # Driven bones, level by level (the order every (T, D, ...) stack uses).
    driver_bones: np.ndarray  # (D,) rig index
    driver_heads: np.ndarray  # (D,) joint column of the bone's head
    driver_tails: np.ndarray  # (D,) joint column of the bone's tail
    output_order: np.ndarray  # driver positions listing the driven bones by rig index
    scale_drivers: tuple[tuple[np.ndarray, float], ...]  # (driver positions, rig length)
    root: int | None  # rig index of the bone carrying the translation
    foot_columns: np.ndarray  # joint columns whose lowest point meets the floor
    rig_floor: float  # the rig's lowest foot point in rest (z)
    references: References
    levels: tuple[Level, ...]


def plan_for(rig: RigRest, mapping: dict[str, str], joint_names: tuple[str, ...]) -> Plan:
    """The plan for this rig, bone map and joint names (built once, then cached)."""
    key = (
        rig.bone_names,
        rig.parents,
        rig.heads.tobytes(),
        rig.tails.tobytes(),
        rig.matrices.tobytes(),
        frozenset(mapping.items()),
        tuple(joint_names),
    )
    plan = _cache.get(key)
    if plan is None:
        plan = _cache[key] = _build(rig, mapping, tuple(joint_names))
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return plan


_LEGS = ("thigh.L", "shin.L", "thigh.R", "shin.R")


@dataclass(frozen=True)
class _Driver:
    """A canonical bone resolved against the motion's joints and the rig."""

    bone: body.CanonicalBone
    rig_index: int
    head: int  # joint column
    tail: int


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
        head = next((joints[j] for j in bone.head if j in joints), None)
        if head is None or bone.tail not in joints:
            absent = bone.tail if head is not None else bone.head[0]
            skipped.append(f"{bone.name}: the motion has no {absent} joint")
            continue
        index = rig.index(rig_name)
        if index in drivers:
            skipped.append(f"{bone.name}: rig bone {rig_name!r} is already driven")
            continue
        drivers[index] = _Driver(bone, index, head, joints[bone.tail])
    return drivers


def _rest_joints(
    drivers: dict[int, _Driver], rig: RigRest, joint_names: dict[int, str]
) -> dict[str, np.ndarray]:
    """Joint positions of the rig in rest pose, read off the heads and tails of driven bones."""
    rest: dict[str, np.ndarray] = {}
    for d in drivers.values():
        rest.setdefault(joint_names[d.head], rig.heads[d.rig_index])
        rest.setdefault(joint_names[d.tail], rig.tails[d.rig_index])
    return rest


def _rig_body_axes(rest_joints: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rig's left/up/forward in rest, from its joints (Blender's defaults if absent)."""

    def between(a: str, b: str) -> np.ndarray | None:
        if a in rest_joints and b in rest_joints:
            v, n = normalize(rest_joints[b] - rest_joints[a])
            return v if n > 1e-6 else None
        return None

    up = next(
        (
            v
            for v in (between("SpineBase", j) for j in ("SpineShoulder", "Neck", "Head"))
            if v is not None
        ),
        np.array([0.0, 0.0, 1.0]),
    )
    left = between("HipRight", "HipLeft")
    if left is None:
        left = between("ShoulderRight", "ShoulderLeft")
    if left is None or abs(np.dot(left, up)) > 0.9:
        left = np.array([1.0, 0.0, 0.0])
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


def _levels(rig: RigRest, driven: set[int]) -> list[list[int]]:
    """Rig bones grouped by depth (roots first), driven bones first within a group."""
    depth: list[int] = []
    for p in rig.parents:
        depth.append(depth[p] + 1 if p >= 0 else 0)
    groups: list[list[int]] = [[] for _ in range(max(depth, default=-1) + 1)]
    for b, d in enumerate(depth):
        groups[d].append(b)
    return [sorted(g, key=lambda b: b not in driven) for g in groups]


def _references(
    drivers: list[_Driver],
    rig: RigRest,
    joints: dict[str, int],
    axes: dict[str, np.ndarray],
) -> References:
    rows: list[tuple[int, int, tuple[int, ...], np.ndarray]] = []
    for position, driver in enumerate(drivers):
        rest_matrix = rig.matrices[driver.rig_index]
        rest_axis = rest_matrix[:, 1]
        slot = 0
        for ref in driver.bone.references:
            if any(j not in joints for j in ref.joints):
                continue
            rest_ref = np.cross(rest_axis, axes[ref.rest]) if ref.is_plane else axes[ref.rest]
            rest_perp, rest_len = normalize(rest_ref - np.dot(rest_ref, rest_axis) * rest_axis)
            if rest_len < 1e-3:
                continue  # this reference runs along the bone in rest: it cannot say where "up" is
            local = rest_matrix.T @ rest_perp
            rows.append((position, slot, tuple(joints[j] for j in ref.joints), local))
            slot += 1
    planes = np.array([r for r, row in enumerate(rows) if len(row[2]) == 3], dtype=np.intp)
    # The rest reference is ⟂ the bone's Y axis up to rounding: drop that, keep it unit.
    local_xz = np.array([[row[3][0], row[3][2]] for row in rows]).reshape(-1, 2)
    local_xz /= np.linalg.norm(local_xz, axis=-1, keepdims=True)
    slot_of = np.array([row[1] for row in rows], dtype=np.intp)
    return References(
        owner=np.array([row[0] for row in rows], dtype=np.intp),
        slot=slot_of,
        first=np.array([row[2][0] for row in rows], dtype=np.intp),
        second=np.array([row[2][1] for row in rows], dtype=np.intp),
        third=np.array([rows[r][2][2] for r in planes], dtype=np.intp),
        planes=planes,
        rest_x=local_xz[:, 0].copy(),
        rest_z=local_xz[:, 1].copy(),
        slots=tuple(np.flatnonzero(slot_of == k) for k in range(int(slot_of.max(initial=-1)) + 1)),
    )


def _build(rig: RigRest, mapping: dict[str, str], joint_names: tuple[str, ...]) -> Plan:
    index = body.canonical_joint_indices(joint_names)
    names_by_index = {i: n for n, i in index.items()}
    skipped: list[str] = []
    by_rig_index = _resolve_drivers(mapping, rig, index, skipped)
    rest_joints = _rest_joints(by_rig_index, rig, names_by_index)

    groups = _levels(rig, set(by_rig_index))
    drivers = [by_rig_index[b] for g in groups for b in g if b in by_rig_index]
    position = {d.rig_index: k for k, d in enumerate(drivers)}
    levels: list[Level] = []
    start = 0
    for group in groups:
        bones = np.array(group, dtype=np.intp)
        parents = np.array([rig.parents[b] for b in group], dtype=np.intp)
        to_rest = np.stack(
            [rig.matrices[p].T @ rig.matrices[b] if p >= 0 else rig.matrices[b]
             for b, p in zip(group, parents, strict=True)]
        )  # fmt: skip
        count = sum(b in by_rig_index for b in group)
        levels.append(Level(bones, parents, to_rest, slice(start, start + count)))
        start += count

    def chain_length(names: tuple[str, ...] | None) -> tuple[np.ndarray, float]:
        chosen = [k for k, d in enumerate(drivers) if names is None or d.bone.name in names]
        rest = sum(
            float(np.linalg.norm(rig.tails[drivers[k].rig_index] - rig.heads[drivers[k].rig_index]))
            for k in chosen
        )
        return np.array(chosen, dtype=np.intp), rest

    root = next((d.rig_index for d in drivers if d.bone.name == body.ROOT_BONE), None)
    feet = [j for j in body.FOOT_JOINTS if j in index and j in rest_joints]
    return Plan(
        joint_index=index,
        skipped=tuple(skipped),
        driver_bones=np.array([d.rig_index for d in drivers], dtype=np.intp),
        driver_heads=np.array([d.head for d in drivers], dtype=np.intp),
        driver_tails=np.array([d.tail for d in drivers], dtype=np.intp),
        output_order=np.array([position[b] for b in sorted(position)], dtype=np.intp),
        # Performer size from the legs, else from the whole driven chain.
        scale_drivers=(chain_length(_LEGS), chain_length(None)),
        root=root,
        foot_columns=np.array([index[j] for j in feet], dtype=np.intp),
        rig_floor=min((float(rest_joints[j][2]) for j in feet), default=0.0),
        references=_references(drivers, rig, index, _rig_body_axes(rest_joints)),
        levels=tuple(levels),
    )
