"""Rescaling the mapping network keeps the generator's function and makes float16 safe."""

from __future__ import annotations

import copy

import torch

from kinetic_gan.generate import sample_inputs
from kinetic_gan.nn import Generator
from kinetic_gan.nn.conditioning import balance_mapping_scale


def _paper_init_generator() -> Generator:
    """The paper's N(0, 1) mapping init (w ~ 1e5) with non-trivial batch-norm statistics."""
    torch.manual_seed(0)
    g = Generator(5, "ntu", 32, mapping_depth=4).train()
    with torch.no_grad():
        for _ in range(3):  # real running statistics at the huge scale
            g(torch.randn(64, 512), torch.randint(0, 5, (64,)))
        for blk in g.st_gcn_networks:
            blk.noise.weight.normal_(0, 0.5)
            blk.tcn[0].bias.normal_(0, 1.0)
    g.eval()
    g.compute_mean_w(samples_per_class=64)
    return g


def test_balance_preserves_outputs_and_bounds_w():
    g = _paper_init_generator()
    balanced = copy.deepcopy(g)
    factor = balance_mapping_scale(balanced)
    assert factor > 1e3
    inputs = sample_inputs(g, [0, 1, 2, 3, 4, 4], seed=7)
    with torch.no_grad():
        assert g.mapping(inputs.z, inputs.labels).abs().max() > 1e3
        assert balanced.mapping(inputs.z, inputs.labels).abs().max() < 20
        for psi in (None, 0.6):
            ref = g(inputs.z, inputs.labels, noise=inputs.noise, truncation=psi)
            out = balanced(inputs.z, inputs.labels, noise=inputs.noise, truncation=psi)
            torch.testing.assert_close(out, ref, atol=1e-4, rtol=0)


def test_balanced_weights_survive_float16_storage():
    g = _paper_init_generator()
    balanced = copy.deepcopy(g)
    balance_mapping_scale(balanced)
    half = copy.deepcopy(balanced)
    with torch.no_grad():
        for t in [*half.parameters(), *half.buffers()]:
            if t.is_floating_point():
                t.copy_(t.half().float())
        inputs = sample_inputs(g, [0, 2, 4], seed=1)
        ref = balanced(inputs.z, inputs.labels, noise=inputs.noise)
        out = half(inputs.z, inputs.labels, noise=inputs.noise)
    assert (out - ref).abs().max() < 2e-2
