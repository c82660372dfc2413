"""Write a retargeted take into an Action, fast: every F-curve gets all its keys in one call.

``keyframe_points.add(n)`` + ``foreach_set("co", ...)`` instead of a ``keyframe_insert`` per
frame (see benchmarks/keyframes.py). Blender 4.4+ keeps F-curves in a channelbag per action
slot (layered actions); Blender 4.2/4.3 keep them on ``action.fcurves``; both are handled.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core import rotations
from ..core.retarget import Retargeted

LAYERED_ACTIONS = "slots" in bpy.types.Action.bl_rna.properties


class _Curves:
    """Creates F-curves on an action assigned to ``obj``, grouped by bone."""

    def __init__(self, action: bpy.types.Action, obj: bpy.types.Object) -> None:
        animation = obj.animation_data or obj.animation_data_create()
        animation.action = action
        if LAYERED_ACTIONS:
            from bpy_extras.anim_utils import action_ensure_channelbag_for_slot

            slot = (
                action.slots[0]
                if action.slots
                else action.slots.new(id_type="OBJECT", name=obj.name)
            )
            animation.action_slot = slot
            self._fcurves = action_ensure_channelbag_for_slot(action, slot).fcurves
        else:
            self._fcurves = action.fcurves

    def new(self, data_path: str, index: int, group: str) -> bpy.types.FCurve:
        if LAYERED_ACTIONS:
            return self._fcurves.new(data_path, index=index, group_name=group)
        return self._fcurves.new(data_path, index=index, action_group=group)

    def ensure(self, data_path: str, index: int, group: str) -> bpy.types.FCurve:
        return self._fcurves.find(data_path, index=index) or self.new(data_path, index, group)


def ensure_fcurve(
    action: bpy.types.Action, obj: bpy.types.Object, data_path: str, index: int, group: str
) -> bpy.types.FCurve:
    """The F-curve of ``obj``'s ``data_path[index]`` in ``action`` (assigned to ``obj``),
    made if missing: ``Action.fcurve_ensure_for_datablock`` exists only from Blender 4.4."""
    return _Curves(action, obj).ensure(data_path, index, group)


# Dense mocap keys: linear interpolation is exact at every frame and needs no overshoot.
_LINEAR = bpy.types.Keyframe.bl_rna.properties["interpolation"].enum_items["LINEAR"].value
# Blender 4.1+: recompute handles without FCurve.update()'s sorting pass.
_HANDLES_RECALC = "handles_recalc" in bpy.types.FCurveKeyframePoints.bl_rna.functions


def write_action(
    armature: bpy.types.Object,
    take: Retargeted,
    name: str,
    *,
    frame_start: float = 1.0,
    frame_step: float = 1.0,
    rest_bones: tuple[str, ...] = (),
    switches: dict[str, dict[str, float]] | None = None,
) -> bpy.types.Action:
    """A new Action named ``name`` (Blender may add a suffix), assigned to ``armature``.

    Rotation keys for ``take.bone_names`` and location keys for ``take.root_bone``; key i
    sits at ``frame_start + i * frame_step``. Every bone is keyed in its own rotation mode
    (Euler curves kept continuous), so the rig's other actions still play as made.
    ``rest_bones`` get one rest key (rotation and location) and ``switches`` — custom
    properties of pose bones, such as Rigify's IK/FK sliders — one key of their value, so
    the take carries the settings it was solved for.
    """
    action = bpy.data.actions.new(name)
    curves = _Curves(action, armature)
    frames = take.rotations.shape[0]
    times = frame_start + frame_step * np.arange(frames, dtype=np.float64)
    channels: list[tuple[str, str, int]] = []  # (bone, data path, array index) per F-curve
    values: list[np.ndarray] = []  # (frames, columns) blocks, in channel order
    pose_bones = armature.pose.bones
    for k, bone in enumerate(take.bone_names):
        path, keys = _rotation_keys(pose_bones[bone], take.rotations[:, k])
        channels += [(bone, path, axis) for axis in range(keys.shape[1])]
        values.append(keys)
    if take.root_bone is not None and take.root_location is not None:
        bone = take.root_bone
        channels += [(bone, _bone_path(bone, "location"), axis) for axis in range(3)]
        values.append(take.root_location)
    # Every curve's (frame, value) pairs, interleaved as foreach_set wants them, in one block.
    co = np.empty((len(channels), frames, 2), dtype=np.float32)
    co[:, :, 0] = times
    co[:, :, 1] = np.concatenate(values, axis=1).T
    interpolation = np.full(frames, _LINEAR, dtype=np.int32)
    in_order = frame_step > 0
    for (bone, path, axis), keys in zip(channels, co, strict=True):
        fcurve = curves.new(path, axis, bone)
        points = fcurve.keyframe_points
        points.add(frames)
        points.foreach_set("co", keys.ravel())
        points.foreach_set("interpolation", interpolation)
        if in_order and _HANDLES_RECALC:
            points.handles_recalc()  # keys are already in time order
        else:
            fcurve.update()
    held = [(bone, path, axis, value)
            for bone in rest_bones if bone in pose_bones
            for path, axis, value in _rest_channels(pose_bones[bone])]
    for bone, props in (switches or {}).items():
        if bone in pose_bones:
            for prop, value in props.items():
                if prop in pose_bones[bone]:
                    pose_bones[bone][prop] = value
                    held.append((bone, f"{_bone_path(bone)}[{_quoted(prop)}]", 0, value))
    for bone, path, axis, value in held:
        curves.new(path, axis, bone).keyframe_points.insert(times[0], value, options={"FAST"})
    action.frame_range = (times[0], max(times[-1], times[0] + 1))
    action.use_fake_user = True  # takes survive while unassigned (the takes list swaps them)
    return action


def _quoted(text: str) -> str:
    return f'"{bpy.utils.escape_identifier(text)}"'


def _bone_path(bone: str, prop: str = "") -> str:
    path = f"pose.bones[{_quoted(bone)}]"
    return f"{path}.{prop}" if prop else path


def _rotation_keys(pose_bone: bpy.types.PoseBone, quaternions: np.ndarray):
    """The data path and (T, n) key values of rotations in the bone's own rotation mode."""
    mode = pose_bone.rotation_mode
    if mode == "QUATERNION":
        return _bone_path(pose_bone.name, "rotation_quaternion"), quaternions
    if mode == "AXIS_ANGLE":
        axis_angles = rotations.axis_angle_from_quaternion(quaternions)
        return _bone_path(pose_bone.name, "rotation_axis_angle"), axis_angles
    angles = rotations.euler_from_matrix(rotations.matrix_from_quaternion(quaternions), mode)
    return _bone_path(pose_bone.name, "rotation_euler"), rotations.continuous_euler(angles, mode)


