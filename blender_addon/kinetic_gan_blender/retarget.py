"""Joint positions → root translation + per-bone local rotations for any rig (numpy only).

The input is a take in the *dataset frame* (right-handed, Y up, metres, the subject facing
−Z). It is turned into Blender's frame by the proper rotation (x, y, z) → (−x, z, y), scaled
from the performer's leg length to the rig's, optionally smoothed and put on the floor.

Each driven bone is aimed in armature space in two steps:
  1. *swing* — the smallest rotation taking the bone's axis, as its parent carries it, onto
     the direction from its head joint to its tail joint;
  2. *twist* — about that axis, so a reference (the hips' left-right line for the spine, the
     limb's hinge plane for arms and legs) lands where the data has it. A reference that is
     ill-defined in a frame (a straight arm has no elbow plane) fades out, and the next one,
     or no twist at all, takes over — so limbs never spin.
The armature-space rotation is then expressed in the bone's own rest frame, which is why
rigs with any bone rolls and axis conventions get the same world pose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import body
from .rotations import (
    axis_angle_matrix,
    continuous_quaternions,
    normalize,
    project_perpendicular,
    quaternion_from_matrix,
    shortest_arc,
)

# Dataset frame (Y up, facing −Z) → Blender (Z up, facing −Y); det = +1, never a mirror.
DATASET_TO_BLENDER = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])

# Where a reference is this close to parallel with its bone, or a limb this close to
# straight, its twist is faded out (values are sines / perpendicular fractions).
_PERPENDICULAR_FADE = (0.15, 0.45)
_HINGE_FADE = (0.08, 0.30)


class RetargetError(ValueError):
    """Joints that cannot drive a rig: the message names the problem."""


@dataclass(frozen=True)
class RigRest:
    """A rig in rest pose, in armature space (what ``bone.matrix_local`` etc. hold)."""

    bone_names: tuple[str, ...]
    parents: tuple[int, ...]  # index of each bone's parent, -1 for roots
    heads: np.ndarray  # (B, 3)
    tails: np.ndarray  # (B, 3)
    matrices: np.ndarray  # (B, 3, 3) rest rotations, columns = bone X, Y, Z axes

    def __post_init__(self) -> None:
        for i, p in enumerate(self.parents):
            if p >= i:
                raise RetargetError(f"rig bone {self.bone_names[i]!r}: parents must come first")

    @classmethod
    def default_character(cls) -> RigRest:
        from . import character

        names, parents, heads, tails, mats = character.rest_bones()
        return cls(tuple(names), tuple(parents), heads, tails, mats)

    def index(self, name: str) -> int:
        return self.bone_names.index(name)


@dataclass
class Retargeted:
    """Keys for one take: local rotations of the driven bones, translation of the root."""

    bone_names: tuple[str, ...]  # rig bones that get rotation keys
    rotations: np.ndarray  # (T, K, 4) quaternions (w, x, y, z) in each bone's rest frame
    root_bone: str | None  # the rig bone that carries the translation (canonical "hips")
    root_location: np.ndarray | None  # (T, 3) pose-bone location of root_bone
    scale: float  # performer → rig
    skipped: list[str] = field(default_factory=list)  # canonical bones left at rest, with why
    world_rotations: np.ndarray | None = None  # (T, B, 3, 3) armature space, all rig bones


def dataset_to_blender(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ DATASET_TO_BLENDER.T


def smooth(points: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0); edges padded with the edge frame."""
    if sigma_frames <= 0 or points.shape[0] < 2:
        return points
    radius = max(1, int(np.ceil(3 * sigma_frames)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_frames) ** 2)
    taps /= taps.sum()
    padded = np.concatenate(
        [np.repeat(points[:1], radius, 0), points, np.repeat(points[-1:], radius, 0)]
    )
    out = np.zeros_like(points)
    for k, w in enumerate(taps):
        out += w * padded[k : k + points.shape[0]]
    return out


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


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


@dataclass(frozen=True)
class _Driver:
    """A canonical bone resolved against the data and the rig."""

    bone: body.CanonicalBone
    rig_index: int
    head: int  # joint index in the data
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


def _performer_scale(points: np.ndarray, drivers: dict[int, _Driver], rig: RigRest) -> float:
    """Rig size over performer size, from the legs (else the whole driven chain)."""
    for names in (("thigh.L", "shin.L", "thigh.R", "shin.R"), None):
        rig_len = data_len = 0.0
        for d in drivers.values():
            if names is not None and d.bone.name not in names:
                continue
            rig_len += float(np.linalg.norm(rig.tails[d.rig_index] - rig.heads[d.rig_index]))
            data_len += float(
                np.median(np.linalg.norm(points[:, d.tail] - points[:, d.head], axis=-1))
            )
        if rig_len > 1e-6 and data_len > 1e-6:
            return rig_len / data_len
    return 1.0


