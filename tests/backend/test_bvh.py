"""Our BVH reader and the retargeting of BVH skeletons (Mixamo, Biovision, CMU) to NTU-25."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan.data import fetch
from kinetic_gan.data.bvh import parse_bvh, read_bvh
from kinetic_gan.data.to_ntu import bvh_to_ntu, detect_rig, resample, retarget
from kinetic_gan.errors import KineticGanError
from kinetic_gan.skeletons import NTU_JOINTS, NTU_PARENTS

J = {name: i for i, name in enumerate(NTU_JOINTS)}
SAMPLES = fetch.bvh_samples_dir()
needs_samples = pytest.mark.skipif(
    SAMPLES is None, reason="BVH samples not fetched (run `kinetic-gan data fetch`)"
)

ARM = """HIERARCHY
ROOT Hips
{
  OFFSET 1 2 3
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Arm
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
0 0 0  0 0 0   0 0 0
5 0 0  90 0 0  0 0 90
"""


def test_forward_kinematics_of_a_small_chain():
    motion = parse_bvh(ARM)
    assert motion.names == ("Hips", "Arm", "Arm_end") and motion.fps == pytest.approx(25)
    assert motion.joints[2].end_site and motion.joints[2].parent == 1
    p = motion.world_positions()
    np.testing.assert_allclose(p[0], [[1, 2, 3], [1, 12, 3], [1, 17, 3]], atol=1e-12)
    # frame 1: root moved +5 in x and turned 90° about z, so its +y offset points to −x;
    # the arm's own 90° about y leaves its +y end site on the same line
    np.testing.assert_allclose(p[1], [[6, 2, 3], [-4, 2, 3], [-9, 2, 3]], atol=1e-9)


def test_rotation_channels_apply_in_the_listed_order():
    zx = ARM.replace("5 0 0  90 0 0  0 0 90", "0 0 0  90 90 0  0 0 0")
    zxy = "Zrotation Xrotation Yrotation\n  JOINT"
    xz = zx.replace(zxy, zxy.replace("Zrotation Xrotation", "Xrotation Zrotation"))
    end_zx = parse_bvh(zx).world_positions()[1, 2]
    end_xz = parse_bvh(xz).world_positions()[1, 2]
    np.testing.assert_allclose(end_zx, [1, 2, 3 + 15], atol=1e-9)  # Rz(90)·Rx(90)·(0,15,0)
    np.testing.assert_allclose(end_xz, [1 - 15, 2, 3], atol=1e-9)  # Rx(90)·Rz(90)·(0,15,0)


@pytest.mark.parametrize(("broken", "match"), [
    (ARM.replace("HIERARCHY", "HIERARCHIE"), "line 1: expected 'HIERARCHY'"),
    (ARM.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"), "line 8: expected a number"),
    (ARM.replace("Zrotation Xrotation Yrotation\n  JOINT", "Zrotation Xrotation Wiggle\n  JOINT"),
     "unknown channel 'Wiggle'"),
    (ARM.replace("Frames: 2", "Frames: 3"), "expected 3 frames × 9 channels"),
    (ARM.replace("0 0 90\n", "0 90\n"), "17 numbers, expected 2 frames"),
    (ARM.replace("5 0 0  90", "5 0 0  nan"), "NaN or Inf"),
    (ARM.replace("5 0 0  90", "5 0 0  x"), "not a number"),
    (ARM.replace("Frame Time: 0.04", "Frame Time: 0"), "Frame Time > 0"),
    (ARM.split("MOTION")[0], "unexpected end of file"),
    (ARM.replace("JOINT Arm", "JOINT Hips"), "'Hips' used twice"),
    (ARM.replace("    End Site", "    Leaf Site"), "expected JOINT, End Site"),
])
def test_malformed_bvh_names_the_problem(broken, match):
    with pytest.raises(KineticGanError, match=match):
        parse_bvh(broken)


def test_missing_file(tmp_path):
    with pytest.raises(KineticGanError, match="not readable"):
        read_bvh(tmp_path / "none.bvh")


def cmu_like_pose() -> tuple[np.ndarray, list[str]]:
    """A standing CMU-named skeleton (metres, Y up, facing +Z, so its left is +X)."""
    points = {
        "Hips": (0, 1.0, 0), "Spine": (0, 1.2, 0), "Neck": (0, 1.45, 0), "Neck1": (0, 1.55, 0),
        "Head": (0, 1.62, 0), "Head_end": (0, 1.8, 0),
        "LeftUpLeg": (0.1, 1.0, 0), "LeftLeg": (0.1, 0.55, 0), "LeftFoot": (0.1, 0.1, 0),
        "LeftToeBase": (0.1, 0.02, 0.12),
        "LeftArm": (0.2, 1.45, 0), "LeftForeArm": (0.2, 1.17, 0), "LeftHand": (0.2, 0.92, 0),
    }
    for name, (x, y, z) in list(points.items()):
        if name.startswith("Left"):
            points["Right" + name[4:]] = (-x, y, z)
    return np.array([list(points.values())] * 3, dtype=float), list(points)


def test_cmu_retarget_extrapolates_hands_and_puts_left_at_minus_x():
    positions, names = cmu_like_pose()
    assert detect_rig(names) == "cmu"
    ntu = retarget(positions, names)
    forearm = ntu[0, J["WristLeft"]] - ntu[0, J["ElbowLeft"]]
    np.testing.assert_allclose(ntu[0, J["HandLeft"]], ntu[0, J["ElbowLeft"]] + 1.3 * forearm)
    np.testing.assert_allclose(ntu[0, J["HandTipLeft"]], ntu[0, J["ElbowLeft"]] + 1.65 * forearm)
    assert ntu[0, J["ThumbLeft"], 2] == pytest.approx(ntu[0, J["HandLeft"], 2] + 0.035)
    from kinetic_gan.data.to_ntu import to_dataset_frame

    out = to_dataset_frame(ntu)
    assert out[0, J["HandLeft"], 0] < -0.1 and out[0, J["HandRight"], 0] > 0.1
    assert out[0, J["FootLeft"], 2] < out[0, J["AnkleLeft"], 2]  # toes point to −Z
    assert out[..., 1].min() == pytest.approx(0.0)


def test_unknown_rig_and_bad_shapes():
    with pytest.raises(KineticGanError, match="unknown skeleton"):
        detect_rig(["a", "b"])
    positions, names = cmu_like_pose()
    with pytest.raises(KineticGanError, match=r"must be \(frames, 20, 3\)"):
        retarget(positions[:, :3], names)
    with pytest.raises(KineticGanError, match="unknown rig"):
        retarget(positions, names, rig="poser")
    with pytest.raises(KineticGanError, match="no joints to make"):
        retarget(positions, names, rig="mixamo")


def test_resample_keeps_the_time_span():
    joints = np.arange(11, dtype=float)[:, None, None] * np.ones((1, 2, 3))
    out = resample(joints, fps_in=10, fps_out=30)
    assert len(out) == 31 and out[-1, 0, 0] == pytest.approx(10)
    assert out[1, 0, 0] == pytest.approx(1 / 3)


@needs_samples
@pytest.mark.parametrize(("file", "rig", "frames", "joints"), [
    ("test_freebvh.bvh", "mixamo", 69, 55), ("test_mocapbank.bvh", "biovision", 455, 19)])
def test_real_samples_parse_and_retarget(file, rig, frames, joints):
    motion = read_bvh(SAMPLES / file)
    assert len(motion) == frames and sum(not j.end_site for j in motion.joints) == joints
    assert detect_rig(motion.names) == rig
    ntu = bvh_to_ntu(motion, fps=None)
    assert ntu.shape == (frames, 25, 3) and np.isfinite(ntu).all()
    assert ntu[0, J["HandLeft"], 0] < ntu[0, J["SpineBase"], 0] < ntu[0, J["HandRight"], 0]
    assert 1.3 < ntu[0, J["Head"], 1] < 1.9 and ntu[..., 1].min() == pytest.approx(0.0)
    bones = [(NTU_PARENTS[c], c) for c in range(25) if NTU_PARENTS[c] >= 0]
    lengths = np.stack([np.linalg.norm(ntu[:, c] - ntu[:, p], axis=-1) for p, c in bones], 1)
    variation = np.ptp(lengths, axis=0)
    limb_ends = {f"{j}{side}" for side in ("Left", "Right")
                 for j in ("Elbow", "Wrist", "Hand", "HandTip", "Knee", "Ankle", "Foot")}
    limb = [k for k, (_, c) in enumerate(bones) if NTU_JOINTS[c] in limb_ends]
    assert variation[limb].max() < 1e-6  # arms and legs are the source's own rigid bones
    # spine and head bones span several source bones (Chest–Chest2–Neck) and flex a little
    assert variation.max() < 0.02
