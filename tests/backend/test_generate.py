"""Generation: API, truncation, stochastic variation, files and the CLI."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from kinetic_gan.cli import main
from kinetic_gan.errors import KineticGanError
from kinetic_gan.generate import (
    Inputs,
    generate,
    load_npz,
    resolve_action,
    sample_inputs,
    synthesize,
)
from kinetic_gan.weights import load_generator


@pytest.fixture(scope="module")
def gen(tiny_weights):
    return load_generator(tiny_weights)


def test_output_is_metres_in_dataset_layout(gen):
    res = generate(gen, "walk", count=2, seed=3)
    assert res.joints.shape == (2, 32, 25, 3) and res.joints.dtype == np.float32
    assert res.units == "m" and res.fps == 30 and res.skeleton == "ntu"
    assert res.joints.min() >= -1.5 - 1e-5 and res.joints.max() <= 2.0 + 1e-5
    assert res.class_names == ["walk", "walk"] and list(res.labels) == [0, 0]


def test_same_seed_same_samples_and_new_seed_differs(gen):
    a = generate(gen, 1, count=3, seed=11)
    b = generate(gen, 1, count=3, seed=11)
    c = generate(gen, 1, count=3, seed=12)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert not np.allclose(a.joints, c.joints)


def test_truncation_one_is_none_and_zero_is_class_mean(gen):
    label = resolve_action(gen.card, "jump up")
    inputs = sample_inputs(gen, [label] * 2, seed=5)
    plain = synthesize(gen, inputs, None)
    np.testing.assert_array_equal(synthesize(gen, inputs, 1.0), plain)
    zero = synthesize(gen, inputs, 0.0)
    with torch.no_grad():
        w = gen.module.mean_w[[label, label]]
        mean_pose = gen.module.synthesis(w, inputs.noise)
    expected = (mean_pose.permute(0, 2, 3, 1).numpy() + 1) * 0.5 * 3.5 - 1.5
    np.testing.assert_allclose(zero, expected, atol=1e-5)


def test_batched_requests_equal_single_requests(gen):
    a = sample_inputs(gen, [0, 0], seed=1)
    b = sample_inputs(gen, [2], seed=2, vary_noise=True)
    merged = synthesize(gen, Inputs.cat([a, b]), [0.5, 0.5, None])
    np.testing.assert_allclose(merged[:2], synthesize(gen, a, 0.5), atol=1e-5)
    np.testing.assert_allclose(merged[2:], synthesize(gen, b, None), atol=1e-5)


def test_mix_runs_from_one_seed_to_the_other_keeping_the_draws_normal(gen):
    a, b = generate(gen, "walk", count=2, seed=4), generate(gen, "walk", count=2, seed=9)
    np.testing.assert_array_equal(generate(gen, "walk", count=2, seed=4, mix_seed=9).joints,
                                  a.joints)
    np.testing.assert_allclose(generate(gen, "walk", count=2, seed=4, mix_seed=9,
                                        mix=1.0).joints, b.joints, atol=1e-5)
    half = generate(gen, "walk", count=2, seed=4, mix_seed=9, mix=0.5)
    assert not np.allclose(half.joints, a.joints) and not np.allclose(half.joints, b.joints)
    # weights whose squares sum to one: the midpoint's z is as long as a draw's, not 1/√2
    norms = np.linalg.norm(half.z, axis=1) / np.sqrt(half.z.shape[1])
    assert np.all(np.abs(norms - 1.0) < 0.2)
    with pytest.raises(KineticGanError, match="mix"):
        generate(gen, "walk", seed=4, mix_seed=9, mix=1.5)


def test_vary_noise_keeps_z_and_changes_the_sample(tiny_weights):
    gen = load_generator(tiny_weights)
    with torch.no_grad():  # untrained noise weights are zero: give the noise some effect
        for block in gen.module.st_gcn_networks:
            block.noise.weight.fill_(0.1)
    res = generate(gen, "walk", count=3, seed=4, vary_noise=True)
    assert np.all(res.z == res.z[0])
    assert not np.allclose(res.joints[0], res.joints[1])


@pytest.mark.parametrize(
    ("action", "message"),
    [("wlak", "did you mean 'walk'"), (7, "out of range"), ("", "class name or an index")],
)
def test_bad_actions(gen, action, message):
    with pytest.raises(KineticGanError, match=message):
        generate(gen, action)


@pytest.mark.parametrize("psi", [-0.1, 1.5, float("nan")])
def test_truncation_outside_unit_interval(gen, psi):
    with pytest.raises(KineticGanError, match="truncation"):
        generate(gen, "walk", truncation=psi)


def test_cli_writes_npz_and_original_layout(tiny_weights, tmp_path, capsys):
    out = tmp_path / "x.npz"
    argv = ["generate", "--weights", str(tiny_weights), "--action", "Jump Up"]
    assert main([*argv, "--count", "2", "--seed", "1", "--out", str(out)]) == 0
    res = load_npz(out)
    assert res.joints.shape == (2, 32, 25, 3) and res.class_names == ["jump up"] * 2
    assert res.joint_names[0] == "SpineBase" and res.parents[0] == -1
    stem = tmp_path / "orig"
    assert main([*argv, "--seed", "1", "--format", "original", "--out", str(stem)]) == 0
    data = np.load(f"{stem}.npy")
    assert data.shape == (1, 3, 32, 25, 1)
    with open(f"{stem}.pkl", "rb") as fh:
        names, labels = pickle.load(fh)
    assert labels == [1] and len(names) == 1
    np.testing.assert_allclose(data[0, ..., 0].transpose(1, 2, 0), res.joints[0], atol=1e-6)


def test_cli_all_actions(tiny_weights, tmp_path):
    out = tmp_path / "all.npz"
    argv = ["generate", "--weights", str(tiny_weights), "--action", "all", "--out", str(out)]
    assert main([*argv, "--seed", "0"]) == 0
    assert load_npz(out).class_names == ["walk", "jump up", "kicking something"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--action", "fly"], "unknown action 'fly'"),
        (["--action", "walk", "--truncation", "2"], "truncation must be in"),
        (["--action", "walk", "--count", "0"], "count must be at least 1"),
    ],
)
def test_cli_errors_are_one_line(tiny_weights, tmp_path, capsys, extra, message):
    argv = ["generate", "--weights", str(tiny_weights), "--out", str(tmp_path / "e.npz")]
    assert main([*argv, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