def _twist_angle(
    driver: _Driver,
    points: np.ndarray,
    joints: dict[str, int],
    direction: np.ndarray,
    swung: np.ndarray,
    rest_matrix: np.ndarray,
    axes: dict[str, np.ndarray],
) -> np.ndarray:
    """Twist (T,) about ``direction`` that brings the bone's references to the data's."""
    sin_sum = np.zeros(points.shape[0])
    cos_sum = np.zeros(points.shape[0])
    weight_left = np.where(np.linalg.norm(direction, axis=-1) > 0, 1.0, 0.0)
    rest_axis = rest_matrix[:, 1]
    for ref in driver.bone.references:
        if any(j not in joints for j in ref.joints):
            continue
        p = [points[:, joints[j]] for j in ref.joints]
        if ref.is_plane:
            upper, lower = p[1] - p[0], p[2] - p[1]
            target = np.cross(upper, lower)
            sine = np.linalg.norm(target, axis=-1) / np.maximum(
                np.linalg.norm(upper, axis=-1) * np.linalg.norm(lower, axis=-1), 1e-12
            )
            weight = _smoothstep(sine, *_HINGE_FADE)
            rest_ref = np.cross(rest_axis, axes[ref.rest])
        else:
            target = p[1] - p[0]
            weight = np.ones(points.shape[0])
            rest_ref = axes[ref.rest]
        rest_perp, rest_len = normalize(rest_ref - np.dot(rest_ref, rest_axis) * rest_axis)
        if rest_len < 1e-3:
            continue  # this reference runs along the bone in rest: it cannot say where "up" is
        target_perp, perp_len = normalize(project_perpendicular(target, direction))
        fraction = perp_len / np.maximum(np.linalg.norm(target, axis=-1), 1e-12)
        weight = weight * _smoothstep(fraction, *_PERPENDICULAR_FADE) * weight_left
        carried = swung @ (rest_matrix.T @ rest_perp)  # the rest reference, swung with the bone
        angle = np.arctan2(
            np.sum(direction * np.cross(carried, target_perp), axis=-1),
            np.sum(carried * target_perp, axis=-1),
        )
        sin_sum += weight * np.sin(angle)
        cos_sum += weight * np.cos(angle)
        weight_left = weight_left - weight
    # What weight no reference claimed votes for "no twist", so fading is continuous.
    return np.arctan2(sin_sum, cos_sum + weight_left)


