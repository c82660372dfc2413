"""A folder of BVH takes becomes a dataset: families, units, axes, round trip, bad input.

Every BVH here is written by the test itself (kinetic_gan.data.synthetic_bvh: one
procedural performer with each family's skeleton), except the bvhtoolbox samples of the
fetch cache (skipped when absent).
"""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import replace

import numpy as np
import pytest

from kinetic_gan import cli
from kinetic_gan.data import fetch, open_dataset
from kinetic_gan.data.bvh import BvhMotion, parse_bvh, read_bvh
from kinetic_gan.data.bvh_corpus import BvhCorpusOptions, build_bvh_corpus
from kinetic_gan.data.bvh_writer import format_bvh, joints_motion, write_bvh
from kinetic_gan.data.skeleton_families import CORE, choose_mapping, map_joints
from kinetic_gan.data.source_frame import source_frame
from kinetic_gan.data.synthetic_bvh import performer, write_corpus
from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import NTU_JOINTS, NTU_PARENTS

J = {name: i for i, name in enumerate(NTU_JOINTS)}
CORE_INDEX = [J[j] for j in CORE]
SAMPLES = fetch.bvh_samples_dir()


def ntu_metres(text: str):
    """A BVH text → (family mapping, source frame, (F, 25, 3) NTU joints in metres, Y up)."""
    motion = parse_bvh(text)
    mapping = choose_mapping(motion.names)
    joints, _ = map_joints(motion.world_positions(), motion.names, mapping)
    rest, _ = map_joints(motion.rest_positions()[None], motion.names, mapping)
    frame = source_frame(rest[0], joints)
    return mapping, frame, joints * frame.scale @ frame.matrix.T


def family_text(family: str, **kwargs) -> str:
    text = format_bvh(performer(family, "walk", 1, seconds=2.0, **kwargs))
    if family == "mixamo":
        text = text.replace("ROOT ", "ROOT mixamorig:").replace("JOINT ", "JOINT mixamorig:")
    return text


@pytest.mark.parametrize("family", ["mixamo", "cmu", "biovision", "rigify"])
@pytest.mark.parametrize(("units", "up", "fps"), [("cm", "+y", 120.0), ("m", "+z", 24.0),
                                                  ("cm", "+z", 30.0), ("m", "+y", 60.0)])
def test_every_family_maps_all_core_joints_in_any_units_and_axes(family, units, up, fps):
    mapping, frame, joints = ntu_metres(family_text(family, units=units, up=up, fps=fps))
    assert (mapping.family, mapping.core_found, mapping.missing) == (family, len(CORE), ())
    assert (frame.units, frame.up, frame.units_detected, frame.up_detected) == (
        units, up, True, True)
    # the same body moving the same way: the core joints agree with the metre, Y-up file
    _, _, reference = ntu_metres(family_text(family, fps=fps))
    np.testing.assert_allclose(joints[:, CORE_INDEX], reference[:, CORE_INDEX], atol=1e-4)
    assert 1.6 < joints[0, J["Head"], 1] < 1.8  # metres, standing, Y up
    # left side at +X in the file (BVH's usual facing +Z)
    assert joints[0, J["WristLeft"], 0] > joints[0, J["WristRight"], 0]


def test_families_agree_on_the_core_joints_of_one_body():
    core = [ntu_metres(family_text(f))[2][:, CORE_INDEX]
            for f in ("mixamo", "cmu", "biovision", "rigify")]
    for other in core[1:]:
        np.testing.assert_allclose(other, core[0], atol=1e-6)


def test_unknown_skeleton_names_the_closest_family():
    text = family_text("biovision").replace("LeftElbow", "LeftBendyBit").replace(
        "RightElbow", "RightBendyBit")
    with pytest.raises(KineticGanError, match=r"closest family biovision finds 13/15.*"
                                              r"ElbowLeft.*--joint-map"):
        ntu_metres(text)


