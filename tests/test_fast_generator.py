"""The folded inference path computes the same function as the module form."""

from __future__ import annotations

import pytest
import torch

from kinetic_gan.generate import sample_inputs, synthesize
from kinetic_gan.nn import Generator
from kinetic_gan.nn.fast import FastGenerator, fast_generator
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


def test_loaded_generators_use_it_and_training_ones_do_not(tiny_weights):
    g = load_generator(tiny_weights)
    assert fast_generator(g) is not None
    assert "_fast" not in str(list(g.state_dict()))  # never saved with the weights
    inputs = sample_inputs(g, [1, 2], seed=3)
    fast_out = synthesize(g, inputs, 0.7)
    g.train()
    assert fast_generator(g) is None
    g.eval()
    g.__dict__.pop("_fast")
    torch.testing.assert_close(
        torch.from_numpy(fast_out), torch.from_numpy(synthesize(g, inputs, 0.7)), atol=1e-5, rtol=0
    )
