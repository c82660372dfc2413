"""The built-in character in Blender: an NTU-25 armature and a capsule body skinned to it."""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from ..core import character
from ..core.capsules import capsule
from ..core.retarget import RigRest

CHARACTER_TAG = "kgan_character"  # custom property marking objects we built


def build_default_character(scene: bpy.types.Scene | None = None, name: str = "KGAN_Character"):
    """Create the armature (named ``name``) with its skinned mesh child; returns the armature."""
    scene = scene or bpy.context.scene
    arm_data = bpy.data.armatures.new(name)
    armature = bpy.data.objects.new(name, arm_data)
    armature[CHARACTER_TAG] = 1
    scene.collection.objects.link(armature)
    _build_bones(armature)
    for pose_bone in armature.pose.bones:
        pose_bone.rotation_mode = "QUATERNION"
    body = _build_body(armature, f"{name}_Body")
    scene.collection.objects.link(body)
    return armature


def _build_bones(armature: bpy.types.Object) -> None:
    # Edit bones exist only in edit mode, which needs the object active in a view layer.
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    if previous is not None and previous.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    view_layer.objects.active = armature
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = armature.data.edit_bones
        for spec in character.BONES:
            bone = edit_bones.new(spec.name)
            bone.head = Vector(character.point(spec.head))
            bone.tail = Vector(character.point(spec.tail))
            bone.align_roll(Vector(spec.z_hint))
            if spec.parent:
                bone.parent = edit_bones[spec.parent]
                bone.use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous if previous is not None else armature


def _build_body(armature: bpy.types.Object, name: str) -> bpy.types.Object:
    names, _, _, _, mats = character.rest_bones()
    verts_all: list[np.ndarray] = []
    faces_all: list[tuple[int, ...]] = []
    groups: list[tuple[str, range]] = []
    face_materials: list[int] = []
    material_names = list(character.MATERIALS)
    for shape in character.SHAPES:
        b = names.index(shape.bone)
        start = _lerp(*shape.start)
        end = _lerp(*shape.end)
        verts, faces = capsule(start, end, shape.radii, mats[b], shape.depth)
        offset = sum(len(v) for v in verts_all)
        verts_all.append(verts)
        faces_all.extend(tuple(i + offset for i in f) for f in faces)
        groups.append((shape.bone, range(offset, offset + len(verts))))
        face_materials.extend([material_names.index(shape.material)] * len(faces))
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.concatenate(verts_all).tolist(), [], faces_all)
    mesh.polygons.foreach_set("material_index", face_materials)
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    mesh.update()
    for material_name in material_names:
        mesh.materials.append(
            _material(f"KGAN_{material_name}", character.MATERIALS[material_name])
        )
    body = bpy.data.objects.new(name, mesh)
    body[CHARACTER_TAG] = 1
    body.parent = armature
    # Rigid skinning: each capsule follows one bone, like an artist's mannequin.
    for bone_name, indices in groups:
        group = body.vertex_groups.get(bone_name) or body.vertex_groups.new(name=bone_name)
        group.add(list(indices), 1.0, "REPLACE")
    modifier = body.modifiers.new("Armature", "ARMATURE")
    modifier.object = armature
    return body


def _lerp(a: str, b: str, t: float) -> np.ndarray:
    return (1 - t) * character.point(a) + t * character.point(b)


def _material(name: str, color: tuple[float, float, float, float]) -> bpy.types.Material:
    material = bpy.data.materials.get(name) or bpy.data.materials.new(name)
    material.diffuse_color = color
    return material


def rig_rest(armature: bpy.types.Object) -> RigRest:
    """Any armature's rest pose as retargeting needs it (armature space).

    Besides the bones' rest frames it records which bones copy another's posed transform
    (a full, world-space Copy Transforms, as Rigify's ORG bones copy its controls: read
    from the evaluated rig, so driven influences such as the IK/FK switches count) and
    which bones an artist can pose (in a visible bone collection, or in none).
    """
    bones = armature.data.bones
    count = len(bones)
    follows_by_name = _copied_bones(armature)
    order = _parents_first(list(bones), follows_by_name)
    names = tuple(bones[i].name for i in order)
    position = {name: k for k, name in enumerate(names)}
    parents = tuple(
        position[bones[i].parent.name] if bones[i].parent is not None else -1 for i in order
    )
    follows = tuple(position.get(follows_by_name.get(n, ""), -1) for n in names)
    posable = tuple(_is_posable(bones[i]) for i in order)
    # Three bulk reads instead of a Python loop over the bones (this runs for every take).
    heads, tails, matrices = np.empty(3 * count), np.empty(3 * count), np.empty(16 * count)
    bones.foreach_get("head_local", heads)
    bones.foreach_get("tail_local", tails)
    bones.foreach_get("matrix_local", matrices)  # 4×4 each, column by column
    heads = heads.reshape(-1, 3)[order]
    tails = tails.reshape(-1, 3)[order]
    mats = np.swapaxes(matrices.reshape(-1, 4, 4), 1, 2)[order, :3, :3]
    return RigRest(names, parents, heads, tails, np.ascontiguousarray(mats), follows, posable)