def build(src, out, **options):
    return build_bvh_corpus(src, out, BvhCorpusOptions(**options))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    write_corpus(root / "src", takes=4)
    report = build(root / "src", root / "ds")
    return root, report


def test_build_writes_the_ntu_layout_with_a_window_table(corpus):
    root, report = corpus
    meta = json.loads((root / "ds" / "meta.json").read_text())
    assert meta["class_names"] == ["squat", "walk", "wave"] and meta["skeleton"] == "ntu"
    assert {t["family"] for t in meta["takes"]} == {"mixamo", "cmu", "biovision", "rigify"}
    assert {(t["units"], t["up"]) for t in meta["takes"]} == {
        ("m", "+y"), ("cm", "+y"), ("m", "+z"), ("cm", "+z")}
    for split in ("train", "test"):
        ds = open_dataset(root / "ds", split=split, frames=None)
        assert ds.shape == (3, 64, 25) and len(ds) == meta["splits"][split] > 0
        assert len(meta["windows"][split]) == len(ds)
        _, labels = pickle.loads((root / "ds" / f"{split}_label.pkl").read_bytes())
        for row, label in zip(meta["windows"][split], labels, strict=True):
            assert meta["class_names"][label] == row["label"] == row["file"].split("/")[0]
            assert row["frames"][1] > row["frames"][0] >= 0
        joints = ds.array(normalized=False)
        assert np.isfinite(joints).all() and joints[:, 1].min() >= -1e-6
    # split by take: no take gives windows to both splits, every class is tested
    train = {w["file"] for w in meta["windows"]["train"]}
    test = {w["file"] for w in meta["windows"]["test"]}
    assert not train & test and {f.split("/")[0] for f in test} == set(meta["class_names"])
    text = "\n".join(report.lines())
    for family in ("mixamo", "cmu", "biovision", "rigify"):
        assert f"skeleton {family}" in text
    assert "15/15 core joints" in text and "cm (detected), Z up (detected)" in text
    assert "derived: HandTipLeft, HandTipRight, ThumbLeft, ThumbRight" in text  # Biovision


def test_windows_face_minus_z_with_the_left_side_at_minus_x(corpus):
    root, _ = corpus
    joints = open_dataset(root / "ds", frames=None).array(normalized=False)
    first = joints[:, :, 0]  # (N, 3, 25)
    assert (first[:, 0, J["ShoulderLeft"]] < first[:, 0, J["ShoulderRight"]]).all()
    toes = first[:, 2, J["FootLeft"]] - first[:, 2, J["AnkleLeft"]]
    assert (toes < 0).mean() > 0.75  # the feet point where the body faces (−Z), swing or not


def test_build_is_deterministic(corpus, tmp_path):
    root, _ = corpus
    build(root / "src", tmp_path / "again")
    for name in ("train_data.npy", "train_label.pkl", "test_data.npy", "test_label.pkl",
                 "meta.json"):
        again = (tmp_path / "again" / name).read_bytes()
        first = (root / "ds" / name).read_bytes()
        if name == "meta.json":  # the output folder's name is the dataset's name
            again = again.replace(b'"name": "again"', b'"name": "ds"')
        assert again == first, name


def test_split_by_window_and_stride(corpus, tmp_path):
    root, _ = corpus
    build(root / "src", tmp_path / "w", split_by="window", stride=32, test_share=0.5)
    meta = json.loads((tmp_path / "w" / "meta.json").read_text())
    assert meta["stride"] == 32 and meta["split_by"] == "window"
    assert {w["file"] for w in meta["windows"]["test"]} <= {
        w["file"] for w in meta["windows"]["train"]}
    starts = [w["frames"][0] for w in meta["windows"]["train"]
              if w["file"].startswith("walk/take0_")]
    assert starts[:1] == [0.0]  # take 0 at 30 fps: windows start every 32 frames


