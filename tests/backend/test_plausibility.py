"""The plausibility statistics on constructed motion (metres, y up, floor at y = 0)."""

import numpy as np
import pytest

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics import plausibility as P
from kinetic_gan.skeletons import get_skeleton

FPS = 30.0
J = {n: i for i, n in enumerate(get_skeleton("ntu").joint_names)}


def standing(frames: int = 64) -> np.ndarray:
    """A T-pose-ish figure facing -Z (left at -X), knees and elbows slightly flexed."""
    p = np.zeros((25, 3))

    def put(name, x, y, z=0.0):
        p[J[name]] = (x, y, z)
    put("SpineBase", 0, 1.0)
    put("SpineMid", 0, 1.25)
    put("SpineShoulder", 0, 1.45)
    put("Neck", 0, 1.55)
    put("Head", 0, 1.7)
    for side, s in (("Left", -1), ("Right", 1)):
        put(f"Hip{side}", 0.1 * s, 0.95)
        put(f"Knee{side}", 0.1 * s, 0.52, -0.05)
        put(f"Ankle{side}", 0.1 * s, 0.08)
        put(f"Foot{side}", 0.1 * s, 0.02, -0.15)
        put(f"Shoulder{side}", 0.2 * s, 1.4)
        put(f"Elbow{side}", 0.22 * s, 1.12, 0.04)
        put(f"Wrist{side}", 0.22 * s, 0.88, -0.06)
        put(f"Hand{side}", 0.22 * s, 0.8, -0.08)
        put(f"HandTip{side}", 0.22 * s, 0.75, -0.09)
        put(f"Thumb{side}", 0.2 * s, 0.8, -0.1)
    return np.repeat(p[None, None], frames, axis=1)


def test_a_rigid_figure_has_constant_bones_no_judder_and_correct_hinges():
    x = standing()
    x[..., 0] += np.linspace(0, 1, 64)[None, :, None]  # glides sideways at constant speed
    assert P.bone_cv(x) < 1e-9
    assert P.judder(x, FPS) < 1e-6
    knees, elbows = P.hyperextension(x)
    assert knees == 0 and elbows == 0


def test_backward_knees_and_elbows_are_counted():
    x = standing()
    for side in ("Left", "Right"):
        x[:, :, J[f"Knee{side}"], 2] *= -1  # the knee now points backwards
        x[:, :, J[f"Elbow{side}"], 2] *= -1
        x[:, :, J[f"Wrist{side}"], 2] *= -1
    knees, elbows = P.hyperextension(x)
    assert knees == 1 and elbows == 1


def test_stretching_bones_and_stepping_motion_are_seen():
    x = standing()
    x *= 1 + 0.1 * np.sin(np.arange(64) / 5)[None, :, None, None]  # every bone breathes
    assert P.bone_cv(x) > 0.05
    stepping = standing()
    stepping[..., 0] += (np.arange(64) // 2 * 0.05)[None, :, None]  # moves on every other frame
    assert P.judder(stepping, FPS) > 0.9
    assert P.high_freq_share(stepping, FPS) > 0.3


def test_a_planted_foot_that_slides_is_skating_and_a_sunk_body_penetrates():
    x = standing()
    x[:, :, [J["AnkleLeft"], J["FootLeft"]], 0] += np.linspace(0, 0.5, 64)[None, :, None]
    speed, share = P.foot_skating(x, FPS)
    assert share > 0.4 and speed == pytest.approx(0.5 * FPS / 63 / 2, rel=0.05)
    sunk = standing() - np.array([0, 0.05, 0])
    depth, below = P.floor_penetration(sunk)
    assert depth == pytest.approx(0.03, abs=1e-6) and below == 1


def test_a_floating_body_hovers_and_a_short_jump_does_not():
    x = standing()
    base = P.hover(x)
    jump = x.copy()
    jump[:, 20:30] += np.array([0, 0.6, 0])  # ten frames of sixty-four airborne
    assert P.hover(jump) == pytest.approx(base)
    assert P.hover(x + np.array([0, 0.2, 0])) == pytest.approx(base + 0.2)
    assert P.statistics(x, FPS)["hover_cm"] == pytest.approx(100 * base)


def test_wasserstein_distance_of_shifted_samples_is_the_shift():
    a = np.random.default_rng(0).normal(size=5000)
    assert P.wasserstein_1d(a, a + 0.5) == pytest.approx(0.5, abs=1e-9)


def test_bad_joints_are_one_clear_error():
    with pytest.raises(KineticGanError, match="NTU-25"):
        P.statistics(np.zeros((2, 10, 17, 3)), FPS)
    x = standing()
    x[0, 3, 0, 0] = np.nan
    with pytest.raises(KineticGanError, match="NaN"):
        P.statistics(x, FPS)
