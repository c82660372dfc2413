"""The built-in character and user rigs (Mixamo-, Rigify-named) driven in Blender (bpy)."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan_blender.core import body, character, motion_samples
from kinetic_gan_blender.core.retarget import RigRest, dataset_to_blender

pytestmark = pytest.mark.blender
JOINTS = motion_samples.walk_cycle(24)
J = {name: i for i, name in enumerate(body.NTU_JOINTS)}


@pytest.fixture
def scene(bpy):
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = 30
    return bpy.context.scene


def p(joint: str, toward: str | None = None, t: float = 0.0) -> np.ndarray:
    a = character.point(joint)
    return a if toward is None else (1 - t) * a + t * character.point(toward)


def build_armature(bpy, name: str, bones: list[tuple], roll_hint=(1.0, 0.3, 0.2)):
    """An armature from (name, head, tail, parent) with rolls unlike the built-in rig's."""
    from mathutils import Vector

    arm = bpy.data.objects.new(name, bpy.data.armatures.new(name))
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, head, tail, parent in bones:
        eb = arm.data.edit_bones.new(bone_name)
        eb.head, eb.tail = Vector(head), Vector(tail)
        eb.align_roll(Vector(roll_hint))
        if parent:
            eb.parent = arm.data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return arm


def mixamo_bones(prefix: str = "mixamorig:") -> list[tuple]:
    b = [("Hips", p("SpineBase"), p("SpineMid"), None),
         ("Spine", p("SpineMid"), p("SpineMid", "SpineShoulder", 0.3), "Hips"),
         ("Spine1", p("SpineMid", "SpineShoulder", 0.3), p("SpineShoulder"), "Spine"),
         ("Spine2", p("SpineShoulder"), p("SpineShoulder", "Neck", 0.5), "Spine1"),
         ("Neck", p("SpineShoulder", "Neck", 0.5), p("Neck"), "Spine2"),
         ("Head", p("Neck"), p("Head"), "Neck")]
    for side in ("Left", "Right"):
        b += [(f"{side}UpLeg", p(f"Hip{side}"), p(f"Knee{side}"), "Hips"),
              (f"{side}Leg", p(f"Knee{side}"), p(f"Ankle{side}"), f"{side}UpLeg"),
              (f"{side}Foot", p(f"Ankle{side}"), p(f"Foot{side}"), f"{side}Leg"),
              (f"{side}Shoulder", p("SpineShoulder"), p(f"Shoulder{side}"), "Spine2"),
              (f"{side}Arm", p(f"Shoulder{side}"), p(f"Elbow{side}"), f"{side}Shoulder"),
              (f"{side}ForeArm", p(f"Elbow{side}"), p(f"Wrist{side}"), f"{side}Arm"),
              (f"{side}Hand", p(f"Wrist{side}"), p(f"Hand{side}"), f"{side}ForeArm")]
    return [(prefix + n, h, t, prefix + par if par else None) for n, h, t, par in b]


def rigify_bones() -> list[tuple]:
    spine = ["SpineBase", "SpineMid", "SpineShoulder", "Neck", "Head"]
    b = []
    # DEF-spine … DEF-spine.006 split the torso like Rigify's human.
    points = [p(spine[0]), p(spine[1]), p(spine[1], spine[2], 0.5), p(spine[2]),
              p(spine[2], spine[3], 0.5), p(spine[3]), p(spine[3], spine[4], 0.5), p(spine[4])]
    for k in range(7):
        name = "DEF-spine" + (f".{k:03d}" if k else "")
        parent = None if k == 0 else "DEF-spine" + (f".{k - 1:03d}" if k > 1 else "")
        b.append((name, points[k], points[k + 1], parent))
    for s, side in (("L", "Left"), ("R", "Right")):
        b += [(f"DEF-pelvis.{s}", p("SpineBase"), p(f"Hip{side}"), "DEF-spine"),
              (f"DEF-thigh.{s}", p(f"Hip{side}"), p(f"Knee{side}"), "DEF-spine"),
              (f"DEF-shin.{s}", p(f"Knee{side}"), p(f"Ankle{side}"), f"DEF-thigh.{s}"),
              (f"DEF-foot.{s}", p(f"Ankle{side}"), p(f"Foot{side}"), f"DEF-shin.{s}"),
              (f"DEF-shoulder.{s}", p("SpineShoulder"), p(f"Shoulder{side}"), "DEF-spine.003"),
              (f"DEF-upper_arm.{s}", p(f"Shoulder{side}"), p(f"Elbow{side}"), f"DEF-shoulder.{s}"),
              (f"DEF-forearm.{s}", p(f"Elbow{side}"), p(f"Wrist{side}"), f"DEF-upper_arm.{s}"),
              (f"DEF-hand.{s}", p(f"Wrist{side}"), p(f"Hand{side}"), f"DEF-forearm.{s}")]
    return b


