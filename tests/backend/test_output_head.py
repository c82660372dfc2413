"""Our optional generator output stages: kinematic output and the temporal path."""

import numpy as np
import pytest
import torch

from kinetic_gan.errors import KineticGanError
from kinetic_gan.nn import Generator
from kinetic_gan.nn.fast import FastGenerator
from kinetic_gan.nn.output_head import Architecture, GaussianSmoothing, KinematicOutput
from kinetic_gan.skeletons import get_skeleton

PARENTS = get_skeleton("ntu").parents
ARCH = Architecture(time_upsample="linear", output="kinematic", output_smoothing=1.0)


def _lengths(x: torch.Tensor) -> torch.Tensor:
    par = torch.tensor([max(p, 0) for p in PARENTS])
    return (x - x[..., par]).norm(dim=1)


def test_published_architecture_keeps_the_published_state_dict_keys():
    plain = Generator(4, "ntu", 32).state_dict()
    assert not any(k.startswith("output_head") for k in plain)
    ours = Generator(4, "ntu", 32, architecture=ARCH).state_dict()
    assert set(ours) - set(plain) == {"output_head.kinematic.bone_lengths"}


def test_kinematic_output_has_the_given_bone_lengths_in_every_frame():
    head = KinematicOutput(PARENTS)
    lengths = torch.rand(25) * 0.1 + 0.05
    head.set_bone_lengths(lengths)
    raw = torch.randn(3, 3, 16, 25)
    out = head(raw)
    expected = lengths.clone()
    expected[0] = 0
    torch.testing.assert_close(_lengths(out), expected.expand(3, 16, 25), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[..., 0], raw[..., 0])  # the root trajectory is kept


def test_kinematic_output_keeps_bone_directions():
    head = KinematicOutput(PARENTS)
    head.set_bone_lengths(torch.full((25,), 0.1))
    raw = torch.randn(2, 3, 8, 25)
    out = head(raw)
    par = torch.tensor([max(p, 0) for p in PARENTS])
    d_raw, d_out = raw - raw[..., par], out - out[..., par]
    cos = torch.nn.functional.cosine_similarity(d_raw[..., 1:], d_out[..., 1:], dim=1)
    assert cos.min() > 0.999


def test_smoothing_removes_a_frame_to_frame_alternation_and_keeps_slow_motion():
    t = torch.arange(64, dtype=torch.float32)
    slow = torch.sin(2 * np.pi * t / 32)
    alternating = (-1.0) ** t
    smooth = GaussianSmoothing(1.0)
    x = (slow + alternating).view(1, 1, 64, 1)
    y = smooth(x).flatten()
    assert (y[8:-8] - slow[8:-8]).abs().max() < 0.05


def test_fast_form_matches_the_module_form_with_our_options():
    torch.manual_seed(0)
    g = Generator(5, "ntu", 32, architecture=ARCH).eval()
    with torch.no_grad():
        for block in g.st_gcn_networks:
            block.noise.weight.normal_(0, 0.1)
        for layer in g.mlp.mlp:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(layer.in_features**-0.5)
    g.output_head.kinematic.set_bone_lengths(torch.rand(25) * 0.1 + 0.05)
    g.compute_mean_w(64)
    z, labels, noise = torch.randn(3, 512), torch.tensor([0, 2, 4]), g.make_noise(3)
    with torch.no_grad():
        module = g(z, labels, noise)
        fast = FastGenerator(g)(z, labels, noise).permute(0, 3, 1, 2)
    torch.testing.assert_close(fast, module, atol=2e-4, rtol=1e-4)


def test_linear_time_upsampling_does_not_step_every_other_frame():
    torch.manual_seed(1)
    g = Generator(2, "ntu", 64, architecture=Architecture(time_upsample="linear")).eval()
    with torch.no_grad():
        for layer in g.mlp.mlp:
            if isinstance(layer, torch.nn.Linear):
                layer.weight.mul_(layer.in_features**-0.5)
        x = g(torch.randn(4, 512), torch.tensor([0, 1, 0, 1]), [n * 0 for n in g.make_noise(4)])
    step = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(0, 1, 3))
    # Repeated frames make every other step ~0; linear upsampling keeps them alike.
    assert step[0::2].mean() / step[1::2].mean() > 0.5


@pytest.mark.parametrize("bad", [{"output": "angles"}, {"time_upsample": "cubic"},
                                 {"output_smoothing": -1}, {"other": 1}, "linear"])
def test_bad_architecture_is_one_clear_error(bad):
    with pytest.raises(KineticGanError):
        Architecture.from_dict(bad, "card")
