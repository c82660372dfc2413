"""Joint positions → root translation + per-bone local rotations for any rig (numpy only).

The input is a take in the *dataset frame* (right-handed, Y up, metres, the subject facing
−Z). It is turned into Blender's frame by the proper rotation (x, y, z) → (−x, z, y), then
into the armature's own axes, scaled from the performer's leg length to the rig's (both
measured between joints), optionally smoothed, and put on the floor by the rig's own feet
(its planted legs bending or stretching at the knee to reach it, see ``grounding``).

Each driven bone is aimed along its *segment* — from its head to the rig's position of its
tail joint (``retarget_plan`` reads those off the rig; a bone need not point at the joint
it leads to). The segment's *aim frame* is posed in armature space in two steps:
  1. *swing* — the smallest rotation taking the segment, as its parent carries it, onto
     the direction from its head joint to its tail joint;
  2. *twist* — about that axis, so a reference (the hips' left-right line for the spine, the
     limb's hinge plane for arms and legs) lands where the data has it. A reference that is
     ill-defined in a frame (a straight arm has no elbow plane) fades out, and the next one,
     or no twist at all, takes over — at the roll the two were apart where both were
     defined (``_hand_over``), so limbs never spin, even where the two disagree.
The bone follows its aim frame by the fixed rest offset between the two, and its rotation
is then expressed in its own rest frame, which is why rigs with any bone rolls and axis
conventions get the same world pose.

How it is computed, fast (a take is re-keyed at every Generate click): the rig-only work is
planned once per rig (``retarget_plan``). Blending twists is done on X axes rather than
angles — each reference alone fixes the aim frame's X axis; the weighted sum of those axes
plus the unclaimed weight times the swung X axis, normalized, is the blended twist — so
every reference of every bone is evaluated for all frames in one pass, and a bone whose
references claim all of its twist needs nothing from its parent. Only the others are posed
level by level down the hierarchy, all bones of a level at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import grounding
from .errors import KineticGanAddonError
from .filters import median, smooth, smoothstep
from .retarget_plan import Plan, plan_for
from .rotations import (
    EPS,
    continuous_quaternions,
    cross,
    norm,
    quaternion_from_matrix,
    swing_perpendicular,
)

# Dataset frame (Y up, facing −Z) → Blender (Z up, facing −Y); det = +1, never a mirror.
DATASET_TO_BLENDER = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])

# Where a reference is this close to parallel with its bone, or a limb this close to
# straight, its twist is faded out (values are sines / perpendicular fractions).
_PERPENDICULAR_FADE = (0.15, 0.45)
_HINGE_FADE = (0.08, 0.30)
# Where a reference and its successor both claim at least this much of the bone's twist,
# the roll between them is measured (and carried over the frames where one fades).
_HANDOVER_CLAIM = 0.5


class RetargetError(KineticGanAddonError, ValueError):
    """Joints that cannot drive a rig: the message names the problem."""

    code = "retarget"


@dataclass(frozen=True)
class RigRest:
    """A rig in rest pose, in armature space (what ``bone.matrix_local`` etc. hold)."""

    bone_names: tuple[str, ...]
    parents: tuple[int, ...]  # index of each bone's parent, -1 for roots
    heads: np.ndarray  # (B, 3)
    tails: np.ndarray  # (B, 3)
    matrices: np.ndarray  # (B, 3, 3) rest rotations, columns = bone X, Y, Z axes
    # Bone whose posed transform each bone copies (a full Copy Transforms constraint, as
    # Rigify's ORG bones copy its controls), -1 for none; empty: none anywhere.
    follows: tuple[int, ...] = ()
    # Whether an artist can pose each bone (hidden helper bones are not keyed); empty: all.
    posable: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        count = len(self.bone_names)
        if not self.follows:
            object.__setattr__(self, "follows", (-1,) * count)
        if not self.posable:
            object.__setattr__(self, "posable", (True,) * count)
        if not len(self.parents) == len(self.follows) == len(self.posable) == count:
            raise RetargetError("rig rest: one parent, follow and posable flag per bone")
        for i, (p, f) in enumerate(zip(self.parents, self.follows, strict=True)):
            if p >= i or f >= i:
                raise RetargetError(
                    f"rig bone {self.bone_names[i]!r}: parents and copied bones must come first"
                )

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
    rest_bones: tuple[str, ...] = ()  # undriven bones between driven ones, keyed at rest


def dataset_to_blender(points: np.ndarray) -> np.ndarray:
    return np.asarray(points, dtype=np.float64) @ DATASET_TO_BLENDER.T


__all__ = ["RetargetError", "Retargeted", "RigRest", "dataset_to_blender", "retarget", "smooth"]


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
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3 or joints.shape[0] < 1:
        raise RetargetError(f"joints must have shape (frames, joints, 3), got {joints.shape}")
    if joints.shape[1] != len(joint_names):
        raise RetargetError(f"joints have {joints.shape[1]} joints but {len(joint_names)} names")
    if not np.all(np.isfinite(joints)):
        raise RetargetError("joints contain NaN or infinite values")
    to_armature = np.eye(3) if world_to_armature is None else np.asarray(world_to_armature)
    plan = plan_for(rig, mapping, tuple(joint_names), to_armature[:, 2])
    if "SpineBase" not in plan.joint_index:
        raise RetargetError("the motion has no root joint (SpineBase / Hip)")

    points = smooth(dataset_to_blender(joints) @ to_armature.T, smoothing)
    # Component-first copy, (3, V, T): picking joints copies whole blocks, and x, y, z of
    # many vectors are each one contiguous array for the arithmetic.
    by_axis = np.ascontiguousarray(points.transpose(2, 1, 0))
    scale = _performer_scale(by_axis, plan)
    by_axis *= scale
    points *= scale

    direction, aimed, twist_x, free = _aim(by_axis, plan)
    world, local = _pose(plan, len(rig.bone_names), direction, aimed, twist_x, free)
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
            by_axis = np.ascontiguousarray(points.transpose(2, 1, 0))
            direction, aimed, twist_x, free = _aim(by_axis, plan)
            world, local = _pose(plan, len(rig.bone_names), direction, aimed, twist_x, free)
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


def _performer_scale(by_axis: np.ndarray, plan: Plan) -> float:
    """Rig size over performer size, from the legs (else every driven segment), both
    measured between joints."""
    heads, tails, rig_len = plan.legs
    segments = by_axis[:, tails] - by_axis[:, heads]
    data_len = float(median(_norm(segments)).sum())
    if rig_len > 1e-9 and data_len > 1e-9:
        return rig_len / data_len
    return 1.0


# Vectors stored component-first, (3, ...): each of x, y, z is one contiguous block, so
# these run at memory speed on the (references × frames) stacks of ``_aim``.
def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _norm(v: np.ndarray) -> np.ndarray:
    return np.sqrt(_dot(v, v))


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.stack(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )


def _normalize(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    length = _norm(v)
    has_length = length > EPS
    return v * (has_length / np.where(has_length, length, 1.0)), length


def _aim(by_axis: np.ndarray, plan: Plan) -> tuple[np.ndarray, ...]:
    """Per driven bone and frame, what needs no parent: the bone's direction and its twist.

    ``by_axis``: (3, V, T) points. Returns ``direction`` (D, T, 3), unit or zero;
    ``aimed`` (D, T), whether it has one; ``twist_x`` (D, T, 3), the weighted sum of the X
    axes each twist reference alone would give the bone; ``free`` (D, T), the weight no
    reference claimed, which goes to "no twist" (the swung X axis, which depends on the
    parent) so fading stays continuous.
    """
    refs = plan.references
    bone = by_axis[:, plan.driver_tails] - by_axis[:, plan.driver_heads]
    direction, length = _normalize(bone)
    aimed = length > EPS
    free = aimed.astype(np.float64)
    twist_x = np.zeros_like(direction)
    if len(refs.owner):
        second = by_axis[:, refs.second]
        target = second - by_axis[:, refs.first]
        hinge = np.ones(target.shape[1:])
        if len(refs.planes):
            # A limb's hinge axis, faded out as the limb straightens and the plane vanishes.
            upper = target[:, refs.planes]
            lower = by_axis[:, refs.third] - second[:, refs.planes]
            normal = _cross(upper, lower)
            sine = _norm(normal) / np.maximum(_norm(upper) * _norm(lower), 1e-12)
            hinge[refs.planes] = smoothstep(sine, *_HINGE_FADE)
            target[:, refs.planes] = normal
        axis = direction[:, refs.owner]
        perpendicular, perpendicular_len = _normalize(target - _dot(target, axis) * axis)
        fraction = perpendicular_len / np.maximum(_norm(target), 1e-12)
        claim = hinge * smoothstep(fraction, *_PERPENDICULAR_FADE)
        # The X axis of the frame whose Y is the bone and which puts the rest reference
        # (rest_x, 0, rest_z) onto the data's: x = rest_x·p − rest_z·(p × y).
        x_axis = refs.rest_x[:, None] * perpendicular - refs.rest_z[:, None] * _cross(
            perpendicular, axis
        )
        _hand_over(x_axis, claim, axis, refs.successor)
        # A bone's first usable reference claims what it can, the next one from the rest.
        for chosen in refs.slots:
            owners = refs.owner[chosen]
            weight = claim[chosen] * free[owners]
            free[owners] -= weight
            twist_x[:, owners] += weight * x_axis[:, chosen]
    # Posing works on whole matrices: hand the vectors over component-last.
    last = (np.ascontiguousarray(np.moveaxis(v, 0, -1)) for v in (direction, twist_x))
    return next(last), aimed, next(last), free


def _hand_over(
    x_axis: np.ndarray, claim: np.ndarray, axis: np.ndarray, successor: np.ndarray
) -> None:
    """Where a reference fades, let its successor take over at the roll the two were
    apart where both were defined, instead of at its own (in place, on ``x_axis``).

    A limb's hinge plane and the next reference (the toes for a leg, the thumb for an
    arm) need not agree: a knee that bends the other way (hyperextended, as generated
    takes have) or a foot turned out puts them up to 180° apart, and when the limb
    straightens — the plane vanishes, often within a frame — the bone would turn by that
    much about its own axis. A straight limb's roll cannot be seen in its joints, so it is
    carried: the successor's X axis is turned by the angle from it to the reference's,
    measured in the frames where both claim at least half their twist and interpolated in
    time between them (held before the first and after the last). Where the two agree
    this changes nothing; where the reference is never defined the successor stands as is.

    ``x_axis`` (3, R, T): each reference's X axis; ``claim`` (R, T); ``axis`` (3, R, T):
    the owner's direction; ``successor`` (R,): the owner's next reference or -1.
    """
    leads = np.flatnonzero(successor >= 0)
    if not len(leads):
        return
    takes = successor[leads]
    lead_x, take_x, y = x_axis[:, leads], x_axis[:, takes], axis[:, leads]
    # The angle about the bone from the successor's X axis to the reference's.
    apart = np.arctan2(_dot(y, _cross(take_x, lead_x)), _dot(take_x, lead_x))
    both = (claim[leads] >= _HANDOVER_CLAIM) & (claim[takes] >= _HANDOVER_CLAIM)
    carried = _carried_angles(apart, both)
    turned = np.cos(carried) * take_x + np.sin(carried) * _cross(y, take_x)
    has = both.any(axis=1)
    x_axis[:, takes[has]] = turned[:, has]


def _carried_angles(apart: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(R, T) angles ``apart`` where ``known`` (R, T), interpolated in time between those
    frames (unwrapped, so a roll carried across ±π does not spin) and held before the first
    and after the last; 0 in rows with no known frame."""
    frames = np.arange(apart.shape[1])
    carried = np.zeros_like(apart)
    for k in np.flatnonzero(known.any(axis=1)):
        at = np.flatnonzero(known[k])
        carried[k] = np.interp(frames, at, np.unwrap(apart[k, at]))
    return carried