def test_round_trip_through_our_bvh_export_is_within_a_millimetre(corpus, tmp_path):
    root, _ = corpus
    take = open_dataset(root / "ds", frames=None).array(normalized=False)[3].transpose(1, 2, 0)
    take = take - [0.0, take[..., 1].min(), 0.0]  # the builder puts the lowest joint on y = 0
    for units, up in (("cm", "+z"), ("m", "+y")):
        src = tmp_path / f"src_{units}" / "again"
        write_bvh(src / "take.bvh",
                  joints_motion(take, 30.0, NTU_JOINTS, NTU_PARENTS, units=units, up=up))
        report = build(src.parent, tmp_path / f"ds_{units}", frames=len(take), stride=len(take),
                       test_share=0.5)
        assert report.takes[0].family == "ntu" and report.takes[0].frame.units == units
        back = report.takes[0].windows[0]
        assert np.abs(back - take).max() < 1e-3


def test_bvh_text_round_trips_through_the_writer():
    motion = performer("rigify", "squat", 2, fps=50.0, seconds=1.0, units="cm", up="+z")
    again = parse_bvh(format_bvh(motion))
    assert again.names == motion.names and again.fps == pytest.approx(50.0)
    np.testing.assert_allclose(again.world_positions(), motion.world_positions(), atol=1e-4)


def bad_folder(root):
    """Good takes of two labels, plus one of every kind of bad input."""
    write_corpus(root, actions=("walk", "wave"), takes=2)
    good = family_text("cmu")
    (root / "walk" / "broken.bvh").write_text(good.replace("OFFSET", "OFFSET x", 1))
    (root / "walk" / "alien.bvh").write_text(good.replace("Hips", "Pelvis").replace(
        "LeftUpLeg", "ThighL").replace("RightUpLeg", "ThighR"))
    (root / "wave" / "short.bvh").write_text(format_bvh(performer("cmu", "wave", 0, seconds=1)))
    lines = good.split("\n")
    motion_at = lines.index("MOTION") + 5
    lines[motion_at] = "nan " + lines[motion_at].split(" ", 1)[1]
    (root / "wave" / "nan.bvh").write_text("\n".join(lines))
    (root / "jump").mkdir()
    (root / "jump" / "tiny.bvh").write_text(format_bvh(performer("mixamo", "walk", 0,
                                                                  seconds=0.5)))
    (root / "loose.bvh").write_text(good)


def test_bad_input_is_one_report_line_each_and_the_build_goes_on(tmp_path):
    bad_folder(tmp_path / "src")
    report = build(tmp_path / "src", tmp_path / "ds")
    lines = {p.file: p.reason for p in report.problems}
    assert lines["walk/broken.bvh"].startswith("does not parse (line ")
    assert lines["walk/alien.bvh"].startswith("unknown skeleton: closest family cmu")
    assert lines["wave/short.bvh"].startswith("take shorter than a window (30 frames")
    assert lines["wave/nan.bvh"] == "non-finite values (NaN or Inf) in MOTION"
    assert lines["jump/"].startswith("label with no usable take")
    assert lines["loose.bvh"].startswith("no label folder")
    assert report.class_names == ["walk", "wave"] and len(report.takes) == 4
    assert "skipped (7):" in report.lines()  # tiny.bvh as well as its label
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert len(meta["report"]) == 7


