"""Building blocks shared by the generator and the critic (torch).

Attribute names follow the published Kinetic-GAN modules so that their
``state_dict`` keys load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kinetic_gan.skeletons import Pyramid

TEMPORAL_KERNEL = 3


class GraphConv(nn.Module):
    """Spatial graph convolution over K adjacency partitions (ST-GCN).

    A 1×1 convolution makes K groups of ``out_channels`` features, each group
    aggregated over joints with its own (V, V) partition, and the groups summed.
    """

    def __init__(self, in_channels: int, out_channels: int, partitions: int) -> None:
        super().__init__()
        self.partitions = partitions
        self.conv = nn.Conv2d(in_channels, out_channels * partitions, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
        n, _, t, v = x.shape
        x = self.conv(x).view(n, self.partitions, -1, t, v)
        return torch.einsum("nkctv,kvw->nctw", x, A)


class NoiseInjection(nn.Module):
    """StyleGAN noise: one value per (sample, frame, joint), scaled per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


def temporal_conv(channels: int) -> nn.Conv2d:
    return nn.Conv2d(channels, channels, (TEMPORAL_KERNEL, 1), padding=(TEMPORAL_KERNEL // 2, 0))


def resize_time(x: torch.Tensor, frames: int, mode: str = "nearest") -> torch.Tensor:
    """Temporal resampling: nearest-neighbour (the published ``F.interpolate`` default)
    or linear, which does not turn every frame into a two-frame step."""
    if x.shape[2] == frames:
        return x
    if mode == "linear":
        # Bilinear with the joint axis kept at its size is linear in time only.
        return F.interpolate(x, size=(frames, x.shape[3]), mode="bilinear", align_corners=False)
    return F.interpolate(x, size=(frames, x.shape[3]), mode="nearest")


def register_graph(module: nn.Module, pyramid: Pyramid, levels: list[int]) -> nn.ParameterList:
    """Register each used level's partitions as buffer ``A{level}``; one learnable edge
    importance per block (the published ``edge_importance`` list, block order)."""
    for lvl in sorted(set(levels)):
        A = torch.from_numpy(pyramid.levels[lvl].A)
        module.register_buffer(f"A{lvl}", A, persistent=False)
    return nn.ParameterList(
        nn.Parameter(torch.ones_like(getattr(module, f"A{lvl}"))) for lvl in levels
    )
