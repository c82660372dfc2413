"""The metric math against values known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from kinetic_gan.errors import KineticGanError
from kinetic_gan.metrics import mmd
from kinetic_gan.metrics.fid import (
    fid_from_features,
    frechet_distance,
    gaussian_statistics,
    low_rank_fid,
)
from kinetic_gan.metrics.recognition import Estimate, diversity, multimodality


def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    # Commuting covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (s1 - s2)² per axis.
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    got = frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_matches_closed_form_for_rotated_gaussians():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    s1, s2 = q @ np.diag([1.0, 2.0, 3.0, 4.0]) @ q.T, q @ np.diag([4.0, 3.0, 2.0, 1.0]) @ q.T
    expected = sum(
        (np.sqrt(a) - np.sqrt(b)) ** 2 for a, b in zip([1, 2, 3, 4], [4, 3, 2, 1], strict=True)
    )
    assert frechet_distance(np.zeros(4), s1, np.zeros(4), s2) == pytest.approx(expected, rel=1e-8)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_a_shift():
    features = np.random.default_rng(1).normal(size=(500, 8))
    assert fid_from_features(features, features) == pytest.approx(0.0, abs=1e-6)
    shifted = features + 2.0
    assert fid_from_features(features, shifted) == pytest.approx(8 * 4.0, rel=1e-6)


def test_fid_rejects_mismatched_statistics():
    with pytest.raises(KineticGanError, match="differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))


def _motions(rng, n, shift=0.0):
    return (rng.normal(size=(n, 3, 8, 5)) * 0.3 + shift).astype(np.float32)


def test_mmd_is_zero_for_identical_sets_and_positive_for_shifted_ones():
    rng = np.random.default_rng(2)
    real = _motions(rng, 40)
    labels = np.repeat([0, 1], 20)
    same = mmd.class_mmd(real, labels, real.copy(), labels, ["a", "b"])
    assert same.mmd_a == pytest.approx(0.0, abs=1e-9)
    assert same.mmd_s == pytest.approx(0.0, abs=1e-9)
    shifted = mmd.class_mmd(real, labels, real + 0.5, labels, ["a", "b"])
    assert shifted.mmd_a > 0.1 and shifted.mmd_s > 0.1
    assert set(shifted.per_class) == {"a", "b"}
    assert shifted.per_class["a"]["samples"] == 20


def test_mmd_grows_with_the_shift():
    rng = np.random.default_rng(3)
    real, labels = _motions(rng, 30), np.zeros(30, dtype=np.int64)
    values = [
        mmd.class_mmd(real, labels, _motions(rng, 30, s), labels, ["a"]).mmd_a for s in (0, 0.3, 1)
    ]
    assert values[0] < values[1] < values[2]


def test_rkhs_mmd_matches_a_direct_evaluation():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 1
    h = 2.0
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / h)  # noqa: E731
    total = sum(
        k(x[i], x[j]) + k(y[i], y[j]) - 2 * k(x[i], y[j])
        for i in range(6)
        for j in range(6)
        if i != j
    )
    expected = np.sqrt(total / 30)
    assert mmd.rkhs_mmd(x, y, (h,))[0] == pytest.approx(expected, rel=1e-10)


def test_published_quirk_compares_the_joints_of_the_first_motion_only():
    rng = np.random.default_rng(5)
    real, labels = _motions(rng, 10), np.zeros(10, dtype=np.int64)
    generated = real.copy()
    generated[1:] += 3.0  # only motions after the first differ
    quirk = mmd.class_mmd(real, labels, generated, labels, ["a"], published_quirk=True)
    intended = mmd.class_mmd(real, labels, generated, labels, ["a"])
    assert quirk.mmd_a == pytest.approx(0.0, abs=1e-9) and quirk.published_quirk
    assert intended.mmd_a > 0.1


def test_mmd_uses_the_first_hundred_per_class_in_data_order():
    labels = np.array([1, 0, 1, 0, 0])
    idx = mmd.first_per_class(labels, 2, count=2)
    assert idx[0].tolist() == [1, 3] and idx[1].tolist() == [0, 2]


def test_mmd_rejects_motions_of_different_shapes():
    rng = np.random.default_rng(6)
    with pytest.raises(KineticGanError, match="MMD"):
        mmd.class_mmd(
            _motions(rng, 4), np.zeros(4, int), _motions(rng, 4)[:, :, :4], np.zeros(4, int), ["a"]
        )


def test_diversity_of_two_points_is_their_distance_times_the_chance_of_a_mixed_pair():
    # Half the features at 0, half at a point 5 away: a random pair is mixed with p = 1/2.
    features = np.zeros((1000, 4))
    features[500:, 0] = 5.0
    value = diversity(features, np.random.default_rng(0), pairs=200)
    assert value == pytest.approx(2.5, abs=0.5)
    assert diversity(np.ones((10, 3)), np.random.default_rng(0)) == 0.0


def test_multimodality_measures_spread_inside_each_class_only():
    # Classes far apart, each class's members exactly on two points 2 apart (class 0) or
    # identical (class 1): within-class pairs never cross classes.
    features = np.zeros((80, 2))
    labels = np.repeat([0, 1], 40)
    features[:20, 0] = 2.0
    features[40:, 1] = 100.0
    rng = np.random.default_rng(0)
    values = [multimodality(features, labels, rng, pairs=20) for _ in range(200)]
    # Class 0: mixed pair with probability 1/2 → expected distance 1; class 1: 0. Mean 0.5.
    assert np.mean(values) == pytest.approx(0.5, abs=0.05)
    assert max(values) < 2.0  # a cross-class pair would be ~100


def test_estimate_reports_mean_and_95_percent_half_width():
    est = Estimate.of([1.0, 2.0, 3.0, 4.0])
    assert est.mean == 2.5
    assert est.ci95 == pytest.approx(1.96 * np.std([1, 2, 3, 4]) / 2)
    assert str(est).startswith("2.5 ±")


def test_low_rank_fid_equals_the_covariance_route():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(60, 10)), rng.normal(size=(40, 10)) * 1.5 + 0.3
    full = frechet_distance(*gaussian_statistics(a), *gaussian_statistics(b))
    assert low_rank_fid(a, b) == pytest.approx(full, rel=1e-8)
    # Fewer samples than dimensions: the fast route is taken and stays finite and exact.
    small_a, small_b = rng.normal(size=(12, 300)), rng.normal(size=(9, 300)) + 1.0
    assert fid_from_features(small_a, small_b) == pytest.approx(low_rank_fid(small_a, small_b))
    assert fid_from_features(small_a, small_a) == pytest.approx(0.0, abs=1e-8)
