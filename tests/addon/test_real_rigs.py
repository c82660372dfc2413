"""Retargeting real mocap onto rigs nobody here built, through ``api.animate`` (bpy).

The rigs are third-party: the Mixamo and MocapBank BVH skeletons of the ``bvhtoolbox``
sdist (imported with Blender's own BVH importer), Blender's human metarig and a Rigify
control rig generated from it (built once per module). The motion is real: DeepMimic's
walk from the ``pybullet`` wheel. Both are fetched at set-up as ``kinetic-gan data fetch``
does; without a network and without a cache the tests skip, saying so. The measures are
``benchmarks/rigs.py``'s, on the rig as Blender evaluates it (constraints included).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.blender


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("rig_benchmark", ROOT / "benchmarks/rigs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()
NTU_JOINTS, NTU_PARENTS = bench.ntu_skeleton()


@pytest.fixture(scope="module")
def fetched():
    """The fetched third-party files, fetched now if missing (skips when that fails)."""
    from kinetic_gan.data import fetch
    from kinetic_gan.errors import KineticGanError

    if fetch.deepmimic_dir() is None or fetch.bvh_samples_dir() is None:
        try:
            fetch.fetch(log=lambda _: None)
        except (KineticGanError, OSError) as exc:
            pytest.skip(f"third-party rigs and clips unavailable offline: {exc}")
    return fetch.bvh_samples_dir()


@pytest.fixture(scope="module")
def bpy(tmp_path_factory, fetched):
    home = tmp_path_factory.mktemp("blender_home")
    os.environ["BLENDER_USER_RESOURCES"] = str(home / "resources")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    return pytest.importorskip("bpy")


@pytest.fixture(scope="module")
def walk(fetched) -> np.ndarray:
    return bench.deepmimic_take("walk")


@pytest.fixture
def scene(bpy):
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.context.scene.render.fps = bench.FPS
    return bpy.context.scene


@pytest.fixture(scope="module")
def rigify_file(bpy, tmp_path_factory) -> Path:
    """A generated Rigify rig, saved once (generating takes 15–40 s) and opened per test."""
    bpy.ops.wm.read_homefile(use_empty=True)
    bench.build_rigify(bpy)
    path = tmp_path_factory.mktemp("rigify") / "rig.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def assert_matches_the_input(quality, feet_cm: float = bench.LIMITS["feet_cm"]) -> None:
    assert quality.direction_median <= bench.LIMITS["direction_median"], quality
    assert quality.direction_max <= 5.0, quality
    assert quality.trunk <= bench.LIMITS["trunk"], quality
    assert quality.feet_cm <= feet_cm, quality
    assert quality.flips == 0, quality


def test_mixamo_bvh_follows_the_walk_with_its_pelvis_upright(bpy, scene, walk):
    from kinetic_gan_blender.blender import api

    armature = bench.build_rig(bpy, "mixamo")
    hips = armature.data.bones["mixamorig:Hips"]
    assert (hips.tail_local - hips.head_local).z < 0  # the importer's Hips points down
    bone_map, resolution = api.resolve_bone_map(armature)
    assert bone_map.name == "mixamo" and resolution.summary() == "'mixamo' finds 22 of 22 bones"
    quality, _ = bench.animate_and_measure(bpy, armature, "mixamo", walk, "walk")
    assert_matches_the_input(quality)


def test_a_bvh_rigs_own_euler_animation_still_plays_after_a_take(bpy, scene, walk):
    from kinetic_gan_blender.blender import api, keyframes

    armature = bench.build_rig(bpy, "mixamo")
    own = armature.animation_data.action
    pose = armature.pose.bones
    modes = {b.name: b.rotation_mode for b in pose}
    scene.frame_set(10)
    before = {b.name: np.array(b.matrix) for b in pose}
    take = api.animate(armature, walk, NTU_JOINTS, NTU_PARENTS, fps=30)
    assert {b.name: b.rotation_mode for b in pose} == modes  # no bone switched to quaternions
    assert _fcurves(take).find('pose.bones["mixamorig:Hips"].rotation_euler', index=0) is not None
    keyframes.assign_action(armature, own)
    scene.frame_set(10)
    for name, matrix in before.items():
        assert np.allclose(np.array(pose[name].matrix), matrix, atol=1e-4), name


def test_a_posed_spine_the_map_skips_is_keyed_at_rest(bpy, scene, walk):
    from mathutils import Euler

    armature = bench.build_rig(bpy, "mixamo")
    armature.animation_data.action = None
    spine = armature.pose.bones["mixamorig:Spine"]  # between the mapped Hips and Spine1
    spine.rotation_mode = "XYZ"
    spine.rotation_euler = Euler((0.7, 0.3, -0.4))
    quality, _ = bench.animate_and_measure(bpy, armature, "mixamo", walk, "walk")
    assert_matches_the_input(quality)
    assert np.allclose(spine.rotation_euler, (0, 0, 0), atol=1e-6)


def test_mocapbank_bvh_resolves_by_name_and_moves_its_legs(bpy, scene, walk):
    from kinetic_gan_blender.blender import api

    armature = bench.build_rig(bpy, "mocapbank")
    bone_map, resolution = api.resolve_bone_map(armature)
    assert bone_map.name == "mocapbank" and not resolution.missing
    assert resolution.mapping["upper_arm.L"] == "LeftShoulder"  # named after its head joint
    quality, _ = bench.animate_and_measure(bpy, armature, "mocapbank", walk, "walk")
    assert_matches_the_input(quality, feet_cm=4.0)  # its feet are 2 joints, ankle and toe


def test_metarig_stands_on_the_floor(bpy, scene, walk):
    armature = bench.build_rig(bpy, "metarig")
    quality, _ = bench.animate_and_measure(bpy, armature, "metarig", walk, "walk")
    assert_matches_the_input(quality)


def test_rigify_is_driven_through_its_fk_controls(bpy, rigify_file, walk):
    from kinetic_gan_blender.blender import api

    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    bpy.context.scene.render.fps = bench.FPS
    armature = bpy.data.objects["rig"]
    quality, action = bench.animate_and_measure(bpy, armature, "rigify", walk, "walk")
    assert_matches_the_input(quality)  # measured on the deform bones the mesh follows
    stored = action[api.TAKE_KEY]
    assert stored["bone_map"] == "rigify" and not list(stored["warnings"])
    keyed = {c.group.name for c in _fcurves(action) if c.group}
    assert {"torso", "spine_fk.002", "upper_arm_fk.L", "thigh_fk.R", "hips", "chest"} <= keyed
    assert not {n for n in keyed if n.startswith(("DEF-", "ORG-", "MCH-"))}
    for side in "LR":
        for switch in (f"upper_arm_parent.{side}", f"thigh_parent.{side}"):
            assert armature.pose.bones[switch]["IK_FK"] == 1.0  # FK, and keyed in the take
            path = f'pose.bones["{switch}"]["IK_FK"]'
            assert _fcurves(action).find(path, index=0) is not None


def test_keys_on_bones_constraints_override_are_reported(bpy, rigify_file, walk):
    from kinetic_gan_blender.blender import api
    from kinetic_gan_blender.core import bone_map

    bpy.ops.wm.open_mainfile(filepath=str(rigify_file))
    armature = bpy.data.objects["rig"]
    metarig = bone_map.load_bone_map("metarig").bones
    deform = bone_map.BoneMap("deform", {k: (f"DEF-{v[0]}",) for k, v in metarig.items()})
    action = api.animate(armature, walk, NTU_JOINTS, NTU_PARENTS,
                         bone_map=deform)
    (warning,) = [w for w in action[api.TAKE_KEY]["warnings"] if "constraints override" in w]
    assert "DEF-thigh.L" in warning and "controls" in warning


def test_a_map_that_does_not_fit_names_the_bones_it_cannot_find(bpy, scene, walk):
    from kinetic_gan_blender.blender import api
    from kinetic_gan_blender.core import bone_map

    armature = bench.build_rig(bpy, "mocapbank")
    with pytest.raises(bone_map.BoneMapError) as error:
        api.animate(armature, walk, NTU_JOINTS, NTU_PARENTS, bone_map="mixamo")
    message = str(error.value)
    assert "'mixamo' finds 5 of 22 bones" in message
    assert "thigh.L (no 'LeftUpLeg')" in message and "forearm.R (no 'RightForeArm')" in message


def test_a_bone_map_saved_on_the_rig_is_used_and_travels_with_it(bpy, scene, walk):
    from kinetic_gan_blender.blender import api
    from kinetic_gan_blender.core import bone_map

    armature = bench.build_rig(bpy, "mocapbank")
    custom = bone_map.load_bone_map("mocapbank")
    custom.name = "my mocapbank"
    custom.bones["spine"] = ("Chest",)
    api.store_bone_map(armature, custom)
    assert api.stored_bone_map(armature) == custom
    action = api.animate(armature, walk, NTU_JOINTS, NTU_PARENTS)
    assert action[api.TAKE_KEY]["bone_map"] == "my mocapbank"


def _fcurves(action):
    """The F-curves of a take's action (Blender 4.4+: its first slot's channel bag)."""
    from bpy_extras.anim_utils import action_get_channelbag_for_slot

    return action_get_channelbag_for_slot(action, action.slots[0]).fcurves
