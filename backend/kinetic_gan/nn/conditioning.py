"""Rescale a generator's mapping network so that w is O(1), without changing the function.

The paper initialises the mapping MLP with N(0, 1) weights, so every layer multiplies the
scale by ~√width: w reaches ~1e5, and so do the first synthesis block's features, until
the first batch norm brings them back. Nothing is wrong with that in float32, but such
values cannot be stored or computed in float16 without large errors.

LeakyReLU is positively homogeneous (f(a·x) = a·f(x) for a > 0), so dividing a mapping
layer's weights by s (and the biases by the running product) scales w by 1/C exactly.
Up to the first batch norm every op is linear or homogeneous once the biases (temporal
convolution, residual convolution) and the noise weights are divided by C too, and an
eval-mode batch norm fed features scaled by 1/C gives the same output when its running
mean is divided by C and its affine scale is corrected for the (unscaled) epsilon.
"""

from __future__ import annotations

import torch
from torch import nn

from kinetic_gan.nn.generator import Generator


@torch.no_grad()
def balance_mapping_scale(generator: Generator, samples: int = 4096, seed: int = 0) -> float:
    """Rescale in place (eval-mode semantics); returns C, the factor w was divided by."""
    g = generator
    rng = torch.Generator().manual_seed(seed)
    device = g.mean_w.device
    z = torch.randn(samples, g.latent_dim, generator=rng).to(device)
    labels = torch.randint(0, g.n_classes, (samples,), generator=rng).to(device)
    x = torch.cat((g.label_emb(labels), z), dim=-1)
    total = 1.0  # P: the factor the current layer's input has been divided by
    for layer in g.mlp.mlp:
        if isinstance(layer, nn.Linear):
            layer.bias.div_(total)  # now layer(x) = pre-activation / P
            s = float(layer(x).square().mean().sqrt())
            layer.weight.div_(s)
            layer.bias.div_(s)  # now layer(x) = pre-activation / (P·s)
            total *= s
        x = layer(x)
    _rescale_block_inputs(g, total)
    g.mean_w.div_(total)
    return total


def _rescale_block_inputs(g: Generator, c: float) -> None:
    first, second = g.st_gcn_networks[0], g.st_gcn_networks[1]
    # Block 0: graph conv (no bias) → temporal conv (bias) → noise → LeakyReLU, no norm.
    first.tcn[0].bias.div_(c)
    first.noise.weight.div_(c)
    # Block 1 receives block 0's output scaled by 1/c; its batch norms restore the scale.
    _rescale_bn_input(second.tcn[1], c)
    second.tcn[0].bias.div_(c)
    if isinstance(second.residual, nn.Sequential):
        second.residual[0].bias.div_(c)
        _rescale_bn_input(second.residual[1], c)


def _rescale_bn_input(bn: nn.BatchNorm2d, c: float) -> None:
    """Make ``bn(x / c)`` equal ``bn(x)`` in eval mode."""
    old_std = torch.sqrt(bn.running_var + bn.eps)
    bn.running_mean.div_(c)
    bn.running_var.div_(c * c)
    new_std = torch.sqrt(bn.running_var + bn.eps)
    bn.weight.mul_(new_std * c / old_std)
