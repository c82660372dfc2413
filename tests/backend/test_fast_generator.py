"""The folded inference path computes the same function as the module form."""

from __future__ import annotations

import pytest
import torch

from kinetic_gan.generate import sample_inputs
from kinetic_gan.nn import Generator
from kinetic_gan.nn.fast import FastGenerator
from kinetic_gan.weights import load_generator


def _perturbed(skeleton: str, frames: int) -> Generator:
    """A generator with every BN statistic, noise weight and edge importance non-trivial."""
    torch.manual_seed(0)
    g = Generator(4, skeleton, frames, mapping_depth=4)
    with torch.no_grad():
        for lin in g.mlp.mlp:
            if isinstance(lin, torch.nn.Linear):
                lin.weight.mul_(lin.in_features**-0.5)
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.1)
                m.bias.normal_(0, 0.1)
        for blk in g.st_gcn_networks:
            blk.noise.weight.normal_(0, 0.2)
        for imp in g.edge_importance:
            imp.uniform_(0.5, 1.5)
    g.compute_mean_w(samples_per_class=32)
    return g.eval()


@pytest.mark.parametrize(("skeleton", "frames"), [("ntu", 64), ("h36m", 32), ("ntu2d", 128)])
def test_fast_path_matches_modules(skeleton, frames):
    g = _perturbed(skeleton, frames)
    fast = FastGenerator(g)
    inputs = sample_inputs(g, [0, 1, 3], seed=1)
    with torch.no_grad():
        for psi in (None, 0.5):
            ref = g(inputs.z, inputs.labels, noise=inputs.noise, truncation=psi)
            column = None if psi is None else torch.full((3, 1), psi)
            out = fast(inputs.z, inputs.labels, inputs.noise, column)
            assert out.shape == (3, frames, ref.shape[3], ref.shape[1])
            torch.testing.assert_close(out, ref.permute(0, 2, 3, 1), atol=2e-6, rtol=1e-5)


def test_calling_a_loaded_generator_runs_the_folded_form(tiny_weights, monkeypatch):
    g = load_generator(tiny_weights)
    inputs = sample_inputs(g, [1, 2], seed=3)
    with torch.no_grad():
        ref = g.module(inputs.z, inputs.labels, noise=inputs.noise, truncation=0.7)
    for step in ("forward", "mapping", "synthesis"):  # the module form must not run
        monkeypatch.setattr(g.module, step, _refuse)
    out = g(inputs.z, inputs.labels, truncation=0.7, noise=inputs.noise)
    assert out.shape == ref.shape and not out.requires_grad
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    # Nothing is hung on the module, and nothing folded is saved with the weights.
    assert not hasattr(g.module, "card") and "_fast" not in vars(g.module)
    assert list(g.state_dict()) == list(g.module.state_dict())


def test_a_module_in_training_mode_runs_its_own_form(tiny_weights):
    g = load_generator(tiny_weights)
    inputs = sample_inputs(g, [0, 2], seed=4)
    g.module.train()  # batch norm now uses batch statistics, which only the module form has
    with torch.no_grad():
        ref = g.module(inputs.z, inputs.labels, noise=inputs.noise)
    torch.testing.assert_close(g(inputs.z, inputs.labels, noise=inputs.noise), ref)


def test_weights_changed_through_the_module_are_folded_again(tiny_weights):
    g = load_generator(tiny_weights)
    inputs = sample_inputs(g, [0, 2], seed=4)
    before = g(inputs.z, inputs.labels, noise=inputs.noise)
    with torch.no_grad():  # as a fine-tuning step would: in place, in eval mode
        for block in g.module.st_gcn_networks:
            block.noise.weight.fill_(0.3)
        ref = g.module(inputs.z, inputs.labels, noise=inputs.noise)
    out = g(inputs.z, inputs.labels, noise=inputs.noise)
    assert not torch.allclose(out, before)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def _refuse(*args, **kwargs):
    raise AssertionError("the module form ran")
