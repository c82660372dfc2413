"""The character as rendered on the floor: its lowest point per frame (meshes' soles, or
its bones), and its height keyed so those soles meet the floor (``ground_rig``).

The last of a take's three steps onto the floor (see ``core.retarget.grounding``): the
retargeting grounds the rig's foot bones, but its meshes' soles lie below them.
"""

from __future__ import annotations

import bpy
import numpy as np

from ..core.retarget.grounding import ground_lift
from . import keyframes
from .rig import body_meshes, bone_points


def ground_rig(armature: bpy.types.Object, action: bpy.types.Action) -> None:
    """Keep the character on the floor as rendered, over the action's frames.

    Retargeting grounds the performer's feet, but the rig's legs are not the performer's,
    so its soles float or sink: measure the rig itself and key the armature's height (in
    the take's own action) to put them on the floor.
    """
    start, end = (round(f) for f in action.frame_range)
    frames = np.arange(start, end + 1)
    lowest = lowest_heights(bpy.context.scene, armature, frames.tolist())
    z = armature.location.z + ground_lift(lowest)
    keyframes.write_curve(action, armature, "location", 2, "Object Transforms", frames, z)


def lowest_heights(
    scene: bpy.types.Scene, armature: bpy.types.Object, frames: list[int]
) -> np.ndarray:
    """Per frame, the height (F,) of the character's lowest point as rendered.

    Read off the deformed meshes, whose soles lie below the foot bones; a rig without
    meshes falls back to its bones.
    """
    meshes = body_meshes(scene, armature)
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
