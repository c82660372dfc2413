"""The add-on's Python API: build a character, animate any armature, export takes.

Used by the operators and by headless scripts (``blender --background`` batch rendering)::

    from kinetic_gan_blender.blender import api
    arm = api.build_default_character()
    action = api.animate(arm, joints, joint_names, parents, fps=30, name="walk_s0")
    api.export_bvh(arm, action, "walk.bvh")
"""

from __future__ import annotations

import json
from pathlib import Path

import bpy
import numpy as np

from ..core import bone_map as bone_maps
from ..core.atomic import atomic_path
from ..core.bone_map import BoneMap
from ..core.retarget import retarget
from ..core.take_files import save_joints_npz
from . import keyframes, rig

__all__ = [
    "BoneMap",
    "animate",
    "build_default_character",
    "export_bvh",
    "export_fbx",
    "load_bone_map",
    "resolve_bone_map",
    "save_joints_npz",
    "store_bone_map",
    "stored_bone_map",
    "take_joints",
]

build_default_character = rig.build_default_character
load_bone_map = bone_maps.load_bone_map

# Custom properties a take keeps on its Action, so it can be re-applied and exported later.
TAKE_KEY = "kgan_take"
# Custom property of an armature's data holding the bone map saved on that rig (JSON).
BONE_MAP_KEY = "kgan_bone_map"


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
    """Retarget one take, joints (T, V, 3) in metres in the dataset frame, onto ``armature``.

    ``bone_map``: a BoneMap, a preset name or a JSON path; None takes the map saved on the
    rig (``store_bone_map``), else the preset that fits the rig's bone names best. A map
    that lacks the body's core bones is refused (``BoneMapError`` naming them); bones it
    merely lacks are skipped, and the reasons are in ``action["kgan_take"]["warnings"]``.
    Keys are spaced so the take plays at ``fps`` whatever the scene's frame rate.
    """
    if armature is None or armature.type != "ARMATURE":
        raise ValueError("animate needs an armature object")
    joints = np.asarray(joints, dtype=np.float32)
    if joints.ndim == 4 and joints.shape[0] == 1:
        joints = joints[0]
    bone_map, resolution = resolve_bone_map(armature, bone_map)
    _set_switches(armature, bone_map)
    rest = rig.rig_rest(armature)
    to_world = np.array(armature.matrix_world.to_3x3().normalized())
    take = retarget(
        joints,
        joint_names,
        rest,
        resolution.mapping,
        in_place=in_place,
        snap_to_floor=snap_to_floor,
        smoothing=smoothing,
        fps=fps,
        world_to_armature=to_world.T,
    )
    render = bpy.context.scene.render
    scene_fps = render.fps / render.fps_base
    extra_rest = tuple(b for b in bone_map.at_rest if b in rest.bone_names)
    action = keyframes.write_action(
        armature,
        take,
        name,
        frame_start=frame_start,
        frame_step=scene_fps / float(fps),
        rest_bones=tuple(dict.fromkeys(take.rest_bones + extra_rest)),
        switches=bone_map.switches,
    )
    warnings = [resolution.warning()] if resolution.missing else []
    warnings += take.skipped
    overridden = sorted(rig.overridden_bones(armature) & set(take.bone_names))
    if overridden:
        warnings.append(
            f"constraints override {len(overridden)} keyed bone(s), so their keys do not "
            f"show: {', '.join(overridden)} (bake to the rig's controls, or mute them)"
        )
    action[TAKE_KEY] = {
        "joints": joints.ravel(),  # stored as a float array straight from the buffer
        "shape": list(joints.shape),
        "joint_names": list(joint_names),
        "parents": [int(p) for p in parents],
        "fps": float(fps),
        "bone_map": bone_map.name,
        "bone_map_coverage": resolution.summary(),
        "scale": float(take.scale),
        "warnings": warnings,
        "metadata": json.dumps(metadata or {}),
    }
    if push_to_nla:
        keyframes.push_to_nla(armature, action)
    return action


def resolve_bone_map(
    armature: bpy.types.Object, bone_map: BoneMap | str | None = None
) -> tuple[BoneMap, bone_maps.Resolution]:
    """The bone map ``animate`` would use on this armature and how it resolves there.

    Raises ``BoneMapError`` with the bones it cannot find when the map does not fit.
    """
    names = [b.name for b in armature.data.bones]
    overridden = rig.overridden_bones(armature)
    if bone_map is None:
        bone_map = stored_bone_map(armature)
    if bone_map is None:
        return bone_maps.choose(names, overridden)
    if not isinstance(bone_map, BoneMap):
        bone_map = bone_maps.load_bone_map(bone_map)
    resolution = bone_map.resolve(names, overridden)
    bone_maps.check(resolution)
    return bone_map, resolution


def store_bone_map(armature: bpy.types.Object, bone_map: BoneMap) -> None:
    """Keep ``bone_map`` on the armature (its data, so it travels with the rig); ``animate``
    uses it whenever no map is chosen."""
    armature.data[BONE_MAP_KEY] = json.dumps(bone_map.to_json())


def stored_bone_map(armature: bpy.types.Object) -> BoneMap | None:
    """The bone map saved on this armature by ``store_bone_map``, or None."""
    text = armature.data.get(BONE_MAP_KEY)
    if text is None:
        return None
    return bone_maps.from_text(str(text), f"bone map saved on {armature.name!r}")


def _set_switches(armature: bpy.types.Object, bone_map: BoneMap) -> None:
    """Set the map's switches (Rigify's IK/FK to FK) before the rig is read, so the
    constraints they drive are evaluated as the take will play."""
    changed = False
    for bone, props in bone_map.switches.items():
        pose_bone = armature.pose.bones.get(bone)
        for prop, value in props.items():
            if pose_bone is not None and prop in pose_bone and pose_bone[prop] != value:
                pose_bone[prop] = value
                changed = True
    if changed:
        armature.update_tag()
        bpy.context.view_layer.update()


def take_joints(action: bpy.types.Action) -> dict:
    """What ``animate`` stored on a take's Action: joints (T, V, 3), names, parents, fps."""
    stored = action.get(TAKE_KEY)
    if stored is None:
        raise ValueError(f"action {action.name!r} is not a Kinetic-GAN take")
    shape = tuple(int(s) for s in stored["shape"])
    return {
        "joints": np.asarray(stored["joints"], dtype=np.float32).reshape(shape),
        "joint_names": list(stored["joint_names"]),
        "parents": [int(p) for p in stored["parents"]],
        "fps": float(stored["fps"]),
        "metadata": json.loads(stored.get("metadata", "{}")),
        "warnings": list(stored.get("warnings", [])),
    }


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
