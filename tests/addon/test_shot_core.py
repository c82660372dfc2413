"""The Shot panel's pure part: segment rows to a request, a curve to a path on the dataset
floor, a rig's joints to keys, and where variations stand."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kinetic_gan_blender.core.body import NTU_JOINTS
from kinetic_gan_blender.core.character import REST_JOINTS
from kinetic_gan_blender.core.errors import UserError
from kinetic_gan_blender.core.retarget.types import dataset_to_blender
from kinetic_gan_blender.core.shot.keys import joint_sources, keys_from_points
from kinetic_gan_blender.core.shot.path import blender_to_dataset, curve_to_path
from kinetic_gan_blender.core.shot.request import SegmentRow, build_request, segment_starts
from kinetic_gan_blender.core.shot.variations import ghost_offsets, variation_seeds


def test_rows_in_frames_and_seconds_become_segments():
    rows = [SegmentRow("walk", 150), SegmentRow("jump", 3.0, "SECONDS")]
    request = build_request(rows, fps=30.0, seed=4, truncation=0.7, loop=True,
                            class_names=["walk", "jump"])
    assert [(s.action, s.frames) for s in request.segments] == [("walk", 150), ("jump", 90)]
    assert request.frames == 240 and request.loop_mode == "advance" and request.seed == 4
    assert segment_starts(request.segments) == [(0, 150, "walk"), (150, 90, "jump")]


@pytest.mark.parametrize(("rows", "message"), [
    ([], "Shot: add at least one segment"),
    ([SegmentRow("", 90)], "Shot: segment 1 has no action"),
    ([SegmentRow("walk", 0)], "Shot: segment 1 (walk) lasts no frames"),
    ([SegmentRow("fly", 30)], "Shot: segments: unknown action 'fly'"),
])
def test_a_bad_shot_is_one_line_naming_it(rows, message):
    with pytest.raises(UserError, match="^" + re.escape(message)):
        build_request(rows, fps=30.0, seed=0, truncation=None, class_names=["walk"])


def test_the_curve_goes_onto_the_dataset_floor_by_the_inverse_rotation():
    p = np.random.default_rng(0).normal(size=(7, 3))
    assert np.allclose(blender_to_dataset(dataset_to_blender(p)), p)
    world = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0], [3.0, 5.0, 0.3]])
    path = curve_to_path(world, origin_xy=np.array([1.0, 2.0]))
    # Blender (X, Y) → dataset (x, z) = (−X, Y): the repeated point dropped.
    assert np.allclose(path, [[0.0, 0.0], [-2.0, 3.0]])


def test_a_curve_with_one_point_is_one_error_naming_it():
    with pytest.raises(UserError, match=r"^Follow Curve: 'Path' needs at least two distinct"):
        curve_to_path(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), "Path")


def _rest_pose(scale: float = 1.0, shift=(0.0, 0.0)):
    return {n: (np.array(v) + np.array([*shift, 0.0])) * scale for n, v in REST_JOINTS.items()}


def test_keys_come_back_in_the_performers_metres_in_the_dataset_frame():
    # A rig twice the character's size, standing 1 m along X: its keys are the character's.
    big = _rest_pose(2.0, (0.5, 0.0))
    keys = keys_from_points([10], [big], shot_frames=100, origin_xy=np.array([1.0, 0.0]))
    expected = blender_to_dataset(np.array([REST_JOINTS[n] for n in NTU_JOINTS]))
    assert keys.mask.all() and keys.frames.tolist() == [10]
    assert np.allclose(keys.joints[0], expected, atol=1e-9)
    assert expected[NTU_JOINTS.index("Head"), 1] > 1.5  # dataset Y is up


def test_keys_outside_the_shot_and_legless_rigs_are_refused():
    with pytest.raises(UserError, match=r"^Keep Keyed Poses: the key at frame 100 is outside"):
        keys_from_points([100], [_rest_pose()], shot_frames=100)
    arms_only = {k: v for k, v in _rest_pose().items() if "Knee" not in k}
    with pytest.raises(UserError, match="does not reach the rig's legs"):
        keys_from_points([0], [arms_only], shot_frames=10)


def test_joint_sources_invert_the_bone_map():
    sources = joint_sources({"thigh.L": "LeftUpLeg", "shin.L": "LeftLeg", "hips": "Hips"})
    assert sources["HipLeft"] == ("LeftUpLeg", "head")
    assert sources["KneeLeft"] == ("LeftUpLeg", "tail")  # the first bone to reach it
    assert sources["AnkleLeft"] == ("LeftLeg", "tail")
    assert sources["SpineBase"] == ("Hips", "head")


def test_variations_stand_apart_in_centred_rows():
    offsets = ghost_offsets(16)
    assert offsets.shape == (16, 3)
    gaps = np.linalg.norm(offsets[:, None] - offsets[None], axis=-1) + np.eye(16) * 9
    assert gaps.min() >= 1.5 - 1e-9
    assert np.allclose(offsets[:4, 0].mean(), 0.0)
    assert variation_seeds(5, 3) == [5, 6, 7]
    with pytest.raises(ValueError, match=r"1\.\.16"):
        ghost_offsets(17)


def _batch(*args):
    from kinetic_gan_blender.core.render import options

    return options.from_namespace(options.build_parser().parse_args(list(args)))


def test_the_batch_takes_a_shot_its_loop_and_its_path(tmp_path):
    from kinetic_gan_blender.core.render.shot import shot_request, shot_take

    o = _batch("--shot", "walk:150, jump up:90", "--loop")
    assert (o.shot, o.loop, o.path) == ("walk:150, jump up:90", "advance", None)
    request = shot_request(o, ["walk", "jump up"])
    assert [(s.action, s.frames) for s in request.segments] == [("walk", 150), ("jump up", 90)]
    assert shot_take(o).stem == "shot_s0_psi0.70"
    path = tmp_path / "path.json"
    path.write_text('{"points": [[0, 0], [0, -4], [-3, -7]]}')
    o = _batch("--shot", "walk:300", "--path", str(path))
    assert shot_request(o, ["walk"]).path.shape == (3, 2)


@pytest.mark.parametrize(("args", "message"), [
    (["--loop"], "--loop needs --shot SEGMENTS"),
    (["--shot", "walk"], "--shot: 'walk' is not ACTION:FRAMES"),
    (["--shot", "walk:90", "--loop", "--path", "p.json"], "--loop: a looping shot cannot"),
    (["--shot", "walk:90", "--grid"], "--grid: a shot is one take"),
])
def test_bad_shot_arguments_are_one_line(args, message):
    from kinetic_gan_blender.core.render.options import OptionsError

    with pytest.raises(OptionsError, match="^" + re.escape(message)):
        _batch(*args)


def test_a_shot_of_unknown_actions_or_a_bad_path_is_refused_before_staging(tmp_path):
    from kinetic_gan_blender.core.render.plan import PlanError
    from kinetic_gan_blender.core.render.shot import shot_request

    with pytest.raises(PlanError, match="--shot: segments: unknown action 'fly'"):
        shot_request(_batch("--shot", "fly:90"), ["walk"])
    path = tmp_path / "one.json"
    path.write_text('{"points": [[0, 0]]}')
    with pytest.raises(PlanError, match="--path: path: needs at least 2 points"):
        shot_request(_batch("--shot", "walk:90", "--path", str(path)), ["walk"])
