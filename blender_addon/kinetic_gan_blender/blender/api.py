"""The add-on's Python API: build a character, animate any armature, export takes.

Used by the operators and by headless scripts (``blender --background`` batch rendering)::

    from kinetic_gan_blender.blender import api
    arm = api.build_default_character()
    action = api.animate(arm, joints, joint_names, parents, fps=30, name="walk_s0")
    api.export_bvh(arm, action, "walk.bvh")
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from ..core import bone_map as bone_maps
from ..core.atomic import atomic_path
from ..core.bone_map import BoneMap
from ..core.take_files import save_joints_npz
from ..vendor.records.takes import Motion
from . import keyframes, rig, rig_bone_map, take_record, takes

__all__ = [
    "BoneMap",
    "animate",
    "build_default_character",
    "export_bvh",
    "export_fbx",
    "export_npz",
    "load_bone_map",
    "resolve_bone_map",
    "save_joints_npz",
    "store_bone_map",
    "stored_bone_map",
    "take_joints",
]

build_default_character = rig.build_default_character
export_npz = take_record.export_npz
load_bone_map = bone_maps.load_bone_map
# The scripting API's names for the pieces that live in their own modules.
TAKE_KEY, take_joints = take_record.TAKE_KEY, take_record.take_joints
BONE_MAP_KEY = rig_bone_map.BONE_MAP_KEY
resolve_bone_map = rig_bone_map.resolve_bone_map
store_bone_map, stored_bone_map = rig_bone_map.store_bone_map, rig_bone_map.stored_bone_map


def animate(
    armature: bpy.types.Object,
    joints: np.ndarray,
    joint_names: list[str] | tuple[str, ...],
    parents: list[int] | tuple[int, ...],
    *,
    fps: float = 30,
    name: str = "walk_s0",
    bone_map: BoneMap | str | None = None,
    in_place: bool = False,
    snap_to_floor: bool = True,
    smoothing: float = 0.0,
    frame_start: int = 1,
    push_to_nla: bool = False,
    metadata: dict | None = None,
) -> bpy.types.Action:
    """Retarget one take, joints (T, V, 3) in metres in the dataset frame, onto ``armature``
    (``takes.make_take`` with these options, no cleanup).

    ``bone_map``: a BoneMap, a preset name or a JSON path; None takes the map saved on the
    rig (``store_bone_map``), else the preset that fits the rig's bone names best. A map
    that lacks the body's core bones is refused (``BoneMapError`` naming them); bones it
    merely lacks are skipped, and the reasons are in ``action["kgan_take"]["warnings"]``.
    Keys are spaced so the take plays at ``fps`` whatever the scene's frame rate.
    """
    motion = Motion(
        joints=joints, fps=float(fps), skeleton="", joint_names=list(joint_names),
        parents=[int(p) for p in parents], cleanup="unknown",
    )
    options = takes.TakeOptions(
        bone_map=bone_map, in_place=in_place, snap_to_floor=snap_to_floor,
        smoothing=smoothing, frame_start=frame_start, push_to_nla=push_to_nla,
    )
    return takes.make_take(armature, motion, name, options, metadata).action


def _select_only(objects: list[bpy.types.Object], active: bpy.types.Object) -> None:
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(obj in objects)
    view_layer.objects.active = active


def _enable_addon(module: str) -> None:
    import addon_utils

    _, enabled = addon_utils.check(module)
    if not enabled:
        addon_utils.enable(module, default_set=False)


def export_bvh(armature: bpy.types.Object, action: bpy.types.Action, path: str | Path) -> Path:
    """The take as BVH through Blender's own exporter (written atomically)."""
    _enable_addon("io_anim_bvh")
    keyframes.assign_action(armature, action)
    _select_only([armature], armature)
    start, end = (round(f) for f in action.frame_range)
    target = Path(path)
    with atomic_path(target) as tmp:
        result = bpy.ops.export_anim.bvh(
            filepath=str(tmp), check_existing=False, frame_start=start, frame_end=end,
            rotate_mode="NATIVE", root_transform_only=False,
        )
        if "FINISHED" not in result:
            raise RuntimeError(f"BVH export of {action.name!r} failed")
    return target


def export_fbx(armature: bpy.types.Object, action: bpy.types.Action, path: str | Path) -> Path:
    """The armature, its meshes and the take as FBX (Blender's exporter, written atomically)."""
    _enable_addon("io_scene_fbx")
    keyframes.assign_action(armature, action)
    scene = bpy.context.scene
    saved_range = scene.frame_start, scene.frame_end
    scene.frame_start, scene.frame_end = (round(f) for f in action.frame_range)
    meshes = [c for c in armature.children if c.type == "MESH"]
    _select_only([armature, *meshes], armature)
    target = Path(path)
    try:
        with atomic_path(target) as tmp:
            result = bpy.ops.export_scene.fbx(
                filepath=str(tmp), check_existing=False, use_selection=True,
                object_types={"ARMATURE", "MESH"}, add_leaf_bones=False, bake_anim=True,
                bake_anim_use_all_actions=False, bake_anim_use_nla_strips=False,
            )
            if "FINISHED" not in result:
                raise RuntimeError(f"FBX export of {action.name!r} failed")
    finally:
        scene.frame_start, scene.frame_end = saved_range
    return target