def retarget(
    joints: np.ndarray,
    joint_names: list[str] | tuple[str, ...],
    rig: RigRest,
    mapping: dict[str, str],
    *,
    in_place: bool = False,
    snap_to_floor: bool = True,
    smoothing: float = 0.0,
) -> Retargeted:
    """Retarget one take, ``joints`` (T, V, 3) in the dataset frame, onto ``rig``.

    ``mapping``: canonical bone name → rig bone name (see ``bone_map.BoneMap.resolve``).
    ``smoothing``: Gaussian sigma in frames. ``snap_to_floor``: the take's lowest foot
    point meets the rig's, and no frame sinks below it.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3 or joints.shape[0] < 1:
        raise RetargetError(f"joints must have shape (frames, joints, 3), got {joints.shape}")
    if joints.shape[1] != len(joint_names):
        raise RetargetError(f"joints have {joints.shape[1]} joints but {len(joint_names)} names")
    if not np.all(np.isfinite(joints)):
        raise RetargetError("joints contain NaN or infinite values")
    index = body.canonical_joint_indices(joint_names)
    if "SpineBase" not in index:
        raise RetargetError("the motion has no root joint (SpineBase / Hip)")
    names_by_index = {i: n for n, i in index.items()}

    skipped: list[str] = []
    drivers = _resolve_drivers(mapping, rig, index, skipped)
    rest_joints = _rest_joints(drivers, rig, names_by_index)
    points = smooth(dataset_to_blender(joints), smoothing)
    scale = _performer_scale(points, drivers, rig)
    points = points * scale

    root = next((d for d in drivers.values() if d.bone.name == body.ROOT_BONE), None)
    root_location = None
    if root is not None:
        target = _root_path(
            points, index, rest_joints, rig.heads[root.rig_index], in_place, snap_to_floor
        )
        points = points + (target - points[:, index["SpineBase"]])[:, None, :]
        root_location = (target - rig.heads[root.rig_index]) @ rig.matrices[root.rig_index]

    axes = _rig_body_axes(rest_joints)
    frames, bones = points.shape[0], len(rig.bone_names)
    # One contiguous (T, 3, 3) stack per bone: batched 3×3 products on strided views are slow.
    world: list[np.ndarray] = []
    local: dict[int, np.ndarray] = {}
    for b in range(bones):
        p = rig.parents[b]
        # How the parent's motion carries this bone when the bone itself does nothing.
        to_rest = rig.matrices[p].T @ rig.matrices[b] if p >= 0 else rig.matrices[b]
        carried = world[p] @ to_rest if p >= 0 else np.broadcast_to(to_rest, (frames, 3, 3))
        driver = drivers.get(b)
        if driver is None:
            world.append(np.ascontiguousarray(carried))
            continue
        direction, _ = normalize(points[:, driver.tail] - points[:, driver.head])
        swung = shortest_arc(carried[:, :, 1], direction) @ carried
        angle = _twist_angle(driver, points, index, direction, swung, rig.matrices[b], axes)
        axis = np.where(
            np.linalg.norm(direction, axis=-1, keepdims=True) > 0, direction, [0, 0, 1.0]
        )
        world.append(axis_angle_matrix(axis, angle) @ swung)
        # Blender's pose basis: the rotation left after the parent's carry is taken out.
        local[b] = np.swapaxes(carried, -1, -2) @ world[b]

    driven = sorted(drivers)
    quats = continuous_quaternions(quaternion_from_matrix(np.stack([local[b] for b in driven], 1)))
    return Retargeted(
        bone_names=tuple(rig.bone_names[b] for b in driven),
        rotations=quats,
        root_bone=rig.bone_names[root.rig_index] if root is not None else None,
        root_location=root_location,
        scale=scale,
        skipped=skipped,
        world_rotations=np.stack(world, axis=1),
    )


def _root_path(
    points: np.ndarray,
    index: dict[str, int],
    rest_joints: dict[str, np.ndarray],
    rest_head: np.ndarray,
    in_place: bool,
    snap_to_floor: bool,
) -> np.ndarray:
    """Where the root joint goes, (T, 3): starting over the rig's root, feet on its floor."""
    root = points[:, index["SpineBase"]]
    target = root.copy()
    target[:, :2] = rest_head[:2] if in_place else root[:, :2] - root[0, :2] + rest_head[:2]
    feet = [j for j in body.FOOT_JOINTS if j in index and j in rest_joints]
    if snap_to_floor and feet:
        lowest = points[:, [index[j] for j in feet], 2].min(axis=1)
        rig_floor = min(float(rest_joints[j][2]) for j in feet)
        # One shift for the whole take keeps jumps; frames still dipping below get lifted.
        floor = float(np.percentile(lowest, 5))
        target[:, 2] += rig_floor - floor + np.maximum(floor - lowest, 0.0)
    return target


def forward_kinematics(
    rig: RigRest,
    rotations: dict[str, np.ndarray],
    root_location: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posed armature-space rotations (T, B, 3, 3), heads and tails (T, B, 3).

    ``rotations``: rig bone → (T, 4) local quaternions (missing bones stay at rest);
    ``root_location``: rig bone → (T, 3) pose-bone location. Blender's pose rule:
    ``pose_b = pose_parent · rest_parent⁻¹ · rest_b · basis_b``.
    """
    from .rotations import matrix_from_quaternion

    frames = next(iter(rotations.values())).shape[0] if rotations else 1
    bones = len(rig.bone_names)
    world = np.empty((frames, bones, 3, 3))
    heads = np.empty((frames, bones, 3))
    for b, name in enumerate(rig.bone_names):
        basis = matrix_from_quaternion(rotations[name]) if name in rotations else np.eye(3)
        offset = (root_location or {}).get(name, np.zeros(3))
        p = rig.parents[b]
        if p < 0:
            world[:, b] = rig.matrices[b] @ basis
            heads[:, b] = rig.heads[b] + offset @ rig.matrices[b].T
            continue
        carry = world[:, p] @ rig.matrices[p].T
        world[:, b] = carry @ rig.matrices[b] @ basis
        local_head = rig.heads[b] - rig.heads[p] + offset @ rig.matrices[b].T
        heads[:, b] = (
            heads[:, p] + (carry @ np.broadcast_to(local_head, (frames, 3))[..., None])[..., 0]
        )
    lengths = np.linalg.norm(rig.tails - rig.heads, axis=-1)
    tails = heads + world[:, :, :, 1] * lengths[None, :, None]
    return world, heads, tails
