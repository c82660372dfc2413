"""Shots on constructed motion: the window plan, the blend, the measures, paths and keys."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan.records.shot import Keys
from kinetic_gan.shots import keys as key_fit
from kinetic_gan.shots import measures
from kinetic_gan.shots import path as path_fit
from kinetic_gan.shots.plan import plan_windows

LIMITS = measures.Thresholds({0: 5.0, 1: 5.0}, {0: 1.0, 1: 1.0})


def test_plan_covers_every_frame_and_weights_sum_to_one():
    plan = plan_windows([150, 90, 10, 120], [0, 1, 0, 1], 64, overlap=16)
    weights = plan.weights()
    total = np.zeros(plan.frames)
    for k in range(len(plan.windows)):
        np.add.at(total, plan.window_frames(k), weights[k])
    assert plan.frames == 370 and (total > 0).all()
    two = np.array([len([w for w in plan.windows if w.used[0] <= f < w.used[1]]) <= 2
                    for f in range(plan.frames)])
    assert np.allclose(total[two], 1.0, atol=1e-5)  # a partition of unity where two overlap
    # consecutive segments share the overlap centred on their boundary
    seam = [o for o in plan.overlaps if plan.windows[o.first].segment == 0
            and plan.windows[o.second].segment == 1]
    assert seam[0].frames == (142, 158)


def test_a_loop_overlaps_its_last_window_with_its_first():
    plan = plan_windows([48], [0], 64, overlap=16, loop=True)
    assert len(plan.windows) == 1
    (o,) = plan.overlaps
    assert (o.first, o.second, o.shift, o.frames) == (0, 0, 1, (40, 56))
    assert plan.cycles().min() == -1 and plan.cycles().max() == 1


def walking(frames: int, speed: float = 0.04) -> np.ndarray:
    """A rigid 'body' moving along -Z at ``speed`` m/frame with a small sway."""
    t = np.arange(frames)
    offsets = np.random.default_rng(0).normal(0, 0.2, (25, 3))
    offsets[:, 1] = np.abs(offsets[:, 1]) + 0.5
    root = np.stack([0.02 * np.sin(2 * np.pi * t / 30), np.zeros(frames), -speed * t], axis=1)
    return root[:, None] + offsets[None]


def test_a_smooth_motion_has_no_seams_and_a_cut_does():
    plan = plan_windows([60, 60], [0, 1], 32, overlap=8)
    joints = walking(120)
    assert all(s.ok for s in measures.seams(joints, plan, LIMITS))
    cut = joints.copy()
    cut[60:] += [0.0, 0.0, 0.3]
    (seam,) = measures.cut_seams(cut, [(60, 0, 1)], LIMITS)
    assert not seam.ok and seam.step_cm == pytest.approx(30 - 4, abs=1.0)


def test_a_loop_seam_is_measured_across_the_end():
    joints = walking(90, speed=0.0)
    plan = plan_windows([90], [0], 64, overlap=16, loop=True)
    assert all(s.ok for s in measures.seams(joints, plan, LIMITS))
    jumped = joints.copy()
    jumped[-1] += [0.2, 0.0, 0.0]
    loop = [s for s in measures.seams(jumped, plan, LIMITS) if s.kind == "loop"]
    assert loop and not loop[0].ok


def circle_path(radius: float = 3.0, length: float = 10.0) -> np.ndarray:
    a = np.linspace(0.0, length / radius, 400)
    return np.column_stack([-(radius - radius * np.cos(a)), -radius * np.sin(a)])


def test_bending_a_straight_walk_onto_a_curve_keeps_its_sway_and_length():
    joints = walking(250)  # 10 m along -Z
    path = circle_path()
    bent = path_fit.bend(joints, path, sigma=12.0)
    mean_cm, max_cm = measures.path_error_cm(bent, path)
    assert mean_cm < 2.0 and max_cm < 3.0  # the 2 cm sway is all that is left
    end = bent[-1, 0, [0, 2]]
    assert np.linalg.norm(end - path[-1]) < 0.05
    # local motion kept: distances between joints are unchanged
    before = np.linalg.norm(joints[:, 3] - joints[:, 7], axis=-1)
    after = np.linalg.norm(bent[:, 3] - bent[:, 7], axis=-1)
    assert np.allclose(before, after, atol=1e-9)
    assert np.allclose(bent[..., 1], joints[..., 1])


def test_facing_of_the_rest_pose_is_minus_z():
    pose = np.zeros((25, 3))
    pose[12] = [-0.1, 1.0, 0.0]  # HipLeft at -X
    pose[16] = [0.1, 1.0, 0.0]
    # u = z + i·x: -Z is the heading pi
    assert abs(abs(path_fit.facing(pose)) - np.pi) < 1e-9


def test_keys_are_met_exactly_and_smoothly():
    joints = walking(140)
    target = joints[[40, 60]] + [0.05, 0.02, -0.03]
    mask = np.zeros((2, 25), bool)
    mask[:, [0, 7, 11]] = True
    keys = Keys.from_arrays([40, 60], target, mask)
    fade = key_fit.FADE_FRAMES
    met = key_fit.meet(joints, keys)
    assert key_fit.key_error_cm(met, keys)[1] < 1e-9
    assert np.array_equal(met[:, 1], joints[:, 1])  # unkeyed joints untouched
    assert np.allclose(met[: 40 - fade], joints[: 40 - fade])
    assert np.allclose(met[60 + fade:], joints[60 + fade:])
    step = np.abs(np.diff(met - joints, axis=0)).max()
    assert step < 0.01  # 5 cm carried over FADE_FRAMES: under 1 cm a frame


def test_an_advancing_loop_is_judged_as_it_plays():
    joints = walking(90)  # moves 3.6 m along -Z over the take
    plan = plan_windows([90], [0], 64, overlap=16, loop=True)
    advance = np.array([0.0, -0.04 * 90])
    assert all(s.ok for s in measures.seams(joints, plan, LIMITS, advance))
    assert not all(s.ok for s in measures.seams(joints, plan, LIMITS))  # as if in place


def test_crops_are_placed_as_the_corpus_places_its_windows():
    joints = walking(64)
    turned = joints.copy()
    turned[..., 0], turned[..., 2] = joints[..., 2] + 5.0, -joints[..., 0] - 2.0  # 90° and away
    a, b = measures.canonical_window(joints), measures.canonical_window(turned)
    assert np.allclose(a, b, atol=1e-9)
    assert abs(a[:, 0, [0, 2]].mean(axis=0)).max() < 1e-9
    assert measures.segment_crops(600, 150, 90, 64) == [150]
    assert measures.segment_crops(600, 0, 150, 64) == [0, 43, 86]
    assert measures.segment_crops(100, 90, 10, 64) == [36]
