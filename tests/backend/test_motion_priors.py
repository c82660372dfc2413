"""Motion priors: differentiable twins of the plausibility metric's hinge, foot and floor tests.

Checked against the numpy metric on constructed poses (same sign, same contact rule), by
gradient descent (the penalty fixes what it measures), and in a tiny training run (the
terms are logged, and a resumed run keeps its columns).
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from helpers import tiny_config, write_tiny_dataset

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics import plausibility
from kinetic_gan.train import config
from kinetic_gan.train.loop import train
from kinetic_gan.train.motion_priors import (
    MotionPriors,
    class_energy_band,
    class_speed_quantiles,
    energy_penalty,
    floor_penalty,
    foot_slide_penalty,
    hinge_penalty,
    hinge_sines,
    hover_penalty,
    speed_penalty,
    take_energy,
)

J = {name: i for i, name in enumerate(plausibility._NTU.joint_names)}


def standing(frames: int = 8) -> np.ndarray:
    """A T-posed body facing +z (its left is +x), feet on the floor: (1, T, 25, 3) metres."""
    pose = np.zeros((25, 3))
    pose[J["SpineBase"]] = (0, 0.95, 0)
    pose[J["SpineMid"]] = (0, 1.2, 0)
    pose[J["SpineShoulder"]] = (0, 1.45, 0)
    pose[J["Neck"]] = (0, 1.5, 0)
    pose[J["Head"]] = (0, 1.65, 0)
    for side, sx in (("Left", 1.0), ("Right", -1.0)):
        pose[J[f"Shoulder{side}"]] = (0.18 * sx, 1.42, 0)
        pose[J[f"Elbow{side}"]] = (0.20 * sx, 1.14, 0)
        pose[J[f"Wrist{side}"]] = (0.20 * sx, 0.90, 0.02)
        pose[J[f"Hand{side}"]] = (0.20 * sx, 0.84, 0.03)
        pose[J[f"HandTip{side}"]] = (0.20 * sx, 0.78, 0.03)
        pose[J[f"Thumb{side}"]] = (0.17 * sx, 0.84, 0.05)
        pose[J[f"Hip{side}"]] = (0.1 * sx, 0.9, 0)
        pose[J[f"Knee{side}"]] = (0.1 * sx, 0.5, 0.02)
        pose[J[f"Ankle{side}"]] = (0.1 * sx, 0.08, 0)
        pose[J[f"Foot{side}"]] = (0.1 * sx, 0.02, 0.12)
    return np.repeat(pose[None, None], frames, axis=1)


def bend_knee(x: np.ndarray, forward: float) -> np.ndarray:
    """Move both knees ``forward`` metres along +z (the body's front): flexion when > 0."""
    out = x.copy()
    out[:, :, [J["KneeLeft"], J["KneeRight"]], 2] += forward
    return out


def test_hinge_sines_agree_with_the_metrics_signed_angles():
    rng = np.random.default_rng(0)
    poses = standing(1).repeat(64, axis=1)
    poses = poses + rng.normal(0, 0.08, poses.shape)  # random limbs, either way bent
    knees, elbows = plausibility.hinge_angles(poses)
    sines = hinge_sines(torch.from_numpy(poses)).numpy()
    angles = np.concatenate([knees, elbows], axis=-1)
    clear = np.abs(angles) > 2  # away from straight, where sign is noise
    assert clear.mean() > 0.8
    assert (np.sign(sines[clear]) == np.sign(angles[clear])).all()


def test_hinge_penalty_is_zero_for_a_flexed_knee_and_positive_for_a_backward_one():
    flexed = torch.from_numpy(bend_knee(standing(), 0.1))
    backward = torch.from_numpy(bend_knee(standing(), -0.1))
    assert hinge_sines(flexed)[..., :2].min() > 0.2
    assert hinge_sines(backward)[..., :2].max() < -0.2
    assert hinge_penalty(backward) > 0.1 > hinge_penalty(flexed)


def test_foot_slide_counts_feet_on_the_floor_only():
    fps = 30.0
    x = standing(16)
    sliding = x.copy()
    sliding[..., 0] += np.arange(16)[None, :, None] * (1.0 / fps)  # 1 m/s sideways
    lifted = sliding.copy()
    lifted[..., 1] += 0.3  # the same slide 30 cm off the floor: a jump, not a skate
    on_floor = foot_slide_penalty(torch.from_numpy(sliding), fps).item()
    # the ankles sit at 8 cm (over the threshold), the toes at 2 cm: half the joints count
    assert on_floor == pytest.approx(0.5, abs=0.05)
    assert foot_slide_penalty(torch.from_numpy(lifted), fps).item() < 0.01
    assert foot_slide_penalty(torch.from_numpy(x), fps).item() == 0.0
    # the metric counts the same frames as sliding at the same speed
    skate, share = plausibility.foot_skating(sliding, fps)
    assert skate == pytest.approx(1.0, abs=1e-6) and share == 1.0


def test_floor_penalty_is_the_depth_of_the_lowest_joint():
    x = standing()
    x[..., 1] -= 0.05  # toes 3 cm below the floor
    assert floor_penalty(torch.from_numpy(x)).item() == pytest.approx(0.03, abs=1e-9)
    assert floor_penalty(torch.from_numpy(standing())).item() == 0.0


def test_hover_penalty_counts_takes_that_float_most_of_the_time():
    x = standing(10)  # toes at 2 cm: on the floor
    assert hover_penalty(torch.from_numpy(x)).item() == 0.0
    jump = x.copy()
    jump[:, 3:6, :, 1] += 0.5  # three airborne frames of ten: still standing mostly
    assert hover_penalty(torch.from_numpy(jump)).item() == 0.0
    floating = x + np.array([0.0, 0.2, 0.0])  # the whole take 20 cm up
    assert hover_penalty(torch.from_numpy(floating)).item() == pytest.approx(0.17, abs=1e-9)


def test_descending_the_hinge_penalty_straightens_a_backward_knee():
    x = torch.tensor(bend_knee(standing(), -0.1), requires_grad=True)
    optimizer = torch.optim.SGD([x], lr=0.05)
    for _ in range(200):
        optimizer.zero_grad()
        hinge_penalty(x).backward()
        optimizer.step()
    knees, _ = plausibility.hinge_angles(x.detach().numpy())
    assert (knees > -plausibility.HYPEREXTENSION_DEG).all()


def test_priors_read_model_units_through_the_normalization():
    norm = {"min": -2.0, "max": 2.0}
    priors = MotionPriors(hinge=1.0, foot_slide=0.0, floor=10.0, skeleton="ntu",
                          normalization=norm, fps=30)
    metres = standing()
    metres[..., 1] -= 0.05
    model_units = torch.from_numpy(metres / 2.0).permute(0, 3, 1, 2)  # (N, 3, T, V)
    loss, logged = priors(model_units.float(), torch.zeros(1, dtype=torch.long))
    assert logged.shape == (len(MotionPriors.names),)
    assert logged[2].item() == pytest.approx(0.03, abs=1e-6)
    assert loss.item() == pytest.approx(logged[0].item() + 10 * logged[2].item(), rel=1e-5)


def test_priors_refuse_skeletons_without_knees_and_all_zero_weights():
    norm = {"min": -1.0, "max": 1.0}
    with pytest.raises(KineticGanError, match="NTU-25"):
        MotionPriors(hinge=1, foot_slide=0, floor=0, skeleton="h36m", normalization=norm, fps=50)
    with pytest.raises(KineticGanError, match="one > 0"):
        MotionPriors(hinge=0, foot_slide=0, floor=0, skeleton="ntu", normalization=norm, fps=30)
    with pytest.raises(KineticGanError, match="hinge_penalty"):
        config.from_dict({"hinge_penalty": -1.0})


def test_a_run_with_priors_logs_each_term_and_resumes_with_the_same_columns(tmp_path):
    data = write_tiny_dataset(tmp_path / "data")
    cfg = tiny_config(data, iterations=4, checkpoint_every=2, sample_every=100,
                      hinge_penalty=1.0, foot_slide_penalty=0.5, floor_penalty=10.0,
                      hover_penalty=5.0, energy_penalty=1.0)
    summary = train(cfg, tmp_path / "run", progress=False)
    assert {"hinge", "foot_slide", "floor", "hover", "energy"} <= set(summary.losses)
    train(config.replace(cfg, {"iterations": 6}, "test"), tmp_path / "run", resume=True,
          progress=False)
    with (tmp_path / "run" / "log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iteration"]) for r in rows] == list(range(1, 7))
    assert all(float(r["hinge"]) >= 0 and r["floor"] != "" for r in rows)


