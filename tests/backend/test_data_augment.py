"""Load-time augmentations: each keeps a plausible body and left stays on the left."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan.data import augment
from kinetic_gan.skeletons import NTU_JOINTS, NTU_PARENTS, get_skeleton

J = {name: i for i, name in enumerate(NTU_JOINTS)}


def take(frames=16) -> np.ndarray:
    """A (T, 25, 3) body walking towards −Z, left side at −X, arms at different heights."""
    rng = np.random.default_rng(0)
    pose = rng.normal(scale=0.1, size=(25, 3))
    pose[:, 1] += 1.0
    for name, i in J.items():
        pose[i, 0] = -abs(pose[i, 0]) - 0.1 if "Left" in name else (
            abs(pose[i, 0]) + 0.1 if "Right" in name else 0.0)
    pose[J["HandLeft"], 1] = 1.6  # the left hand is raised: a mirror must move it to the right
    steps = np.arange(frames)[:, None, None] * np.array([0.0, 0.0, -0.05])
    return pose[None] + steps


def bones(joints: np.ndarray) -> np.ndarray:
    child = [c for c, p in enumerate(NTU_PARENTS) if p >= 0]
    return np.linalg.norm(joints[:, child] - joints[:, [NTU_PARENTS[c] for c in child]], axis=-1)


def test_mirror_swaps_sides_and_keeps_left_at_minus_x():
    x = take()
    m = augment.mirror(x, get_skeleton("ntu").mirror)
    left = [J[n] for n in NTU_JOINTS if "Left" in n]
    assert (m[:, left, 0] < 0).all()
    assert m[0, J["HandRight"], 1] == pytest.approx(1.6)  # the raised hand is now the right one
    np.testing.assert_allclose(augment.mirror(m, get_skeleton("ntu").mirror), x)


def test_random_yaw_is_a_turn_about_the_pelvis():
    x = take()
    y = augment.random_yaw(x, np.random.default_rng(1), 180.0)
    np.testing.assert_allclose(bones(y), bones(x))
    np.testing.assert_allclose(y[..., 1], x[..., 1])
    mean_pelvis = [t[:, J["SpineBase"], [0, 2]].mean(0) for t in (x, y)]
    np.testing.assert_allclose(*mean_pelvis, atol=1e-12)


def test_time_warp_speeds_up_and_holds_the_end():
    x = take(frames=10)
    fast = augment.time_warp(x, 1.25)
    np.testing.assert_allclose(fast[4, 0, 2], x[0, 0, 2] - 0.05 * 5)
    np.testing.assert_allclose(fast[-1], x[-1])
    slow = augment.time_warp(x, 0.8)
    np.testing.assert_allclose(slow[5, 0, 2], x[0, 0, 2] - 0.05 * 4)


def test_bone_jitter_scales_each_bone_and_keeps_the_pelvis():
    x = take()
    scales = np.full(25, 1.1)
    y = augment.bone_jitter(x, scales, NTU_PARENTS)
    np.testing.assert_allclose(bones(y), 1.1 * bones(x))
    np.testing.assert_allclose(y[:, J["SpineBase"]], x[:, J["SpineBase"]])


def test_apply_is_reproducible_and_symmetric():
    x = take()
    options = augment.Augment(yaw_deg=0.0, mirror_p=0.0, time_warp=None, bone_jitter=0.1)
    a = augment.apply(x, options, np.random.default_rng(3))
    b = augment.apply(x, options, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    ratio = bones(a)[0] / bones(x)[0]
    child = [c for c, p in enumerate(NTU_PARENTS) if p >= 0]
    twin = get_skeleton("ntu").mirror
    for k, c in enumerate(child):  # a left bone and its right twin are scaled alike
        assert ratio[k] == pytest.approx(ratio[child.index(twin[c])])
    assert augment.Augment.from_dict({"time_warp": [0.9, 1.1]}).time_warp == (0.9, 1.1)


def test_other_skeletons_get_time_warp_only():
    x = np.random.default_rng(0).normal(size=(8, 16, 3))
    out = augment.apply(x, augment.Augment(time_warp=None), np.random.default_rng(0), "h36m")
    np.testing.assert_array_equal(out, x)
