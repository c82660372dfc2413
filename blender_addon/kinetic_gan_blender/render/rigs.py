"""Put a character in the scene: the built-in one, or an armature from the user's .blend."""

from __future__ import annotations

import bpy
import numpy as np

from .. import api
from .options import RigSpec


class RigError(ValueError):
    """The rig named on the command line cannot be used."""


def add_character(spec: RigSpec, name: str) -> bpy.types.Object:
    """A new character (armature object) in the current scene; each call makes a new copy."""
    if spec.is_default:
        return api.build_default_character(bpy.context.scene, name=name)
    return _append_armature(spec, name)


def _append_armature(spec: RigSpec, name: str) -> bpy.types.Object:
    # Append every object of the file, keep the armature and what hangs on it
    # (child meshes, or meshes deformed by it), and drop the rest.
    with bpy.data.libraries.load(str(spec.blend), link=False) as (source, loaded):
        if spec.armature not in source.objects:
            raise RigError(
                f"{spec.blend} has no object {spec.armature!r} "
                f"(it has {', '.join(sorted(source.objects)) or 'no objects'})"
            )
        loaded.objects = list(source.objects)
    objects = [o for o in loaded.objects if o is not None]
    armature = next(o for o in objects if o.name.startswith(spec.armature))
    if armature.type != "ARMATURE":
        for obj in objects:
            bpy.data.objects.remove(obj)
        kind = armature.type.lower()
        raise RigError(f"{spec.blend}: {spec.armature!r} is a {kind}, not an armature")
    keep = {armature} | {o for o in objects if _belongs_to(o, armature)}
    scene = bpy.context.scene
    for obj in objects:
        if obj in keep:
            scene.collection.objects.link(obj)
        else:
            bpy.data.objects.remove(obj)
    armature.name = name
    armature.location = (0.0, 0.0, 0.0)
    return armature


def _belongs_to(obj: bpy.types.Object, armature: bpy.types.Object) -> bool:
    parent = obj.parent
    while parent is not None:
        if parent == armature:
            return True
        parent = parent.parent
    return any(m.type == "ARMATURE" and m.object == armature for m in obj.modifiers)


def bone_points(
    scene: bpy.types.Scene, armatures: list[bpy.types.Object], frames: list[int]
) -> list[np.ndarray]:
    """Per armature, world positions (F, 2B, 3) of its pose bones' heads and tails."""
    out: list[list[np.ndarray]] = [[] for _ in armatures]
    for frame in frames:
        scene.frame_set(frame)
        for k, armature in enumerate(armatures):
            world = np.array(armature.matrix_world)
            bones = armature.pose.bones
            local = np.array([[*p.head, 1.0] for p in bones] + [[*p.tail, 1.0] for p in bones])
            out[k].append((local @ world.T)[:, :3])
    return [np.asarray(points, dtype=np.float64) for points in out]


def _body_meshes(scene: bpy.types.Scene, armature: bpy.types.Object) -> list[bpy.types.Object]:
    return [
        o for o in scene.objects
        if o.type == "MESH" and len(o.data.vertices) and _belongs_to(o, armature)
    ]  # fmt: skip


def lowest_heights(
    scene: bpy.types.Scene, armature: bpy.types.Object, frames: list[int]
) -> np.ndarray:
    """Per frame, the height (F,) of the character's lowest point as rendered.

    Read off the deformed meshes, whose soles lie below the foot bones; a rig without
    meshes falls back to its bones.
    """
    meshes = _body_meshes(scene, armature)
    if not meshes:
        (points,) = bone_points(scene, [armature], frames)
        return points[..., 2].min(axis=1)
    lowest = np.full(len(frames), np.inf)
    for k, frame in enumerate(frames):
        scene.frame_set(frame)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        for obj in meshes:
            evaluated = obj.evaluated_get(depsgraph)
            mesh = evaluated.to_mesh()
            try:
                co = np.empty(len(mesh.vertices) * 3)
                mesh.vertices.foreach_get("co", co)
                world = np.array(evaluated.matrix_world)
                z = co.reshape(-1, 3) @ world[2, :3] + world[2, 3]
                lowest[k] = min(lowest[k], float(z.min(initial=np.inf)))
            finally:
                evaluated.to_mesh_clear()
    return lowest
