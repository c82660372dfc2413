"""A bone map on a rig in Blender: which map a take uses there and how it resolves, the
map saved on the rig, and the switches (Rigify's IK/FK) it sets."""

from __future__ import annotations

import json

import bpy

from ..core import bone_map as bone_maps
from ..core.bone_map import BoneMap
from . import rig

# Custom property of an armature's data holding the bone map saved on that rig (JSON).
BONE_MAP_KEY = "kgan_bone_map"


def resolve_bone_map(
    armature: bpy.types.Object, bone_map: BoneMap | str | None = None
) -> tuple[BoneMap, bone_maps.Resolution]:
    """The bone map a take (``takes.make_take``) would use on this armature and how it
    resolves there.

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
    """Keep ``bone_map`` on the armature (its data, so it travels with the rig); ``make_take``
    uses it whenever no map is chosen."""
    armature.data[BONE_MAP_KEY] = json.dumps(bone_map.to_json())


def stored_bone_map(armature: bpy.types.Object) -> BoneMap | None:
    """The bone map saved on this armature by ``store_bone_map``, or None."""
    text = armature.data.get(BONE_MAP_KEY)
    if text is None:
        return None
    return bone_maps.from_text(str(text), f"bone map saved on {armature.name!r}")


def set_switches(armature: bpy.types.Object, bone_map: BoneMap) -> None:
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