def _pose(
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
    x = twist_x + free[..., None] * _held_roll(swung_x, y, twist_x, free)
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


def _held_roll(swung_x: np.ndarray, y: np.ndarray, twist_x: np.ndarray,
               free: np.ndarray) -> np.ndarray:
    """The "no twist" X axis a bone falls back on where its references fade, turned by the
    roll they held over it (K, T, 3; component-last like the arguments).

    A bone's last reference has no successor to hand over to (a hand's thumb, a foot's
    shin): where it fades the bone would take the swung X axis, which follows the parent
    and can lie up to 180° from where the reference left it — a generated hand whose thumb
    folds along its fingers turned by 110–140° within a frame. Its roll cannot be seen in
    the joints then, so it is carried, as ``_hand_over`` carries one reference's over
    the next: the angle about the bone from the swung X axis to the references' is
    measured where they claim at least half the twist and interpolated in time between
    those frames (held before the first and after the last). A bone its references never
    claim keeps the plain swing.
    """
    claimed = free <= 1.0 - _HANDOVER_CLAIM
    rows = np.flatnonzero(claimed.any(axis=1) & (free > 0).any(axis=1))
    if not len(rows):
        return swung_x
    sx, ty, tx = swung_x[rows], y[rows], twist_x[rows]
    apart = np.arctan2(np.sum(ty * cross(sx, tx), -1), np.sum(sx * tx, -1))
    held = _carried_angles(apart, claimed[rows])
    out = swung_x.copy()
    out[rows] = np.cos(held)[..., None] * sx + np.sin(held)[..., None] * cross(ty, sx)
    return out


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
