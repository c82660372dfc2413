"""The rig's keyed poses as the shot's keys: joints of the canonical body, in the dataset
frame, in the performer's metres.

The retargeting aims each canonical bone (``core/body.py``) from its head joint at its
tail joint, so a posed rig gives those joints back at its mapped bones' heads and tails:
the inverse of the bone map. A joint no mapped bone reaches stays out of the key's mask.
The rig was scaled from the performer by the legs' length (``retarget._performer_scale``):
the joints are scaled back by the built-in character's legs (the dataset's proportions)
over the rig's, then turned into the dataset frame (``path.blender_to_dataset``) relative
to the take's origin on the floor (``origin_xy``: the armature's location, as the path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ...vendor.records.shot import Keys
from ..body import CANONICAL_BONES, NTU_JOINTS
from ..character import point
from ..errors import UserError
from .path import blender_to_dataset

_LEGS = (("HipLeft", "KneeLeft"), ("KneeLeft", "AnkleLeft"),
         ("HipRight", "KneeRight"), ("KneeRight", "AnkleRight"))


def joint_sources(mapping: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """NTU joint → (rig bone, "head" | "tail") that stands at it; canonical bones whose
    head joint lists several take the first (as retargeting does)."""
    sources: dict[str, tuple[str, str]] = {}
    for bone in CANONICAL_BONES:
        rig_bone = mapping.get(bone.name)
        if rig_bone is None:
            continue
        sources.setdefault(bone.head[0], (rig_bone, "head"))
        sources.setdefault(bone.tail, (rig_bone, "tail"))
    return sources


def reference_leg_length() -> float:
    return float(sum(np.linalg.norm(point(a) - point(b)) for a, b in _LEGS))


def keys_from_points(
    frames: Sequence[int],
    points: Sequence[Mapping[str, np.ndarray]],
    *,
    shot_frames: int,
    origin_xy: np.ndarray | None = None,
) -> Keys:
    """``points[k]``: NTU joint name → world position (Blender, metres) at shot frame
    ``frames[k]`` (0-based). Raises ``UserError`` for a key outside the shot, or a rig
    whose legs cannot be read."""
    if not frames:
        raise UserError("Keep Keyed Poses: the target has no keyframes to keep")
    for f in frames:
        if not 0 <= f < shot_frames:
            raise UserError(f"Keep Keyed Poses: the key at frame {f} is outside the shot "
                            f"(frames 0..{shot_frames - 1} from the shot's start)")
    joints = np.zeros((len(frames), len(NTU_JOINTS), 3))
    mask = np.zeros((len(frames), len(NTU_JOINTS)), bool)
    for k, pose in enumerate(points):
        for v, name in enumerate(NTU_JOINTS):
            if name in pose:
                joints[k, v], mask[k, v] = pose[name], True
    legs = [(NTU_JOINTS.index(a), NTU_JOINTS.index(b)) for a, b in _LEGS]
    if not all(mask[:, a].all() and mask[:, b].all() for a, b in legs):
        raise UserError("Keep Keyed Poses: the bone map does not reach the rig's legs")
    rig_leg = float(np.median(
        sum(np.linalg.norm(joints[:, a] - joints[:, b], axis=-1) for a, b in legs)))
    if rig_leg <= 1e-6:
        raise UserError("Keep Keyed Poses: the rig's legs have no length")
    joints *= reference_leg_length() / rig_leg
    origin = np.zeros(3)
    if origin_xy is not None:
        origin[:2] = np.asarray(origin_xy, dtype=np.float64) * reference_leg_length() / rig_leg
    dataset = blender_to_dataset(joints - origin)
    return Keys.from_arrays(np.asarray(frames, dtype=np.int64), dataset, mask)