def _rest_channels(pose_bone: bpy.types.PoseBone) -> list[tuple[str, int, float]]:
    """(data path, index, value) of a pose bone's rest rotation and location."""
    mode = pose_bone.rotation_mode
    if mode == "QUATERNION":
        rest = ("rotation_quaternion", (1.0, 0.0, 0.0, 0.0))
    elif mode == "AXIS_ANGLE":
        rest = ("rotation_axis_angle", (0.0, 0.0, 1.0, 0.0))
    else:
        rest = ("rotation_euler", (0.0, 0.0, 0.0))
    name = pose_bone.name
    channels = [(_bone_path(name, rest[0]), i, v) for i, v in enumerate(rest[1])]
    return channels + [(_bone_path(name, "location"), i, 0.0) for i in range(3)]


def write_curve(
    action: bpy.types.Action,
    obj: bpy.types.Object,
    data_path: str,
    index: int,
    group: str,
    frames: np.ndarray,
    values: np.ndarray,
) -> bpy.types.FCurve:
    """Key ``obj``'s ``data_path[index]`` in ``action`` at ``frames`` (linear, as every
    take's keys), replacing the keys that curve had."""
    curve = ensure_fcurve(action, obj, data_path, index, group)
    points = curve.keyframe_points
    points.clear()
    points.add(len(frames))
    points.foreach_set("co", np.stack([frames, values], axis=1).astype(np.float32).ravel())
    points.foreach_set("interpolation", np.full(len(frames), _LINEAR, dtype=np.int32))
    curve.update()
    return curve


def assign_action(armature: bpy.types.Object, action: bpy.types.Action) -> None:
    """Make ``action`` the armature's active action (its first slot on 4.4+)."""
    animation = armature.animation_data or armature.animation_data_create()
    animation.action = action
    if LAYERED_ACTIONS and action.slots:
        animation.action_slot = action.slots[0]


def push_to_nla(armature: bpy.types.Object, action: bpy.types.Action) -> bpy.types.NlaStrip:
    """Move the action onto a new NLA track (named after it) and free the active slot."""
    animation = armature.animation_data or armature.animation_data_create()
    track = animation.nla_tracks.new()
    track.name = action.name
    strip = track.strips.new(action.name, int(action.frame_range[0]), action)
    if animation.action == action:
        animation.action = None
    return strip
