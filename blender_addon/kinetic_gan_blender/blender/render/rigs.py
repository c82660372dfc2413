"""Put a character in the scene: the built-in one, or an armature from the user's .blend."""

from __future__ import annotations

import bpy
import numpy as np

from ...core.errors import KineticGanAddonError
from ...core.render import bone_proxies
from ...core.render.options import RigSpec
from .. import api
from ..rig import belongs_to, body_meshes

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
    keep = {armature} | {o for o in objects if belongs_to(o, armature)}
    scene = bpy.context.scene
    for obj in objects:
        if obj in keep:
            scene.collection.objects.link(obj)
        else:
            bpy.data.objects.remove(obj)
    armature.name = name
    armature.location = (0.0, 0.0, 0.0)
    return armature


def has_visible_mesh(scene: bpy.types.Scene, armature: bpy.types.Object) -> bool:
    """Whether a rendered mesh hangs on the armature (child or deformed by it)."""
    return any(not o.hide_render for o in body_meshes(scene, armature))


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
