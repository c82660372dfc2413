"""DeepMimic clips → NTU-25 in our dataset frame, and the deepmimic15 builder."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from kinetic_gan.data import deepmimic, fetch, open_dataset, to_ntu
from kinetic_gan.data.build import build_deepmimic, clip_window
from kinetic_gan.data.classes import DEEPMIMIC15
from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import NTU_JOINTS, NTU_PARENTS

J = {name: i for i, name in enumerate(NTU_JOINTS)}
FETCHED = fetch.deepmimic_dir()
needs_clips = pytest.mark.skipif(
    FETCHED is None, reason="DeepMimic clips not fetched (run `kinetic-gan data fetch`)"
)
IDENTITY = [1.0, 0.0, 0.0, 0.0]


def standing_frame(dt=1 / 30, x=0.0, knee=0.0, root_quat=IDENTITY) -> list[float]:
    """A neutral standing pose of the humanoid (all joints at rest), as a clip frame."""
    frame = [dt, x, 0.90, 0.0, *root_quat]
    for *_, dof in deepmimic.JOINTS:
        frame += IDENTITY if dof == 4 else [knee]
    return frame


def write_clip(path: Path, frames: list[list[float]], loop: str = "wrap") -> Path:
    path.write_text(json.dumps({"Loop": loop, "Frames": frames}))
    return path


def synthetic_walk(tmp_path: Path) -> deepmimic.Clip:
    """A closed 1 s loop in DeepMimic's format: the root moves +x (forward) at 1 m/s."""
    frames = [standing_frame(x=k / 30, knee=-0.3 * np.sin(2 * np.pi * k / 30)) for k in range(31)]
    frames[-1][0] = 0.0
    return deepmimic.load_clip(write_clip(tmp_path / "humanoid3d_walk.txt", frames))


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(T, 25, 3) → (T, 24) length of every NTU bone."""
    child = [c for c, p in enumerate(NTU_PARENTS) if p >= 0]
    parent = [NTU_PARENTS[c] for c in child]
    return np.linalg.norm(joints[:, child] - joints[:, parent], axis=-1)


def test_neutral_pose_faces_minus_z_with_left_hand_at_minus_x(tmp_path):
    clip = deepmimic.load_clip(write_clip(tmp_path / "c.txt", [standing_frame()] * 2))
    joints = clip_window(clip, 0.0, frames=2, fps=30)[0]
    for left, right in (("HandLeft", "HandRight"), ("ShoulderLeft", "ShoulderRight"),
                        ("FootLeft", "FootRight"), ("ThumbLeft", "ThumbRight")):
        assert joints[J[left], 0] < -0.05 and joints[J[right], 0] > 0.05
    # the feet and thumbs point the way the body faces: towards −Z
    assert joints[J["FootLeft"], 2] < joints[J["AnkleLeft"], 2] - 0.05
    assert joints[J["ThumbLeft"], 2] < joints[J["HandLeft"], 2] - 0.02
    assert joints[J["Head"], 1] > joints[J["Neck"], 1] > joints[J["SpineShoulder"], 1]
    assert joints[J["SpineMid"], 1] > joints[J["SpineBase"], 1]
    np.testing.assert_allclose(joints[J["SpineBase"], [0, 2]], 0.0, atol=1e-12)


def test_dataset_frame_is_a_proper_rotation_of_the_simulation():
    matrix = to_ntu.SOURCE_AXES["deepmimic"]
    assert np.linalg.det(matrix) == pytest.approx(1.0)
    np.testing.assert_allclose(matrix @ [1, 0, 0], [0, 0, -1])  # forward +x → −Z
    np.testing.assert_allclose(matrix @ [0, 0, 1], [1, 0, 0])  # right +z → +X


def test_synthetic_walk_keeps_bone_lengths_and_moves_forward(tmp_path):
    clip = synthetic_walk(tmp_path)
    joints = clip_window(clip, 0.1, frames=64, fps=30)  # 2.1 s: loops the 1 s clip twice
    lengths = bone_lengths(joints)
    np.testing.assert_allclose(lengths, lengths[:1].repeat(len(lengths), 0), atol=1e-9)
    pelvis = joints[:, J["SpineBase"]]
    assert pelvis[-1, 2] - pelvis[0, 2] < -1.9  # ~1 m/s towards −Z, continuing past the end
    np.testing.assert_allclose(pelvis[:, [0, 2]].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(pelvis[:, 0], 0.0, atol=1e-9)
    np.testing.assert_allclose(np.diff(joints[:, J["SpineBase"], 2]), -1 / 30, atol=1e-6)


def test_non_looping_clip_holds_its_ends(tmp_path):
    frames = [standing_frame(x=k / 30) for k in range(10)]
    clip = deepmimic.load_clip(write_clip(tmp_path / "c.txt", frames, loop="none"))
    joints = clip_window(clip, -0.2, frames=30, fps=30)
    root_z = joints[:, J["SpineBase"], 2]
    np.testing.assert_allclose(root_z[:7], root_z[0])  # first pose held before the start
    np.testing.assert_allclose(root_z[-10:], root_z[-1])  # last pose held after the end


@pytest.mark.parametrize(("content", "match"), [
    ("{not json", "not readable JSON"),
    ('{"Loop": "wrap"}', "expected an object with 'Frames'"),
    ('{"Loop": "twice", "Frames": []}', "'Loop' must be"),
    ('{"Frames": [[1, 2], [3]]}', "equal-length"),
    ('{"Frames": [[0.1, 0, 0]]}', "at least 2 frames of 44"),
])
def test_malformed_clips(tmp_path, content, match):
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(KineticGanError, match=match):
        deepmimic.load_clip(path)


def test_clip_with_nan_or_zero_dt(tmp_path):
    frames = [standing_frame()] * 3
    bad = [list(f) for f in frames]
    bad[1][5] = float("nan")
    with pytest.raises(KineticGanError, match="NaN"):
        deepmimic.load_clip(write_clip(tmp_path / "a.txt", bad).as_posix())
    bad = [list(f) for f in frames]
    bad[0][0] = 0.0
    with pytest.raises(KineticGanError, match="dt > 0"):
        deepmimic.load_clip(write_clip(tmp_path / "b.txt", bad))


def test_build_requires_fetched_clips(tmp_path):
    with pytest.raises(KineticGanError, match="kinetic-gan data fetch"):
        build_deepmimic(tmp_path / "out", source=tmp_path / "nowhere")


# --- the real clips (when fetched at set-up time) -------------------------------------------


@needs_clips
def test_offsets_match_the_shipped_urdf():
    urdf = deepmimic.urdf_offsets(FETCHED / "humanoid.urdf")
    for joint, _, offset, _ in deepmimic.JOINTS:
        assert urdf[joint] == pytest.approx(offset)


@needs_clips
def test_real_walk_bone_lengths_and_stance_ankles():
    clip = deepmimic.load_clip(FETCHED / "motions" / "humanoid3d_walk.txt")
    joints = clip_window(clip, 0.0, frames=64, fps=30)
    lengths = bone_lengths(joints)
    assert np.ptp(lengths, axis=0).max() < 1e-9
    ankles = joints[:, [J["AnkleLeft"], J["AnkleRight"]], 1]
    stance = ankles.min(axis=1)  # the lower ankle of each frame stands on the floor
    assert stance.min() > 0.02 and stance.max() < 0.12
    assert joints[-1, J["SpineBase"], 2] - joints[0, J["SpineBase"], 2] < -1.5  # towards −Z


@needs_clips
@pytest.mark.slow
def test_build_deepmimic15_in_published_layout(tmp_path):
    out = build_deepmimic(tmp_path / "dm", source=FETCHED, train_per_class=8, test_per_class=2)
    train = np.load(out / "train_data.npy")
    assert train.shape == (15 * 8, 3, 64, 25, 2) and train.dtype == np.float32
    assert not train[..., 1].any()
    with open(out / "test_label.pkl", "rb") as handle:
        names, labels = pickle.load(handle)
    assert len(names) == len(labels) == 30 and sorted(set(labels)) == list(range(15))
    meta = json.loads((out / "meta.json").read_text())
    assert meta["class_names"] == list(DEEPMIMIC15) and meta["fps"] == 30
    assert meta["skeleton"] == "ntu" and "zlib" in meta["licence"]
    ds, test = open_dataset(out), open_dataset(out, split="test")
    assert ds.normalization == test.normalization
    # the range is widened so that turns about the vertical and mirrors stay inside it
    radius = np.sqrt(train[:, 0, ..., 0] ** 2 + train[:, 2, ..., 0] ** 2).max()
    assert ds.normalization.min == pytest.approx(-radius) and ds.normalization.max >= radius
    assert ds.array().min() >= -1 and ds.array().max() <= 1
    with open(out / "train_label.pkl", "rb") as handle:
        train_names = set(pickle.load(handle)[0])
    assert not train_names & set(names)  # no window is in both splits
    again = build_deepmimic(tmp_path / "dm2", source=FETCHED, train_per_class=8,
                            test_per_class=2)
    for name in ("train_data.npy", "train_label.pkl", "test_data.npy", "meta.json"):
        assert (out / name).read_bytes() == (again / name).read_bytes()


def test_planted_hands_bend_at_the_wrist_instead_of_entering_the_floor(tmp_path):
    low = standing_frame()
    low[2] = 0.20  # root so low that a straight hand would reach ~2 cm below the floor
    clip = deepmimic.load_clip(write_clip(tmp_path / "c.txt", [low, low]))
    points = deepmimic.forward_kinematics(clip.frames)
    straight = deepmimic.forward_kinematics(np.array([standing_frame(), standing_frame()]))
    index = {name: i for i, name in enumerate(deepmimic.POINT_NAMES)}
    tip, wrist = points[0, index["left_hand_tip"]], points[0, index["left_wrist"]]
    assert tip[1] == pytest.approx(0.0, abs=1e-9)
    for site in ("left_hand", "left_hand_tip", "left_thumb"):  # rigid about the wrist
        bent = np.linalg.norm(points[0, index[site]] - wrist)
        rest = np.linalg.norm(straight[0, index[site]] - straight[0, index["left_wrist"]])
        assert bent == pytest.approx(rest)


def test_an_open_loop_eases_over_its_seam_without_a_jump(tmp_path):
    """The last frame is 0.6 rad of knee away from the first: no jump where cycles meet."""
    frames = [standing_frame(x=k / 30, knee=-0.6 * k / 30) for k in range(31)]
    frames[-1][0] = 0.0
    clip = deepmimic.load_clip(write_clip(tmp_path / "c.txt", frames))
    joints = clip_window(clip, 0.5, frames=30, fps=30)  # crosses the seam at frame 15
    steps = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max(axis=1)
    raw = deepmimic.forward_kinematics(np.array([frames[-1], frames[0]]))
    jump = np.linalg.norm(raw[1] - raw[0] + [1.0, 0, 0], axis=-1).max()
    assert jump > 0.15 and steps.max() < jump / 2
    lengths = bone_lengths(joints)
    np.testing.assert_allclose(lengths, lengths[:1].repeat(len(lengths), 0), atol=1e-9)