def test_strict_stops_at_the_first_bad_input_and_writes_nothing(tmp_path, capsys):
    bad_folder(tmp_path / "src")
    code = cli.main(["data", "build", "bvh", str(tmp_path / "src"), "--out",
                     str(tmp_path / "ds"), "--strict"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "loose.bvh: no label folder" in err
    assert "--strict" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no output, no temp folder


def test_an_empty_result_is_an_error_naming_why(tmp_path):
    (tmp_path / "src" / "walk").mkdir(parents=True)
    (tmp_path / "src" / "walk" / "a.bvh").write_text("HIERARCHY\n")
    (tmp_path / "src" / "walk" / "b.bvh").write_text(
        format_bvh(performer("cmu", "walk", 0, seconds=1)))
    with pytest.raises(KineticGanError, match=r"no usable take .*does not parse.*"
                                              r"take shorter than a window"):
        build(tmp_path / "src", tmp_path / "ds")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(KineticGanError, match=r"no \.bvh files"):
        build(tmp_path / "nothing", tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_csv_labels_with_frame_ranges_and_a_joint_map(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    renamed = family_text("cmu", fps=60.0)
    for old, new in (("LeftUpLeg", "thigh_l"), ("RightUpLeg", "thigh_r")):
        renamed = renamed.replace(old, new)
    (src / "session.bvh").write_text(renamed)  # 2 s at 60 fps = 120 frames
    table = tmp_path / "labels.csv"
    table.write_text("file,label,start_frame,end_frame\nsession.bvh,stroll,0,70\n"
                     "session.bvh,amble,50,\nmissing.bvh,stroll\n")
    joint_map = tmp_path / "map.json"
    rules = {"SpineBase": "Hips", "SpineShoulder": "Neck", "Head": "Head",
             **{f"{j}{s}": f"{s}{b}" for s in ("Left", "Right")
                for j, b in (("Shoulder", "Arm"), ("Elbow", "ForeArm"), ("Wrist", "Hand"),
                             ("Knee", "Leg"), ("Ankle", "Foot"))},
             "HipLeft": "thigh_l", "HipRight": "thigh_r"}
    joint_map.write_text(json.dumps(rules))
    with pytest.raises(KineticGanError):
        build(src, tmp_path / "x", labels=str(table), frames=16, strict=True)
    report = build(src, tmp_path / "ds", labels=str(table), joint_map=str(joint_map), frames=16)
    assert [p.line() for p in report.problems] == [
        "missing.bvh: listed in labels.csv line 4 but not found under SRC"]
    assert [(t.spec.label, t.used, t.family) for t in report.takes] == [
        ("amble", (50, 120), "joint-map"), ("stroll", (0, 70), "joint-map")]
    assert {"SpineMid", "Neck", "HandLeft", "FootRight"} <= set(report.takes[0].derived)
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["windows"]["train"][0]["frames"][0] == 50.0  # in the file's own frames


def test_out_is_replaced_whole_but_never_a_folder_that_is_not_a_dataset(corpus, tmp_path):
    root, _ = corpus
    shutil.copytree(root / "ds", tmp_path / "ds")
    (tmp_path / "ds" / "stale.txt").write_text("old")
    build(root / "src", tmp_path / "ds", frames=32)
    assert not (tmp_path / "ds" / "stale.txt").exists()
    assert json.loads((tmp_path / "ds" / "meta.json").read_text())["frames"] == 32
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    with pytest.raises(KineticGanError, match="not a dataset folder"):
        build(root / "src", tmp_path / "mine")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "mine"]


def test_cli_build_info_and_sheet(corpus, tmp_path, capsys):
    root, _ = corpus
    assert cli.main(["data", "build", "bvh", str(root / "src"), "--out", str(tmp_path / "ds"),
                     "--frames", "32"]) == 0
    out = capsys.readouterr().out
    assert "3 classes, 12 takes" in out and "class walk: 4 takes (1 test only)" in out
    assert cli.main(["data", "info", str(tmp_path / "ds"), "--split", "test"]) == 0
    out = capsys.readouterr().out
    for name in ("squat", "walk", "wave"):
        assert f"  {name}: 1 of 4 takes in test" in out
    assert cli.main(["data", "sheet", str(tmp_path / "ds")]) == 0
    assert (tmp_path / "ds" / "sheet.png").stat().st_size > 10_000


@pytest.mark.skipif(SAMPLES is None,
                    reason="BVH samples not fetched (run `kinetic-gan data fetch`)")
def test_bvhtoolbox_samples_build(tmp_path):
    for label, file in (("dance", "test_mocapbank.bvh"), ("pose", "test_freebvh.bvh")):
        (tmp_path / "src" / label).mkdir(parents=True)
        shutil.copy(SAMPLES / file, tmp_path / "src" / label / file)
        motion = read_bvh(SAMPLES / file)
        mapping = choose_mapping(motion.names)
        assert mapping.family == {"dance": "biovision", "pose": "mixamo"}[label]
        assert mapping.core_found == len(CORE)
    report = build(tmp_path / "src", tmp_path / "ds", frames=32)
    assert [t.spec.label for t in report.takes] == ["dance", "pose"]
    assert {(t.family, t.frame.units, t.frame.up) for t in report.takes} == {
        ("biovision", "cm", "+y"), ("mixamo", "cm", "+y")}
    for take in report.takes:
        heads = take.windows[:, :, J["Head"], 1]
        assert 1.3 < heads.max() < 1.9  # an adult standing at times, in metres (not cm)


def test_units_and_up_can_be_given_and_a_wrong_guess_is_named(tmp_path):
    src = tmp_path / "src" / "walk"
    src.mkdir(parents=True)
    (src / "a.bvh").write_text(family_text("cmu", units="mm", up="-x", fps=30.0))
    (src / ".hidden").mkdir()
    (src / ".hidden" / "b.bvh").write_text("not a BVH")  # hidden folders hold no takes
    report = build(tmp_path / "src", tmp_path / "ds", frames=32)
    assert [(t.frame.units, t.frame.up) for t in report.takes] == [("mm", "-x")]
    assert not report.problems
    report = build(tmp_path / "src", tmp_path / "ds", frames=32, units="cm", up="-x")
    assert report.takes[0].frame.describe() == "cm, -X up"
    # a skeleton 2.5 times an adult's size is not a person in any unit we would guess
    motion = performer("cmu", "walk", 0, seconds=2.0)
    giant = BvhMotion(tuple(replace(j, offset=tuple(2.5 * v for v in j.offset))
                            for j in motion.joints), motion.frame_time, motion.motion)
    write_bvh(tmp_path / "tall" / "walk" / "giant.bvh", giant)
    with pytest.raises(KineticGanError, match=r"walk/giant.bvh: units: .* not a person in m, "
                                              r"cm or mm — give --units"):
        build(tmp_path / "tall", tmp_path / "ds2", frames=32, strict=True)
    assert build(tmp_path / "tall", tmp_path / "ds2", frames=32, units="m").takes


@pytest.mark.parametrize(("content", "match"), [
    ("{", "not readable JSON"),
    ('{"Pelvis": "Hips"}', "'Pelvis' is not an NTU-25 joint name"),
    ('{"SpineBase": "Hips"}', "no rule for the core joints SpineShoulder"),
    ('{"SpineBase": ["lerp", "a", 0.5]}', r"expected \[\"lerp\", a, b, t\]"),
    ('{"SpineBase": 3}', "expected a joint name or a rule"),
])
def test_a_bad_joint_map_is_one_clear_error(tmp_path, content, match):
    (tmp_path / "src" / "walk").mkdir(parents=True)
    (tmp_path / "map.json").write_text(content)
    with pytest.raises(KineticGanError, match=match):
        build(tmp_path / "src", tmp_path / "ds", joint_map=str(tmp_path / "map.json"))


def test_each_up_axis_table_entry_turns_that_axis_to_plus_y():
    from kinetic_gan.data.source_frame import UP_AXES

    for up, matrix in UP_AXES.items():
        axis = np.zeros(3)
        axis["xyz".index(up[1])] = 1.0 if up[0] == "+" else -1.0
        np.testing.assert_allclose(matrix @ axis, [0.0, 1.0, 0.0], atol=1e-12)
        assert np.linalg.det(matrix) == pytest.approx(1.0)