def swaying(amplitude: float, frames: int = 30, hz: float = 1.0) -> np.ndarray:
    """The standing body swaying sideways by ``amplitude`` metres at ``hz`` (30 fps)."""
    t = np.arange(frames) / 30.0
    x = standing(frames)
    x[..., 0] += amplitude * np.sin(2 * np.pi * hz * t)[None, :, None]
    return x


def test_take_energy_is_the_log_mean_joint_speed_and_the_judder_of_the_take():
    x = swaying(0.1)
    energy = take_energy(torch.from_numpy(x), 30.0)[0].exp().numpy()
    speed = np.linalg.norm(np.diff(x, axis=1) * 30, axis=-1).mean()
    assert energy[0] == pytest.approx(speed, abs=2e-4)  # the 1e-4 m/s floor of still joints
    assert energy[1] == pytest.approx(plausibility.judder(x, 30.0), rel=1e-3)
    stepping = x.copy()
    stepping[:, 1::2] = stepping[:, :-1:2]  # every frame shown twice: fast, still, fast...
    assert take_energy(torch.from_numpy(stepping), 30.0)[0, 1].exp() > 10 * energy[1]
    assert np.isfinite(take_energy(torch.from_numpy(standing()), 30.0).numpy()).all()


def test_the_energy_band_spans_each_class_and_the_time_warp():
    takes = torch.from_numpy(np.concatenate([swaying(a) for a in (0.05, 0.1, 0.2, 0.4)]))
    labels = torch.tensor([0, 0, 1, 1])
    band = class_energy_band(takes, labels, 2, 30.0)
    energy = take_energy(takes, 30.0)
    for c in (0, 1):
        rows = energy[labels == c]
        assert rows[:, 0].min() - 1e-6 <= band[c, 0] < band[c, 1] <= rows[:, 0].max() + 1e-6
        assert rows[:, 1].min() - 1e-6 <= band[c, 2] <= rows[:, 1].max() + 1e-6
    warped = class_energy_band(takes, labels, 2, 30.0, time_warp=(0.8, 1.25))
    assert torch.allclose(warped - band, torch.log(torch.tensor([0.8, 1.25, 1.25**2])))
    with pytest.raises(KineticGanError, match="class 2 has no real takes"):
        class_energy_band(takes, labels, 3, 30.0)


