"""Posing a rig from its bones' directions and twists, level by level (numpy only).

Each driven bone's *aim frame* is posed in armature space in two steps: *swing* — the
smallest rotation taking the segment, as its parent carries it, onto the direction from
its head joint to its tail joint — then *twist* about that axis (``twist``). The bone
follows its aim frame by the fixed rest offset between the two, and its rotation is then
expressed in its own rest frame, which is why rigs with any bone rolls and axis
conventions get the same world pose. Bones whose twist needs nothing from their parent are
posed all at once; only the others are posed level by level down the hierarchy, all bones
of a level at once. ``forward_kinematics`` is Blender's own pose rule, to check the keys.
"""

from __future__ import annotations

import numpy as np

from ..rotations import matrix_from_quaternion, swing_perpendicular
from ..vectors import cross, norm
from .plan import Plan
from .twist import held_roll
from .types import RigRest


def pose(
    plan: Plan,
    bones: int,
    direction: np.ndarray,
    aimed: np.ndarray,
    twist_x: np.ndarray,
    free: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Armature-space rotations, one depth of the hierarchy at a time (bone-major stacks).

    Each driven bone's aim frame is *swung* — the smallest rotation taking its segment, as
    the parent carries it, onto ``direction`` — then twisted about that axis so its X axis
    lies along ``twist_x + free · swung X``; the bone follows by its aim offset. Undriven
    bones and frames without a direction just follow the parent (or the bone whose
    transform they copy). Returns ``world`` (B, T, 3, 3) for every rig bone and, for the
    driven ones in plan order, ``local`` (D, T, 3, 3): Blender's pose basis, the rotation
    left once the parent's carry is taken out.
    """
    frames = direction.shape[1]
    world = np.empty((bones, frames, 3, 3))
    local = np.empty((*direction.shape, 3))
    offsets = plan.aim_offsets[:, None]  # (D, 1, 3, 3)
    # A bone aimed in every frame whose references claim its whole twist in every frame
    # (the usual case for most of the body) does not depend on its parent: pose all of
    # those at once, and walk the hierarchy only for the rest.
    x_len = norm(twist_x)
    alone = aimed.all(axis=1) & ~free.any(axis=1) & (x_len > 0).all(axis=1)
    if alone.any():
        x, y = twist_x[alone] / x_len[alone][..., None], direction[alone]
        world[plan.driver_bones[alone]] = _frames(x, y) @ offsets[alone]
    for level in plan.levels:
        size = len(level.bones)
        if level.is_root:
            carry = np.broadcast_to(level.to_rest[:, None], (size, frames, 3, 3))
        else:
            # One (3T × 3)·(3 × 3) product per bone — a BLAS call — instead of T small ones.
            parents = world[level.parents].reshape(size, 3 * frames, 3)
            carry = (parents @ level.to_rest).reshape(size, frames, 3, 3)
        driven = level.drivers
        count = driven.stop - driven.start
        if count < size:
            world[level.bones[count:]] = carry[count:]
            copies = np.flatnonzero(level.follows[count:] >= 0) + count
            if len(copies):
                world[level.bones[copies]] = world[level.follows[copies]]
        if not count:
            continue
        carry = carry[:count]
        todo = np.flatnonzero(~alone[driven])
        if len(todo):
            world[level.bones[todo]] = _swing_and_twist(
                carry[todo],
                offsets[driven][todo],
                *(v[driven][todo] for v in (direction, aimed, twist_x, free)),
            )
        local[driven] = np.swapaxes(carry, -1, -2) @ world[level.bones[:count]]
    return world, local


def _frames(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rotation matrices with unit columns ``x`` ⟂ ``y`` and ``x × y``."""
    frame = np.empty((*x.shape, 3))
    frame[..., 0], frame[..., 1], frame[..., 2] = x, y, cross(x, y)
    return frame


def _swing_and_twist(
    carry: np.ndarray,
    offset: np.ndarray,
    y: np.ndarray,
    aimed: np.ndarray,
    twist_x: np.ndarray,
    free: np.ndarray,
) -> np.ndarray:
    """Poses (K, T, 3, 3) of bones that need their parent's ``carry`` (K, T, 3, 3)."""
    carried_aim = carry @ np.swapaxes(offset, -1, -2)
    swung_x = swing_perpendicular(carried_aim[..., 0], carried_aim[..., 1], y)
    x = twist_x + free[..., None] * held_roll(swung_x, y, twist_x, free)
    x_len = norm(x)
    if x_len.all():
        x /= x_len[..., None]
    else:  # the references' votes and "no twist" cancelled out: keep the swing
        has_x = x_len > 0
        x = np.where(has_x[..., None], x / np.where(has_x, x_len, 1.0)[..., None], swung_x)
    pose = _frames(x, y) @ offset
    if not aimed.all():
        pose[~aimed] = carry[~aimed]
    return pose


def posed_heads(plan: Plan, world: np.ndarray, root: int) -> np.ndarray:
    """Every bone's posed head (B, T, 3), with the root bone's head at the origin.

    Only the root's subtree is meaningful; it is enough to find the rig's own feet.
    """
    heads = np.empty(world.shape[:3])
    for level in plan.levels:
        if level.is_root:
            heads[level.bones] = level.head_offsets[:, None]
        else:
            carried = world[level.parents] @ level.head_offsets[:, None, :, None]
            heads[level.bones] = heads[level.parents] + carried[..., 0]
        copies = np.flatnonzero(level.follows >= 0)
        if len(copies):
            heads[level.bones[copies]] = heads[level.follows[copies]]
        if np.any(level.bones == root):
            heads[root] = 0.0
    return heads


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
