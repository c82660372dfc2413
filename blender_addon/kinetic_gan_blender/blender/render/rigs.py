"""Put a character in the scene: the built-in one, or an armature from the user's .blend."""

from __future__ import annotations

import bpy
import numpy as np

from ...core.errors import KineticGanAddonError
from ...core.render import bone_proxies
from ...core.render.options import RigSpec
from .. import api

PROXY_COLOR = (0.20, 0.40, 0.72, 1.0)  # a clear blue against the grey floor and backdrop


class RigError(KineticGanAddonError, ValueError):
    """The rig named on the command line cannot be used."""

    code = "rig"


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
    ]


def has_visible_mesh(scene: bpy.types.Scene, armature: bpy.types.Object) -> bool:
    """Whether a rendered mesh hangs on the armature (child or deformed by it)."""
    return any(not o.hide_render for o in _body_meshes(scene, armature))


def add_bone_proxies(scene: bpy.types.Scene, armature: bpy.types.Object) -> bpy.types.Object | None:
    """A mesh of bone proxies skinned to ``armature`` when it has no visible mesh, else None.

    One octahedron per deform bone (every bone when none deforms), each vertex weighted
    fully to its bone and deformed by an Armature modifier, so the picture shows the
    motion exactly as the bones move. Raises :class:`RigError` for an armature without
    bones: nothing could show its motion.
    """
    if has_visible_mesh(scene, armature):
        return None
    bones = [b for b in armature.data.bones if b.use_deform] or list(armature.data.bones)
    if not bones:
        raise RigError(f"{armature.name} has no bones: nothing to animate or render")
    heads = np.array([b.head_local for b in bones])
    tails = np.array([b.tail_local for b in bones])
    axes = np.array([np.array(b.matrix_local)[:3, :3] for b in bones])  # columns X, Y, Z
    verts, faces = bone_proxies.octahedra(heads, tails, axes[:, :, 0], axes[:, :, 2])
    mesh = bpy.data.meshes.new(f"{armature.name}_BoneProxies")
    mesh.from_pydata(verts.tolist(), [], faces)
    mesh.update()
    mesh.materials.append(_proxy_material())
    proxies = bpy.data.objects.new(mesh.name, mesh)
    scene.collection.objects.link(proxies)
    # Vertices are in the armature's rest space: parented with an identity inverse, the
    # object sits exactly on the armature wherever it moves (grid offsets, grounding).
    proxies.parent = armature
    for b, bone in enumerate(bones):
        group = proxies.vertex_groups.new(name=bone.name)
        group.add(list(range(6 * b, 6 * b + 6)), 1.0, "REPLACE")
    modifier = proxies.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    return proxies


def _proxy_material() -> bpy.types.Material:
    name = "KGAN_BoneProxy"
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = PROXY_COLOR  # Workbench's material colour
    if material.use_nodes and material.node_tree is not None:  # EEVEE / Cycles
        shader = material.node_tree.nodes.get("Principled BSDF")
        if shader is not None:
            shader.inputs["Base Color"].default_value = PROXY_COLOR
    return material


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