def test_the_energy_penalty_counts_a_take_rougher_than_its_class():
    takes = torch.from_numpy(np.concatenate([swaying(a) for a in (0.1, 0.2)]))
    band = class_energy_band(takes, torch.tensor([0, 0]), 1, 30.0)
    rough = swaying(0.15)
    rough[:, 1::2] = rough[:, :-1:2]  # the same sway in two-frame steps: inside on speed
    assert energy_penalty(torch.from_numpy(rough), torch.tensor([0]), band, 30.0).item() > 1.0


def test_the_energy_penalty_is_zero_inside_the_band_and_lifts_a_slow_take():
    takes = torch.from_numpy(np.concatenate([swaying(a) for a in (0.1, 0.2)]))
    band = class_energy_band(takes, torch.tensor([0, 0]), 1, 30.0)
    inside = torch.from_numpy(swaying(0.15))
    assert energy_penalty(inside, torch.tensor([0]), band, 30.0).item() == 0.0
    # Descend on the sway's amplitude: the gradient must lift it into the band.
    still, sway = torch.from_numpy(standing(30)), torch.from_numpy(swaying(1.0) - standing(30))
    amplitude = torch.tensor(0.02, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([amplitude], lr=0.01)
    first = energy_penalty(still + 0.02 * sway, torch.tensor([0]), band, 30.0).item()
    for _ in range(100):
        optimizer.zero_grad()
        energy_penalty(still + amplitude * sway, torch.tensor([0]), band, 30.0).backward()
        optimizer.step()
    assert first > 1.0  # a fifth of the slowest real sway: log 5 below on speed
    assert energy_penalty(still + amplitude.detach() * sway, torch.tensor([0]), band,
                          30.0).item() == 0.0
    assert 0.1 <= amplitude.item() <= 0.2


def test_the_speed_penalty_is_zero_on_its_own_class_and_fits_the_distribution():
    takes = torch.from_numpy(swaying(0.15))
    table = class_speed_quantiles(takes, torch.tensor([0]), 1, 30.0)
    assert table.shape == (1, 25, 16)
    assert speed_penalty(takes, torch.tensor([0]), table, 30.0).item() < 1e-6
    # Descend on the sway's amplitude from a near-still take: it must reach the class's.
    still, sway = torch.from_numpy(standing(30)), torch.from_numpy(swaying(1.0) - standing(30))
    amplitude = torch.tensor(0.02, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([amplitude], lr=0.01)
    for _ in range(200):
        optimizer.zero_grad()
        speed_penalty(still + amplitude * sway, torch.tensor([0]), table, 30.0).backward()
        optimizer.step()
    assert abs(amplitude.item() - 0.15) < 0.01
    with pytest.raises(KineticGanError, match="class 1 has no real takes"):
        class_speed_quantiles(takes, torch.tensor([0]), 2, 30.0)


def test_the_speed_prior_needs_its_table():
    norm = {"min": -1.0, "max": 1.0}
    with pytest.raises(KineticGanError, match="speed quantiles"):
        MotionPriors(hinge=0, foot_slide=0, floor=0, speed=1.0, skeleton="ntu",
                     normalization=norm, fps=30)


def test_the_energy_prior_needs_its_band():
    norm = {"min": -1.0, "max": 1.0}
    with pytest.raises(KineticGanError, match="energy band"):
        MotionPriors(hinge=0, foot_slide=0, floor=0, energy=1.0, skeleton="ntu",
                     normalization=norm, fps=30)
