"""Bone maps (numpy-free JSON): presets, resolution against rig bone names, files, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "blender_addon"))

from kinetic_gan_blender import body
from kinetic_gan_blender.bone_map import (
    PRESETS,
    BoneMap,
    BoneMapError,
    best_preset,
    load_bone_map,
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
    }  # fmt: skip
    assert "head" in resolved.missing and "head" in resolved.warning()
    rigify = load_bone_map("rigify").resolve(["ORG-spine", "DEF-spine", "ORG-thigh.L"])
    assert rigify.mapping == {"hips": "DEF-spine", "thigh.L": "ORG-thigh.L"}  # DEF first


def test_best_preset_recognises_rigs():
    assert best_preset([b.name for b in body.CANONICAL_BONES]) == "default"
    assert best_preset(["mixamorig:Hips", "mixamorig:LeftUpLeg", "mixamorig:Spine1"]) == "mixamo"
    assert best_preset(["DEF-spine", "DEF-thigh.L"]) == "rigify"
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
    with pytest.raises(BoneMapError, match="matches no bone"):
        load_bone_map("mixamo").resolve(["Bone"])
    assert json.loads((Path(load_bone_map("h36m").source)).read_text())["name"] == "h36m"
