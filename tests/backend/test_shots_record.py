"""The compose request: parsing, checks (one line naming the field) and its JSON form."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kinetic_gan.records.shot import Keys, Segment, ShotError, ShotRequest, parse_segments

NAMES = ["walk", "run", "jump", "cartwheel"]


def test_parse_the_cli_form():
    assert parse_segments("walk:150, jump:90,2:30") == (
        Segment("walk", 150), Segment("jump", 90), Segment(2, 30))


@pytest.mark.parametrize("text", ["", "walk", "walk:", ":30", "walk:1.5", "walk:ten"])
def test_bad_cli_forms_name_segments(text):
    with pytest.raises(ShotError, match=r"^segments: "):
        parse_segments(text)


def test_checked_resolves_actions_to_indices():
    req = ShotRequest(parse_segments("Walk:10,cartwheel:20,1:5")).checked(NAMES)
    assert [s.action for s in req.segments] == [0, 3, 1]
    assert req.frames == 35


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"segments": "dance:10"}, "segments: unknown action 'dance'"),
    ({"segments": "walk:0"}, "segments: segment 1 .* at least one frame"),
    ({"segments": "walk:-5"}, "segments: segment 1 .* at least one frame"),
    ({"segments": "walk:9000,run:9001"}, "segments: the shot lasts 600.0 s, over"),
    ({"segments": "7:10"}, "segments: action index 7"),
    ({"path": [[0.0, 0.0]]}, "path: needs at least 2 points"),
    ({"path": [[0.0, 0.0], [np.nan, 1.0]]}, "path: holds NaN"),
    ({"path": [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]}, r"path: must be \(P, 2\)"),
    ({"path": [[1.0, 1.0], [1.0, 1.0]]}, "path: has no length"),
    ({"seed": -1}, "seed: "),
    ({"truncation": 1.5}, "truncation: "),
    ({"loop": "sideways"}, "loop: "),
    ({"loop": True, "path": [[0.0, 0.0], [1.0, 0.0]]}, "loop: a looping shot"),
])
def test_bad_requests_name_the_field(kwargs, field):
    fields = {"segments": "walk:10", **kwargs}
    fields["segments"] = parse_segments(fields["segments"])
    with pytest.raises(ShotError, match=f"^{field}"):
        ShotRequest(**fields).checked(NAMES)


def test_keys_outside_the_shot_or_of_the_wrong_shape():
    keys = Keys.from_arrays([0, 10], np.zeros((2, 25, 3)))
    with pytest.raises(ShotError, match=r"^keys: frame 10 is outside the shot"):
        ShotRequest(parse_segments("walk:10"), keys=keys).checked(NAMES)
    with pytest.raises(ShotError, match=r"^keys: joints must be \(K, 25, 3\)"):
        Keys.from_arrays([0], np.zeros((1, 24, 3)))
    with pytest.raises(ShotError, match=r"^keys: mask must be"):
        Keys.from_arrays([0], np.zeros((1, 25, 3)), mask=np.ones((1, 3), bool))
    with pytest.raises(ShotError, match=r"^keys: frames must be"):
        Keys.from_arrays([0.5], np.zeros((1, 25, 3)))
    with pytest.raises(ShotError, match=r"^keys: a frame is keyed twice"):
        Keys.from_arrays([3, 3], np.zeros((2, 25, 3)))


def test_unkeyed_joints_may_be_nan_and_keys_come_sorted():
    joints = np.full((2, 25, 3), np.nan)
    joints[:, 0] = [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    mask = np.zeros((2, 25), bool)
    mask[:, 0] = True
    keys = Keys.from_arrays([9, 4], joints, mask)
    assert keys.frames.tolist() == [4, 9]
    assert keys.joints[0, 0].tolist() == [2.0, 2.0, 2.0]
    assert np.isfinite(keys.joints).all()


def test_json_round_trip():
    mask = np.ones((1, 25), bool)
    req = ShotRequest(parse_segments("walk:30,jump:20"), seed=4, truncation=0.5,
                      loop="in_place", keys=Keys.from_arrays([5], np.ones((1, 25, 3)), mask))
    back = ShotRequest.from_dict(json.loads(json.dumps(req.to_dict())))
    assert back.segments == req.segments and back.loop == "in_place" and back.seed == 4
    assert np.array_equal(back.keys.joints, req.keys.joints)
    path = ShotRequest(parse_segments("walk:30"), path=np.array([[0.0, 0.0], [1.0, 2.0]]))
    again = ShotRequest.from_dict(json.loads(json.dumps(path.to_dict()))).checked(NAMES)
    assert again.path.tolist() == [[0.0, 0.0], [1.0, 2.0]]
    with pytest.raises(ShotError, match=r"^shot: unknown fields"):
        ShotRequest.from_dict({"segments": "walk:3", "speed": 2})


def test_composed_shot_is_one_take_whose_segments_tile_it():
    from kinetic_gan.records.shot import ComposedShot
    from kinetic_gan.records.takes import GeneratedSet

    def takes(n: int, frames: int) -> GeneratedSet:
        return GeneratedSet(joints=np.zeros((n, frames, 25, 3), np.float32),
                            labels=np.zeros(n, np.int64), class_names=["walk"] * n,
                            z=np.zeros((n, 0), np.float32), fps=30.0, skeleton="ntu",
                            joint_names=[f"j{i}" for i in range(25)], parents=[-1] * 25)

    shot = ComposedShot(takes(1, 90), ((0, 60, "walk"), (60, 30, "jump")))
    assert shot.segments[1] == (60, 30, "jump")
    with pytest.raises(ShotError, match="one take"):
        ComposedShot(takes(2, 90), ((0, 90, "walk"),))
    with pytest.raises(ShotError, match="cover 80 frames"):
        ComposedShot(takes(1, 90), ((0, 80, "walk"),))
    with pytest.raises(ShotError, match="does not follow"):
        ComposedShot(takes(1, 90), ((0, 60, "walk"), (50, 40, "jump")))
