"""Joint positions → root translation + per-bone local rotations for any rig (numpy only).

The input is a take in the *dataset frame* (right-handed, Y up, metres, the subject facing
−Z). It is turned into Blender's frame by the proper rotation (x, y, z) → (−x, z, y), then
into the armature's own axes, scaled from the performer's leg length to the rig's (both
measured between joints), optionally smoothed, and put on the floor by the rig's own feet
(its planted legs bending or stretching at the knee to reach it).

Each driven bone is aimed along its *segment* — from its head to the rig's position of its
tail joint (a bone need not point at the joint it leads to), swung onto the data's
direction and twisted about it so a reference (the hips' line, a limb's hinge plane) lands
where the data has it. Fast, because a take is re-keyed at every Generate click: the
rig-only work is planned once per rig and cached. The package, in the order a take goes
through it:

- ``types``      RigRest (a rig at rest), Retargeted (the keys), RetargetError, the axes
- ``plan``       what is worked out once per rig, bone map and joint names (cached)
- ``twist``      each bone's direction and twist from the joints alone (``aim``)
- ``pose``       the rig posed level by level (``pose``), Blender's forward kinematics
- ``grounding``  where the root goes so the rig's feet meet the floor; the planted legs'
                 reach; the rig's soles as rendered (``ground_lift``)
"""

from __future__ import annotations

import numpy as np

from ..filters import median, smooth
from ..rotations import continuous_quaternions, quaternion_from_matrix
from ..vectors import norm_first
from . import grounding
from .plan import Plan, plan_for
from .pose import forward_kinematics, pose
from .twist import aim
from .types import DATASET_TO_BLENDER, Retargeted, RetargetError, RigRest, dataset_to_blender

__all__ = [
    "DATASET_TO_BLENDER",
    "RetargetError",
    "Retargeted",
    "RigRest",
    "dataset_to_blender",
    "forward_kinematics",
    "retarget",
    "smooth",
]


def retarget(
    joints: np.ndarray,
    joint_names: list[str] | tuple[str, ...],
    rig: RigRest,
    mapping: dict[str, str],
    *,
    in_place: bool = False,
    snap_to_floor: bool = True,
    smoothing: float = 0.0,
    fps: float = 30.0,
    world_to_armature: np.ndarray | None = None,
) -> Retargeted:
    """Retarget one take, ``joints`` (T, V, 3) in the dataset frame, onto ``rig``.

    ``mapping``: canonical bone name → rig bone name (see ``bone_map.BoneMap.resolve``).
    ``smoothing``: Gaussian sigma in frames. ``snap_to_floor``: the rig's own feet are put
    where the performer plants theirs, its planted legs reaching for them at the knee (see
    ``grounding``); otherwise the take's floor is put at the rig's lowest rest foot point.
    ``fps``: the take's frame rate (foot speeds).
    ``world_to_armature``: the rotation from Blender's world axes to the armature's (the
    transpose of the armature object's rotation), for rigs imported lying down.
    """
    joints = _checked(joints, joint_names)
    to_armature = np.eye(3) if world_to_armature is None else np.asarray(world_to_armature)
    plan = plan_for(rig, mapping, tuple(joint_names), to_armature[:, 2])
    if "SpineBase" not in plan.joint_index:
        raise RetargetError("the motion has no root joint (SpineBase / Hip)")

    points = smooth(dataset_to_blender(joints) @ to_armature.T, smoothing)
    scale = _performer_scale(points, plan)
    points *= scale
    world, local = _posed(points, plan, len(rig.bone_names))
    root_location = None
    if plan.root is not None:
        # Only differences of points are used from here on, so the root's path is applied
        # to its location key alone, not to every joint.
        grounded = grounding.root_path(
            points, plan, world, rig.heads[plan.root], scale=scale, fps=fps,
            in_place=in_place, snap_to_floor=snap_to_floor,
        )
        if grounded.leg_moves.any():
            # Planted legs make up what the root's path could not: aim them again.
            points = grounding.reach(points, plan, world, grounded.leg_moves)
            world, local = _posed(points, plan, len(rig.bone_names))
        root_location = (grounded.root - rig.heads[plan.root]) @ rig.matrices[plan.root]
    rotations = np.swapaxes(quaternion_from_matrix(local[plan.output_order]), 0, 1)
    return Retargeted(
        bone_names=tuple(rig.bone_names[b] for b in plan.driver_bones[plan.output_order]),
        rotations=continuous_quaternions(rotations),
        root_bone=rig.bone_names[plan.root] if plan.root is not None else None,
        root_location=root_location,
        scale=scale,
        skipped=list(plan.skipped),
        world_rotations=np.swapaxes(world, 0, 1),
        rest_bones=tuple(rig.bone_names[b] for b in plan.rest_bones),
    )


def _checked(joints: np.ndarray, joint_names: list[str] | tuple[str, ...]) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3 or joints.shape[0] < 1:
        raise RetargetError(f"joints must have shape (frames, joints, 3), got {joints.shape}")
    if joints.shape[1] != len(joint_names):
        raise RetargetError(f"joints have {joints.shape[1]} joints but {len(joint_names)} names")
    if not np.all(np.isfinite(joints)):
        raise RetargetError("joints contain NaN or infinite values")
    return joints


def _posed(points: np.ndarray, plan: Plan, bones: int) -> tuple[np.ndarray, np.ndarray]:
    """The rig posed by ``points`` (T, V, 3): ``world`` (B, T, 3, 3), ``local`` (D, T, 3, 3)."""
    # Component-first copy, (3, V, T): picking joints copies whole blocks, and x, y, z of
    # many vectors are each one contiguous array for the arithmetic.
    by_axis = np.ascontiguousarray(points.transpose(2, 1, 0))
    return pose(plan, bones, *aim(by_axis, plan))


def _performer_scale(points: np.ndarray, plan: Plan) -> float:
    """Rig size over performer size, from the legs (else every driven segment), both
    measured between joints."""
    heads, tails, rig_len = plan.legs
    by_axis = points.transpose(2, 1, 0)  # (3, V, T)
    data_len = float(median(norm_first(by_axis[:, tails] - by_axis[:, heads])).sum())
    if rig_len > 1e-9 and data_len > 1e-9:
        return rig_len / data_len
    return 1.0