def assert_bones_follow_the_joints(bpy, armature, mapping: dict[str, str], tol_deg: float = 2.0):
    points = dataset_to_blender(JOINTS)
    worst = {}
    for frame in (1, 9, 17, 24):
        bpy.context.scene.frame_set(frame)
        for canonical, rig_bone in mapping.items():
            bone = body.CANONICAL_BY_NAME[canonical]
            pb = armature.pose.bones[rig_bone]
            got = np.array(pb.tail - pb.head)
            want = points[frame - 1, J[bone.tail]] - points[frame - 1, J[bone.head[0]]]
            cos = got @ want / np.linalg.norm(got) / np.linalg.norm(want)
            worst[canonical] = max(worst.get(canonical, 0), np.degrees(np.arccos(min(cos, 1.0))))
    assert max(worst.values()) < tol_deg, worst


def test_default_character_is_an_ntu_armature_with_a_skinned_body(bpy, scene):
    from kinetic_gan_blender.blender import api, rig

    arm = api.build_default_character(scene)
    assert arm.type == "ARMATURE" and arm.name == "KGAN_Character"
    assert {b.name for b in arm.data.bones} == {b.name for b in character.BONES}
    (mesh,) = arm.children
    assert mesh.type == "MESH" and len(mesh.data.vertices) > 1000
    assert mesh.modifiers["Armature"].object == arm
    weighted = {mesh.vertex_groups[g.group].name for v in mesh.data.vertices for g in v.groups}
    assert weighted == {s.bone for s in character.SHAPES}
    # The pure-numpy rest pose tests use is exactly what Blender built.
    built, expected = rig.rig_rest(arm), RigRest.default_character()
    order = [expected.bone_names.index(n) for n in built.bone_names]
    assert np.allclose(built.matrices, expected.matrices[order], atol=1e-5)
    assert np.allclose(built.heads, expected.heads[order], atol=1e-6)


def test_default_character_follows_the_joints(bpy, scene):
    from kinetic_gan_blender.blender import api

    arm = api.build_default_character(scene)
    api.animate(arm, JOINTS, body.NTU_JOINTS, list(range(25)), fps=30)
    assert_bones_follow_the_joints(bpy, arm, {b.name: b.name for b in body.CANONICAL_BONES})


def test_skinned_mesh_moves_with_the_pose(bpy, scene):
    from kinetic_gan_blender.blender import api

    arm = api.build_default_character(scene)
    api.animate(arm, JOINTS, body.NTU_JOINTS, list(range(25)), fps=30)
    scene.frame_set(12)
    mesh = arm.children[0]
    evaluated = mesh.evaluated_get(bpy.context.evaluated_depsgraph_get())
    posed = np.array([v.co for v in evaluated.to_mesh().vertices])
    evaluated.to_mesh_clear()
    rest = np.array([v.co for v in mesh.data.vertices])
    assert np.abs(posed - rest).max() > 0.2  # it walked away from the rest pose
    assert posed[:, 2].min() > -0.02  # and stands on the floor, not in it


@pytest.mark.parametrize("prefix", ["mixamorig:", "mixamorig1:", ""])
def test_mixamo_preset_drives_a_mixamo_named_rig(bpy, scene, prefix):
    from kinetic_gan_blender.blender import api
    from kinetic_gan_blender.core import bone_map

    arm = build_armature(bpy, "Mixamo", mixamo_bones(prefix))
    names = [b.name for b in arm.data.bones]
    assert bone_map.best_preset(names) == "mixamo"
    action = api.animate(arm, JOINTS, body.NTU_JOINTS, list(range(25)), bone_map="mixamo")
    resolved = api.load_bone_map("mixamo").resolve(names)
    assert resolved.mapping["hips"] == f"{prefix}Hips"
    assert resolved.mapping["spine"] == f"{prefix}Spine1"
    # Fingers and thumbs are not in this rig: skipped with a warning, not an error.
    assert "fingers.L" in resolved.missing
    assert any("fingers.L" in w for w in api.take_joints(action)["warnings"])
    assert_bones_follow_the_joints(bpy, arm, resolved.mapping)


def test_rigify_preset_drives_def_bones_whatever_their_roll(bpy, scene):
    from kinetic_gan_blender.blender import api

    arm = build_armature(bpy, "Rigify", rigify_bones(), roll_hint=(0.0, 0.2, 1.0))
    api.animate(arm, JOINTS, body.NTU_JOINTS, list(range(25)), bone_map="rigify")
    resolved = api.load_bone_map("rigify").resolve([b.name for b in arm.data.bones])
    assert resolved.mapping["upper_arm.L"] == "DEF-upper_arm.L"
    assert resolved.mapping["hips"] == "DEF-spine"
    assert_bones_follow_the_joints(bpy, arm, resolved.mapping)