# Constraints that replace (not merely limit) a bone's rotation, when they have influence.
_OVERRIDING = frozenset({
    "COPY_TRANSFORMS", "COPY_ROTATION", "CHILD_OF", "ARMATURE", "DAMPED_TRACK",
    "LOCKED_TRACK", "TRACK_TO", "STRETCH_TO", "IK", "SPLINE_IK", "TRANSFORM", "ACTION",
})


def _active_constraints(armature: bpy.types.Object):
    """(pose bone name, constraint) for every constraint that acts, as evaluated."""
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = armature.evaluated_get(depsgraph)
    for pose_bone in evaluated.pose.bones:
        for constraint in pose_bone.constraints:
            if constraint.enabled and not constraint.mute and constraint.influence > 1e-6:
                yield pose_bone, constraint


def _copied_bones(armature: bpy.types.Object) -> dict[str, str]:
    """Bone → the bone of the same rig whose world transform it ends up copying."""
    copies: dict[str, str] = {}
    for pose_bone, c in _active_constraints(armature):
        if c.type == "COPY_TRANSFORMS":
            whole = (
                c.influence > 0.999
                and c.target is not None
                and c.target.original == armature  # the evaluated rig's target is its copy
                and c.subtarget
                and c.owner_space == c.target_space == "WORLD"
                and c.mix_mode == "REPLACE"
            )
            if whole:
                copies[pose_bone.name] = c.subtarget
            else:
                copies.pop(pose_bone.name, None)  # a later partial copy: no longer exact
        elif c.type in _OVERRIDING:
            copies.pop(pose_bone.name, None)
    return copies


def overridden_bones(armature: bpy.types.Object) -> set[str]:
    """Bones whose rotation a constraint replaces: keys on them would not show.

    A bone's own overriding constraints, and the bones an IK constraint's chain bends.
    """
    overridden: set[str] = set()
    bones = armature.data.bones
    for pose_bone, c in _active_constraints(armature):
        if c.type not in _OVERRIDING:
            continue
        overridden.add(pose_bone.name)
        if c.type in ("IK", "SPLINE_IK"):
            chain = c.chain_count or len(bones)  # 0: the whole way to the root
            bone = bones[pose_bone.name].parent
            for _ in range(chain - 1):
                if bone is None:
                    break
                overridden.add(bone.name)
                bone = bone.parent
    return overridden


def _is_posable(bone: bpy.types.Bone) -> bool:
    collections = getattr(bone, "collections", None)  # Blender 4.0+
    if collections is None or not len(collections):
        return not bone.hide
    return any(c.is_visible for c in collections) and not bone.hide


def _parents_first(bones: list, follows: dict[str, str]) -> list[int]:
    """Bone indices, every bone after its parent and after the bone it copies."""
    index = {b.name: i for i, b in enumerate(bones)}
    order: list[int] = []
    seen: set[int] = set()
    visiting: set[int] = set()

    def visit(i: int) -> None:
        if i in seen:
            return
        visiting.add(i)
        parent = bones[i].parent
        if parent is not None:
            visit(index[parent.name])
        copied = index.get(follows.get(bones[i].name, ""))
        if copied is not None and copied not in visiting:
            visit(copied)
        elif copied is not None:
            follows.pop(bones[i].name)  # a copy cycle: Blender cannot solve it either
        visiting.discard(i)
        seen.add(i)
        order.append(i)

    for i in range(len(bones)):
        visit(i)
    return order


def belongs_to(obj: bpy.types.Object, armature: bpy.types.Object) -> bool:
    """Whether ``obj`` hangs on ``armature``: a child (at any depth) or deformed by it."""
    parent = obj.parent
    while parent is not None:
        if parent == armature:
            return True
        parent = parent.parent
    return any(m.type == "ARMATURE" and m.object == armature for m in obj.modifiers)


def body_meshes(scene: bpy.types.Scene, armature: bpy.types.Object) -> list[bpy.types.Object]:
    """The meshes with vertices that hang on ``armature`` (``belongs_to``)."""
    return [
        o for o in scene.objects
        if o.type == "MESH" and len(o.data.vertices) and belongs_to(o, armature)
    ]


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
