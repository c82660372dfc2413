"""Bone maps (numpy-free JSON): presets, resolution against rig bone names, files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kinetic_gan_blender.core import body
from kinetic_gan_blender.core.bone_map import (
    CORE_BONES,
    PRESETS,
    BoneMap,
    BoneMapError,
    best_preset,
    check,
    choose,
    load_bone_map,
    name_key,
    rank_presets,
)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_names_only_canonical_bones(name):
    bone_map = load_bone_map(name)
    assert bone_map.name == name and {"hips", "thigh.L", "forearm.R"} <= set(bone_map.bones)
    assert set(bone_map.bones) <= set(body.CANONICAL_BY_NAME)


def test_candidates_and_namespaces_resolve():
    rig = ["mixamorig:Hips", "mixamorig:Spine", "mixamorig:LeftArm"]
    resolved = load_bone_map("mixamo").resolve(rig)
    assert resolved.mapping == {
        "hips": "mixamorig:Hips", "spine": "mixamorig:Spine", "upper_arm.L": "mixamorig:LeftArm",
    }
    assert "head" in resolved.missing and "head" in resolved.warning()
    rigify = load_bone_map("rigify").resolve(["ORG-spine", "DEF-spine", "ORG-thigh.L"])
    assert rigify.mapping == {"hips": "DEF-spine", "thigh.L": "ORG-thigh.L"}  # DEF first


def test_best_preset_recognises_rigs():
    assert best_preset([b.name for b in body.CANONICAL_BONES]) == "default"
    assert best_preset(["mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:Spine1"]) == "mixamo"
    assert best_preset(["DEF-spine", "DEF-thigh.L"]) == "rigify"
    assert best_preset(["torso", "thigh_fk.L", "upper_arm_fk.L", "DEF-spine"]) == "rigify"
    assert best_preset(["Hips", "Chest2", "LeftCollar", "LeftShoulder", "LeftHip"]) == "mocapbank"
    assert best_preset(["spine", "spine.002", "thigh.L", "f_middle.01.L"]) == "metarig"
    assert best_preset(["Bone", "Bone.001"]) is None


def test_saved_maps_round_trip(tmp_path):
    original = BoneMap("mine", {"hips": ("pelvis",), "head": ("Head", "head")}, "a test rig")
    original.save(tmp_path / "mine.json")
    assert load_bone_map(tmp_path / "mine.json") == original
    assert not list(tmp_path.glob(".*"))  # written atomically, no temp file left


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "invalid JSON"),
        ('{"format": "other"}', "not a bone map"),
        ('{"format": "kinetic-gan-bone-map/1", "bones": {}}', "non-empty"),
        ('{"format": "kinetic-gan-bone-map/1", "bones": {"tail": "x"}}', "unknown canonical"),
        ('{"format": "kinetic-gan-bone-map/1", "bones": {"hips": 3}}', "needs a bone name"),
        ('{"format": "kinetic-gan-bone-map/1", "bones": {"hips": "a"}, "at_rest": "b"}', "at_rest"),
        (
            '{"format": "kinetic-gan-bone-map/1", "bones": {"hips": "a"}, "switches": {"b": 1}}',
            "switches",
        ),
    ],
)
def test_bad_files_give_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BoneMapError, match=message):
        load_bone_map(path)


def test_missing_files_and_useless_maps_are_errors(tmp_path):
    with pytest.raises(BoneMapError, match="no such bone map"):
        load_bone_map(tmp_path / "absent.json")
    with pytest.raises(BoneMapError, match="no bone-map preset fits"):
        choose(["Bone", "Bone.001"])
    assert json.loads((Path(load_bone_map("h36m").source)).read_text())["name"] == "h36m"


@pytest.mark.parametrize(
    ("names", "key"),
    [
        (
            [
                "thigh.L",
                "Thigh_L",
                "thigh_l",
                "L_Thigh",
                "LeftThigh",
                "thigh_left",
                "ThighLeft",
                "mixamorig:Thigh.L",
                "L Thigh",
            ],
            ("L", "thigh"),
        ),
        (["mixamorig:RightUpLeg", "right_up_leg", "RIGHT-UP-LEG", "UpLeg.R"], ("R", "upleg")),
        (["DEF-spine.001", "def_spine_001"], ("", "defspine001")),
        (["Hips", "hips", "HIPS"], ("", "hips")),
    ],
)
def test_names_match_whatever_their_case_separators_and_side_spelling(names, key):
    assert {name_key(n) for n in names} == {key}


def test_a_rig_with_other_spellings_resolves_through_name_keys():
    rig = ["hips", "spine_02", "LeftUpLeg", "left_leg", "RightUpLeg", "right_leg",
           "left_arm", "LeftForeArm", "RightArm", "right_fore_arm"]
    resolved = load_bone_map("mixamo").resolve(rig)
    assert resolved.mapping["hips"] == "hips"
    assert resolved.mapping["shin.L"] == "left_leg"
    assert resolved.mapping["forearm.R"] == "right_fore_arm"
    assert not resolved.missing_core


def test_auto_scores_presets_by_coverage_and_reports_it():
    mocapbank = ["Hips", "Chest", "Chest2", "LeftCollar", "LeftShoulder", "LeftElbow",
                 "LeftWrist", "RightCollar", "RightShoulder", "RightElbow", "RightWrist",
                 "Neck", "Head", "LeftHip", "LeftKnee", "LeftAnkle", "RightHip", "RightKnee",
                 "RightAnkle"]
    ranked = rank_presets(mocapbank)
    assert ranked[0].map_name == "mocapbank" and ranked[0].coverage == 1.0
    # Bone names alone would let Mixamo's map read MocapBank's upper arm as a clavicle:
    # it finds 5 of its 22 bones and no legs, so it ranks below and would be refused.
    mixamo = next(r for r in ranked if r.map_name == "mixamo")
    assert mixamo.mapping["shoulder.L"] == "LeftShoulder" and "thigh.L" in mixamo.missing_core
    chosen, resolution = choose(mocapbank)
    assert chosen.name == "mocapbank" and resolution.summary() == "'mocapbank' finds 18 of 18 bones"


def test_a_map_without_the_core_bones_is_refused_naming_them():
    resolution = load_bone_map("mixamo").resolve(["mixamorig:Hips", "mixamorig:LeftArm"])
    assert set(resolution.missing_core) == set(CORE_BONES) - {"hips", "upper_arm.L"}
    with pytest.raises(BoneMapError) as error:
        check(resolution)
    message = str(error.value)
    assert "finds 2 of 22 bones" in message and "thigh.L (no 'LeftUpLeg')" in message
    assert "Save Bone Map" in message and message.count("\n") == 0


def test_overridden_candidates_give_way_to_free_ones():
    rig = ["torso", "DEF-spine", "thigh_fk.L", "DEF-thigh.L"]
    bones = load_bone_map("rigify").resolve(rig, overridden={"DEF-spine", "DEF-thigh.L"})
    assert bones.mapping["hips"] == "torso" and bones.mapping["thigh.L"] == "thigh_fk.L"
    # With only overridden candidates the map still uses them (animate then warns).
    only_def = load_bone_map("rigify").resolve(["DEF-spine"], overridden={"DEF-spine"})
    assert only_def.mapping["hips"] == "DEF-spine"


def test_rest_bones_and_switches_round_trip(tmp_path):
    original = BoneMap("ctl", {"hips": ("torso",)}, "", at_rest=("chest",),
                       switches={"thigh_parent.L": {"IK_FK": 1.0}})
    original.save(tmp_path / "ctl.json")
    again = load_bone_map(tmp_path / "ctl.json")
    assert again.at_rest == ("chest",) and again.switches == {"thigh_parent.L": {"IK_FK": 1.0}}
    assert load_bone_map("rigify").switches["upper_arm_parent.L"] == {"IK_FK": 1.0}
